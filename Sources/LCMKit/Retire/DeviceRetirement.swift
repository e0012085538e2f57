import Foundation
import GRDB

/// The device's part of `lcm retire --device TAG`, once each of its desktops is retired or moved
/// away: checked in, status `retired`, a certificate that lists its desktops' certificates and
/// says whether the device's own storage was sanitized; `disposed` only with the operator's
/// evidence of that (`--host-sanitized-by`), which lcm records but cannot check.
public struct DeviceRetirement {
    let context: LCMContext
    public let inventory: Inventory
    public let options: RetireOptions

    public init(context: LCMContext, options: RetireOptions) throws {
        self.context = context
        self.inventory = try context.inventory()
        self.options = options
    }

    public struct Report: Codable, Sendable {
        public var device: String
        public var status: String
        public var certificateSequence: Int
        public var certificatePath: String
        public var claim: String
    }

    public func run(_ tag: String, hostSanitizedBy evidence: String?) throws -> Report {
        let lock = try ObjectLock.acquire(home: inventory.home, kind: "device", id: tag, timeout: 60)
        defer { lock.unlock() }
        let (device, desktops) = try inventory.read { db -> (Device, [Row]) in
            let device = try DeviceLifecycle.find(db, tag)
            let rows = try DesktopReports.certifiedRows(db, deviceID: device.id!)
            return (device, rows)
        }
        let evidenceText = evidence?.trimmingCharacters(in: .whitespacesAndNewlines)
        try inventory.write { db in
            if try Assignments.current(db, kind: .device, objectID: device.id!) != nil {
                _ = try Assignments.checkIn(db, kind: .device, objectID: device.id!, keepStatus: true, actor: inventory.actor)
            }
            _ = try DeviceLifecycle.move(db, device, to: .retired, note: options.reason ?? "retired with its desktops", actor: inventory.actor)
        }
        let sanitized = !(evidenceText ?? "").isEmpty
        let reasons = desktops.map { row -> String in
            let sequence: Int? = row["sequence"]
            return "desktop \(row["name"] as String): \(row["status"] as String)"
                + (sequence.map { ", certificate \($0) claims \((row["claim"] as String?) ?? "?")" } ?? ", no certificate")
        }
        var risks = ["lcm sanitized the desktops' virtual disks; " + (sanitized
            ? "the device's own storage was sanitized by the operator's means, recorded here as given and not checked by lcm"
            : "the device's own storage (host filesystem, swap, logs, free blocks) was not sanitized")]
        if desktops.isEmpty { risks.append("no desktop of this device is in the inventory") }
        let now = Retirement.timestamp(context.clock.now())
        let certificate = SanitizationCertificate(
            sequence: 0, previousSHA256: "", issued: now,
            personPerformingSanitization: .init(name: options.operatorName, title: nil, organization: nil, location: device.libvirtURI),
            mediaInformation: .init(subject: .device, name: device.assetTag,
                                    makeModel: [device.vendor, device.model].compactMap { $0 }.joined(separator: " ").nilIfEmpty,
                                    serialNumber: device.serial, mediaType: "client device running a hypervisor",
                                    source: nil, dataClassification: nil, hostStorageSanitized: sanitized, hostStorageEvidence: evidenceText),
            sanitizationDetails: .init(methodType: sanitized ? .purge : .none,
                                       methodUsed: sanitized ? "device storage: per the operator's evidence" : "device storage: not sanitized",
                                       methodDetails: "virtual disks: see the desktops' certificates", toolUsed: "lcm \(LCMVersion.current)",
                                       verificationMethod: sanitized ? "the operator's evidence, not checked by lcm" : "none",
                                       postSanitizationDestination: options.destination, reason: options.reason, start: now, end: now),
            personValidating: nil, files: [], keyCopies: [],
            // lcm cannot check the operator's evidence: it claims at most Clear for the device
            // itself (its desktops' certificates carry their own claims).
            claim: sanitized ? .clear : .none,
            claimReasons: (sanitized ? ["the device's storage was sanitized per: \(evidenceText!)"] : ["the device's own storage was not sanitized"]) + reasons,
            residualRisk: risks)
        let issued = try CertificateIssuer(inventory: inventory, hashLog: options.hashLog, clock: context.clock).issue(certificate) { db, issued in
            guard sanitized else { return }
            _ = try DeviceLifecycle.move(db, device, to: .disposed, note: "host storage sanitized: \(evidenceText!); certificate \(issued.sequence)",
                                         actor: inventory.actor)
        }
        let status = sanitized ? DeviceStatus.disposed : .retired
        return Report(device: device.assetTag, status: status.rawValue, certificateSequence: issued.sequence,
                      certificatePath: issued.path, claim: issued.claim)
    }
}

private extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
