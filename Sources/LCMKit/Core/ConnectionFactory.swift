import Foundation
import Libvirt

/// Opens libvirt connections for LCMKit: the one place a failure to reach a device's libvirtd
/// becomes exit 69 with a hint. Tests give one that fails or redirects a URI.
public struct ConnectionFactory: Sendable {
    private let open: @Sendable (String) throws -> Connection

    /// Connects with libvirt itself.
    public static let libvirt = ConnectionFactory { try Connection(uri: $0) }

    public init(open: @escaping @Sendable (String) throws -> Connection) { self.open = open }

    public func connect(_ uri: String) throws -> Connection {
        do {
            return try open(uri)
        } catch let error as LibvirtError {
            throw LCMError(.unavailable, "cannot connect to libvirt at \(uri): \(error.message)",
                           hint: "check that libvirtd runs there (scripts/setup starts it locally) and that the URI is right")
        }
    }
}
