import Crypto
import Foundation
import Libvirt

/// Files on a device's host that are not volumes of a pool lcm manages (NVRAM, TPM state):
/// read, written and removed directly when the host is this machine, through a transient libvirt
/// `dir` pool over their directory when it is remote (its files become volumes, reachable by
/// streams; destroying the transient pool leaves the directory as it was).
enum HostFiles {
    /// Entries of `directory` on the host other than subdirectories (none when it does not
    /// exist). On this machine the directory is reached without following a link another user
    /// could have made, and symbolic links in it are listed, not followed: the plan names them.
    static func list(directory: String, connection: Connection) throws -> [String] {
        if DiskHost.isLocal(uri: try connection.uri) {
            guard let fd = try LinkSafePath.openDirectory(directory) else { return [] }
            defer { close(fd) }
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd/\(fd)") else { return [] }
            return names.sorted().filter { name in
                var status = stat()
                return fstatat(fd, name, &status, AT_SYMLINK_NOFOLLOW) == 0 && (status.st_mode & S_IFMT) != S_IFDIR
            }.map { "\(directory)/\($0)" }
        }
        guard let pool = try? transientPool(over: directory, connection: connection) else { return [] }
        defer { try? pool.destroy() }
        return try pool.listAllVolumes().map { try $0.path }.sorted()
    }

    /// Runs `body` with a wipe target for the host file at `path`.
    static func withTarget<T>(path: String, planned: FileIdentity?, connection: Connection, _ body: (WipeTarget) throws -> T) throws -> T {
        if DiskHost.isLocal(uri: try connection.uri) { return try body(try LocalWipeTarget(path: path, opening: .planned(planned))) }
        let pool = try transientPool(over: (path as NSString).deletingLastPathComponent, connection: connection)
        defer { try? pool.destroy() }
        guard let volume = try pool.lookupVolume(name: (path as NSString).lastPathComponent) else {
            throw LCMError.notFound("\(path) on \((try? connection.uri) ?? "the device")")
        }
        return try body(try StreamWipeTarget(volume: volume))
    }

    /// Deletes the host file at `path` (absent is fine), on this machine only the planned file.
    static func remove(path: String, planned: FileIdentity?, connection: Connection) throws {
        if DiskHost.isLocal(uri: try connection.uri) {
            try LinkSafePath.unlinkPlannedFile(path, planned: planned)
            return
        }
        let pool = try transientPool(over: (path as NSString).deletingLastPathComponent, connection: connection)
        defer { try? pool.destroy() }
        try pool.lookupVolume(name: (path as NSString).lastPathComponent)?.delete()
    }

    /// A started transient dir pool over `directory`, named after it (an earlier run's is reused).
    static func transientPool(over directory: String, connection: Connection) throws -> StoragePool {
        let digest = SHA256.hash(data: Data(directory.utf8)).prefix(6).hexString
        let name = "lcm-hostfiles-\(digest)"
        if let existing = try connection.lookupStoragePool(name: name) {
            try existing.refresh()
            return existing
        }
        return try connection.createTransientStoragePool(xml: StoragePoolDefinition(name: name, targetPath: directory).xml)
    }
}
