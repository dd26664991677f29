import Foundation
import Libvirt
import Synchronization

extension ConsoleSpec {
    var loginMethod: ConsoleLogin {
        switch login {
        case .autologin: return .autologin
        case .password: return .password(user: user ?? "root", password: password ?? "")
        }
    }
}

extension Profile {
    /// What the command console shows once typing on it can no longer stop the boot. U-Boot
    /// reads the same serial line (ttyAMA0) during its autoboot countdown: vmtest's first
    /// newline before a login prompt stopped the stand-in CentOS image at U-Boot's `=>`.
    var consoleTypingSafeAfter: String? {
        boot.method == .uBoot && console.device == .ttyAMA0 ? "Starting kernel" : nil
    }
}
