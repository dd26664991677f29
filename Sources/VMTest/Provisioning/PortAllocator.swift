import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Picks free TCP ports on 127.0.0.1 for QEMU's SSH forward, so concurrent runs never
/// collide.
///
/// A free port comes from the kernel: bind a socket to port 0 and read back the port it
/// chose, then close the socket so QEMU can bind it. Between that close and QEMU's bind
/// the port is free for anyone, so each chosen port is also *reserved*: an exclusive
/// `flock` on `ports/PORT.lock` under the state directory, held until the run ends. Two
/// vmtest processes that happen to get the same port from the kernel cannot both hold
/// its lock; the loser asks the kernel again. `flock` locks die with their file
/// descriptor, so a crashed run leaves no stale reservation, only an unlocked file.
/// A release deletes its lock file while still holding the lock; whoever opened the
/// file just before then finds, once it has the lock, that the path no longer names
/// the file it locked, and tries again (the usual unlink-safe lock-file protocol).
///
/// We chose the lock over holding the socket open and handing it to QEMU (libvirt's
/// `<qemu:commandline>` hostfwd has no way to take a file descriptor) and over "retry
/// the whole boot when QEMU fails to bind" (a failed create under TCG costs seconds and
/// its error is only a string). What the lock cannot stop is an unrelated program
/// binding the port in the window of a few milliseconds before QEMU does; the kernel
/// hands out ports from the ephemeral range in a moving order, which makes that
/// unlikely, and QEMU then fails loudly ("Could not set up host forwarding rule").
public struct PortAllocator: Sendable {
    public let lockDirectory: URL

    public init(lockDirectory: URL) {
        self.lockDirectory = lockDirectory
    }

    public init(directories: Directories) {
        self.init(lockDirectory: directories.state.appendingPathComponent("ports"))
    }

    /// Reserves a free port; release the reservation when the guest is gone.
    public func reserve(attempts: Int = 50) throws -> PortReservation {
        try FileManager.default.createDirectory(at: lockDirectory, withIntermediateDirectories: true)
        for _ in 0..<attempts {
            let port = try Self.kernelChosenPort()
            let lockFile = lockDirectory.appendingPathComponent("\(port).lock")
            let descriptor = open(lockFile.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                throw ProvisioningError("cannot create the port lock \(lockFile.path): \(String(cString: strerror(errno)))")
            }
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0, Self.isStillNamed(lockFile, by: descriptor) {
                // Another run may have held this lock until just now, with QEMU still
                // bound: ask the kernel whether the port is still free, under the lock.
                if Self.isFree(port) {
                    return PortReservation(port: port, descriptor: descriptor, lockFile: lockFile)
                }
            }
            close(descriptor)
        }
        throw ProvisioningError("found no free TCP port on 127.0.0.1 in \(attempts) attempts")
    }

    /// The port the kernel gives a socket bound to 127.0.0.1:0.
    static func kernelChosenPort() throws -> Int {
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { throw ProvisioningError("socket() failed: \(String(cString: strerror(errno)))") }
        defer { close(socketDescriptor) }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw ProvisioningError("bind(127.0.0.1:0) failed: \(String(cString: strerror(errno)))") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketDescriptor, $0, &length) }
        }
        guard named == 0 else { throw ProvisioningError("getsockname failed: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether `path` still names the file open as `descriptor` (no release deleted it
    /// between our `open` and our `flock`).
    static func isStillNamed(_ path: URL, by descriptor: Int32) -> Bool {
        var opened = stat()
        var named = stat()
        guard fstat(descriptor, &opened) == 0, stat(path.path, &named) == 0 else { return false }
        return opened.st_dev == named.st_dev && opened.st_ino == named.st_ino
    }

    /// Whether 127.0.0.1:`port` can be bound right now.
    static func isFree(_ port: Int) -> Bool {
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { return false }
        defer { close(socketDescriptor) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}

/// A port held for one run: no other vmtest process is handed it until ``release()``
/// (or this process's exit).
public final class PortReservation: Sendable {
    public let port: Int
    private let lockFile: URL
    private let descriptor: Mutex<Int32?>

    init(port: Int, descriptor: Int32, lockFile: URL) {
        self.port = port
        self.lockFile = lockFile
        self.descriptor = Mutex(descriptor)
    }

    /// Gives the port back and deletes its lock file (under the lock). Idempotent.
    public func release() {
        descriptor.withLock { descriptor in
            if let open = descriptor {
                unlink(lockFile.path)
                close(open)
            }
            descriptor = nil
        }
    }

    deinit { release() }
}
