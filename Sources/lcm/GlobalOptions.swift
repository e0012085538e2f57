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

    /// The environment is read here, at the edge, and nowhere in LCMKit.
    func settings(environment: [String: String] = ProcessInfo.processInfo.environment) -> LCMSettings {
        LCMSettings(home: LCMHome.resolve(explicit: home, environment: environment),
                    connectURI: LCMSettings.resolveConnectURI(explicit: connect, environment: environment),
                    format: format, quiet: quiet, verbose: verbose,
                    accelerator: accel ?? environment["LCM_ACCEL"].flatMap(Accelerator.init(rawValue:)) ?? .auto)
    }

    /// Builds the context, runs the command body, and turns any error into one line on stderr and
    /// the documented exit code. `csv` says the command's result is a table; others refuse
    /// `--format csv` before doing anything rather than print text a spreadsheet would misread.
    func run(csv: Bool = false, _ body: (LCMContext) throws -> Void) throws {
        let environment = ProcessInfo.processInfo.environment
        let settings = settings(environment: environment)
        if settings.format == .csv && !csv {
            Terminal.error(LCMError(.usage, "--format csv is for listings, and this command's result is not a table",
                                    hint: "use --format json for scripts, or text"))
            throw ExitCode(LCMExitCode.usage.rawValue)
        }
        var logger = Logger(label: "lcm") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = settings.verbose ? .debug : (settings.quiet ? .error : .notice)
        // LCM_FAILPOINT arms a crash test's kill point (tests/CI only; unset in normal use).
        let context = LCMContext(settings: settings, logger: logger,
                                 failPoints: FailPoints(armed: environment["LCM_FAILPOINT"]),
                                 progress: ProgressLine.sink(for: settings))
        // Before any key, passphrase, join blob or product key is read.
        if !ProcessHardening.forSecrets() {
            logger.warning("cannot make lcm non-dumpable with no core files: keys it holds could land in a core dump")
        }
        defer { ProgressLine.shared.clear() }
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

    /// `run` for a command whose result is a value: rendered once, in the format asked for, by
    /// `Terminal.render`. A nil result prints nothing.
    func report(csv: Bool = false, _ body: (LCMContext) throws -> (any CommandResult)?) throws {
        try run(csv: csv) { context in
            if let result = try body(context) { try Terminal.render(result, settings: context.settings) }
        }
    }
}

/// Where output goes: results to stdout, messages and errors to stderr (so JSON on stdout stays parseable).
enum Terminal {
    static func output(_ text: String) {
        ProgressLine.shared.clear()
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func message(_ text: String, settings: LCMSettings) {
        guard !settings.quiet else { return }
        ProgressLine.shared.clear()
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// The one error printer: `lcm: error: ...`, then `lcm: also: ...` for further problems of the
    /// same error, then `lcm: hint: ...`.
    static func error(_ error: LCMError, also: [String] = []) {
        ProgressLine.shared.clear()
        var line = "lcm: error: \(error.message)\n"
        line += also.map { "lcm: also: \($0)\n" }.joined()
        if let hint = error.hint { line += "lcm: hint: \(hint)\n" }
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// The one output path: the result in the chosen format on stdout; in text its notes on
    /// stderr (not with --quiet); its problems on stderr in every format; then its exit code.
    static func render(_ result: any CommandResult, settings: LCMSettings) throws {
        switch settings.format {
        case .json: output(try result.json())
        case .csv: output(result.csv() ?? result.text(quiet: settings.quiet))
        case .text:
            output(result.text(quiet: settings.quiet))
            for note in result.notes { message(note, settings: settings) }
        }
        for problem in result.problems { error(problem) }
        if result.exitCode != 0 { throw ExitCode(result.exitCode) }
    }
}

/// Global options where admins put them: before the subcommand (`lcm --connect URI deploy ...`,
/// as `virsh -c` and `git -C` take theirs) as well as after it. Those given before are moved to
/// just after the subcommand's name, where argument-parser reads them; given in both places, the
/// one after the subcommand wins, being later on the line (the last value of an option counts).
enum GlobalArguments {
    static let valued: Set<String> = ["--connect", "--home", "--format", "--accel"]
    static let flags: Set<String> = ["--quiet", "-q", "--verbose", "-v"]

    static func placed(_ arguments: [String], root: ParsableCommand.Type) -> [String] {
        var leading: [String] = []
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if flags.contains(argument) {
                leading.append(argument); index += 1
            } else if valued.contains(argument), index + 1 < arguments.endIndex {
                leading += [argument, arguments[index + 1]]; index += 2
            } else if let equals = argument.firstIndex(of: "="), valued.contains(String(argument[..<equals])) {
                leading.append(argument); index += 1
            } else {
                break
            }
        }
        guard !leading.isEmpty else { return arguments }
        var rest = Array(arguments[index...])
        var command = root, depth = 0
        while depth < rest.count, let subcommand = command.configuration.subcommands.first(where: {
            $0._commandName == rest[depth] || $0.configuration.aliases.contains(rest[depth])
        }) {
            command = subcommand; depth += 1
        }
        // No subcommand: argument-parser reports the options as it always did.
        guard depth > 0 else { return arguments }
        rest.insert(contentsOf: leading, at: depth)
        return rest
    }
}
