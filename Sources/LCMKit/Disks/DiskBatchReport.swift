import Foundation

/// One disk's outcome.
public struct DiskResult<Value: Sendable>: Sendable {
    public var volume: DiskVolume
    public var index: Int
    public var outcome: Result<Value, DiskFailure>

    public var failure: DiskFailure? {
        if case .failure(let failure) = outcome { return failure }
        return nil
    }
    public var value: Value? { try? outcome.get() }
}

/// Bytes moved through libvirt streams for remote disks.
public struct TransferTotals: Codable, Sendable, Equatable {
    public var downloaded: UInt64 = 0
    public var uploaded: UInt64 = 0
    /// Read back to check the remote copy (before an upload: unchanged since download; after:
    /// equal to what was sent).
    public var verified: UInt64 = 0
    public var total: UInt64 { downloaded + uploaded + verified }
    public init() {}
}

/// How a batch will run: how many launches, which disks in which.
public struct DiskPlan: Codable, Sendable, Equatable {
    public var diskCount: Int
    public var drivesPerLaunch: Int
    /// Disk indexes per planned launch (before validation drops bad disks).
    public var launches: [[Int]]
    public var remoteDisks: Int
    /// One line per launch for the admin, e.g. "2 launches: 255 + 45 disks".
    public var summary: String {
        let sizes = launches.map { String($0.count) }.joined(separator: " + ")
        let launchWord = launches.count == 1 ? "launch" : "launches"
        var text = "\(diskCount) disk(s) in \(launches.count) appliance \(launchWord) (\(sizes); at most \(drivesPerLaunch) drives each)"
        if remoteDisks > 0 { text += "; \(remoteDisks) remote disk(s) go through libvirt streams" }
        return text
    }
}

/// Everything a batch did.
public struct DiskBatchReport<Value: Sendable>: Sendable {
    public var plan: DiskPlan
    /// One result per disk, in the order given.
    public var results: [DiskResult<Value>]
    /// Appliance launches attempted (including failed ones found while bisecting).
    public var launches: Int
    public var failedLaunches: Int
    public var transfer: TransferTotals
    public var secondsPreparing: Double
    public var secondsLaunching: Double
    public var secondsWorking: Double
    public var secondsFinishing: Double
    public var secondsTotal: Double

    public var succeeded: [DiskResult<Value>] { results.filter { $0.failure == nil } }
    public var failed: [DiskResult<Value>] { results.filter { $0.failure != nil } }
}
