import Foundation
import GRDB

/// What `lcm image import` was asked to do.
public struct ImageImportRequest: Sendable {
    public var source: String
    public var name: String
    /// nil: the next whole number after the image's highest numeric version ("1" for a new image).
    public var version: String?
    public var description: String?
    public var compress: Bool
    public var allowNonWindows: Bool

    public init(source: String, name: String, version: String? = nil, description: String? = nil,
                compress: Bool = false, allowNonWindows: Bool = false) {
        self.source = source; self.name = name; self.version = version; self.description = description
        self.compress = compress; self.allowNonWindows = allowNonWindows
    }
}

/// The cataloged result of an import, with where the time went.
public struct ImageImportReport: Codable, Sendable {
    public var name: String
    public var version: String
    public var path: String
    public var sha256: String
    public var source: String
    public var sourceFormat: String
    public var sourceSHA256: String
    public var virtualSize: Int64
    public var fileSize: Int64
    public var inspection: WindowsInspection
    /// Conversion with the source hashed alongside.
    public var secondsConverting: Double
    /// Inspection in the appliance with the stored file hashed alongside.
    public var secondsInspecting: Double
    public var secondsTotal: Double
}

/// Imports any image qemu-img reads into the store as a new, immutable, inspected qcow2 version.
///
/// Runs as a journaled operation on the image name (rolled back on failure or after a kill):
/// 1. convert: `qemu-img convert` into `images/.incoming/`, while a second thread hashes the
///    source (both read the same pages; the source is read from disk once);
/// 2. inspect: one appliance launch reads the new file, while a thread hashes it;
/// 3. publish: the file becomes read-only, moves to `images/<name>/<version>.qcow2`, and its
///    catalog rows and audit event commit in one transaction.
public enum ImageImport {
    public static func run(_ request: ImageImportRequest, context: LCMContext) throws -> ImageImportReport {
        try ImageNames.validate(name: request.name)
        if let version = request.version { try ImageNames.validate(version: version) }
        let source = try SourceImage.open(request.source)
        let store = ImageStore(home: context.settings.home)
        let clock = ContinuousClock()
        let started = clock.now

        var operation = ImageImportOperation(name: request.name, incomingPath: try store.incomingPath(), destination: "")
        let live = ImageImportOperation.Live(request: request, source: source, store: store, engineOptions: context.engine)
        operation.live = live
        // The version is settled under the image's lock (inside the operation), so two imports of
        // the same image cannot take the same number; the destination follows from it.
        try context.journal().run(operation)
        guard var report = live.report else { throw LCMError(.failure, "the import produced no report") }
        report.secondsTotal = (clock.now - started).seconds
        return report
    }
}

/// A disk image from outside, opened once and checked before anything is written: lcm reads
/// its header itself and refuses an image that names any other file (`SourceImageFormat`), and
/// every qemu-img call after that reads the same open file with the format lcm identified.
struct SourceImage: Sendable {
    var file: InputFile
    var format: String
    var virtualSize: Int64

    var path: String { file.path }
    /// What qemu-img gets instead of a path: nothing probed, nothing else opened.
    var imageOptions: String {
        QemuImage.outsideImageOptions(format: format, path: file.toolPath, blockDevice: file.kind == .blockDevice)
    }

    static func open(_ path: String) throws -> SourceImage {
        let file = try InputFile(path, what: "disk image file", allowBlockDevice: true)
        let format = try SourceImageFormat.identify(file)
        let options = QemuImage.outsideImageOptions(format: format, path: file.toolPath, blockDevice: file.kind == .blockDevice)
        let top: ImageLayerInfo
        do {
            top = try QemuImage.info(imageOptions: options, label: path)
        } catch let error as ImageError {
            throw LCMError(.dataError, "\(path) is not a readable \(format) image: \(error.message)",
                           hint: "check that the file is complete (a copy may have been cut short)")
        }
        // What lcm read of the header already refused these; qemu's own reading must agree.
        if top.backingFilename != nil || top.dataFile != nil {
            throw LCMError(.dataError, "\(path) names another file (\(top.backingFilename ?? top.dataFile ?? ""))",
                           hint: SourceImageFormat.flatten)
        }
        if top.encrypted {
            throw LCMError(.dataError, "\(path) is encrypted", hint: "import an unencrypted golden image; desktops get encrypted overlays")
        }
        guard top.virtualSize > 0 else {
            throw LCMError(.dataError, "\(path) is an empty disk image (0 bytes)", hint: "give the path of a disk image file")
        }
        // qcow2, vmdk, vhdx, vdi and qed carry metadata that can be checked; a cut-short or
        // damaged file fails here instead of halfway through the conversion.
        if ["qcow2", "vmdk", "vhdx", "vdi", "qed"].contains(format) {
            let check: ImageCheckResult
            do {
                check = try QemuImage.check(path: path, format: format, imageOptions: options)
            } catch let error as ImageError {
                throw LCMError(.dataError, "\(path) is damaged: \(error.message)",
                               hint: "copy the image again from its origin")
            }
            if !check.isUsable && check.exitStatus != 63 {
                throw LCMError(.dataError, "\(path) is damaged (qemu-img check: \(check.corruptions) corruption(s), \(check.checkErrors) error(s))",
                               hint: "copy the image again from its origin")
            }
        }
        return SourceImage(file: file, format: format, virtualSize: Int64(top.virtualSize))
    }
}

/// The import as a journaled operation. Recovery rebuilds it from its parameters (paths only) and
/// undoes every step: the incoming file, the published file and its catalog rows go.
struct ImageImportOperation: JournaledOperation {
    static let kind = "image-import"
    let name: String
    let incomingPath: String
    var destination: String
    var live: Live?

    /// What only the running import has: the request and the results handed between steps.
    final class Live: @unchecked Sendable {
        let request: ImageImportRequest
        let source: SourceImage
        let store: ImageStore
        let engineOptions: DiskEngine.Options
        var version = ""
        var sourceSHA256 = ""
        var sha256 = ""
        var inspection = WindowsInspection()
        var secondsConverting = 0.0
        var secondsInspecting = 0.0
        var report: ImageImportReport?

        init(request: ImageImportRequest, source: SourceImage, store: ImageStore, engineOptions: DiskEngine.Options) {
            self.request = request; self.source = source; self.store = store; self.engineOptions = engineOptions
        }
    }

    init(name: String, incomingPath: String, destination: String) {
        self.name = name; self.incomingPath = incomingPath; self.destination = destination
    }

    init(parameters: [String: String]) throws {
        guard let name = parameters["name"], let incoming = parameters["incoming"] else {
            throw LCMError(.dataError, "image-import operation parameters incomplete")
        }
        self.init(name: name, incomingPath: incoming, destination: parameters["store"] ?? "")
    }

    var objectKind: String { "image" }
    var objectID: String { name }
    var recovery: RecoveryPolicy { .rollBack }
    var parameters: [String: String] { ["name": name, "incoming": incomingPath, "store": destination] }

    var steps: [OperationStep] {
        let live = self.live, name = self.name, incoming = incomingPath
        @Sendable func needLive() throws -> Live {
            guard let live else { throw LCMError(.failure, "an interrupted import cannot be resumed; run it again") }
            return live
        }
        return [
            OperationStep("convert", run: { context in
                let live = try needLive()
                live.version = try ImageCatalog.settleVersion(inventory: context.inventory, name: name, requested: live.request.version)
                // The store path must be known to recovery before anything is written there.
                try context.updateParameters(["store": live.store.path(name: name, version: live.version)])
                let clock = ContinuousClock(), start = clock.now
                live.engineOptions.progress?(ProgressUpdate("convert \(live.source.path)"))
                live.sourceSHA256 = try Self.convert(live.source, to: incoming, compress: live.request.compress)
                live.secondsConverting = (clock.now - start).seconds
            }, undo: { _ in unlink(incoming) }),
            OperationStep("inspect", run: { context in
                let live = try needLive()
                let clock = ContinuousClock(), start = clock.now
                live.engineOptions.progress?(ProgressUpdate("inspect \(live.source.path)"))
                let hashed = Concurrent.start { try FileDigest.sha256(path: incoming) }
                var options = live.engineOptions
                options.readOnly = true
                let engine = DiskEngine(inventory: context.inventory, recorder: context, options: options)
                let report = try engine.run([.file(incoming, name: name)]) { try WindowsInspector.inspect($0) }
                live.sha256 = try hashed.value()
                live.secondsInspecting = (clock.now - start).seconds
                guard let result = report.results.first else { throw LCMError(.failure, "inspection returned nothing") }
                switch result.outcome {
                case .failure(let failure):
                    throw LCMError(.dataError, "cannot inspect \(live.source.path): \(failure.message)",
                                   hint: "check the image with `qemu-img check`; it may be damaged")
                case .success(let inspection):
                    live.inspection = inspection
                }
                if !live.inspection.isWindows && !live.request.allowNonWindows {
                    let why = live.inspection.bitLockerPartitions.isEmpty
                        ? "no Windows installation found on \(live.source.path)"
                        : "the Windows volume of \(live.source.path) is BitLocker-encrypted (\(live.inspection.bitLockerPartitions.joined(separator: ", "))), so nothing on it can be read offline"
                    throw LCMError(.dataError, why,
                                   hint: live.inspection.bitLockerPartitions.isEmpty
                                       ? "pass --allow-non-windows to import it anyway"
                                       : "suspend or turn off BitLocker in the source system, shut it down fully, and export again")
                }
            }, undo: { _ in }),
            OperationStep("publish", run: { context in
                let live = try needLive()
                let published = try ImagePublisher.publish(
                    context: context, store: live.store, incoming: incoming,
                    version: NewImageVersion(
                        name: name, version: live.version, description: live.request.description, parentID: nil,
                        virtualSize: live.source.virtualSize, sha256: live.sha256,
                        source: URL(fileURLWithPath: live.source.path).standardizedFileURL.path,
                        sourceSHA256: live.sourceSHA256, sourceFormat: live.source.format, producedBy: "import",
                        note: "imported from \(live.source.format) file \(live.source.path)",
                        compressed: live.request.compress, inspection: live.inspection))
                live.report = ImageImportReport(
                    name: name, version: live.version, path: published.path, sha256: live.sha256, source: live.source.path,
                    sourceFormat: live.source.format, sourceSHA256: live.sourceSHA256, virtualSize: live.source.virtualSize,
                    fileSize: published.fileSize, inspection: live.inspection, secondsConverting: live.secondsConverting,
                    secondsInspecting: live.secondsInspecting, secondsTotal: 0)
            }, undo: { context in try ImagePublisher.undo(context: context) }),
        ]
    }

    /// Converts to qcow2 while hashing the source on a second thread; returns the source's SHA-256.
    static func convert(_ source: SourceImage, to destination: String, compress: Bool) throws -> String {
        let hashed = Concurrent.start { try FileDigest.sha256(path: source.file.toolPath) }
        var arguments = ["convert", "-q", "--image-opts", "-O", "qcow2", "-o", "cluster_size=65536"]
        if compress { arguments.append("-c") }
        arguments += [source.imageOptions, destination]
        let output = try Tool.run(QemuImage.qemuImg, arguments)
        let sourceHash = try hashed.value()
        guard output.status == 0 else {
            unlink(destination)
            let message = Tool.firstLine(output.stderr)
            if message.contains("No space left") {
                throw LCMError(.cannotWrite, "no space left for the converted image", hint: "free space in lcm's home")
            }
            throw LCMError(.dataError, "qemu-img could not convert \(source.path): \(message)",
                           hint: "check the image with `qemu-img check`; it may be damaged")
        }
        chmod(destination, 0o600)
        return sourceHash
    }
}

/// A value computed on a thread of its own (not GCD's pool, which `Parallel` also avoids).
final class Concurrent<Value>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<Value, Error>?

    static func start(_ body: @escaping @Sendable () throws -> Value) -> Concurrent<Value> {
        let task = Concurrent<Value>()
        Thread.detachNewThread {
            task.result = Result { try body() }
            task.done.signal()
        }
        return task
    }

    func value() throws -> Value {
        done.wait()
        done.signal()
        return try result!.get()
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
}
