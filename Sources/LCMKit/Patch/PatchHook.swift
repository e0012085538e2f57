import Foundation

/// The libvirt hook that applies a stopped desktop's queued patch on the device.
///
/// libvirtd runs `/etc/libvirt/hooks/qemu.d/*` synchronously at each domain event and holds the
/// domain meanwhile, so a hook must return quickly and must never call back into libvirtd (it
/// would deadlock). lcm's hook therefore only checks, at `release end` (the domain has stopped
/// and its resources are released), whether the domain has a queued patch (a marker file under
/// `$LCM_HOME/patches/queued/`), and if so starts `lcm manage patch --apply-queued DESKTOP`
/// detached (setsid) and returns at once; lcm then talks to libvirtd as usual.
///
/// libvirtd looks for hook scripts when it starts and when it reloads (SIGHUP), so installing
/// reloads the local daemon. The hook fits a device that is also lcm's machine; for remote
/// devices cron runs `lcm manage patch --apply-queued` (examples/).
public enum PatchHook {
    public static let directory = "/etc/libvirt/hooks/qemu.d"

    /// Markers of desktops with queued patches, one empty file per desktop name.
    static func markerDirectory(_ home: LCMHome) -> URL {
        home.url.appendingPathComponent("patches").appendingPathComponent("queued")
    }

    static func mark(_ desktop: String, home: LCMHome) throws {
        let directory = markerDirectory(home)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let marker = directory.appendingPathComponent(desktop).path
        guard FileManager.default.createFile(atPath: marker, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw LCMError(.cannotWrite, "cannot create \(marker): the hook would not know \(desktop) has a queued patch",
                           hint: "check that \(directory.path) is writable")
        }
    }

    static func unmark(_ desktop: String, home: LCMHome) {
        unlink(markerDirectory(home).appendingPathComponent(desktop).path)
    }

    /// The hook's file name for `home` (each lcm home on the machine has its own).
    public static func scriptName(home: LCMHome) -> String {
        "lcm-patch-" + ObjectLock.stableHash(home.url.path)
    }

    /// The hook script for `home`, running the lcm executable at `executable`.
    public static func script(executable: String, home: LCMHome) throws -> String {
        for (what, path) in [("lcm's home", home.url.path), ("the lcm executable", executable)] {
            guard path.hasPrefix("/"), !path.contains("'"), !path.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw LCMError(.usage, "\(what) \(path) cannot go into a hook script (it needs an absolute path without quotes or control characters)")
            }
        }
        return """
            #!/bin/sh
            # lcm: apply the offline patch queued for a desktop once it has stopped.
            # Written by `lcm manage patch hook` for the lcm home below; remove with `lcm manage patch hook --uninstall`.
            # libvirtd waits for this script and must not be called from it (deadlock): lcm is started
            # detached and this script returns at once.
            home='\(home.url.path)'
            lcm='\(executable)'
            [ "$2" = release ] && [ "$3" = end ] || exit 0
            case "$1" in ''|.*|*/*) exit 0 ;; esac
            [ -e "$home/patches/queued/$1" ] || exit 0
            setsid "$lcm" manage patch --apply-queued "$1" --home "$home" --quiet </dev/null >>"$home/patches/hook.log" 2>&1 &
            exit 0

            """
    }

    public struct Installation: Codable, Sendable {
        public var path: String
        /// libvirtd was told to look for hooks again (SIGHUP); false: reload it yourself.
        public var daemonReloaded: Bool
    }

    /// Writes the hook (0755, replaced atomically) and reloads the local libvirtd.
    public static func install(home: LCMHome, executable: String, directory: String = directory) throws -> Installation {
        let text = try script(executable: executable, home: home)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw LCMError(.cannotWrite, "cannot create \(directory): \(LCMError.reason(error))", hint: "run as root on the device")
        }
        let path = directory + "/" + scriptName(home: home), partial = path + ".new"
        guard FileManager.default.createFile(atPath: partial, contents: Data(text.utf8), attributes: [.posixPermissions: 0o755]),
              rename(partial, path) == 0 else {
            unlink(partial)
            throw LCMError(.cannotWrite, "cannot write \(path)", hint: "run as root on the device")
        }
        return Installation(path: path, daemonReloaded: reloadDaemon())
    }

    public static func uninstall(home: LCMHome, directory: String = directory) -> Bool {
        let removed = unlink(directory + "/" + scriptName(home: home)) == 0
        if removed { _ = reloadDaemon() }
        return removed
    }

    /// SIGHUP to the local libvirtd (or virtqemud): it checks its hook scripts again.
    static func reloadDaemon() -> Bool {
        for pidFile in ["/run/libvirtd.pid", "/run/virtqemud.pid"] {
            guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
                  let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1 else { continue }
            if kill(pid, SIGHUP) == 0 { return true }
        }
        return false
    }
}
