import Foundation

/// One `qemu-nbd` serving a (possibly encrypted) image chain on a private unix socket, for the
/// appliance to use as an NBD drive.
///
/// The passphrase reaches qemu-nbd through its stdin; the process dies with lcm (see
/// `HelperSpawner`); its pid and socket are recorded as leftovers before it can outlive a crash.
final class NBDServer: @unchecked Sendable {
    let socketPath: String
    let process: Process
    let logPath: String
    private var tokens: [LeftoverToken] = []
    private let recorder: LeftoverRecorder

    /// How long the server gets to open the image and greet a client.
    static let readyTimeout: Double = 60

    private init(socketPath: String, process: Process, logPath: String, recorder: LeftoverRecorder) {
        self.socketPath = socketPath; self.process = process; self.logPath = logPath; self.recorder = recorder
    }

    /// Starts qemu-nbd and waits until it serves. A server that cannot open the image (wrong key,
    /// locked, corrupt) exits: that comes back as an `ImageError` saying which.
    static func start(imageOptions: String, passphrase: DiskPassphrase?, readOnly: Bool, socketPath: String,
                      logPath: String, recorder: LeftoverRecorder) throws -> NBDServer {
        guard socketPath.utf8.count < 100 else {
            throw LCMError(.cannotWrite, "socket path \(socketPath) is too long for a unix socket",
                           hint: "use a shorter --home")
        }
        unlink(socketPath)
        // Recorded before it exists: qemu-nbd leaves a stale socket behind when it fails to start.
        let socketToken = try recorder.record(.file(socketPath))
        // --persistent: the readiness probe is a client too; --shared=1: then only the appliance.
        var arguments = ["--persistent", "--shared=1", "--socket=\(socketPath)", "--cache=writeback"]
        if readOnly { arguments.append("--read-only") }
        if passphrase != nil { arguments += ["--object", QemuImage.secretObject] }
        arguments += ["--image-opts", imageOptions]
        guard FileManager.default.createFile(atPath: logPath, contents: nil, attributes: [.posixPermissions: 0o600]),
              let log = FileHandle(forWritingAtPath: logPath) else {
            try? recorder.release(socketToken)
            throw LCMError(.cannotWrite, "cannot create \(logPath)")
        }
        defer { try? log.close() }
        let process: Process
        do {
            process = try HelperSpawner.shared.launch(QemuImage.qemuNBD, arguments, input: passphrase,
                                                      stdout: log, stderr: log)
        } catch {
            try? recorder.release(socketToken)
            throw LCMError(.unavailable, "cannot start qemu-nbd: \(LCMError.reason(error))", hint: "install qemu-utils (scripts/setup)")
        }
        let server = NBDServer(socketPath: socketPath, process: process, logPath: logPath, recorder: recorder)
        server.tokens.append(socketToken)
        do {
            server.tokens.append(try recorder.record(.process(process.processIdentifier)))
            try server.waitUntilServing()
        } catch {
            server.stop()
            throw error
        }
        return server
    }

    var pid: Int32 { process.processIdentifier }

    /// Polls until the server sends the NBD greeting, or fails with the reason it exited.
    private func waitUntilServing() throws {
        let deadline = Date().addingTimeInterval(Self.readyTimeout)
        while Date() < deadline {
            if !process.isRunning {
                process.waitUntilExit()
                let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                throw QemuImage.classify(log, path: socketPath)
            }
            if Self.greets(socketPath) { return }
            usleep(20_000)
        }
        throw ImageError(problem: .toolFailed, path: socketPath,
                         message: "qemu-nbd did not serve within \(Int(Self.readyTimeout)) s")
    }

    /// True when a server on `path` sends the NBD greeting ("NBDMAGIC"). The socket file appears
    /// before qemu-nbd has opened the image, so only the greeting proves the image opened.
    static func greets(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { return false }
        var greeting = [UInt8](repeating: 0, count: 8)
        var got = 0
        while got < 8 {
            let n = greeting.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, 8 - got) }
            if n <= 0 { return false }
            got += n
        }
        return greeting == Array("NBDMAGIC".utf8)
    }

    /// Stops the server (SIGTERM lets qemu-nbd flush and remove its socket; SIGKILL after a grace
    /// period), reaps it, removes the socket and log, and releases the leftovers. Idempotent.
    func stop(grace: Double = 20) {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(grace)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        unlink(socketPath)
        unlink(logPath)
        for token in tokens { try? recorder.release(token) }
        tokens.removeAll()
    }

    /// The server's exit status once stopped (0 after a clean SIGTERM shutdown too).
    var cleanExit: Bool {
        !process.isRunning && (process.terminationStatus == 0
            || (process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGTERM))
    }
}
