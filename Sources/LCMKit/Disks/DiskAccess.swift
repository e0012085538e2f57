import Foundation
import Guestfs

/// What the caller's work closure gets for one disk: the shared, launched appliance and the
/// device the disk appears as in it.
public struct DiskAccess: @unchecked Sendable {
    public let volume: DiskVolume
    /// The disk's position in the batch the caller passed.
    public let index: Int
    public let session: GuestfsSession
    /// The whole-disk device in the appliance, e.g. `/dev/sdc`.
    public let device: String

    /// Every partition the appliance showed right after launch, listed once for the whole batch
    /// (each listing is an appliance round trip of about 0.5 s under TCG).
    let partitionsAtLaunch: [String]?

    public init(volume: DiskVolume, index: Int, session: GuestfsSession, device: String, partitionsAtLaunch: [String]? = nil) {
        self.volume = volume; self.index = index; self.session = session; self.device = device
        self.partitionsAtLaunch = partitionsAtLaunch
    }

    /// The disk's partitions (`/dev/sdc1`, ...) as they were at launch. Work that repartitions
    /// the disk must ask `currentPartitions()` afterwards.
    public func partitions() throws -> [String] {
        try ownPartitions(partitionsAtLaunch ?? session.listPartitions())
    }

    /// The disk's partitions as they are now (one appliance round trip).
    public func currentPartitions() throws -> [String] {
        try ownPartitions(session.listPartitions())
    }

    private func ownPartitions(_ all: [String]) -> [String] {
        all.filter { $0.hasPrefix(device) && $0.dropFirst(device.count).allSatisfy(\.isNumber) }
    }
}
