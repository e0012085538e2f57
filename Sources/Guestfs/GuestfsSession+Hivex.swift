import CGuestfs

/// A key (node) in the hive open on a session. Valid until the hive is closed.
public struct HiveNode: Hashable, Sendable {
    public let handle: Int64
}

/// A value in the hive open on a session. Valid until the hive is closed.
public struct HiveValueHandle: Hashable, Sendable {
    public let handle: Int64
}

/// Registry hive editing through the appliance (`guestfs_hivex_*`).
///
/// One hive can be open per handle at a time: opening another (or `inspectListApplications`,
/// or inspection) closes the current one, and its node and value handles become invalid.
/// Key and value names are matched case-insensitively, as Windows does.
extension GuestfsSession {
    /// Opens a hive file at `path` inside the appliance (a mounted filesystem).
    /// - Parameter write: allow changes; they reach the file only on `hivexCommit`.
    public func hivexOpen(_ path: String, write: Bool = false) throws {
        var opts = guestfs_hivex_open_argv()
        if write {
            opts.bitmask |= LCM_GUESTFS_HIVEX_OPEN_WRITE_BITMASK
            opts.write = 1
        }
        try call("hivex_open") { guestfs_hivex_open_argv($0, path, &opts) }
    }

    /// Closes the open hive, discarding uncommitted changes.
    public func hivexClose() throws {
        try call("hivex_close") { guestfs_hivex_close($0) }
    }

    /// Writes the changes to the hive file (or to `path` inside the appliance, when given).
    public func hivexCommit(to path: String? = nil) throws {
        try call("hivex_commit") { g in
            if let path { guestfs_hivex_commit(g, path) } else { guestfs_hivex_commit(g, nil) }
        }
    }

    /// Opens a hive, runs `body`, commits when `write` and `body` succeeded, and closes it.
    public func withHive<T>(_ path: String, write: Bool = false, _ body: (GuestfsSession) throws -> T) throws -> T {
        try hivexOpen(path, write: write)
        let result: T
        do {
            result = try body(self)
            if write { try hivexCommit() }
        } catch {
            try? hivexClose()
            throw error
        }
        try hivexClose()
        return result
    }

    public func hivexRoot() throws -> HiveNode {
        HiveNode(handle: try call64("hivex_root") { guestfs_hivex_root($0) })
    }

    public func nodeName(_ node: HiveNode) throws -> String {
        try callString("hivex_node_name") { guestfs_hivex_node_name($0, node.handle) }
    }

    public func nodeParent(_ node: HiveNode) throws -> HiveNode {
        HiveNode(handle: try call64("hivex_node_parent") { guestfs_hivex_node_parent($0, node.handle) })
    }

    public func nodeChildren(_ node: HiveNode) throws -> [HiveNode] {
        try withHandle("hivex_node_children") { g in
            guard let list = guestfs_hivex_node_children(g, node.handle) else {
                throw Self.lastError(g, "hivex_node_children")
            }
            defer { guestfs_free_hivex_node_list(list) }
            return UnsafeBufferPointer(start: list.pointee.val, count: Int(list.pointee.len))
                .map { HiveNode(handle: $0.hivex_node_h) }
        }
    }

    /// The child key called `name`, or nil.
    public func nodeGetChild(_ node: HiveNode, _ name: String) throws -> HiveNode? {
        let h = try call64("hivex_node_get_child") { guestfs_hivex_node_get_child($0, node.handle, name) }
        return h == 0 ? nil : HiveNode(handle: h)
    }

    /// Adds a child key (which must not exist yet) and returns it.
    @discardableResult
    public func nodeAddChild(_ parent: HiveNode, _ name: String) throws -> HiveNode {
        HiveNode(handle: try call64("hivex_node_add_child") { guestfs_hivex_node_add_child($0, parent.handle, name) })
    }

    /// Deletes a key with all its subkeys and values.
    public func nodeDeleteChild(_ node: HiveNode) throws {
        try call("hivex_node_delete_child") { guestfs_hivex_node_delete_child($0, node.handle) }
    }

    public func nodeValues(_ node: HiveNode) throws -> [HiveValueHandle] {
        try withHandle("hivex_node_values") { g in
            guard let list = guestfs_hivex_node_values(g, node.handle) else {
                throw Self.lastError(g, "hivex_node_values")
            }
            defer { guestfs_free_hivex_value_list(list) }
            return UnsafeBufferPointer(start: list.pointee.val, count: Int(list.pointee.len))
                .map { HiveValueHandle(handle: $0.hivex_value_h) }
        }
    }

    /// The value called `key` (`""` for the default value), or nil.
    public func nodeGetValue(_ node: HiveNode, _ key: String) throws -> HiveValueHandle? {
        let h = try call64("hivex_node_get_value") { guestfs_hivex_node_get_value($0, node.handle, key) }
        return h == 0 ? nil : HiveValueHandle(handle: h)
    }

    /// The value's name (`""` for the default value).
    public func valueKey(_ value: HiveValueHandle) throws -> String {
        try callString("hivex_value_key") { guestfs_hivex_value_key($0, value.handle) }
    }

    public func valueType(_ value: HiveValueHandle) throws -> RegistryValueType {
        let t = try call64("hivex_value_type") { guestfs_hivex_value_type($0, value.handle) }
        return RegistryValueType(rawValue: UInt32(truncatingIfNeeded: t))
    }

    /// The value's raw data bytes.
    public func valueBytes(_ value: HiveValueHandle) throws -> [UInt8] {
        try callBuffer("hivex_value_value") { guestfs_hivex_value_value($0, value.handle, $1) }
    }

    /// The value's data decoded according to its type.
    public func valueDecoded(_ value: HiveValueHandle) throws -> RegistryValue {
        RegistryValue(type: try valueType(value), data: try valueBytes(value))
    }

    /// Creates or replaces the value `key` of `node` with raw `bytes` of `type`.
    public func nodeSetValue(_ node: HiveNode, key: String, type: RegistryValueType, bytes: [UInt8]) throws {
        try call("hivex_node_set_value") { g in
            bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) {
                    guestfs_hivex_node_set_value(g, node.handle, key, Int64(type.rawValue), $0.baseAddress, $0.count)
                }
            }
        }
    }

    /// Creates or replaces the value `key` of `node`.
    public func nodeSetValue(_ node: HiveNode, key: String, _ value: RegistryValue) throws {
        try nodeSetValue(node, key: key, type: value.type, bytes: value.data)
    }

    // MARK: Conveniences

    /// The key at a backslash-separated path below the root (`"ControlSet001\\Services"`);
    /// `""` is the root. With `create`, missing keys are added; otherwise nil when missing.
    public func node(atPath path: String, create: Bool = false) throws -> HiveNode? {
        var node = try hivexRoot()
        for name in path.split(separator: "\\", omittingEmptySubsequences: true).map(String.init) {
            if let child = try nodeGetChild(node, name) {
                node = child
            } else if create {
                node = try nodeAddChild(node, name)
            } else {
                return nil
            }
        }
        return node
    }

    /// The value `key` of `node`, decoded, or nil when there is none.
    public func value(_ node: HiveNode, _ key: String) throws -> RegistryValue? {
        guard let handle = try nodeGetValue(node, key) else { return nil }
        return try valueDecoded(handle)
    }

    /// All values of `node` by name, in hive order.
    public func values(_ node: HiveNode) throws -> [(name: String, value: RegistryValue)] {
        try nodeValues(node).map { (try valueKey($0), try valueDecoded($0)) }
    }
}
