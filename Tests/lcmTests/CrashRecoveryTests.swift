import Foundation
import GRDB
import LCMKit
import LCMTestSupport
import Testing

/// What the crash tests share: lcm killed by a fail point (`LCM_FAILPOINT=kind:step:moment`),
/// `lcm recover`, and the checks that nothing of the killed run is left. The tests themselves
/// live beside the command they kill (deploy, image import and drivers, image patch), in a world
/// that already holds the devices and images they need.
enum CrashRecovery {
    /// Every fail point of `steps`: as each starts, once it ran but is not yet recorded done, and
    /// once recorded done (for the last step: the operation not yet marked complete).
    static func points(kind: String, steps: [String]) -> [String] {
        steps.flatMap { step in ["started", "ran", "recorded"].map { "\(kind):\(step):\($0)" } }
    }

    /// Runs lcm with the fail point set: it must die by SIGKILL (a point that never fires fails).
    static func kill(_ lcm: LCMRunner, at point: String, _ arguments: [String],
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        var killer = lcm
        killer.environment["LCM_FAILPOINT"] = point
        let run = try killer.run(arguments)
        #expect(run.signaled && run.status == SIGKILL, "\(point): not killed (\(run.status)): \(run.stderr)",
                sourceLocation: sourceLocation)
    }

    /// `lcm recover`: it finds the killed run's operations, of `kind`, and undoes each of them.
    static func recover(_ lcm: LCMRunner, point: String, kind: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let run = try lcm.run(["recover", "--format", "json"])
        try #require(run.status == 0, "\(point): recover: \(run.stderr)", sourceLocation: sourceLocation)
        let recovered = try JSONDecoder().decode([OperationJournal.Recovered].self, from: Data(run.stdout.utf8))
        #expect(!recovered.isEmpty && recovered.allSatisfy { $0.kind == kind && $0.action == "rolled back" },
                "\(point): \(recovered)", sourceLocation: sourceLocation)
    }

    /// After recovery: no process of the killed run, no temporary file (doctor's check), and no
    /// operation of `kind` left running or failed in the journal.
    static func expectClean(_ lcm: LCMRunner, point: String, kind: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        // libguestfs's recovery process stops an orphaned appliance within about 2 s.
        var survivors = ProcessTable.processes(mentioning: lcm.home)
        let clock = ContinuousClock(), started = clock.now
        while !survivors.isEmpty, clock.now - started < .seconds(6) {
            Thread.sleep(forTimeInterval: 0.2)
            survivors = ProcessTable.processes(mentioning: lcm.home)
        }
        #expect(survivors.isEmpty, "\(point): a process survived: \(survivors)", sourceLocation: sourceLocation)
        let doctor = try lcm.run(["doctor", "--quick", "--format", "json"])
        let files = try JSONDecoder().decode(DoctorReport.self, from: Data(doctor.stdout.utf8)).checks.first { $0.name == "temporary files" }
        #expect(files?.status == .pass, "\(point): \(String(describing: files))", sourceLocation: sourceLocation)
        let inventory = try Inventory.open(home: LCMHome(url: URL(fileURLWithPath: lcm.home)))
        let unsettled = try inventory.read { db in
            try String.fetchAll(db, sql: "SELECT objectID || ' ' || state FROM operation WHERE state IN ('running', 'failed') AND kind = ?",
                                arguments: [kind])
        }
        #expect(unsettled.isEmpty, "\(point): \(unsettled)", sourceLocation: sourceLocation)
    }

    /// The fail points of a derivation of an image (copy -> work -> publish): the copy as it
    /// starts, once it ran and once recorded; the work as it starts and with its disk staged for
    /// the appliance. Past the launch each kill costs one, so there the caller names the moments.
    static func derivationPoints(kind: String) -> [String] {
        points(kind: kind, steps: ["copy"]) + ["\(kind):work:started", "disk-engine:prepared:ran"]
    }

    /// Kills a derivation of an image (`image drivers add`, `manage patch --image`) at each of
    /// `points` and recovers: the catalog and the image store (incoming files too) are as they
    /// were before. Prints the seconds spent, the cost these kills add to the suite.
    static func killDerivation(_ lcm: LCMRunner, kind: String, _ arguments: [String], at points: [String],
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let clock = ContinuousClock(), started = clock.now
        func catalog() throws -> String { try lcm.run(["image", "list", "--format", "json"]).stdout }
        func storeFiles() -> [String] {
            let walker = FileManager.default.enumerator(atPath: URL(fileURLWithPath: lcm.home).appendingPathComponent("images").path)
            return (walker?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".qcow2") }.sorted()
        }
        let versions = try catalog(), files = storeFiles()
        for point in points {
            try kill(lcm, at: point, arguments, sourceLocation: sourceLocation)
            try recover(lcm, point: point, kind: kind, sourceLocation: sourceLocation)
            #expect(try catalog() == versions, "\(point): the catalog changed", sourceLocation: sourceLocation)
            #expect(storeFiles() == files, "\(point): left \(storeFiles())", sourceLocation: sourceLocation)
            try expectClean(lcm, point: point, kind: kind, sourceLocation: sourceLocation)
        }
        let spent = (clock.now - started).components
        print(String(format: "crash-tests: \(kind) killed at \(points.count) points %.1f s", Double(spent.seconds) + Double(spent.attoseconds) / 1e18))
    }
}
