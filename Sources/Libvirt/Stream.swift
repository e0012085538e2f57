import CLibvirt
import Foundation

/// A libvirt data stream (`virStreamPtr`): the channel for volume uploads and downloads
/// and for console I/O. Freed on deinit, after an abort if a transfer was left open.
///
/// Use a stream from one thread at a time; `Sendable` only lets it move between tasks.
/// Foundation also has a `Stream` class: spell this one `Libvirt.Stream` where both
/// modules are imported.
public final class Stream: @unchecked Sendable {
    let pointer: virStreamPtr
    public let connection: Connection
    public let isNonBlocking: Bool

    private let lock = NSLock()
    /// Set once an API attached the stream to a transfer and cleared by finish/abort;
    /// libvirt requires an active stream to be aborted before it is freed.
    private var active = false

    /// Creates an unattached stream; pass it to an API that starts a transfer.
    public init(connection: Connection, nonBlocking: Bool = false) throws {
        let flags = nonBlocking ? VIR_STREAM_NONBLOCK.rawValue : 0
        guard let pointer = virStreamNew(connection.pointer, flags) else {
            throw connection.error("virStreamNew")
        }
        self.pointer = pointer
        self.connection = connection
        self.isNonBlocking = nonBlocking
    }

    deinit {
        if active {
            _ = virStreamAbort(pointer)
            virResetLastError()
        }
        virStreamFree(pointer)
    }

    func markActive() {
        lock.withLock { active = true }
    }

    private func markClosed() {
        lock.withLock { active = false }
    }

    /// Sends what the stream accepts in one call: the number of bytes taken (possibly fewer
    /// than offered), or nil if a non-blocking stream would block.
    public func send(_ bytes: UnsafeRawBufferPointer) throws -> Int? {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        let rc = virStreamSend(pointer, base.assumingMemoryBound(to: CChar.self), bytes.count)
        if rc == -2 { return nil }
        guard rc >= 0 else { throw connection.error("virStreamSend") }
        return Int(rc)
    }

    /// See `send(_:)` for the buffer-pointer form.
    public func send(_ bytes: [UInt8]) throws -> Int? {
        try bytes.withUnsafeBytes { try send($0) }
    }

    /// Sends every byte, retrying partial sends. Meant for blocking streams: on a
    /// non-blocking one it spins while the stream would block.
    public func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let chunk = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            if let sent = try send(chunk) {
                offset += sent
            } else {
                Thread.sleep(forTimeInterval: 0.001)
            }
        }
    }

    /// Receives up to `max` bytes: empty at end of stream, nil if a non-blocking stream
    /// has nothing ready.
    public func receive(max: Int = 64 * 1024) throws -> [UInt8]? {
        precondition(max > 0, "receive(max:) needs a positive size")
        var received: Int? = 0
        let bytes = try [UInt8](unsafeUninitializedCapacity: max) { buffer, count in
            received = try receive(into: UnsafeMutableRawBufferPointer(buffer))
            count = received ?? 0
        }
        return received == nil ? nil : bytes
    }

    /// Receives into `buffer`: the byte count, 0 at end of stream, nil if it would block.
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return 0 }
        let rc = virStreamRecv(pointer, base.assumingMemoryBound(to: CChar.self), buffer.count)
        if rc == -2 { return nil }
        guard rc >= 0 else { throw connection.error("virStreamRecv") }
        return Int(rc)
    }

    /// Completes the transfer; for uploads this is where the far side reports a failed write,
    /// so the transfer only counts as done when this returns.
    public func finish() throws {
        let rc = virStreamFinish(pointer)
        markClosed()
        guard rc == 0 else { throw connection.error("virStreamFinish") }
    }

    /// Cancels the transfer; the far side discards it.
    public func abort() throws {
        let rc = virStreamAbort(pointer)
        markClosed()
        guard rc == 0 else { throw connection.error("virStreamAbort") }
    }

    /// Aborts after a failure, keeping the original error as the one reported.
    func abortQuietly() {
        _ = virStreamAbort(pointer)
        markClosed()
        virResetLastError()
    }
}
