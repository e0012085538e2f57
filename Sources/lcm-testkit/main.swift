import ArgumentParser
import Foundation
import LCMKit
import LCMTestSupport

/// Test helper run as a separate process by the test suite: concurrent writers and crash injection.
struct TestKit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lcm-testkit",
        abstract: "lcm's test helper (not installed for users).",
        subcommands: [AppendEvents.self, Toy.self, Recover.self, MakeDisk.self, DiskBatchCommand.self, OverwriteCommand.self,
                      RegBenchCommand.self])

    struct AppendEvents: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "append-events")
        @Option var home: String
        @Option var count: Int
        @Option var tag: String
        func run() throws {
            let inventory = try Inventory.open(home: LCMHome(url: URL(fileURLWithPath: home)))
            for index in 0..<count {
                try inventory.recordEvent(objectKind: "test", objectID: tag, action: "append \(index)")
            }
        }
    }

    struct Toy: ParsableCommand {
        @Option var home: String
        @Option var directory: String
        @Option var steps: Int = 3
        @Option var recovery: String = "roll-forward"
        func run() throws {
            let inventory = try Inventory.open(home: LCMHome(url: URL(fileURLWithPath: home)))
            let operation = ToyOperation(directory: directory, stepCount: steps,
                                         recovery: RecoveryPolicy(rawValue: recovery) ?? .rollForward)
            let failPoints = FailPoints(armed: ProcessInfo.processInfo.environment["LCM_FAILPOINT"])
            let recovered = try OperationJournal(inventory: inventory, registry: .withToy, failPoints: failPoints).run(operation)
            for item in recovered { print("recovered \(item.operationID) \(item.action)") }
        }
    }

    struct Recover: ParsableCommand {
        @Option var home: String
        func run() throws {
            let inventory = try Inventory.open(home: LCMHome(url: URL(fileURLWithPath: home)))
            for item in try OperationJournal(inventory: inventory, registry: .withToy).recoverAll() {
                print("\(item.operationID) \(item.action) cleaned=\(item.resourcesCleaned)")
            }
        }
    }
}

extension OperationRegistry {
    static var withToy: OperationRegistry {
        var registry = OperationRegistry.standard
        registry.register(ToyOperation.self)
        return registry
    }
}

TestKit.main()
