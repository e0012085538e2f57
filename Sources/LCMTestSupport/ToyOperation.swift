import Foundation
import LCMKit

/// A toy multi-step operation for testing the journal: each step writes one file into a directory;
/// one step starts a helper process (as real operations start qemu-nbd) that the last step stops.
public struct ToyOperation: JournaledOperation {
    public static let kind = "toy"
    public let directory: String
    public let stepCount: Int
    public let recovery: RecoveryPolicy

    public init(directory: String, stepCount: Int, recovery: RecoveryPolicy) {
        self.directory = directory; self.stepCount = stepCount; self.recovery = recovery
    }

    public init(parameters: [String: String]) throws {
        guard let directory = parameters["directory"], let count = parameters["steps"].flatMap(Int.init),
              let policy = parameters["recovery"].flatMap(RecoveryPolicy.init(rawValue:)) else {
            throw LCMError(.dataError, "toy operation parameters incomplete")
        }
        self.init(directory: directory, stepCount: count, recovery: policy)
    }

    public var objectKind: String { "toy" }
    public var objectID: String { URL(fileURLWithPath: directory).lastPathComponent }
    public var parameters: [String: String] {
        ["directory": directory, "steps": String(stepCount), "recovery": recovery.rawValue]
    }

    public static func stepFile(_ directory: String, _ index: Int) -> String { "\(directory)/step-\(index)" }
    public static func helperPIDFile(_ directory: String) -> String { "\(directory)/helper.pid" }

    public var steps: [OperationStep] {
        let directory = self.directory
        var steps: [OperationStep] = []
        for index in 0..<stepCount {
            steps.append(OperationStep("write-\(index)", run: { _ in
                try Data("step \(index)\n".utf8).write(to: URL(fileURLWithPath: Self.stepFile(directory, index)))
            }, undo: { _ in
                unlink(Self.stepFile(directory, index))
            }))
            if index == 0 {
                steps.append(OperationStep("start-helper", run: { context in
                    let helper = Process()
                    helper.executableURL = URL(fileURLWithPath: "/bin/sleep")
                    helper.arguments = ["300"]
                    // Like any helper, it must not hold lcm's stdout/stderr open after lcm dies.
                    helper.standardInput = FileHandle.nullDevice
                    helper.standardOutput = FileHandle.nullDevice
                    helper.standardError = FileHandle.nullDevice
                    try helper.run()
                    try context.recordResource(.process(helper.processIdentifier))
                    try Data("\(helper.processIdentifier)\n".utf8).write(to: URL(fileURLWithPath: Self.helperPIDFile(directory)))
                    try context.recordResource(.file(Self.helperPIDFile(directory)))
                }))
            }
        }
        return steps
    }
}
