// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "lcm",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "lcm", targets: ["lcm"]),
        .library(name: "LCMKit", targets: ["LCMKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C libraries, reached through pkg-config. GRDB brings its own module for sqlite3
        // (GRDBSQLite, pkg-config sqlite3, apt libsqlite3-dev).
        .systemLibrary(name: "CLibvirt", pkgConfig: "libvirt", providers: [.apt(["libvirt-dev"])]),
        .systemLibrary(name: "CGuestfs", pkgConfig: "libguestfs", providers: [.apt(["libguestfs-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CHivex", pkgConfig: "hivex", providers: [.apt(["libhivex-dev"])]),
        // prctl and setrlimit behind fixed-argument wrappers (libc itself, no pkg-config).
        .systemLibrary(name: "CProcess"),

        // Thin Swift wrappers, one per C library.
        .target(name: "Libvirt", dependencies: ["CLibvirt"]),
        .target(name: "Guestfs", dependencies: ["CGuestfs"]),
        .target(name: "Archive", dependencies: ["CArchive"]),
        .target(name: "Hivex", dependencies: ["CHivex"]),

        // The domain: inventory, journal, lifecycle phases.
        .target(name: "LCMKit", dependencies: [
            "Libvirt", "Guestfs", "Archive", "Hivex", "CProcess",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "Yams", package: "Yams"),
        ]),

        // The command layer.
        .executableTarget(name: "lcm", dependencies: [
            "LCMKit",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Test support: fixtures (Windows-shaped disks, registry hives) and a helper executable that
        // tests run as separate processes (concurrency, crash injection).
        .target(name: "LCMTestSupport", dependencies: ["LCMKit", "Guestfs", "Archive"]),
        .executableTarget(name: "lcm-testkit", dependencies: [
            "LCMKit", "LCMTestSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "LibvirtTests", dependencies: ["Libvirt"]),
        .testTarget(name: "GuestfsTests", dependencies: ["Guestfs", "LCMTestSupport"]),
        .testTarget(name: "ArchiveTests", dependencies: ["Archive"]),
        .testTarget(name: "LCMTestSupportTests", dependencies: ["LCMTestSupport", "LCMKit", "Guestfs", "Libvirt", "Archive"]),
        .testTarget(name: "LCMKitTests", dependencies: ["LCMKit", "LCMTestSupport", "lcm-testkit", "Archive",
                                                   .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "lcmTests", dependencies: ["LCMKit", "LCMTestSupport", "lcm", "lcm-testkit", "Archive"]),
    ]
)
