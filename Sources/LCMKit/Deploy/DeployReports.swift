import Foundation
import GRDB

/// Text renderings for `lcm deploy` and `lcm manage status` (JSON is the Codable values as they are).
public enum DeployReports {
    public static func text(_ report: DeployReport) -> String {
        var lines: [String] = []
        for outcome in report.outcomes {
            var line = "\(outcome.state.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(outcome.desktop)"
            if let device = outcome.device { line += " on \(device)" }
            if let image = outcome.image { line += " from \(image)" }
            if outcome.state == .deployed {
                line += outcome.running ? ", running" : ", defined (not started)"
                if let bus = outcome.storageBus { line += ", \(bus) disk" }
                if outcome.encrypted == false { line += ", NOT encrypted" }
            }
            lines.append(line)
            if let error = outcome.error { lines.append("          error: \(error)") }
            lines += outcome.notes.map { "          note: \($0)" }
        }
        let deployed = report.outcomes.filter { $0.state == .deployed }.count
        let skipped = report.outcomes.filter { $0.state == .skipped }.count
        lines.append(String(format: "%d deployed, %d already there, %d failed in %.1f s (%d appliance launch(es) for personalization)",
                            deployed, skipped, report.failed, report.seconds, report.launches))
        return lines.joined(separator: "\n") + "\n"
    }

    public static func text(_ reports: [DesktopStatusReport]) -> String {
        var lines: [String] = []
        for report in reports {
            lines.append("\(report.desktop)")
            func field(_ name: String, _ value: String?) {
                lines.append("  \(name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(value ?? "-")")
            }
            field("device", report.device.map { "\($0) (\(report.uri ?? "no URI"))" })
            field("user", report.user)
            field("status", "\(report.status)\(report.stage.map { ", deploy stage \($0)" } ?? "")")
            field("domain", report.domainState)
            field("image", report.image)
            field("computer name", report.computerName)
            field("owner", report.owner)
            field("time zone", report.timeZone)
            field("last patch", report.lastPatch ?? "never")
            for disk in report.disks where !report.reachable {
                field("\(disk.role) disk", "\(disk.volume): unknown (the device is unreachable)")
            }
            for disk in report.disks where report.reachable {
                var text = "\(disk.volume)"
                if !disk.present { text += " MISSING" }
                if let format = disk.format { text += " \(format)" }
                text += disk.encryption.map { ", \($0)-encrypted" } ?? ", not encrypted"
                if let size = disk.virtualSize { text += ", \(ByteSize.format(size))" }
                if let allocation = disk.allocation { text += " (\(ByteSize.format(allocation)) allocated)" }
                if !disk.backingChain.isEmpty { text += ", backed by \(disk.backingChain.joined(separator: " <- "))" }
                field("\(disk.role) disk", text)
            }
            for medium in report.patchMedia { field("patch medium", medium) }
            if let failure = report.failure { field("last failure", failure) }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The offline domain join blob an admin made with `djoin /provision /savefile FILE`.
public enum JoinBlobFile {
    /// Reads it without copying it anywhere (UTF-16LE as djoin writes it, or ASCII).
    public static func read(_ path: String) throws -> OfflineDomainJoinBlob {
        // A djoin blob is a few KiB; the limit keeps a wrong file (or /dev/zero) from costing memory.
        var read = try InputFile(path, what: "djoin provisioning blob file").contents(limit: 64 << 10)
        var bytes = [UInt8](read)
        defer { SecretBytes.wipe(&read); SecretBytes.wipe(&bytes) }
        return try OfflineDomainJoinBlob(savefileContents: bytes)
    }
}

extension DeviceLifecycle {
    /// Asset tags of the devices with `status`, in tag order.
    public static func tags(_ db: Database, status: DeviceStatus) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT assetTag FROM device WHERE status = ? ORDER BY assetTag", arguments: [status.rawValue])
    }
}

extension DeployReport: CommandResult {
    public func text(quiet: Bool) -> String { DeployReports.text(self) }
    public func json() throws -> String { try JSONOutput.encode(self) }
    public var problems: [LCMError] { batch.problems }
    public var exitCode: Int32 { batch.exitCode }
}
