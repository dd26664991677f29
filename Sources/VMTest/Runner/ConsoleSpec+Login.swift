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
