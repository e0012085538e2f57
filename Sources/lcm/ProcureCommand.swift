import ArgumentParser
import Foundation
import LCMKit

extension AcceleratorRequirement: ExpressibleByArgument {}

struct ProcureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "procure",
        abstract: "Define device requirements, check devices, take assets in, and track status, users, warranty and licenses.",
        discussion: """
            Requirement profiles say what a client device needs to run the client hypervisor and how big \
            its desktop VM is. `check` measures a device through libvirt against a profile. Devices enter \
            the inventory with their purchase data (`add`, `import` from CSV) and move through the statuses \
            ordered, in stock, deployed, in repair, retired, disposed. Every change is an audit event.
            """,
        subcommands: [Profile.self, Check.self, Add.self, Import.self, Export.self, Update.self, Move.self,
                      CheckOut.self, CheckIn.self, History.self, License.self, Report.self])
}

// MARK: - Shared helpers

extension ProcureCommand {
    static func size(_ text: String?, _ option: String) throws -> UInt64? {
        guard let text else { return nil }
        guard let value = ByteSize.parse(text) else {
            throw ValidationError("\(option) '\(text)' is not a size: write it with a unit, e.g. 16GiB or 512MiB")
        }
        return value
    }
}

// MARK: - Profiles

extension ProcureCommand {
    struct Profile: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage requirement profiles: what a device needs and how big its desktop is.",
            subcommands: [ProfileAdd.self, ProfileList.self, ProfileShow.self, ProfileRemove.self])
    }

    struct ProfileAdd: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add a profile from a YAML file (see examples/profiles/) and/or options.",
            discussion: """
                Options override the file's values. Sizes take a unit: 16GiB, 512MiB, 1TiB (GB/TB are \
                decimal, as vendors print them). A requirement left out is not checked.
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Profile name (default: the file's `name`).")
        var name: String?
        @Option(help: ArgumentHelp("Read the profile from this YAML (or JSON) file.", valueName: "file"))
        var file: String?
        @Flag(help: "Replace an existing profile of the same name.")
        var replace = false
        @Option(help: "A line describing the profile.")
        var description: String?
        @Option(help: "Required CPU architecture, e.g. x86_64.")
        var arch: String?
        @Option(name: .customLong("min-cpus"), help: "At least this many CPUs.")
        var minCPUs: Int?
        @Option(name: .customLong("min-memory"), help: ArgumentHelp("At least this much memory, e.g. 16GiB.", valueName: "size"))
        var minMemory: String?
        @Option(name: .customLong("min-disk"), help: ArgumentHelp("At least this much free space in the device's storage pool.", valueName: "size"))
        var minDisk: String?
        @Flag(name: .customLong("cpu-virtualization"), inversion: .prefixedNo, help: "Require Intel VT-x or AMD-V.")
        var cpuVirtualization: Bool?
        @Flag(inversion: .prefixedNo, help: "Require an IOMMU.")
        var iommu: Bool?
        @Flag(inversion: .prefixedNo, help: "Require an emulated TPM 2.0 for guests.")
        var tpm: Bool?
        @Flag(inversion: .prefixedNo, help: "Require UEFI firmware for guests.")
        var uefi: Bool?
        @Flag(name: .customLong("secure-boot"), inversion: .prefixedNo, help: "Require UEFI Secure Boot (implies --uefi).")
        var secureBoot: Bool?
        @Option(help: "Accelerator that must really run a guest: none, any, kvm or tcg.")
        var accelerator: AcceleratorRequirement?
        @Flag(inversion: .prefixedNo, help: "Boot a probe guest to prove the accelerator (default) or trust libvirt.")
        var probe: Bool?
        @Option(help: "vCPUs of the desktop VM.")
        var vcpus: Int?
        @Option(name: .customLong("vm-memory"), help: ArgumentHelp("Memory of the desktop VM.", valueName: "size"))
        var vmMemory: String?
        @Option(name: .customLong("os-disk"), help: ArgumentHelp("Size of the desktop's OS disk.", valueName: "size"))
        var osDisk: String?
        @Option(name: .customLong("data-disk"), help: ArgumentHelp("Size of the desktop's user-data disk.", valueName: "size"))
        var dataDisk: String?

        func validate() throws {
            if name == nil && file == nil { throw ValidationError("give a profile name, a --file, or both") }
            _ = try ProcureCommand.size(minMemory, "--min-memory"); _ = try ProcureCommand.size(minDisk, "--min-disk")
            _ = try ProcureCommand.size(vmMemory, "--vm-memory"); _ = try ProcureCommand.size(osDisk, "--os-disk")
            _ = try ProcureCommand.size(dataDisk, "--data-disk")
        }

        func profile() throws -> RequirementProfile {
            var profile = try file.map { try RequirementProfile.load(file: URL(fileURLWithPath: $0)) } ?? RequirementProfile(name: "")
            if let name { profile.name = name }
            if let description { profile.description = description }
            if let arch { profile.requires.architecture = arch }
            if let minCPUs { profile.requires.cpus = minCPUs }
            if let v = try ProcureCommand.size(minMemory, "--min-memory") { profile.requires.memoryBytes = v }
            if let v = try ProcureCommand.size(minDisk, "--min-disk") { profile.requires.diskBytes = v }
            if let cpuVirtualization { profile.requires.cpuVirtualization = cpuVirtualization }
            if let iommu { profile.requires.iommu = iommu }
            if let tpm { profile.requires.tpm2 = tpm }
            if let uefi { profile.requires.uefi = uefi }
            if let secureBoot {
                profile.requires.secureBoot = secureBoot
                if secureBoot { profile.requires.uefi = true }
            }
            if profile.requires.secureBoot && !profile.requires.uefi {
                throw LCMError(.usage, "--no-uefi contradicts Secure Boot, which is a UEFI feature")
            }
            if let accelerator { profile.requires.accelerator = accelerator }
            if let probe { profile.requires.probe = probe }
            if let vcpus { profile.vm.vcpus = vcpus }
            if let v = try ProcureCommand.size(vmMemory, "--vm-memory") { profile.vm.memoryBytes = v }
            if let v = try ProcureCommand.size(osDisk, "--os-disk") { profile.vm.osDiskBytes = v }
            if let v = try ProcureCommand.size(dataDisk, "--data-disk") { profile.vm.dataDiskBytes = v }
            return profile
        }

        func run() throws {
            try global.report { context in
                let profile = try profile()
                let inventory = try context.inventory()
                _ = try inventory.write { try Profiles.save($0, profile, replace: replace, actor: context.actor) }
                return Rendered(profile, notes: ["saved profile \(profile.name)"]) { _ in "" }
            }
        }
    }

    struct ProfileList: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List requirement profiles.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.report(csv: true) { context in
                let profiles = try context.inventory().read { try Profiles.all($0) }
                let table = Profiles.table(profiles)
                return Rendered(profiles, table: table) { _ in table.text(quiet: false) }
            }
        }
    }

    struct ProfileShow: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one profile (text: as a YAML profile file).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Profile name.")
        var name: String

        func run() throws {
            try global.report(csv: true) { context in
                let profile = try context.inventory().read { try Profiles.load($0, name: name) }
                return Rendered(profile, table: Profiles.table([profile])) { $0.yaml() }
            }
        }
    }

    struct ProfileRemove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a profile no device uses.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Profile name.")
        var name: String

        func run() throws {
            try global.run { context in
                try context.inventory().write { try Profiles.remove($0, name: name, actor: context.actor) }
                Terminal.message("removed profile \(name)", settings: context.settings)
            }
        }
    }
}

// MARK: - Check

extension ProcureCommand {
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a device against a requirement profile through libvirt.",
            discussion: """
                Measures the device named by DEVICE (its stored libvirt URI) or by --connect: architecture, \
                CPUs, memory, free space in its storage pool, CPU virtualisation extensions, IOMMU, emulated \
                TPM 2.0, UEFI and Secure Boot firmware, and whether the required accelerator really boots a \
                guest (a probe boot of a few seconds; --no-probe trusts what libvirt advertises). Prints one \
                row per requirement; exits 0 when the device qualifies, 3 when it does not.
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "A device in the inventory (asset tag or serial); default: the --connect URI.")
        var device: String?
        @Option(help: "The profile to check against (default: the device's profile).")
        var profile: String?
        @Flag(name: .customLong("no-probe"), help: "Do not boot a probe guest: trust the accelerators libvirt advertises.")
        var noProbe = false

        func run() throws {
            try global.report(csv: true) { context in
                let inventory = try context.inventory()
                let target = try inventory.read {
                    try DeviceCheck.target($0, device: device, profile: profile, connect: global.connect,
                                           defaultURI: context.settings.connectURI)
                }
                let deviceTag = target.device
                let check = DeviceCheck(context: context, profile: target.profile, uri: target.uri, probe: !noProbe)
                let report = try check.run(device: deviceTag)
                if deviceTag != nil {
                    try inventory.write { try DeviceCheck.record($0, report, actor: context.actor) }
                }
                return Rendered(report, table: report.table, exitCode: report.qualifies ? 0 : LCMExitCode.checkFailed.rawValue) { report in
                    let failed = report.rows.filter { $0.status == .fail }.map(\.requirement)
                    let subject = deviceTag.map { "device \($0) (\(report.uri))" } ?? report.uri
                    return report.table.render(.text) + (report.qualifies
                        ? "\(subject) qualifies for profile \(report.profile).\n"
                        : "\(subject) does not qualify for profile \(report.profile): \(failed.joined(separator: ", ")).\n")
                }
            }
        }
    }
}

// MARK: - Asset intake

/// The purchase and asset data options shared by `add` and `update`.
struct AssetOptions: ParsableArguments {
    @Option(name: .customLong("asset-tag"), help: "Asset tag (unique).")
    var assetTag: String?
    @Option(help: "Manufacturer serial number (unique).")
    var serial: String?
    @Option(help: "Manufacturer, e.g. Lenovo.")
    var vendor: String?
    @Option(help: "Model, e.g. ThinkPad T14 Gen 5.")
    var model: String?
    @Option(name: .customLong("order-number"), help: "Purchase order number.")
    var orderNumber: String?
    @Option(name: .customLong("purchase-date"), help: ArgumentHelp("Purchase date.", valueName: "YYYY-MM-DD"))
    var purchaseDate: String?
    @Option(help: ArgumentHelp("Price, digits with a dot, e.g. 1249.90.", valueName: "amount"))
    var cost: String?
    @Option(help: ArgumentHelp("ISO 4217 currency of the cost, e.g. EUR.", valueName: "code"))
    var currency: String?
    @Option(help: "Who sold it.")
    var supplier: String?
    @Option(name: .customLong("warranty-months"), help: ArgumentHelp("Warranty length from the purchase date.", valueName: "months"))
    var warrantyMonths: String?
    @Option(help: "Requirement profile the device is bought against.")
    var profile: String?
    @Option(help: ArgumentHelp("The device's libvirt URI, e.g. qemu+ssh://root@pc-0042/system.", valueName: "uri"))
    var uri: String?
    @Option(help: "Free text.")
    var notes: String?

    /// (CSV column, value) for every option given.
    var changes: [(column: String, value: String)] {
        let all: [(String, String?)] = [("asset_tag", assetTag), ("serial", serial), ("vendor", vendor), ("model", model),
                                        ("order_number", orderNumber), ("purchase_date", purchaseDate), ("cost", cost),
                                        ("currency", currency), ("supplier", supplier), ("warranty_months", warrantyMonths),
                                        ("profile", profile), ("uri", uri), ("notes", notes)]
        return all.compactMap { column, value in value.map { (column, $0) } }
    }
}

extension ProcureCommand {
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take one device into the inventory with its purchase data.",
            discussion: "Asset tag and serial must both be unique. The device starts in stock unless --status ordered says it is not delivered yet.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var asset: AssetOptions
        @Option(help: "Starting status: ordered or \"in stock\" (default), or any other status when recording an existing fleet.")
        var status: String = "in stock"

        func validate() throws {
            if asset.assetTag == nil { throw ValidationError("--asset-tag is required") }
            if asset.serial == nil { throw ValidationError("--serial is required") }
        }

        func run() throws {
            try global.report(csv: true) { context in
                var input = AssetInput(assetTag: "", serial: "")
                for (column, value) in [("status", status)] + asset.changes {
                    if let problem = AssetFields.apply(column, value, to: &input) {
                        throw LCMError(.usage, "--\(column.replacingOccurrences(of: "_", with: "-")) \(problem)")
                    }
                }
                let inventory = try context.inventory()
                let device = try inventory.write { try AssetIntake.add($0, input, actor: context.actor) }
                return Announced(try InventoryQuery(inventory: inventory).show(.devices, key: device.assetTag),
                                 message: "added device \(device.assetTag) (\(device.status.rawValue))")
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import devices from a CSV file: all of them or, on any problem, none.",
            discussion: """
                The first line names the columns (any order; case, spaces, '-' and '_' do not matter). \
                Columns:
                \(AssetFields.columns.map { "  \($0.name)\($0.required ? " (required)" : ""): \($0.help)" }.joined(separator: "\n"))

                RFC 4180: fields with commas, quotes or line breaks are quoted, quotes doubled. UTF-8 \
                (a byte-order mark is fine), CRLF or LF, blank lines skipped. Every row is checked before \
                anything is written: a bad value, an unknown column, or an asset tag or serial that repeats \
                in the file or exists already makes the whole import fail (exit 65) with the line, the column \
                and the problem. `lcm procure export` writes the same format.
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The CSV file.")
        var file: String
        @Flag(name: .customLong("dry-run"), help: "Check the file and report problems without importing.")
        var dryRun = false

        func run() throws {
            try global.report { context in
                let inventory = try context.inventory()
                do {
                    let result = try AssetIntake.importCSV(inventory, file: URL(fileURLWithPath: file), dryRun: dryRun, actor: context.actor)
                    let verb = dryRun ? "checked" : "imported"
                    return Rendered(result, notes: [String(format: "%@ %d device(s) from %@ in %.2f s%@", verb, result.imported, file,
                                                           result.seconds, dryRun ? " (dry run: nothing written)" : "")]) { _ in "" }
                } catch let failure as AssetImportError {
                    // The error line names the first problem; the others follow (bounded) so one run
                    // fixes many, then the hint.
                    var also = failure.problems.dropFirst().prefix(20).map { "\($0)" }
                    if failure.problems.count > 21 || failure.truncated {
                        also.append("... \(failure.problems.count - 21)\(failure.truncated ? "+" : "") more")
                    }
                    Terminal.error(failure.error, also: also)
                    throw ExitCode(failure.error.code.rawValue)
                }
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write devices as CSV in the format `lcm procure import` reads.")

        @OptionGroup var global: GlobalOptions
        @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file instead of stdout.", valueName: "file"))
        var output: String?
        @Option(help: "Only devices with this status.")
        var status: String?

        func validate() throws {
            if let status, DeviceStatus(loose: status) == nil {
                throw ValidationError("--status '\(status)' is not one of: \(DeviceStatus.allNames)")
            }
        }

        func run() throws {
            try global.report(csv: true) { context in
                let csv = try context.inventory().read { try AssetIntake.exportCSV($0, status: status.flatMap(DeviceStatus.init(loose:))) }
                guard let output else { return PlainText(csv) }
                do {
                    try Data(csv.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
                } catch {
                    throw LCMError(.cannotWrite, "cannot write \(output): \(LCMError.reason(error))")
                }
                return nil
            }
        }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Correct or complete a device's asset data (an empty value clears a field).",
            discussion: "The status changes with `lcm procure move`, which enforces the allowed transitions.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The device: asset tag or serial.")
        var device: String
        @OptionGroup var asset: AssetOptions

        func run() throws {
            try global.report(csv: true) { context in
                let inventory = try context.inventory()
                let updated = try inventory.write { try AssetIntake.update($0, device: device, changes: asset.changes, actor: context.actor) }
                return Announced(try InventoryQuery(inventory: inventory).show(.devices, key: updated.assetTag),
                                 message: "updated device \(updated.assetTag)")
            }
        }
    }
}

// MARK: - Status, check-out, history

extension ProcureCommand {
    struct Move: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a device to another status.",
            discussion: """
                Allowed moves: ordered -> in stock, retired; in stock -> deployed, in repair, retired; \
                deployed -> in stock, in repair, retired; in repair -> in stock, deployed, retired; \
                retired -> disposed (needs --note saying how the disks were wiped); disposed is final. \
                A retired or disposed device hosts no live desktop and is checked out to nobody. \
                An illegal move exits 4 and lists the allowed ones.
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The device: asset tag or serial.")
        var device: String
        @Argument(help: "The new status: ordered, \"in stock\" (or in-stock), deployed, \"in repair\", retired, disposed.")
        var status: String
        @Option(help: "Why, or for disposal how the disks were wiped; kept in the device's history.")
        var note: String?

        func validate() throws {
            if DeviceStatus(loose: status) == nil {
                throw ValidationError("'\(status)' is not a status; use one of: \(DeviceStatus.allNames)")
            }
        }

        func run() throws {
            try global.report { context in
                let target = DeviceStatus(loose: status)!
                let (before, after) = try context.inventory().write { db -> (Device, Device) in
                    let found = try DeviceLifecycle.find(db, device)
                    return (found, try DeviceLifecycle.move(db, found, to: target, note: note, actor: context.actor))
                }
                struct Moved: Codable { var device: String; var from: String; var to: String }
                return Rendered(Moved(device: after.assetTag, from: before.status.rawValue, to: after.status.rawValue),
                                notes: [before.status == after.status ? "device \(after.assetTag) is already \(after.status.rawValue)"
                                                                      : "device \(after.assetTag): \(before.status.rawValue) -> \(after.status.rawValue)"]) { _ in "" }
            }
        }
    }

    struct CheckOut: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "checkout",
            abstract: "Hand a device to a user (a device in stock becomes deployed).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The device: asset tag or serial.")
        var device: String
        @Argument(help: "The user's username.")
        var user: String
        @Flag(name: .customLong("create-user"), help: "Add the user to the inventory if missing.")
        var createUser = false
        @Option(name: .customLong("full-name"), help: "With --create-user: the user's full name.")
        var fullName: String?
        @Option(help: "With --create-user: the user's e-mail address.")
        var email: String?

        func run() throws {
            try global.run { context in
                let tag = try context.inventory().write { db -> String in
                    let found = try DeviceLifecycle.find(db, device)
                    let person = try Assignments.user(db, username: user, create: createUser, fullName: fullName, email: email, actor: context.actor)
                    try Assignments.checkOut(db, kind: .device, objectID: found.id!, userID: person.id!, actor: context.actor)
                    return found.assetTag
                }
                Terminal.message("device \(tag) checked out to \(user)", settings: context.settings)
            }
        }
    }

    struct CheckIn: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "checkin",
            abstract: "Take a device back from its user (a deployed device goes back in stock).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The device: asset tag or serial.")
        var device: String
        @Flag(name: .customLong("keep-status"), help: "Leave the status as it is (e.g. to move it to repair next).")
        var keepStatus = false

        func run() throws {
            try global.run { context in
                let tag = try context.inventory().write { db -> String in
                    let found = try DeviceLifecycle.find(db, device)
                    try Assignments.checkIn(db, kind: .device, objectID: found.id!, keepStatus: keepStatus, actor: context.actor)
                    return found.assetTag
                }
                Terminal.message("device \(tag) checked in", settings: context.settings)
            }
        }
    }

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a device's status changes and check-outs, oldest first.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The device: asset tag or serial.")
        var device: String

        func run() throws {
            try global.report(csv: true) { context in
                try context.inventory().read { db in try DeviceLifecycle.timeline(db, device: try DeviceLifecycle.find(db, device)) }
            }
        }
    }
}

// MARK: - Licenses

/// Where a product key comes from: a file or stdin, never the command line (other users can read
/// process arguments).
struct KeyInput: ParsableArguments {
    @Option(name: .customLong("key-file"), help: ArgumentHelp("Read the product key from this file.", valueName: "file"))
    var keyFile: String?
    @Flag(name: .customLong("key-stdin"), help: "Read the product key from stdin.")
    var keyStdin = false
    @Option(name: .customLong("key"), help: .hidden)
    var keyArgument: String?

    func validate() throws {
        if keyArgument != nil {
            throw ValidationError("product keys are not taken as arguments (other users can see them); use --key-file FILE or --key-stdin")
        }
        if keyFile != nil && keyStdin { throw ValidationError("use either --key-file or --key-stdin") }
    }

    func read() throws -> String? {
        if let keyFile {
            return try Licenses.readKeyFile(keyFile)
        }
        if keyStdin {
            return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        }
        return nil
    }
}

extension ProcureCommand {
    struct License: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage license pools: product, sealed key, seats, expiry.",
            discussion: "Keys are sealed with AES-GCM under the master key in $LCM_HOME/keys/ and shown only with `license show --reveal-key`.",
            subcommands: [LicenseAdd.self, LicenseList.self, LicenseShow.self, LicenseSet.self, LicenseRemove.self])
    }

    struct LicenseAdd: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a license pool.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Pool name.")
        var pool: String
        @Option(help: "Product, e.g. \"Windows 11 Enterprise\".")
        var product: String
        @Option(help: "Edition or channel, e.g. MAK, KMS, retail.")
        var edition: String?
        @Option(help: "Number of seats.")
        var seats: Int
        @Option(help: ArgumentHelp("Last day the licenses are valid.", valueName: "YYYY-MM-DD"))
        var expires: String?
        @OptionGroup var key: KeyInput

        func run() throws {
            try global.run { context in
                let keyText = try key.read()
                let masterKey = try keyText.map { _ in try MasterKey.loadOrCreate(home: context.settings.home) }
                let inventory = try context.inventory()
                _ = try inventory.write {
                    try Licenses.addPool($0, name: pool, product: product, edition: edition, seats: seats, expires: expires,
                                         key: keyText, masterKey: masterKey, actor: context.actor)
                }
                Terminal.message("added license pool \(pool) (\(seats) seat(s)\(keyText == nil ? "" : ", key sealed"))", settings: context.settings)
            }
        }
    }

    struct LicenseList: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List license pools with use and expiry.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.report(csv: true) { context in try context.inventory().read { try ProcureReports.seats($0) } }
        }
    }

    struct LicenseShow: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a license pool and the desktops holding its seats.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Pool name.")
        var pool: String
        @Flag(name: .customLong("reveal-key"), help: "Print the product key in clear (audited).")
        var revealKey = false

        func run() throws {
            try global.report(csv: true) { context in
                let inventory = try context.inventory()
                let masterKey = revealKey ? try MasterKey.load(home: context.settings.home) : nil
                if revealKey && masterKey == nil {
                    throw LCMError.notFound("the master key \(MasterKey.path(home: context.settings.home).path)",
                                            hint: "no key was ever stored in this home, or the key file was lost")
                }
                // A write transaction: revealing the key records an audit event.
                let shown = try inventory.write { try Licenses.details($0, pool: pool, revealWith: masterKey, actor: context.actor) }
                var table = ReportTable(columns: ["pool", "product", "edition", "seats", "used", "free", "expires", "key", "holders"])
                let keyText = shown.key ?? (shown.keyStored ? "stored sealed (--reveal-key shows it)" : "none")
                table.rows = [[.text(shown.pool), .text(shown.product), shown.edition.map(ReportValue.text) ?? .null,
                               .integer(Int64(shown.seats)), .integer(Int64(shown.used)), .integer(Int64(shown.free)),
                               shown.expires.map(ReportValue.text) ?? .null, .text(keyText),
                               .text(shown.holders.map(\.desktop).joined(separator: ", "))]]
                return Rendered(shown, table: table) { [table] _ in RecordView(table, separated: false).text(quiet: false) }
            }
        }
    }

    struct LicenseSet: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Change a pool's seats, expiry, edition or key.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Pool name.")
        var pool: String
        @Option(help: "New number of seats (not below the seats in use).")
        var seats: Int?
        @Option(help: ArgumentHelp("New last valid day, or \"never\".", valueName: "YYYY-MM-DD"))
        var expires: String?
        @Option(help: "New edition.")
        var edition: String?
        @OptionGroup var key: KeyInput

        func run() throws {
            try global.run { context in
                let keyText = try key.read()
                let masterKey = try keyText.map { _ in try MasterKey.loadOrCreate(home: context.settings.home) }
                // --expires never clears the expiry (.some(nil)); no --expires leaves it (nil).
                var expiresValue: String?? = nil
                if let expires { expiresValue = .some(expires.lowercased() == "never" ? nil : expires) }
                _ = try context.inventory().write {
                    try Licenses.updatePool($0, name: pool, seats: seats, expires: expiresValue, edition: edition.map { .some($0) },
                                            key: keyText, masterKey: masterKey, actor: context.actor)
                }
                Terminal.message("updated license pool \(pool)", settings: context.settings)
            }
        }
    }

    struct LicenseRemove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a license pool with no seat in use.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Pool name.")
        var pool: String

        func run() throws {
            try global.run { context in
                try context.inventory().write { try Licenses.removePool($0, name: pool, actor: context.actor) }
                Terminal.message("removed license pool \(pool)", settings: context.settings)
            }
        }
    }
}

// MARK: - Reports

extension ProcureCommand {
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Procurement reports: warranty ending, devices by status, model or age, seats by pool.",
            subcommands: [Warranty.self, Status.self, Model.self, Age.self, Seats.self])

        struct Warranty: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Devices whose warranty ends within N days (retired and disposed left out).")
            @OptionGroup var global: GlobalOptions
            @Option(help: "Days from today.")
            var within: Int = 90
            @Flag(name: .customLong("include-expired"), help: "Also list devices already out of warranty.")
            var includeExpired = false

            func validate() throws {
                if within < 0 { throw ValidationError("--within must be 0 or more") }
            }

            func run() throws {
                try global.report(csv: true) { context in
                    try context.inventory().read { try ProcureReports.warranty($0, withinDays: within, includeExpired: includeExpired) }
                }
            }
        }

        struct Status: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Device count per status.")
            @OptionGroup var global: GlobalOptions
            func run() throws {
                try global.report(csv: true) { context in try context.inventory().read { try ProcureReports.byStatus($0) } }
            }
        }

        struct Model: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Device count per vendor and model, by status.")
            @OptionGroup var global: GlobalOptions
            func run() throws {
                try global.report(csv: true) { context in try context.inventory().read { try ProcureReports.byModel($0) } }
            }
        }

        struct Age: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Device count per age since purchase (retired and disposed left out).")
            @OptionGroup var global: GlobalOptions
            func run() throws {
                try global.report(csv: true) { context in try context.inventory().read { try ProcureReports.byAge($0) } }
            }
        }

        struct Seats: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Seats per license pool: size, use, expiry.")
            @OptionGroup var global: GlobalOptions
            func run() throws {
                try global.report(csv: true) { context in try context.inventory().read { try ProcureReports.seats($0) } }
            }
        }
    }
}
