import Crypto
import Foundation

/// The one symmetric key lcm seals secrets with (license keys now; disk passphrases and other
/// escrowed secrets later). It lives in `$LCM_HOME/keys/master.key` (file 0600, directory 0700), is
/// created on first need, and never leaves that file: the inventory only holds `SealedSecret`s.
///
/// Losing the file makes every sealed secret unreadable, so it belongs in the same backup as the
/// inventory, kept apart from it.
public struct MasterKey: Sendable {
    /// 256-bit AES key.
    static let keyByteCount = 32
    /// Marks the file as an lcm master key of format 1 (so a wrong file is recognised, not used).
    static let fileMagic = Array("LCMMK1".utf8)

    let key: SymmetricKey
    /// A short public fingerprint of the key: stored in each sealed secret so a secret sealed under
    /// another key is reported as such instead of as tampering.
    public let identifier: Data

    init(keyBytes: Data) {
        key = SymmetricKey(data: keyBytes)
        identifier = Data(SHA256.hash(data: keyBytes).prefix(8))
    }

    /// Where the key of a home lives.
    public static func path(home: LCMHome) -> URL {
        home.url.appendingPathComponent("keys").appendingPathComponent("master.key")
    }

    /// The home's key, created if there is none yet.
    public static func loadOrCreate(home: LCMHome) throws -> MasterKey {
        if let existing = try load(home: home) { return existing }
        return try create(home: home)
    }

    /// The home's key, or nil if none was created yet. A damaged or exposed key file is refused.
    public static func load(home: LCMHome) throws -> MasterKey? {
        ProcessHardening.forSecrets()
        let file = path(home: home)
        guard var contents = try PrivateKeyFile.read(
            file, what: "the master key", limit: fileMagic.count + keyByteCount, code: .databaseError,
            exposedHint: "consider the sealed secrets exposed (rotate them)",
            replacedHint: "run lcm as the owner of its home, or restore the key file from the backup of lcm's home, and consider the sealed secrets exposed") else {
            return nil
        }
        guard contents.count == fileMagic.count + keyByteCount, contents.prefix(fileMagic.count).elementsEqual(fileMagic) else {
            throw LCMError(.databaseError, "\(file.path) is not an lcm master key (damaged or replaced)",
                           hint: "restore it from the backup of lcm's home; without it sealed secrets cannot be read")
        }
        // The key goes into SymmetricKey's own storage (zeroed when released); the file's bytes here are wiped.
        var material = Data(contents.suffix(keyByteCount))
        defer { DiskPassphrase.wipe(&contents); DiskPassphrase.wipe(&material) }
        return MasterKey(keyBytes: material)
    }

    /// Creates the key file atomically: a complete file appears under its name or none does, and a
    /// concurrent creator's key is never replaced (link(2) fails if the name exists, unlike rename).
    static func create(home: LCMHome) throws -> MasterKey {
        try home.prepare()
        let file = path(home: home)
        let directory = file.deletingLastPathComponent()
        if mkdir(directory.path, 0o700) != 0 && errno != EEXIST {
            throw LCMError(.cannotWrite, "cannot create \(directory.path): \(String(cString: strerror(errno)))",
                           hint: "check free space and permissions of \(home.path)")
        }
        // An existing directory may have been made by hand with looser permissions.
        chmod(directory.path, 0o700)

        ProcessHardening.forSecrets()
        var keyBytes = [UInt8](repeating: 0, count: keyByteCount)
        var generator = SystemRandomNumberGenerator()
        for i in keyBytes.indices { keyBytes[i] = generator.next() }
        var contents = fileMagic + keyBytes
        defer { DiskPassphrase.wipe(&keyBytes); DiskPassphrase.wipe(&contents) }

        let temporary = directory.appendingPathComponent(".master.key.\(getpid()).\(UInt32.random(in: 0...UInt32.max))")
        let fd = posixOpen(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw LCMError(.cannotWrite, "cannot create \(temporary.path): \(String(cString: strerror(errno)))",
                           hint: "check free space and permissions of \(directory.path)")
        }
        defer { unlink(temporary.path) }
        let written = contents.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == contents.count, synced else {
            throw LCMError(.cannotWrite, "cannot write the master key in \(directory.path): \(String(cString: strerror(errno)))",
                           hint: "free space on that filesystem")
        }
        if link(temporary.path, file.path) != 0 {
            if errno == EEXIST, let winner = try load(home: home) { return winner }
            throw LCMError(.cannotWrite, "cannot create the master key \(file.path): \(String(cString: strerror(errno)))",
                           hint: "check the permissions of \(directory.path)")
        }
        // Make the new name durable too.
        let dirFD = posixOpen(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        if dirFD >= 0 { fsync(dirFD); close(dirFD) }
        var material = Data(keyBytes)
        defer { DiskPassphrase.wipe(&material) }
        return MasterKey(keyBytes: material)
    }

    /// Seals `plaintext` with AES-256-GCM. `purpose` (e.g. "license-pool:office") is authenticated
    /// with it, so a sealed value copied to another record does not open there.
    public func seal(_ plaintext: Data, purpose: String) throws -> SealedSecret {
        do {
            let box = try AES.GCM.seal(plaintext, using: key, authenticating: Data(Self.associatedData(purpose)))
            guard let combined = box.combined else { throw LCMError(.failure, "AES-GCM produced no combined form") }
            return SealedSecret(data: Data([SealedSecret.formatVersion]) + identifier + combined)
        } catch let error as LCMError {
            throw error
        } catch {
            throw LCMError(.failure, "cannot seal a secret: \(error)")
        }
    }

    /// Opens a sealed secret made by `seal` with the same purpose.
    public func open(_ sealed: SealedSecret, purpose: String) throws -> Data {
        let bytes = sealed.data
        let headerCount = 1 + identifier.count
        guard bytes.count > headerCount + 28, bytes.first == SealedSecret.formatVersion else {
            throw LCMError(.databaseError, "a sealed secret (\(purpose)) is malformed",
                           hint: "the inventory was damaged: restore it from a backup")
        }
        guard bytes.dropFirst().prefix(identifier.count).elementsEqual(identifier) else {
            throw LCMError(.databaseError, "the secret for \(purpose) was sealed under another master key",
                           hint: "restore the master key that belongs to this inventory ($LCM_HOME/keys/master.key)")
        }
        do {
            let box = try AES.GCM.SealedBox(combined: bytes.dropFirst(headerCount))
            return try AES.GCM.open(box, using: key, authenticating: Data(Self.associatedData(purpose)))
        } catch {
            throw LCMError(.databaseError, "the secret for \(purpose) does not open: it was altered or belongs to another record",
                           hint: "restore the inventory from a backup")
        }
    }

    static func associatedData(_ purpose: String) -> [UInt8] {
        Array("lcm-sealed-v1:\(purpose)".utf8)
    }
}

/// A secret sealed under the master key, as stored in the inventory: a format byte, the key's
/// identifier, then AES-GCM's nonce, ciphertext and tag.
public struct SealedSecret: Sendable, Equatable {
    static let formatVersion: UInt8 = 1
    public var data: Data
    public init(data: Data) { self.data = data }
}

/// open(2), reachable from inside `MasterKey` (whose `open(_:purpose:)` shadows the C function).
private func posixOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
    open(path, flags, mode)
}
