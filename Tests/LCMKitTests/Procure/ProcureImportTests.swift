import Foundation
import GRDB
@testable import LCMKit
import LCMTestSupport
import Testing

/// `lcm procure import`: all or nothing, and a message naming line, column and problem.
@Suite struct ProcureImportTests {
    static let header = "asset_tag,serial,status,vendor,model,order_number,purchase_date,cost,currency,supplier,warranty_months,profile,uri,notes"

    /// Imports `text`, expecting a refusal; checks nothing changed and returns the problems.
    func refused(_ fixture: ProcureFixture, _ text: String, name: String = "bad.csv") throws -> AssetImportError? {
        let before = try fixture.counts()
        let file = try fixture.file(name, text)
        do {
            _ = try AssetIntake.importCSV(fixture.inventory, file: file, actor: fixture.actor)
            Issue.record("imported a bad file")
            return nil
        } catch let error as AssetImportError {
            #expect(error.error.code == .dataError)
            #expect(error.error.message.hasPrefix(name + " line "))
            #expect(error.error.hint?.contains("nothing was imported") == true)
            #expect(try fixture.counts() == before, "a refused import changed the inventory")
            return error
        }
    }

    @Test func importsAndRoundTripsThroughExport() throws {
        let fixture = try ProcureFixture()
        _ = try fixture.inventory.write { try Profiles.save($0, RequirementProfile(name: "office"), replace: false, actor: fixture.actor) }
        let text = """
            \(Self.header)
            PC-1,SN1,in stock,Lenovo,T14,PO-1,2026-01-15,1249.9,eur,Bechtle,36,office,qemu+ssh://root@pc-1/system,
            PC-2,SN2,ordered,HP,"EliteBook 840, 32 GB",,2025-02-28,99,USD,,12,,,"two
            lines, with comma"
            PC-3,SN3,,,,,,,,,,,,
            """
        let result = try AssetIntake.importCSV(fixture.inventory, file: try fixture.file("in.csv", text), actor: fixture.actor)
        #expect(result.imported == 3)
        let devices = try fixture.inventory.read { try Device.order(Column("assetTag")).fetchAll($0) }
        #expect(devices.map(\.status) == [.inStock, .ordered, .inStock])
        #expect(devices[0].costCents == 124_990)
        #expect(devices[0].currency == "EUR")
        #expect(devices[0].profileID != nil)
        #expect(devices[1].model == "EliteBook 840, 32 GB")
        #expect(devices[1].notes == "two\nlines, with comma")
        // Each device has its first history row and an audit event; the import has its own.
        let (history, events) = try fixture.inventory.read { db in
            (try DeviceStatusChange.fetchCount(db),
             try String.fetchAll(db, sql: "SELECT objectKind || ':' || action FROM event ORDER BY id"))
        }
        #expect(history == 3)
        #expect(events.filter { $0 == "device:add" }.count == 3)
        #expect(events.contains("import:import"))

        // export -> import into a fresh inventory -> export: identical.
        let exported = try fixture.inventory.read { try AssetIntake.exportCSV($0) }
        let other = try ProcureFixture()
        _ = try other.inventory.write { try Profiles.save($0, RequirementProfile(name: "office"), replace: false, actor: other.actor) }
        _ = try AssetIntake.importCSV(other.inventory, file: try other.file("round.csv", exported), actor: other.actor)
        #expect(try other.inventory.read { try AssetIntake.exportCSV($0) } == exported)
    }

    @Test func headersAreMatchedLooselyAndInAnyOrder() throws {
        let fixture = try ProcureFixture()
        let text = "\u{FEFF}Serial Number,Asset Tag,Warranty,PRICE,Currency\r\nSN9,PC-9,24,10.5,chf\r\n"
        let result = try AssetIntake.importCSV(fixture.inventory, file: try fixture.file("loose.csv", text), actor: fixture.actor)
        #expect(result.imported == 1)
        let device = try fixture.inventory.read { try Device.fetchOne($0) }
        #expect(device?.assetTag == "PC-9")
        #expect(device?.warrantyMonths == 24)
        #expect(device?.costCents == 1050)
        #expect(device?.currency == "CHF")
    }

    @Test func duplicateTagsAndSerialsInTheFileNameBothLines() throws {
        let fixture = try ProcureFixture()
        let error = try refused(fixture, "asset_tag,serial\nPC-1,A\n\nPC-2,B\nPC-1,C\nPC-3,B\n")
        let problems = error?.problems.map(\.description) ?? []
        #expect(problems.contains("line 5, column asset_tag: duplicate asset tag PC-1 (also on line 2)"))
        #expect(problems.contains("line 6, column serial: duplicate serial B (also on line 4)"))
        #expect(error?.error.message == "bad.csv line 5, column asset_tag: duplicate asset tag PC-1 (also on line 2) (and 1 more problem)")
    }

    @Test func duplicatesAgainstTheInventory() throws {
        let fixture = try ProcureFixture()
        try fixture.addDevice("PC-1")
        let error = try refused(fixture, "asset_tag,serial\nPC-9,SN-PC-1\nPC-1,NEW\n")
        #expect(error?.problems.map(\.description) == [
            "line 2, column serial: serial SN-PC-1 already exists in the inventory",
            "line 3, column asset_tag: asset tag PC-1 already exists in the inventory",
        ])
    }

    @Test func badValuesNameLineAndColumn() throws {
        let fixture = try ProcureFixture()
        let text = """
            asset_tag,serial,purchase_date,cost,currency,warranty_months,status,uri,profile
            PC-1,S1,2026-02-30,10,EUR,12,in stock,,
            PC-2,S2,2026-01-01,"1,249.90",EUR,12,,,
            PC-3,S3,,12.345,EUR,,,,
            PC-4,S4,,99,,,,,
            PC-5,S5,,,,twelve,,,
            PC-6,S6,,,,,lost,,
            PC-7,S7,,,,,,pc-7.example.com,
            PC-8,S8,,,,,,,nosuchprofile
            PC-9,S9,31/12/2025,,,,,,
            ,S10,,,,,,,
            """
        let error = try refused(fixture, text)
        let byLine = Dictionary(grouping: error?.problems ?? [], by: \.line)
        #expect(byLine[2]?.first?.column == "purchase_date")
        #expect(byLine[2]?.first?.message.contains("'2026-02-30' is not a date; use YYYY-MM-DD") == true)
        #expect(byLine[3]?.first?.column == "cost")
        #expect(byLine[4]?.first?.column == "cost")
        #expect(byLine[5]?.first?.column == "currency")
        #expect(byLine[6]?.first?.column == "warranty_months")
        #expect(byLine[7]?.first?.message.contains("not a status") == true)
        #expect(byLine[8]?.first?.column == "uri")
        #expect(byLine[9]?.first?.message.contains("not a known profile") == true)
        #expect(byLine[10]?.first?.column == "purchase_date")
        #expect(byLine[11]?.first?.column == "asset_tag")
        #expect(error?.problems.count == 10)
    }

    @Test func headerProblems() throws {
        let fixture = try ProcureFixture()
        let missing = try refused(fixture, "asset_tag,vendor\nPC-1,Dell\n")
        #expect(missing?.problems.map(\.description) == ["line 1, column serial: required column is missing from the header"])

        let unknown = try refused(fixture, "asset_tag,serial,colour\nPC-1,S1,red\n")
        #expect(unknown?.problems.first?.column == "colour")
        #expect(unknown?.problems.first?.message.contains("unknown column 'colour'; known columns: asset_tag, serial") == true)

        let twice = try refused(fixture, "asset_tag,serial,Asset Tag\nPC-1,S1,PC-1\n")
        #expect(twice?.problems.first?.message.contains("appears twice") == true)

        let empty = try refused(fixture, "")
        #expect(empty?.problems.first?.message.contains("empty") == true)
    }

    @Test func wrongFieldCountAndSyntaxErrors() throws {
        let fixture = try ProcureFixture()
        let short = try refused(fixture, "asset_tag,serial,vendor\nPC-1,S1\nPC-2,S2,Dell,extra\n")
        #expect(short?.problems.map(\.description) == [
            "line 2: has 2 fields, the header has 3; quote fields that contain commas",
            "line 3: has 4 fields, the header has 3; quote fields that contain commas",
        ])
        let unclosed = try refused(fixture, "asset_tag,serial,notes\nPC-1,S1,ok\nPC-2,S2,\"open\n\nPC-3,S3,x\n")
        #expect(unclosed?.problems.first?.line == 3)
        #expect(unclosed?.problems.first?.message.contains("never closed") == true)
    }

    @Test func spreadsheetBlankRowsAreSkipped() throws {
        let fixture = try ProcureFixture()
        let result = try AssetIntake.importCSV(fixture.inventory, file: try fixture.file("x.csv", "asset_tag,serial\n,\nPC-1,S1\n , \n,\n"),
                                               actor: fixture.actor)
        #expect(result.imported == 1)
    }

    @Test func dryRunWritesNothing() throws {
        let fixture = try ProcureFixture()
        let before = try fixture.counts()
        let result = try AssetIntake.importCSV(fixture.inventory, file: try fixture.file("x.csv", "asset_tag,serial\nPC-1,S1\n"),
                                               dryRun: true, actor: fixture.actor)
        #expect(result.imported == 1)
        #expect(try fixture.counts() == before)
    }

    @Test func aMissingFileIsNotFound() throws {
        let fixture = try ProcureFixture()
        let error = expectLCMError { _ = try AssetIntake.importCSV(fixture.inventory, file: fixture.scratch.file("nope.csv"), actor: fixture.actor) }
        #expect(error?.code == .notFound)
    }

    @Test func tenThousandRowsImportAndOneBadRowImportsNothing() throws {
        let fixture = try ProcureFixture()
        var text = Self.header + "\r\n"
        for i in 0..<10_000 {
            text += "PC-\(i),SN-\(i),in stock,Lenovo,T14 Gen \(i % 5),PO-\(i / 100),2025-\(String(format: "%02d", i % 12 + 1))-15,"
                + "\(1000 + i % 500).50,EUR,Bechtle,36,,qemu+ssh://root@pc-\(i)/system,\"note, \(i)\"\r\n"
        }
        // One bad row at the very end: nothing may be imported.
        let bad = text + "PC-X,SN-X,in stock,,,,2025-13-01,,,,,,,\r\n"
        let error = try refused(fixture, bad, name: "big.csv")
        #expect(error?.problems.map(\.description) == ["line 10002, column purchase_date: '2025-13-01' is not a date; use YYYY-MM-DD, e.g. 2026-03-31"])

        let started = Date()
        let result = try AssetIntake.importCSV(fixture.inventory, file: try fixture.file("big.csv", text), actor: fixture.actor)
        #expect(result.imported == 10_000)
        #expect(Date().timeIntervalSince(started) < 30, "debug build; the release figure is in docs/BENCHMARKS.md")
        let counts = try fixture.counts()
        #expect(counts["device"] == 10_000)
        #expect(counts["deviceStatusChange"] == 10_000)
        #expect(counts["event"] == 10_001)
        let listed = try InventoryQuery(inventory: fixture.inventory).list(.devices)
        #expect(listed.rows.count == 10_000)
    }
}

extension ProcureImportTests {
    @Test func valueParsers() {
        #expect(AssetFields.parseCents("1249.9") == 124_990)
        #expect(AssetFields.parseCents("0.05") == 5)
        #expect(AssetFields.parseCents("7") == 700)
        for bad in ["", ".", "1.", ".5", "1.234", "1,5", "-3", "€5", "1e3", "1.2.3", "1234567890123"] {
            #expect(AssetFields.parseCents(bad) == nil, "\(bad)")
        }
        #expect(AssetFields.formatCents(124_990) == "1249.90")
        #expect(AssetFields.formatCents(5) == "0.05")
        #expect(AssetFields.isValidDate("2024-02-29"))
        #expect(AssetFields.isValidDate("2000-02-29"))
        for bad in ["2023-02-29", "1900-02-29", "2026-04-31", "2026-00-10", "2026-1-10", "20260110", "2026-01-1x", "1899-12-31"] {
            #expect(!AssetFields.isValidDate(bad), "\(bad)")
        }
        #expect(AssetFields.isPlausibleLibvirtURI("qemu:///system"))
        #expect(AssetFields.isPlausibleLibvirtURI("qemu+ssh://root@pc-1:2222/system?keyfile=/root/.ssh/id"))
        for bad in ["qemu:/system", "pc-1", "://x/", "1qemu:///system", "qemu:///sys tem", "qemu://host"] {
            #expect(!AssetFields.isPlausibleLibvirtURI(bad), "\(bad)")
        }
        #expect(AssetFields.trimmed("  a b \t") == "a b")
        #expect(AssetFields.trimmed("\n x \r\n", newlines: true) == "x")
        #expect(AssetFields.trimmed("\n x", newlines: false) == "\n x")
        #expect(AssetFields.hasControlCharacter("a\u{85}b"))
        #expect(!AssetFields.hasControlCharacter("Müller-Lüdenscheidt"))
        var input = AssetInput(assetTag: "", serial: "")
        #expect(AssetFields.apply("status", "IN_STOCK", to: &input) == nil && input.status == .inStock)
        #expect(AssetFields.apply("status", "In Repair", to: &input) == nil && input.status == .inRepair)
        #expect(AssetFields.apply("colour", "red", to: &input) == "is not a known column")
    }
}

extension ProcureImportTests {
    @Test func problemsNameThePhysicalLineAfterMultiLineFields() throws {
        let fixture = try ProcureFixture()
        let text = "asset_tag,serial,notes\r\nPC-1,S1,\"first\r\nsecond\r\nthird\"\r\n\r\nPC-2,S2,ok\r\nPC-3,,missing serial\r\n"
        let error = try refused(fixture, text)
        #expect(error?.problems.map(\.description) == ["line 7, column serial: is empty; every device needs an asset tag and a serial"])
    }
}
