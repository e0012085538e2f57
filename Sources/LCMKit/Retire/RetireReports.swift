import Foundation
import GRDB

/// Text renderings of retirement plans, reports and certificate checks.
public enum RetireReports {
    public static func text(_ report: RetireReport) -> String {
        let plan = report.plan
        var lines: [String] = []
        if report.dryRun {
            lines.append("plan for \(plan.desktop) on \(plan.device ?? plan.uri) (nothing changed):")
            lines.append("  domain: \(plan.domainDefined ? "stopped (forced after the timeout) and undefined" : "none defined")")
            lines.append("  records: seats released \(plan.seats), user \(plan.user.map { "\($0) checked in" } ?? "none"), status retiring -> retired -> disposed")
        } else {
            lines.append("\(plan.desktop): \(report.disposed ? "disposed" : "retired, not disposed (verification did not pass or was skipped, or not everything was sanitized)")"
                         + (report.claim.map { ", certificate claims \($0)" } ?? ""))
            if let stopped = report.progress.stopped { lines.append("  domain: \(stopped)") }
            lines.append("  seats released \(report.progress.seatsReleased), user \(report.progress.userCheckedIn ?? "none") checked in")
        }
        for (file, progress) in zip(plan.files, report.progress.files) {
            let size = file.virtualBytes.map { " \(ByteSize.format($0)) virtual" } ?? ""
            var line = "  \(file.role): \(file.path)\(size)\(file.encrypted ? ", encrypted" : "")"
            if report.dryRun {
                line += " -> " + [progress.header != nil || file.encrypted && file.volume != nil ? "keyslots erased" : nil,
                                  "\(progress.passes.count) pass(es)"].compactMap { $0 }.joined(separator: ", ")
            } else {
                line += " -> \(progress.passesDone) pass(es), \(ByteSize.format(progress.bytesWritten)) written"
                if progress.headerVerified { line += ", keyslots erased" }
                if let result = progress.verification {
                    line += result.passed ? ", verified (\(result.coverage.rawValue), \(ByteSize.format(result.bytesRead)))"
                        : ", VERIFICATION FAILED (\(result.mismatchedBytes) bytes differ, first at \(result.firstMismatch ?? 0))"
                }
                if !progress.errors.isEmpty { line += ", errors: \(progress.errors.joined(separator: "; "))" }
            }
            lines.append(line)
        }
        for item in plan.notSanitized ?? [] {
            lines.append("  NOT SANITIZED by lcm: \(item.item) (\(item.reason)); the certificate names it and claims None")
        }
        if report.dryRun {
            for copy in plan.keyCopies { lines.append("  key copy: \(copy) -> destroyed") }
            for kept in plan.kept { lines.append("  kept: \(kept) (the golden version, shared)") }
        } else if let keys = report.progress.keyReport {
            lines.append("  key copies: \(keys.items.filter { $0.outcome == .destroyed }.count) destroyed, \(keys.items.filter { $0.outcome == .failed }.count) failed, \(keys.items.filter { $0.outcome == .left }.count) in volume headers")
        }
        if let path = report.progress.certificatePath { lines.append("  certificate: \(path)") }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func text(_ report: CertificateVerifier.Report) -> String {
        var lines = ["trusted key \(report.trustedKey.fingerprint) (\(report.trustedKey.source))"]
        lines += report.files.map { file in
            let head = "\(file.valid ? "valid  " : "INVALID") \(file.path)"
                + (file.sequence.map { " #\($0)" } ?? "") + (file.subject.map { " \($0)" } ?? "") + (file.claim.map { " (\($0))" } ?? "")
                + (file.signer.map { ", signed by \($0)" } ?? "")
            return ([head] + file.problems.map { "        \($0)" }).joined(separator: "\n")
        }
        lines += report.chainProblems.map { "chain: \($0)" }
        lines.append(report.valid ? "all \(report.files.count) certificate(s) valid, chain intact" : "verification FAILED")
        return lines.joined(separator: "\n") + "\n"
    }
}

extension Retirement {
    /// The desktops on a device still to retire: not yet retired or disposed, or with a
    /// retirement a killed run left open.
    public static func desktops(onDevice tag: String, inventory: Inventory) throws -> [String] {
        try inventory.read { db in
            let device = try DeviceLifecycle.find(db, tag)
            return try DesktopReports.namesToRetire(db, deviceID: device.id!)
        }
    }
}

extension CertificateIssuer {
    /// Every recorded certificate file, in chain order.
    public func recordedPaths() throws -> [String] {
        try inventory.read { db in try String.fetchAll(db, sql: "SELECT path FROM certificate ORDER BY sequence") }
    }
}
