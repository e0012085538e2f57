import Foundation
import Guestfs

/// One small change made to a Windows disk offline (a computer name, a time zone, an answer
/// file, ...), run with others over one `OfflineDisk`. `OfflineDisk.run` verifies every operation
/// before it applies any, so a refusal leaves the disk as it was; the registry edits of all of
/// them share one pass over host copies of the hives (`OfflineHives.edit`), then each writes its files.
protocol OfflineOperation: AnyObject {
    /// Checks that need no disk (the operation's own values, the catalog's inspection record; nil:
    /// none known), made before the disk is opened.
    func verify(expected: WindowsInspection?) throws
    /// Cheap checks on the opened disk against the record (`disk.inspection`) and what this
    /// disk's image already taught (`disk.golden`): reads what it must, writes nothing.
    func verify(on disk: OfflineDisk) throws
    /// The hives `edit` changes; asked after every operation verified.
    var hives: Set<RegFile.Hive> { get }
    /// Its registry edits, on the host copies of `hives`.
    func edit(_ editors: OfflineHives.Editors, on disk: OfflineDisk) throws
    /// Reads its edits back from the copies as they will be written; nothing reaches the disk unless every check passes.
    func check(_ editors: OfflineHives.Editors, on disk: OfflineDisk) throws
    /// Files and the rest, once the registry pass is written.
    func apply(to disk: OfflineDisk) throws
}

extension OfflineOperation {
    func verify(expected: WindowsInspection?) throws {}
    func verify(on disk: OfflineDisk) throws {}
    var hives: Set<RegFile.Hive> { [] }
    func edit(_ editors: OfflineHives.Editors, on disk: OfflineDisk) throws {}
    func check(_ editors: OfflineHives.Editors, on disk: OfflineDisk) throws {}
    func apply(to disk: OfflineDisk) throws {}
}

/// A Windows disk in a launched appliance with its Windows volume mounted read-write: opened once
/// for all the operations run on it. Where Windows is comes from the catalog's inspection record
/// of the disk's image (checked cheaply: the partition is NTFS, the system root and its hives are
/// there) or from the first copy of that image opened in the batch; only a disk without either is
/// searched and probed the way inspection does.
final class OfflineDisk {
    let access: DiskAccess
    /// What the copies of this disk's image share, seeded with the catalog's record.
    let golden: GoldenFacts
    let layout: GoldenFacts.Layout

    var session: GuestfsSession { access.session }
    var inspection: WindowsInspection? { golden.inspection }
    var name: String { access.volume.name }
    var partition: String { layout.partition(on: access.device) }

    private init(access: DiskAccess, golden: GoldenFacts, layout: GoldenFacts.Layout) {
        self.access = access
        self.golden = golden
        self.layout = layout
    }

    /// How `open` refuses a hibernated or Fast Startup volume found without a record: ntfs-3g's
    /// own probe before mounting (a program run, seconds under TCG), or the operations' own check
    /// once it is mounted (patching reads hiberfil.sys's first bytes, with its own message).
    enum HibernationCheck { case probe, byOperations }

    /// Mounts the Windows volume of `access`'s disk read-write; refuses a hibernated or Fast
    /// Startup volume (ntfs-3g would refuse it read-write, and libguestfs would then mount it
    /// read-only without saying so). `close()` unmounts it.
    static func open(_ access: DiskAccess, golden: GoldenFacts, hibernation: HibernationCheck = .probe) throws -> OfflineDisk {
        let g = access.session
        if let known = golden.layout {
            // The first copy was checked for hibernation; a copy of it cannot differ.
            try g.mount(known.partition(on: access.device), options: "big_writes")
            return OfflineDisk(access: access, golden: golden, layout: known)
        }
        let partition: String
        if let recorded = golden.inspection, let number = recorded.windowsPartition.map(partitionNumber),
           (try? g.vfsType(access.device + number)) == "ntfs" {
            partition = access.device + number
            if recorded.hibernation.hibernated || !recorded.hibernation.writableOffline {
                throw hibernated(partition, access)
            }
        } else {
            partition = try windowsPartition(access)
            if hibernation == .probe {
                guard try g.ntfs3gProbe(partition, readWrite: true) else { throw hibernated(partition, access) }
            }
        }
        try g.mount(partition, options: "big_writes")
        do {
            let layout = try GoldenFacts.Layout.read(g, device: access.device, partition: partition, volume: access.volume.name,
                                                     systemRoot: golden.inspection?.systemRoot)
            golden.layout = layout
            return OfflineDisk(access: access, golden: golden, layout: layout)
        } catch {
            try? g.umountAll()
            throw error
        }
    }

    func close() {
        try? session.umountAll()
    }

    /// Runs `operations` on the disk of `access`: verifies each against the record, opens the disk
    /// (`open`), verifies each on it, edits the hives they touch in one pass, applies each, and
    /// unmounts. Returns the disk, closed, for what it found.
    @discardableResult
    static func run(_ operations: [any OfflineOperation], on access: DiskAccess, golden: GoldenFacts,
                    hibernation: HibernationCheck = .probe) throws -> OfflineDisk {
        for operation in operations { try operation.verify(expected: golden.inspection) }
        let disk = try open(access, golden: golden, hibernation: hibernation)
        defer { disk.close() }
        try disk.run(operations)
        return disk
    }

    private func run(_ operations: [any OfflineOperation]) throws {
        for operation in operations { try operation.verify(on: self) }
        let touched = operations.reduce(into: Set<RegFile.Hive>()) { $0.formUnion($1.hives) }
        if !touched.isEmpty {
            let paths = [RegFile.Hive.system: layout.systemHive, .software: layout.softwareHive].filter { touched.contains($0.key) }
            try OfflineHives.edit(session, hives: paths, known: golden.hives, edit: { editors in
                for operation in operations where !operation.hives.isEmpty { try operation.edit(editors, on: self) }
                return ((), touched)
            }, check: { editors in
                for operation in operations { try operation.check(editors, on: self) }
            })
        }
        for operation in operations { try operation.apply(to: self) }
    }

    // MARK: Facts read once per image

    /// SYSTEM's current control set and answer-file override, read on the first copy of the image.
    func systemFacts() throws -> GoldenFacts.SystemFacts {
        if let known = golden.system { return known }
        let facts = try session.withHive(layout.systemHive) { g in try GoldenFacts.SystemFacts.read(g, volume: name) }
        golden.system = facts
        return facts
    }

    /// The image's ImageState (the record's when there is one) and the time zone `id` as the
    /// image's own list has it (nil: the list lacks it), read from SOFTWARE in one opening, once per image.
    func software(timeZone id: String) throws -> (imageState: String?, zone: DesktopPersonalizer.TimeZoneRecord?) {
        if let imageState = golden.imageState, let zone = golden.timeZone(id) { return (imageState, zone) }
        let read = try session.withHive(layout.softwareHive) { g -> (String?, DesktopPersonalizer.TimeZoneRecord?) in
            let imageState = try golden.imageState ?? g.node(atPath: DesktopPersonalizer.Paths.setupState)
                .flatMap { try g.value($0, "ImageState")?.stringValue }
            return (imageState, try golden.timeZone(id) ?? DesktopPersonalizer.timeZoneRecord(id, g: g))
        }
        golden.imageState = .some(read.0)
        golden.remember(read.1, for: id)
        return read
    }

    /// Kinds of secret in the answer files the image itself carries: the record's, else read from the disk.
    func leftoverAnswerFileSecrets() throws -> [String] {
        if let known = golden.leftoverAnswerFileSecrets { return known }
        let secrets = try WindowsInspector.answerFiles(session).flatMap(\.secrets)
        golden.leftoverAnswerFileSecrets = secrets
        return secrets
    }

    // MARK: Finding Windows without a record

    /// The partition's number on its disk from an appliance device name: "3" for "/dev/sda3",
    /// empty for a whole-disk filesystem ("/dev/sda").
    static func partitionNumber(_ device: String) -> String {
        String(device.reversed().prefix(while: \.isNumber).reversed())
    }

    /// The NTFS partition holding a Windows system root, found the way `WindowsInspector` does.
    static func windowsPartition(_ access: DiskAccess) throws -> String {
        let g = access.session
        let partitions = try access.partitions()
        for partition in partitions.isEmpty ? [access.device] : partitions where (try? g.vfsType(partition)) == "ntfs" {
            guard (try? g.mountReadOnly(partition)) != nil else { continue }
            defer { try? g.umountAll() }
            if try WindowsInspector.systemRoot(g) != nil { return partition }
        }
        if partitions.contains(where: { (try? g.vfsType($0))?.caseInsensitiveCompare("BitLocker") == .orderedSame }) {
            throw LCMError(.conflict, "the Windows volume of \(access.volume.name) is BitLocker-encrypted and cannot be personalized offline")
        }
        throw LCMError(.notFound, "no Windows installation on \(access.volume.name)")
    }

    static func hibernated(_ partition: String, _ access: DiskAccess) -> LCMError {
        LCMError(.conflict, "the Windows volume \(partition) of \(access.volume.name) is hibernated or was shut down with Fast Startup; it cannot be written offline",
                 hint: "boot it and shut it down fully (shutdown /s /t 0), or disable Fast Startup in the image")
    }
}
