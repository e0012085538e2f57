import Foundation

/// lcm's home directory: the inventory database, locks, keys and the image store live here.
/// Default `/var/lib/lcm` for root, `~/.local/share/lcm` otherwise; `--home` or `LCM_HOME` override.
public struct LCMHome: Sendable {
    public let url: URL

    public init(url: URL) { self.url = url.standardizedFileURL }

    public static func resolve(explicit: String?, environment: [String: String]) -> LCMHome {
        if let explicit, !explicit.isEmpty { return LCMHome(url: URL(fileURLWithPath: explicit)) }
        if let fromEnv = environment["LCM_HOME"], !fromEnv.isEmpty { return LCMHome(url: URL(fileURLWithPath: fromEnv)) }
        if geteuid() == 0 { return LCMHome(url: URL(fileURLWithPath: "/var/lib/lcm")) }
        let base = environment["XDG_DATA_HOME"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: NSHomeDirectory()).appendingPathComponent(".local/share")
        return LCMHome(url: base.appendingPathComponent("lcm"))
    }

    public var path: String { url.path }
    public var databaseURL: URL { url.appendingPathComponent("lcm.db") }
    public var locksURL: URL { url.appendingPathComponent("locks") }
    public var runURL: URL { url.appendingPathComponent("run") }

    public var exists: Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Creates the home (0700: it will hold key material) and its subdirectories, or explains why it cannot.
    public func prepare() throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw LCMError(.cannotWrite, "lcm home \(path) exists but is not a directory",
                               hint: "choose another location with --home or LCM_HOME")
            }
        } else {
            do {
                try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw LCMError(.cannotWrite, "cannot create lcm home \(path): \(LCMError.reason(error))",
                               hint: "create it with the right owner, or choose another location with --home")
            }
        }
        guard access(path, W_OK | X_OK) == 0 else {
            throw LCMError(.cannotWrite, "lcm home \(path) is not writable: \(String(cString: strerror(errno)))",
                           hint: "fix its permissions, run as its owner, or choose another location with --home")
        }
        for sub in [locksURL, runURL] {
            do {
                try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw LCMError(.cannotWrite, "cannot create \(sub.path): \(LCMError.reason(error))",
                               hint: "check free space and permissions of \(path)")
            }
        }
    }
}
