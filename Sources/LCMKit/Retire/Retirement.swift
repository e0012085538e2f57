import Crypto
import Foundation
import GRDB
import Libvirt

/// How `lcm retire` works and what it records.
public struct RetireOptions: Codable, Sendable, Equatable {
    public enum Verification: String, Codable, Sendable, CaseIterable { case full, sample, none }

    public var method: SanitizationMethod = .automatic
    public var verify: Verification = .full
    public var reason: String?
    /// reuse, recycle, return-to-vendor.
    public var destination: String?
    public var operatorName: String
    /// Seconds a graceful shutdown may take before the domain is forced off.
    public var shutdownTimeout: Double = 120
    /// A file outside the home each certificate's SHA-256 is appended to.
    public var hashLog: String?

    public init(operatorName: String) { self.operatorName = operatorName }
}

/// Where one desktop's retirement stands; each step is idempotent and recorded before the next.
public enum RetireState: String, Codable, Sendable, Comparable, CaseIterable {
    case planned, stopped, reclaimed, headersErased = "headers-erased", keysDestroyed = "keys-destroyed"
    case overwritten, verified, removed, certified, closed

    public static func < (a: RetireState, b: RetireState) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Per-file progress of a retirement (stored as JSON with it).
public struct RetireFileProgress: Codable, Sendable, Equatable {
    /// The LUKS header's place, recorded before it is overwritten (afterwards it cannot be found).
    public var header: QcowLUKSHeader?
    public var headerErased = false
    public var headerVerified = false
    /// The passes, their seeds fixed when planned so a resumed pass writes the same stream.
    public var passes: [OverwritePattern]
    public var passesDone = 0
    /// Where the current pass resumes (synced bytes so far).
    public var resumeAt: UInt64?
    public var bytesWritten: UInt64 = 0
    public var verification: Overwriter.VerifyResult?
    public var hostFilesystem = "unknown"
    public var route: String?
    public var start: Date?
    public var end: Date?
    public var errors: [String] = []
    /// What happened on the way that is not a failure now (a pass redone after a failed check).
    public var notes: [String] = []
    public var removed = false

    /// Starts the file's overwriting over (after a failed check or a method change): `passes`
    /// when given, else the same passes again, with what happened noted.
    mutating func restart(with passes: [OverwritePattern]? = nil, note: String? = nil) {
        if let passes { self.passes = passes }
        passesDone = 0
        resumeAt = nil
        verification = nil
        if let note { notes.append(note) }
    }
}

public struct RetireProgress: Codable, Sendable {
    public var files: [RetireFileProgress]
    public var stopped: String?
    public var seatsReleased = 0
    public var userCheckedIn: String?
    public var keyReport: KeyDestructionReport?
    /// Key copies lcm overwrote itself before they were removed (libvirtd's secret files).
    public var overwrittenKeyFiles: [String] = []
    /// LUKS keyslot copies destroyed with their volume's header ("pool/volume" as registered).
    public var erasedKeyslots: [String] = []
    /// LUKS keyslot copies destroyed by overwriting their whole volume (methods without the
    /// header step).
    public var overwrittenKeyslots: [String] = []
    /// LUKS keyslot copies destroyed before the retirement began, with their layer (a rolled-back
    /// or unfinished one, a volume made again): evidence the certificate cites as recorded.
    public var keyslotsDestroyedEarlier: [KeyCopy]?
    public var certificateSequence: Int?
    public var certificatePath: String?
    public var start = Date()
}

/// The outcome of one desktop's retirement.
public struct RetireReport: Codable, Sendable {
    public var desktop: String
    public var state: RetireState
    public var plan: RetirePlan
    public var progress: RetireProgress
    public var disposed: Bool
    public var claim: String?
    public var dryRun: Bool
}

/// Retires desktops: plan, stop, reclaim, crypto-erase, overwrite, verify, remove, certify, close.
/// Every step is recorded in the `retirement` row before the next; a killed run resumes there.
public struct Retirement {
    let context: LCMContext
    public let inventory: Inventory
    public let options: RetireOptions
    /// Told of each wipe pass's bytes (not part of `options`, which are stored with the retirement).
    var progress: ProgressSink? { context.progress }

    public init(context: LCMContext, options: RetireOptions) throws {
        self.init(context: context, inventory: try context.inventory(), options: options)
    }

    init(context: LCMContext, inventory: Inventory, options: RetireOptions) {
        self.context = context
        self.inventory = inventory
        self.options = options
    }

    /// The plan alone, nothing changed.
    public func dryRun(_ name: String) throws -> RetireReport {
        if let open = try openRetirement(name) {
            return RetireReport(desktop: name, state: open.state, plan: open.plan, progress: open.progress, disposed: false,
                                claim: nil, dryRun: true)
        }
        let plan = try RetirePlan.make(desktop: name, inventory: inventory, connections: context.connections)
        let progress = RetireProgress(files: plan.files.map { RetireFileProgress(passes: options.method.passes(encrypted: $0.encrypted)) })
        return RetireReport(desktop: name, state: .planned, plan: plan, progress: progress, disposed: false, claim: nil, dryRun: true)
    }

    /// Retires `name`, or resumes its retirement. A resumed retirement keeps the method,
    /// verification, reason and operator it started with, unless `method` names another one
    /// (see `changeMethod`).
    public func run(_ name: String, changingMethodTo method: SanitizationMethod? = nil) throws -> RetireReport {
        let lock = try ObjectLock.acquire(home: inventory.home, kind: "desktop", id: name, timeout: 60)
        defer { lock.unlock() }
        var record = try openRetirement(name) ?? start(name)
        if let method, method != record.options.method { try changeMethod(&record, to: method) }
        // The hash log is where this run's certificate goes, not part of how the desktop is wiped.
        var resumed = record.options
        if let hashLog = options.hashLog { resumed.hashLog = hashLog }
        return try Retirement(context: context, inventory: inventory, options: resumed).proceed(record)
    }

    /// Continues a retirement with another method: possible until every file is overwritten
    /// (after a failed verify-only check, say). Files already verified keep what they had; the
    /// others start the new method's passes from the beginning, noted in the certificate.
    func changeMethod(_ record: inout Record, to method: SanitizationMethod) throws {
        let previous = record.options.method
        guard record.state <= .keysDestroyed else {
            throw LCMError(.conflict, "desktop \(record.plan.desktop)'s files are already overwritten with \(previous.rawValue)",
                           hint: "run `lcm retire \(record.plan.desktop) --yes` without --method: it finishes with \(previous.rawValue)")
        }
        for index in record.progress.files.indices where record.progress.files[index].verification?.passed != true {
            record.progress.files[index].restart(with: method.passes(encrypted: record.plan.files[index].encrypted),
                                                 note: "method changed from \(previous.rawValue) to \(method.rawValue)")
        }
        record.options.method = method
        try inventory.write { [record] db in
            try Self.write(record, db)
            try AuditLog.record(db, actor: inventory.actor, objectKind: "desktop", objectID: record.plan.desktop,
                                action: "retirement method changed", details: ["from": previous.rawValue, "to": method.rawValue])
        }
    }

    func proceed(_ started: Record) throws -> RetireReport {
        var record = started
        let name = record.plan.desktop
        let connection = try context.connect(record.plan.uri)

        if record.state < .stopped {
            record.progress.stopped = try stop(&record, connection: connection)
            try takeStoppedHostFiles(&record, connection: connection)
            try save(&record, .stopped)
        }
        if record.state < .reclaimed {
            try reclaim(&record)
            try save(&record, .reclaimed)
        }
        if record.state < .headersErased {
            try eraseHeaders(&record, connection: connection)
            try save(&record, .headersErased)
        }
        if record.state < .keysDestroyed {
            try destroyKeys(&record)
            try save(&record, .keysDestroyed)
        }
        if record.state < .overwritten {
            try overwrite(&record, connection: connection)
            try requireOverwritten(record)
            try markOverwrittenKeyslots(&record)
            try save(&record, .overwritten)
        }
        if record.state < .verified {
            try verify(&record, connection: connection)
            try requireVerified(&record)
            // verify-only: a volume that read back as zeros whole has no keyslots left either.
            try markOverwrittenKeyslots(&record)
            try save(&record, .verified)
        }
        if record.state < .removed {
            try remove(&record, connection: connection)
            try save(&record, .removed)
        }
        var claim: String?
        if record.state < .certified {
            claim = try certify(&record)
            context.failPoints.hit(kind: "retire", step: RetireState.certified.rawValue, moment: .recorded)
        }
        let disposed = Self.verificationPassed(record)
        if record.state < .closed {
            try recordClosed(record, disposed: disposed)
            try save(&record, .closed)
        }
        if claim == nil, let sequence = record.progress.certificateSequence {
            claim = try inventory.read { db in try String.fetchOne(db, sql: "SELECT claim FROM certificate WHERE sequence = ?", arguments: [sequence]) }
        }
        return RetireReport(desktop: name, state: record.state, plan: record.plan, progress: record.progress, disposed: disposed,
                            claim: claim, dryRun: false)
    }

    /// Every copy of the desktop's key: the keyslots already destroyed before this retirement are
    /// recorded as evidence, libvirtd's secret files overwritten, then every copy destroyed.
    func destroyKeys(_ record: inout Record) throws {
        guard let keyID = record.plan.keyID else { return }
        let started = record.progress.start
        record.progress.keyslotsDestroyedEarlier = try DesktopKey.copies(keyID: keyID, inventory: inventory, includeDestroyed: true)
            .filter { $0.location == .luksKeyslots && ($0.destroyedAt.map { $0 < started } ?? false) }
        record.progress.overwrittenKeyFiles = try overwriteSecretFiles(keyID: keyID)
        record.progress.keyReport = try DesktopKey.destroyAll(keyID: keyID, inventory: inventory, connect: context.connections.connect)
    }

    /// A file not overwritten completely is never deleted: the next run tries it again.
    func requireOverwritten(_ record: Record) throws {
        let unfinished = zip(record.plan.files, record.progress.files).filter { $0.1.passesDone < $0.1.passes.count }
        guard unfinished.isEmpty else {
            throw LCMError(.cannotWrite, "could not overwrite " + unfinished.map { "\($0.0.path) (\($0.1.errors.last ?? "unknown error"))" }.joined(separator: ", "),
                           hint: "fix the cause, then run `lcm retire \(record.plan.desktop) --yes` again: it continues from there")
        }
    }

    /// A file that does not read back as written gets fresh passes on the next run: the
    /// retirement goes back to before overwriting, and nothing is deleted.
    func requireVerified(_ record: inout Record) throws {
        let name = record.plan.desktop
        let failed = record.progress.files.indices.filter {
            record.options.verify != .none && record.progress.files[$0].verification?.passed != true
        }
        guard !failed.isEmpty else { return }
        let detail = failed.map { record.plan.files[$0].path }.joined(separator: ", ")
        for index in failed {
            let result = record.progress.files[index].verification
            let next = record.options.method == .verifyOnly ? "kept (verify-only writes nothing)" : "overwritten again"
            record.progress.files[index].restart(with: record.options.method.passes(encrypted: record.plan.files[index].encrypted),
                                                 note: "verification failed (\(result?.mismatchedBytes ?? 0) bytes differed"
                                                     + (result?.firstMismatch.map { ", first at \($0)" } ?? "") + "); \(next)")
        }
        try save(&record, .keysDestroyed)
        throw LCMError(.checkFailed, "verification failed for \(detail): nothing was deleted",
                       hint: record.options.method == .verifyOnly
                           ? "these files hold data: continue with `lcm retire \(name) --yes --method overwrite` (or another method)"
                           : "run `lcm retire \(name) --yes` again to overwrite and verify those files again")
    }

    /// Issues the certificate and records the retirement as certified in the same transaction;
    /// returns the certificate's claim.
    func certify(_ record: inout Record) throws -> String {
        var certified = record
        let issued = try CertificateIssuer(inventory: inventory, hashLog: options.hashLog, clock: context.clock).issue(Self.certificate(record, options: options)) { db, issued in
            certified.progress.certificateSequence = issued.sequence
            certified.progress.certificatePath = issued.path
            certified.state = .certified
            try Self.write(certified, db)
        }
        record = certified
        return issued.claim
    }

    /// The desktop's final status (disposed when every file verified), the retirement's end and
    /// the audit entry.
    func recordClosed(_ record: Record, disposed: Bool) throws {
        try inventory.write { db in
            try DesktopStore.setStatus(db, id: record.plan.desktopID, disposed ? .disposed : .retired)
            try db.execute(sql: "UPDATE retirement SET endedAt = ? WHERE id = ?", arguments: [context.clock.now(), record.id])
            try AuditLog.record(db, actor: inventory.actor, objectKind: "desktop", objectID: record.plan.desktop,
                                action: disposed ? "disposed" : "retired, not disposed",
                                details: ["certificate": String(record.progress.certificateSequence ?? 0),
                                          "reason": options.reason ?? "", "destination": options.destination ?? ""])
        }
    }

    // MARK: - Record

    struct Record {
        var id: Int64
        var state: RetireState
        var plan: RetirePlan
        var progress: RetireProgress
        var options: RetireOptions
    }

    func openRetirement(_ name: String) throws -> Record? {
        try inventory.read { db in
            guard let row = try DesktopReports.openRetirementRow(db, desktop: name) else { return nil }
            let decoder = JSONDecoder()
            return Record(id: row["id"], state: RetireState(rawValue: row["state"]) ?? .planned,
                          plan: try decoder.decode(RetirePlan.self, from: Data((row["plan"] as String).utf8)),
                          progress: try decoder.decode(RetireProgress.self, from: Data((row["progress"] as String).utf8)),
                          options: try decoder.decode(RetireOptions.self, from: Data((row["options"] as String).utf8)))
        }
    }

    func start(_ name: String) throws -> Record {
        let status = try inventory.read { db in try DesktopStore.status(db, name: name) }
        if let status, status == .disposed || status == .retired {
            throw LCMError(.conflict, "desktop \(name) is already \(status.rawValue)",
                           hint: "`lcm retire certificate \(name)` shows its certificate")
        }
        let plan = try RetirePlan.make(desktop: name, inventory: inventory, connections: context.connections)
        var progress = RetireProgress(files: plan.files.map { RetireFileProgress(passes: options.method.passes(encrypted: $0.encrypted)) })
        progress.start = context.clock.now()
        let encoder = JSONEncoder()
        let id = try inventory.write { db -> Int64 in
            try db.execute(sql: """
                INSERT INTO retirement (desktopID, state, options, plan, progress, startedAt, updatedAt) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [plan.desktopID, RetireState.planned.rawValue, String(decoding: try encoder.encode(options), as: UTF8.self),
                                 String(decoding: try encoder.encode(plan), as: UTF8.self),
                                 String(decoding: try encoder.encode(progress), as: UTF8.self), context.clock.now(), context.clock.now()])
            let id = db.lastInsertedRowID
            try DesktopStore.setStatus(db, id: plan.desktopID, .retiring)
            try AuditLog.record(db, actor: inventory.actor, objectKind: "desktop", objectID: name, action: "retirement started",
                                details: ["method": options.method.rawValue, "verify": options.verify.rawValue,
                                          "operator": options.operatorName, "files": String(plan.files.count)])
            return id
        }
        return Record(id: id, state: .planned, plan: plan, progress: progress, options: options)
    }

    func save(_ record: inout Record, _ state: RetireState) throws {
        record.state = state
        try inventory.write { [record] db in try Self.write(record, db) }
        context.failPoints.hit(kind: "retire", step: state.rawValue, moment: .recorded)
    }

    /// Records the progress of the step in flight (the resume point of a pass).
    func saveProgress(_ record: Record) throws {
        try inventory.write { db in try Self.write(record, db) }
    }

    /// Stores the record's state, options and progress in its row (in the caller's transaction).
    static func write(_ record: Record, _ db: Database) throws {
        let encoder = JSONEncoder()
        // The plan too: the stop step fixes the host files' identities.
        try db.execute(sql: "UPDATE retirement SET state = ?, options = ?, plan = ?, progress = ?, updatedAt = ? WHERE id = ?",
                       arguments: [record.state.rawValue, String(decoding: try encoder.encode(record.options), as: UTF8.self),
                                   String(decoding: try encoder.encode(record.plan), as: UTF8.self),
                                   String(decoding: try encoder.encode(record.progress), as: UTF8.self), Date(), record.id])
    }

    // MARK: - Steps

    /// Graceful shutdown, forced after the timeout; undefined keeping NVRAM and TPM state (they
    /// are sanitized like volumes).
    func stop(_ record: inout Record, connection: Connection) throws -> String {
        let plan = record.plan
        guard let domain = try connection.lookupDomain(name: plan.desktop) else { return "no domain defined" }
        var how = "was shut off"
        if try domain.isActive {
            if try domain.shutdown(timeout: .milliseconds(Int64(options.shutdownTimeout * 1000))) {
                how = "shut down gracefully"
            } else {
                try domain.destroy()
                how = "forced off after \(Int(options.shutdownTimeout)) s without a graceful shutdown"
            }
        }
        // libvirt deletes a managed save image (the desktop's memory: its keys in clear) with the
        // definition, unwiped, and offers no way to keep it: it is overwritten and read back first.
        let isSaveImage = { (file: RetirePlan.File) in file.role == "managed-save" }
        if plan.files.contains(where: isSaveImage) {
            try overwrite(&record, connection: connection, only: isSaveImage)
            try verify(&record, connection: connection, only: isSaveImage)
            let failed = record.plan.files.indices.filter { index in
                let done = record.progress.files[index]
                return isSaveImage(record.plan.files[index])
                    && (done.passesDone < done.passes.count || (options.verify != .none && done.verification?.passed != true))
            }
            if !failed.isEmpty {
                for index in failed { record.progress.files[index].restart() }
                try saveProgress(record)
                throw LCMError(.cannotWrite, "could not overwrite the managed save image \(failed.map { record.plan.files[$0].path }.joined()) before undefining \(plan.desktop): nothing else was done",
                               hint: "fix the cause, then run `lcm retire \(plan.desktop) --yes` again")
            }
            how += "; its managed save image (memory) overwritten and read back before libvirt deleted it"
            context.failPoints.hit(kind: "retire", step: "managed-save-wiped", moment: .ran)
        }
        try domain.undefine(removeNVRAM: false, removeTPMState: false)
        return how + "; undefined, NVRAM and TPM state kept for sanitization"
    }

    /// The host files as the stopped domain left them: swtpm saves its state into a new file
    /// (a new inode) when it stops, and may leave files the plan did not see. Each is checked
    /// again (regular, one link, never through a link) and its device and inode recorded now,
    /// when nothing legitimate writes it any more; new ones join the plan, and what is no
    /// regular file is named as not sanitized.
    func takeStoppedHostFiles(_ record: inout Record, connection: Connection) throws {
        let plan = record.plan
        let found = try RetirePlan.hostFiles(desktop: plan.desktop, uuid: plan.domainUUID,
                                             nvramPaths: plan.files.filter { $0.role == "nvram" }.map(\.path),
                                             encryptedTPM: plan.keyID != nil, connection: connection)
        for finding in found {
            switch finding {
            case .file(let file):
                if let index = record.plan.files.firstIndex(where: { $0.path == file.path && $0.volume == nil }) {
                    record.plan.files[index].identity = file.identity
                } else {
                    record.plan.files.append(file)
                    record.progress.files.append(RetireFileProgress(passes: options.method.passes(encrypted: file.encrypted)))
                }
            case .notSanitized(let item):
                var named = record.plan.notSanitized ?? []
                if !named.contains(item) { named.append(item) }
                record.plan.notSanitized = named
                // Not overwritten, so not planned as a file any more.
                if let index = record.plan.files.firstIndex(where: { item.item == "\($0.role) \($0.path)" }) {
                    record.plan.files.remove(at: index)
                    record.progress.files.remove(at: index)
                }
            }
        }
    }

    /// Seats back to their pools, the user checked out, queued patches dropped, status retired.
    func reclaim(_ record: inout Record) throws {
        let plan = record.plan
        var seats = 0, user: String?
        try inventory.write { db in
            seats = try Licenses.releaseSeats(db, desktopID: plan.desktopID, actor: inventory.actor)
            if try Assignments.current(db, kind: .desktop, objectID: plan.desktopID) != nil {
                _ = try Assignments.checkIn(db, kind: .desktop, objectID: plan.desktopID, keepStatus: true, actor: inventory.actor)
                user = plan.user
            }
            try db.execute(sql: "UPDATE patchItem SET state = ? WHERE desktopID = ? AND state IN (?, ?)",
                           arguments: [PatchItemState.dropped.rawValue, plan.desktopID, PatchItemState.queued.rawValue, PatchItemState.staged.rawValue])
            try DesktopStore.setStatus(db, id: plan.desktopID, .retired)
        }
        try? FileManager.default.removeItem(at: inventory.home.url.appendingPathComponent("patches/queued/\(plan.desktop)"))
        record.progress.seatsReleased = seats
        record.progress.userCheckedIn = user
    }

    /// Overwrites the LUKS header (keyslots) of each encrypted volume: its place recorded first.
    func eraseHeaders(_ record: inout Record, connection: Connection) throws {
        for (index, file) in record.plan.files.enumerated()
        where options.method.erasesKeyslots(encrypted: file.encrypted) && file.volume != nil && !record.progress.files[index].headerVerified {
            try withTarget(file, plan: record.plan, connection: connection) { target in
                if record.progress.files[index].header == nil {
                    let head = UnsafeMutableRawBufferPointer.allocate(byteCount: QcowLUKSHeader.bytesToRead, alignment: 4096)
                    defer { head.deallocate() }
                    try target.read(into: UnsafeMutableRawBufferPointer(rebasing: head[0..<min(QcowLUKSHeader.bytesToRead, Int(target.size))]), at: 0)
                    guard let header = try QcowLUKSHeader.locate(in: Array(head.prefix(min(QcowLUKSHeader.bytesToRead, Int(target.size))))) else {
                        record.progress.files[index].errors.append("recorded as encrypted but its qcow2 header names no LUKS header")
                        return
                    }
                    record.progress.files[index].header = header
                    try saveProgress(record)
                }
                guard let header = record.progress.files[index].header else { return }
                let range = header.offset..<min(header.offset + header.length, target.size)
                // The header gets the same stream as the first pass will write there.
                let pattern = record.progress.files[index].passes.first ?? .freshRandom()
                _ = try Overwriter.overwrite(target, with: pattern, range: range)
                record.progress.files[index].headerErased = true
                let check = try Overwriter.verify(target, against: pattern, range: range)
                record.progress.files[index].headerVerified = check.passed
                if !check.passed { record.progress.files[index].errors.append("LUKS header read back different from what was written") }
            }
            if record.progress.files[index].headerVerified, let keyID = record.plan.keyID {
                try inventory.write { db in
                    for copy in try DesktopKey.copies(keyID: keyID, inventory: inventory) where copy.location == .luksKeyslots && Self.names(copy, file, pool: record.plan.pool) {
                        try KeyCopyRegistry.markDestroyed(db, copyID: copy.id, how: "LUKS header overwritten with AES-256-CTR output and read back")
                        if !record.progress.erasedKeyslots.contains(copy.detail) { record.progress.erasedKeyslots.append(copy.detail) }
                    }
                }
            }
            try saveProgress(record)
        }
    }

    /// A volume overwritten whole took its LUKS header with it: its keyslot copy is destroyed.
    func markOverwrittenKeyslots(_ record: inout Record) throws {
        guard let keyID = record.plan.keyID else { return }
        let live = try DesktopKey.copies(keyID: keyID, inventory: inventory).filter { $0.location == .luksKeyslots }
        for (file, done) in zip(record.plan.files, record.progress.files) where file.volume != nil {
            let how: String
            if !done.passes.isEmpty && done.errors.isEmpty && done.passesDone == done.passes.count {
                how = "destroyed with the whole volume (\(done.passes.count) pass(es))"
            } else if done.passes.isEmpty && done.verification?.passed == true && done.verification?.coverage == .full {
                how = "gone with the whole volume, which read back as zeros (verify-only)"
            } else {
                continue
            }
            for copy in live where Self.names(copy, file, pool: record.plan.pool) {
                try inventory.write { db in
                    try KeyCopyRegistry.markDestroyed(db, copyID: copy.id, how: how)
                }
                record.progress.overwrittenKeyslots.append(copy.detail)
            }
        }
    }

    /// libvirtd keeps a private secret's value base64-encoded in a file and only unlinks it on
    /// undefine: on this machine lcm overwrites those files in place first (same length, random,
    /// fsync). Returns the files overwritten.
    func overwriteSecretFiles(keyID: String) throws -> [String] {
        var done: [String] = []
        for copy in try DesktopKey.copies(keyID: keyID, inventory: inventory)
        where copy.location == .libvirtSecretFile && DiskHost.isLocal(uri: copy.hostURI ?? Connection.defaultURI) {
            // Never through a link, never a file with another name: lcm writes here as root.
            guard (try LinkSafePath.inspect(copy.detail)) != nil else { continue }
            let fd = try LinkSafePath.openPlannedFile(copy.detail, flags: O_WRONLY, planned: nil)
            defer { close(fd) }
            var status = stat()
            guard fstat(fd, &status) == 0, status.st_size > 0 else { continue }
            var generator = SystemRandomNumberGenerator()
            let noise = (0..<Int(status.st_size)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let written = noise.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            guard written == noise.count, fsync(fd) == 0 else {
                throw LCMError(.cannotWrite, "cannot overwrite libvirt's secret file \(copy.detail): \(String(cString: strerror(errno)))")
            }
            done.append(copy.detail)
        }
        return done
    }

    /// Every pass over every file, resuming a killed pass at its last synced offset.
    func overwrite(_ record: inout Record, connection: Connection, only chosen: (RetirePlan.File) -> Bool = { _ in true }) throws {
        for (index, file) in record.plan.files.enumerated() where chosen(file) {
            var progress = record.progress.files[index]
            guard progress.passesDone < progress.passes.count else { continue }
            if progress.start == nil { progress.start = context.clock.now() }
            // An earlier attempt's failure stays on record only if this one fails too.
            let earlier = progress.errors
            progress.errors = earlier.filter { !$0.hasPrefix("overwrite:") }
            do {
                try withTarget(file, plan: record.plan, connection: connection) { target in
                    progress.route = target.route
                    progress.hostFilesystem = Self.filesystem(of: file.path, uri: record.plan.uri)
                    while progress.passesDone < progress.passes.count {
                        let task = "wipe \(file.role) pass \(progress.passesDone + 1)/\(progress.passes.count)"
                        self.progress?(ProgressUpdate(task, done: progress.resumeAt ?? 0, of: target.size, unit: .bytes))
                        _ = try Overwriter.overwrite(target, with: progress.passes[progress.passesDone], resumeAt: progress.resumeAt) { offset in
                            self.progress?(ProgressUpdate(task, done: offset, of: target.size, unit: .bytes))
                            progress.resumeAt = offset
                            record.progress.files[index] = progress
                            try saveProgress(record)
                            context.failPoints.hit(kind: "retire", step: "overwrite-checkpoint", moment: .recorded)
                        }
                        // The whole file, part of it possibly by a run that was killed.
                        progress.bytesWritten += target.size
                        progress.passesDone += 1
                        progress.resumeAt = nil
                        record.progress.files[index] = progress
                        try saveProgress(record)
                    }
                }
            } catch {
                progress.errors.append("overwrite: \(DiskEngine.message(error))")
                if LinkSafePath.isRefusal(error) {
                    record.progress.files[index] = progress
                    try saveProgress(record)
                    throw error
                }
            }
            progress.end = context.clock.now()
            record.progress.files[index] = progress
            try saveProgress(record)
        }
    }

    func verify(_ record: inout Record, connection: Connection, only chosen: (RetirePlan.File) -> Bool = { _ in true }) throws {
        guard options.verify != .none else { return }
        for (index, file) in record.plan.files.enumerated() where chosen(file) && record.progress.files[index].verification == nil {
            var progress = record.progress.files[index]
            let pattern = progress.passes.last ?? .constant(0)
            do {
                try withTarget(file, plan: record.plan, connection: connection) { target in
                    progress.verification = try Overwriter.verify(target, against: pattern, coverage: options.verify == .sample ? .sample : .full)
                }
            } catch {
                // A refusal is not the file's fault: the run stops and the next one checks again.
                if LinkSafePath.isRefusal(error) { throw error }
                progress.errors.append("verify: \(DiskEngine.message(error))")
            }
            progress.end = context.clock.now()
            record.progress.files[index] = progress
            try saveProgress(record)
        }
    }

    /// Volumes deleted through their pool (newest layer first), host files removed.
    func remove(_ record: inout Record, connection: Connection) throws {
        let pool = try connection.lookupStoragePool(name: record.plan.pool)
        for (index, file) in record.plan.files.enumerated().reversed() where !record.progress.files[index].removed {
            if let volume = file.volume {
                // The name must still lead to the file that was overwritten (a resumed run checks again).
                if DiskHost.isLocal(uri: record.plan.uri), let found = try LinkSafePath.inspect(file.path),
                   found.kind != S_IFREG || (file.identity != nil && found.identity != file.identity) {
                    throw LinkSafePath.refusal(file.path, "it is another file than the one planned and overwritten")
                }
                try pool?.lookupVolume(name: volume)?.delete()
            } else {
                try HostFiles.remove(path: file.path, planned: file.identity, connection: connection)
            }
            record.progress.files[index].removed = true
        }
        if let uuid = record.plan.domainUUID, DiskHost.isLocal(uri: record.plan.uri) {
            // swtpm's now empty state directories (only empty ones, never through a link).
            let directory = "\(RetirePlan.swtpmStateDirectory)/\(uuid.lowercased())"
            LinkSafePath.removeEmptyDirectory(directory + "/tpm2")
            LinkSafePath.removeEmptyDirectory(directory + "/tpm12")
            LinkSafePath.removeEmptyDirectory(directory)
        }
        if let domain = try connection.lookupDomain(name: record.plan.desktop) {
            try domain.undefine(removeNVRAM: true, removeTPMState: true)
        }
    }

    func withTarget<T>(_ file: RetirePlan.File, plan: RetirePlan, connection: Connection, _ body: (WipeTarget) throws -> T) throws -> T {
        if let volume = file.volume {
            // On this machine always the planned file itself: libvirt's streams would follow a
            // link put in its place.
            if DiskHost.isLocal(uri: plan.uri) {
                return try body(try LocalWipeTarget(path: file.path, opening: .planned(file.identity)))
            }
            guard let handle = try connection.lookupStoragePool(name: plan.pool)?.lookupVolume(name: volume) else {
                throw LCMError.notFound("volume \(volume) in pool \(plan.pool) on \(plan.uri)")
            }
            return try body(try StreamWipeTarget(volume: handle))
        }
        return try HostFiles.withTarget(path: file.path, planned: file.identity, connection: connection, body)
    }

    // MARK: - Evidence

    /// Whether a LUKS-keyslot key copy (recorded as "pool/volume" or as a path) is `file`'s.
    static func names(_ copy: KeyCopy, _ file: RetirePlan.File, pool: String) -> Bool {
        copy.detail == file.path || file.volume.map { copy.detail == "\(pool)/\($0)" } == true
    }

    /// Whether the desktop is disposed of: every file written and read back, nothing left out.
    static func verificationPassed(_ record: Record) -> Bool {
        record.options.verify != .none && (record.plan.notSanitized ?? []).isEmpty && record.progress.files.allSatisfy { file in
            file.errors.isEmpty && file.passesDone == file.passes.count && file.verification?.passed == true
        }
    }

    /// The host filesystem of a local file (the mount holding it, from /proc/self/mounts),
    /// "unknown" for a remote host.
    static func filesystem(of path: String, uri: String) -> String {
        guard DiskHost.isLocal(uri: uri) else { return "unknown (remote host: libvirt does not tell)" }
        guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return "unknown" }
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        var best: (mountPoint: String, type: String)?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { continue }
            // Mount points escape spaces as \040.
            let mountPoint = fields[1].replacingOccurrences(of: "\\040", with: " ")
            let inside = mountPoint == "/" || resolved == mountPoint || resolved.hasPrefix(mountPoint + "/")
            if inside, mountPoint.count >= (best?.mountPoint.count ?? -1) { best = (mountPoint, String(fields[2])) }
        }
        guard let type = best?.type else { return "unknown" }
        return ["btrfs", "zfs", "bcachefs"].contains(type) ? "\(type) (copy-on-write)" : type
    }
}
