import Foundation
import GRDB

extension Doctor {
    /// Temporary files and directories in `$LCM_HOME/run`: every run records each one in the
    /// journal before making it, so one no unfinished operation holds was left by a run that died
    /// before recording (an older lcm) or by hand, and one an operation of a dead run holds is
    /// what `lcm recover` removes. Either is named, with its size.
    public func leftoverCheck() -> DoctorCheck {
        let started = Date()
        var check = LeftoverCheck(home: settings.home).run()
        check.seconds = Date().timeIntervalSince(started)
        return check
    }
}

/// The work behind `Doctor.leftoverCheck`.
struct LeftoverCheck {
    let home: LCMHome
    static let name = "temporary files"

    func run() -> DoctorCheck {
        // Listed before the journal is read: a file is recorded before it is made, so any file
        // listed here that a live run made is already in the journal read next.
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: home.runURL.path)) ?? []).sorted()
        if entries.isEmpty {
            return DoctorCheck(name: Self.name, required: false, status: .pass, detail: "\(home.runURL.path) holds nothing left behind")
        }
        let recorded: [String: Bool]
        do {
            recorded = try recordedPaths()
        } catch {
            return DoctorCheck(name: Self.name, required: false, status: .warn,
                               detail: "cannot read the journal: \(LCMError.from(error).message)")
        }
        var unrecorded: [String] = [], recoverable: [String] = []
        for entry in entries {
            let path = home.runURL.appendingPathComponent(entry).path
            switch recorded[path] {
            case true?: continue                 // a live run's
            case false?: recoverable.append(describe(path))
            case nil: unrecorded.append(describe(path))
            }
        }
        if unrecorded.isEmpty && recoverable.isEmpty {
            return DoctorCheck(name: Self.name, required: false, status: .pass, detail: "only files of runs in progress")
        }
        var parts: [String] = []
        if !recoverable.isEmpty { parts.append("left by runs that died: " + recoverable.joined(separator: ", ")) }
        if !unrecorded.isEmpty { parts.append("recorded by no run: " + unrecorded.joined(separator: ", ")) }
        var fixes: [String] = []
        if !recoverable.isEmpty { fixes.append("`lcm recover` removes what dead runs left") }
        if !unrecorded.isEmpty { fixes.append("remove the unrecorded ones by hand once no lcm runs (`ls -l \(home.runURL.path)`)") }
        return DoctorCheck(name: Self.name, required: false, status: .warn, detail: parts.joined(separator: "; "),
                           fix: fixes.joined(separator: "; "))
    }

    /// Paths of unreleased resources of unfinished operations: true when the operation's run is
    /// alive, false when it died.
    private func recordedPaths() throws -> [String: Bool] {
        guard FileManager.default.fileExists(atPath: home.databaseURL.path) else { return [:] }
        let queue = try Inventory.readOnlyQueue(home.databaseURL.path)
        let rows = try queue.read { db -> [Row] in
            guard try db.tableExists("operationResource") else { return [] }
            return try Row.fetchAll(db, sql: """
                SELECT r.value, o.ownerPID FROM operationResource r JOIN operation o ON o.id = r.operationID
                WHERE r.released = 0 AND r.kind IN ('file', 'directory') AND o.state = 'running'
                """)
        }
        var result: [String: Bool] = [:]
        for row in rows {
            // Doctor only looks: it does not take the object's lock, which a starting run may want.
            let alive = ProcessInfoReader.startTime(of: Int32(truncatingIfNeeded: row["ownerPID"] as Int64)) != nil
            result[row["value"], default: false] = result[row["value"], default: false] || alive
        }
        return result
    }

    private func describe(_ path: String) -> String {
        var info = stat()
        guard lstat(path, &info) == 0 else { return (path as NSString).lastPathComponent }
        let name = (path as NSString).lastPathComponent
        if info.st_mode & S_IFMT == S_IFDIR { return name + "/" }
        // Sparse files: what they hold on disk, not their apparent size.
        return "\(name) (\(ByteCountFormatter.string(fromByteCount: Int64(info.st_blocks) * 512, countStyle: .binary)))"
    }
}
