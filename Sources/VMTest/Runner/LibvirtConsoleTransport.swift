import Foundation
import Libvirt
import Synchronization

/// The libvirt console stream as a ``ConsoleTransport``.
struct LibvirtConsoleTransport: ConsoleTransport {
    let stream: ConsoleStream

    func output() -> AsyncThrowingStream<[UInt8], any Error> {
        stream.bytes
    }

    func send(_ bytes: [UInt8]) async throws {
        try await stream.write(bytes)
    }
}
