import Foundation
import Guestfs

/// The contract between lcm, which stages work into a Windows image offline, and the boot-time
/// runner inside the image, which carries the work out at the next boot and leaves a log that
/// lcm reads back offline. The Windows runner (a Group Policy machine startup script, issue 8)
/// and the stand-in boot program of bootable test disks both implement exactly this.
///
/// All paths are on the Windows volume (C:).
///
/// **Queue.** `C:\ProgramData\lcm\queue\` holds one file per staged item, named
/// `NNN-<name>.<kind>`: NNN is the three-digit order, `<name>` uses only letters, digits, `.`,
/// `_` and `-`, `<kind>` is one of `msu`, `cab`, `msi`, `cmd`, `ps1`, `reg`, `purge`.
/// `C:\ProgramData\lcm\queue\manifest.tsv` lists them: UTF-8, one item per line, lines end
/// with LF or CRLF, fields separated by one TAB:
/// 1. order (decimal), 2. item (the file name in the queue directory), 3. kind,
/// 4. options (optional): comma-separated `key=value` pairs, `-` or empty for none.
/// Empty lines and lines starting with `#` are ignored. Options:
/// - `medium=<path>` and `sha256=<hex>`: the item's content is not in the queue directory but on
///   a patch medium, a read-only CD attached to the desktop, at `<path>` ('/'-separated, starting
///   with the medium's own directory `lcm-patch-<id>/`, so the runner finds the right medium by
///   looking for the path on each drive). The queue file is then a small placeholder that marks
///   the item as not yet done. Before running the item the runner checks the medium file's
///   SHA-256. When the path is on no drive (the medium was detached) the runner stops the queue
///   there without a log line, keeping the placeholder, so the next boot with the medium retries;
///   a medium file whose hash differs is logged with exit code -4 and the item is done.
/// - `standin-exit=<n>`, read by the stand-in alone (the exit code it reports for the item,
///   so tests can exercise failures); real runners ignore every `standin-*` option.
///
/// **Processing.** In ascending order, for each manifest line whose item file still exists:
/// run the item by its kind (`dism /online /add-package` for msu and cab, `msiexec /i ... /qn
/// /norestart`, `cmd /c`, `powershell -File`, `reg import`), append its result line to the
/// log, then delete the item file. After the last line, delete the manifest. An item whose file
/// is gone was done by an earlier boot and is skipped, so a reboot midway resumes after it.
///
/// **Answer files (`purge`).** Staged by deploy when the answer file it wrote carries a secret
/// (an offline domain join blob, a password, a product key), which Windows leaves in clear in
/// its copies after specialize. The item file is a placeholder; what to delete is fixed here,
/// never read from the queue: every file of `answerFilePaths` (case-insensitive, relative to the
/// volume) is overwritten with zeros in place and deleted. While Windows Setup is still running
/// (SYSTEM `Setup\SystemSetupInProgress` or `Setup\OOBEInProgress` is 1: oobeSystem still reads
/// the cached answer file) the item is skipped without a log line and the manifest kept, so a
/// later boot does it. The log line's exit code is 0 when none of the files is left, else
/// `answerFilesRemainExitCode`.
///
/// **Log.** `C:\ProgramData\lcm\runner.log`, append-only, one line per processed item, lines
/// end with CRLF (readers accept LF), five TAB-separated fields: 1. item (the file name),
/// 2. start and 3. end as UTC `YYYY-MM-DDTHH:MM:SSZ`, 4. exit code as signed decimal (as
/// `%ERRORLEVEL%` shows it), 5. reboot needed: `yes` exactly when the exit code is 3010
/// (ERROR_SUCCESS_REBOOT_REQUIRED) or 1641 (ERROR_SUCCESS_REBOOT_INITIATED), else `no`.
///
/// **Boot marker.** `C:\ProgramData\lcm\boot.log`: every boot appends one line before the queue
/// runs, `booted computer-name=<NAME> time=<YYYY-MM-DDTHH:MM:SSZ>`, with CRLF. NAME is what
/// the booted system reads from the SYSTEM hive at
/// `<current control set>\Control\ComputerName\ComputerName\ComputerName`, so a test proves the
/// guest saw the personalized disk.
public enum BootRunnerContract {
    /// Paths relative to the root of the Windows volume, with forward slashes (as mounted).
    public static let directory = "ProgramData/lcm"
    public static let queueDirectory = "ProgramData/lcm/queue"
    public static let manifestPath = "ProgramData/lcm/queue/manifest.tsv"
    public static let logPath = "ProgramData/lcm/runner.log"
    public static let markerPath = "ProgramData/lcm/boot.log"

    /// Exit codes that mean "succeeded, restart needed".
    public static let rebootExitCodes: Set<Int32> = [3010, 1641]

    /// The manifest listing `items` in ascending order.
    public static func manifest(_ items: [StagedItem]) -> String {
        manifestHeader + items.sorted(by: { $0.order < $1.order }).map(manifestLine).joined()
    }

    static let manifestHeader = "# lcm boot-time queue: order, item, kind, options\n"

    static func manifestLine(_ item: StagedItem) -> String {
        var options: [String] = []
        if let medium = item.medium { options += ["medium=\(medium.path)", "sha256=\(medium.sha256)"] }
        if let code = item.simulatedExitCode { options.append("standin-exit=\(code)") }
        return "\(item.order)\t\(item.fileName)\t\(item.kind.rawValue)\t\(options.isEmpty ? "-" : options.joined(separator: ","))\n"
    }

    /// What the queue directory holds for an item whose content is on a patch medium.
    static func placeholder(_ medium: MediumReference) -> String {
        "lcm: this item's content is on the patch medium at \(medium.path) (SHA-256 \(medium.sha256))\r\n"
    }

    /// Exit code the runner logs for a medium file whose SHA-256 is not the manifest's.
    public static let mediumMismatchExitCode: Int32 = -4

    /// Exit code the runner logs for a `purge` item when an answer file could not be removed.
    public static let answerFilesRemainExitCode: Int32 = -5

    /// Where Windows Setup, sysprep and lcm leave answer files, relative to the Windows volume:
    /// what `purge` deletes, what inspection scans for secrets and `patch status` looks for.
    public static let answerFilePaths = [
        "Windows/Panther/unattend.xml", "Windows/Panther/autounattend.xml",
        "Windows/Panther/Unattend/unattend.xml", "Windows/Panther/Unattend/autounattend.xml",
        "Windows/System32/Sysprep/unattend.xml", "Windows/System32/Sysprep/autounattend.xml",
        "Windows/System32/Sysprep/Panther/unattend.xml", "unattend.xml", "autounattend.xml",
    ]

    /// The queue item that removes every answer file after Setup (see "Answer files" above).
    public static func answerFileCleanup(order: Int = 0) -> StagedItem {
        StagedItem(order: order, name: "answer-files", kind: .purge,
                   payload: "lcm: delete every answer file Windows Setup left (they hold secrets) once Setup has finished\r\n")
    }

    /// Lines of a manifest, in file order.
    public static func parseManifest(_ text: String) throws -> [ManifestEntry] {
        try lines(text).compactMap { line in
            if line.isEmpty || line.hasPrefix("#") { return nil }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 3, let order = Int(fields[0]), let kind = StagedItem.Kind(rawValue: fields[2]) else {
                throw BootRunnerContractError.malformedLine(file: "manifest.tsv", line: line)
            }
            var options: [String: String] = [:]
            if fields.count > 3 {
                for pair in fields[3].split(separator: ",") where pair.contains("=") {
                    let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    options[parts[0]] = parts.count > 1 ? parts[1] : ""
                }
            }
            return ManifestEntry(order: order, item: fields[1], kind: kind, options: options)
        }
    }

    /// The result lines of a runner log, in file order.
    public static func parseLog(_ text: String) throws -> [RunnerResult] {
        try lines(text).filter { !$0.isEmpty }.map { line in
            guard let result = RunnerResult(line: line) else {
                throw BootRunnerContractError.malformedLine(file: "runner.log", line: line)
            }
            return result
        }
    }

    /// The boot records of a marker file, in file order.
    public static func parseMarker(_ text: String) throws -> [BootRecord] {
        try lines(text).filter { !$0.isEmpty }.map { line in
            guard let record = BootRecord(line: line) else {
                throw BootRunnerContractError.malformedLine(file: "boot.log", line: line)
            }
            return record
        }
    }

    /// Writes `items` and their manifest into the Windows volume mounted at `root`.
    public static func stage(_ items: [StagedItem], on g: GuestfsSession, root: String = "/") throws {
        let queue = joined(root, queueDirectory)
        try g.mkdirP(queue)
        for item in items {
            try g.write(joined(queue, item.fileName), Array(item.payload.utf8))
        }
        try g.writeString(joined(root, manifestPath), manifest(items))
    }

    /// Adds `items` after whatever the queue on the Windows volume mounted at `root` still holds
    /// (a patch run before the desktop booted): they are renumbered from the next free order,
    /// their files written (a placeholder for an item on a patch medium, else `source`, a host
    /// file, is uploaded, else `payload`), and the
    /// manifest rewritten last, so a queue without its manifest line is never run half-written.
    /// Returns the items as queued.
    @discardableResult
    public static func enqueue(_ items: [StagedItem], on g: GuestfsSession, root: String = "/") throws -> [StagedItem] {
        let queue = joined(root, queueDirectory), manifestFile = joined(root, manifestPath)
        try g.mkdirP(queue)
        var text = try g.isFile(manifestFile) ? try g.readString(manifestFile) : manifestHeader
        let pending = try parseManifest(text)
        let first = (pending.map(\.order).max() ?? -1) + 1
        var queued: [StagedItem] = []
        for (offset, var item) in items.enumerated() {
            item.order = first + offset
            guard item.isValid else {
                throw LCMError(.dataError, "the boot queue is full or the item name \(item.name) is not usable (orders 0-999)")
            }
            let target = joined(queue, item.fileName)
            if let medium = item.medium {
                try g.write(target, Array(placeholder(medium).utf8))
            } else if let source = item.source {
                try g.upload(source, to: target)
            } else {
                try g.write(target, Array(item.payload.utf8))
            }
            queued.append(item)
        }
        if !text.hasSuffix("\n") { text += "\n" }
        text += queued.map(manifestLine).joined()
        try g.writeString(manifestFile, text)
        return queued
    }

    /// What the runner left on the Windows volume mounted at `root`.
    public static func readState(on g: GuestfsSession, root: String = "/") throws -> RunnerState {
        func text(_ path: String) throws -> String? {
            let full = joined(root, path)
            return try g.isFile(full) ? try g.readString(full) : nil
        }
        let queue = joined(root, queueDirectory)
        let files = try g.isDir(queue) ? try g.ls(queue) : []
        return RunnerState(
            boots: try text(markerPath).map(parseMarker) ?? [],
            results: try text(logPath).map(parseLog) ?? [],
            queuedFiles: files.filter { $0 != "manifest.tsv" },
            manifestPresent: files.contains("manifest.tsv"))
    }

    /// `2024-01-01T00:00:00Z`
    public static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    /// Lines ending in LF or CRLF (Swift keeps "\r\n" as one Character, so split on both).
    private static func lines(_ text: String) -> [String] {
        text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map(String.init)
    }

    private static func joined(_ root: String, _ path: String) -> String {
        root.hasSuffix("/") ? root + path : root + "/" + path
    }
}

/// A file staged for the boot-time runner.
public struct StagedItem: Codable, Hashable, Sendable {
    /// How the runner carries an item out, from its file extension.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case msu, cab, msi, cmd, ps1, reg
        /// lcm's own: answer files removed (`BootRunnerContract.answerFileCleanup`); never a patch file.
        case purge
    }

    /// Position in the queue (0-999); items run in ascending order.
    public var order: Int
    /// Letters, digits, `.`, `_`, `-`.
    public var name: String
    public var kind: Kind
    /// The file's content (test items are placeholders).
    public var payload: String
    /// For the stand-in only: the exit code to report instead of 0.
    public var simulatedExitCode: Int32?
    /// A file on lcm's machine to upload as the item (instead of `payload`).
    public var source: String?
    /// Where the item's content lies on a patch medium (the queue then holds a placeholder).
    public var medium: MediumReference?

    public init(order: Int, name: String, kind: Kind, payload: String = "", simulatedExitCode: Int32? = nil, source: String? = nil,
                medium: MediumReference? = nil) {
        self.order = order
        self.name = name
        self.kind = kind
        self.payload = payload
        self.simulatedExitCode = simulatedExitCode
        self.source = source
        self.medium = medium
    }

    /// `NNN-<name>.<kind>`
    public var fileName: String { String(format: "%03d-", order) + name + "." + kind.rawValue }

    /// The exit code the stand-in reports for this item.
    public var expectedStandInExitCode: Int32 { simulatedExitCode ?? 0 }

    /// Whether the order is 0-999 and the name uses only letters, digits, `.`, `_` and `-`.
    public var isValid: Bool {
        (0...999).contains(order) && !name.isEmpty
            && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
    }
}

/// Where a staged item's content lies on a patch medium (`PatchMedium`).
public struct MediumReference: Codable, Hashable, Sendable {
    /// '/'-separated path on the medium: `<medium id>/<file>`.
    public var path: String
    public var sha256: String

    public init(path: String, sha256: String) {
        self.path = path
        self.sha256 = sha256
    }

    /// The medium's id: the first component of the path.
    public var mediumID: String { String(path.prefix(while: { $0 != "/" })) }
}

/// One line of the manifest.
public struct ManifestEntry: Equatable, Sendable {
    public var order: Int
    public var item: String
    public var kind: StagedItem.Kind
    public var options: [String: String]

    /// Where the item's content is when it is on a patch medium.
    public var medium: MediumReference? {
        guard let path = options["medium"], let sha256 = options["sha256"] else { return nil }
        return MediumReference(path: path, sha256: sha256)
    }
}

/// One line of the runner log: how one item went.
public struct RunnerResult: Equatable, Sendable {
    public var item: String
    public var started: Date
    public var ended: Date
    public var exitCode: Int32
    public var rebootNeeded: Bool

    public init(item: String, started: Date, ended: Date, exitCode: Int32, rebootNeeded: Bool) {
        self.item = item
        self.started = started
        self.ended = ended
        self.exitCode = exitCode
        self.rebootNeeded = rebootNeeded
    }

    /// Parses a log line (without its line end); nil when malformed.
    public init?(line: String) {
        let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 5, !fields[0].isEmpty,
              let started = BootRunnerContract.date(fields[1]), let ended = BootRunnerContract.date(fields[2]),
              let code = Int32(fields[3]), fields[4] == "yes" || fields[4] == "no"
        else { return nil }
        self.init(item: fields[0], started: started, ended: ended, exitCode: code, rebootNeeded: fields[4] == "yes")
    }

    /// The log line, without its line end.
    public var line: String {
        [item, BootRunnerContract.timestamp(started), BootRunnerContract.timestamp(ended), String(exitCode),
         rebootNeeded ? "yes" : "no"].joined(separator: "\t")
    }
}

/// One line of the boot marker.
public struct BootRecord: Equatable, Sendable {
    public var computerName: String
    public var time: Date

    public init(computerName: String, time: Date) {
        self.computerName = computerName
        self.time = time
    }

    /// Parses `booted computer-name=<NAME> time=<ISO>`; nil when malformed.
    public init?(line: String) {
        guard line.hasPrefix("booted computer-name="), let range = line.range(of: " time=", options: .backwards),
              let time = BootRunnerContract.date(String(line[range.upperBound...]))
        else { return nil }
        let name = line[line.index(line.startIndex, offsetBy: "booted computer-name=".count)..<range.lowerBound]
        self.init(computerName: String(name), time: time)
    }

    public var line: String { "booted computer-name=\(computerName) time=\(BootRunnerContract.timestamp(time))" }
}

/// What the runner left on a volume.
public struct RunnerState: Equatable, Sendable {
    public var boots: [BootRecord]
    public var results: [RunnerResult]
    /// Files still in the queue directory, the manifest excluded.
    public var queuedFiles: [String]
    public var manifestPresent: Bool
}

/// A runner file that does not follow the contract.
public enum BootRunnerContractError: Error, LocalizedError, Equatable {
    case malformedLine(file: String, line: String)

    public var errorDescription: String? {
        switch self {
        case .malformedLine(let file, let line): "malformed line in \(file): \(line.debugDescription)"
        }
    }
}
