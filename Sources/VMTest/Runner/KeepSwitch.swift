import Foundation
import Libvirt
import Synchronization

/// Set once, read at teardown.
final class KeepSwitch: Sendable {
    private let kept = Mutex(false)
    func keep() { kept.withLock { $0 = true } }
    var isKept: Bool { kept.withLock { $0 } }
}
