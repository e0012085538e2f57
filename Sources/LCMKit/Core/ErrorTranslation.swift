import Archive
import Foundation
import GRDB
import Guestfs
import Hivex
import Libvirt

extension LCMError {
    /// Any error, as the admin sees it: the documented exit code and a hint. Errors from the
    /// layers below (libvirt, libguestfs, hivex, libarchive, qemu-img, SQLite, the file system)
    /// are translated here and nowhere else; only an error none of them explains is a bug (exit 1).
    public static func from(_ error: any Error) -> LCMError {
        switch error {
        case let error as LCMError:
            return error
        case let error as LibvirtError:
            return fromLibvirt(error)
        case let error as GuestfsError:
            if [ENOSPC, EDQUOT].contains(error.errno) {
                return LCMError(.cannotWrite, "libguestfs: \(error.description)", hint: "free space where lcm and libguestfs write (LCM_HOME, /var/tmp)")
            }
            return LCMError(.unavailable, "libguestfs failed: \(error.description)",
                            hint: "run `lcm doctor` to check the appliance; `--verbose` shows each step")
        case let error as HivexError:
            if [ENOSPC, EDQUOT].contains(error.code) { return LCMError(.cannotWrite, error.description, hint: "free space in lcm's home") }
            return LCMError(.dataError, "a registry hive cannot be read: \(error.description)",
                            hint: "the image's registry is damaged; repair it in Windows or use another image")
        case let error as ArchiveError:
            if error.code == .system {
                return LCMError(error.errno.map { [ENOSPC, EDQUOT, EACCES, EROFS].contains($0) } == true ? .cannotWrite : .unavailable,
                                error.description, hint: "check free space and permissions where lcm writes")
            }
            return LCMError(.dataError, "the archive cannot be used: \(error.description)", hint: "give a complete, unmodified archive")
        case let error as ImageError:
            switch error.problem {
            case .missing: return LCMError(.notFound, error.description, hint: "the disk was removed behind lcm's back; see `lcm doctor`")
            case .locked: return LCMError(.busy, error.description, hint: "another process uses the disk; retry when it is done")
            case .corrupt, .unsupported, .undecryptable: return LCMError(.dataError, error.description)
            case .toolFailed: return LCMError(.unavailable, error.description, hint: "check that qemu-utils is installed (scripts/setup)")
            }
        case let error as DiskFailure:
            return LCMError(error.exitCode ?? .unavailable, error.message, hint: error.hint)
        case let error as DatabaseError:
            return Inventory.translate(error, path: "the inventory")
        case let error as CSVSyntaxError:
            return LCMError(.dataError, "line \(error.line): \(error.message)", hint: "fix the file; nothing was changed")
        case let error as SafeXML.Refusal:
            return LCMError(.dataError, error.description)
        default:
            if let code = fileSystemCode(error) { return LCMError(code, reason(error), hint: hint(for: code)) }
            return LCMError(.failure, "\(error)", hint: "this is a bug in lcm; please report it with the command you ran")
        }
    }

    /// The exit code for a libvirt failure: gone objects are not found, a refused state is a
    /// conflict, everything else (unreachable host, failed call) means libvirt is unavailable.
    static func fromLibvirt(_ error: LibvirtError) -> LCMError {
        if error.isNotFound {
            return LCMError(.notFound, "libvirt: \(error.message)",
                            hint: "it was removed outside lcm; `lcm doctor` and `lcm inventory` show what lcm recorded")
        }
        if error.isInvalidOperation {
            return LCMError(.conflict, "libvirt refused: \(error.message)", hint: "check the object's state with virsh and retry")
        }
        if error.isConnectionFailure {
            return LCMError(.unavailable, "libvirt is unreachable or failed: \(error.message)",
                            hint: "check that libvirtd runs on the device and that the URI is right; a rerun continues where this stopped")
        }
        return LCMError(.unavailable, "libvirt failed: \(error.message)", hint: "`--verbose` shows each step; a rerun continues where this stopped")
    }

    /// Foundation's and POSIX file errors by their meaning; nil for anything else.
    static func fileSystemCode(_ error: any Error) -> LCMExitCode? {
        let ns = error as NSError
        let posix: Int32?
        if ns.domain == NSPOSIXErrorDomain { posix = Int32(ns.code) }
        else if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain { posix = Int32(underlying.code) }
        else { posix = nil }
        if let posix {
            switch posix {
            case ENOENT, ENOTDIR: return .notFound
            case EAGAIN, EBUSY, ETXTBSY: return .busy
            default: return .cannotWrite
            }
        }
        guard ns.domain == NSCocoaErrorDomain else { return nil }
        switch CocoaError.Code(rawValue: ns.code) {
        case .fileNoSuchFile, .fileReadNoSuchFile: return .notFound
        case .fileReadCorruptFile, .fileReadInapplicableStringEncoding, .fileReadUnknownStringEncoding: return .dataError
        case .fileReadNoPermission, .fileWriteNoPermission, .fileWriteOutOfSpace, .fileWriteVolumeReadOnly,
             .fileReadUnknown, .fileWriteUnknown, .fileLocking, .fileWriteFileExists, .fileWriteInvalidFileName, .fileReadTooLarge:
            return .cannotWrite
        default: return nil
        }
    }

    private static func hint(for code: LCMExitCode) -> String {
        switch code {
        case .notFound: "check the path"
        case .busy: "another process holds it; retry later"
        case .dataError: "the file is damaged or not what lcm expects"
        default: "check free space and permissions of lcm's home and the storage it writes"
        }
    }
}
