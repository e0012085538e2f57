import CLibvirt
import Foundation

/// A snapshot of a domain (`virDomainSnapshotPtr`), freed on deinit. lcm takes disk-only
/// external snapshots: each disk gets a qcow2 overlay, the domain writes to it from then on.
public final class DomainSnapshot: @unchecked Sendable {
    let pointer: virDomainSnapshotPtr
    /// Kept so the domain (and its connection) stay open as long as the handle is used.
    public let domain: Domain

    init(_ pointer: virDomainSnapshotPtr, domain: Domain) {
        self.pointer = pointer
        self.domain = domain
    }

    deinit {
        virDomainSnapshotFree(pointer)
    }

    public var name: String {
        get throws {
            guard let name = virDomainSnapshotGetName(pointer) else { throw domain.connection.error("virDomainSnapshotGetName") }
            return String(cString: name)
        }
    }

    /// The snapshot's `<domainsnapshot>` document as libvirt keeps it.
    public func xmlDescription() throws -> String {
        guard let xml = takeString(virDomainSnapshotGetXMLDesc(pointer, 0)) else {
            throw domain.connection.error("virDomainSnapshotGetXMLDesc")
        }
        return xml
    }

    /// Forgets the snapshot. With `metadataOnly` libvirt keeps the overlay files (external
    /// snapshots can only be forgotten that way in libvirt 9.0; the caller owns the files).
    public func delete(metadataOnly: Bool) throws {
        let flags = metadataOnly ? VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY.rawValue : 0
        guard virDomainSnapshotDelete(pointer, flags) >= 0 else { throw domain.connection.error("virDomainSnapshotDelete") }
    }
}

extension Domain {
    /// Takes a snapshot from its `<domainsnapshot>` document. `diskOnly`: no memory state, each
    /// disk an external overlay (made by libvirt, running or not); `atomic`: all disks or none.
    public func createSnapshot(xml: String, diskOnly: Bool, atomic: Bool = true) throws -> DomainSnapshot {
        var flags: UInt32 = 0
        if diskOnly { flags |= VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY.rawValue }
        if atomic { flags |= VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC.rawValue }
        guard let snapshot = virDomainSnapshotCreateXML(pointer, xml, flags) else {
            throw connection.error("virDomainSnapshotCreateXML")
        }
        return DomainSnapshot(snapshot, domain: self)
    }

    /// The snapshot named `name`, or nil when the domain has none by that name.
    public func lookupSnapshot(name: String) throws -> DomainSnapshot? {
        guard let snapshot = virDomainSnapshotLookupByName(pointer, name, 0) else {
            let error = connection.error("virDomainSnapshotLookupByName")
            if error.isNotFound { return nil }
            throw error
        }
        return DomainSnapshot(snapshot, domain: self)
    }
}
