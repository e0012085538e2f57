import Crypto
import Foundation
import GRDB

/// One problem found in an import file.
public struct AssetImportProblem: Sendable, Equatable, CustomStringConvertible {
    /// Physical line in the file (1-based).
    public var line: Int
    /// The column's canonical name (or the header text when the header itself is the problem).
    public var column: String?
    public var message: String

    public var description: String {
        "line \(line)" + (column.map { ", column \($0)" } ?? "") + ": " + message
    }
}

/// An import refused because of problems in the file. Nothing was imported. `error` is what users
/// see (the first problem, exit 65); `problems` lists them all (up to `AssetIntake.maxProblems`).
public struct AssetImportError: Error, Sendable {
    public var error: LCMError
    public var problems: [AssetImportProblem]
    /// True when more problems existed than were collected.
    public var truncated: Bool
}

/// What an import did.
public struct AssetImportResult: Codable, Sendable, Equatable {
    public var file: String
    public var sha256: String
    public var imported: Int
    public var seconds: Double
}

/// Taking devices into the inventory: one at a time (`lcm procure add`), from a CSV file
/// (`lcm procure import`, all or nothing), corrections (`lcm procure update`) and the CSV export
/// that round-trips with the import.
public enum AssetIntake {
    public static let maxProblems = 1000

    // MARK: - One device

    /// Adds one device. Duplicate asset tag or serial is a conflict; an unknown profile is not found.
    @discardableResult
    public static func add(_ db: Database, _ input: AssetInput, actor: AuditActor, now: Date = Date()) throws -> Device {
        if let (column, message) = AssetFields.crossCheck(input) {
            throw LCMError(.usage, "--\(column.replacingOccurrences(of: "_", with: "-")) \(message)")
        }
        try checkUnique(db, assetTag: input.assetTag, serial: input.serial, except: nil)
        let profileID = try input.profile.map { try Profiles.find(db, name: $0).id! }
        var device = Device(assetTag: input.assetTag, serial: input.serial, status: input.status, now: now)
        assign(input, profileID: profileID, to: &device)
        try device.insert(db)
        try DeviceLifecycle.recordChange(db, deviceID: device.id!, from: nil, to: device.status, note: "added", actor: actor, now: now)
        try AuditLog.record(db, actor: actor, objectKind: "device", objectID: device.assetTag, action: "add",
                            details: details(input))
        return device
    }

    /// Changes a device's asset data (not its status: that goes through `DeviceLifecycle.move`).
    /// `changes` maps CSV column names to new values; an empty value clears the field.
    @discardableResult
    public static func update(_ db: Database, device key: String, changes: [(column: String, value: String)],
                              actor: AuditActor, now: Date = Date()) throws -> Device {
        var device = try DeviceLifecycle.find(db, key)
        guard !changes.isEmpty else { throw LCMError(.usage, "nothing to change", hint: "pass the fields to change, e.g. --uri or --notes") }
        var input = try currentInput(db, device)
        var details: [String: String] = [:]
        for (column, value) in changes {
            guard column != "status" else {
                throw LCMError(.usage, "the status changes with `lcm procure move`, which checks the allowed transitions")
            }
            if let problem = AssetFields.apply(column, value, to: &input) {
                throw LCMError(.usage, "--\(column.replacingOccurrences(of: "_", with: "-")) \(problem)")
            }
            details[column] = value
        }
        if let (column, message) = AssetFields.crossCheck(input) {
            throw LCMError(.usage, "--\(column.replacingOccurrences(of: "_", with: "-")) \(message)")
        }
        try checkUnique(db, assetTag: input.assetTag, serial: input.serial, except: device.id)
        let profileID = try input.profile.map { try Profiles.find(db, name: $0).id! }
        assign(input, profileID: profileID, to: &device)
        device.updatedAt = now
        try device.update(db)
        try AuditLog.record(db, actor: actor, objectKind: "device", objectID: device.assetTag, action: "update", details: details)
        return device
    }

    static func checkUnique(_ db: Database, assetTag: String, serial: String, except: Int64?) throws {
        let clash = try Row.fetchOne(db, sql: """
            SELECT assetTag, serial FROM device WHERE (assetTag = ? OR serial = ?) AND id IS NOT ? LIMIT 1
            """, arguments: [assetTag, serial, except])
        if let clash {
            let tag: String = clash["assetTag"], existingSerial: String = clash["serial"]
            let what = tag == assetTag ? "asset tag \(assetTag)" : "serial \(serial)"
            throw LCMError(.conflict, "\(what) already exists in the inventory (device \(tag), serial \(existingSerial))",
                           hint: "asset tags and serials are unique; `lcm inventory show devices \(tag)` shows the device")
        }
    }

    static func assign(_ input: AssetInput, profileID: Int64?, to device: inout Device) {
        device.assetTag = input.assetTag; device.serial = input.serial
        device.vendor = input.vendor; device.model = input.model; device.orderNumber = input.orderNumber
        device.purchaseDate = input.purchaseDate; device.costCents = input.costCents; device.currency = input.currency
        device.supplier = input.supplier; device.warrantyMonths = input.warrantyMonths; device.profileID = profileID
        device.libvirtURI = input.libvirtURI; device.notes = input.notes
    }

    static func currentInput(_ db: Database, _ device: Device) throws -> AssetInput {
        var input = AssetInput(assetTag: device.assetTag, serial: device.serial, status: device.status)
        input.vendor = device.vendor; input.model = device.model; input.orderNumber = device.orderNumber
        input.purchaseDate = device.purchaseDate; input.costCents = device.costCents; input.currency = device.currency
        input.supplier = device.supplier; input.warrantyMonths = device.warrantyMonths
        input.profile = try device.profileID.flatMap { try String.fetchOne(db, sql: "SELECT name FROM profile WHERE id = ?", arguments: [$0]) }
        input.libvirtURI = device.libvirtURI; input.notes = device.notes
        return input
    }

    static func details(_ input: AssetInput) -> [String: String] {
        var d = ["serial": input.serial, "status": input.status.rawValue]
        if let v = input.vendor { d["vendor"] = v }
        if let v = input.model { d["model"] = v }
        if let v = input.orderNumber { d["order_number"] = v }
        if let v = input.purchaseDate { d["purchase_date"] = v }
        if let v = input.costCents { d["cost"] = AssetFields.formatCents(v) + (input.currency.map { " \($0)" } ?? "") }
        if let v = input.supplier { d["supplier"] = v }
        if let v = input.warrantyMonths { d["warranty_months"] = String(v) }
        if let v = input.profile { d["profile"] = v }
        if let v = input.libvirtURI { d["uri"] = v }
        return d
    }

    // MARK: - CSV import

    /// A file checked and ready to insert: the devices and the lines they came from.
    struct ValidatedFile {
        var inputs: [AssetInput] = []
        var lines: [Int] = []
        var profileIDs: [Int64?] = []
    }

    /// Imports every device of a CSV file in one transaction, or none: all rows are checked first
    /// (syntax, columns, values, duplicates in the file and against the inventory) and any problem
    /// throws `AssetImportError` with nothing written. `dryRun` checks without writing.
    public static func importCSV(_ inventory: Inventory, file: URL, dryRun: Bool = false, actor: AuditActor,
                                 now: Date = Date()) throws -> AssetImportResult {
        let started = Date()
        let data = try InputFile(file.path, what: "CSV file").contents(limit: InputFile.csvLimit)
        let name = file.lastPathComponent
        let records: [CSVRecord]
        do {
            records = try CSVReader.parse(data)
        } catch let error as CSVSyntaxError {
            throw failure(name, [AssetImportProblem(line: error.line, column: error.field.map { "#\($0)" }, message: error.message)], truncated: false)
        }
        let header = try headerColumns(records.first, file: name)
        let digest = sha256Hex(data)
        if dryRun {
            let count = try inventory.read { try validate($0, records: records.dropFirst(), header: header, file: name).inputs.count }
            return AssetImportResult(file: file.path, sha256: digest, imported: count, seconds: Date().timeIntervalSince(started))
        }
        let count = try inventory.write { db -> Int in
            let validated = try validate(db, records: records.dropFirst(), header: header, file: name)
            try insert(db, validated, file: name, actor: actor, now: now)
            try AuditLog.record(db, actor: actor, objectKind: "import", objectID: name, action: "import",
                                details: ["file": file.path, "sha256": digest, "devices": String(validated.inputs.count)])
            return validated.inputs.count
        }
        return AssetImportResult(file: file.path, sha256: digest, imported: count, seconds: Date().timeIntervalSince(started))
    }

    static func failure(_ file: String, _ problems: [AssetImportProblem], truncated: Bool) -> AssetImportError {
        let first = problems[0]
        let more = problems.count > 1 ? " (and \(problems.count - 1)\(truncated ? "+" : "") more problem\(problems.count > 2 ? "s" : ""))" : ""
        let error = LCMError(.dataError, "\(file) \(first)\(more)",
                             hint: "nothing was imported; fix the file and import it again (`lcm procure import --help` lists the columns)")
        return AssetImportError(error: error, problems: problems, truncated: truncated)
    }

    /// Maps the header to canonical columns: unknown, repeated and missing required columns are errors.
    static func headerColumns(_ record: CSVRecord?, file: String) throws -> [String] {
        guard let record else {
            throw failure(file, [AssetImportProblem(line: 1, column: nil, message: "the file is empty; the first line must name the columns, e.g. asset_tag,serial,vendor,model")], truncated: false)
        }
        var problems: [AssetImportProblem] = []
        var columns: [String] = []
        var seen: [String: String] = [:]
        for header in record.fields {
            guard let column = AssetFields.column(forHeader: header) else {
                problems.append(AssetImportProblem(line: record.line, column: header,
                                                   message: "unknown column '\(header)'; known columns: \(AssetFields.columns.map(\.name).joined(separator: ", "))"))
                columns.append("")
                continue
            }
            if let earlier = seen[column] {
                problems.append(AssetImportProblem(line: record.line, column: column, message: "appears twice in the header (as '\(earlier)' and '\(header)')"))
            }
            seen[column] = header
            columns.append(column)
        }
        for required in AssetFields.columns where required.required && seen[required.name] == nil {
            problems.append(AssetImportProblem(line: record.line, column: required.name, message: "required column is missing from the header"))
        }
        if !problems.isEmpty { throw failure(file, problems, truncated: false) }
        return columns
    }

    static func validate(_ db: Database, records: ArraySlice<CSVRecord>, header: [String], file: String) throws -> ValidatedFile {
        var profiles: [String: Int64] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT id, name FROM profile") { profiles[row["name"]] = row["id"] }
        var existingTags = Set<String>(), existingSerials = Set<String>()
        let existing = try Row.fetchCursor(db, sql: "SELECT assetTag, serial FROM device")
        while let row = try existing.next() {
            existingTags.insert(row[0]); existingSerials.insert(row[1])
        }

        // headerColumns only returns known column names.
        let fields = header.map { AssetFields.Field(rawValue: $0)! }
        var result = ValidatedFile()
        result.inputs.reserveCapacity(records.count)
        var problems: [AssetImportProblem] = []
        var truncated = false
        var tagLines: [String: Int] = [:], serialLines: [String: Int] = [:]
        tagLines.reserveCapacity(records.count); serialLines.reserveCapacity(records.count)
        func report(_ line: Int, _ column: String?, _ message: String) {
            if problems.count < maxProblems { problems.append(AssetImportProblem(line: line, column: column, message: message)) } else { truncated = true }
        }

        for record in records {
            // Spreadsheets export empty rows as ",,,,": treat them like blank lines.
            if AssetFields.isBlank(record.fields) { continue }
            guard record.fields.count == header.count else {
                report(record.line, nil, "has \(record.fields.count) field\(record.fields.count == 1 ? "" : "s"), the header has \(header.count); quote fields that contain commas")
                continue
            }
            var input = AssetInput(assetTag: "", serial: "")
            var rowOK = true
            for (index, value) in record.fields.enumerated() {
                if let problem = AssetFields.apply(fields[index], value, to: &input) {
                    report(record.line, header[index], problem); rowOK = false
                }
            }
            if let (column, message) = AssetFields.crossCheck(input) { report(record.line, column, message); rowOK = false }
            var profileID: Int64?
            if let profile = input.profile {
                if let id = profiles[profile] { profileID = id } else {
                    report(record.line, "profile", "'\(profile)' is not a known profile; add it first with `lcm procure profile add`"); rowOK = false
                }
            }
            if !input.assetTag.isEmpty {
                if let first = tagLines[input.assetTag] {
                    report(record.line, "asset_tag", "duplicate asset tag \(input.assetTag) (also on line \(first))"); rowOK = false
                } else {
                    tagLines[input.assetTag] = record.line
                    if existingTags.contains(input.assetTag) {
                        report(record.line, "asset_tag", "asset tag \(input.assetTag) already exists in the inventory"); rowOK = false
                    }
                }
            }
            if !input.serial.isEmpty {
                if let first = serialLines[input.serial] {
                    report(record.line, "serial", "duplicate serial \(input.serial) (also on line \(first))"); rowOK = false
                } else {
                    serialLines[input.serial] = record.line
                    if existingSerials.contains(input.serial) {
                        report(record.line, "serial", "serial \(input.serial) already exists in the inventory"); rowOK = false
                    }
                }
            }
            if rowOK && problems.isEmpty {
                result.inputs.append(input); result.lines.append(record.line); result.profileIDs.append(profileID)
            }
        }
        if !problems.isEmpty { throw failure(file, problems, truncated: truncated) }
        return result
    }

    /// Inserts validated devices with prepared statements: one device row, its first status-history
    /// row and its audit event each.
    static func insert(_ db: Database, _ file: ValidatedFile, file name: String, actor: AuditActor, now: Date) throws {
        let device = try db.makeStatement(sql: """
            INSERT INTO device (assetTag, serial, vendor, model, orderNumber, purchaseDate, costCents, currency, supplier,
                                warrantyMonths, profileID, libvirtURI, status, userID, notes, createdAt, updatedAt)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)
            """)
        let history = try db.makeStatement(sql: """
            INSERT INTO deviceStatusChange (deviceID, fromStatus, toStatus, changedAt, osUser, note) VALUES (?, NULL, ?, ?, ?, ?)
            """)
        let event = try db.makeStatement(sql: """
            INSERT INTO event (time, osUser, pid, command, objectKind, objectID, action, outcome, details)
            VALUES (?, ?, ?, ?, 'device', ?, 'add', 'ok', ?)
            """)
        let time = now.databaseValue
        let osUser = actor.osUser.databaseValue, pid = Int64(actor.pid).databaseValue, command = actor.command.databaseValue
        let note = "imported from \(name)".databaseValue
        // Same shape as AuditLog.record's details (sorted keys, no spaces).
        let fileJSON = JSONText.string(name)
        for (index, input) in file.inputs.enumerated() {
            device.setUncheckedArguments([
                input.assetTag, input.serial, input.vendor, input.model, input.orderNumber, input.purchaseDate,
                input.costCents, input.currency, input.supplier, input.warrantyMonths, file.profileIDs[index],
                input.libvirtURI, input.status.rawValue, input.notes, time, time,
            ])
            try device.execute()
            let id = db.lastInsertedRowID
            history.setUncheckedArguments([id, input.status.rawValue, time, osUser, note])
            try history.execute()
            event.setUncheckedArguments([time, osUser, pid, command, input.assetTag,
                                         "{\"file\":\(fileJSON),\"line\":\"\(file.lines[index])\",\"status\":\(JSONText.string(input.status.rawValue))}"])
            try event.execute()
        }
    }

    // MARK: - CSV export

    /// All devices (optionally of one status) in the import format, ordered by asset tag.
    public static func exportCSV(_ db: Database, status: DeviceStatus? = nil) throws -> String {
        var writer = CSVWriter(reserving: 1 << 16)
        writer.append(AssetFields.columns.map(\.name))
        var sql = "SELECT d.*, p.name AS profileName FROM device d LEFT JOIN profile p ON p.id = d.profileID"
        var arguments: StatementArguments = []
        if let status { sql += " WHERE d.status = ?"; arguments = [status.rawValue] }
        sql += " ORDER BY d.assetTag"
        let cursor = try Row.fetchCursor(db, sql: sql, arguments: arguments)
        while let row = try cursor.next() {
            let device = try Device(row: row)
            writer.append(AssetFields.exportFields(device, profile: row["profileName"]))
        }
        return writer.text
    }

    static func sha256Hex(_ data: Data) -> String {
        SHA256.hash(data: data).hexString
    }
}
