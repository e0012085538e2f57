import CLibvirt
import Foundation

/// A libvirt virtual network (`virNetworkPtr`), freed on deinit. lcm only looks networks up:
/// a desktop's NIC names one, and starting the desktop fails while it is not running.
public final class Network: @unchecked Sendable {
    let pointer: virNetworkPtr
    public let connection: Connection

    init(_ pointer: virNetworkPtr, connection: Connection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit {
        virNetworkFree(pointer)
    }

    public var name: String {
        get throws {
            guard let name = virNetworkGetName(pointer) else { throw connection.error("virNetworkGetName") }
            return String(cString: name)
        }
    }

    public var isActive: Bool {
        get throws {
            let rc = virNetworkIsActive(pointer)
            guard rc >= 0 else { throw connection.error("virNetworkIsActive") }
            return rc == 1
        }
    }
}

extension Connection {
    public func lookupNetwork(name: String) throws -> Network? {
        try lookup("virNetworkLookupByName") { virNetworkLookupByName(pointer, name) }
            .map { Network($0, connection: self) }
    }
}
