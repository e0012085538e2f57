import Foundation
import Libvirt
import Testing

extension LibvirtTests {
    @Suite("Storage")
    struct StorageTests {
        static let mebibyte = 1024 * 1024

        static func dirPoolXML(name: String, directory: String) -> String {
            """
            <pool type='dir'>
              <name>\(name)</name>
              <target><path>\(directory)</path></target>
            </pool>
            """
        }

        static func volumeXML(name: String, bytes: Int, format: String, backing: String? = nil) -> String {
            let backingStore = backing.map {
                "<backingStore><path>\($0)</path><format type='qcow2'/></backingStore>"
            } ?? ""
            return """
                <volume>
                  <name>\(name)</name>
                  <capacity unit='bytes'>\(bytes)</capacity>
                  <target><format type='\(format)'/></target>
                  \(backingStore)
                </volume>
                """
        }

        /// Defines, builds and starts a dir pool in a fresh directory, runs `body`, and
        /// removes everything afterwards even when `body` fails.
        func withPool(_ body: (Connection, StoragePool) throws -> Void) throws {
            let connection = try Fixtures.system()
            let name = Fixtures.uniqueName("pool")
            let directory = "/var/lib/libvirt/images/\(name)"
            defer { Fixtures.removePool(named: name, directory: directory, on: connection) }

            let pool = try connection.defineStoragePool(xml: Self.dirPoolXML(name: name, directory: directory))
            #expect(try pool.name == name)
            #expect(try !pool.isActive)
            try pool.build()
            #expect(FileManager.default.fileExists(atPath: directory), "build creates the directory")
            try pool.create()
            #expect(try pool.isActive)
            try pool.setAutostart(false)
            try pool.refresh()
            #expect(try pool.info().state == .running)
            #expect(try pool.xmlDescription().contains("<path>\(directory)</path>"))
            #expect(try connection.lookupStoragePool(name: name) != nil)
            #expect(try connection.listAllStoragePools().contains { try $0.name == name })

            try body(connection, pool)

            try pool.destroy()
            #expect(try pool.info().state == .inactive)
            try pool.delete()
            #expect(!FileManager.default.fileExists(atPath: directory), "delete removes the directory")
            try pool.undefine()
            #expect(try connection.lookupStoragePool(name: name) == nil)
        }

        @Test("a raw volume round-trips 3 MiB of random bytes through streams")
        func uploadDownload() throws {
            try withPool { _, pool in
                let size = 3 * Self.mebibyte
                let volume = try pool.createVolume(xml: Self.volumeXML(name: "data.raw", bytes: size, format: "raw"))
                #expect(try volume.name == "data.raw")
                #expect(try volume.path.hasSuffix("/data.raw"))
                #expect(try volume.key == volume.path)
                let info = try volume.info()
                #expect(info.type == .file)
                #expect(info.capacity == UInt64(size))
                #expect(try volume.xmlDescription().contains("<name>data.raw</name>"))
                #expect(try pool.lookupVolume(name: "data.raw") != nil)
                #expect(try pool.lookupVolume(name: "missing.raw") == nil)
                #expect(try pool.listAllVolumes().count == 1)

                let scratch = FileManager.default.temporaryDirectory
                    .appendingPathComponent(Fixtures.uniqueName("transfer"))
                try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: scratch) }

                // File upload, file download.
                let original = Fixtures.randomBytes(size)
                let source = scratch.appendingPathComponent("source.bin")
                try Data(original).write(to: source)
                var progressReports: [UInt64] = []
                let sent = try volume.upload(from: source, progress: { progressReports.append($0) })
                #expect(sent == UInt64(size))
                #expect(progressReports.last == UInt64(size))
                #expect(progressReports == progressReports.sorted())

                let target = scratch.appendingPathComponent("target.bin")
                let received = try volume.download(to: target, progress: nil)
                #expect(received == UInt64(size))
                #expect(try Data(contentsOf: target) == Data(original))

                // In-memory upload at an offset, partial download of the same range.
                let patch = Fixtures.randomBytes(4096)
                try volume.upload(data: patch, offset: UInt64(Self.mebibyte))
                let slice = scratch.appendingPathComponent("slice.bin")
                try volume.download(to: slice, offset: UInt64(Self.mebibyte), length: 4096)
                #expect(try Data(contentsOf: slice) == Data(patch))
                try volume.upload(data: Data(patch), offset: 0)

                // A source that ends early fails the transfer and aborts the stream; the
                // volume is released again (a volume with a live transfer cannot be deleted).
                let failure = try #require(throws: LibvirtError.self) {
                    try volume.upload(from: URL(fileURLWithPath: "/dev/null"), length: 4096, progress: nil)
                }
                #expect(failure.message.contains("ended after 0 of 4096 bytes"))
                #expect(throws: LibvirtError.self) {
                    try volume.upload(from: scratch.appendingPathComponent("missing.bin"))
                }
                #expect(throws: LibvirtError.self) {
                    try volume.upload(from: source, length: UInt64(size + 1))
                }
                #expect(throws: LibvirtError.self) {
                    try volume.download(to: scratch.appendingPathComponent("missing-dir/x.bin"))
                }

                // A device (no trustworthy size) is read for exactly `length` bytes.
                #expect(try volume.upload(from: URL(fileURLWithPath: "/dev/zero"), length: 8192) == 8192)
                let zeros = scratch.appendingPathComponent("zeros.bin")
                try volume.download(to: zeros, length: 8192)
                #expect(try Data(contentsOf: zeros) == Data(count: 8192))
                try volume.resize(capacity: UInt64(4 * Self.mebibyte))
                #expect(try volume.info().capacity == UInt64(4 * Self.mebibyte))

                try volume.delete()
                #expect(try pool.lookupVolume(name: "data.raw") == nil)
            }
        }

        @Test("a qcow2 overlay created from XML points at its backing volume")
        func backingStore() throws {
            try withPool { _, pool in
                let base = try pool.createVolume(
                    xml: Self.volumeXML(name: "base.qcow2", bytes: 16 * Self.mebibyte, format: "qcow2"))
                let basePath = try base.path
                let overlay = try pool.createVolume(
                    xml: Self.volumeXML(
                        name: "overlay.qcow2", bytes: 16 * Self.mebibyte, format: "qcow2", backing: basePath))
                #expect(try overlay.xmlDescription().contains("<path>\(basePath)</path>"))

                let (status, output) = try Fixtures.run(
                    "/usr/bin/qemu-img", ["info", "--output=json", try overlay.path])
                #expect(status == 0)
                let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
                #expect(json["format"] as? String == "qcow2")
                #expect(json["backing-filename"] as? String == basePath)
                #expect(json["backing-filename-format"] as? String == "qcow2")

                try overlay.delete()
                try base.delete()
                #expect(try pool.listAllVolumes().isEmpty)
            }
        }

        @Test("storage pools of the mock driver")
        func mockPools() throws {
            let connection = try Connection(uri: Fixtures.mockURI)
            let pool = try #require(try connection.lookupStoragePool(name: "default-pool"))
            #expect(try pool.isActive)
            #expect(try pool.info().capacity > 0)
            #expect(try connection.lookupStoragePool(name: Fixtures.uniqueName("missing")) == nil)
        }
    }
}
