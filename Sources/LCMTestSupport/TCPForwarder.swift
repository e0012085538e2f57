import Foundation

/// A loopback TCP relay to a real service (libvirtd's TCP listener) that a test can cut at any
/// moment: every connection through it dies at once, as when a device goes away or its libvirtd
/// stops mid-run, while the service itself (shared by other tests) runs on.
public final class TCPForwarder: @unchecked Sendable {
    public let port: UInt16
    private let listener: Int32
    private let targetPort: UInt16
    private let lock = NSLock()
    private var sockets: [Int32] = []
    private var cut = false
    private var relayed = 0

    /// Connections relayed so far.
    public var connections: Int { lock.lock(); defer { lock.unlock() }; return relayed }

    public init(toLoopbackPort targetPort: UInt16) throws {
        self.targetPort = targetPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = Self.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { close(fd); throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Drops every connection and refuses new ones (accepted and closed at once) until `restore`.
    public func cutAll() {
        lock.lock()
        cut = true
        let open = sockets
        sockets = []
        lock.unlock()
        for fd in open { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    /// Relays new connections again.
    public func restore() {
        lock.lock(); cut = false; lock.unlock()
    }

    deinit { cutAll(); shutdown(listener, Int32(SHUT_RDWR)); close(listener) }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: targetPort)
            let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            lock.lock()
            let refused = cut || connected != 0
            if !refused { sockets += [client, server]; relayed += 1 }
            lock.unlock()
            if refused { close(client); close(server); continue }
            Thread.detachNewThread { Self.pump(from: client, to: server) }
            Thread.detachNewThread { Self.pump(from: server, to: client) }
        }
    }

    private static func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(source, &buffer, buffer.count)
            if count <= 0 { break }
            var offset = 0
            while offset < count {
                let written = buffer[offset..<count].withUnsafeBytes { write(destination, $0.baseAddress, $0.count) }
                if written <= 0 { shutdown(source, Int32(SHUT_RDWR)); shutdown(destination, Int32(SHUT_RDWR)); return }
                offset += written
            }
        }
        shutdown(destination, Int32(SHUT_RDWR))
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}
