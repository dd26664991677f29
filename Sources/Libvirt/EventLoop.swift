internal import CLibvirt
import Foundation

/// The process-wide libvirt event loop, run on one dedicated thread.
///
/// libvirt delivers stream data, domain events and keep-alives only while someone runs
/// its event loop, and the embedded QEMU driver (`qemu:///embed`) even refuses to open
/// unless a loop was registered first. `virEventRunDefaultImpl` blocks, so it gets a
/// thread of its own rather than a slot in Swift's cooperative pool. The loop starts on
/// first use and then runs for the rest of the process, as libvirt offers no way to
/// unregister it.
///
/// The corresponding libvirt functions are `virEventRegisterDefaultImpl` and
/// `virEventRunDefaultImpl`.
enum EventLoop {
    /// Makes sure libvirt is initialised and the event loop thread is running.
    /// Cheap after the first call.
    static func ensureRunning() throws(LibvirtError) {
        try started.get()
    }

    private static let started: Result<Void, LibvirtError> = {
        do throws(LibvirtError) {
            try LibvirtLibrary.initialize()
        } catch {
            return .failure(error)
        }
        guard virEventRegisterDefaultImpl() == 0 else {
            return .failure(LibvirtError.last(from: "virEventRegisterDefaultImpl"))
        }
        let thread = Thread {
            while true {
                // A failed iteration (e.g. an interrupted poll) is not fatal: libvirt's
                // own daemons simply run the loop again.
                if virEventRunDefaultImpl() < 0 {
                    virResetLastError()
                }
            }
        }
        thread.name = "libvirt-events"
        thread.start()
        return .success(())
    }()
}
