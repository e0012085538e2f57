import Foundation
import Libvirt
import Logging

/// The settings every command runs with (the global options, resolved).
public struct LCMSettings: Sendable {
    public var home: LCMHome
    /// The libvirt URI of the device to act on when a command names none.
    public var connectURI: String
    public var format: OutputFormat
    public var quiet: Bool
    public var verbose: Bool
    public var accelerator: Accelerator

    public init(home: LCMHome, connectURI: String, format: OutputFormat = .text, quiet: Bool = false,
                verbose: Bool = false, accelerator: Accelerator = .auto) {
        self.home = home; self.connectURI = connectURI; self.format = format
        self.quiet = quiet; self.verbose = verbose; self.accelerator = accelerator
    }

    /// `--connect` wins, then `LCM_CONNECT`, then qemu:///system for root and qemu:///session otherwise.
    public static func resolveConnectURI(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let fromEnv = environment["LCM_CONNECT"], !fromEnv.isEmpty { return fromEnv }
        return Connection.defaultURI
    }
}

/// What a command runs against: its settings, a logger, and lazily opened resources.
/// Tests build their own context instead of touching global state.
public final class LCMContext: @unchecked Sendable {
    public let settings: LCMSettings
    public let logger: Logger
    public let actor: AuditActor
    private var openedInventory: Inventory?

    public init(settings: LCMSettings, logger: Logger, actor: AuditActor = .current()) {
        self.settings = settings; self.logger = logger; self.actor = actor
    }

    /// The inventory, opened (and created or migrated) on first use.
    public func inventory() throws -> Inventory {
        if let openedInventory { return openedInventory }
        let inventory = try Inventory.open(home: settings.home, actor: actor)
        openedInventory = inventory
        return inventory
    }

    /// Connects to a device's libvirtd (the default URI unless one is given).
    public func connect(_ uri: String? = nil) throws -> Connection {
        let target = uri ?? settings.connectURI
        do {
            return try Connection(uri: target)
        } catch let error as LibvirtError {
            throw LCMError(.unavailable, "cannot connect to libvirt at \(target): \(error.message)",
                           hint: "check that libvirtd runs there (scripts/setup starts it locally) and that the URI is right")
        }
    }
}
