import Foundation

/// The purchase and asset data of a device, as admins give it (command options or CSV columns),
/// and the one validator both use, so `lcm procure add` and `lcm procure import` accept exactly the
/// same values and report problems the same way.
public struct AssetInput: Sendable, Equatable {
    public var assetTag: String
    public var serial: String
    public var status: DeviceStatus
    public var vendor: String?
    public var model: String?
    public var orderNumber: String?
    /// YYYY-MM-DD.
    public var purchaseDate: String?
    public var costCents: Int64?
    /// ISO 4217 code, upper case.
    public var currency: String?
    public var supplier: String?
    public var warrantyMonths: Int?
    /// Profile name (resolved to an id when stored).
    public var profile: String?
    public var libvirtURI: String?
    public var notes: String?

    public init(assetTag: String, serial: String, status: DeviceStatus = .inStock) {
        self.assetTag = assetTag; self.serial = serial; self.status = status
    }
}

/// The CSV columns of `lcm procure import` / `export`, their meaning and validation.
public enum AssetFields {
    /// One column of the device CSV.
    public struct Column: Sendable {
        public var name: String
        public var required: Bool
        public var help: String
        /// Other header spellings accepted on import (compared without case, spaces, '-' or '_').
        public var aliases: [String]
    }

    /// In export order.
    public static let columns: [Column] = [
        Column(name: "asset_tag", required: true, help: "unique asset tag (up to 64 characters)", aliases: ["tag", "asset"]),
        Column(name: "serial", required: true, help: "unique manufacturer serial number", aliases: ["serial_number", "sn"]),
        Column(name: "status", required: false, help: "ordered, in stock, deployed, in repair, retired or disposed (default: in stock)", aliases: []),
        Column(name: "vendor", required: false, help: "manufacturer, e.g. Lenovo", aliases: ["manufacturer", "make"]),
        Column(name: "model", required: false, help: "model name, e.g. ThinkPad T14 Gen 5", aliases: []),
        Column(name: "order_number", required: false, help: "purchase order number", aliases: ["order", "po", "po_number"]),
        Column(name: "purchase_date", required: false, help: "YYYY-MM-DD", aliases: ["purchased", "date"]),
        Column(name: "cost", required: false, help: "price as a decimal number with a dot and at most 2 decimals, e.g. 1249.90", aliases: ["price"]),
        Column(name: "currency", required: false, help: "ISO 4217 code, e.g. EUR (required when cost is given)", aliases: []),
        Column(name: "supplier", required: false, help: "who sold it", aliases: ["reseller", "seller"]),
        Column(name: "warranty_months", required: false, help: "warranty length in months from the purchase date (0-240)", aliases: ["warranty"]),
        Column(name: "profile", required: false, help: "name of an existing requirement profile", aliases: []),
        Column(name: "uri", required: false, help: "the device's libvirt URI, e.g. qemu+ssh://root@pc-0042/system", aliases: ["libvirt_uri", "connect"]),
        Column(name: "notes", required: false, help: "free text", aliases: ["note", "comment", "comments"]),
    ]

    /// Header key: lower case without spaces, '-' or '_' ("Asset Tag", "asset-tag", "asset_tag" alike).
    static func key(_ header: String) -> String {
        String(header.lowercased().unicodeScalars.filter { !" -_\t".unicodeScalars.contains($0) }.map(Character.init))
    }

    /// The canonical column a header names, or nil.
    public static func column(forHeader header: String) -> String? {
        let k = key(header.trimmingCharacters(in: .whitespaces))
        for column in columns where key(column.name) == k || column.aliases.contains(where: { key($0) == k }) {
            return column.name
        }
        return nil
    }

    /// A column, resolved once per file so each of 100,000 rows does not compare column names.
    enum Field: String, CaseIterable {
        case assetTag = "asset_tag", serial, status, vendor, model, orderNumber = "order_number"
        case purchaseDate = "purchase_date", cost, currency, supplier, warrantyMonths = "warranty_months"
        case profile, uri, notes
    }

    /// Validates one field and stores it into `input`; on a problem, returns a message saying what
    /// is wrong and what to write instead.
    public static func apply(_ column: String, _ raw: String, to input: inout AssetInput) -> String? {
        guard let field = Field(rawValue: column) else { return "is not a known column" }
        return apply(field, raw, to: &input)
    }

    // The checks below work on UTF-8 bytes rather than Foundation's string functions: an import
    // runs them 1.4 million times for 100,000 devices.
    static func apply(_ field: Field, _ raw: String, to input: inout AssetInput) -> String? {
        let value = trimmed(raw)
        func text(_ max: Int) -> (String?, String?) {
            if value.isEmpty { return (nil, nil) }
            if value.utf8.count > max && value.count > max { return (nil, "is longer than \(max) characters") }
            return (value, nil)
        }
        switch field {
        case .assetTag, .serial:
            if value.isEmpty { return "is empty; every device needs an asset tag and a serial" }
            if value.utf8.count > 64 && value.count > 64 { return "'\(value.prefix(20))...' is longer than 64 characters" }
            if hasControlCharacter(value) { return "contains a control character (a line break?)" }
            if field == .assetTag { input.assetTag = value } else { input.serial = value }
        case .status:
            if value.isEmpty { input.status = .inStock; return nil }
            guard let status = DeviceStatus(rawValue: value) ?? DeviceStatus(loose: value) else {
                return "'\(value)' is not a status; use one of: \(DeviceStatus.allNames)"
            }
            input.status = status
        case .vendor: let (v, e) = text(128); input.vendor = v; return e
        case .model: let (v, e) = text(128); input.model = v; return e
        case .orderNumber: let (v, e) = text(128); input.orderNumber = v; return e
        case .supplier: let (v, e) = text(128); input.supplier = v; return e
        case .purchaseDate:
            if value.isEmpty { input.purchaseDate = nil; return nil }
            guard isValidDate(value) else { return "'\(value)' is not a date; use YYYY-MM-DD, e.g. 2026-03-31" }
            input.purchaseDate = value
        case .cost:
            if value.isEmpty { input.costCents = nil; return nil }
            guard let cents = parseCents(value) else {
                return "'\(value)' is not an amount; write digits with a dot and at most 2 decimals, e.g. 1249.90 (no currency sign or thousands separator)"
            }
            input.costCents = cents
        case .currency:
            if value.isEmpty { input.currency = nil; return nil }
            guard value.utf8.count == 3, value.utf8.allSatisfy({ (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else {
                return "'\(value)' is not a currency code; use ISO 4217, e.g. EUR, USD, CHF"
            }
            input.currency = value.utf8.allSatisfy({ (0x41...0x5A).contains($0) }) ? value : value.uppercased()
        case .warrantyMonths:
            if value.isEmpty { input.warrantyMonths = nil; return nil }
            guard value.utf8.count <= 3, value.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let months = Int(value), months <= 240 else {
                return "'\(value)' is not a number of months between 0 and 240"
            }
            input.warrantyMonths = months
        case .profile:
            input.profile = value.isEmpty ? nil : value
        case .uri:
            if value.isEmpty { input.libvirtURI = nil; return nil }
            guard isPlausibleLibvirtURI(value) else {
                return "'\(value)' is not a libvirt URI; write e.g. qemu:///system or qemu+ssh://root@host/system"
            }
            input.libvirtURI = value
        case .notes:
            // Notes keep their inner line breaks; only the ends are trimmed.
            let notes = trimmed(raw, newlines: true)
            if notes.utf8.count > 4096 && notes.count > 4096 { return "is longer than 4096 characters" }
            input.notes = notes.isEmpty ? nil : notes
        }
        return nil
    }

    /// Removes spaces and tabs (and with `newlines`, CR and LF) at both ends; the string itself
    /// when there is nothing to remove.
    static func trimmed(_ text: String, newlines: Bool = false) -> String {
        let u = text.utf8
        func blank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || (newlines && (b == 0x0A || b == 0x0D)) }
        guard let first = u.first, let last = u.last, blank(first) || blank(last) else { return text }
        var start = u.startIndex, end = u.endIndex
        while start < end, blank(u[start]) { start = u.index(after: start) }
        while end > start, blank(u[u.index(before: end)]) { end = u.index(before: end) }
        return String(text[start..<end])
    }

    /// Whether the text holds a control character (C0, DEL or C1).
    static func hasControlCharacter(_ text: String) -> Bool {
        var ascii = true
        for byte in text.utf8 {
            if byte < 0x20 || byte == 0x7F { return true }
            if byte >= 0x80 { ascii = false }
        }
        return !ascii && text.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    /// True for a record whose fields are all empty or blank (spreadsheets write empty rows as ",,,").
    static func isBlank(_ fields: [String]) -> Bool {
        fields.allSatisfy { $0.utf8.allSatisfy { $0 == 0x20 || $0 == 0x09 } }
    }

    /// Problems that involve two fields; (column, message).
    public static func crossCheck(_ input: AssetInput) -> (String, String)? {
        if input.costCents != nil && input.currency == nil {
            return ("currency", "is empty but a cost is given; add the ISO 4217 code, e.g. EUR")
        }
        return nil
    }

    /// The fields of a stored device in export order (matching `columns`).
    public static func exportFields(_ device: Device, profile: String?) -> [String] {
        [device.assetTag, device.serial, device.status.rawValue, device.vendor ?? "", device.model ?? "",
         device.orderNumber ?? "", device.purchaseDate ?? "", device.costCents.map(formatCents) ?? "",
         device.currency ?? "", device.supplier ?? "", device.warrantyMonths.map(String.init) ?? "",
         profile ?? "", device.libvirtURI ?? "", device.notes ?? ""]
    }

    // MARK: - Value parsing

    /// YYYY-MM-DD naming a real calendar day (1900-2199).
    public static func isValidDate(_ text: String) -> Bool {
        guard text.utf8.count == 10 else { return false }
        var contiguous = text
        return contiguous.withUTF8 { b in
            guard b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") else { return false }
            func digits(_ range: Range<Int>) -> Int? {
                var value = 0
                for i in range {
                    guard b[i] >= 48 && b[i] <= 57 else { return nil }
                    value = value * 10 + Int(b[i] - 48)
                }
                return value
            }
            guard let year = digits(0..<4), let month = digits(5..<7), let day = digits(8..<10) else { return false }
            guard (1900...2199).contains(year), (1...12).contains(month), day >= 1 else { return false }
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
            return day <= (month == 2 && leap ? 29 : monthLengths[month - 1])
        }
    }

    private static let monthLengths = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

    /// "1249.9" -> 124990; nil for anything but 1-12 digits with an optional dot and 1-2 decimals.
    public static func parseCents(_ text: String) -> Int64? {
        var units: Int64 = 0, fraction: Int64 = 0
        var wholeDigits = 0, fractionDigits = 0, seenDot = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                if seenDot { return nil }
                seenDot = true
            } else if byte >= 0x30 && byte <= 0x39 {
                let digit = Int64(byte - 0x30)
                if seenDot {
                    fractionDigits += 1
                    if fractionDigits > 2 { return nil }
                    fraction = fraction * 10 + digit
                } else {
                    wholeDigits += 1
                    if wholeDigits > 12 { return nil }
                    units = units * 10 + digit
                }
            } else {
                return nil
            }
        }
        guard wholeDigits > 0, !seenDot || fractionDigits > 0 else { return nil }
        return units * 100 + (fractionDigits == 1 ? fraction * 10 : fraction)
    }

    public static func formatCents(_ cents: Int64) -> String {
        let sign = cents < 0 ? "-" : ""
        let magnitude = cents.magnitude
        let fraction = magnitude % 100
        return "\(sign)\(magnitude / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    /// scheme://[host]/path with a scheme like qemu, qemu+ssh, qemu+tcp, qemu+tls, test; no spaces.
    public static func isPlausibleLibvirtURI(_ text: String) -> Bool {
        let u = Array(text.utf8)
        var i = 0
        func isLetter(_ b: UInt8) -> Bool { (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) }
        guard let first = u.first, isLetter(first) else { return false }
        while i < u.count, isLetter(u[i]) || (0x30...0x39).contains(u[i]) || u[i] == UInt8(ascii: "+") { i += 1 }
        guard i + 3 <= u.count, u[i] == UInt8(ascii: ":"), u[i + 1] == UInt8(ascii: "/"), u[i + 2] == UInt8(ascii: "/") else { return false }
        let rest = u[(i + 3)...]
        return rest.contains(UInt8(ascii: "/")) && !u.contains { $0 <= 0x20 || $0 == 0x7F }
    }

    /// UTC calendar day of a time, as YYYY-MM-DD (comparable as text with stored dates).
    public static func dayString(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
    }
}
