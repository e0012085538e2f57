import Foundation
import Libvirt
import Logging

/// The settings every command runs with (the global options, resolved by the command layer from
/// its arguments and environment: LCMKit reads neither).
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
    public static func resolveConnectURI(explicit: String?, environment: [String: String]) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let fromEnv = environment["LCM_CONNECT"], !fromEnv.isEmpty { return fromEnv }
        return Connection.defaultURI
    }
}

/// What every LCMKit entry point runs against: the settings, the inventory (opened on first use),
/// libvirt connections through one factory that turns an unreachable device into exit 69, the
/// disk engine's options, a logger, a clock, progress and fail points. The command layer builds
/// one per run; tests build their own and run entry points in-process.
public final class LCMContext: @unchecked Sendable {
    public let settings: LCMSettings
    public let logger: Logger
    public let actor: AuditActor
    public let connections: ConnectionFactory
    public let failPoints: FailPoints
    public let clock: WallClock
    /// Where long work reports how far it is (nil: nowhere).
    public let progress: ProgressSink?
    /// How disk batches run: the accelerator's backend, call trace with `--verbose`, progress,
    /// fail points and connections come from this context; tests may change limits.
    public var engine: DiskEngine.Options
    private let lock = NSLock()
    /// `--accel` (or LCM_ACCEL) with `auto` resolved from doctor's last probe on this host.
    public let accelerator: Accelerator
    private var openedInventory: Inventory?

    public init(settings: LCMSettings, logger: Logger = Logger(label: "lcm", factory: { _ in SwiftLogNoOpLogHandler() }),
                actor: AuditActor = .current(), connections: ConnectionFactory = .libvirt, failPoints: FailPoints = .none,
                clock: WallClock = .system, progress: ProgressSink? = nil) {
        self.settings = settings; self.logger = logger; self.actor = actor
        self.connections = connections; self.failPoints = failPoints; self.clock = clock; self.progress = progress
        let accelerator = settings.accelerator.resolved(home: settings.home)
        var engine = DiskEngine.Options(backendSettings: DiskEngine.Options.backendSettings(for: accelerator))
        if settings.verbose {
            engine.callTrace = { [logger] in logger.debug("appliance: \($0)") }
        }
        engine.progress = progress
        engine.failPoints = failPoints
        engine.connections = connections
        self.engine = engine
        self.accelerator = accelerator
    }

    /// The inventory, opened (and created or migrated) on first use.
    public func inventory() throws -> Inventory {
        try lock.withLock {
            if let openedInventory { return openedInventory }
            let inventory = try Inventory.open(home: settings.home, actor: actor)
            openedInventory = inventory
            return inventory
        }
    }

    /// Connects to a device's libvirtd (the default URI unless one is given); exit 69 when it cannot.
    public func connect(_ uri: String? = nil) throws -> Connection {
        try connections.connect(uri ?? settings.connectURI)
    }

    /// The operations journal over this context's inventory, with its fail points.
    public func journal(registry: OperationRegistry = .standard) throws -> OperationJournal {
        OperationJournal(inventory: try inventory(), registry: registry, failPoints: failPoints, connections: connections)
    }
}
