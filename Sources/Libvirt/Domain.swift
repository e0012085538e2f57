import CLibvirt
import Foundation

/// A domain's run state (`virDomainState`) with libvirt's reason code, whose meaning
/// depends on the state (for example `VIR_DOMAIN_SHUTOFF_DESTROYED`).
public enum DomainState: Sendable, Equatable {
    case noState(reason: Int)
    case running(reason: Int)
    case blocked(reason: Int)
    case paused(reason: Int)
    case shuttingDown(reason: Int)
    case shutOff(reason: Int)
    case crashed(reason: Int)
    case pmSuspended(reason: Int)
    /// A state newer than this wrapper.
    case unknown(state: Int32, reason: Int)

    init(state: Int32, reason: Int32) {
        let reason = Int(reason)
        switch UInt32(bitPattern: state) {
        case VIR_DOMAIN_NOSTATE.rawValue: self = .noState(reason: reason)
        case VIR_DOMAIN_RUNNING.rawValue: self = .running(reason: reason)
        case VIR_DOMAIN_BLOCKED.rawValue: self = .blocked(reason: reason)
        case VIR_DOMAIN_PAUSED.rawValue: self = .paused(reason: reason)
        case VIR_DOMAIN_SHUTDOWN.rawValue: self = .shuttingDown(reason: reason)
        case VIR_DOMAIN_SHUTOFF.rawValue: self = .shutOff(reason: reason)
        case VIR_DOMAIN_CRASHED.rawValue: self = .crashed(reason: reason)
        case VIR_DOMAIN_PMSUSPENDED.rawValue: self = .pmSuspended(reason: reason)
        default: self = .unknown(state: state, reason: reason)
        }
    }

    public var reason: Int {
        switch self {
        case .noState(let reason), .running(let reason), .blocked(let reason), .paused(let reason),
            .shuttingDown(let reason), .shutOff(let reason), .crashed(let reason), .pmSuspended(let reason),
            .unknown(_, let reason):
            return reason
        }
    }

    /// True once the guest is no longer executing (shut off or crashed).
    public var isStopped: Bool {
        switch self {
        case .shutOff, .crashed: return true
        default: return false
        }
    }
}

/// Flags for `Domain.xmlDescription(flags:)` (`virDomainXMLFlags`).
public struct DomainXMLFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Include security-sensitive data such as VNC passwords.
    public static let secure = DomainXMLFlags(rawValue: VIR_DOMAIN_XML_SECURE.rawValue)
    /// The persistent definition rather than the live one.
    public static let inactive = DomainXMLFlags(rawValue: VIR_DOMAIN_XML_INACTIVE.rawValue)
    /// Expand the CPU model to what the host provides.
    public static let updateCPU = DomainXMLFlags(rawValue: VIR_DOMAIN_XML_UPDATE_CPU.rawValue)
    /// XML suitable for migration to an older libvirt.
    public static let migratable = DomainXMLFlags(rawValue: VIR_DOMAIN_XML_MIGRATABLE.rawValue)
}

/// A libvirt domain (virtual machine) handle (`virDomainPtr`), freed on deinit.
///
/// The handle outlives the domain itself: after `undefine()` calls fail with
/// `isNotFound`.
public final class Domain: @unchecked Sendable {
    let pointer: virDomainPtr
    /// Kept so the connection stays open as long as the handle is used.
    public let connection: Connection

    init(_ pointer: virDomainPtr, connection: Connection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit {
        virDomainFree(pointer)
    }

    private func error(_ function: String) -> LibvirtError {
        connection.error(function)
    }

    private func check(_ rc: Int32, _ function: String) throws {
        guard rc >= 0 else { throw error(function) }
    }

    public var name: String {
        get throws {
            // Owned by the domain object: copied, never freed.
            guard let name = virDomainGetName(pointer) else { throw error("virDomainGetName") }
            return String(cString: name)
        }
    }

    /// Lower-case UUID in the canonical 8-4-4-4-12 form.
    public var uuidString: String {
        get throws {
            guard let uuid = readUUIDString({ virDomainGetUUIDString(pointer, $0) }) else {
                throw error("virDomainGetUUIDString")
            }
            return uuid
        }
    }

    public var isActive: Bool {
        get throws {
            let rc = virDomainIsActive(pointer)
            try check(rc, "virDomainIsActive")
            return rc == 1
        }
    }

    public func state() throws -> DomainState {
        var state: Int32 = 0
        var reason: Int32 = 0
        try check(virDomainGetState(pointer, &state, &reason, 0), "virDomainGetState")
        return DomainState(state: state, reason: reason)
    }

    /// Boots a defined domain.
    public func start() throws {
        try check(virDomainCreate(pointer), "virDomainCreate")
    }

    /// Lets a paused domain's CPUs run.
    public func resume() throws {
        try check(virDomainResume(pointer), "virDomainResume")
    }

    /// Asks the guest to power off by pressing the ACPI power button; returns at once.
    /// The guest may ignore the request.
    public func shutdown() throws {
        try check(
            virDomainShutdownFlags(pointer, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN.rawValue),
            "virDomainShutdownFlags")
    }

    /// Requests an ACPI shutdown, then polls until the domain stops or `timeout` passes.
    ///
    /// Returns true if the domain stopped (or was not running), false on timeout; it never
    /// forces the domain off, so the caller decides whether to `destroy()`.
    /// Blocks the calling thread while polling.
    public func shutdown(timeout: Duration, pollInterval: Duration = .milliseconds(200)) throws -> Bool {
        do {
            guard try isActive else { return true }
        } catch let failure as LibvirtError where failure.isNotFound {
            return true
        }
        do {
            try shutdown()
        } catch let failure as LibvirtError {
            // The domain may have stopped (or vanished, if transient) between the two calls.
            if failure.isNotFound { return true }
            if try !isActive { return true }
            throw failure
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            do {
                if try state().isStopped { return true }
            } catch let failure as LibvirtError where failure.isNotFound {
                return true
            }
            if clock.now >= deadline { return false }
            Thread.sleep(forTimeInterval: pollInterval.seconds)
        }
    }

    /// Powers the domain off immediately, like pulling the plug.
    public func destroy() throws {
        try check(virDomainDestroy(pointer), "virDomainDestroy")
    }

    /// Removes the persistent definition (a running domain becomes transient).
    ///
    /// Snapshot and checkpoint metadata and any managed-save image go with it, since they
    /// are useless without the definition and would otherwise make the call fail.
    /// NVRAM and TPM state are removed only when asked, so a caller can sanitize them first.
    /// The mock driver (`test:///default`) rejects these flags with VIR_ERR_INVALID_ARG.
    public func undefine(removeNVRAM: Bool, removeTPMState: Bool) throws {
        var flags = VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA.rawValue
            | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA.rawValue
            | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE.rawValue
        flags |= removeNVRAM ? VIR_DOMAIN_UNDEFINE_NVRAM.rawValue : VIR_DOMAIN_UNDEFINE_KEEP_NVRAM.rawValue
        flags |= removeTPMState ? VIR_DOMAIN_UNDEFINE_TPM.rawValue : VIR_DOMAIN_UNDEFINE_KEEP_TPM.rawValue
        try check(virDomainUndefineFlags(pointer, flags), "virDomainUndefineFlags")
    }

    /// The XML of every snapshot of the domain (internal or external), in libvirt's order.
    public func snapshotXMLDescriptions() throws -> [String] {
        var list: UnsafeMutablePointer<virDomainSnapshotPtr?>?
        let count = virDomainListAllSnapshots(pointer, &list, 0)
        guard count >= 0 else { throw error("virDomainListAllSnapshots") }
        guard let list else { return [] }
        defer {
            for index in 0..<Int(count) { if let snapshot = list[index] { virDomainSnapshotFree(snapshot) } }
            free(list)
        }
        return try (0..<Int(count)).map { index in
            guard let xml = takeString(virDomainSnapshotGetXMLDesc(list[index], 0)) else {
                throw error("virDomainSnapshotGetXMLDesc")
            }
            return xml
        }
    }

    /// True when `virsh managedsave` left the domain's memory in a save image on the host.
    public var hasManagedSaveImage: Bool {
        get throws {
            let rc = virDomainHasManagedSaveImage(pointer, 0)
            try check(rc, "virDomainHasManagedSaveImage")
            return rc == 1
        }
    }

    public func xmlDescription(flags: DomainXMLFlags = []) throws -> String {
        guard let xml = takeString(virDomainGetXMLDesc(pointer, flags.rawValue)) else {
            throw error("virDomainGetXMLDesc")
        }
        return xml
    }

    /// Connects a stream to the domain's serial console (or the named console/serial
    /// `device`, e.g. "serial0"), taking it over from any other client.
    ///
    /// A non-blocking stream lets `Stream.receive(max:)` return nil instead of waiting.
    public func openConsole(device: String? = nil, nonBlocking: Bool = false) throws -> Stream {
        let stream = try Stream(connection: connection, nonBlocking: nonBlocking)
        let rc = withOptionalCString(device) { device in
            virDomainOpenConsole(pointer, device, stream.pointer, VIR_DOMAIN_CONSOLE_FORCE.rawValue)
        }
        try check(rc, "virDomainOpenConsole")
        stream.markActive()
        return stream
    }
}

extension Duration {
    /// The duration in (fractional) seconds, for APIs that take a TimeInterval.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
