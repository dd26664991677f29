import ArgumentParser
import VMTest

struct WorkaroundsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workarounds",
        abstract: "List the named workarounds for known QEMU problems, and when each applies.")

    func run() {
        for workaround in Workaround.registry {
            print("\(workaround.name)\t\(workaround.enabledByDefault ? "on when its condition holds" : "off unless forced")")
            print("    \(workaround.summary)")
            print("    reference: \(workaround.reference)")
        }
    }
}
