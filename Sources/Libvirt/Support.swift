import CLibvirt
import Foundation

/// One-time library setup. `virInitialize` must run before threads use libvirt, and the
/// silent handler keeps libvirt from printing errors to stderr on its own.
private let librarySetup: Void = {
    _ = virInitialize()
    lcm_virt_install_silent_error_handler()
}()

/// Runs the one-time setup; cheap after the first call.
func ensureLibvirtInitialized() {
    librarySetup
}

/// Copies a string that libvirt allocated for the caller, then frees it.
func takeString(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
    guard let pointer else { return nil }
    defer { free(pointer) }
    return String(cString: pointer)
}

/// Calls `body` with a C string, or NULL for nil.
func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) throws -> R) rethrows -> R {
    guard let string else { return try body(nil) }
    return try string.withCString { try body($0) }
}

/// Reads a UUID string through one of libvirt's `virXxxGetUUIDString` functions.
func readUUIDString(_ fill: (UnsafeMutablePointer<CChar>) -> Int32) -> String? {
    var buffer = [CChar](repeating: 0, count: Int(LCM_VIR_UUID_STRING_BUFLEN))
    let rc = buffer.withUnsafeMutableBufferPointer { pointer -> Int32 in
        guard let base = pointer.baseAddress else { return -1 }
        return fill(base)
    }
    guard rc == 0 else { return nil }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Wraps each element of a libvirt-allocated object array, then frees the array itself
/// (the elements' references move into the wrappers).
func takeArray<P, T>(_ array: UnsafeMutablePointer<P?>?, count: Int32, _ wrap: (P) -> T) -> [T] {
    guard let array else { return [] }
    defer { free(array) }
    var result: [T] = []
    result.reserveCapacity(Int(max(count, 0)))
    for index in 0..<Int(max(count, 0)) {
        if let element = array[index] {
            result.append(wrap(element))
        }
    }
    return result
}

/// Formats libvirt's packed version number (major * 1,000,000 + minor * 1,000 + release).
func formatVersion(_ packed: UInt) -> String {
    "\(packed / 1_000_000).\((packed / 1_000) % 1_000).\(packed % 1_000)"
}
