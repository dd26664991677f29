/// A byte pipe to a guest console.
///
/// The libvirt console stream is the real one; tests drive ``GuestShell`` through a fake
/// that plays a scripted guest, which is how its framing is proven against echo, CRLF
/// and escape codes without booting anything.
public protocol ConsoleTransport: Sendable {
    /// Everything the guest writes, in chunks, until the console closes.
    func output() -> AsyncThrowingStream<[UInt8], any Error>
    func send(_ bytes: [UInt8]) async throws
}
