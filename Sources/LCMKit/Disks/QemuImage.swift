import Foundation

/// One layer of an image chain as `qemu-img info --output=json` describes it.
public struct ImageLayerInfo: Sendable, Equatable {
    public var filename: String
    public var format: String
    public var virtualSize: UInt64
    /// LUKS encryption of a qcow2 payload (`encrypt.format=luks`), or a raw LUKS image.
    public var encrypted: Bool
    public var encryptionFormat: String?
    /// The backing file as stored in the header, and resolved to a full path.
    public var backingFilename: String?
    public var fullBackingFilename: String?
    public var backingFormat: String?
    /// A qcow2 external data file, as the header names it.
    public var dataFile: String?
}

/// What `qemu-img check` found.
public struct ImageCheckResult: Sendable, Equatable {
    public var corruptions: Int
    public var leaks: Int
    public var checkErrors: Int
    /// Where qemu's metadata says the image ends.
    public var imageEndOffset: UInt64?
    public var exitStatus: Int32
    /// Leaked clusters only waste space; corruptions and check errors make an image unusable.
    public var isUsable: Bool { corruptions == 0 && checkErrors == 0 && (exitStatus == 0 || exitStatus == 3) }
}

/// A qemu-img failure, classified so the engine can tell a user which disk is bad and why.
public enum ImageProblem: String, Codable, Sendable {
    case missing, corrupt, locked, undecryptable, unsupported, toolFailed = "tool-failed"
}

/// Thin, typed calls of `qemu-img`. Secrets go to qemu through stdin
/// (`--object secret,id=sec0,file=/dev/stdin`), never through argv or files.
public enum QemuImage {
    public static let qemuImg = "/usr/bin/qemu-img"
    public static let qemuNBD = "/usr/bin/qemu-nbd"
    static let secretID = "sec0"
    static var secretObject: String { "secret,id=\(secretID),file=/dev/stdin" }

    /// The whole chain, top first (only the top with `backingChain: false`). Without `forceShare` qemu-img takes the image's locks, so a
    /// disk in use by a running qemu (domain, appliance, qemu-nbd) fails with `.locked`.
    public static func info(path: String, forceShare: Bool = false, backingChain: Bool = true) throws -> [ImageLayerInfo] {
        var arguments = ["info", "--output=json"]
        if backingChain { arguments.append("--backing-chain") }
        if forceShare { arguments.append("-U") }
        arguments.append(path)
        let output = try Tool.run(qemuImg, arguments)
        guard output.status == 0 else { throw classify(output.stderr, path: path) }
        guard let json = try? JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) else {
            throw ImageError(problem: .toolFailed, path: path, message: "qemu-img info printed no JSON")
        }
        let layers = (json as? [[String: Any]]) ?? ((json as? [String: Any]).map { [$0] } ?? [])
        return layers.map(layer)
    }

    /// The one layer of an image lcm did not make, opened with `outsideImageOptions`: no format
    /// probed, no backing file or other file opened by a name the image holds.
    public static func info(imageOptions: String, label: String) throws -> ImageLayerInfo {
        let output = try Tool.run(qemuImg, ["info", "--output=json", "-U", "--image-opts", imageOptions])
        guard output.status == 0 else { throw classify(output.stderr, path: label) }
        guard let json = (try? JSONSerialization.jsonObject(with: Data(output.stdout.utf8))) as? [String: Any] else {
            throw ImageError(problem: .toolFailed, path: label, message: "qemu-img info printed no JSON")
        }
        var info = layer(json)
        info.filename = label
        // An external data file would be a second file read through this one.
        let specific = (json["format-specific"] as? [String: Any])?["data"] as? [String: Any]
        info.dataFile = specific?["data-file"] as? String
        return info
    }

    /// `--image-opts` for an image lcm did not make: the format lcm identified from its header
    /// (`SourceImageFormat`) and the one file it was given, through `path` (an
    /// `InputFile.toolPath`, which cannot be swapped for another file).
    public static func outsideImageOptions(format: String, path: String, blockDevice: Bool) -> String {
        "driver=\(format),file.driver=\(blockDevice ? "host_device" : "file"),file.filename=\(escapeOption(path))"
    }

    static func layer(_ object: [String: Any]) -> ImageLayerInfo {
        let specific = (object["format-specific"] as? [String: Any])?["data"] as? [String: Any]
        let encrypt = specific?["encrypt"] as? [String: Any]
        let format = object["format"] as? String ?? "raw"
        // A raw LUKS image reports format "luks" with its own format-specific data.
        let encryptionFormat = (encrypt?["format"] as? String) ?? (format == "luks" ? "luks" : nil)
        return ImageLayerInfo(
            filename: object["filename"] as? String ?? "",
            format: format,
            virtualSize: (object["virtual-size"] as? NSNumber)?.uint64Value ?? 0,
            encrypted: (object["encrypted"] as? Bool) ?? (encryptionFormat != nil),
            encryptionFormat: encryptionFormat,
            backingFilename: object["backing-filename"] as? String,
            fullBackingFilename: object["full-backing-filename"] as? String,
            backingFormat: object["backing-filename-format"] as? String)
    }

    /// Checks the top layer's metadata. `imageOptions` (from `imageOptions(chain:)`) and a
    /// passphrase are needed for an encrypted image.
    public static func check(path: String, format: String, imageOptions: String? = nil,
                             passphrase: DiskPassphrase? = nil) throws -> ImageCheckResult {
        var arguments = ["check", "--output=json"]
        if passphrase != nil { arguments += ["--object", secretObject] }
        if let imageOptions {
            arguments += ["--image-opts", imageOptions]
        } else {
            arguments += ["-f", format, path]
        }
        let output = try Tool.run(qemuImg, arguments, input: passphrase)
        let json = (try? JSONSerialization.jsonObject(with: Data(output.stdout.utf8))) as? [String: Any]
        guard let json else {
            // No JSON: qemu-img could not even open the image.
            throw classify(output.stderr, path: path)
        }
        return ImageCheckResult(
            corruptions: (json["corruptions"] as? Int) ?? 0,
            leaks: (json["leaks"] as? Int) ?? 0,
            checkErrors: (json["check-errors"] as? Int) ?? 0,
            imageEndOffset: (json["image-end-offset"] as? NSNumber)?.uint64Value,
            exitStatus: output.status)
    }

    // MARK: - Creating

    /// How many times creation is retried after qemu's PBKDF calibration failure.
    static let calibrationAttempts = 8

    /// Creates a LUKS-encrypted qcow2 (`encrypt.format=luks`), optionally as an overlay on
    /// `backing` (which need not exist here: `-u` writes the path without opening it, so an
    /// overlay can name a file on a remote device).
    ///
    /// PBKDF choice: qemu calibrates PBKDF2 iterations from the thread's CPU time and gives up
    /// with "Unable to get accurate CPU usage" when its first 2^15-iteration round measures as 0 ms,
    /// which this kernel's coarse per-thread accounting does for SHA-256 about a third of the time
    /// (measured: sha256 7/20 failures even at iter-time 10; sha512 0/60). So the hash is SHA-512,
    /// whose slower first round always registers, and `iter-time` is 10 ms: the passphrase is 256
    /// random bits, which no amount of key stretching makes stronger, while opening the disk stays
    /// fast. Only that calibration failure is retried; any other error is reported at once.
    public static func createEncrypted(path: String, virtualSize: UInt64?, backing: (path: String, format: String)?,
                                       passphrase: DiskPassphrase) throws {
        var arguments = ["create", "-q", "-f", "qcow2", "--object", secretObject,
                         "-o", "encrypt.format=luks,encrypt.key-secret=\(secretID),encrypt.iter-time=10,encrypt.hash-alg=sha512"]
        if let backing { arguments += ["-u", "-b", backing.path, "-F", backing.format] }
        arguments.append(path)
        arguments.append(String(try overlaySize(virtualSize, backing: backing)))
        var lastError = ""
        for _ in 0..<calibrationAttempts {
            unlink(path)
            let output = try Tool.run(qemuImg, arguments, input: passphrase)
            if output.status == 0 { return }
            lastError = output.stderr
            guard output.stderr.contains("Unable to get accurate CPU usage") else { break }
        }
        unlink(path)
        throw ImageError(problem: .toolFailed, path: path,
                         message: "qemu-img create failed: \(Tool.firstLine(lastError))")
    }

    /// Makes another encrypted qcow2 from `source` (made by `createEncrypted`, still empty) without
    /// building a LUKS header again: a copy of it, given its own backing file (or none) and size.
    ///
    /// Why: however low `iter-time` is, qemu calibrates PBKDF2 for every header it creates, about
    /// 2.5 s of CPU here, which dominates preparing a desktop. The copy shares the source's
    /// master key; use it only for volumes of one owner that are unlocked by the same secret anyway
    /// (a desktop's OS layer and user-data disk), never across owners.
    public static func deriveEncrypted(from source: String, path: String, virtualSize: UInt64?,
                                       backing: (path: String, format: String)?, passphrase: DiskPassphrase) throws {
        let size = try overlaySize(virtualSize, backing: backing)
        unlink(path)
        do {
            try FileManager.default.copyItem(atPath: source, toPath: path)
            let options = imageOptions(chain: [Layer(path: path, format: "qcow2", encrypted: true)])
            // -u: only the header's backing reference changes; nothing is opened through it.
            let rebase = try Tool.run(qemuImg, ["rebase", "-u", "--object", secretObject, "--image-opts", options,
                                                "-b", backing?.path ?? ""] + (backing.map { ["-F", $0.format] } ?? []),
                                      input: passphrase)
            guard rebase.status == 0 else { throw classify(rebase.stderr, path: path) }
            let resize = try Tool.run(qemuImg, ["resize", "-q", "--shrink", "--object", secretObject, "--image-opts", options,
                                                String(size)], input: passphrase)
            guard resize.status == 0 else { throw classify(resize.stderr, path: path) }
        } catch {
            unlink(path)
            throw error
        }
    }

    /// Writes the data of the raw file `raw` into the new, still empty qcow2 at `path` (through its
    /// encryption when `passphrase` is given), sector for sector; zeros and holes are skipped, as
    /// the new image reads as zeros there already.
    public static func writeContents(of raw: String, into path: String, passphrase: DiskPassphrase?) throws {
        var arguments = ["convert", "-n", "--target-is-zero", "-f", "raw", raw]
        if passphrase != nil {
            arguments += ["--object", secretObject, "--target-image-opts",
                          imageOptions(chain: [Layer(path: path, format: "qcow2", encrypted: true)])]
        } else {
            arguments += ["-O", "qcow2", path]
        }
        let output = try Tool.run(qemuImg, arguments, input: passphrase)
        guard output.status == 0 else { throw classify(output.stderr, path: path) }
    }

    /// Creates an unencrypted qcow2 (for golden bases and tests).
    public static func createPlain(path: String, virtualSize: UInt64?, backing: (path: String, format: String)? = nil) throws {
        var arguments = ["create", "-q", "-f", "qcow2"]
        if let backing { arguments += ["-u", "-b", backing.path, "-F", backing.format] }
        arguments.append(path)
        arguments.append(String(try overlaySize(virtualSize, backing: backing)))
        let output = try Tool.run(qemuImg, arguments)
        guard output.status == 0 else {
            throw ImageError(problem: .toolFailed, path: path, message: "qemu-img create failed: \(Tool.firstLine(output.stderr))")
        }
    }

    /// The size to create: the one given, else (for an overlay whose backing file is on this
    /// machine) the backing file's. `-u` does not open the backing file, so qemu-img cannot find it.
    static func overlaySize(_ virtualSize: UInt64?, backing: (path: String, format: String)?) throws -> UInt64 {
        if let virtualSize { return virtualSize }
        guard let backing, FileManager.default.fileExists(atPath: backing.path),
              let size = try info(path: backing.path, forceShare: true, backingChain: false).first?.virtualSize else {
            throw LCMError(.usage, "the new image needs a size: its backing file is not on this machine")
        }
        return size
    }

    // MARK: - Image options

    /// One layer for `imageOptions(chain:)`.
    public struct Layer: Sendable, Equatable {
        public var path: String
        public var format: String
        public var encrypted: Bool
        public init(path: String, format: String, encrypted: Bool) {
            self.path = path; self.format = format; self.encrypted = encrypted
        }
    }

    /// qemu `--image-opts` for a chain (top first) that names every layer's local file
    /// explicitly (so the paths stored in the headers, possibly a remote device's, are not used)
    /// and gives each encrypted layer the secret `sec0`. Pass the whole chain down to the base.
    public static func imageOptions(chain: [Layer]) -> String {
        var options: [String] = []
        for (depth, layer) in chain.enumerated() {
            let prefix = String(repeating: "backing.", count: depth)
            options.append("\(prefix)driver=\(layer.format)")
            options.append("\(prefix)file.driver=file")
            options.append("\(prefix)file.filename=\(escapeOption(layer.path))")
            if layer.encrypted {
                options.append("\(prefix)encrypt.format=luks")
                options.append("\(prefix)encrypt.key-secret=\(secretID)")
            }
        }
        return options.joined(separator: ",")
    }

    /// Commas inside a QemuOpts value are written twice.
    static func escapeOption(_ value: String) -> String {
        value.replacingOccurrences(of: ",", with: ",,")
    }

    /// Turns qemu's error text into a problem kind.
    static func classify(_ stderr: String, path: String) -> ImageError {
        let text = stderr
        let problem: ImageProblem
        if text.contains("No such file or directory") {
            problem = .missing
        } else if text.contains("Failed to get") && text.contains("lock") {
            problem = .locked
        } else if text.contains("Invalid password") || text.contains("cannot unlock any keyslot")
                    || text.contains("key-secret") {
            problem = .undecryptable
        } else if text.contains("Unknown driver") || text.contains("not supported") {
            problem = .unsupported
        } else {
            problem = .corrupt
        }
        return ImageError(problem: problem, path: path, message: Tool.firstLine(text))
    }
}

/// A disk image that qemu-img or qemu-nbd refused, and why.
public struct ImageError: Error, CustomStringConvertible, Sendable {
    public var problem: ImageProblem
    public var path: String
    public var message: String
    public var description: String { "\(path): \(problem.rawValue): \(message)" }
}
