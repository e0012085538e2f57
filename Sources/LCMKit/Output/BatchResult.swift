/// One item of a batch that failed: a desktop of a deploy, patch, rollback or retire run, or
/// the device a `retire --device` run ends with.
public struct BatchFailure: Sendable, Equatable {
    public var item: String
    public var message: String
    public var hint: String?
    /// The item's own exit code; nil when its failure has none.
    public var exitCode: Int32?

    public init(item: String, message: String?, hint: String? = nil, exitCode: Int32?) {
        self.item = item; self.message = message ?? "failed"; self.hint = hint; self.exitCode = exitCode
    }

    public init(item: String, error: LCMError) {
        self.init(item: item, message: error.message, hint: error.hint, exitCode: error.code.rawValue)
    }

    /// The line on stderr: `lcm: error: ITEM: MESSAGE` (and its hint).
    public var problem: LCMError {
        LCMError(exitCode.flatMap(LCMExitCode.init(rawValue:)) ?? .failure, "\(item): \(message)", hint: hint)
    }
}

/// How a batch ended, and the one exit rule every batch command follows: 0 when no item failed;
/// the failed item's own code when the batch had a single item (and it has one); 2 (partial
/// failure) otherwise. Each failure is an error line on stderr, whatever the output format.
public struct BatchResult: Sendable, Equatable {
    public var total: Int
    public var failures: [BatchFailure]

    public init(total: Int, failures: [BatchFailure]) { self.total = total; self.failures = failures }

    public var exitCode: Int32 {
        guard let first = failures.first else { return LCMExitCode.success.rawValue }
        if total == 1, let code = first.exitCode { return code }
        return LCMExitCode.partialFailure.rawValue
    }

    public var problems: [LCMError] { failures.map(\.problem) }
}

extension DeployReport {
    public var batch: BatchResult {
        BatchResult(total: outcomes.count, failures: outcomes.filter { $0.state == .failed }.map {
            BatchFailure(item: $0.desktop, message: $0.error, exitCode: $0.exitCode)
        })
    }
}

extension DesktopPatchOutcome {
    var batchFailure: BatchFailure? {
        state == .failed ? BatchFailure(item: desktop, message: error, exitCode: exitCode) : nil
    }
}

extension Array where Element == DesktopPatchReport {
    /// Every desktop of these runs (`--apply-queued` applies several) as one batch.
    public var batch: BatchResult {
        let outcomes = flatMap(\.outcomes)
        return BatchResult(total: outcomes.count, failures: outcomes.compactMap(\.batchFailure))
    }
}

extension DesktopRollbackReport {
    public var batch: BatchResult {
        BatchResult(total: outcomes.count, failures: outcomes.filter { $0.state == .failed }.map {
            BatchFailure(item: $0.desktop, message: $0.error, exitCode: $0.exitCode)
        })
    }
}
