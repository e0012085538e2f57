import Foundation
import GRDB
import LCMKit
import LCMTestSupport
import Testing

/// The journal's promise: a run killed at any point is finished or undone by the next run.
/// The toy operation runs in a separate process that SIGKILLs itself at a chosen point.
@Suite struct OperationJournalTests {
    static let stepCount = 3
    /// The toy's steps: write-0, start-helper, write-1, write-2.
    static let stepNames = ["write-0", "start-helper"] + (1..<stepCount).map { "write-\($0)" }

    struct KillPoint: CustomStringConvertible, Sendable {
        var step: String
        var moment: String
        var description: String { "\(step):\(moment)" }
    }

    static let killPoints: [KillPoint] = stepNames.flatMap { step in
        ["started", "ran", "recorded"].map { KillPoint(step: step, moment: $0) }
    }

    func runToy(home: String, directory: String, recovery: String, failPoint: String?) throws -> ProgramRun {
        try ProgramRun.run(BuiltProducts.executable("lcm-testkit"),
                           ["toy", "--home", home, "--directory", directory, "--steps", String(Self.stepCount),
                            "--recovery", recovery],
                           environment: ["LCM_FAILPOINT": failPoint ?? ""])
    }

    func helperPID(_ directory: String) -> Int32? {
        (try? String(contentsOfFile: ToyOperation.helperPIDFile(directory), encoding: .utf8))
            .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    func operationStates(_ home: String) throws -> [String] {
        let inventory = try Inventory.open(home: LCMHome(url: URL(fileURLWithPath: home)))
        return try inventory.read { try String.fetchAll($0, sql: "SELECT state FROM operation ORDER BY startedAt") }
    }

    @Test(arguments: killPoints)
    func killedRunIsFinishedByRecovery(point: KillPoint) throws {
        let scratch = ScratchDirectory()
        let home = scratch.file("home").path
        let directory = scratch.file("object").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)

        let killed = try runToy(home: home, directory: directory, recovery: "roll-forward",
                                failPoint: "toy:\(point.step):\(point.moment)")
        #expect(killed.signaled && killed.status == SIGKILL, "the run was not killed: \(killed.stderr)")
        let leftover = helperPID(directory)

        let recover = try ProgramRun.run(BuiltProducts.executable("lcm-testkit"), ["recover", "--home", home])
        #expect(recover.status == 0, "\(recover.stderr)")
        #expect(recover.stdout.contains("completed"), "recovery output: \(recover.stdout)")

        for index in 0..<Self.stepCount {
            #expect(FileManager.default.fileExists(atPath: ToyOperation.stepFile(directory, index)), "step \(index) missing")
        }
        if let leftover { #expect(ProcessInfoReader.startTime(of: leftover) == nil, "helper \(leftover) still runs") }
        #expect(!FileManager.default.fileExists(atPath: ToyOperation.helperPIDFile(directory)))
        #expect(try operationStates(home) == ["completed"])
    }

    @Test(arguments: killPoints)
    func killedRunIsUndoneByRecovery(point: KillPoint) throws {
        let scratch = ScratchDirectory()
        let home = scratch.file("home").path
        let directory = scratch.file("object").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)

        let killed = try runToy(home: home, directory: directory, recovery: "roll-back",
                                failPoint: "toy:\(point.step):\(point.moment)")
        #expect(killed.signaled && killed.status == SIGKILL, "the run was not killed: \(killed.stderr)")
        let leftover = helperPID(directory)

        let recover = try ProgramRun.run(BuiltProducts.executable("lcm-testkit"), ["recover", "--home", home])
        #expect(recover.status == 0, "\(recover.stderr)")
        #expect(recover.stdout.contains("rolled back"), "recovery output: \(recover.stdout)")

        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty, "files left behind")
        if let leftover { #expect(ProcessInfoReader.startTime(of: leftover) == nil, "helper \(leftover) still runs") }
        #expect(try operationStates(home) == ["rolled_back"])
    }

    /// Without `recover`: the next run on the same object recovers first, then does its own work.
    @Test func nextRunOnTheObjectRecoversByItself() throws {
        let scratch = ScratchDirectory()
        let home = scratch.file("home").path
        let directory = scratch.file("object").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let killed = try runToy(home: home, directory: directory, recovery: "roll-forward", failPoint: "toy:write-1:ran")
        #expect(killed.signaled)
        let next = try runToy(home: home, directory: directory, recovery: "roll-forward", failPoint: nil)
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stdout.contains("recovered"))
        #expect(try operationStates(home) == ["completed", "completed"])
    }

    @Test func nothingToRecoverAfterACleanRun() throws {
        let scratch = ScratchDirectory()
        let home = scratch.file("home").path
        let directory = scratch.file("object").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let run = try runToy(home: home, directory: directory, recovery: "roll-forward", failPoint: nil)
        #expect(run.status == 0, "\(run.stderr)")
        if let pid = helperPID(directory) { #expect(ProcessInfoReader.startTime(of: pid) == nil) }
        let recover = try ProgramRun.run(BuiltProducts.executable("lcm-testkit"), ["recover", "--home", home])
        #expect(recover.stdout.isEmpty)
        #expect(try operationStates(home) == ["completed"])
    }

    /// A caller that holds the object's lock for a longer span (a deploy holds each desktop's for
    /// its whole run) runs the object's journaled operations under it; without saying so, a second
    /// flock by the same process waits on itself and gives up busy. A lock on another object is
    /// not taken for this one.
    @Test func anOperationRunsUnderTheLockItsCallerHolds() throws {
        let scratch = ScratchDirectory()
        let home = LCMHome(url: scratch.file("home"))
        let directory = scratch.file("object").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let inventory = try Inventory.open(home: home)
        var registry = OperationRegistry()
        registry.register(ToyOperation.self)
        let journal = OperationJournal(inventory: inventory, registry: registry, lockTimeout: 0.2)
        let operation = ToyOperation(directory: directory, stepCount: 2, recovery: .rollForward)
        let held = try ObjectLock.acquire(home: home, kind: operation.objectKind, id: operation.objectID, timeout: 0)
        defer { held.unlock() }
        let other = try ObjectLock.acquire(home: home, kind: operation.objectKind, id: "another", timeout: 0)
        defer { other.unlock() }
        for holding in [nil, other] {
            do {
                try journal.run(operation, holding: holding)
                Issue.record("ran without its object's lock")
            } catch {
                #expect((error as? LCMError)?.code == .busy, "\(error)")
            }
        }
        #expect(try operationStates(home.url.path).isEmpty, "a refused run recorded an operation")
        try journal.run(operation, holding: held)
        #expect(held.isHeld, "the caller's lock was released by the operation")
        #expect(FileManager.default.fileExists(atPath: ToyOperation.stepFile(directory, 1)))
        #expect(try operationStates(home.url.path) == ["completed"])
    }
}
