import ArgumentParser
import Foundation
import LCMKit
import Logging

extension OutputFormat: ExpressibleByArgument {}
extension Accelerator: ExpressibleByArgument {}

/// The options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("libvirt URI of the device to act on (default: LCM_CONNECT, else qemu:///system as root, qemu:///session otherwise).", valueName: "uri"))
    var connect: String?

    @Option(name: .long, help: ArgumentHelp("lcm's home: inventory, locks, keys, image store (default: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).", valueName: "dir"))
    var home: String?

    @Option(name: .long, help: "Output format: text, json or csv (csv for listings only).")
    var format: OutputFormat = .text

    @Flag(name: .shortAndLong, help: "Print only results and errors (for cron).")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Log each step to stderr.")
    var verbose = false

    @Option(name: .long, help: "Accelerator for domains and the appliance: auto, kvm or tcg (default: LCM_ACCEL, else auto).")
    var accel: Accelerator?

    func settings() -> LCMSettings {
        let environment = ProcessInfo.processInfo.environment
        return LCMSettings(home: LCMHome.resolve(explicit: home),
                           connectURI: LCMSettings.resolveConnectURI(explicit: connect),
                           format: format, quiet: quiet, verbose: verbose,
                           accelerator: accel ?? environment["LCM_ACCEL"].flatMap(Accelerator.init(rawValue:)) ?? .auto)
    }

    /// Builds the context, runs the command body, and turns any error into one line on stderr and
    /// the documented exit code. `csv` says the command's result is a table; others refuse
    /// `--format csv` before doing anything rather than print text a spreadsheet would misread.
    func run(csv: Bool = false, _ body: (LCMContext) throws -> Void) throws {
        let settings = settings()
        if settings.format == .csv && !csv {
            Terminal.error(LCMError(.usage, "--format csv is for listings, and this command's result is not a table",
                                    hint: "use --format json for scripts, or text"))
            throw ExitCode(LCMExitCode.usage.rawValue)
        }
        var logger = Logger(label: "lcm") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = settings.verbose ? .debug : (settings.quiet ? .error : .notice)
        let context = LCMContext(settings: settings, logger: logger)
        // Before any key, passphrase, join blob or product key is read.
        if !ProcessHardening.forSecrets() {
            logger.warning("cannot make lcm non-dumpable with no core files: keys it holds could land in a core dump")
        }
        do {
            try body(context)
        } catch let error as ExitCode {
            throw error
        } catch let error as ValidationError {
            throw error
        } catch {
            let translated = LCMError.from(error)
            Terminal.error(translated)
            throw ExitCode(translated.code.rawValue)
        }
    }
}

/// Where output goes: results to stdout, messages and errors to stderr (so JSON on stdout stays parseable).
enum Terminal {
    static func output(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func message(_ text: String, settings: LCMSettings) {
        guard !settings.quiet else { return }
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static func error(_ error: LCMError) {
        var line = "lcm: error: \(error.message)\n"
        if let hint = error.hint { line += "lcm: hint: \(hint)\n" }
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// JSON for a Codable result, keys sorted so output is stable.
    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
    }
}
