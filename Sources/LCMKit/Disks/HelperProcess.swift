import Foundation

/// Starts helper processes (qemu-nbd, qemu-img) so they die with lcm.
///
/// Each child runs under `setpriv --pdeathsig KILL`, which sets PR_SET_PDEATHSIG in the child
/// before it execs the tool. The kernel delivers that signal when the *thread* that forked the
/// child exits, not only the process, so every spawn happens on one dedicated thread that lives
/// as long as lcm: a pooled thread that the runtime retires would otherwise take the helpers down
/// with it mid-batch.
final class HelperSpawner: @unchecked Sendable {
    static let shared = HelperSpawner()
    static let setpriv = "/usr/bin/setpriv"

    private let condition = NSCondition()
    private var jobs: [() -> Void] = []

    private init() {
        let thread = Thread { [unowned self] in self.serve() }
        thread.name = "lcm-helper-spawner"
        thread.start()
    }

    private func serve() {
        // A child inherits the spawning thread's signal mask across exec, and this thread inherited
        // its creator's (runtime worker threads block nearly every signal): qemu-nbd would then
        // never see the SIGTERM that asks it to flush and exit. Children start with nothing blocked.
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }

    /// Runs `body` on the spawner thread and returns its result.
    func onSpawnerThread<T>(_ body: @escaping () throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<T, Error>?
        condition.lock()
        jobs.append {
            result = Result { try body() }
            done.signal()
        }
        condition.signal()
        condition.unlock()
        done.wait()
        return try result!.get()
    }

    /// Launches `executable` with `arguments` (an argument array, never a shell string).
    ///
    /// - Parameters:
    ///   - input: bytes for the child's stdin, written into the pipe and the pipe closed before the
    ///     child exists, so the secret is in no argv, no file, and no other process's descriptors.
    ///   - stdout, stderr: file handles (or nil for /dev/null).
    func launch(_ executable: String, _ arguments: [String], input: DiskPassphrase?,
                stdout: FileHandle?, stderr: FileHandle?) throws -> Process {
        let process = Process()
        if FileManager.default.isExecutableFile(atPath: Self.setpriv) {
            process.executableURL = URL(fileURLWithPath: Self.setpriv)
            process.arguments = ["--pdeathsig", "KILL", "--", executable] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        }
        if let input {
            let pipe = Pipe()
            // A pipe holds 64 KiB, far more than a passphrase: the write cannot block.
            let written = input.withBytes { bytes in
                write(pipe.fileHandleForWriting.fileDescriptor, bytes.baseAddress, bytes.count)
            }
            try pipe.fileHandleForWriting.close()
            guard written == input.count else {
                throw LCMError(.unavailable, "cannot hand a secret to \(executable) through its stdin")
            }
            process.standardInput = pipe
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        process.standardOutput = stdout ?? FileHandle.nullDevice
        process.standardError = stderr ?? FileHandle.nullDevice
        try onSpawnerThread { try process.run() }
        if let pipe = process.standardInput as? Pipe { try? pipe.fileHandleForReading.close() }
        return process
    }
}

/// What a tool printed and how it ended.
struct ToolOutput: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs short-lived tools (qemu-img) through the spawner and collects their output.
enum Tool {
    /// Runs a tool to completion. `input` goes to its stdin (see `HelperSpawner.launch`).
    static func run(_ executable: String, _ arguments: [String], input: DiskPassphrase? = nil) throws -> ToolOutput {
        let out = Pipe(), err = Pipe()
        let process: Process
        do {
            process = try HelperSpawner.shared.launch(executable, arguments, input: input,
                                                      stdout: out.fileHandleForWriting, stderr: err.fileHandleForWriting)
        } catch {
            throw LCMError(.unavailable, "cannot run \(executable): \(LCMError.reason(error))",
                           hint: "install it (scripts/setup installs qemu-utils)")
        }
        // The parent's write ends must close, or reading would never see end of file.
        try? out.fileHandleForWriting.close()
        try? err.fileHandleForWriting.close()
        // stderr is drained on a thread of its own (not GCD's pool, see `Parallel`), so neither
        // pipe can fill up and block the tool.
        nonisolated(unsafe) var errData = Data()
        let drained = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            drained.signal()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        process.waitUntilExit()
        return ToolOutput(status: process.terminationStatus,
                          stdout: String(decoding: outData, as: UTF8.self),
                          stderr: String(decoding: errData, as: UTF8.self))
    }

    /// The first line of a tool's error output, trimmed, for messages.
    static func firstLine(_ text: String) -> String {
        text.split(separator: "\n").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    }
}
