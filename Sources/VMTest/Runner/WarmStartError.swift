import Foundation

struct WarmStartError: Error, CustomStringConvertible {
    var description: String
}
