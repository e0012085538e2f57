import Foundation

/// Reads a key file of lcm's own (the master key, the certificate-signing key) only if it is
/// what lcm made: a regular file, not a link, owned by the user running lcm and closed to others.
/// A key another user owns could have been replaced by them; one others can read may be known.
enum PrivateKeyFile {
    /// The file's bytes (at most `limit`), or nil when it does not exist. `what` names the key in
    /// messages; `code` is the exit code a refused file gives; `exposedHint` says what to do when
    /// others could read it.
    static func read(_ url: URL, what: String, limit: Int, code: LCMExitCode, exposedHint: String, replacedHint: String) throws -> Data? {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else {
            switch errno {
            case ENOENT: return nil
            case ELOOP: throw LCMError(code, "\(what) \(url.path) is a symbolic link", hint: replacedHint)
            default: throw LCMError(.cannotWrite, "cannot read \(what) \(url.path): \(String(cString: strerror(errno)))",
                                    hint: "run lcm as the owner of its home")
            }
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw LCMError(code, "\(what) \(url.path) is not a regular file", hint: replacedHint)
        }
        guard info.st_uid == geteuid() else {
            throw LCMError(code, "\(what) \(url.path) belongs to user \(info.st_uid), not to the user running lcm (\(geteuid()))",
                           hint: replacedHint)
        }
        guard info.st_mode & 0o077 == 0 else {
            throw LCMError(code, "\(what) \(url.path) is readable or writable by other users (mode \(String(info.st_mode & 0o777, radix: 8)))",
                           hint: "run `chmod 600 \(url.path)`; \(exposedHint)")
        }
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        let count = Glibc.read(fd, &bytes, bytes.count)
        // The bytes go on in the Data returned; this buffer is not left holding a copy.
        defer { bytes.withUnsafeMutableBytes { if let base = $0.baseAddress { explicit_bzero(base, $0.count) } } }
        guard count >= 0 else {
            throw LCMError(.cannotWrite, "cannot read \(what) \(url.path): \(String(cString: strerror(errno)))", hint: "run lcm as the owner of its home")
        }
        guard count <= limit else { throw LCMError(code, "\(what) \(url.path) is larger than a key file can be", hint: replacedHint) }
        return Data(bytes.prefix(count))
    }

}
