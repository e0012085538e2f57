import CGuestfs
import Foundation

/// A class of libguestfs log message, as delivered through its event API.
public enum GuestfsLogEvent: Sendable, Equatable {
    /// Output of the appliance (kernel, daemon) when `verbose` is on.
    case appliance
    /// Debug messages of the library itself when `verbose` is on.
    case library
    /// One line per API call when `trace` is on.
    case trace
    /// A warning libguestfs would otherwise print on stderr.
    case warning
}

/// Receives libguestfs log messages. Called synchronously on the thread making the call.
public typealias GuestfsLogHandler = @Sendable (GuestfsLogEvent, String) -> Void

/// One libguestfs handle: the drives added to it, the appliance it launches, and every
/// operation on that appliance.
///
/// Launching costs seconds (about 13-25 s under TCG), so callers add every drive they need
/// first, launch once, and compose many operations on the one session.
///
/// libguestfs never writes to stderr through a session: its error handler is removed and its
/// log and warning messages are routed to `logHandler` (warnings are also kept in `warnings`).
/// Calls are serialized by an internal lock, so a session may be shared between tasks; a
/// sequence of calls that must not interleave with another task's (mount, then write) needs
/// the caller's own coordination.
public final class GuestfsSession: @unchecked Sendable {
    /// Backend settings that make the appliance use software emulation (TCG) instead of KVM,
    /// for hosts where KVM is missing or broken.
    public static let tcgBackendSettings = ["force_tcg"]

    private var handle: OpaquePointer?
    private let lock = NSRecursiveLock()
    private let sink: MessageSink
    private let watchdog: CallWatchdog?

    /// Creates a handle that ignores every `LIBGUESTFS_*` environment variable and applies
    /// exactly the settings given here.
    ///
    /// - Parameters:
    ///   - backend: libguestfs backend, `"direct"` (qemu run by libguestfs) or `"libvirt"`.
    ///   - backendSettings: e.g. `GuestfsSession.tcgBackendSettings` where KVM is unusable.
    ///   - memsizeMiB: appliance memory; libguestfs's default when nil.
    ///   - smp: appliance vCPUs; libguestfs's default (1) when nil.
    ///   - tmpDirectory: where libguestfs puts sockets and overlays; `/tmp` when nil.
    ///   - cacheDirectory: where the appliance is cached; `/var/tmp` when nil.
    ///   - verbose: ask for appliance and library debug messages (sent to `logHandler`).
    ///   - trace: ask for one trace message per call (sent to `logHandler`).
    ///   - logHandler: receives log messages and warnings; they are dropped when nil.
    ///   - callTimeout: seconds one call may take once launched; past that the appliance is
    ///     killed and the call fails (`ETIMEDOUT`). Calls that move a host file get more time
    ///     in proportion to its size. No limit when nil.
    ///   - launchTimeout: seconds the launch may take when `callTimeout` is set (libguestfs
    ///     itself waits forever for an appliance that started but never answers).
    public init(
        backend: String = "direct",
        backendSettings: [String] = [],
        memsizeMiB: Int? = nil,
        smp: Int? = nil,
        tmpDirectory: String? = nil,
        cacheDirectory: String? = nil,
        verbose: Bool = false,
        trace: Bool = false,
        logHandler: GuestfsLogHandler? = nil,
        callTimeout: Double? = nil,
        launchTimeout: Double = 600
    ) throws {
        guard let g = lcm_guestfs_create_no_environment() else {
            throw GuestfsError(operation: "create", message: "cannot create libguestfs handle", errno: errno)
        }
        guestfs_set_error_handler(g, nil, nil)
        handle = g
        sink = MessageSink(handler: logHandler)
        watchdog = callTimeout.map { CallWatchdog(limit: $0, launchLimit: launchTimeout) }

        // Listening to these events is also what stops libguestfs printing them on stderr.
        let events = LCM_GUESTFS_EVENT_APPLIANCE | LCM_GUESTFS_EVENT_LIBRARY
            | LCM_GUESTFS_EVENT_TRACE | LCM_GUESTFS_EVENT_WARNING
        let opaque = Unmanaged.passUnretained(sink).toOpaque()
        try check("set_event_callback", guestfs_set_event_callback(g, guestfsEventCallback, events, 0, opaque))

        try check("set_backend", guestfs_set_backend(g, backend))
        try withCStringList(backendSettings) { list in
            try check("set_backend_settings", guestfs_set_backend_settings(g, list))
        }
        if let memsizeMiB { try check("set_memsize", guestfs_set_memsize(g, try cInt(memsizeMiB, "set_memsize"))) }
        if let smp { try check("set_smp", guestfs_set_smp(g, try cInt(smp, "set_smp"))) }
        if let tmpDirectory { try check("set_tmpdir", guestfs_set_tmpdir(g, tmpDirectory)) }
        if let cacheDirectory { try check("set_cachedir", guestfs_set_cachedir(g, cacheDirectory)) }
        if verbose { try check("set_verbose", guestfs_set_verbose(g, 1)) }
        if trace { try check("set_trace", guestfs_set_trace(g, 1)) }
        // The appliance kernel ignores an unknown parameter; it marks this session's qemu so the
        // watchdog can find it while the launch has not yet told its pid.
        try check("set_append", guestfs_set_append(g, applianceTag))
    }

    /// A kernel command-line parameter unique to this session's appliance.
    public let applianceTag = "lcm_session=" + (0..<4).map { _ in String(format: "%08x", UInt32.random(in: .min ... .max)) }.joined()

    deinit {
        if let handle {
            guestfs_set_error_handler(handle, nil, nil)   // closing unmounts and syncs: may fail
            guestfs_close(handle)
        }
    }

    /// Warnings libguestfs emitted on this handle, oldest first.
    public var warnings: [String] { sink.warnings }

    /// True once the watchdog stopped this session's appliance (a launch or call past its limit).
    public var wasStoppedByWatchdog: Bool { watchdog?.expiry != nil }

    // MARK: Lifecycle

    /// Starts the appliance. All drives must be added before.
    public func launch() throws {
        watchdog?.watchLaunch(tag: applianceTag)
        try call("launch") { guestfs_launch($0) }
        if let watchdog { watchdog.arm(processID: try call("get_pid") { guestfs_get_pid($0) }) }
    }

    /// Unmounts, syncs and stops the appliance, reporting any error from it (which `close`
    /// would swallow). The handle stays open but cannot be launched again.
    public func shutdown() throws {
        try call("shutdown") { guestfs_shutdown($0) }
        watchdog?.disarm()
    }

    /// Closes the handle (stopping the appliance if running). Later calls throw. Idempotent.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        watchdog?.disarm()
        if let handle {
            guestfs_set_error_handler(handle, nil, nil)
            guestfs_close(handle)
        }
        handle = nil
    }

    /// The largest number of drives this handle's backend can take (255 for `direct`).
    public var maximumDrives: Int {
        get throws { Int(try call("max_disks") { guestfs_max_disks($0) }) }
    }

    // MARK: Drives

    /// Adds a disk image file (or block device) to the appliance.
    ///
    /// - Parameters:
    ///   - format: `"raw"`, `"qcow2"`, ...; libguestfs probes when nil, which is unsafe for
    ///     untrusted images, so pass it whenever it is known.
    ///   - readonly: writes go to a temporary overlay and are discarded.
    ///   - label: makes the disk reachable as `/dev/disk/guestfs/<label>` (letters only, at most 20).
    public func addDrive(path: String, format: String? = nil, readonly: Bool = false, label: String? = nil) throws {
        try addDrive(filename: path, format: format, readonly: readonly, label: label,
                     protocol: nil, servers: [], operation: "add_drive")
    }

    /// Adds a drive served by an NBD server on a unix socket (e.g. `qemu-nbd -k` or
    /// qemu-storage-daemon exposing a decrypted LUKS qcow2).
    ///
    /// - Parameters:
    ///   - exportName: the NBD export; the server's default export when empty.
    ///   - format: the format of what the server exports, normally `"raw"`.
    public func addNBDDrive(
        socketPath: String, exportName: String = "", format: String? = "raw",
        readonly: Bool = false, label: String? = nil
    ) throws {
        try addDrive(filename: exportName, format: format, readonly: readonly, label: label,
                     protocol: "nbd", servers: ["unix:\(socketPath)"], operation: "add_drive(nbd)")
    }

    private func addDrive(
        filename: String, format: String?, readonly: Bool, label: String?,
        protocol proto: String?, servers: [String], operation: String
    ) throws {
        let arena = CStringArena()
        var opts = guestfs_add_drive_opts_argv()
        if readonly {
            opts.bitmask |= LCM_GUESTFS_ADD_DRIVE_OPTS_READONLY_BITMASK
            opts.readonly = 1
        }
        if let format {
            opts.bitmask |= LCM_GUESTFS_ADD_DRIVE_OPTS_FORMAT_BITMASK
            opts.format = arena.string(format)
        }
        if let label {
            opts.bitmask |= LCM_GUESTFS_ADD_DRIVE_OPTS_LABEL_BITMASK
            opts.label = arena.string(label)
        }
        if let proto {
            opts.bitmask |= LCM_GUESTFS_ADD_DRIVE_OPTS_PROTOCOL_BITMASK
            opts.protocol = arena.string(proto)
        }
        if !servers.isEmpty {
            opts.bitmask |= LCM_GUESTFS_ADD_DRIVE_OPTS_SERVER_BITMASK
            opts.server = arena.stringList(servers)
        }
        try withExtendedLifetime(arena) {
            _ = try call(operation) { guestfs_add_drive_opts_argv($0, filename, &opts) }
        }
    }

    // MARK: Calling into libguestfs

    /// Runs `body` with the live handle under the session lock.
    func withHandle<T>(_ operation: String, _ body: (OpaquePointer) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        guard let handle else {
            throw GuestfsError(operation: operation, message: "the libguestfs handle is closed")
        }
        // libguestfs keeps the error handler per thread (like the last error): a thread that
        // never set it gets the default one, which prints to stderr. Calls may come from any
        // thread, so remove it for this one every time (it only sets a thread-local field).
        guestfs_set_error_handler(handle, nil, nil)
        guard let watchdog else { return try body(handle) }
        watchdog.begin(operation)
        defer { watchdog.end() }
        do {
            return try body(handle)
        } catch {
            guard let expiry = watchdog.expiry else { throw error }
            throw GuestfsError(
                operation: operation,
                message: "the appliance gave no answer to \(expiry.operation) within \(Int(expiry.seconds)) s and was stopped (\(error))",
                errno: ETIMEDOUT)
        }
    }

    /// Runs `body` with `seconds` more allowed for each of its calls (see `callTimeout`).
    func allowingLongerCalls<T>(by seconds: Double, _ body: () throws -> T) rethrows -> T {
        guard let watchdog else { return try body() }
        return try watchdog.allowingLonger(by: seconds, body)
    }

    /// Extra seconds for a call that streams the host file at `path`: at the slowest rate seen
    /// under TCG on a loaded host (about 0.25 MiB/s), with a margin.
    func transferAllowance(forFileAt path: String) -> Double {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.doubleValue ?? 0
        return size / (64 * 1024)
    }

    /// Calls a libguestfs function returning `int` (-1 on error).
    @discardableResult
    func call(_ operation: String, _ body: (OpaquePointer) -> Int32) throws -> Int32 {
        try withHandle(operation) { g in
            let rc = body(g)
            if rc == -1 { throw Self.lastError(g, operation) }
            return rc
        }
    }

    /// Calls a libguestfs function returning `int64_t` (-1 on error).
    func call64(_ operation: String, _ body: (OpaquePointer) -> Int64) throws -> Int64 {
        try withHandle(operation) { g in
            let rc = body(g)
            if rc == -1 { throw Self.lastError(g, operation) }
            return rc
        }
    }

    /// Calls a libguestfs boolean function (-1 on error, else 0 or 1).
    func callBool(_ operation: String, _ body: (OpaquePointer) -> Int32) throws -> Bool {
        try call(operation, body) != 0
    }

    /// Calls a libguestfs function returning a malloc'd string (NULL on error) and frees it.
    func callString(_ operation: String, _ body: (OpaquePointer) -> UnsafeMutablePointer<CChar>?) throws -> String {
        try withHandle(operation) { g in
            guard let p = body(g) else { throw Self.lastError(g, operation) }
            defer { free(p) }
            return String(cString: p)
        }
    }

    /// Calls a libguestfs function returning a malloc'd NULL-terminated string list
    /// (NULL on error) and frees it.
    func callStringList(
        _ operation: String, _ body: (OpaquePointer) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) throws -> [String] {
        try withHandle(operation) { g in
            guard let list = body(g) else { throw Self.lastError(g, operation) }
            return takeStringList(list)
        }
    }

    /// Calls a libguestfs function returning a malloc'd buffer and its size (NULL on error).
    func callBuffer(
        _ operation: String, _ body: (OpaquePointer, UnsafeMutablePointer<Int>) -> UnsafeMutablePointer<CChar>?
    ) throws -> [UInt8] {
        try withHandle(operation) { g in
            var size = 0
            guard let p = body(g, &size) else { throw Self.lastError(g, operation) }
            defer { free(p) }
            return p.withMemoryRebound(to: UInt8.self, capacity: size) { Array(UnsafeBufferPointer(start: $0, count: size)) }
        }
    }

    /// Calls a libguestfs function returning a malloc'd struct (NULL on error), converts it
    /// with `convert` and frees it with `free`.
    func callStruct<S, T>(
        _ operation: String,
        _ body: (OpaquePointer) -> UnsafeMutablePointer<S>?,
        free freeStruct: (UnsafeMutablePointer<S>) -> Void,
        _ convert: (S) throws -> T
    ) throws -> T {
        try withHandle(operation) { g in
            guard let p = body(g) else { throw Self.lastError(g, operation) }
            defer { freeStruct(p) }
            return try convert(p.pointee)
        }
    }

    static func lastError(_ g: OpaquePointer, _ operation: String) -> GuestfsError {
        let message = guestfs_last_error(g).map { String(cString: $0) } ?? "unknown error"
        return GuestfsError(operation: operation, message: message, errno: guestfs_last_errno(g))
    }

    private func check(_ operation: String, _ rc: Int32) throws {
        guard rc != -1 else {
            guard let handle else { throw GuestfsError(operation: operation, message: "the libguestfs handle is closed") }
            throw Self.lastError(handle, operation)
        }
    }
}

// MARK: - Helpers shared by the extensions

/// Converts a Swift `Int` argument to C `int`, rejecting values that do not fit.
func cInt(_ value: Int, _ operation: String) throws -> Int32 {
    guard let v = Int32(exactly: value) else {
        throw GuestfsError(operation: operation, message: "value \(value) does not fit a C int")
    }
    return v
}

/// Copies and frees a malloc'd NULL-terminated list of malloc'd strings.
func takeStringList(_ list: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> [String] {
    var result: [String] = []
    var i = 0
    while let s = list[i] {
        result.append(String(cString: s))
        free(s)
        i += 1
    }
    free(list)
    return result
}

/// Turns libguestfs's flat `[k1, v1, k2, v2, ...]` lists into pairs.
func pairs(_ flat: [String]) -> [(String, String)] {
    stride(from: 0, to: flat.count - 1, by: 2).map { (flat[$0], flat[$0 + 1]) }
}

/// Runs `body` with a NULL-terminated C array of copies of `strings`.
func withCStringList<R>(
    _ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) throws -> R
) throws -> R {
    let arena = CStringArena()
    return try withExtendedLifetime(arena) { try body(arena.stringList(strings)) }
}

/// Owns C strings (and string lists) handed to libguestfs for the duration of one call.
final class CStringArena {
    private var strings: [UnsafeMutablePointer<CChar>] = []
    private var lists: [UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>] = []

    func string(_ s: String) -> UnsafePointer<CChar>? {
        guard let p = strdup(s) else { return nil }
        strings.append(p)
        return UnsafePointer(p)
    }

    func stringList(_ items: [String]) -> UnsafePointer<UnsafeMutablePointer<CChar>?> {
        let list = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: items.count + 1)
        for (i, item) in items.enumerated() {
            let p = strdup(item)
            if let p { strings.append(p) }
            list[i] = p
        }
        list[items.count] = nil
        lists.append(list)
        return UnsafePointer(list)
    }

    deinit {
        strings.forEach { free($0) }
        lists.forEach { $0.deallocate() }
    }
}

/// Routes libguestfs events to the session's log handler and keeps warnings.
final class MessageSink: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [String] = []
    let handler: GuestfsLogHandler?

    init(handler: GuestfsLogHandler?) { self.handler = handler }

    var warnings: [String] { lock.withLock { collected } }

    func receive(_ event: GuestfsLogEvent, _ message: String) {
        if event == .warning { lock.withLock { collected.append(message) } }
        handler?(event, message)
    }
}

private let guestfsEventCallback: guestfs_event_callback = { _, opaque, event, _, _, buf, bufLen, _, _ in
    guard let opaque else { return }
    let sink = Unmanaged<MessageSink>.fromOpaque(opaque).takeUnretainedValue()
    let kind: GuestfsLogEvent
    switch event {
    case LCM_GUESTFS_EVENT_APPLIANCE: kind = .appliance
    case LCM_GUESTFS_EVENT_LIBRARY: kind = .library
    case LCM_GUESTFS_EVENT_TRACE: kind = .trace
    default: kind = .warning
    }
    var text = ""
    if let buf, bufLen > 0 {
        text = buf.withMemoryRebound(to: UInt8.self, capacity: bufLen) {
            String(decoding: UnsafeBufferPointer(start: $0, count: bufLen), as: UTF8.self)
        }
    }
    sink.receive(kind, text)
}
