import ArgumentParser
import Foundation
import LCMKit

struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Deploy desktops on devices from a golden image, or remove one (--undo).",
        discussion: """
            Each desktop gets an OS layer (a qcow2 overlay on the golden version, which is uploaded once per \
            device host through a libvirt stream and checked by SHA-256) and a separate user-data disk, both \
            LUKS-encrypted under the desktop's own key unless --no-encrypt; a UEFI q35 domain with Secure Boot \
            (Microsoft's keys enrolled; a device whose firmware cannot do it is refused unless --no-secure-boot) \
            and a TPM 2.0 whose state is encrypted under the same key; and is personalized offline before its first boot \
            (computer name, owner, time zone, optional offline domain join and user data). All desktops of a \
            run are personalized in as few appliance launches as possible. One desktop's failure does not \
            stop the others; rerunning completes only what is missing. Each desktop is locked for the whole \
            run: a second run on it waits up to 60 seconds, then finds it deployed or gives up busy (75). \
            Exit codes: 0 all deployed or already there, 2 some failed (the others are deployed), or the \
            failing desktop's code when there is one.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("Golden image: NAME, NAME:VERSION or NAME@VERSION.", valueName: "ref"))
    var image: String?
    @Option(help: ArgumentHelp("Device (asset tag or serial) to deploy on.", valueName: "tag"))
    var device: String?
    @Option(name: .customLong("device-status"), help: ArgumentHelp("Deploy one desktop on every device with this status (e.g. \"in stock\").", valueName: "status"))
    var deviceStatus: String?
    @Option(help: ArgumentHelp("User the desktop is checked out to.", valueName: "username"))
    var user: String?
    @Option(help: ArgumentHelp("Desktop name (default: DEVICE-USER).", valueName: "name"))
    var name: String?
    @Option(name: .customLong("from-csv"), help: ArgumentHelp("Deploy every row of this file (columns: \(DeployCSV.columns.joined(separator: ","))).", valueName: "file"))
    var fromCSV: String?

    @Option(name: .customLong("computer-name"), help: ArgumentHelp("Windows computer name (default: the desktop name, upper case).", valueName: "name"))
    var computerName: String?
    @Option(name: .customLong("time-zone"), help: ArgumentHelp("Windows time zone ID, e.g. \"W. Europe Standard Time\" (default: UTC).", valueName: "id"))
    var timeZone: String?
    @Option(help: ArgumentHelp("Registered organization.", valueName: "text"))
    var organization: String?
    @Option(name: .customLong("license-pool"), help: ArgumentHelp("Take a seat from this license pool.", valueName: "pool"))
    var licensePool: String?
    @Option(help: ArgumentHelp("Migrate the user's old data from this tar or zip onto the user-data disk.", valueName: "archive"))
    var migrate: String?
    @Option(name: .customLong("join-blob"), help: ArgumentHelp("Offline domain join: the file `djoin /provision /savefile` wrote (read, never stored or logged).", valueName: "file"))
    var joinBlob: String?

    @Option(help: ArgumentHelp("vCPUs (default: the device's profile).", valueName: "n"))
    var vcpus: Int?
    @Option(help: ArgumentHelp("Memory, e.g. 4GiB (default: the device's profile).", valueName: "size"))
    var memory: String?
    @Option(name: .customLong("os-disk"), help: ArgumentHelp("OS layer size, at least the image's (default: the profile's, raised to the image's).", valueName: "size"))
    var osDisk: String?
    @Option(name: .customLong("data-disk"), help: ArgumentHelp("User-data disk size (default: the profile).", valueName: "size"))
    var dataDisk: String?
    @Option(help: ArgumentHelp("libvirt network for the desktop's NIC.", valueName: "name"))
    var network = "default"
    @Option(help: ArgumentHelp("Storage pool on the device for the golden image and the desktop's volumes (default: lcm's own, made when missing).", valueName: "name"))
    var pool = DeviceStoragePool.name

    @Flag(name: .customLong("no-encrypt"), help: "Do not encrypt the volumes (recorded).")
    var noEncrypt = false
    @Flag(name: .customLong("no-secure-boot"), help: "Boot without UEFI Secure Boot, e.g. on a device whose firmware cannot do it (recorded).")
    var noSecureBoot = false
    @Flag(name: .customLong("allow-ungeneralized"), help: "Deploy an image that was not generalized (clones share SID and update IDs; recorded).")
    var allowUngeneralized = false
    @Flag(name: .customLong("no-start"), help: "Define the desktop but do not start it.")
    var noStart = false

    @Option(help: ArgumentHelp("Remove this desktop completely: domain, volumes, NVRAM, TPM state, key, seat, records.", valueName: "desktop"))
    var undo: String?
    @Flag(name: .customLong("discard-user-data"), help: "With --undo: confirm that the desktop's user data may be destroyed.")
    var discardUserData = false

    func validate() throws {
        if undo != nil {
            if image != nil || device != nil || fromCSV != nil || deviceStatus != nil {
                throw ValidationError("--undo takes only the desktop name (and --discard-user-data)")
            }
            return
        }
        let sources = [device != nil, fromCSV != nil, deviceStatus != nil].filter { $0 }.count
        if sources != 1 { throw ValidationError("give exactly one of --device, --from-csv or --device-status") }
        if fromCSV == nil && image == nil { throw ValidationError("--image is required (except with --from-csv rows naming one)") }
        if (fromCSV != nil || deviceStatus != nil) && name != nil { throw ValidationError("--name names one desktop: use a CSV's desktop column for several") }
        if let vcpus, vcpus < 1 { throw ValidationError("--vcpus must be at least 1") }
    }

    func run() throws {
        try global.report { context in
            let inventory = try context.inventory()
            if let undo {
                let report = try DesktopRemoval(context: context).remove(undo, discardUserData: discardUserData, reason: "deploy --undo")
                return Rendered(report, notes: report.notes.map { "note: \($0)" }) { report in
                    "removed \(report.desktop): domain \(report.domain ?? "none"), volumes \(report.volumes.isEmpty ? "none" : report.volumes.joined(separator: ", ")), \(report.keyCopiesDestroyed) key copies destroyed, \(report.seatsReleased) seat(s) released\n"
                }
            }
            var options = DeployOptions()
            options.encrypt = !noEncrypt
            options.allowUngeneralized = allowUngeneralized
            options.secureBoot = !noSecureBoot
            options.start = !noStart
            options.network = network
            options.pool = pool
            if let joinBlob { options.joinBlob = try JoinBlobFile.read(joinBlob) }
            // Failed desktops also go to stderr (the result's problems), where scripts and cron mail look for them.
            return try Deployer(context: context, options: options).run(rows: try requests(inventory))
        }
    }

    func requests(_ inventory: Inventory) throws -> [Result<DeployRequest, LCMError>] {
        if let fromCSV {
            return try DeployCSV.read(fromCSV, defaultImage: image).map { row in
                row.map { request in
                    var request = request
                    request.timeZone = request.timeZone ?? timeZone
                    request.licensePool = request.licensePool ?? licensePool
                    request.organization = request.organization ?? organization
                    return request
                }
            }
        }
        let devices: [String]
        if let deviceStatus {
            guard let status = DeviceStatus(rawValue: deviceStatus) else {
                throw LCMError(.usage, "unknown device status '\(deviceStatus)'",
                               hint: "one of: \(DeviceStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            devices = try inventory.read { db in try DeviceLifecycle.tags(db, status: status) }
            if devices.isEmpty { throw LCMError.notFound("devices with status '\(deviceStatus)'") }
        } else {
            devices = [device!]
        }
        return try devices.map { tag in
            var request = DeployRequest(desktop: name, device: tag, user: user, image: image!)
            request.computerName = computerName
            request.timeZone = timeZone
            request.organization = organization
            request.licensePool = licensePool
            request.migrateArchive = migrate
            request.vcpus = vcpus
            request.memoryBytes = try memory.map { try Self.size($0, "--memory") }
            request.osDiskBytes = try osDisk.map { try Self.size($0, "--os-disk") }
            request.dataDiskBytes = try dataDisk.map { try Self.size($0, "--data-disk") }
            return .success(request)
        }
    }

    static func size(_ text: String, _ option: String) throws -> UInt64 {
        guard let bytes = ByteSize.parse(text) else {
            throw LCMError(.usage, "\(option) '\(text)' is not a size", hint: "write e.g. 64GiB or 512MiB")
        }
        return bytes
    }
}
