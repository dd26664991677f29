internal import CLibvirt

/// Linux's random device, as far as a restored guest's shell asks it for something.
///
/// Lives beside ``KVMDevice`` for the same reason: its number comes from a Linux header
/// through `CLibvirt`, never retyped.
public enum LinuxRandomDevice {
    /// `RNDRESEEDCRNG` as `<linux/random.h>` computes it: reseed from the input pool now
    /// rather than at the next interval, up to a minute later. The guest's value too, as
    /// Arm encodes ioctl requests as x86_64 does.
    public static var reseedRequest: UInt { UInt(vmtest_random_reseed_request) }
}
