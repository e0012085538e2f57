import Foundation

/// The program that boots in place of Windows on bootable test disks: a unified kernel image
/// (Debian's EFI stub from systemd-boot-efi with the host's kernel, a command line and a busybox
/// initramfs added as sections), placed as `\EFI\BOOT\BOOTX64.EFI` on the ESP so OVMF starts it.
///
/// At boot it mounts the NTFS volume holding `\Windows` (ntfs-3g over FUSE: Debian's kernel has
/// no ntfs3), reads the computer name from the SYSTEM hive itself (`hiveReaderScript`: a small
/// regf walker in busybox awk that follows `Select\Current`; the name is never passed in),
/// appends the boot marker, carries out the boot-time queue as `BootRunnerContract` says
/// (reporting exit code 0, or the `standin-exit` the manifest asks for), unmounts and powers off.
/// It stands in for Windows at boot only.
///
/// Everything comes from Debian packages on the host: linux-image-amd64, systemd-boot-efi,
/// busybox-static, ntfs-3g, binutils (objcopy, objdump). The image is built once per set of
/// inputs and cached (about 14 MB).
public enum StandInBootProgram {
    /// Bump when the image changes in a way its inputs do not show.
    static let formatVersion = 1

    /// Kernel modules the initramfs loads, with their dependencies: disk controllers a desktop
    /// may use (virtio-blk, virtio-scsi, SATA/AHCI, NVMe), FUSE for ntfs-3g, and SATA CD-ROMs with
    /// ISO 9660 for patch media.
    static let modules = ["virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod", "ahci", "nvme", "fuse", "sr_mod", "isofs"]

    static let stubPath = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
    static let busyboxPath = "/bin/busybox"
    static let ntfs3gPath = "/usr/bin/ntfs-3g"
    /// No name, no secret: the guest must learn everything from the disk.
    static let commandLine = "console=ttyS0 quiet panic=-1 rdinit=/init"

    /// The cached EFI program, built first if needed.
    public static func efiProgram(cacheDirectory: URL) throws -> URL {
        let inputs = try Inputs.discover()
        let directory = cacheDirectory.appendingPathComponent("standin").appendingPathComponent(inputs.key)
        let program = directory.appendingPathComponent("BOOTX64.EFI")
        if FileManager.default.fileExists(atPath: program.path) { return program }

        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let work = directory.appendingPathComponent("build-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        let initrd = work.appendingPathComponent("initrd.cpio")
        try Data(try initramfs(inputs)).write(to: initrd)
        let cmdline = work.appendingPathComponent("cmdline.txt")
        try Data((commandLine + "\n").utf8).write(to: cmdline)
        let output = work.appendingPathComponent("BOOTX64.EFI")
        try assemble(stub: stubPath, sections: [(".cmdline", cmdline.path), (".initrd", initrd.path), (".linux", inputs.kernel)],
                     output: output.path)
        // Rename is atomic: a concurrent builder never sees half a file.
        if rename(output.path, program.path) != 0 && !FileManager.default.fileExists(atPath: program.path) {
            throw WindowsDiskError.buildFailed("cannot move \(output.path) into the cache")
        }
        return program
    }

    // MARK: Inputs

    struct Inputs {
        var kernel: String
        var kernelVersion: String
        var moduleFiles: [String]        // absolute paths, load order
        var libraries: [String]          // ntfs-3g's shared libraries and loader
        var key: String

        static func discover() throws -> Inputs {
            for path in [stubPath, busyboxPath, ntfs3gPath] where !FileManager.default.fileExists(atPath: path) {
                throw WindowsDiskError.toolMissing(path)
            }
            guard try isStaticELF(busyboxPath) else {
                throw WindowsDiskError.buildFailed("\(busyboxPath) is not statically linked: install busybox-static")
            }
            let (kernel, version) = try newestKernel()
            let moduleFiles = try resolveModules(StandInBootProgram.modules, kernelVersion: version)
            let libraries = try sharedLibraries(of: ntfs3gPath)
            var fingerprint = "v\(formatVersion)\n\(commandLine)\n\(initScript)\n\(hiveReaderScript)\n"
            for path in [kernel, stubPath, busyboxPath, ntfs3gPath] + libraries + moduleFiles {
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

    // MARK: Unified kernel image

    /// Adds `sections` to a copy of the EFI stub, each at the next free address past the stub's
    /// own sections, the way ukify and the systemd documentation do it.
    static func assemble(stub: String, sections: [(name: String, file: String)], output: String) throws {
        let table = try HostTool.run("objdump", ["-h", stub]).stdout
        var end: UInt64 = 0
        for line in table.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 7, Int(f[0]) != nil, let size = UInt64(f[2], radix: 16), let vma = UInt64(f[3], radix: 16) else { continue }
            end = max(end, vma + size)
        }
        guard end > 0 else { throw WindowsDiskError.buildFailed("cannot read the sections of \(stub)") }
        func align(_ v: UInt64, _ a: UInt64) -> UInt64 { (v + a - 1) / a * a }
        var arguments: [String] = []
        var address = align(end, 0x1000)
        for section in sections {
            // The kernel goes on a 16 MiB boundary: it relocates itself otherwise, which is slower.
            if section.name == ".linux" { address = align(address, 0x100_0000) }
            arguments += ["--add-section", "\(section.name)=\(section.file)",
                          "--change-section-vma", "\(section.name)=0x\(String(address, radix: 16))"]
            let size = (try FileManager.default.attributesOfItem(atPath: section.file)[.size] as? NSNumber)?.uint64Value ?? 0
            address = align(address + size, 0x1000)
        }
        try HostTool.run("objcopy", arguments + [stub, output])
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
