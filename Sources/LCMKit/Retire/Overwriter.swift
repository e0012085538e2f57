import Foundation

/// Overwrites a `WipeTarget` with a pattern and reads it back.
///
/// A pass writes in chunks, in order, syncing at the target's checkpoints; `progress` learns each
/// synced offset, which is where a killed pass resumes (the bytes before it are durable). The
/// verifier regenerates the pattern and compares every byte read back, or a sample.
public enum Overwriter {
    /// Bytes per write and per read (a multiple of the direct-I/O alignment).
    static let chunkBytes = 4 << 20

    public struct PassResult: Sendable, Codable, Equatable {
        public var bytesWritten: UInt64
        public var seconds: Double
    }

    /// Writes `pattern` over `range` (the whole target by default), starting at `resumeAt` when a
    /// killed pass got that far. `progress` gets every synced offset: the next resume point.
    public static func overwrite(_ target: WipeTarget, with pattern: OverwritePattern, range: Range<UInt64>? = nil,
                                 resumeAt: UInt64? = nil, progress: (UInt64) throws -> Void = { _ in }) throws -> PassResult {
        let clock = ContinuousClock(), began = clock.now
        let range = range ?? 0..<target.size
        guard range.upperBound <= target.size else {
            throw LCMError(.failure, "overwrite range ends at \(range.upperBound), past the end (\(target.size))")
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 4096)
        defer { buffer.deallocate() }
        let first = min(max(resumeAt ?? range.lowerBound, range.lowerBound), range.upperBound)
        var offset = first
        var sinceSync: UInt64 = 0
        while offset < range.upperBound {
            let count = Int(min(UInt64(chunkBytes), range.upperBound - offset))
            let chunk = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
            try pattern.fill(chunk, at: offset)
            try target.write(UnsafeRawBufferPointer(chunk), at: offset)
            offset += UInt64(count)
            sinceSync += UInt64(count)
            if sinceSync >= target.checkpointBytes || offset == range.upperBound {
                try target.sync()
                sinceSync = 0
                try progress(offset)
            }
        }
        return PassResult(bytesWritten: range.upperBound - first, seconds: (clock.now - began).seconds)
    }

    public enum Coverage: String, Sendable, Codable, CaseIterable {
        /// Every byte.
        case full
        /// The first and last chunks and pseudorandom chunks, together at least `sampleFraction`.
        case sample
    }

    /// Share of the chunks a sample reads (NIST SP 800-88 leaves the size to policy; 10% here).
    public static let sampleFraction = 0.10

    public struct VerifyResult: Sendable, Codable, Equatable {
        public var coverage: Coverage
        public var bytesRead: UInt64
        public var mismatchedBytes: UInt64
        /// Offset of the first byte that differs from the pattern, if any.
        public var firstMismatch: UInt64?
        public var seconds: Double
        public var passed: Bool { mismatchedBytes == 0 }
    }

    /// Reads `range` of the target (all of it by default) back and compares it with `pattern`.
    public static func verify(_ target: WipeTarget, against pattern: OverwritePattern, range: Range<UInt64>? = nil,
                              coverage: Coverage = .full, progress: (UInt64) -> Void = { _ in }) throws -> VerifyResult {
        let clock = ContinuousClock(), began = clock.now
        let range = range ?? 0..<target.size
        let read = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 4096)
        let expected = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 4096)
        defer { read.deallocate(); expected.deallocate() }
        var result = VerifyResult(coverage: coverage, bytesRead: 0, mismatchedBytes: 0, firstMismatch: nil, seconds: 0)
        for chunkIndex in chunks(size: UInt64(range.count), coverage: coverage) {
            let offset = range.lowerBound + chunkIndex * UInt64(chunkBytes)
            let count = Int(min(UInt64(chunkBytes), range.upperBound - offset))
            let got = UnsafeMutableRawBufferPointer(rebasing: read[0..<count])
            let want = UnsafeMutableRawBufferPointer(rebasing: expected[0..<count])
            try target.read(into: got, at: offset)
            try pattern.fill(want, at: offset)
            if memcmp(got.baseAddress!, want.baseAddress!, count) != 0 {
                for index in 0..<count where got[index] != want[index] {
                    result.mismatchedBytes += 1
                    if result.firstMismatch == nil { result.firstMismatch = offset + UInt64(index) }
                }
            }
            result.bytesRead += UInt64(count)
            progress(result.bytesRead)
        }
        result.seconds = (clock.now - began).seconds
        return result
    }

    /// The chunk indexes a verification reads, in order.
    static func chunks(size: UInt64, coverage: Coverage) -> [UInt64] {
        let count = (size + UInt64(chunkBytes) - 1) / UInt64(chunkBytes)
        guard count > 0 else { return [] }
        guard coverage == .sample, count > 2 else { return Array(0..<count) }
        let wanted = max(2, Int((Double(count) * sampleFraction).rounded(.up)))
        var picked: Set<UInt64> = [0, count - 1]
        var generator = SystemRandomNumberGenerator()
        while picked.count < min(wanted, Int(count)) { picked.insert(UInt64.random(in: 0..<count, using: &generator)) }
        return picked.sorted()
    }
}
