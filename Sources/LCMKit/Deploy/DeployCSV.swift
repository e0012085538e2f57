import Foundation

/// Reads a fleet deployment file: one desktop per row, a header naming the columns.
///
///     device,user,desktop,image,os_disk,data_disk,vcpus,memory,computer_name,time_zone,organization,license_pool,migrate_archive
///
/// Only `device` is required; `image` may come from `--image` for every row. A file that is not
/// valid CSV, or has unknown or repeated columns, is refused whole (nothing is deployed); a bad
/// value fails only its row.
public enum DeployCSV {
    public static let columns = ["device", "user", "desktop", "image", "os_disk", "data_disk", "vcpus", "memory",
                                 "computer_name", "time_zone", "organization", "license_pool", "migrate_archive"]

    /// Requests (or a row's problem) in file order.
    public static func read(_ path: String, defaultImage: String?) throws -> [Result<DeployRequest, LCMError>] {
        let data = try InputFile(path, what: "deployment CSV file").contents(limit: InputFile.csvLimit)
        let records: [CSVRecord]
        do {
            records = try CSVReader.parse(data)
        } catch let error as CSVSyntaxError {
            throw LCMError(.dataError, "\(path) line \(error.line): \(error.message)", hint: "fix the CSV; nothing was deployed")
        }
        guard let header = records.first else { throw LCMError(.dataError, "\(path) is empty", hint: "the first line names the columns") }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased().replacingOccurrences(of: "\u{FEFF}", with: "") }
        for (index, name) in names.enumerated() {
            guard columns.contains(name) else {
                throw LCMError(.dataError, "\(path): unknown column '\(name)'", hint: "columns: \(columns.joined(separator: ", "))")
            }
            if names[..<index].contains(name) { throw LCMError(.dataError, "\(path): column '\(name)' appears twice") }
        }
        guard names.contains("device") else { throw LCMError(.dataError, "\(path): the 'device' column is missing") }
        if !names.contains("image") && defaultImage == nil {
            throw LCMError(.usage, "\(path) has no 'image' column", hint: "add one, or give --image for every row")
        }
        return records.dropFirst().filter { !$0.fields.allSatisfy { $0.trimmingCharacters(in: .whitespaces).isEmpty } }.map { record in
            Result { try request(record, names: names, defaultImage: defaultImage, path: path) }.mapError { error in
                (error as? LCMError) ?? LCMError(.dataError, "\(error)")
            }
        }
    }

    static func request(_ record: CSVRecord, names: [String], defaultImage: String?, path: String) throws -> DeployRequest {
        var values: [String: String] = [:]
        for (index, field) in record.fields.enumerated() where index < names.count {
            let value = field.trimmingCharacters(in: .whitespaces)
            if !value.isEmpty { values[names[index]] = value }
        }
        let origin = "\(path) line \(record.line)"
        guard record.fields.count <= names.count else { throw LCMError(.dataError, "\(origin): more fields than columns") }
        guard let device = values["device"] else { throw LCMError(.dataError, "\(origin): no device") }
        guard let image = values["image"] ?? defaultImage else { throw LCMError(.dataError, "\(origin): no image") }
        func size(_ column: String) throws -> UInt64? {
            guard let text = values[column] else { return nil }
            guard let bytes = ByteSize.parse(text) else {
                throw LCMError(.dataError, "\(origin): \(column) '\(text)' is not a size", hint: "write e.g. 64GiB or 512MiB")
            }
            return bytes
        }
        var request = DeployRequest(desktop: values["desktop"], device: device, user: values["user"], image: image)
        request.osDiskBytes = try size("os_disk")
        request.dataDiskBytes = try size("data_disk")
        request.memoryBytes = try size("memory")
        if let text = values["vcpus"] {
            guard let vcpus = Int(text), vcpus >= 1 else { throw LCMError(.dataError, "\(origin): vcpus '\(text)' is not a positive number") }
            request.vcpus = vcpus
        }
        request.computerName = values["computer_name"]
        request.timeZone = values["time_zone"]
        request.organization = values["organization"]
        request.licensePool = values["license_pool"]
        request.migrateArchive = values["migrate_archive"]
        request.origin = origin
        return request
    }
}
