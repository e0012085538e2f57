import Foundation

/// The programs that boot in place of Windows on bootable test disks, as files of the ESP: a
/// boot chain that Secure Boot with Microsoft's keys accepts, ending in the host's kernel with a
/// busybox initramfs. OVMF starts `\EFI\BOOT\BOOTX64.EFI` (Debian's shim, signed by Microsoft's
/// UEFI CA), shim starts `grubx64.efi` beside it (Debian's signed GRUB), GRUB reads `grub.cfg`
/// and starts Debian's signed kernel, which shim verifies; the initramfs is not verified (GRUB
/// does not check an initrd). The same chain boots with Secure Boot off.
///
/// At boot it mounts the NTFS volume holding `\Windows` (ntfs-3g over FUSE: Debian's kernel has
/// no ntfs3), reads the computer name from the SYSTEM hive itself (`hiveReaderScript`: a small
/// regf walker in busybox awk that follows `Select\Current`; the name is never passed in),
/// appends the boot marker, records whether the kernel found Secure Boot on (`firmwareLogPath`),
/// carries out the boot-time queue as `BootRunnerContract` says (reporting exit code 0, or the
/// `standin-exit` the manifest asks for), unmounts and powers off. It stands in for Windows at
/// boot only.
///
/// Everything comes from Debian packages on the host: linux-image-amd64, shim-signed,
/// grub-efi-amd64-signed, busybox-static, ntfs-3g. The files are built once per set of inputs
/// and cached (about 20 MB).
public enum StandInBootProgram {
    /// Bump when the files change in a way their inputs do not show.
    static let formatVersion = 2

    /// Kernel modules the initramfs loads, with their dependencies: disk controllers a desktop
    /// may use (virtio-blk, virtio-scsi, SATA/AHCI, NVMe), FUSE for ntfs-3g, and SATA CD-ROMs with
    /// ISO 9660 for patch media. Debian's modules are signed, so a kernel locked down by Secure
    /// Boot loads them.
    static let modules = ["virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod", "ahci", "nvme", "fuse", "sr_mod", "isofs"]

    static let shimPath = "/usr/lib/shim/shimx64.efi.signed"
    static let grubPath = "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"
    static let busyboxPath = "/bin/busybox"
    static let ntfs3gPath = "/usr/bin/ntfs-3g"
    /// No name, no secret: the guest must learn everything from the disk.
    static let commandLine = "console=ttyS0 quiet panic=-1 rdinit=/init"

    /// Where the stand-in records, on the Windows volume, what the kernel said about Secure Boot:
    /// one line per boot, `secure-boot=enabled` or `secure-boot=disabled` (`unknown` if it said nothing).
    public static let firmwareLogPath = "ProgramData/lcm/standin-firmware.log"

    /// GRUB's configuration. Debian's signed GRUB looks for it in `\EFI\debian` (its built-in
    /// prefix) and then beside itself, so it goes in both places.
    static let grubConfig = """
        set timeout=0
        linux /EFI/lcm/vmlinuz \(commandLine)
        initrd /EFI/lcm/initrd
        boot

        """

    /// Each file of the boot chain: its path on the ESP and its name in the cache directory.
    public static let espLayout: [(espPath: String, cached: String)] = [
        ("/EFI/BOOT/BOOTX64.EFI", "shimx64.efi"),
        ("/EFI/BOOT/grubx64.efi", "grubx64.efi"),
        ("/EFI/BOOT/grub.cfg", "grub.cfg"),
        ("/EFI/debian/grub.cfg", "grub.cfg"),
        ("/EFI/lcm/vmlinuz", "vmlinuz"),
        ("/EFI/lcm/initrd", "initrd"),
    ]

    /// The cached boot files, built first if needed: ESP path -> file on the host, in `espLayout` order.
    public static func espFiles(cacheDirectory: URL) throws -> [(espPath: String, file: URL)] {
        let inputs = try Inputs.discover()
        let directory = cacheDirectory.appendingPathComponent("standin").appendingPathComponent(inputs.key)
        let files = espLayout.map { ($0.espPath, directory.appendingPathComponent($0.cached)) }
        if FileManager.default.fileExists(atPath: directory.path) { return files }

        try FileManager.default.createDirectory(at: cacheDirectory.appendingPathComponent("standin"), withIntermediateDirectories: true)
        let work = cacheDirectory.appendingPathComponent("standin").appendingPathComponent("build-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        try Data(try initramfs(inputs)).write(to: work.appendingPathComponent("initrd"))
        try Data(grubConfig.utf8).write(to: work.appendingPathComponent("grub.cfg"))
        for (source, name) in [(shimPath, "shimx64.efi"), (grubPath, "grubx64.efi"), (inputs.kernel, "vmlinuz")] {
            try FileManager.default.copyItem(atPath: source, toPath: work.appendingPathComponent(name).path)
        }
        // Renaming the finished directory is atomic: a concurrent builder never sees half of it,
        // and the loser of a race finds the winner's.
        if rename(work.path, directory.path) != 0 && !FileManager.default.fileExists(atPath: directory.path) {
            throw WindowsDiskError.buildFailed("cannot move \(work.path) into the cache")
        }
        return files
    }

    // MARK: Inputs

    struct Inputs {
        var kernel: String
        var kernelVersion: String
        var moduleFiles: [String]        // absolute paths, load order
        var libraries: [String]          // ntfs-3g's shared libraries and loader
        var key: String

        static func discover() throws -> Inputs {
            for path in [shimPath, grubPath, busyboxPath, ntfs3gPath] where !FileManager.default.fileExists(atPath: path) {
                throw WindowsDiskError.toolMissing(path)
            }
            guard try isStaticELF(busyboxPath) else {
                throw WindowsDiskError.buildFailed("\(busyboxPath) is not statically linked: install busybox-static")
            }
            let (kernel, version) = try newestKernel()
            let moduleFiles = try resolveModules(StandInBootProgram.modules, kernelVersion: version)
            let libraries = try sharedLibraries(of: ntfs3gPath)
            var fingerprint = "v\(formatVersion)\n\(grubConfig)\n\(initScript)\n\(hiveReaderScript)\n"
            for path in [kernel, shimPath, grubPath, busyboxPath, ntfs3gPath] + libraries + moduleFiles {
                let attributes = try FileManager.default.attributesOfItem(atPath: path)
                let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
                let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
                fingerprint += "\(path) \(size) \(modified)\n"
            }
            return Inputs(kernel: kernel, kernelVersion: version, moduleFiles: moduleFiles, libraries: libraries,
                          key: StableHash.hex128(Data(fingerprint.utf8)))
        }
    }

    /// The newest `/boot/vmlinuz-*` that has its modules installed.
    static func newestKernel() throws -> (path: String, version: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/boot")) ?? []
        let versions = names.filter { $0.hasPrefix("vmlinuz-") }.map { String($0.dropFirst("vmlinuz-".count)) }
            .filter { FileManager.default.fileExists(atPath: "/lib/modules/\($0)/modules.dep") }
            .sorted { $0.compare($1, options: .numeric) == .orderedAscending }
        guard let version = versions.last else {
            throw WindowsDiskError.buildFailed("no kernel with modules in /boot (install linux-image-amd64)")
        }
        return ("/boot/vmlinuz-\(version)", version)
    }

    /// `wanted` and their dependencies from modules.dep, dependencies first. Modules built into
    /// the kernel are simply absent from modules.dep and skipped.
    static func resolveModules(_ wanted: [String], kernelVersion: String) throws -> [String] {
        let base = "/lib/modules/\(kernelVersion)"
        let text = try String(contentsOfFile: "\(base)/modules.dep", encoding: .utf8)
        var dependencies: [String: [String]] = [:]
        var pathByName: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let path = String(line[..<colon])
            let deps = line[line.index(after: colon)...].split(separator: " ").map(String.init)
            let name = moduleName(path)
            pathByName[name] = path
            dependencies[path] = deps
        }
        var ordered: [String] = []
        var seen: Set<String> = []
        func visit(_ path: String) {
            guard seen.insert(path).inserted else { return }
            for dep in dependencies[path] ?? [] { visit(dep) }
            ordered.append(path)
        }
        for name in wanted {
            if let path = pathByName[name.replacingOccurrences(of: "-", with: "_")] { visit(path) }
        }
        return ordered.map { "\(base)/\($0)" }
    }

    static func moduleName(_ path: String) -> String {
        var name = (path as NSString).lastPathComponent
        for suffix in [".xz", ".zst", ".gz", ".ko"] where name.hasSuffix(suffix) { name = String(name.dropLast(suffix.count)) }
        return name.replacingOccurrences(of: "-", with: "_")
    }

    /// The shared libraries (and the dynamic loader) `ldd` lists for `binary`.
    static func sharedLibraries(of binary: String) throws -> [String] {
        let output = try HostTool.run("ldd", [binary]).stdout
        var paths: [String] = []
        for line in output.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if let arrow = fields.firstIndex(of: "=>"), arrow + 1 < fields.count, fields[arrow + 1].hasPrefix("/") {
                paths.append(String(fields[arrow + 1]))
            } else if let first = fields.first, first.hasPrefix("/") {
                paths.append(String(first))
            }
        }
        return paths
    }

    /// True when the ELF file has no program interpreter.
    static func isStaticELF(_ path: String) throws -> Bool {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        let bytes = [UInt8](data.prefix(64))
        guard bytes.count == 64, bytes[0..<4] == [0x7F, 0x45, 0x4C, 0x46], bytes[4] == 2 else { return false }
        func u(_ o: Int, _ w: Int) -> Int { (0..<w).reduce(0) { $0 | Int(data[data.startIndex + o + $1]) << (8 * $1) } }
        let phoff = u(0x20, 8), phentsize = u(0x36, 2), phnum = u(0x38, 2)
        for i in 0..<phnum where u(phoff + i * phentsize, 4) == 3 { return false }   // PT_INTERP
        return true
    }

    // MARK: Initramfs

    static func initramfs(_ inputs: Inputs) throws -> [UInt8] {
        var cpio = CPIOWriter()
        for dir in ["bin", "dev", "proc", "sys", "mnt", "tmp", "etc", "etc/lcm", "lib", "lib/modules"] {
            cpio.directory(dir)
        }
        cpio.characterDevice("dev/console", major: 5, minor: 1)
        cpio.characterDevice("dev/null", major: 1, minor: 3)
        cpio.symlink("etc/mtab", target: "/proc/mounts")
        cpio.file("bin/busybox", try readFile(busyboxPath), mode: 0o755)
        cpio.file("bin/ntfs-3g", try readFile(ntfs3gPath), mode: 0o755)
        for library in inputs.libraries {
            let relative = String(library.drop(while: { $0 == "/" }))
            cpio.directories(for: relative)
            cpio.file(relative, try readFile(library), mode: 0o755)
        }
        var names: [String] = []
        for module in inputs.moduleFiles {
            let name = moduleName(module) + ".ko"
            cpio.file("lib/modules/\(name)", try moduleBytes(module), mode: 0o644)
            names.append(name)
        }
        cpio.file("etc/lcm/modules", Array((names.joined(separator: "\n") + "\n").utf8), mode: 0o644)
        cpio.file("etc/lcm/hive.awk", Array(hiveReaderScript.utf8), mode: 0o644)
        cpio.file("init", Array(initScript.utf8), mode: 0o755)
        return cpio.finish()
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// busybox insmod cannot decompress: compressed modules are unpacked on the host.
    static func moduleBytes(_ path: String) throws -> [UInt8] {
        guard path.hasSuffix(".xz") || path.hasSuffix(".zst") else { return try readFile(path) }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("lcm-module-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let unpacked = scratch.appendingPathComponent("module.ko").path
        if path.hasSuffix(".xz") {
            let packed = scratch.appendingPathComponent("module.ko.xz").path
            try FileManager.default.copyItem(atPath: path, toPath: packed)
            try HostTool.run("xz", ["-d", packed])
        } else {
            try HostTool.run("zstd", ["-q", "-d", "-o", unpacked, path])
        }
        return try readFile(unpacked)
    }
}

/// Writes a "newc" cpio archive, the format the kernel unpacks as initramfs.
struct CPIOWriter {
    private var bytes: [UInt8] = []
    private var inode: UInt32 = 1
    private var created: Set<String> = []

    mutating func directory(_ path: String) {
        guard created.insert(path).inserted else { return }
        entry(path, mode: 0o040755, data: [])
    }

    /// The parent directories of `path`, outermost first.
    mutating func directories(for path: String) {
        var parts = path.split(separator: "/").dropLast().map(String.init)
        var prefixes: [String] = []
        while !parts.isEmpty { prefixes.insert(parts.joined(separator: "/"), at: 0); parts.removeLast() }
        for prefix in prefixes { directory(prefix) }
    }

    mutating func file(_ path: String, _ data: [UInt8], mode: UInt32) { entry(path, mode: 0o100000 | mode, data: data) }

    mutating func symlink(_ path: String, target: String) { entry(path, mode: 0o120777, data: Array(target.utf8)) }

    mutating func characterDevice(_ path: String, major: UInt32, minor: UInt32) {
        entry(path, mode: 0o020600, data: [], rdev: (major, minor))
    }

    mutating func finish() -> [UInt8] {
        entry("TRAILER!!!", mode: 0, data: [], nlink: 1)
        return bytes
    }

    private mutating func entry(_ name: String, mode: UInt32, data: [UInt8], rdev: (UInt32, UInt32) = (0, 0), nlink: UInt32? = nil) {
        let fields: [UInt32] = [inode, mode, 0, 0, nlink ?? (mode & 0o170000 == 0o040000 ? 2 : 1), 0,
                                UInt32(data.count), 0, 0, rdev.0, rdev.1, UInt32(name.utf8.count + 1), 0]
        inode += 1
        bytes += Array("070701".utf8)
        for field in fields { bytes += Array(String(format: "%08X", field).utf8) }
        bytes += Array(name.utf8) + [0]
        pad()
        bytes += data
        pad()
    }

    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }
}

/// libvirt domains that boot a Windows-shaped disk the way lcm will run a desktop: UEFI (OVMF),
/// q35, software emulation unless told otherwise, powering off ends the domain.
public enum StandInDomain {
    /// The bus the disk is attached to.
    public enum Bus: String, Sendable, CaseIterable {
        case virtio, sata, scsi
    }

    public static let firmwareCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
    public static let firmwareVarsTemplate = "/usr/share/OVMF/OVMF_VARS_4M.fd"

    /// Domain XML for booting `disk`. NVRAM is created from the template at libvirt's default
    /// place; undefine with NVRAM removal. `consoleLog` receives the serial console.
    public static func xml(
        name: String, disk: String, format: String = "qcow2", bus: Bus = .virtio,
        consoleLog: String? = nil, memoryMiB: Int = 512, domainType: String = "qemu"
    ) -> String {
        let target: String
        switch bus {
        case .virtio: target = "<target dev='vda' bus='virtio'/>"
        case .sata: target = "<target dev='sda' bus='sata'/>"
        case .scsi: target = "<target dev='sda' bus='scsi'/>"
        }
        let controller = bus == .scsi ? "<controller type='scsi' model='virtio-scsi'/>" : ""
        let serial = consoleLog.map {
            "<serial type='file'><source path='\(xmlEscaped($0))'/><target port='0'/></serial>"
        } ?? "<serial type='pty'><target port='0'/></serial>"
        return """
            <domain type='\(domainType)'>
              <name>\(xmlEscaped(name))</name>
              <memory unit='MiB'>\(memoryMiB)</memory>
              <vcpu>1</vcpu>
              <os>
                <type arch='x86_64' machine='q35'>hvm</type>
                <loader readonly='yes' type='pflash'>\(firmwareCode)</loader>
                <nvram template='\(firmwareVarsTemplate)'/>
                <boot dev='hd'/>
              </os>
              <features><acpi/></features>
              <on_poweroff>destroy</on_poweroff>
              <on_reboot>destroy</on_reboot>
              <on_crash>destroy</on_crash>
              <devices>
                <disk type='file' device='disk'>
                  <driver name='qemu' type='\(format)'/>
                  <source file='\(xmlEscaped(disk))'/>
                  \(target)
                </disk>
                \(controller)
                \(serial)
              </devices>
            </domain>
            """
    }

    static func xmlEscaped(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "'", with: "&apos;")
    }
}
