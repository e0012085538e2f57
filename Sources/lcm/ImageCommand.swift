import ArgumentParser
import Foundation
import LCMKit

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Import, inspect, check and catalog golden Windows images.",
        discussion: """
            Images live in lcm's store ($LCM_HOME/images) as immutable qcow2 versions with their \
            provenance (source file and checksum, operator, time) and lineage (the version each was made \
            from). Everything is read offline through one libguestfs appliance launch per batch of disks. \
            A reference is NAME (the newest version) or NAME:VERSION.
            """,
        subcommands: [Import.self, Inspect.self, Check.self, Drivers.self, List.self, Show.self, Diff.self, Verify.self, Remove.self])

    /// The readiness problems after a new version's line; nothing when there are none or with --quiet.
    static func readiness(_ inspection: WindowsInspection, quiet: Bool) -> String {
        let problems = ImageReadiness.problems(inspection)
        return problems.isEmpty || quiet ? "" : ImageReports.text(problems, title: "readiness")
    }
}

/// The images `inspect` and `check` read: catalog references or files.
struct ImageTargets: ParsableArguments {
    @Argument(help: "Catalog references (NAME[:VERSION]) or image files.")
    var images: [String]

    func validate() throws {
        if images.isEmpty { throw ValidationError("name at least one image (NAME[:VERSION] or a file)") }
    }

    func resolve(_ context: LCMContext) throws -> (Inventory, [InspectTarget]) {
        let inventory = try context.inventory()
        let catalog = ImageCatalog(inventory: inventory)
        return (inventory, try images.map { try InspectTarget.resolve($0, catalog: catalog) })
    }
}

extension ImageCommand {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a disk image (qcow2, raw, vmdk, vhd/vhdx, vdi) as a new cataloged version.",
            discussion: """
                The file is converted to qcow2 in the store while its SHA-256 is computed, then inspected; \
                a disk without Windows, a damaged or truncated file, or a name:version that exists already \
                is refused with nothing left behind. Exit codes: 4 version exists, 65 bad or non-Windows \
                image, 66 file missing or unreadable.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The image file.")
        var file: String
        @Option(help: "Image name.")
        var name: String
        @Option(help: "Version (default: the next whole number).")
        var version: String?
        @Option(help: "A line describing the image (kept for a new image).")
        var description: String?
        @Flag(help: "Store the qcow2 compressed (smaller, slower to convert).")
        var compress = false
        @Flag(name: .customLong("allow-non-windows"), help: "Import a disk even when no Windows is found on it.")
        var allowNonWindows = false
        @Option(name: .customLong("inject-virtio"), help: ArgumentHelp(
            "Then add the virtio drivers from this virtio-win ISO or directory, as the next version.", valueName: "iso-or-dir"))
        var injectVirtio: String?

        func run() throws {
            try global.run { context in
                Terminal.message("importing \(file) as \(name)...", settings: context.settings)
                let report = try ImageImport.run(
                    ImageImportRequest(source: file, name: name, version: version, description: description,
                                       compress: compress, allowNonWindows: allowNonWindows),
                    context: context)
                let readinessFollows = injectVirtio == nil
                try Terminal.render(Rendered(report) { report, quiet in
                    String(format: "imported %@:%@ (%@, sha256 %@) in %.1f s\n", report.name, report.version,
                           report.inspection.osName ?? "no Windows", String(report.sha256.prefix(16)), report.secondsTotal)
                        + (readinessFollows ? ImageCommand.readiness(report.inspection, quiet: quiet) : "")
                }, settings: context.settings)
                if let injectVirtio {
                    try Drivers.add(parent: ImageReference(name: report.name, version: report.version), media: injectVirtio,
                                    version: nil, context: context)
                }
            }
        }
    }

    struct Drivers: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make images fit generic virtual hardware: add virtio drivers offline.",
            subcommands: [DriversAdd.self])

        static func add(parent: ImageReference, media: String, version: String?, context: LCMContext) throws {
            let report = try DriverInjection.run(parent: parent, media: media, version: version,
                                                 context: context)
            try Terminal.render(Rendered(report) { report, quiet in
                String(format: "%@:%@ made from %@ with %@ in %.1f s\n", report.name, report.version, report.parent,
                       report.summary.folders.joined(separator: ", "), report.secondsTotal)
                    + ImageCommand.readiness(report.inspection, quiet: quiet)
            }, settings: context.settings)
        }
    }

    struct DriversAdd: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Inject virtio storage and network drivers into a new version of an image.",
            discussion: """
                The drivers for the image's Windows version and architecture are taken from the virtio-win \
                media (ISO or unpacked directory): files to Windows\\Drivers\\VirtIO (storage drivers also to \
                System32\\drivers), boot-start services, the PCI IDs registered (DriverDatabase on Windows 8 and \
                later, CriticalDeviceDatabase before), DevicePath extended, and pnputil queued for the first boot \
                (SetupComplete.cmd and lcm's boot queue). The version it is made from is not changed.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "NAME[:VERSION] to start from.")
        var reference: String
        @Option(help: ArgumentHelp("The virtio-win ISO or its unpacked directory.", valueName: "iso-or-dir"))
        var virtio: String
        @Option(help: "Version of the result (default: the next whole number).")
        var version: String?

        func run() throws {
            try global.run { context in
                try Drivers.add(parent: try ImageReference(parsing: reference), media: virtio, version: version, context: context)
            }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what is in images, read offline: OS, build, apps, updates, drivers, generalization, hibernation, BitLocker.",
            discussion: "Several images share one appliance launch. Exit code 2 when some could not be inspected.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var images: ImageTargets

        func run() throws {
            try global.report { context in
                let (inventory, targets) = try images.resolve(context)
                let (outcomes, launches, timing) = try ImageInspect.run(targets, context: context)
                Terminal.message("inspected \(outcomes.count) image(s) in \(launches) appliance launch(es) (\(timing))", settings: context.settings)
                let failed = outcomes.contains { $0.inspection == nil }
                return Rendered(outcomes, exitCode: failed ? LCMExitCode.partialFailure.rawValue : 0) { outcomes in
                    outcomes.map { outcome in
                        outcome.inspection.map { ImageReports.text($0, title: outcome.reference ?? outcome.label) }
                            ?? "\(outcome.label)\n  error: \(outcome.error ?? "unknown")\n"
                    }.joined()
                }
            }
        }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List what changed between two images: facts, applications, files and registry values.",
            discussion: """
                Both images are read in one appliance launch, read-only. A file counts as changed when its \
                type, size or modification time differs; the SOFTWARE, SYSTEM and DEFAULT hives are copied \
                to a private directory under $LCM_HOME and compared value by value (SAM and SECURITY are not \
                read). Exit code 0 when the images are the same, 3 when they differ.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The older image: NAME[:VERSION] or a file.")
        var from: String
        @Argument(help: "The newer image: NAME[:VERSION] or a file.")
        var to: String
        @Option(help: "Lines shown per section in text output (0: all).")
        var limit = 50

        func run() throws {
            try global.report { context in
                let inventory = try context.inventory()
                let catalog = ImageCatalog(inventory: inventory)
                let old = try InspectTarget.resolve(from, catalog: catalog), new = try InspectTarget.resolve(to, catalog: catalog)
                let diff = try ImageDiff.run(from: old, to: new, context: context)
                Terminal.message("compared in \(diff.launches) appliance launch(es); hives compared value by value: \(diff.hivesCompared.isEmpty ? "none" : diff.hivesCompared.joined(separator: ", "))",
                                 settings: context.settings)
                let limit = limit <= 0 ? Int.max : limit
                return Rendered(diff, exitCode: diff.isEmpty ? 0 : LCMExitCode.checkFailed.rawValue) { ImageReports.text($0, limit: limit) }
            }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List what stands between images and a safe fleet rollout, each with its fix.",
            discussion: "Exit code 0 when every image is ready (warnings allowed), 3 when any has a blocker.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var images: ImageTargets

        func run() throws {
            try global.report { context in
                let (inventory, targets) = try images.resolve(context)
                // A cataloged version was inspected at import: no appliance needed for it.
                var outcomes: [InspectOutcome] = []
                var toInspect: [InspectTarget] = []
                for target in targets {
                    if let reference = target.catalogReference,
                       let inspection = try ImageCatalog(inventory: inventory).resolve(try ImageReference(parsing: reference)).inspection {
                        outcomes.append(InspectOutcome(label: target.label, path: target.path, reference: reference,
                                                       inspection: inspection, problems: ImageReadiness.problems(inspection)))
                    } else {
                        toInspect.append(target)
                    }
                }
                if !toInspect.isEmpty {
                    outcomes += try ImageInspect.run(toInspect, context: context).outcomes
                }
                let order = Dictionary(uniqueKeysWithValues: targets.enumerated().map { ($0.element.label, $0.offset) })
                outcomes.sort { (order[$0.label] ?? 0) < (order[$1.label] ?? 0) }
                let exitCode: LCMExitCode = outcomes.contains { $0.problems == nil } ? .partialFailure
                    : outcomes.contains { $0.problems?.contains { $0.severity == .blocker } == true } ? .checkFailed : .success
                return Rendered(outcomes, exitCode: exitCode.rawValue) { outcomes in
                    outcomes.map { outcome in
                        outcome.problems.map { ImageReports.text($0, title: outcome.reference ?? outcome.label) }
                            ?? "\(outcome.label): cannot inspect: \(outcome.error ?? "unknown")\n"
                    }.joined()
                }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List image versions (all images, or one).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Only this image.")
        var name: String?
        @Flag(help: "Include removed versions (kept for lineage).")
        var all = false

        func run() throws {
            try global.report(csv: true) { context in
                ImageReports.catalogTable(try ImageCatalog(inventory: try context.inventory()).entries(name: name, includeRemoved: all))
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one version: provenance, lineage, inspection, readiness.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "NAME[:VERSION]")
        var reference: String

        func run() throws {
            try global.report { context in
                let catalog = ImageCatalog(inventory: try context.inventory())
                let entry = try catalog.resolve(try ImageReference(parsing: reference))
                let lineage = try catalog.lineage(of: entry)
                struct Shown: Encodable { var entry: CatalogEntry; var lineage: [String]; var problems: [ReadinessProblem] }
                return Rendered(Shown(entry: entry, lineage: lineage, problems: entry.inspection.map(ImageReadiness.problems) ?? [])) {
                    ImageReports.text($0.entry, lineage: $0.lineage)
                }
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute stored versions' SHA-256 and compare with the catalog.",
            discussion: "Exit code 3 when any file differs or is missing.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "NAME[:VERSION] (default: every present version).")
        var references: [String] = []

        func run() throws {
            try global.report { context in
                let catalog = ImageCatalog(inventory: try context.inventory())
                let entries = references.isEmpty ? try catalog.entries()
                    : try references.map { try catalog.resolve(try ImageReference(parsing: $0)) }
                let results = try catalog.verify(entries)
                return Rendered(results, exitCode: results.allSatisfy(\.ok) ? 0 : LCMExitCode.checkFailed.rawValue) { results in
                    results.map { "\($0.reference): \($0.ok ? "ok" : "FAILED: \($0.problem ?? "")")\n" }.joined()
                }
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm",
            abstract: "Delete a version's file; its catalog row stays (marked removed) for lineage and audit.",
            discussion: "Refused (exit 4) while a desktop uses the version; the desktops are named.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "NAME:VERSION")
        var reference: String

        func run() throws {
            try global.report { context in
                let removed = try ImageCatalog(inventory: try context.inventory()).remove(try ImageReference(parsing: reference))
                return Rendered(removed) { "removed \($0.reference) (\($0.path))\n" }
            }
        }
    }
}
