import CLibvirt
import Foundation

/// Host facts from `virNodeGetInfo`.
public struct NodeInfo: Sendable, Equatable {
    /// CPU model, for example "x86_64".
    public var model: String
    public var memoryKiB: UInt64
    /// Active CPUs.
    public var cpus: UInt32
    /// Expected CPU frequency in MHz (0 when unknown).
    public var mhz: UInt32
    /// NUMA cells (1 for uniform memory access).
    public var nodes: UInt32
    /// CPU sockets per NUMA cell.
    public var sockets: UInt32
    /// Cores per socket.
    public var cores: UInt32
    /// Threads per core.
    public var threads: UInt32
}

/// An open connection to a libvirt hypervisor driver (`virConnectPtr`), closed on deinit.
///
/// libvirt connections are thread-safe, so one instance can be shared across tasks.
/// Objects looked up through a connection keep it alive.
public final class Connection: @unchecked Sendable {
    let pointer: virConnectPtr

    /// The system QEMU driver for root, the per-user session driver otherwise.
    public static var defaultURI: String {
        geteuid() == 0 ? "qemu:///system" : "qemu:///session"
    }

    /// Where a session daemon autostarted by this process keeps its configuration (secrets'
    /// value files among it): libvirt's own rule, `$XDG_CONFIG_HOME/libvirt`, else `~/.config/libvirt`.
    public static var sessionConfigDirectory: String {
        let base = ProcessInfo.processInfo.environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? NSHomeDirectory() + "/.config"
        return base + "/libvirt"
    }

    /// Opens `uri` with libvirt's default authentication callbacks (policykit,
    /// SASL prompts); a missing or refusing daemon throws with `isConnectionFailure`.
    public init(uri: String = Connection.defaultURI) throws {
        ensureLibvirtInitialized()
        guard let pointer = virConnectOpenAuth(uri, lcm_virt_default_auth(), 0) else {
            throw LibvirtError.last("virConnectOpenAuth")
        }
        self.pointer = pointer
    }

    deinit {
        virConnectClose(pointer)
    }

    func error(_ function: String) -> LibvirtError {
        LibvirtError.last(function, connection: pointer)
    }

    // MARK: Host

    /// The canonical URI the driver reports (may differ from the one opened).
    public var uri: String {
        get throws {
            guard let value = takeString(virConnectGetURI(pointer)) else { throw error("virConnectGetURI") }
            return value
        }
    }

    public var hostname: String {
        get throws {
            guard let value = takeString(virConnectGetHostname(pointer)) else {
                throw error("virConnectGetHostname")
            }
            return value
        }
    }

    /// Version of libvirt on the daemon side, "major.minor.release".
    public var libraryVersion: String {
        get throws {
            var version: UInt = 0
            guard virConnectGetLibVersion(pointer, &version) == 0 else { throw error("virConnectGetLibVersion") }
            return formatVersion(version)
        }
    }

    /// Version of the hypervisor (QEMU's version for the QEMU driver), "major.minor.release".
    public var hypervisorVersion: String {
        get throws {
            var version: UInt = 0
            guard virConnectGetVersion(pointer, &version) == 0 else { throw error("virConnectGetVersion") }
            return formatVersion(version)
        }
    }

    /// Driver name, for example "QEMU" or "TEST".
    public var hypervisorType: String {
        get throws {
            // Static string owned by libvirt: copied, never freed.
            guard let value = virConnectGetType(pointer) else { throw error("virConnectGetType") }
            return String(cString: value)
        }
    }

    /// Whether the connection (and for remote URIs its transport) is still usable.
    public var isAlive: Bool {
        virConnectIsAlive(pointer) == 1
    }

    public func capabilitiesXML() throws -> String {
        guard let value = takeString(virConnectGetCapabilities(pointer)) else {
            throw error("virConnectGetCapabilities")
        }
        return value
    }

    public func nodeInfo() throws -> NodeInfo {
        var info = virNodeInfo()
        guard virNodeGetInfo(pointer, &info) == 0 else { throw error("virNodeGetInfo") }
        // `model` is a fixed char[32]; read it without assuming NUL termination.
        let model = withUnsafeBytes(of: info.model) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return NodeInfo(
            model: model, memoryKiB: UInt64(info.memory), cpus: info.cpus, mhz: info.mhz,
            nodes: info.nodes, sockets: info.sockets, cores: info.cores, threads: info.threads)
    }

    /// What the hypervisor supports for one emulator/arch/machine/virt type combination
    /// (firmware, devices, CPU models); nil arguments let libvirt pick defaults.
    public func domainCapabilitiesXML(
        emulatorBinary: String? = nil, arch: String? = nil, machine: String? = nil, virtType: String? = nil
    ) throws -> String {
        let value = withOptionalCString(emulatorBinary) { emulator in
            withOptionalCString(arch) { arch in
                withOptionalCString(machine) { machine in
                    withOptionalCString(virtType) { virtType in
                        virConnectGetDomainCapabilities(pointer, emulator, arch, machine, virtType, 0)
                    }
                }
            }
        }
        guard let xml = takeString(value) else { throw error("virConnectGetDomainCapabilities") }
        return xml
    }

    // MARK: Domains

    /// Defines (or redefines) a persistent domain; it stays shut off until started.
    public func defineDomain(xml: String) throws -> Domain {
        guard let domain = virDomainDefineXML(pointer, xml) else { throw error("virDomainDefineXML") }
        return Domain(domain, connection: self)
    }

    /// Creates and starts a domain that disappears when it stops.
    /// `paused` starts it with its CPUs stopped (resume with `Domain.resume()`); `autoDestroy`
    /// has libvirtd destroy it when this connection closes, so it cannot outlive a crashed caller.
    public func createTransientDomain(xml: String, paused: Bool = false, autoDestroy: Bool = false) throws -> Domain {
        var flags: UInt32 = 0
        if paused { flags |= VIR_DOMAIN_START_PAUSED.rawValue }
        if autoDestroy { flags |= VIR_DOMAIN_START_AUTODESTROY.rawValue }
        guard let domain = virDomainCreateXML(pointer, xml, flags) else { throw error("virDomainCreateXML") }
        return Domain(domain, connection: self)
    }

    /// The domain called `name`, or nil if there is none; other failures throw.
    public func lookupDomain(name: String) throws -> Domain? {
        try lookup("virDomainLookupByName") { virDomainLookupByName(pointer, name) }
            .map { Domain($0, connection: self) }
    }

    /// The domain with this UUID (any case), or nil if there is none.
    public func lookupDomain(uuid: String) throws -> Domain? {
        try lookup("virDomainLookupByUUIDString") { virDomainLookupByUUIDString(pointer, uuid) }
            .map { Domain($0, connection: self) }
    }

    /// Every domain the driver knows: running and defined, persistent and transient.
    public func listAllDomains() throws -> [Domain] {
        var array: UnsafeMutablePointer<virDomainPtr?>?
        let count = virConnectListAllDomains(pointer, &array, 0)
        guard count >= 0 else { throw error("virConnectListAllDomains") }
        return takeArray(array, count: count) { Domain($0, connection: self) }
    }

    // MARK: Storage

    public func lookupStoragePool(name: String) throws -> StoragePool? {
        try lookup("virStoragePoolLookupByName") { virStoragePoolLookupByName(pointer, name) }
            .map { StoragePool($0, connection: self) }
    }

    /// Defines a persistent pool; it must still be built (for new directories) and started.
    public func defineStoragePool(xml: String) throws -> StoragePool {
        guard let pool = virStoragePoolDefineXML(pointer, xml, 0) else { throw error("virStoragePoolDefineXML") }
        return StoragePool(pool, connection: self)
    }

    /// Creates and starts a transient pool (gone once destroyed or when libvirtd restarts); a
    /// `dir` pool over an existing directory lists its files as volumes without changing them.
    public func createTransientStoragePool(xml: String) throws -> StoragePool {
        guard let pool = virStoragePoolCreateXML(pointer, xml, 0) else { throw error("virStoragePoolCreateXML") }
        return StoragePool(pool, connection: self)
    }

    public func listAllStoragePools() throws -> [StoragePool] {
        var array: UnsafeMutablePointer<virStoragePoolPtr?>?
        let count = virConnectListAllStoragePools(pointer, &array, 0)
        guard count >= 0 else { throw error("virConnectListAllStoragePools") }
        return takeArray(array, count: count) { StoragePool($0, connection: self) }
    }

    // MARK: Secrets

    /// Defines a secret from its XML; the value is set separately with `Secret.setValue`.
    public func defineSecret(xml: String) throws -> Secret {
        guard let secret = virSecretDefineXML(pointer, xml, 0) else { throw error("virSecretDefineXML") }
        return Secret(secret, connection: self)
    }

    public func lookupSecret(uuid: String) throws -> Secret? {
        try lookup("virSecretLookupByUUIDString") { virSecretLookupByUUIDString(pointer, uuid) }
            .map { Secret($0, connection: self) }
    }

    /// The secret registered for a usage, for example `.volume` and a volume path, or
    /// `.vtpm` and a name.
    public func lookupSecret(usageType: SecretUsageType, usageID: String) throws -> Secret? {
        try lookup("virSecretLookupByUsage") { virSecretLookupByUsage(pointer, usageType.rawValue, usageID) }
            .map { Secret($0, connection: self) }
    }

    public func listAllSecrets() throws -> [Secret] {
        var array: UnsafeMutablePointer<virSecretPtr?>?
        let count = virConnectListAllSecrets(pointer, &array, 0)
        guard count >= 0 else { throw error("virConnectListAllSecrets") }
        return takeArray(array, count: count) { Secret($0, connection: self) }
    }

    // MARK: Helpers

    /// Runs a lookup; "not found" becomes nil, any other failure throws.
    func lookup<P>(_ function: String, _ call: () -> P?) throws -> P? {
        if let object = call() { return object }
        let failure = error(function)
        if failure.isNotFound { return nil }
        throw failure
    }
}
