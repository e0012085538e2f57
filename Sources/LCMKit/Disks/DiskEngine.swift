import Foundation
import Guestfs
import Libvirt

/// The disk-access engine: opens many disks (plain or LUKS-encrypted, local or on remote
/// devices) in as few libguestfs appliance launches as possible, runs the caller's work on each,
/// and returns one result per disk.
///
/// Pipeline per batch: **stage** each disk (lock it, download it if remote, validate it with
/// qemu-img info/check, start qemu-nbd for encrypted or remote chains and wait for it to serve),
/// **launch** appliances over the disks that passed (up to the drive limit each; a failing launch
/// is narrowed down by re-validation or bisection), **work** on each disk in turn, then **finish**
/// (flush, stop qemu-nbd, upload remote disks back and verify them). One bad disk fails alone.
///
/// Everything left running or lying around (qemu-nbd, the appliance, sockets, the working
/// directory) is recorded through `recorder` before it exists, so after a kill -9 the next run on
/// the same journaled operation (or `lcm recover`) removes it and can open the disks at once.
public final class DiskEngine: @unchecked Sendable {
    /// How a batch runs.
    public struct Options: Sendable {
        /// libguestfs backend settings, e.g. `["force_tcg"]` where KVM is unusable.
        public var backendSettings: [String]
        /// Drives per appliance launch; nil: as many as the appliance takes (255 for `direct`).
        public var drivesPerLaunch: Int?
        /// Appliance memory in MiB; libguestfs's default when nil.
        public var memsizeMiB: Int?
        /// Appliance vCPUs (libguestfs's default, 1, when nil). Two by default where the host has
        /// two cores: ntfs-3g and the libguestfs daemon then run side by side (under TCG a 60 MiB
        /// hive opens in 1.0 s instead of 1.3 s, and 50 drives launch faster).
        public var smp: Int? = min(2, ProcessInfo.processInfo.activeProcessorCount)
        /// Open every disk read-only: nothing is written, nothing is uploaded.
        public var readOnly: Bool
        /// For remote disks: before uploading, check the device's copy is unchanged since the
        /// download; after, that it equals what was sent (each costs one read of the volume).
        public var verifyRemote: Bool
        /// How long to wait for a disk whose image lock a dying process still holds.
        public var lockWait: Double
        /// Disks staged at once (qemu-img and qemu-nbd mostly wait, so more than the core count).
        public var parallelism: Int
        /// Receives one line per libguestfs call and its result (`--verbose`): where a batch's
        /// time goes inside the appliance. Nil: no trace.
        public var callTrace: (@Sendable (String) -> Void)?
        /// Told when an appliance launches and as each disk is done (nil: nobody is told).
        public var progress: ProgressSink?
        /// Seconds one appliance call may take before the appliance is stopped and the disk it
        /// worked on fails (the others get a fresh launch; a read-only batch tries that disk once
        /// more). The slowest healthy call measured under TCG on a loaded host took about 4
        /// minutes; a hung one never returns. Host files sent in (uploads, tar) get more in
        /// proportion to their size.
        public var callTimeout: Double? = 600
        /// Seconds a launch may take (healthy: 13-90 s under TCG) before its hung appliance is
        /// stopped and the launch tried once more.
        public var launchTimeout: Double = 300
        /// Crash injection for tests (`LCMContext.failPoints`); none by default.
        public var failPoints: FailPoints = .none
        /// How remote disks' devices are reached (`LCMContext.connections`).
        public var connections: ConnectionFactory = .libvirt

        public init(backendSettings: [String] = GuestfsSession.tcgBackendSettings, drivesPerLaunch: Int? = nil,
                    memsizeMiB: Int? = nil, readOnly: Bool = false, verifyRemote: Bool = true,
                    lockWait: Double = 5, parallelism: Int = 4) {
            self.backendSettings = backendSettings; self.drivesPerLaunch = drivesPerLaunch
            self.memsizeMiB = memsizeMiB; self.readOnly = readOnly; self.verifyRemote = verifyRemote
            self.lockWait = lockWait; self.parallelism = parallelism
        }

        /// Backend settings for an accelerator choice (`auto` leaves it to libguestfs).
        public static func backendSettings(for accelerator: Accelerator) -> [String] {
            accelerator == .tcg ? GuestfsSession.tcgBackendSettings : []
        }
    }

    public let inventory: Inventory
    public let recorder: LeftoverRecorder
    public let options: Options
    private let connections: ConnectionCache

    public init(inventory: Inventory, recorder: LeftoverRecorder, options: Options = Options()) {
        self.inventory = inventory; self.recorder = recorder; self.options = options
        connections = ConnectionCache(factory: options.connections)
    }

    // MARK: - Plan

    /// How `volumes` will be split over launches.
    public func plan(_ volumes: [DiskVolume]) throws -> DiskPlan {
        let perLaunch = try drivesPerLaunch()
        let indexes = Array(volumes.indices)
        let launches = stride(from: 0, to: indexes.count, by: perLaunch).map { Array(indexes[$0..<min($0 + perLaunch, indexes.count)]) }
        return DiskPlan(diskCount: volumes.count, drivesPerLaunch: perLaunch, launches: launches,
                        remoteDisks: volumes.filter(\.isRemote).count)
    }

    private func drivesPerLaunch() throws -> Int {
        if let fixed = options.drivesPerLaunch { return max(1, fixed) }
        // Asking costs no launch: a fresh handle knows its backend's limit.
        let probe = try GuestfsSession(backend: "direct", backendSettings: options.backendSettings)
        defer { probe.close() }
        return max(1, try probe.maximumDrives)
    }

    // MARK: - Run

    /// Opens `volumes`, runs `work` once per disk that could be opened (in order, on the one
    /// appliance that holds it), and reports per disk. Throws only when the batch as a whole
    /// cannot run (no home, no libguestfs); a bad disk is a failed result, not an error.
    ///
    /// `work` may mount, edit and unmount; after it returns the engine closes any open hive and
    /// unmounts everything. A disk counts as done only once the appliance shut down cleanly
    /// (which flushes every drive): if that fails, every disk of that launch is reported failed.
    public func run<Value: Sendable>(_ volumes: [DiskVolume], work: (DiskAccess) throws -> Value) throws -> DiskBatchReport<Value> {
        let clock = ContinuousClock()
        let start = clock.now
        let plan = try plan(volumes)
        try inventory.home.prepare()
        let batchID = String(UUID().uuidString.lowercased().prefix(8))
        let directory = inventory.home.runURL.appendingPathComponent("b-\(batchID)").path
        let directoryToken = try recorder.record(.directory(directory))
        defer { try? recorder.release(directoryToken) }
        guard mkdir(directory, 0o700) == 0 else {
            throw LCMError(.cannotWrite, "cannot create \(directory): \(String(cString: strerror(errno)))")
        }

        let state = BatchState<Value>(count: volumes.count)
        let stager = DiskStager(engine: self, directory: directory, state: state)

        // Stage.
        let disks = volumes.enumerated().map { StagedDisk(index: $0.offset, volume: $0.element) }
        Parallel.forEach(disks, width: options.parallelism) { stager.stage($0) }
        let staged = clock.now
        options.failPoints.hit(kind: "disk-engine", step: "prepared", moment: .ran)

        // Launch and work.
        let ready = disks.filter { $0.failure == nil }
        for disk in disks { if let failure = disk.failure { state.set(disk.index, .failure(failure)) } }
        let groups = stride(from: 0, to: ready.count, by: plan.drivesPerLaunch)
            .map { Array(ready[$0..<min($0 + plan.drivesPerLaunch, ready.count)]) }
        let tally = withoutActuallyEscaping(work) { work in
            LaunchBisector<StagedDisk>(
                attempt: { group in try self.launchAndWork(group, directory: directory, state: state, work: work) },
                suspects: { group, error in self.suspects(in: group, error: error) },
                blame: { disk, error in
                    state.set(disk.index, .failure(DiskFailure(stage: .launch, reason: .launchFailed,
                                                               message: Self.message(error))))
                },
                isTransient: { ($0 as? GuestfsError)?.errno == ETIMEDOUT }
            ).run(groups)
        }
        let worked = clock.now

        // Finish: stop servers, write remote disks back, unlock.
        Parallel.forEach(disks, width: options.parallelism) { stager.finish($0, succeeded: state.succeeded($0.index)) }
        for disk in disks {
            if let failure = disk.writeBackFailure, state.succeeded(disk.index) { state.set(disk.index, .failure(failure)) }
        }
        let end = clock.now

        let results = volumes.enumerated().map { index, volume in
            DiskResult(volume: volume, index: index,
                       outcome: state.outcome(index) ?? .failure(DiskFailure(stage: .launch, reason: .launchFailed,
                                                                             message: "never reached")))
        }
        let report = DiskBatchReport(
            plan: plan, results: results, launches: tally.launches, failedLaunches: tally.failedLaunches,
            transfer: state.transfer, secondsPreparing: (staged - start).seconds,
            secondsLaunching: state.launchSeconds, secondsWorking: (worked - staged).seconds - state.launchSeconds,
            secondsFinishing: (end - worked).seconds, secondsTotal: (end - start).seconds)
        try? inventory.recordEvent(
            objectKind: "disk-batch", objectID: batchID, action: "disk batch",
            outcome: report.failed.isEmpty ? "ok" : "partial",
            details: ["disks": String(volumes.count), "failed": String(report.failed.count),
                      "launches": String(report.launches), "bytesMoved": String(report.transfer.total)])
        return report
    }

    // MARK: - Launch

    /// One appliance over `group`: add drives, launch, work on each disk, shut down cleanly.
    /// Returns the disks that need a launch of their own (after the appliance hung or died).
    private func launchAndWork<Value>(_ group: [StagedDisk], directory: String, state: BatchState<Value>,
                                      work: (DiskAccess) throws -> Value) throws -> [StagedDisk] {
        let session = try openSession(directory: directory)
        var tokens: [LeftoverToken] = []
        defer {
            session.close()
            for token in tokens { try? recorder.release(token) }
        }
        try addDrives(group, to: session)
        try launch(session, diskCount: group.count, state: state)
        tokens = recordAppliance(session)
        options.failPoints.hit(kind: "disk-engine", step: "launched", moment: .ran)

        let devices = try session.listDevices()
        guard devices.count == group.count else {
            throw LCMError(.failure, "the appliance shows \(devices.count) disks for \(group.count) drives")
        }
        if let remaining = workOnEach(group, devices: devices, session: session, state: state, work: work) {
            return remaining
        }
        do {
            try session.shutdown()
        } catch {
            for disk in group where state.succeeded(disk.index) {
                state.set(disk.index, .failure(DiskFailure(stage: .writeBack, reason: .toolFailed,
                                                           message: "appliance shutdown failed: \(Self.message(error))")))
            }
        }
        return []
    }

    /// A libguestfs handle with the engine's options, tracing to `options.callTrace` if set.
    private func openSession(directory: String) throws -> GuestfsSession {
        var traceHandler: GuestfsLogHandler?
        if let trace = options.callTrace {
            traceHandler = { event, message in if event == .trace { trace(message) } }
        }
        return try GuestfsSession(backend: "direct", backendSettings: options.backendSettings,
                                  memsizeMiB: options.memsizeMiB, smp: options.smp, tmpDirectory: directory,
                                  trace: traceHandler != nil, logHandler: traceHandler,
                                  callTimeout: options.callTimeout, launchTimeout: options.launchTimeout)
    }

    private func addDrives(_ group: [StagedDisk], to session: GuestfsSession) throws {
        for disk in group {
            switch disk.drive {
            case .file(let path, let format):
                try session.addDrive(path: path, format: format, readonly: options.readOnly)
            case .nbd(let socket):
                try session.addNBDDrive(socketPath: socket, format: "raw", readonly: options.readOnly)
            case nil:
                throw LCMError(.failure, "disk \(disk.volume.name) has no drive")
            }
        }
    }

    /// Launches the appliance, adding the time it took (launched or not) to the batch's.
    private func launch<Value>(_ session: GuestfsSession, diskCount: Int, state: BatchState<Value>) throws {
        let clock = ContinuousClock()
        let launchStart = clock.now
        options.progress?(ProgressUpdate("appliance launch (\(diskCount) disk(s))"))
        defer { state.addLaunchSeconds((clock.now - launchStart).seconds) }
        try session.launch()
    }

    /// Records the appliance's process and socket directory as leftovers until they are gone.
    /// libguestfs's own recovery process kills the appliance if lcm dies, but only after it
    /// notices; recording the pid lets the next run kill it at once and free the image locks.
    private func recordAppliance(_ session: GuestfsSession) -> [LeftoverToken] {
        guard let pid = try? session.applianceProcessID(), pid > 0 else { return [] }
        var tokens: [LeftoverToken] = []
        if let token = try? recorder.record(.process(pid)) { tokens.append(token) }
        if let socketDirectory = Self.applianceSocketDirectory(pid: pid),
           let token = try? recorder.record(.directory(socketDirectory)) {
            tokens.insert(token, at: 0)
        }
        return tokens
    }

    /// Runs `work` on each disk of the launched appliance, recording each outcome in `state`.
    /// Returns nil when the appliance stayed up for every disk; otherwise it hung or died, and
    /// returns the disks still to do (they get a fresh launch), and the appliance is not shut down.
    private func workOnEach<Value>(_ group: [StagedDisk], devices: [String], session: GuestfsSession, state: BatchState<Value>,
                                   work: (DiskAccess) throws -> Value) -> [StagedDisk]? {
        // One listing serves every disk (each costs a round trip that grows with the drive count);
        // work that repartitions its disk asks again (`DiskAccess.currentPartitions`).
        let partitions = try? session.listPartitions()
        for (position, disk) in group.enumerated() {
            let access = DiskAccess(volume: disk.volume, index: disk.index, session: session, device: devices[position],
                                    partitionsAtLaunch: partitions)
            do {
                let value = try work(access)
                try? session.hivexClose()
                // Unmounting flushes the filesystem to the drive; the flush of every drive to its
                // file happens once, at shutdown (a sync per disk costs more with every drive added).
                try session.umountAll()
                state.set(disk.index, .success(value))
            } catch {
                try? session.hivexClose()
                try? session.umountAll()
                if session.wasStoppedByWatchdog, options.readOnly, !disk.retriedAfterHang {
                    // A hung appliance is not the disk's fault, and a read-only attempt changed
                    // nothing on it: it gets one more try in the fresh launch with the rest.
                    disk.retriedAfterHang = true
                    return Array(group[position...])
                }
                let thrown = LCMError.from(error)
                state.set(disk.index, .failure(DiskFailure(stage: .work, reason: .workFailed, message: Self.message(error),
                                                           exitCode: thrown.code, hint: thrown.hint)))
                if !session.isReady {
                    // The appliance died with this disk: the rest get a launch of their own.
                    return Array(group[(position + 1)...])
                }
            }
            options.failPoints.hit(kind: "disk-engine", step: "worked", moment: .ran)
            if let progress = options.progress {
                progress(ProgressUpdate("disks", done: UInt64(state.finishedCount), of: UInt64(state.count)))
            }
        }
        return nil
    }

    /// The directory holding the appliance's control sockets (libguestfs makes it under /tmp,
    /// outside lcm's home), read from the appliance's command line.
    static func applianceSocketDirectory(pid: Int32) -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
        for argument in data.split(separator: 0).map({ String(decoding: $0, as: UTF8.self) }) {
            guard let range = argument.range(of: "path=") else { continue }
            let path = argument[range.upperBound...].prefix { $0 != "," }
            if path.hasSuffix(".sock"), path.contains("/libguestfs") {
                return URL(fileURLWithPath: String(path)).deletingLastPathComponent().path
            }
        }
        return nil
    }

    /// Disks of a failed group that are bad on a second look: named in the error, or failing
    /// re-validation (a qemu-nbd that died, an image someone locked since staging).
    private func suspects(in group: [StagedDisk], error: Error) -> [Int] {
        let text = Self.message(error)
        var named: [Int] = []
        for (position, disk) in group.enumerated() {
            switch disk.drive {
            case .file(let path, _): if text.contains(path) { named.append(position) }
            case .nbd(let socket): if text.contains(socket) { named.append(position) }
            case nil: named.append(position)
            }
        }
        if named.count == 1 { return named }
        return group.enumerated().compactMap { position, disk in
            switch disk.drive {
            case .file(let path, _):
                return (try? QemuImage.info(path: path)) == nil ? position : nil
            case .nbd(let socket):
                return disk.nbd?.process.isRunning == true && NBDServer.greets(socket) ? nil : position
            case nil:
                return position
            }
        }
    }

    // MARK: - Helpers

    func connection(_ uri: String) throws -> Connection { try connections.get(uri) }

    static func message(_ error: Error) -> String {
        if let error = error as? LCMError { return error.message }
        if let error = error as? GuestfsError { return error.description }
        if let error = error as? LibvirtError { return error.message }
        if let error = error as? ImageError { return error.description }
        return "\(error)"
    }
}

/// Runs blocking work (tools, transfers) on dedicated threads. Not GCD: its pool is sized to the
/// core count and grows only after a delay when every thread blocks, which stalled staging for
/// seconds on two cores.
enum Parallel {
    /// Hands out indexes 0, 1, 2, ... to the worker threads.
    private final class Cursor: @unchecked Sendable {
        private let lock = NSLock()
        private var next = 0
        func take(_ count: Int) -> Int? {
            lock.withLock {
                guard next < count else { return nil }
                defer { next += 1 }
                return next
            }
        }
    }

    /// Calls `body` on every item from `width` threads at once; returns when all are done.
    static func forEach<T>(_ items: [T], width: Int, _ body: @escaping (T) -> Void) {
        let cursor = Cursor()
        let shared = UncheckedBox((items: items, body: body))
        let done = DispatchSemaphore(value: 0)
        let workers = max(1, min(width, items.count))
        for _ in 0..<workers {
            Thread.detachNewThread {
                while let index = cursor.take(shared.value.items.count) {
                    shared.value.body(shared.value.items[index])
                }
                done.signal()
            }
        }
        for _ in 0..<workers { done.wait() }
    }
}

/// Connections opened for a batch, one per URI, shared by the staging threads.
final class ConnectionCache: @unchecked Sendable {
    private let lock = NSLock()
    private let factory: ConnectionFactory
    private var open: [String: Connection] = [:]

    init(factory: ConnectionFactory) { self.factory = factory }

    func get(_ uri: String) throws -> Connection {
        lock.lock()
        defer { lock.unlock() }
        if let connection = open[uri] { return connection }
        let connection = try factory.connect(uri)
        open[uri] = connection
        return connection
    }
}

/// Results and counters of a batch, written from several threads.
final class BatchState<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var outcomes: [Result<Value, DiskFailure>?]
    private var transferTotals = TransferTotals()
    private var launchTime: Double = 0

    var transfer: TransferTotals { lock.withLock { transferTotals } }
    var launchSeconds: Double { lock.withLock { launchTime } }

    init(count: Int) { outcomes = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ outcome: Result<Value, DiskFailure>) { lock.withLock { outcomes[index] = outcome } }
    var count: Int { lock.withLock { outcomes.count } }
    /// Disks with an outcome so far (done or failed): what progress counts.
    var finishedCount: Int { lock.withLock { outcomes.filter { $0 != nil }.count } }
    func outcome(_ index: Int) -> Result<Value, DiskFailure>? { lock.withLock { outcomes[index] } }
    func succeeded(_ index: Int) -> Bool {
        lock.withLock { if case .success = outcomes[index] { return true } else { return false } }
    }
    func addLaunchSeconds(_ seconds: Double) { lock.withLock { launchTime += seconds } }
    func addTransfer(downloaded: UInt64 = 0, uploaded: UInt64 = 0, verified: UInt64 = 0) {
        lock.withLock {
            transferTotals.downloaded += downloaded
            transferTotals.uploaded += uploaded
            transferTotals.verified += verified
        }
    }
}
