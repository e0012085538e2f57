import CLibvirt
import Foundation

/// libvirt's default event loop, run on a dedicated background thread.
///
/// Without it a client only reads from the daemon while it is inside a call, so a
/// non-blocking stream (a console) never receives data, and connection keepalives and
/// event callbacks do not fire. Start it once, before opening the connections that need it;
/// it runs until the process exits.
public enum EventLoop {
    private static let registration: Result<Void, LibvirtError> = {
        ensureLibvirtInitialized()
        guard virEventRegisterDefaultImpl() == 0 else {
            return .failure(LibvirtError.last("virEventRegisterDefaultImpl"))
        }
        let thread = Thread {
            while true {
                // One iteration failing (a bad handle) must not stop event delivery.
                if virEventRunDefaultImpl() < 0 { virResetLastError() }
            }
        }
        thread.name = "libvirt-event-loop"
        thread.start()
        return .success(())
    }()

    /// Registers and starts the loop; later calls do nothing.
    public static func start() throws {
        try registration.get()
    }
}
