/// How far a long piece of work is: LCMKit reports it, the command layer decides whether and how a
/// person sees it (on a terminal's stderr only; never in JSON, CSV, `--quiet` or non-TTY output).
public struct ProgressUpdate: Sendable, Equatable {
    public enum Unit: Sendable, Equatable { case items, bytes }

    /// What is being done, e.g. "appliance launch", "upload win11@3", "wipe pass 2/3 os".
    public var task: String
    public var done: UInt64
    /// Nil while the amount is not known (an appliance launch).
    public var total: UInt64?
    public var unit: Unit

    public init(_ task: String, done: UInt64 = 0, of total: UInt64? = nil, unit: Unit = .items) {
        self.task = task; self.done = done; self.total = total; self.unit = unit
    }
}

/// Where LCMKit sends progress. The command layer puts one in the context it gives the entry
/// points (`LCMContext.progress`, and the engine's options); nil reports nothing.
public typealias ProgressSink = @Sendable (ProgressUpdate) -> Void
