import CLibvirt
import Foundation

/// A failed libvirt call: the error libvirt recorded for the calling thread, copied right
/// after the failure so later calls cannot overwrite it.
public struct LibvirtError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The `virErrorNumber` (for example `VIR_ERR_NO_DOMAIN`).
    public var code: Int32
    /// The `virErrorDomain`: which part of libvirt raised the error (not a virtual machine).
    public var domain: Int32
    /// libvirt's human-readable message.
    public var message: String
    /// The C function that failed, for context in logs.
    public var function: String

    public init(code: Int32, domain: Int32, message: String, function: String = "") {
        self.code = code
        self.domain = domain
        self.message = message
        self.function = function
    }

    public var description: String {
        let location = function.isEmpty ? "" : " in \(function)"
        return "libvirt error \(code) (domain \(domain))\(location): \(message)"
    }

    /// The object asked for does not exist (domain, storage pool or volume, secret).
    public var isNotFound: Bool {
        [VIR_ERR_NO_DOMAIN, VIR_ERR_NO_STORAGE_POOL, VIR_ERR_NO_STORAGE_VOL, VIR_ERR_NO_SECRET, VIR_ERR_NO_NETWORK,
         VIR_ERR_NO_DOMAIN_SNAPSHOT]
            .contains { Int32(bitPattern: $0.rawValue) == code }
    }

    /// The hypervisor could not be reached (socket missing, connection refused, broken RPC).
    public var isConnectionFailure: Bool {
        [VIR_ERR_SYSTEM_ERROR, VIR_ERR_NO_CONNECT, VIR_ERR_RPC]
            .contains { Int32(bitPattern: $0.rawValue) == code }
    }

    /// The object is in a state that forbids the call (a domain not running, a pool inactive).
    public var isInvalidOperation: Bool {
        [VIR_ERR_OPERATION_INVALID, VIR_ERR_OPERATION_FAILED].contains { Int32(bitPattern: $0.rawValue) == code }
    }

    /// Takes the error libvirt recorded for this thread, then clears it so that a later
    /// failure without a report cannot be blamed on a stale error.
    static func last(_ function: String, connection: virConnectPtr? = nil) -> LibvirtError {
        var result: LibvirtError?
        if let error = virGetLastError() {
            result = LibvirtError(error.pointee, function: function)
        } else if let connection, let error = virConnGetLastError(connection) {
            result = LibvirtError(error.pointee, function: function)
        }
        virResetLastError()
        if let connection {
            virConnResetLastError(connection)
        }
        return result ?? LibvirtError(
            code: Int32(bitPattern: VIR_ERR_INTERNAL_ERROR.rawValue),
            domain: Int32(bitPattern: VIR_FROM_NONE.rawValue),
            message: "\(function) failed without reporting an error",
            function: function)
    }

    /// A local failure (file I/O around a transfer), reported in the same shape.
    static func system(_ what: String, errno code: Int32, function: String) -> LibvirtError {
        LibvirtError(
            code: Int32(bitPattern: VIR_ERR_SYSTEM_ERROR.rawValue),
            domain: Int32(bitPattern: VIR_FROM_NONE.rawValue),
            message: "\(what): \(String(cString: strerror(code)))",
            function: function)
    }

    private init(_ error: virError, function: String) {
        self.init(
            code: error.code,
            domain: error.domain,
            message: error.message.map { String(cString: $0) } ?? "unknown libvirt error",
            function: function)
    }
}
