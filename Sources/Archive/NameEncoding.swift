import Foundation

/// Runs `body` with this thread's LC_CTYPE set to C.UTF-8.
///
/// libarchive converts entry names through the current locale. A Swift program never calls
/// setlocale, so it runs in the C locale, where non-ASCII names turn into "?", vanish from
/// Joliet directories, or (pax writer, libarchive 3.6) crash. uselocale() only changes the
/// calling thread and is restored on return, so other threads and the process locale are
/// untouched. If C.UTF-8 is unavailable, `body` runs in the current locale.
func withUTF8Names<T>(_ body: () throws -> T) rethrows -> T {
    guard let utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", nil) else { return try body() }
    let previous = uselocale(utf8)
    defer {
        uselocale(previous)
        freelocale(utf8)
    }
    return try body()
}
