import Foundation

/// Wall-clock time for what lcm records (certificates, reports); tests give a fixed one.
public struct WallClock: Sendable {
    public let now: @Sendable () -> Date

    public static let system = WallClock { Date() }

    public init(now: @escaping @Sendable () -> Date) { self.now = now }
}
