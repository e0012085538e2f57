import ArgumentParser
import Foundation
import LCMKit

extension InventoryKind: ExpressibleByArgument {}

struct InventoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory",
        abstract: "Report devices, desktops, users, images, licenses and audit events.",
        subcommands: [List.self, Show.self, Licenses.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List records of one kind: devices, desktops, users, images, licenses or events.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "What to list: devices, desktops, users, images, licenses or events.")
        var kind: InventoryKind = .devices

        @Option(help: "Only devices or desktops with this status (e.g. \"in stock\", deployed).")
        var status: String?
        @Option(help: "Only records assigned to this user (events: done by this OS user).")
        var user: String?
        @Option(help: "Only desktops on this device (asset tag).")
        var device: String?
        @Option(help: "Only devices of this model.")
        var model: String?
        @Option(name: .customLong("object-kind"), help: "Events: only about this kind of object (device, desktop, ...).")
        var objectKind: String?
        @Option(help: "Events: only about this object.")
        var object: String?
        @Option(help: "Events: only since this date (YYYY-MM-DD or ISO 8601 time).")
        var since: String?
        @Option(help: "At most this many records (events: the newest).")
        var limit: Int?

        func validate() throws {
            if let since, Self.parseDate(since) == nil {
                throw ValidationError("--since '\(since)' is not a date: use YYYY-MM-DD or an ISO 8601 time")
            }
            if let limit, limit < 0 { throw ValidationError("--limit must be 0 or more") }
        }

        static func parseDate(_ text: String) -> Date? {
            if let date = ISO8601DateFormatter().date(from: text) { return date }
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyy-MM-dd"
            return formatter.date(from: text)
        }

        func run() throws {
            try global.report(csv: true) { context in
                let filter = InventoryFilter(status: status, user: user, device: device, model: model,
                                             objectKind: objectKind, objectID: object,
                                             since: since.flatMap(Self.parseDate), limit: limit)
                return try InventoryQuery(inventory: try context.inventory()).list(kind, filter: filter)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one record: a device, desktop, user, image, license pool or event.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The kind: devices, desktops, users, images, licenses or events.")
        var kind: InventoryKind
        @Argument(help: "Its key: asset tag or serial, desktop name, username, image name, pool name, event id.")
        var key: String

        func run() throws {
            try global.report(csv: true) { context in
                RecordView(try InventoryQuery(inventory: try context.inventory()).show(kind, key: key), separated: true)
            }
        }
    }

    /// `lcm inventory licenses`: the same as `lcm inventory list licenses`.
    struct Licenses: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List license pools with seats used and free and their expiry (same as `list licenses`).")

        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.report(csv: true) { context in
                try InventoryQuery(inventory: try context.inventory()).list(.licenses)
            }
        }
    }
}
