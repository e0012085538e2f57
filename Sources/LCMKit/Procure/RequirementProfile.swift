import CYaml
import Foundation
import Yams

/// Which accelerator a device must really run guests with (proved by booting a probe guest).
public enum AcceleratorRequirement: String, Codable, Sendable, CaseIterable {
    /// Not checked.
    case none
    /// KVM or, failing that, TCG: the device can run desktops at all.
    case any
    /// Hardware virtualisation: what real client devices need for usable desktops.
    case kvm
    /// Software emulation (test machines).
    case tcg
}

/// What a client device must have to run the client hypervisor, and the size of the desktop VM
/// that deploy creates on it. Stored in the inventory (`profile.spec`, JSON) and written by admins
/// as YAML (see examples/profiles/).
public struct RequirementProfile: Codable, Sendable, Equatable {
    public var name: String
    public var description: String?
    public var requires: Requirements
    public var vm: VMSizing

    public init(name: String, description: String? = nil, requires: Requirements = Requirements(), vm: VMSizing = VMSizing()) {
        self.name = name; self.description = description; self.requires = requires; self.vm = vm
    }

    /// Requirements on the device; nil or false means "not required".
    public struct Requirements: Codable, Sendable, Equatable {
        /// libvirt's name for the CPU architecture, e.g. "x86_64".
        public var architecture: String?
        public var cpus: Int?
        /// Usable memory as the host reports it (a little less than what is installed).
        public var memoryBytes: UInt64?
        /// Free space in lcm's storage pool on the device.
        public var diskBytes: UInt64?
        /// Intel VT-x (vmx) or AMD-V (svm) in the host CPU's features.
        public var cpuVirtualization: Bool
        public var iommu: Bool
        /// An emulated TPM 2.0 (swtpm) libvirt can give guests: Windows 11 requires a TPM.
        public var tpm2: Bool
        public var uefi: Bool
        /// UEFI firmware with Secure Boot (implies `uefi`).
        public var secureBoot: Bool
        public var accelerator: AcceleratorRequirement
        /// Boot a probe guest to prove the accelerator works (slow: seconds); otherwise trust what
        /// libvirt advertises.
        public var probe: Bool

        public init(architecture: String? = nil, cpus: Int? = nil, memoryBytes: UInt64? = nil, diskBytes: UInt64? = nil,
                    cpuVirtualization: Bool = false, iommu: Bool = false, tpm2: Bool = false, uefi: Bool = false,
                    secureBoot: Bool = false, accelerator: AcceleratorRequirement = .none, probe: Bool = true) {
            self.architecture = architecture; self.cpus = cpus; self.memoryBytes = memoryBytes; self.diskBytes = diskBytes
            self.cpuVirtualization = cpuVirtualization; self.iommu = iommu; self.tpm2 = tpm2; self.uefi = uefi
            self.secureBoot = secureBoot; self.accelerator = accelerator; self.probe = probe
        }

        enum CodingKeys: String, CodingKey {
            case architecture, cpus, memoryBytes = "memory_bytes", diskBytes = "disk_bytes"
            case cpuVirtualization = "cpu_virtualization", iommu, tpm2, uefi, secureBoot = "secure_boot", accelerator, probe
        }
    }

    /// The desktop VM deploy creates on a device of this profile.
    public struct VMSizing: Codable, Sendable, Equatable {
        public var vcpus: Int
        public var memoryBytes: UInt64
        /// The OS layer (copy-on-write over the golden image).
        public var osDiskBytes: UInt64
        /// The separate user-data disk.
        public var dataDiskBytes: UInt64

        /// Windows 11's minimums (2 CPUs, 4 GiB, 64 GiB) and a modest user-data disk.
        public init(vcpus: Int = 2, memoryBytes: UInt64 = 4 << 30, osDiskBytes: UInt64 = 64 << 30, dataDiskBytes: UInt64 = 20 << 30) {
            self.vcpus = vcpus; self.memoryBytes = memoryBytes; self.osDiskBytes = osDiskBytes; self.dataDiskBytes = dataDiskBytes
        }

        enum CodingKeys: String, CodingKey {
            case vcpus, memoryBytes = "memory_bytes", osDiskBytes = "os_disk_bytes", dataDiskBytes = "data_disk_bytes"
        }
    }

    /// Checks that the values make sense together; returns problems as sentences.
    public func problems() -> [String] {
        var problems: [String] = []
        if !Self.isValidName(name) {
            problems.append("profile name '\(name)' must be 1-64 letters, digits, '.', '-' or '_'")
        }
        if let cpus = requires.cpus, cpus < 1 { problems.append("requires.cpus must be at least 1") }
        if vm.vcpus < 1 { problems.append("vm.vcpus must be at least 1") }
        if vm.memoryBytes < 256 << 20 { problems.append("vm.memory must be at least 256MiB") }
        if vm.osDiskBytes < 1 << 30 { problems.append("vm.os_disk must be at least 1GiB") }
        if let cpus = requires.cpus, vm.vcpus > cpus {
            problems.append("vm.vcpus (\(vm.vcpus)) exceeds requires.cpus (\(cpus)): the VM could not run on a qualifying device")
        }
        if let memory = requires.memoryBytes, vm.memoryBytes > memory {
            problems.append("vm.memory (\(ByteSize.format(vm.memoryBytes))) exceeds requires.memory (\(ByteSize.format(memory)))")
        }
        return problems
    }

    static func isValidName(_ name: String) -> Bool { NameRule.profile.isValid(name) }

    // MARK: - Stored form

    /// The JSON kept in `profile.spec`.
    public func specJSON() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public static func fromSpecJSON(_ text: String, name: String) throws -> RequirementProfile {
        do {
            var profile = try JSONDecoder().decode(RequirementProfile.self, from: Data(text.utf8))
            profile.name = name
            return profile
        } catch {
            throw LCMError(.databaseError, "the stored profile '\(name)' cannot be read: \(error)",
                           hint: "re-add it with `lcm procure profile add --file FILE --replace`")
        }
    }

    // MARK: - Profile files (YAML)

    /// Reads a profile file. JSON is YAML too, so both work. Unknown keys are errors (a typo must
    /// not silently drop a requirement); messages name the file, line and key.
    public static func load(file: URL) throws -> RequirementProfile {
        // A profile is a few KiB of YAML; 1 MiB leaves room and bounds what a wrong file costs.
        let data = try InputFile(file.path, what: "profile file").contents(limit: 1 << 20)
        guard let text = String(data: data, encoding: .utf8) else {
            throw LCMError(.dataError, "cannot read \(file.path) as UTF-8 text", hint: "save the profile as UTF-8")
        }
        return try parse(yaml: text, source: file.lastPathComponent)
    }

    public static func parse(yaml: String, source: String = "profile") throws -> RequirementProfile {
        try refuseAliases(yaml: yaml, source: source)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw LCMError(.dataError, "\(source): not valid YAML: \(Self.describe(error))",
                           hint: "see examples/profiles/ for the format")
        } catch {
            throw LCMError(.dataError, "\(source): not valid YAML: \(error)")
        }
        guard let root, let top = root.mapping else {
            throw LCMError(.dataError, "\(source): a profile must be a mapping with name, requires and vm",
                           hint: "see examples/profiles/ for the format")
        }
        let reader = NodeReader(source: source)
        try reader.checkKeys(top, allowed: ["name", "description", "requires", "vm"], section: nil)
        var profile = RequirementProfile(name: try reader.string(top, "name", section: nil) ?? "")
        profile.description = try reader.string(top, "description", section: nil)
        if let requiresNode = top["requires"] {
            guard let requires = requiresNode.mapping else { throw reader.error(requiresNode, "'requires' must be a mapping") }
            try reader.checkKeys(requires, allowed: ["architecture", "cpus", "memory", "disk", "cpu_virtualization", "iommu",
                                                    "tpm", "uefi", "secure_boot", "accelerator", "probe"], section: "requires")
            var r = Requirements()
            r.architecture = try reader.string(requires, "architecture", section: "requires")
            r.cpus = try reader.int(requires, "cpus", section: "requires")
            r.memoryBytes = try reader.size(requires, "memory", section: "requires")
            r.diskBytes = try reader.size(requires, "disk", section: "requires")
            r.cpuVirtualization = try reader.bool(requires, "cpu_virtualization", section: "requires") ?? false
            r.iommu = try reader.bool(requires, "iommu", section: "requires") ?? false
            r.tpm2 = try reader.tpm(requires, section: "requires")
            r.secureBoot = try reader.bool(requires, "secure_boot", section: "requires") ?? false
            r.uefi = try reader.bool(requires, "uefi", section: "requires") ?? r.secureBoot
            if r.secureBoot && !r.uefi {
                throw reader.error(requires["uefi"] ?? requiresNode, "requires.secure_boot needs uefi: Secure Boot is a UEFI feature")
            }
            if let text = try reader.string(requires, "accelerator", section: "requires") {
                guard let value = AcceleratorRequirement(rawValue: text.lowercased()) else {
                    throw reader.error(requires["accelerator"] ?? requiresNode,
                                       "requires.accelerator '\(text)' is not one of \(AcceleratorRequirement.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                r.accelerator = value
            }
            r.probe = try reader.bool(requires, "probe", section: "requires") ?? true
            profile.requires = r
        }
        if let vmNode = top["vm"] {
            guard let vm = vmNode.mapping else { throw reader.error(vmNode, "'vm' must be a mapping") }
            try reader.checkKeys(vm, allowed: ["vcpus", "memory", "os_disk", "data_disk"], section: "vm")
            var sizing = VMSizing()
            if let v = try reader.int(vm, "vcpus", section: "vm") { sizing.vcpus = v }
            if let v = try reader.size(vm, "memory", section: "vm") { sizing.memoryBytes = v }
            if let v = try reader.size(vm, "os_disk", section: "vm") { sizing.osDiskBytes = v }
            if let v = try reader.size(vm, "data_disk", section: "vm") { sizing.dataDiskBytes = v }
            profile.vm = sizing
        }
        return profile
    }

    /// Refuses aliases before Yams composes the document. Yams resolves an alias by sharing the
    /// anchored node and then hashes every mapping key to find duplicates, so a few lines of
    /// aliases to aliases (a "billion laughs") used as a key cost exponential time. A profile has
    /// no use for them. Syntax errors (libyaml also stops nesting at 1000 levels) are left to
    /// Yams, which words them with their line.
    static func refuseAliases(yaml: String, source: String) throws {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(yaml.utf8)
        try bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return }
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_ALIAS_EVENT:
                    throw LCMError(.dataError, "\(source) line \(event.start_mark.line + 1): an alias (*name); a profile is plain values and takes no aliases",
                                   hint: "write the value out where it is used")
                case YAML_STREAM_END_EVENT:
                    return
                default:
                    continue
                }
            }
        }
    }

    /// The profile as YAML in the file format (sizes with units), for `profile show`.
    public func yaml() -> String {
        var lines = ["name: \(name)"]
        if let description { lines.append("description: \(Self.yamlString(description))") }
        lines.append("requires:")
        if let v = requires.architecture { lines.append("  architecture: \(Self.yamlString(v))") }
        if let v = requires.cpus { lines.append("  cpus: \(v)") }
        if let v = requires.memoryBytes { lines.append("  memory: \(ByteSize.compact(v))") }
        if let v = requires.diskBytes { lines.append("  disk: \(ByteSize.compact(v))") }
        lines.append("  cpu_virtualization: \(requires.cpuVirtualization)")
        lines.append("  iommu: \(requires.iommu)")
        lines.append("  tpm: \(requires.tpm2 ? "\"2.0\"" : "false")")
        lines.append("  uefi: \(requires.uefi)")
        lines.append("  secure_boot: \(requires.secureBoot)")
        lines.append("  accelerator: \(requires.accelerator.rawValue)")
        lines.append("  probe: \(requires.probe)")
        lines.append("vm:")
        lines.append("  vcpus: \(vm.vcpus)")
        lines.append("  memory: \(ByteSize.compact(vm.memoryBytes))")
        lines.append("  os_disk: \(ByteSize.compact(vm.osDiskBytes))")
        lines.append("  data_disk: \(ByteSize.compact(vm.dataDiskBytes))")
        return lines.joined(separator: "\n") + "\n"
    }

    static func yamlString(_ text: String) -> String {
        JSONText.string(text) // a JSON string is a valid double-quoted YAML scalar
    }

    static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return "line \(mark.line), column \(mark.column): \(problem)"
        case .duplicatedKeysInMapping(let duplicates, let context):
            return "line \(context.mark.line): duplicate key \(duplicates.joined(separator: ", "))"
        case .reader(let problem, _, _, _):
            return problem
        default:
            return "\(error)"
        }
    }
}

/// Typed reads from a YAML mapping with errors that name the file, line and key.
private struct NodeReader {
    let source: String

    func error(_ node: Node, _ message: String) -> LCMError {
        let location = node.mark.map { " line \($0.line)" } ?? ""
        return LCMError(.dataError, "\(source)\(location): \(message)", hint: "see examples/profiles/ for the format")
    }

    private func key(_ section: String?, _ key: String) -> String {
        section.map { "\($0).\(key)" } ?? key
    }

    func checkKeys(_ mapping: Node.Mapping, allowed: [String], section: String?) throws {
        for keyNode in mapping.keys {
            let name = keyNode.string ?? ""
            if !allowed.contains(name) {
                throw error(keyNode, "unknown key '\(key(section, name))' (known: \(allowed.joined(separator: ", ")))")
            }
        }
    }

    func string(_ mapping: Node.Mapping, _ name: String, section: String?) throws -> String? {
        guard let node = mapping[name] else { return nil }
        guard let scalar = node.scalar else { throw error(node, "\(key(section, name)) must be a single value") }
        if node.null != nil { return nil }
        return scalar.string
    }

    func int(_ mapping: Node.Mapping, _ name: String, section: String?) throws -> Int? {
        guard let node = mapping[name], node.null == nil else { return nil }
        guard let value = node.int, value >= 0 else {
            throw error(node, "\(key(section, name)) '\(node.string ?? "")' is not a whole number")
        }
        return value
    }

    func bool(_ mapping: Node.Mapping, _ name: String, section: String?) throws -> Bool? {
        guard let node = mapping[name], node.null == nil else { return nil }
        guard let value = node.bool else {
            throw error(node, "\(key(section, name)) '\(node.string ?? "")' is not true or false")
        }
        return value
    }

    func size(_ mapping: Node.Mapping, _ name: String, section: String?) throws -> UInt64? {
        guard let node = mapping[name], node.null == nil else { return nil }
        guard let text = node.string, let value = ByteSize.parse(text) else {
            throw error(node, "\(key(section, name)) '\(node.string ?? "")' is not a size: write it with a unit, e.g. 16GiB or 512MiB")
        }
        return value
    }

    /// `tpm: true`, `tpm: "2.0"` or `tpm: 2.0` require TPM 2.0; `false` or absent do not.
    func tpm(_ mapping: Node.Mapping, section: String?) throws -> Bool {
        guard let node = mapping["tpm"], node.null == nil else { return false }
        if let value = node.bool { return value }
        if let text = node.string, ["2", "2.0"].contains(text.trimmingCharacters(in: .whitespaces)) { return true }
        throw error(node, "\(key(section, "tpm")) '\(node.string ?? "")' must be true, false or \"2.0\" (TPM 1.2 does not run Windows 11)")
    }
}
