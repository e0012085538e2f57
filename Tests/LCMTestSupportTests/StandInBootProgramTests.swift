import Foundation
import Guestfs
import LCMTestSupport
import Testing

/// The stand-in's pieces that can be checked on the host, without booting anything.
@Suite struct StandInBootProgramTests {
    /// Runs the stand-in's hive reader with the host's busybox, as the guest does.
    private func computerName(fromHive hive: [UInt8]) throws -> String {
        let dir = try makeTemporaryDirectory("lcm-hive-awk")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("SYSTEM")
        let script = dir.appendingPathComponent("hive.awk")
        try Data(hive).write(to: file)
        try Data(StandInBootProgram.hiveReaderScript.utf8).write(to: script)
        return try runTool("busybox", ["awk", "-v", "H=\(file.path)", "-f", script.path]).stdout
            .trimmingCharacters(in: .newlines)
    }

    @Test(.enabled(if: findTool("busybox") != nil))
    func hiveReaderFindsTheComputerName() throws {
        let spec = WindowsDiskSpec { $0.computerName = "READER-TEST" }
        #expect(try computerName(fromHive: RegistryHive.build(root: WindowsRegistryContent.system(spec))) == "READER-TEST")
    }

    /// With `Select\Current` = 2 the stale ControlSet001 holds another name: the reader must
    /// follow Select, as Windows does.
    @Test(.enabled(if: findTool("busybox") != nil))
    func hiveReaderFollowsTheCurrentControlSet() throws {
        let spec = WindowsDiskSpec { $0.computerName = "CURRENT-CS2"; $0.controlSet = 2 }
        let tree = WindowsRegistryContent.system(spec)
        #expect(tree.value(atPath: "ControlSet001\\Control\\ComputerName\\ComputerName", "ComputerName")
                == .string(WindowsRegistryContent.staleComputerName))
        #expect(try computerName(fromHive: RegistryHive.build(root: tree)) == "CURRENT-CS2")
    }

    /// A realistic SYSTEM hive: thousands of keys, index roots over subkey lists.
    @Test(.enabled(if: findTool("busybox") != nil))
    func hiveReaderCopesWithARealisticHive() throws {
        let spec = WindowsDiskSpec { $0.computerName = "BIG-SYSTEM" }
        var tree = WindowsRegistryContent.system(spec)
        RealisticRegistryFiller.fillSystem(&tree, controlSet: spec.controlSetName, minimumSize: 4 << 20, seed: 7)
        #expect(try computerName(fromHive: RegistryHive.build(root: tree)) == "BIG-SYSTEM")
    }

    /// `-v Q=setup`: Setup's progress flags, as the stand-in's `purge` waits for them (like the runner).
    @Test(.enabled(if: findTool("busybox") != nil))
    func hiveReaderReadsWindowsSetupProgress() throws {
        func progress(_ tree: RegistryKey) throws -> String {
            let dir = try makeTemporaryDirectory("lcm-hive-setup")
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("SYSTEM"), script = dir.appendingPathComponent("hive.awk")
            try Data(try RegistryHive.build(root: tree)).write(to: file)
            try Data(StandInBootProgram.hiveReaderScript.utf8).write(to: script)
            return try runTool("busybox", ["awk", "-v", "H=\(file.path)", "-v", "Q=setup", "-f", script.path]).stdout
                .trimmingCharacters(in: .newlines)
        }
        var tree = WindowsRegistryContent.system(WindowsDiskSpec { $0.computerName = "SETUP-TEST" })
        #expect(try progress(tree) == "0 0")
        tree.set("Setup", "OOBEInProgress", .dword(1))
        #expect(try progress(tree) == "0 1")
        tree.set("Setup", "SystemSetupInProgress", .dword(1))
        #expect(try progress(tree) == "1 1")
    }

    /// After hivex (what lcm uses offline) renames the computer, the reader sees the new name.
    @Test(.enabled(if: findTool("busybox") != nil && findTool("hivexsh") != nil))
    func hiveReaderSeesAHivexEdit() throws {
        let spec = WindowsDiskSpec { $0.computerName = "BEFORE" }
        let dir = try makeTemporaryDirectory("lcm-hive-edit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("SYSTEM")
        try Data(RegistryHive.build(root: WindowsRegistryContent.system(spec))).write(to: file)
        try runTool("hivexsh", ["-w", file.path], input: """
            cd ControlSet001\\Control\\ComputerName\\ComputerName
            setval 1
            ComputerName
            string:PERSONALIZED-01
            commit

            """)
        #expect(try computerName(fromHive: [UInt8](Data(contentsOf: file))) == "PERSONALIZED-01")
    }

    /// The boot chain: Debian's signed shim as the removable-media boot program, its signed GRUB
    /// beside it, a GRUB configuration that starts the host's (signed) kernel with the stand-in's
    /// initramfs, and an initramfs holding what /init needs.
    @Test(.enabled(if: applianceTestsEnabled))
    func espFilesCarryTheSignedChainKernelInitramfsAndCommandLine() throws {
        let cache = try makeTemporaryDirectory("lcm-standin")
        defer { try? FileManager.default.removeItem(at: cache) }
        let files = try StandInBootProgram.espFiles(cacheDirectory: cache)
        let again = try StandInBootProgram.espFiles(cacheDirectory: cache)
        #expect(again.map(\.file) == files.map(\.file), "cached")
        let byPath = Dictionary(files.map { ($0.espPath, $0.file) }, uniquingKeysWith: { first, _ in first })
        let shim = try #require(byPath["/EFI/BOOT/BOOTX64.EFI"])
        let grub = try #require(byPath["/EFI/BOOT/grubx64.efi"])
        #expect(try Data(contentsOf: shim) == Data(contentsOf: URL(fileURLWithPath: "/usr/lib/shim/shimx64.efi.signed")))
        #expect(try Data(contentsOf: grub) == Data(contentsOf: URL(fileURLWithPath: "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed")))
        for config in ["/EFI/BOOT/grub.cfg", "/EFI/debian/grub.cfg"] {
            let text = try String(contentsOf: try #require(byPath[config]), encoding: .utf8)
            #expect(text.contains("linux /EFI/lcm/vmlinuz ") && text.contains("initrd /EFI/lcm/initrd"), "\(config): \(text)")
            #expect(text.contains("console=ttyS0"))
            #expect(!text.contains("computer"), "the name must come from the disk")
        }
        let kernel = try #require(byPath["/EFI/lcm/vmlinuz"])
        // Debian's kernel as installed (a PE image: its EFI stub, with Debian's signature), not a rebuilt one.
        let kernelBytes = [UInt8](try Data(contentsOf: kernel))
        #expect(kernelBytes.starts(with: [0x4D, 0x5A]), "the kernel is not a PE image")
        let installed = try FileManager.default.contentsOfDirectory(atPath: "/boot").filter { $0.hasPrefix("vmlinuz-") }
        #expect(try installed.contains { try Data(contentsOf: URL(fileURLWithPath: "/boot/\($0)")) == Data(kernelBytes) })
        let initrd = try #require(byPath["/EFI/lcm/initrd"]).path

        let listing = try runTool("cpio", ["-it", "-F", initrd]).stdout.split(separator: "\n").map(String.init)
        for entry in ["init", "bin/busybox", "bin/ntfs-3g", "dev/console", "etc/lcm/hive.awk", "etc/lcm/modules",
                      "lib/modules/virtio_blk.ko", "lib/modules/virtio_scsi.ko", "lib/modules/ahci.ko", "lib/modules/fuse.ko"] {
            #expect(listing.contains(entry), "\(entry) missing from the initramfs")
        }
        #expect(listing.contains { $0.hasSuffix("libntfs-3g.so.89") || $0.contains("libntfs-3g.so") })
    }

    @Test func domainXMLBootsTheDiskUnderOVMF() {
        let xml = StandInDomain.xml(name: "lcm-x", disk: "/tmp/a'b.qcow2", bus: .sata, consoleLog: "/tmp/console.log")
        #expect(xml.contains("<domain type='qemu'>"))
        #expect(xml.contains("machine='q35'"))
        #expect(xml.contains(StandInDomain.firmwareCode))
        #expect(xml.contains("template='\(StandInDomain.firmwareVarsTemplate)'"))
        #expect(xml.contains("/tmp/a&apos;b.qcow2"))
        #expect(xml.contains("bus='sata'"))
        #expect(xml.contains("<on_poweroff>destroy</on_poweroff>"))
    }
}
