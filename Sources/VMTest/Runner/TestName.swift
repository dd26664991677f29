import Foundation

/// Test-case names, the same whether a test ran or was skipped.
enum TestName {
    static func smoke(_ test: SmokeTest, _ package: RPMPackage) -> String { "\(test.name) \(package.name)" }
    static func command(_ index: Int, _ command: String) -> String { "command \(index + 1): \(command.prefix(60))" }
}
