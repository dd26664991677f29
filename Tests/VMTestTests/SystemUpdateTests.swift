import Testing

@testable import VMTest

/// What an update changed, read from the guest's package lists, and whether that needs a reboot.
@Suite struct SystemUpdateTests {
    @Test func theChangedPackagesAreThoseNewOrAtAnotherVersion() {
        let before = InstalledVersions(listing: "bash 5.2.15-2+b2\nlibc6 2.36-9+deb12u4\nvmtest-updated 1.0-1\n")
        let after = InstalledVersions(
            listing: "bash 5.2.15-2+b2\nlibc6 2.36-9+deb12u7\nvmtest-updated 1.1-1\nvmtest-new 0.1-1\nno-version\n")
        #expect(after.changed(since: before) == ["libc6", "vmtest-new", "vmtest-updated"])
        #expect(before.changed(since: before).isEmpty)
    }

    /// On ttyAMA0 a cold boot's systemd and cloud-init messages land among the listing.
    @Test func consoleMessagesAmongTheListingAreNotPackages() {
        let listing = """
            bash 5.2.15-2+b2
            [   48.624893] cloud-init[242]: Cloud-init v. 22.4.2 running 'init-local'
                     Starting systemd-update-utmp.service - Record Runlevel Change in UTMP...
            Starting [
            <14>Dec  1 13:55:48 cloud-init: ####
            libc6 2.36-9+deb12u7
            perl-Digest-MD5 2.55-3.el9
            tzdata 1:2024a-0+deb12u1
            """
        #expect(
            InstalledVersions(listing: listing).versions == [
                "bash": "5.2.15-2+b2", "libc6": "2.36-9+deb12u7", "perl-Digest-MD5": "2.55-3.el9", "tzdata": "1:2024a-0+deb12u1",
            ])
    }

    @Test(
        arguments: [
            (["vmtest-updated"], nil),
            (["libc6", "vmtest-updated"], "libc6 changed"),
            (
                ["linux-image-6.1.0-50-armmp-lpae", "linux-image-armmp-lpae"],
                "linux-image-6.1.0-50-armmp-lpae, linux-image-armmp-lpae changed"
            ),
            (["kernel-core", "glibc"], "glibc, kernel-core changed"),
            (["systemd", "systemd-sysv"], "systemd, systemd-sysv changed"),
            (["kernelshark", "libc6-dev", "systemd-timesyncd"], nil),
        ] as [([String], String?)])
    func aNewKernelCLibraryOrInitNeedsAReboot(changed: [String], reason: String?) {
        #expect(UpdateReboot.reason(changed: changed.sorted()) == reason)
    }
}
