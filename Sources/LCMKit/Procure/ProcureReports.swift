import Foundation
import GRDB

/// The procurement reports: warranty ending, devices by status / model / age, seats by pool.
/// Each is a `ReportTable`, so text, CSV and JSON come for free.
public enum ProcureReports {
    /// The day a warranty ends, in SQL: purchase date plus N months, clamped to the end of the
    /// target month (2024-01-31 + 1 month = 2024-02-29, where SQLite alone would say 2024-03-02).
    static let warrantyEndSQL = """
        min(date(d.purchaseDate, '+' || d.warrantyMonths || ' months'),
            date(d.purchaseDate, 'start of month', '+' || (d.warrantyMonths + 1) || ' months', '-1 day'))
        """

    /// Devices whose warranty ends within `days` days from `today` (and, with `includeExpired`,
    /// those already out of warranty). Retired and disposed devices are left out.
    public static func warranty(_ db: Database, withinDays days: Int, includeExpired: Bool = false,
                                today: Date = Date()) throws -> ReportTable {
        let day = AssetFields.dayString(today)
        let lower = includeExpired ? "" : "AND ends >= :today"
        let sql = """
            SELECT * FROM (
              SELECT d.assetTag, d.serial, d.vendor, d.model, d.status, u.username, d.purchaseDate, d.warrantyMonths,
                     \(warrantyEndSQL) AS ends
              FROM device d LEFT JOIN user u ON u.id = d.userID
              WHERE d.purchaseDate IS NOT NULL AND d.warrantyMonths IS NOT NULL AND d.status NOT IN ('retired', 'disposed'))
            WHERE ends <= date(:today, '+' || :days || ' days') \(lower)
            ORDER BY ends, assetTag
            """
        var table = ReportTable(columns: ["asset_tag", "serial", "vendor", "model", "status", "user", "purchase_date",
                                          "warranty_months", "warranty_ends", "days_left"])
        let todayDate = AssetFields.parseDay(day)
        for row in try Row.fetchAll(db, sql: sql, arguments: ["today": day, "days": days]) {
            let ends: String = row["ends"]
            let left = AssetFields.parseDay(ends).map { Int64(($0.timeIntervalSince(todayDate ?? $0) / 86_400).rounded()) }
            table.rows.append([
                InventoryQuery.reportValue(row["assetTag"]), InventoryQuery.reportValue(row["serial"]),
                InventoryQuery.reportValue(row["vendor"]), InventoryQuery.reportValue(row["model"]),
                InventoryQuery.reportValue(row["status"]), InventoryQuery.reportValue(row["username"]),
                InventoryQuery.reportValue(row["purchaseDate"]), InventoryQuery.reportValue(row["warrantyMonths"]),
                .text(ends), left.map(ReportValue.integer) ?? .null,
            ])
        }
        return table
    }

    /// Device count per status, every status listed (zero included) in lifecycle order.
    public static func byStatus(_ db: Database) throws -> ReportTable {
        var counts: [String: Int64] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT status, count(*) AS n FROM device GROUP BY status") {
            counts[row["status"]] = row["n"]
        }
        var table = ReportTable(columns: ["status", "devices"])
        for status in DeviceStatus.allCases {
            table.rows.append([.text(status.rawValue), .integer(counts[status.rawValue] ?? 0)])
        }
        return table
    }

    /// Device count per vendor and model, split by status.
    public static func byModel(_ db: Database) throws -> ReportTable {
        let statusColumns = DeviceStatus.allCases.map { status in
            "sum(d.status = '\(status.rawValue)') AS \"\(status.rawValue)\""
        }.joined(separator: ", ")
        let sql = """
            SELECT d.vendor, d.model, count(*) AS total, \(statusColumns)
            FROM device d GROUP BY d.vendor, d.model ORDER BY total DESC, d.vendor, d.model
            """
        var table = ReportTable(columns: ["vendor", "model", "devices"] + DeviceStatus.allCases.map { $0.rawValue.replacingOccurrences(of: " ", with: "_") })
        for row in try Row.fetchAll(db, sql: sql) {
            table.rows.append((0..<row.count).map { InventoryQuery.reportValue(row[$0] as DatabaseValue) })
        }
        return table
    }

    /// Device count per age (years since purchase), for refresh planning; retired and disposed left out.
    public static func byAge(_ db: Database, today: Date = Date()) throws -> ReportTable {
        let day = AssetFields.dayString(today)
        let buckets = ["under 1 year", "1-2 years", "2-3 years", "3-4 years", "4-5 years", "5 years or more", "unknown"]
        // Whole years of age: compare dates shifted by N years (leap-day safe in SQLite's date()).
        let sql = """
            SELECT CASE
                     WHEN d.purchaseDate IS NULL THEN 6
                     WHEN d.purchaseDate > date(:today, '-1 years') THEN 0
                     WHEN d.purchaseDate > date(:today, '-2 years') THEN 1
                     WHEN d.purchaseDate > date(:today, '-3 years') THEN 2
                     WHEN d.purchaseDate > date(:today, '-4 years') THEN 3
                     WHEN d.purchaseDate > date(:today, '-5 years') THEN 4
                     ELSE 5 END AS bucket,
                   count(*) AS n, min(d.purchaseDate) AS oldest, max(d.purchaseDate) AS newest
            FROM device d WHERE d.status NOT IN ('retired', 'disposed') GROUP BY bucket
            """
        var found: [Int: Row] = [:]
        for row in try Row.fetchAll(db, sql: sql, arguments: ["today": day]) { found[row["bucket"]] = row }
        var table = ReportTable(columns: ["age", "devices", "oldest_purchase", "newest_purchase"])
        for (index, name) in buckets.enumerated() {
            let row = found[index]
            table.rows.append([.text(name), .integer(row?["n"] ?? 0),
                               (row?["oldest"] as String?).map(ReportValue.text) ?? .null,
                               (row?["newest"] as String?).map(ReportValue.text) ?? .null])
        }
        return table
    }

    /// Seats per license pool: size, use, expiry.
    public static func seats(_ db: Database, today: Date = Date()) throws -> ReportTable {
        let day = AssetFields.dayString(today)
        let todayDate = AssetFields.parseDay(day)
        var table = ReportTable(columns: ["pool", "product", "edition", "seats", "used", "free", "expires", "days_left", "key_stored"])
        for usage in try Licenses.usage(db) {
            let left = usage.expires.flatMap(AssetFields.parseDay).map { Int64(($0.timeIntervalSince(todayDate ?? $0) / 86_400).rounded()) }
            table.rows.append([
                .text(usage.pool), .text(usage.product), usage.edition.map(ReportValue.text) ?? .null,
                .integer(Int64(usage.seats)), .integer(Int64(usage.used)), .integer(Int64(usage.free)),
                usage.expires.map(ReportValue.text) ?? .null, left.map(ReportValue.integer) ?? .null, .bool(usage.keyStored),
            ])
        }
        return table
    }
}

extension AssetFields {
    /// Midnight UTC of a YYYY-MM-DD day.
    static func parseDay(_ text: String) -> Date? {
        guard isValidDate(text) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = text.split(separator: "-").compactMap { Int($0) }
        return calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2]))
    }
}
