import Foundation

/// Text renderings for `lcm manage patch` (JSON is the Codable values as they are).
public enum PatchReports {
    public static func text(_ report: DesktopPatchReport) -> String {
        var lines: [String] = []
        for outcome in report.outcomes {
            var line = "\(outcome.state.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(outcome.desktop)"
            if let device = outcome.device { line += " on \(device)" }
            if let layer = outcome.layer { line += ": new OS layer \(layer)" }
            if let registry = outcome.registry, registry.valuesSet + registry.keysCreated + registry.keysDeleted > 0 {
                line += ", registry \(registry.valuesSet) values set, \(registry.keysCreated) keys created, \(registry.keysDeleted) deleted (\(registry.checked) read back)"
            }
            if !outcome.staged.isEmpty { line += ", staged for next boot: \(outcome.staged.joined(separator: ", "))" }
            lines.append(line)
            if let error = outcome.error { lines.append("         error: \(error)") }
            lines += outcome.notes.map { "         note: \($0)" }
        }
        lines.append(summary([report]))
        return lines.joined(separator: "\n") + "\n"
    }

    /// One line for cron: `patched 18, queued 1, failed 1 (2 items, 1 appliance launches, 95 s)`.
    public static func summary(_ reports: [DesktopPatchReport]) -> String {
        guard reports.count != 1 else { return reports[0].summary }
        let outcomes = reports.flatMap(\.outcomes)
        func count(_ state: DesktopPatchOutcome.State) -> Int { outcomes.filter { $0.state == state }.count }
        let seconds = reports.reduce(0) { $0 + $1.secondsTotal }
        return "patched \(count(.patched)), queued \(count(.queued)), failed \(count(.failed)) (\(reports.count) queued runs applied, \(reports.reduce(0) { $0 + $1.launches }) appliance launches, \(String(format: "%.0f", seconds)) s)"
    }

    public static func text(_ report: DesktopRollbackReport) -> String {
        var lines: [String] = []
        for outcome in report.outcomes {
            var line = "\(outcome.state.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)) \(outcome.desktop)"
            if let device = outcome.device { line += " on \(device)" }
            let planned = outcome.state == .planned
            if let from = outcome.from, let to = outcome.to {
                line += planned ? ": would boot \(to) again and delete \(from)" : ": boots \(to) again, \(from) deleted"
            }
            if !outcome.itemsRolledBack.isEmpty { line += "\(planned ? ", would roll back" : ", rolled back"): \(outcome.itemsRolledBack.joined(separator: ", "))" }
            if !outcome.itemsStagedAgain.isEmpty { line += ", staged again for the next boot: \(outcome.itemsStagedAgain.joined(separator: ", "))" }
            lines.append(line)
            if let error = outcome.error { lines.append("            error: \(error)") }
            lines += outcome.notes.map { "            note: \($0)" }
        }
        lines.append(report.summary)
        return lines.joined(separator: "\n") + "\n"
    }

    public static func text(_ report: ImagePatchReport) -> String {
        var lines = ["patched \(report.parent) into \(report.name):\(report.version) (\(report.path))"]
        let registry = report.outcome.registry
        if registry.valuesSet + registry.keysCreated + registry.keysDeleted > 0 {
            lines.append("  registry: \(registry.valuesSet) values set, \(registry.keysCreated) keys created, \(registry.keysDeleted) deleted, \(registry.checked) read back")
        }
        if !report.outcome.queued.isEmpty {
            lines.append("  staged for the first boot of each desktop made from it: \(report.outcome.queued.joined(separator: ", "))")
        }
        lines.append(String(format: "  sha256 %@, %.1f s", report.sha256, report.secondsTotal))
        return lines.joined(separator: "\n") + "\n"
    }

    public static func text(_ statuses: [DesktopPatchStatus]) -> String {
        var lines: [String] = []
        for status in statuses {
            var line = "\(status.desktop)"
            if let device = status.device { line += " on \(device)" }
            line += " (\(status.domainState))"
            if status.readBack {
                line += ": read back"
                if let ubr = status.ubr { line += ", UBR \(ubr)" }
                if status.rebootPending == true { line += ", Windows reboot pending" }
                if !status.queuedInImage.isEmpty { line += ", \(status.queuedInImage.count) item(s) still queued in the image" }
            }
            lines.append(line)
            if let note = status.note { lines.append("  note: \(note)") }
            if let answerFiles = status.answerFiles, answerFiles.state != .noSecrets {
                var line = "  answer files with secrets: \(answerFiles.summary)"
                if answerFiles.state == .notYetBooted { line += " (\(answerFiles.paths.joined(separator: ", ")) hold \(answerFiles.secrets.joined(separator: ", ")))" }
                if let detail = answerFiles.detail { line += "; \(detail)" }
                lines.append(line)
            }
            for item in status.items {
                var itemLine = "  \(item.state.rawValue.padding(toLength: 14, withPad: " ", startingAt: 0)) \(item.file)"
                if let exitCode = item.exitCode { itemLine += " exit \(exitCode)" }
                if item.rebootNeeded == true { itemLine += ", reboot needed" }
                if let windows = item.windows { itemLine += ", Windows: \(windows)" }
                if let detail = item.detail, item.state != .succeeded { itemLine += " (\(detail))" }
                lines.append(itemLine)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The reports of one `lcm manage patch` run (several with `--apply-queued`): JSON is the one
/// report, or the array of them.
public struct PatchRunResult: CommandResult {
    public var reports: [DesktopPatchReport]

    public init(_ reports: [DesktopPatchReport]) { self.reports = reports }

    public func text(quiet: Bool) -> String {
        quiet ? PatchReports.summary(reports) + "\n" : reports.map(PatchReports.text).joined(separator: "\n")
    }

    public func json() throws -> String {
        reports.count == 1 ? try JSONOutput.encode(reports[0]) : try JSONOutput.encode(reports)
    }

    public var problems: [LCMError] { reports.batch.problems }
    public var exitCode: Int32 { reports.batch.exitCode }
}

extension DesktopRollbackReport: CommandResult {
    public func text(quiet: Bool) -> String { quiet ? summary + "\n" : PatchReports.text(self) }
    public func json() throws -> String { try JSONOutput.encode(self) }
    public var problems: [LCMError] { batch.problems }
    public var exitCode: Int32 { batch.exitCode }
}
