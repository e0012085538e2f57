import ArgumentParser
import Foundation
import LCMKit

struct RetireCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retire",
        abstract: "Retire desktops: stop, reclaim, destroy every key copy, overwrite and verify every file, certify.",
        discussion: """
            For each desktop: the domain is shut down (forced after --shutdown-timeout) and undefined, its \
            seats are released and its user checked in, the LUKS keyslots of each encrypted volume are \
            overwritten, every recorded copy of its key is destroyed, every volume and its NVRAM and TPM \
            state are overwritten (locally with direct I/O, remotely through libvirt streams) and read back, \
            then deleted, and a signed certificate is added to the home's chain. A killed run resumes where it \
            stopped when run again. The desktop becomes `disposed` only when verification passed, else it stays \
            `retired`. Nothing happens without --yes; --dry-run prints the plan. Exit codes: 0 done, 2 some \
            desktops failed, 3 a verification failed, 4 already retired, 64 bad usage, 66 not found.
            """,
        subcommands: [Run.self, Certificate.self, VerifyCertificate.self, ExportKey.self],
        defaultSubcommand: Run.self)

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "run", abstract: "Retire desktops (the default subcommand).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Desktops to retire.")
        var desktops: [String] = []
        @Option(help: ArgumentHelp("Every desktop on this device.", valueName: "tag"))
        var device: String?
        @Option(help: ArgumentHelp("auto (crypto-erase + a random pass for encrypted volumes, a random pass otherwise; the default), crypto-erase, overwrite, zero, dod-3pass or verify-only. A resumed retirement keeps its method unless this names another (possible until every file is overwritten, e.g. after a failed verify-only check).", valueName: "method"))
        var method: SanitizationMethod?
        @Option(help: ArgumentHelp("Read back every byte (full), a sample of at least 10% (sample), or nothing (none: the desktop then stays retired, not disposed).", valueName: "mode"))
        var verify: RetireOptions.Verification = .full
        @Flag(name: .customLong("dry-run"), help: "Print the plan (every file, key copy and record) and change nothing.")
        var dryRun = false
        @Flag(help: "Confirm: retirement destroys the desktop's data.")
        var yes = false
        @Option(help: ArgumentHelp("Why (recorded and certified).", valueName: "text"))
        var reason: String?
        @Option(help: ArgumentHelp("What happens next: reuse, recycle or return-to-vendor.", valueName: "destination"))
        var destination: String?
        @Option(name: .customLong("operator"), help: ArgumentHelp("Who performs it (default: the OS user).", valueName: "name"))
        var operatorName: String?
        @Option(name: .customLong("host-sanitized-by"), help: ArgumentHelp("With --device: how the device's own storage was sanitized (recorded in its certificate, not checked by lcm); the device is then disposed, else it stays retired.", valueName: "evidence"))
        var hostSanitizedBy: String?
        @Option(name: .customLong("shutdown-timeout"), help: ArgumentHelp("Seconds a graceful shutdown may take before the desktop is forced off.", valueName: "seconds"))
        var shutdownTimeout: Double = 120
        @Option(name: .customLong("append-hash-to"), help: ArgumentHelp("Append each certificate's sequence, SHA-256 and path to this file, kept outside lcm's home (another filesystem, a log shipper): `verify-certificate --hash-log` then finds a chain rewritten with the home's own key.", valueName: "file"))
        var appendHashTo: String?

        func validate() throws {
            if desktops.isEmpty == (device == nil) { throw ValidationError("name the desktops to retire, or give --device TAG") }
            if !dryRun && !yes { throw ValidationError("retiring destroys the desktops' data: add --yes, or --dry-run to see the plan") }
            if let destination, !["reuse", "recycle", "return-to-vendor"].contains(destination) {
                throw ValidationError("--destination is reuse, recycle or return-to-vendor, not \(destination)")
            }
            if shutdownTimeout < 0 { throw ValidationError("--shutdown-timeout must not be negative") }
            if hostSanitizedBy != nil && device == nil { throw ValidationError("--host-sanitized-by goes with --device") }
        }

        func run() throws {
            try global.report { context in
                let inventory = try context.inventory()
                var options = RetireOptions(operatorName: operatorName ?? AuditActor.current().osUser)
                options.method = method ?? .automatic
                options.verify = verify
                options.reason = reason
                options.destination = destination
                options.shutdownTimeout = shutdownTimeout
                options.hashLog = try appendHashTo.map { try CertificateHashLog.location($0, home: inventory.home) }
                return try RetireBatch(context: context, options: options)
                    .run(desktops: desktops, device: device, dryRun: dryRun, changingMethodTo: method, hostSanitizedBy: hostSanitizedBy)
            }
        }
    }

    struct Certificate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the newest certificate of a desktop (its signed JSON file).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Desktop name.")
        var subject: String

        func run() throws {
            try global.report { context in
                let inventory = try context.inventory()
                guard let latest = try CertificateIssuer(inventory: inventory).latest(subject: subject) else {
                    throw LCMError.notFound("a certificate for \(subject)", hint: "`lcm retire \(subject) --yes` issues one")
                }
                guard let data = FileManager.default.contents(atPath: latest.path) else {
                    throw LCMError(.notFound, "certificate \(latest.sequence) of \(subject) is recorded at \(latest.path), which cannot be read",
                                   hint: "restore it from a backup of \(inventory.home.path)/certificates")
                }
                return PlainText(String(decoding: data, as: UTF8.self))
            }
        }
    }

    struct VerifyCertificate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-certificate",
            abstract: "Check certificates against a trusted key: canonical form, Ed25519 signature, signer, claim against evidence, and the chain.",
            discussion: "The signer must be the trusted key: --trusted-key FILE or --trusted-fingerprint SHA256 (an auditor's copy from `lcm retire export-key`), else the home's own key; with none of them nothing is verified (exit 66). The report prints each certificate's signer. Give the whole chain (every file in $LCM_HOME/certificates) to find a removed certificate. With an lcm home, each certificate must match the one it recorded; with --hash-log, the one logged outside the home. Exit code 0 when all is valid, 3 otherwise, 65 or 66 for a bad or missing key file.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Certificate files.")
        var files: [String] = []
        @Flag(help: "Every certificate the home recorded.")
        var all = false
        @Option(name: .customLong("trusted-key"), help: ArgumentHelp("The signer's public key (PEM, from `lcm retire export-key`).", valueName: "file"))
        var trustedKey: String?
        @Option(name: .customLong("trusted-fingerprint"), help: ArgumentHelp("The signer's key fingerprint (SHA-256, 64 hex digits).", valueName: "sha256"))
        var trustedFingerprint: String?
        @Option(name: .customLong("hash-log"), help: ArgumentHelp("A log written with `lcm retire --append-hash-to`: every certificate must be in it.", valueName: "file"))
        var hashLog: String?

        func validate() throws {
            if files.isEmpty != all { throw ValidationError("give certificate files, or --all") }
            if trustedKey != nil && trustedFingerprint != nil { throw ValidationError("give --trusted-key or --trusted-fingerprint, not both") }
        }

        func run() throws {
            try global.report { context in
                let home = context.settings.home
                let trust = try CertificateTrustAnchor.resolve(trustedKeyFile: trustedKey, fingerprint: trustedFingerprint, home: home)
                var recorded: [Int: String] = [:]
                var paths = files
                if home.exists, FileManager.default.fileExists(atPath: home.databaseURL.path) {
                    let inventory = try context.inventory()
                    recorded = try CertificateIssuer(inventory: inventory).recordedChain()
                    if all { paths = try CertificateIssuer(inventory: inventory).recordedPaths() }
                } else if all {
                    throw LCMError(.notFound, "no lcm home at \(home.path)", hint: "give the certificate files instead")
                }
                let logged = try hashLog.map(CertificateHashLog.read)
                let report = CertificateVerifier.verify(paths: paths, trust: trust, recorded: recorded, hashLog: logged)
                return Rendered(report, exitCode: report.valid ? 0 : LCMExitCode.checkFailed.rawValue, text: RetireReports.text)
            }
        }
    }

    struct ExportKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-key",
            abstract: "Print the home's certificate-signing public key (PEM) for auditors.",
            discussion: "Give the output to an auditor over a channel an attacker on this machine does not control, and read its fingerprint out to them: they verify with `lcm retire verify-certificate --trusted-key FILE` or `--trusted-fingerprint`. The key is created if the home has none yet. --format json adds the fingerprint; in text the fingerprint goes to stderr.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.report { context in
                let key = try CertificateSigningKey.load(home: context.settings.home)!
                let exported = ExportedCertificateKey(key)
                return Rendered(exported, notes: ["fingerprint (SHA-256): \(exported.fingerprint)"]) { $0.publicKeyPEM }
            }
        }
    }
}

extension SanitizationMethod: ExpressibleByArgument {}
extension RetireOptions.Verification: ExpressibleByArgument {}
