import Foundation
import Libvirt

/// One disk of a batch on its way through the engine.
final class StagedDisk: @unchecked Sendable {
    /// How the appliance reaches the disk.
    enum Drive: Equatable {
        /// A plain local chain, opened by the appliance's qemu directly.
        case file(path: String, format: String)
        /// Served decrypted (or from a local copy of a remote volume) by qemu-nbd.
        case nbd(socket: String)
    }

    /// A remote volume's local working copy.
    struct Remote {
        var connection: Connection
        var pool: StoragePool
        var volume: StorageVolume
        var remotePath: String
        var localPath: String
        var downloadedBytes: UInt64
        var downloadedSHA: [UInt8]
    }

    let index: Int
    let volume: DiskVolume
    var failure: DiskFailure?
    var writeBackFailure: DiskFailure?
    /// Set when a hung appliance stopped this disk's read-only work once (it is retried once).
    var retriedAfterHang = false
    var drive: Drive?
    var chain: [QemuImage.Layer] = []
    var passphrase: DiskPassphrase?
    var nbd: NBDServer?
    var lock: FileLock?
    var remote: Remote?

    init(index: Int, volume: DiskVolume) { self.index = index; self.volume = volume }
}

/// Stages disks before a launch and finishes them after: the per-disk half of `DiskEngine`.
final class DiskStager<Value: Sendable>: @unchecked Sendable {
    let engine: DiskEngine
    let directory: String
    let state: BatchState<Value>
    private let backingLock = NSLock()
    private var backingCopies: [String: String] = [:]
    private var backingCounter = 0

    init(engine: DiskEngine, directory: String, state: BatchState<Value>) {
        self.engine = engine; self.directory = directory; self.state = state
    }

    private var options: DiskEngine.Options { engine.options }

    // MARK: - Staging

    /// Validates and opens one disk; a problem becomes `disk.failure` and undoes what was started.
    func stage(_ disk: StagedDisk) {
        do {
            try stageThrowing(disk)
        } catch let failure as DiskFailure {
            disk.failure = failure
        } catch let error as ImageError {
            disk.failure = DiskFailure(error)
        } catch {
            disk.failure = DiskFailure(stage: .validate, reason: .toolFailed, message: DiskEngine.message(error))
        }
        if disk.failure != nil { release(disk) }
    }

    private func stageThrowing(_ disk: StagedDisk) throws {
        // Two lcm runs must never have the same disk open; the second reports it busy at once.
        let lock = FileLock(path: ObjectLock.path(home: engine.inventory.home, kind: "volume", id: disk.volume.lockID))
        guard try lock.lock(timeout: 0) else {
            throw DiskFailure(stage: .validate, reason: .busy,
                              message: "another lcm run has this disk open\(lock.holderPID.map { " (pid \($0))" } ?? "")")
        }
        disk.lock = lock
        switch disk.volume.location {
        case .file(let path):
            if let format = disk.volume.outsideFormat {
                try stageOutside(disk, path: path, format: format)
            } else {
                try stageLocal(disk, path: path)
            }
        case .libvirt(let uri, let poolName, let volumeName):
            let connection: Connection
            do {
                connection = try engine.connection(uri)
            } catch {
                // The factory's error already names the URI.
                throw DiskFailure(stage: .validate, reason: .toolFailed,
                                  message: error is LCMError ? DiskEngine.message(error) : "cannot connect to \(uri): \(DiskEngine.message(error))")
            }
            guard let pool = try connection.lookupStoragePool(name: poolName) else {
                throw DiskFailure(stage: .validate, reason: .missing, message: "no storage pool '\(poolName)' at \(uri)")
            }
            guard let volume = try pool.lookupVolume(name: volumeName) else {
                throw DiskFailure(stage: .validate, reason: .missing,
                                  message: "no volume '\(volumeName)' in pool '\(poolName)' at \(uri)")
            }
            if DiskHost.isLocal(uri: uri) {
                try stageLocal(disk, path: try volume.path)
            } else {
                try stageRemote(disk, connection: connection, pool: pool, volume: volume, uri: uri)
            }
        }
    }

    /// A disk whose files lcm can open: validate the chain, then a plain drive or qemu-nbd.
    private func stageLocal(_ disk: StagedDisk, path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw DiskFailure(stage: .validate, reason: .missing, message: "\(path) does not exist")
        }
        let layers = try infoWaitingForLock(path: path)
        guard let top = layers.first else {
            throw DiskFailure(stage: .validate, reason: .corrupt, message: "qemu-img describes no image at \(path)")
        }
        disk.chain = layers.map { QemuImage.Layer(path: $0.filename, format: $0.format, encrypted: $0.encrypted) }
        disk.chain[0].path = path
        let encrypted = disk.chain.contains(where: \.encrypted)
        if encrypted { disk.passphrase = try passphrase(for: disk) }
        let options = encrypted ? QemuImage.imageOptions(chain: disk.chain) : nil
        try checkTop(path: path, format: top.format, imageOptions: options, passphrase: disk.passphrase)
        if encrypted {
            try startServer(disk, imageOptions: options!)
        } else {
            disk.drive = .file(path: path, format: top.format)
        }
    }

    /// A file from outside (`DiskVolume.outside`): read with the format lcm identified, and
    /// nothing else it might name.
    private func stageOutside(_ disk: StagedDisk, path: String, format: String) throws {
        var status = stat()
        let blockDevice = stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFBLK
        let options = QemuImage.outsideImageOptions(format: format, path: path, blockDevice: blockDevice)
        let top = try QemuImage.info(imageOptions: options, label: disk.volume.name)
        guard top.backingFilename == nil, top.dataFile == nil, !top.encrypted else {
            throw DiskFailure(stage: .validate, reason: .unsupported, message: "the image names another file or is encrypted")
        }
        disk.chain = [QemuImage.Layer(path: path, format: format, encrypted: false)]
        disk.drive = .file(path: path, format: format)
    }

    /// A volume on a remote device: download it (and any backing file the caller has no copy of),
    /// then validate and serve the local copy through qemu-nbd with every layer named explicitly.
    private func stageRemote(_ disk: StagedDisk, connection: Connection, pool: StoragePool, volume: StorageVolume,
                             uri: String) throws {
        let remotePath = try volume.path
        let description = try VolumeDescription.parse(try volume.xmlDescription())
        let users = try VolumeTransfer.activeDomains(on: connection, using: remotePath)
        guard users.isEmpty else {
            throw DiskFailure(stage: .validate, reason: .locked,
                              message: "in use by running domain(s) \(users.joined(separator: ", ")) on \(uri)")
        }
        let localPath = "\(directory)/d\(disk.index).img"
        var chain = [QemuImage.Layer(path: localPath, format: description.format,
                                     encrypted: description.encryptionFormat != nil)]
        var backingPath = description.backingPath
        var backingFormat = description.backingFormat
        while let path = backingPath {
            guard chain.count < 16 else {
                throw DiskFailure(stage: .validate, reason: .corrupt, message: "backing chain deeper than 16 layers")
            }
            if let copy = disk.volume.backingCopies[path] {
                let layers = try QemuImage.info(path: copy, forceShare: true)
                // The copy is trusted to hold the same bytes (the image store checks its hashes);
                // a different virtual size proves it is another image.
                if let remoteBase = try connection.lookupStorageVolume(path: path),
                   let local = layers.first, try remoteBase.info().capacity != local.virtualSize {
                    throw DiskFailure(stage: .validate, reason: .corrupt,
                                      message: "the local copy \(copy) of backing file \(path) has another size than the device's")
                }
                chain += layers.map { QemuImage.Layer(path: $0.filename, format: $0.format, encrypted: $0.encrypted) }
                chain[chain.count - layers.count].path = copy
                break
            }
            guard let backing = try connection.lookupStorageVolume(path: path) else {
                throw DiskFailure(stage: .validate, reason: .missing,
                                  message: "backing file \(path) is in no storage pool on \(uri)")
            }
            let backingDescription = try VolumeDescription.parse(try backing.xmlDescription())
            let local = try downloadBacking(backing, uri: uri, path: path)
            chain.append(QemuImage.Layer(path: local, format: backingFormat ?? backingDescription.format,
                                         encrypted: backingDescription.encryptionFormat != nil))
            backingPath = backingDescription.backingPath
            backingFormat = backingDescription.backingFormat
        }

        let downloaded: (bytes: UInt64, sha256: [UInt8])
        do {
            downloaded = try VolumeTransfer.download(volume, to: localPath)
        } catch {
            unlink(localPath)
            throw DiskFailure(stage: .validate, reason: .transferFailed, message: "download failed: \(DiskEngine.message(error))")
        }
        state.addTransfer(downloaded: downloaded.bytes)
        disk.remote = StagedDisk.Remote(connection: connection, pool: pool, volume: volume, remotePath: remotePath,
                                        localPath: localPath, downloadedBytes: downloaded.bytes,
                                        downloadedSHA: downloaded.sha256)
        let physical = try volume.physicalSize()
        guard physical == downloaded.bytes else {
            throw DiskFailure(stage: .validate, reason: .transferFailed,
                              message: "received \(downloaded.bytes) of \(physical) bytes")
        }
        disk.chain = chain
        // The header alone (no chain: its backing path is the device's) must agree with libvirt.
        let top = try QemuImage.info(path: localPath, backingChain: false)
        guard let header = top.first, header.format == description.format,
              header.encrypted == (description.encryptionFormat != nil) else {
            throw DiskFailure(stage: .validate, reason: .corrupt,
                              message: "the downloaded image does not match libvirt's description (\(description.format))")
        }
        if chain.contains(where: \.encrypted) { disk.passphrase = try passphrase(for: disk) }
        let options = QemuImage.imageOptions(chain: chain)
        try checkTop(path: localPath, format: header.format, imageOptions: options, passphrase: disk.passphrase)
        try startServer(disk, imageOptions: options)
    }

    /// Downloads a backing file once per batch, however many overlays share it.
    private func downloadBacking(_ volume: StorageVolume, uri: String, path: String) throws -> String {
        backingLock.lock()
        defer { backingLock.unlock() }
        let key = "\(uri)#\(path)"
        if let local = backingCopies[key] { return local }
        backingCounter += 1
        let local = "\(directory)/base\(backingCounter).img"
        do {
            let received = try VolumeTransfer.download(volume, to: local)
            state.addTransfer(downloaded: received.bytes)
            chmod(local, 0o400)
        } catch {
            unlink(local)
            throw DiskFailure(stage: .validate, reason: .transferFailed,
                              message: "download of backing file \(path) failed: \(DiskEngine.message(error))")
        }
        backingCopies[key] = local
        return local
    }

    /// `qemu-img info`, waiting up to `lockWait` while the image is locked: after a kill -9 the
    /// previous run's qemu may still be dying when the rerun starts.
    private func infoWaitingForLock(path: String) throws -> [ImageLayerInfo] {
        let deadline = Date().addingTimeInterval(options.lockWait)
        while true {
            do {
                return try QemuImage.info(path: path)
            } catch let error as ImageError where error.problem == .locked && Date() < deadline {
                usleep(200_000)
            }
        }
    }

    private func checkTop(path: String, format: String, imageOptions: String?, passphrase: DiskPassphrase?) throws {
        guard format == "qcow2" else { return }   // raw has nothing to check
        // A truncated qcow2 shows up here as corruptions: its tables point past the end of the file.
        // (image-end-offset is no truncation test: a healthy small file may end before it.)
        let result = try QemuImage.check(path: path, format: format, imageOptions: imageOptions, passphrase: passphrase)
        guard result.isUsable else {
            throw DiskFailure(stage: .validate, reason: .corrupt,
                              message: "qemu-img check: \(result.corruptions) corruption(s), \(result.checkErrors) check error(s)")
        }
    }

    private func passphrase(for disk: StagedDisk) throws -> DiskPassphrase {
        guard let keyID = disk.volume.keyID else {
            throw DiskFailure(stage: .validate, reason: .undecryptable, message: "the image is encrypted and no key was given")
        }
        do {
            return try DesktopKey.passphrase(keyID: keyID, inventory: engine.inventory)
        } catch {
            throw DiskFailure(stage: .validate, reason: .undecryptable, message: DiskEngine.message(error))
        }
    }

    private func startServer(_ disk: StagedDisk, imageOptions: String) throws {
        let server = try NBDServer.start(
            imageOptions: imageOptions, passphrase: disk.passphrase, readOnly: options.readOnly,
            socketPath: "\(directory)/n\(disk.index).sock", logPath: "\(directory)/n\(disk.index).log",
            recorder: engine.recorder)
        disk.nbd = server
        disk.drive = .nbd(socket: server.socketPath)
    }

    // MARK: - Finishing

    /// Stops the disk's server, writes a remote disk back when it was changed, and unlocks it.
    func finish(_ disk: StagedDisk, succeeded: Bool) {
        if let server = disk.nbd {
            server.stop()
            if succeeded && !server.cleanExit {
                disk.writeBackFailure = DiskFailure(stage: .writeBack, reason: .toolFailed,
                                                    message: "qemu-nbd did not shut down cleanly: its writes may be incomplete")
            }
        }
        if let remote = disk.remote, succeeded, !options.readOnly, disk.writeBackFailure == nil {
            do {
                try writeBack(disk, remote)
            } catch let failure as DiskFailure {
                disk.writeBackFailure = failure
            } catch {
                disk.writeBackFailure = DiskFailure(stage: .writeBack, reason: .transferFailed,
                                                    message: DiskEngine.message(error))
            }
        }
        release(disk)
    }

    /// Uploads the changed local copy, after checking it is consistent and that the device's copy
    /// did not change meanwhile; then checks that the device holds exactly what was sent.
    private func writeBack(_ disk: StagedDisk, _ remote: StagedDisk.Remote) throws {
        let local = try VolumeTransfer.localHash(remote.localPath)
        guard local.sha256 != remote.downloadedSHA else { return }
        func fail(_ reason: DiskFailure.Reason, _ message: String) -> DiskFailure {
            DiskFailure(stage: .writeBack, reason: reason, message: message)
        }
        let check = try QemuImage.check(path: remote.localPath, format: disk.chain[0].format,
                                        imageOptions: QemuImage.imageOptions(chain: disk.chain),
                                        passphrase: disk.passphrase)
        guard check.isUsable else { throw fail(.corrupt, "the worked-on copy fails qemu-img check; not uploading") }
        let users = try VolumeTransfer.activeDomains(on: remote.connection, using: remote.remotePath)
        guard users.isEmpty else { throw fail(.locked, "domain(s) \(users.joined(separator: ", ")) started meanwhile; not uploading") }
        if options.verifyRemote {
            let now = try VolumeTransfer.remoteHash(remote.volume)
            state.addTransfer(verified: now.bytes)
            guard now.sha256 == remote.downloadedSHA else {
                throw fail(.transferFailed, "the volume changed on the device since it was downloaded; not overwriting it")
            }
        }
        // qcow2 files only grow; a shorter upload would leave the old tail behind.
        guard local.bytes >= remote.downloadedBytes else {
            throw fail(.transferFailed, "the worked-on copy is shorter than the original; not uploading")
        }
        let sent = try remote.volume.upload(from: URL(fileURLWithPath: remote.localPath))
        state.addTransfer(uploaded: sent)
        let physical = try remote.volume.physicalSize()
        guard physical == local.bytes else {
            throw fail(.transferFailed, "the device's file has \(physical) bytes after uploading \(local.bytes)")
        }
        if options.verifyRemote {
            let after = try VolumeTransfer.remoteHash(remote.volume)
            state.addTransfer(verified: after.bytes)
            guard after.sha256 == local.sha256 else {
                throw fail(.transferFailed, "the device's copy differs from what was uploaded (SHA-256 mismatch)")
            }
        }
        try? remote.pool.refresh()
    }

    /// Undoes what staging started for a disk. Idempotent.
    private func release(_ disk: StagedDisk) {
        disk.nbd?.stop()
        if let remote = disk.remote { unlink(remote.localPath) }
        disk.lock?.unlock()
        disk.lock = nil
    }
}
