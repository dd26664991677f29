import ArgumentParser
import VMTest

struct WorkaroundsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workarounds",
        abstract: "List the named workarounds for known QEMU problems, when each applies, and what was seen of each problem.")

    func run() {
        for workaround in Workaround.registry {
            let applies =
                workaround.evidence.appliesByItself
                ? "on when its condition holds (reproduced)" : "off unless forced with --workaround (not reproduced)"
            print("\(workaround.name)\t\(applies)")
            print("    \(workaround.summary)")
            print("    reference: \(workaround.reference)")
            print("    evidence: \(workaround.evidence.text)")
        }
    }
}
