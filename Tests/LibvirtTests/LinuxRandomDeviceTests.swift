import Testing

@testable import Libvirt

/// The reseed request a restored guest's shell sends is the one <linux/random.h> defines.
@Suite struct LinuxRandomDeviceTests {
    @Test func theReseedRequestIsTheHeaders() throws {
        let header = try CHeaderValues.read(["RNDRESEEDCRNG"], from: "linux/random.h")
        #expect(header["RNDRESEEDCRNG"] == LinuxRandomDevice.reseedRequest)
        // _IO('R', 0x07) in asm-generic/ioctl.h's encoding, which the Arm guests share.
        #expect(LinuxRandomDevice.reseedRequest == 0x5207)
    }
}
