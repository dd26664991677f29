import Foundation
import Libvirt
import Synchronization

public struct PhaseTiming: Sendable, Hashable, Codable {
    public var name: String
    public var seconds: Double
}
