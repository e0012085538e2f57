import Foundation

/// One image `lcm image inspect` reads: a catalog version or a file.
public struct InspectTarget: Sendable {
    /// What the user typed: a reference (`name[:version]`) or a path.
    public var label: String
    public var path: String
    public var catalogReference: String?
    /// A file from outside, held open from its check to its inspection.
    var source: SourceImage?

    /// A path that exists is a file; anything else must be a catalog reference.
    public static func resolve(_ argument: String, catalog: ImageCatalog) throws -> InspectTarget {
        if argument.contains("/") || FileManager.default.fileExists(atPath: argument) {
            let source = try SourceImage.open(argument)
            return InspectTarget(label: argument, path: argument, catalogReference: nil, source: source)
        }
        let entry = try catalog.resolve(try ImageReference(parsing: argument))
        return InspectTarget(label: argument, path: entry.path, catalogReference: entry.reference)
    }

    var volume: DiskVolume {
        if let source { return .outside(source, name: label) }
        return .file(path, name: catalogReference ?? label)
    }
}

/// The inspection of one target, or why it failed.
public struct InspectOutcome: Codable, Sendable {
    public var label: String
    public var path: String
    public var reference: String?
    public var inspection: WindowsInspection?
    public var problems: [ReadinessProblem]?
    public var error: String?

    public init(label: String, path: String, reference: String?, inspection: WindowsInspection?,
                problems: [ReadinessProblem]?, error: String? = nil) {
        self.label = label; self.path = path; self.reference = reference
        self.inspection = inspection; self.problems = problems; self.error = error
    }
}

/// Inspects many images in as few appliance launches as the disk engine allows (one for up to
/// the handle's drive limit), read-only.
public enum ImageInspect {
    public static func run(_ targets: [InspectTarget], context: LCMContext) throws -> (outcomes: [InspectOutcome], launches: Int, timing: String) {
        let inventory = try context.inventory()
        var options = context.engine
        options.readOnly = true
        let volumes = targets.map(\.volume)
        let report = try DiskBatch.run(inventory: inventory, objectID: "inspect-\(UUID().uuidString.lowercased().prefix(8))",
                                       volumes: volumes, options: options) { try WindowsInspector.inspect($0) }
        let outcomes = zip(targets, report.results).map { target, result -> InspectOutcome in
            switch result.outcome {
            case .success(let inspection):
                return InspectOutcome(label: target.label, path: target.path, reference: target.catalogReference,
                                      inspection: inspection, problems: ImageReadiness.problems(inspection), error: nil)
            case .failure(let failure):
                return InspectOutcome(label: target.label, path: target.path, reference: target.catalogReference,
                                      inspection: nil, problems: nil, error: failure.description)
            }
        }
        let timing = String(format: "preparing %.1f s, launching %.1f s, reading %.1f s, finishing %.1f s",
                            report.secondsPreparing, report.secondsLaunching, report.secondsWorking, report.secondsFinishing)
        return (outcomes, report.launches, timing)
    }
}
