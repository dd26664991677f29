import Foundation
import Testing

@testable import VMTest

/// How the SSH channel reaches a guest whose port is forwarded on its hypervisor (#12).
struct SSHRouteTests {
    @Test func aHypervisorOnThisMachineIsReachedDirectly() {
        #expect(SSHRoute(connectURI: nil) == .direct)
        #expect(SSHRoute(connectURI: "qemu:///system") == .direct)
        #expect(SSHRoute(connectURI: "qemu+tcp://127.0.0.1:16510/system") == .direct)
    }

    @Test func aQemuSSHURIGivesTheLoginLibvirtUses() throws {
        guard case .jump(let jump) = SSHRoute(connectURI: "qemu+ssh://builder@builder1.example.org:2222/system?keyfile=/k/id&no_verify=1")
        else {
            Issue.record("a qemu+ssh URI is reached through its host")
            return
        }
        #expect(jump.host == "builder1.example.org" && jump.port == 2222 && jump.user == "builder")
        #expect(jump.identity == "/k/id" && jump.skipsHostKeyCheck)
        #expect(
            jump.proxyCommand
                == "ssh -o BatchMode=yes -o ConnectTimeout=30 -p 2222 -l builder -i /k/id -o StrictHostKeyChecking=no -W %h:%p builder1.example.org"
        )
        let plain = try #require(SSHJump(uri: "qemu+ssh://builder1/system"))
        #expect(plain.proxyCommand == "ssh -o BatchMode=yes -o ConnectTimeout=30 -W %h:%p builder1")
    }

    @Test func aRemoteHypervisorWithoutAnSSHLoginIsOutOfReach() {
        #expect(SSHRoute(connectURI: "qemu+tcp://builder1/system") == .unreachable)
        #expect(SSHRoute(connectURI: "qemu+tls://builder1.example.org/system") == .unreachable)
    }
}
