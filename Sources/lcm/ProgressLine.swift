import Foundation
import LCMKit
#if canImport(Glibc)
import Glibc
#endif

/// LCMKit's progress as one line on stderr, rewritten in place, for a person at a terminal.
/// Shown only when stderr is a terminal and the output is text without --quiet or --verbose
/// (verbose logs each step on the same stream); cron, CI, pipes and JSON or CSV see nothing.
final class ProgressLine: @unchecked Sendable {
    static let shared = ProgressLine(descriptor: STDERR_FILENO)

    private let descriptor: Int32
    private let lock = NSLock()
    private var shown = false
    private var lastDrawn: ContinuousClock.Instant?

    init(descriptor: Int32) { self.descriptor = descriptor }

    /// The sink for a command run with `settings`, or nil when progress is not to be shown.
    static func sink(for settings: LCMSettings, stderrIsTerminal: Bool = isatty(STDERR_FILENO) == 1) -> ProgressSink? {
        guard wanted(settings, stderrIsTerminal: stderrIsTerminal) else { return nil }
        return { shared.show($0) }
    }

    static func wanted(_ settings: LCMSettings, stderrIsTerminal: Bool) -> Bool {
        stderrIsTerminal && settings.format == .text && !settings.quiet && !settings.verbose
    }

    /// Draws `progress`, at most ten times a second except when a task completes.
    func show(_ progress: ProgressUpdate) {
        lock.withLock {
            let now = ContinuousClock.now
            let complete = progress.total.map { progress.done >= $0 } ?? false
            if let lastDrawn, !complete, now - lastDrawn < .milliseconds(100) { return }
            lastDrawn = now
            write("\r" + Self.line(progress, width: terminalWidth()) + "\u{1B}[K")
            shown = true
        }
    }

    /// Takes the line away before anything else is written to the terminal.
    func clear() {
        lock.withLock {
            guard shown else { return }
            write("\r\u{1B}[K")
            shown = false
        }
    }

    /// `lcm: upload win11: 1.2 GiB of 4.0 GiB (30%)`, cut to the terminal's width.
    static func line(_ progress: ProgressUpdate, width: Int) -> String {
        var text = "lcm: \(progress.task)"
        switch (progress.unit, progress.total) {
        case (.items, let total?): text += ": \(progress.done)/\(total)"
        case (.bytes, let total?):
            let percent = total == 0 ? 100 : progress.done * 100 / total
            text += ": \(ByteSize.format(progress.done)) of \(ByteSize.format(total)) (\(percent)%)"
        case (.bytes, nil): text += ": \(ByteSize.format(progress.done))"
        case (.items, nil): text += "..."
        }
        return text.count < width ? text : String(text.prefix(max(width - 1, 0)))
    }

    private func terminalWidth() -> Int {
        var size = winsize()
        return ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
    }

    private func write(_ text: String) {
        text.utf8CString.withUnsafeBufferPointer { buffer in
            _ = Glibc.write(descriptor, buffer.baseAddress, buffer.count - 1)
        }
    }
}
