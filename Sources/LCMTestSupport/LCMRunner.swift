import Foundation

/// Runs the built `lcm` executable with a private home, the way an admin or cron would.
public struct LCMRunner: Sendable {
    public let home: String
    public var environment: [String: String]

    public init(home: String, environment: [String: String] = [:]) {
        self.home = home
        self.environment = environment
    }

    @discardableResult
    public func run(_ arguments: [String]) throws -> ProgramRun {
        var env = environment
        env["LCM_HOME"] = home
        return try ProgramRun.run(BuiltProducts.executable("lcm"), arguments, environment: env)
    }

    /// The accelerator tests use: this machine's KVM hangs, so TCG unless LCM_TEST_ACCEL says otherwise.
    public static var testAccelerator: String {
        ProcessInfo.processInfo.environment["LCM_TEST_ACCEL"] ?? "tcg"
    }
}
