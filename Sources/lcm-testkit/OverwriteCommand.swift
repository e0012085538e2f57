import ArgumentParser
import Foundation
import LCMKit

/// `overwrite FILE`: one random pass of lcm's overwriter over a local file or block device, then
/// optionally its full verification; prints the timings as JSON (for scripts/bench/wipe).
struct OverwriteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overwrite", abstract: "One random overwrite pass over a file with lcm's overwriter, timed.")

    @Argument(help: "File or block device.") var path: String
    @Flag(help: "Read every byte back and compare after the pass.") var verify = false
    @Flag(help: "Only verify: regenerate the pass from --seed/--nonce and compare.") var verifyOnly = false
    @Option(help: "Seed (64 hex digits) for --verify-only.") var seed: String?
    @Option(help: "Nonce (16 hex digits) for --verify-only.") var nonce: String?

    struct Output: Codable {
        var bytes: UInt64
        var route: String
        var passSeconds: Double?
        var verifySeconds: Double?
        var verified: Bool?
        var seed: String
        var nonce: String
    }

    func run() throws {
        let target = try LocalWipeTarget(path: path)
        let pattern: OverwritePattern
        if verifyOnly {
            guard let seed = seed.flatMap(Self.bytes), let nonce = nonce.flatMap(Self.bytes) else {
                throw ValidationError("--verify-only needs --seed and --nonce in hex")
            }
            pattern = .random(seed: seed, nonce: nonce)
        } else {
            pattern = .freshRandom()
        }
        guard case .random(let seedBytes, let nonceBytes) = pattern else { return }
        var output = Output(bytes: target.size, route: target.route,
                            seed: seedBytes.hexString,
                            nonce: nonceBytes.hexString)
        if !verifyOnly { output.passSeconds = try Overwriter.overwrite(target, with: pattern).seconds }
        if verify || verifyOnly {
            let result = try Overwriter.verify(target, against: pattern)
            output.verifySeconds = result.seconds
            output.verified = result.passed
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(output), as: UTF8.self))
        if output.verified == false { throw ExitCode(3) }
    }

    static func bytes(_ hex: String) -> [UInt8]? {
        guard hex.count % 2 == 0 else { return nil }
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            result.append(byte)
            index = next
        }
        return result
    }
}
