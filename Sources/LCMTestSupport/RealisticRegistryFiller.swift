import Foundation
import Guestfs

/// Grows SOFTWARE and SYSTEM hives to the size of real ones with plausible keys: COM classes,
/// interfaces and type libraries, Windows Installer components, side-by-side winners in
/// SOFTWARE; PCI device instances, device classes, services and driver packages in SYSTEM.
///
/// The filler never writes where the spec decides (CurrentVersion, Uninstall, Setup, servicing
/// packages, the computer name, the virtio drivers), so inspection results still equal the spec.
/// Content is deterministic for a seed.
public enum RealisticRegistryFiller {
    /// What realistic-size disks aim for: real SOFTWARE hives are 60-100 MB, SYSTEM 15-30 MB.
    public static let softwareMinimumSize = 60 << 20
    public static let systemMinimumSize = 15 << 20

    /// Adds keys to `root` (a SOFTWARE tree) until the hive built from it is at least
    /// `minimumSize` bytes.
    public static func fillSoftware(_ root: inout RegistryKey, minimumSize: Int = softwareMinimumSize, seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var classes: [RegistryKey] = [], interfaces: [RegistryKey] = [], typeLibs: [RegistryKey] = []
        var components: [RegistryKey] = [], winners: [RegistryKey] = []
        var size = RegistryHive.estimatedSize(of: root)
        // Aim a little above the minimum: the estimate is close but the real size decides.
        let target = minimumSize + minimumSize / 40
        var i = 0
        while size < target {
            let item: RegistryKey
            switch i % 8 {
            case 0, 1, 2: item = comClass(&rng, i); classes.append(item)
            case 3: item = interface(&rng, i); interfaces.append(item)
            case 4: item = typeLibrary(&rng, i); typeLibs.append(item)
            case 5, 6: item = installerComponent(&rng, i); components.append(item)
            default: item = sideBySideWinner(&rng, i); winners.append(item)
            }
            size += RegistryHive.estimatedCellBytes(item) + 8
            i += 1
        }
        root.withKey("Classes\\CLSID") { $0.subkeys += classes }
        root.withKey("Classes\\Interface") { $0.subkeys += interfaces }
        root.withKey("Classes\\TypeLib") { $0.subkeys += typeLibs }
        root.withKey("Microsoft\\Windows\\CurrentVersion\\Installer\\UserData\\S-1-5-18\\Components") { $0.subkeys += components }
        root.withKey("Microsoft\\Windows\\CurrentVersion\\SideBySide\\Winners") { $0.subkeys += winners }
    }

    /// Adds keys to `root` (a SYSTEM tree) below `controlSet` until the hive built from it is
    /// at least `minimumSize` bytes.
    public static func fillSystem(_ root: inout RegistryKey, controlSet: String, minimumSize: Int = systemMinimumSize, seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        // Real SYSTEM hives carry one large licensing blob: it exercises big data records.
        root.set("\(controlSet)\\Control\\ProductOptions", "ProductPolicy", .binary(bytes(&rng, 40_000)))
        var devices: [RegistryKey] = [], classInstances: [RegistryKey] = [], services: [RegistryKey] = []
        var packages: [RegistryKey] = []
        var size = RegistryHive.estimatedSize(of: root)
        let target = minimumSize + minimumSize / 40
        var i = 0
        while size < target {
            let item: RegistryKey
            switch i % 6 {
            case 0, 1, 2: item = pciDevice(&rng, i); devices.append(item)
            case 3: item = classInstance(&rng, i); classInstances.append(item)
            case 4: item = service(&rng, i); services.append(item)
            default: item = driverPackage(&rng, i); packages.append(item)
            }
            size += RegistryHive.estimatedCellBytes(item) + 8
            i += 1
        }
        root.withKey("\(controlSet)\\Enum\\PCI") { $0.subkeys += devices }
        root.withKey("\(controlSet)\\Control\\Class\\{4d36e97d-e325-11ce-bfc1-08002be10318}") { $0.subkeys += classInstances }
        root.withKey("\(controlSet)\\Services") { $0.subkeys += services }
        root.withKey("DriverDatabase\\DriverPackages") { $0.subkeys += packages }
    }

    // MARK: SOFTWARE items

    static let vendors = ["Microsoft", "Contoso", "Fabrikam", "Northwind", "Litware", "Adatum", "Tailspin", "Wingtip"]
    static let nouns = ["Shell", "Search", "Media", "Print", "Network", "Storage", "Display", "Input", "Audio",
                        "Sync", "Update", "Security", "Policy", "Font", "Speech", "Camera", "Sensor", "Ink"]
    static let dlls = ["shell32", "ole32", "combase", "windows.storage", "twinui", "explorerframe", "mssrch",
                       "wmp", "printui", "netshell", "propsys", "dxgi", "msctf", "audioses", "syncreg"]

    static func comClass(_ rng: inout SplitMix64, _ i: Int) -> RegistryKey {
        let noun = pick(nouns, &rng), vendor = pick(vendors, &rng)
        let server = RegistryKey("InprocServer32", values: [
            .init("", .expandString("%SystemRoot%\\System32\\\(pick(dlls, &rng)).dll")),
            .init("ThreadingModel", .string(rng.next() % 3 == 0 ? "Apartment" : "Both")),
        ])
        let progID = RegistryKey("ProgID", values: [.init("", .string("\(vendor).\(noun)\(i).1"))])
        return RegistryKey(guid(&rng), values: [
            .init("", .string("\(vendor) \(noun) Class")),
            .init("AppID", .string(guid(&rng))),
        ], subkeys: [server, progID])
    }

    static func interface(_ rng: inout SplitMix64, _ i: Int) -> RegistryKey {
        RegistryKey(guid(&rng), values: [.init("", .string("I\(pick(nouns, &rng))\(pick(nouns, &rng))\(i)"))], subkeys: [
            RegistryKey("ProxyStubClsid32", values: [.init("", .string("{00020424-0000-0000-C000-000000000046}"))]),
            RegistryKey("NumMethods", values: [.init("", .string(String(3 + rng.next() % 40)))]),
        ])
    }

    static func typeLibrary(_ rng: inout SplitMix64, _ i: Int) -> RegistryKey {
        let noun = pick(nouns, &rng)
        let win64 = RegistryKey("win64", values: [.init("", .string("C:\\Windows\\System32\\\(pick(dlls, &rng)).dll"))])
        let win32 = RegistryKey("win32", values: [.init("", .string("C:\\Windows\\SysWOW64\\\(pick(dlls, &rng)).dll"))])
        let version = RegistryKey("1.0", values: [.init("", .string("\(noun) \(i) 1.0 Type Library"))], subkeys: [
            RegistryKey("0", subkeys: [win64, win32]),
            RegistryKey("FLAGS", values: [.init("", .string("0"))]),
            RegistryKey("HELPDIR", values: [.init("", .string("C:\\Windows\\System32"))]),
        ])
        return RegistryKey(guid(&rng), subkeys: [version])
    }

    static func installerComponent(_ rng: inout SplitMix64, _ i: Int) -> RegistryKey {
        var values: [RegistryKey.Value] = []
        for _ in 0..<(1 + Int(rng.next() % 4)) {
            values.append(.init(packedGUID(&rng), .string("C:\\Program Files\\\(pick(vendors, &rng))\\\(pick(nouns, &rng))\\bin\\\(pick(dlls, &rng)).dll")))
        }
        return RegistryKey(packedGUID(&rng), values: values)
    }

    static func sideBySideWinner(_ rng: inout SplitMix64, _ i: Int) -> RegistryKey {
        let name = "amd64_microsoft-windows-\(pick(nouns, &rng).lowercased())-\(pick(dlls, &rng))_31bf3856ad364e35_none_\(hex(&rng, 16))"
        let version = "10.0.\(22000 + Int(rng.next() % 700)).\(rng.next() % 4000)"
        return RegistryKey(name, values: [.init("", .string("10.0"))], subkeys: [
            RegistryKey("10.0", values: [.init("", .string(version)), .init(version, .binary([1]))]),
        ])
    }

    // MARK: SYSTEM items

    static func pciDevice(_ rng: inout SplitMix64, _ i: Int) -> RegistryKey {
        let vendor = String(format: "%04X", 0x1000 + rng.next() % 0x7000)
        let device = String(format: "%04X", rng.next() % 0x10000)
        let id = "VEN_\(vendor)&DEV_\(device)&SUBSYS_\(hex(&rng, 8).uppercased())&REV_\(String(format: "%02X", i % 256))"
        let properties = RegistryKey("Properties", subkeys: (0..<3).map { _ in
            RegistryKey(guid(&rng).lowercased(), subkeys: [
                RegistryKey("0002", values: [.init("", .binary(bytes(&rng, 24 + Int(rng.next() % 80))))]),
                RegistryKey("0003", values: [.init("", .binary(bytes(&rng, 16)))]),
            ])
        })
        let instance = RegistryKey("3&\(hex(&rng, 8))&0&\(String(format: "%02X", i % 256))", values: [
            .init("DeviceDesc", .string("@pci.inf,%pci\\\(vendor.lowercased())&dev_\(device.lowercased()).devicedesc%;\(pick(nouns, &rng)) Controller")),
            .init("HardwareID", .multiString(["PCI\\\(id)", "PCI\\VEN_\(vendor)&DEV_\(device)", "PCI\\VEN_\(vendor)&CC_0C0330"])),
            .init("CompatibleIDs", .multiString(["PCI\\VEN_\(vendor)&CC_0C0330", "PCI\\CC_0C03"])),
            .init("Service", .string(pick(dlls, &rng))),
            .init("ClassGUID", .string("{4d36e97d-e325-11ce-bfc1-08002be10318}")),
            .init("Driver", .string("{4d36e97d-e325-11ce-bfc1-08002be10318}\\\(String(format: "%04d", i % 10000))")),
            .init("Mfg", .string(pick(vendors, &rng))),
            .init("ConfigFlags", .dword(0)),
            .init("Capabilities", .dword(UInt32(rng.next() % 0x100))),
        ], subkeys: [RegistryKey("Device Parameters", values: [.init("InterruptManagement", .dword(1))]), properties])
        return RegistryKey(id, subkeys: [instance])
    }

    static func classInstance(_ rng: inout SplitMix64, _ i: Int) -> RegistryKey {
        RegistryKey(String(format: "%04d", i), values: [
            .init("DriverDesc", .string("\(pick(vendors, &rng)) \(pick(nouns, &rng)) Device")),
            .init("ProviderName", .string(pick(vendors, &rng))),
            .init("DriverVersion", .string("10.0.\(22000 + i % 700).\(i % 4000)")),
            .init("DriverDate", .string("6-21-2006")),
            .init("DriverDateData", .binary(bytes(&rng, 8))),
            .init("InfPath", .string("oem\(i % 200).inf")),
            .init("InfSection", .string("\(pick(nouns, &rng))_Inst")),
            .init("MatchingDeviceId", .string("pci\\ven_\(hex(&rng, 4))&dev_\(hex(&rng, 4))")),
        ])
    }

    static func service(_ rng: inout SplitMix64, _ i: Int) -> RegistryKey {
        let name = "\(pick(vendors, &rng))\(pick(nouns, &rng))Svc\(i)"
        return RegistryKey(name, values: [
            .init("Type", .dword(rng.next() % 2 == 0 ? 0x10 : 0x20)),
            .init("Start", .dword(UInt32(2 + rng.next() % 3))),
            .init("ErrorControl", .dword(1)),
            .init("ImagePath", .expandString("%SystemRoot%\\System32\\svchost.exe -k \(pick(nouns, &rng))Group -p")),
            .init("DisplayName", .string("@%SystemRoot%\\system32\\\(pick(dlls, &rng)).dll,-\(100 + i % 900)")),
            .init("Description", .string("@%SystemRoot%\\system32\\\(pick(dlls, &rng)).dll,-\(1000 + i % 9000)")),
            .init("ObjectName", .string("LocalSystem")),
            .init("RequiredPrivileges", .multiString(["SeChangeNotifyPrivilege", "SeImpersonatePrivilege", "SeAuditPrivilege"])),
        ], subkeys: [
            RegistryKey("Parameters", values: [.init("ServiceDll", .expandString("%SystemRoot%\\System32\\\(pick(dlls, &rng)).dll"))]),
            RegistryKey("Security", values: [.init("Security", .binary(bytes(&rng, 120)))]),
        ])
    }

    static func driverPackage(_ rng: inout SplitMix64, _ i: Int) -> RegistryKey {
        let inf = "\(pick(nouns, &rng).lowercased())\(i).inf"
        return RegistryKey("\(inf)_amd64_\(hex(&rng, 16))", values: [
            .init("", .string(inf)),
            .init("Catalog", .string("\(pick(nouns, &rng).lowercased())\(i).cat")),
            .init("ImportDate", .binary(bytes(&rng, 8))),
            .init("InfName", .string(inf)),
            .init("OemPath", .string("C:\\Windows\\System32\\DriverStore\\FileRepository")),
            .init("Provider", .string(pick(vendors, &rng))),
            .init("SignerName", .string("Microsoft Windows")),
            .init("SignerScore", .dword(0x0D00_0003)),
            .init("Version", .binary(bytes(&rng, 16))),
        ], subkeys: [
            RegistryKey("Configurations", subkeys: [
                RegistryKey("\(pick(nouns, &rng))_Inst", values: [
                    .init("ConfigFlags", .dword(0)), .init("Service", .string(pick(dlls, &rng))),
                ]),
            ]),
            RegistryKey("Descriptors", subkeys: [
                RegistryKey("PCI\\VEN_\(hex(&rng, 4))&DEV_\(hex(&rng, 4))".replacingOccurrences(of: "\\", with: "#"), values: [
                    .init("Configuration", .string("\(pick(nouns, &rng))_Inst")),
                ]),
            ]),
        ])
    }

    // MARK: Random pieces

    static func pick(_ list: [String], _ rng: inout SplitMix64) -> String { list[Int(rng.next() % UInt64(list.count))] }

    static let hexDigits = Array("0123456789abcdef".utf8)

    static func hex(_ rng: inout SplitMix64, _ count: Int) -> String {
        var bytes = [UInt8](repeating: 0, count: count)
        var bits = rng.next()
        for i in 0..<count {
            if i % 16 == 15 { bits = rng.next() }
            bytes[i] = hexDigits[Int(bits & 0xF)]
            bits >>= 4
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`
    static func guid(_ rng: inout SplitMix64) -> String {
        let h = hex(&rng, 32).uppercased()
        let c = Array(h)
        return "{\(String(c[0..<8]))-\(String(c[8..<12]))-\(String(c[12..<16]))-\(String(c[16..<20]))-\(String(c[20..<32]))}"
    }

    /// The 32-digit packed GUIDs Windows Installer uses as key and value names.
    static func packedGUID(_ rng: inout SplitMix64) -> String { hex(&rng, 32).uppercased() }

    static func bytes(_ rng: inout SplitMix64, _ count: Int) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        var bits = rng.next()
        for i in 0..<count {
            if i % 8 == 7 { bits = rng.next() }
            result[i] = UInt8(truncatingIfNeeded: bits)
            bits >>= 8
        }
        return result
    }
}
