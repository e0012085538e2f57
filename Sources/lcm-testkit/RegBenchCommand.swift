import ArgumentParser
import Foundation
import LCMKit
import LCMTestSupport

/// .reg parsing for the benchmark (scripts/bench/reg-parse): lcm's parser timed on its own, and an
/// empty hive for a standard tool to merge the same file into.
struct RegBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reg", abstract: ".reg helpers for benchmarks.", subcommands: [Parse.self, EmptyHive.self])

    struct Parse: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "parse", abstract: "Parse .reg files as `lcm manage patch` does; print bytes, changes and seconds per file.")
        @Argument var files: [String]
        func run() throws {
            for path in files {
                let started = ContinuousClock.now
                let file = try RegFile(contentsOf: path)
                let elapsed = ContinuousClock.now - started
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)??.intValue ?? 0
                print("\(path) bytes=\(bytes) changes=\(file.changes.count) seconds=\(String(format: "%.3f", seconds))")
            }
        }
    }

    struct EmptyHive: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "empty-hive", abstract: "Write a hive holding only its root key (for hivexregedit --merge).")
        @Argument var output: String
        func run() throws {
            try Data(RegistryHive.build(root: RegistryKey("ROOT"))).write(to: URL(fileURLWithPath: output))
        }
    }
}
