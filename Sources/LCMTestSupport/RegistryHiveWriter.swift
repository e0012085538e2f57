import Foundation
import Guestfs

extension RegistryHive {
    /// Largest value data Windows keeps in one cell; longer data goes into a big data ("db")
    /// record of segments of at most this size (hive format 1.4 and later).
    public static let maximumCellDataSize = 16344

    /// Subkey lists ("lh") hold at most this many entries; keys with more subkeys get an index
    /// root ("ri") pointing to several lists, as Windows does for large keys.
    static let maximumLeafEntries = 511

    /// A complete hive holding `root` and everything below it.
    ///
    /// Written the way Windows lays hives out: one security descriptor shared by every key,
    /// subkey lists ("lh", or "ri" over several lists for large keys) sorted by upper-cased name,
    /// value data of 4 bytes or less inside the value cell, data longer than 16344 bytes in big
    /// data records, cells packed into 4 KiB hive bins. hivex reads and edits the result.
    ///
    /// `build(root: RegistryKey(rootName))` produces exactly `minimal(rootName:)`.
    public static func build(root: RegistryKey, lastWritten: Date = defaultTimestamp, minorVersion: UInt32 = 5) -> [UInt8] {
        build(root: root, fileTime: fileTime(lastWritten), minorVersion: minorVersion)
    }

    /// `build(root:lastWritten:minorVersion:)` with the time as a raw Windows FILETIME.
    public static func build(root: RegistryKey, fileTime timestamp: UInt64, minorVersion: UInt32 = 5) -> [UInt8] {
        let writer = TreeWriter(timestamp: timestamp, bigData: minorVersion >= 4, capacity: estimatedSize(of: root))
        let rootCell = writer.writeRoot(root)
        let hiveBins = writer.finish()
        let header = BaseBlock(
            sequence: 1, lastWritten: timestamp, minorVersion: minorVersion,
            rootCell: rootCell, hiveBinsSize: UInt32(hiveBins.count))
        return header.bytes() + hiveBins
    }

    /// A close upper estimate of the bytes `build` produces for `root` (used to reserve memory
    /// and by generators that fill hives up to a target size).
    public static func estimatedSize(of root: RegistryKey) -> Int {
        4096 + Int(Double(estimatedCellBytes(root)) * 1.03) + 4096
    }

    static func estimatedCellBytes(_ key: RegistryKey) -> Int {
        var total = RegfLayout.align(4 + KeyNodeCell.fixedSize + key.name.utf8.count, 8)
        if !key.values.isEmpty { total += RegfLayout.align(4 + 4 * key.values.count, 8) }
        for value in key.values {
            total += RegfLayout.align(4 + 0x14 + value.name.utf8.count, 8)
            let size = dataSize(value.value)
            if size > 4 { total += RegfLayout.align(4 + size, 8) + (size > maximumCellDataSize ? 32 : 0) }
        }
        if !key.subkeys.isEmpty { total += RegfLayout.align(4 + 4 + 8 * key.subkeys.count, 8) + 16 }
        for subkey in key.subkeys { total += estimatedCellBytes(subkey) }
        return total
    }

    /// The number of data bytes `value` takes, without encoding it.
    static func dataSize(_ value: RegistryValue) -> Int {
        switch value {
        case .string(let s), .expandString(let s): (s.utf16.count + 1) * 2
        case .multiString(let list): list.reduce(2) { $0 + ($1.utf16.count + 1) * 2 }
        case .dword: 4
        case .qword: 8
        case .binary(let bytes), .other(_, let bytes): bytes.count
        }
    }

    /// The "lh" hash of a key name: h = h * 37 + upper-case code unit, modulo 2^32.
    public static func lhHash(_ name: String) -> UInt32 {
        var hash: UInt32 = 0
        for unit in name.utf16 {
            let upper = (unit >= 0x61 && unit <= 0x7A) ? unit - 0x20 : unit
            hash = hash &* 37 &+ UInt32(upper)
        }
        return hash
    }

    /// The order Windows (and hivex) keep subkeys in: by name with ASCII letters upper-cased.
    static func sortKey(_ name: String) -> [UInt16] {
        name.utf16.map { ($0 >= 0x61 && $0 <= 0x7A) ? $0 - 0x20 : $0 }
    }

    /// `sortKey` for an ASCII name, as a String (compared in code unit order).
    static func asciiSortKey(_ name: String) -> String {
        name.uppercased()
    }
}

extension RegistryHive {
    /// Writes a key tree into hive bins. Cells are appended in depth-first order: a key's node,
    /// its values and their data, its subkeys, then its subkey list.
    ///
    /// Tens of MB of hive must build in seconds even in debug builds, so bytes go straight into
    /// a raw buffer and values are encoded in place rather than through `RegistryValue.data`.
    final class TreeWriter {
        private var base: UnsafeMutableRawPointer
        private var capacity: Int
        private var count = 0
        private var binEnd = 0
        private var next = 0
        private var security: UInt32 = RegfLayout.nilOffset
        private var keyCount: UInt32 = 0
        let timestamp: UInt64
        let bigData: Bool

        init(timestamp: UInt64, bigData: Bool, capacity: Int = 1 << 16) {
            self.timestamp = timestamp
            self.bigData = bigData
            self.capacity = max(capacity, 1 << 16)
            base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
        }

        deinit { base.deallocate() }

        func writeRoot(_ root: RegistryKey) -> UInt32 {
            let rootCell = writeKey(root, parent: RegfLayout.nilOffset, isRoot: true)
            let descriptor = SecurityDescriptor.defaultKey
            put(ascii: "sk", security, 0x00)
            put32(security, security, 0x04)         // flink: the only sk in the hive
            put32(security, security, 0x08)         // blink
            put32(keyCount, security, 0x0C)         // every key refers to it
            put32(UInt32(descriptor.count), security, 0x10)
            put(descriptor, security, 0x14)
            return rootCell
        }

        func finish() -> [UInt8] {
            if count == 0 { startBin(minimumCellSpace: 0) }
            closeBin()
            return [UInt8](UnsafeRawBufferPointer(start: base, count: count))
        }

        // MARK: Keys and values

        private func writeKey(_ key: RegistryKey, parent: UInt32, isRoot: Bool) -> UInt32 {
            keyCount += 1
            let name = EncodedName(key.name)
            let nk = allocate(KeyNodeCell.fixedSize + name.bytes.count)
            if isRoot {
                // The security cell right after the root node, as in `minimal`.
                security = allocate(SecurityCell.payloadSize(descriptor: SecurityDescriptor.defaultKey))
            }

            var valueCells: [UInt32] = []
            valueCells.reserveCapacity(key.values.count)
            var maxValueName = 0, maxValueData = 0
            for value in key.values {
                let (cell, size) = writeValue(value)
                valueCells.append(cell)
                maxValueName = max(maxValueName, value.name.utf16.count * 2)
                maxValueData = max(maxValueData, size)
            }
            var valueList = RegfLayout.nilOffset
            if !valueCells.isEmpty {
                valueList = allocate(4 * valueCells.count)
                for (i, cell) in valueCells.enumerated() { put32(cell, valueList, 4 * i) }
            }

            var order = Array(key.subkeys.indices)
            if order.count > 1 {
                if key.subkeys.allSatisfy({ $0.name.utf8.allSatisfy { $0 < 0x80 } }) {
                    // ASCII names: String comparison is code unit order and runs in the
                    // (optimized) standard library, which matters for keys with 100,000 subkeys.
                    let sortKeys = key.subkeys.map { RegistryHive.asciiSortKey($0.name) }
                    order.sort { sortKeys[$0] < sortKeys[$1] }
                } else {
                    let sortKeys = key.subkeys.map { RegistryHive.sortKey($0.name) }
                    order.sort { sortKeys[$0].lexicographicallyPrecedes(sortKeys[$1]) }
                }
            }
            var childCells: [(cell: UInt32, hash: UInt32)] = []
            childCells.reserveCapacity(order.count)
            var maxSubkeyName = 0
            for index in order {
                let child = key.subkeys[index]
                childCells.append((writeKey(child, parent: nk, isRoot: false), RegistryHive.lhHash(child.name)))
                maxSubkeyName = max(maxSubkeyName, child.name.utf16.count * 2)
            }
            let subkeyList = childCells.isEmpty ? RegfLayout.nilOffset : writeSubkeyList(childCells)

            var flags: KeyNodeFlags = isRoot ? [.hiveEntry, .noDelete] : []
            if name.compressed { flags.insert(.compressedName) }
            put(ascii: "nk", nk, 0x00)
            put16(flags.rawValue, nk, 0x02)
            put64(timestamp, nk, 0x04)
            put32(parent, nk, 0x10)
            put32(UInt32(childCells.count), nk, 0x14)
            put32(subkeyList, nk, 0x1C)
            put32(RegfLayout.nilOffset, nk, 0x20)               // volatile subkeys list
            put32(UInt32(valueCells.count), nk, 0x24)
            put32(valueList, nk, 0x28)
            put32(security, nk, 0x2C)
            put32(RegfLayout.nilOffset, nk, 0x30)               // class name
            put32(UInt32(maxSubkeyName), nk, 0x34)
            put32(UInt32(maxValueName), nk, 0x3C)
            put32(UInt32(maxValueData), nk, 0x40)
            put16(UInt16(name.bytes.count), nk, 0x48)
            put(name.bytes, nk, KeyNodeCell.fixedSize)
            return nk
        }

        /// The value cell and the size of its data.
        private func writeValue(_ value: RegistryKey.Value) -> (UInt32, Int) {
            let name = EncodedName(value.name)
            let size = RegistryHive.dataSize(value.value)
            let vk = allocate(0x14 + name.bytes.count)
            put(ascii: "vk", vk, 0x00)
            put16(UInt16(name.bytes.count), vk, 0x02)
            put32(value.value.type.rawValue, vk, 0x0C)
            put16(name.bytes.isEmpty ? 0 : (name.compressed ? 1 : 0), vk, 0x10)
            put(name.bytes, vk, 0x14)
            if size <= 4 {
                // Small data lives in the offset field; the top bit of the length says so.
                put32(UInt32(size) | 0x8000_0000, vk, 0x04)
                encode(value.value, at: Int(vk) + 4 + 0x08)
            } else if size > RegistryHive.maximumCellDataSize && bigData {
                put32(UInt32(size), vk, 0x04)
                put32(writeBigData(value.value.data), vk, 0x08)
            } else {
                let cell = allocate(size)
                encode(value.value, at: Int(cell) + 4)
                put32(UInt32(size), vk, 0x04)
                put32(cell, vk, 0x08)
            }
            return (vk, size)
        }

        /// Writes the bytes Windows stores for `value` (what `RegistryValue.data` returns).
        private func encode(_ value: RegistryValue, at offset: Int) {
            var o = offset
            func units(_ s: String) {
                for unit in s.utf16 {
                    base.storeBytes(of: unit.littleEndian, toByteOffset: o, as: UInt16.self)
                    o += 2
                }
                base.storeBytes(of: UInt16(0), toByteOffset: o, as: UInt16.self)
                o += 2
            }
            switch value {
            case .string(let s), .expandString(let s):
                units(s)
            case .multiString(let list):
                for s in list { units(s) }
                base.storeBytes(of: UInt16(0), toByteOffset: o, as: UInt16.self)
            case .dword(let v):
                base.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt32.self)
            case .qword(let v):
                base.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt64.self)
            case .binary(let bytes), .other(_, let bytes):
                store(bytes, at: o)
            }
        }

        /// A "db" record: the segment count, a list of segment cells, the segments.
        private func writeBigData(_ data: [UInt8]) -> UInt32 {
            let size = RegistryHive.maximumCellDataSize
            let segments = stride(from: 0, to: data.count, by: size).map { Array(data[$0..<min($0 + size, data.count)]) }
            let db = allocate(12)
            let list = allocate(4 * segments.count)
            for (i, segment) in segments.enumerated() {
                let cell = allocate(segment.count)
                put(segment, cell, 0)
                put32(cell, list, 4 * i)
            }
            put(ascii: "db", db, 0x00)
            put16(UInt16(segments.count), db, 0x02)
            put32(list, db, 0x04)
            return db
        }

        private func writeSubkeyList(_ children: [(cell: UInt32, hash: UInt32)]) -> UInt32 {
            let limit = RegistryHive.maximumLeafEntries
            if children.count <= limit { return writeLeaf(children[...]) }
            let leaves = stride(from: 0, to: children.count, by: limit).map {
                writeLeaf(children[$0..<min($0 + limit, children.count)])
            }
            let ri = allocate(4 + 4 * leaves.count)
            put(ascii: "ri", ri, 0x00)
            put16(UInt16(leaves.count), ri, 0x02)
            for (i, leaf) in leaves.enumerated() { put32(leaf, ri, 4 + 4 * i) }
            return ri
        }

        private func writeLeaf(_ children: ArraySlice<(cell: UInt32, hash: UInt32)>) -> UInt32 {
            let lh = allocate(4 + 8 * children.count)
            put(ascii: "lh", lh, 0x00)
            put16(UInt16(children.count), lh, 0x02)
            for (i, child) in children.enumerated() {
                put32(child.cell, lh, 4 + 8 * i)
                put32(child.hash, lh, 8 + 8 * i)
            }
            return lh
        }

        // MARK: Cells and bins

        /// Reserves an allocated cell for `payloadSize` bytes and returns its offset (relative to
        /// the first hive bin, as stored in the hive).
        private func allocate(_ payloadSize: Int) -> UInt32 {
            let size = RegfLayout.align(4 + payloadSize, RegfLayout.cellAlignment)
            if count == 0 || next + size > binEnd { startBin(minimumCellSpace: size) }
            let offset = next
            base.storeBytes(of: (-Int32(size)).littleEndian, toByteOffset: offset, as: Int32.self)
            next += size
            return UInt32(offset)
        }

        private func startBin(minimumCellSpace: Int) {
            if count > 0 { closeBin() }
            let size = RegfLayout.align(RegfLayout.hbinHeaderSize + minimumCellSpace, RegfLayout.hbinAlignment)
            let start = count
            grow(to: start + size)
            base.advanced(by: start).initializeMemory(as: UInt8.self, repeating: 0, count: size)
            count = start + size
            binEnd = count
            store(Array("hbin".utf8), at: start)
            base.storeBytes(of: UInt32(start).littleEndian, toByteOffset: start + 4, as: UInt32.self)
            base.storeBytes(of: UInt32(size).littleEndian, toByteOffset: start + 8, as: UInt32.self)
            base.storeBytes(of: timestamp.littleEndian, toByteOffset: start + 20, as: UInt64.self)
            next = start + RegfLayout.hbinHeaderSize
        }

        /// The unused tail of the current bin becomes one free cell (positive size).
        private func closeBin() {
            if binEnd > next { base.storeBytes(of: UInt32(binEnd - next).littleEndian, toByteOffset: next, as: UInt32.self) }
            next = binEnd
        }

        private func grow(to needed: Int) {
            guard needed > capacity else { return }
            var newCapacity = capacity
            while newCapacity < needed { newCapacity *= 2 }
            let bigger = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
            bigger.copyMemory(from: base, byteCount: count)
            base.deallocate()
            base = bigger
            capacity = newCapacity
        }

        private func put16(_ v: UInt16, _ cell: UInt32, _ field: Int) {
            base.storeBytes(of: v.littleEndian, toByteOffset: Int(cell) + 4 + field, as: UInt16.self)
        }
        private func put32(_ v: UInt32, _ cell: UInt32, _ field: Int) {
            base.storeBytes(of: v.littleEndian, toByteOffset: Int(cell) + 4 + field, as: UInt32.self)
        }
        private func put64(_ v: UInt64, _ cell: UInt32, _ field: Int) {
            base.storeBytes(of: v.littleEndian, toByteOffset: Int(cell) + 4 + field, as: UInt64.self)
        }
        private func put(_ bytes: [UInt8], _ cell: UInt32, _ field: Int) { store(bytes, at: Int(cell) + 4 + field) }
        private func put(ascii: StaticString, _ cell: UInt32, _ field: Int) {
            base.advanced(by: Int(cell) + 4 + field).copyMemory(from: ascii.utf8Start, byteCount: ascii.utf8CodeUnitCount)
        }

        private func store(_ bytes: [UInt8], at offset: Int) {
            precondition(offset >= 0 && offset + bytes.count <= count, "write outside the hive bins")
            bytes.withUnsafeBytes { if let from = $0.baseAddress { base.advanced(by: offset).copyMemory(from: from, byteCount: $0.count) } }
        }
    }

    /// A key or value name as stored: Latin-1 ("compressed") when every character fits, which
    /// Windows prefers, else UTF-16LE.
    struct EncodedName {
        let bytes: [UInt8]
        let compressed: Bool

        init(_ name: String) {
            let utf8 = name.utf8
            if utf8.allSatisfy({ $0 < 0x80 }) {
                bytes = Array(utf8)
                compressed = true
            } else {
                (bytes, compressed) = KeyNodeCell.encodedName(name)
            }
        }
    }
}
