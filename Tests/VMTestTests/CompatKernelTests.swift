import Foundation
import Testing

@testable import VMTest

@Suite("compat kernel kit: module selection, key, apt answers, /init")
struct CompatKernelTests {
    let index = KernelModuleIndex(
        dep: KernelModuleIndexTests.dep + """
            kernel/net/core/failover.ko:
            kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
            kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
            kernel/fs/isofs/isofs.ko:

            """,
        softdep: KernelModuleIndexTests.softdep, alias: KernelModuleIndexTests.alias,
        builtin: KernelModuleIndexTests.builtin + "kernel/drivers/rtc/rtc-pl031.ko\n")

    @Test func rootModulesComeFirstAndTheRuntimeSetHasOnlyTheRest() throws {
        let set = CompatModuleSet(
            rootModules: ["virtio_mmio", "virtio_blk", "ext4"],
            runtimeModules: ["virtio_net", "isofs", "virtio-rng", "rtc_pl031", "ext4"])
        let (root, runtime) = try set.select(from: index)
        #expect(root == (try index.loadOrder(for: ["virtio_mmio", "virtio_blk", "ext4"])))
        #expect(Set(root).isDisjoint(with: runtime), "each module is carried once")
        #expect(runtime.count == Set(runtime).count)
        #expect(
            Set(runtime) == [
                "kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko",
                "kernel/fs/isofs/isofs.ko", "kernel/drivers/char/hw_random/rng-core.ko",
                "kernel/drivers/char/hw_random/virtio-rng.ko",
            ],
            "dependencies come along; built-in rtc_pl031 and ext4 (already root's) add nothing")
        #expect(runtime.firstIndex(of: "kernel/net/core/failover.ko")! < runtime.firstIndex(of: "kernel/drivers/net/virtio_net.ko")!)
    }

    @Test func anUnknownModuleFailsTheBuildNotTheGuest() {
        let set = CompatModuleSet(rootModules: ["ext4"], runtimeModules: ["renamed_driver"])
        #expect(throws: KernelModuleIndex.ResolutionError.unknownModule("renamed_driver")) { try set.select(from: index) }
    }

    @Test func theStandardSetCoversWhatAnArmhfGuestLoadsLater() {
        let runtime = Set(CompatModuleSet.standardRuntimeModules)
        for needed in ["virtio_net", "virtio_rng", "isofs", "vfat"] { #expect(runtime.contains(needed)) }
        #expect(CompatModuleSet.standardRootModules.contains("virtio_console"), "hvc0 exists before udev")
        #expect(CompatModuleSet.standardRootModules == DebianImageBuilder.initramfsModules)
    }

    @Test func theKeyFollowsEveryInputAndNothingElse() {
        let kernel = DebianPackageVersion(package: "linux-image-6.1.0-50-arm64:arm64", version: "6.1.176-1")
        let busybox = DebianPackageVersion(package: "busybox-static:arm64", version: "1:1.35.0-4+deb12u1+b1")
        let script = Data("#!/bin/busybox sh\n".utf8)
        let key = CompatKernelStore.key(kernel: kernel, busybox: busybox, initScript: script, moduleSet: CompatModuleSet())
        #expect(key == CompatKernelStore.key(kernel: kernel, busybox: busybox, initScript: script, moduleSet: CompatModuleSet()))
        var newer = kernel
        newer.version = "6.1.177-1"
        var otherModules = CompatModuleSet()
        otherModules.runtimeModules.append("xfs")
        let variants = [
            CompatKernelStore.key(kernel: newer, busybox: busybox, initScript: script, moduleSet: CompatModuleSet()),
            CompatKernelStore.key(kernel: kernel, busybox: newer, initScript: script, moduleSet: CompatModuleSet()),
            CompatKernelStore.key(kernel: kernel, busybox: busybox, initScript: script + Data("\n".utf8), moduleSet: CompatModuleSet()),
            CompatKernelStore.key(kernel: kernel, busybox: busybox, initScript: script, moduleSet: otherModules),
        ]
        #expect(Set(variants + [key]).count == 5)
        #expect(key.allSatisfy { $0.isHexDigit })
        #expect(
            CompatKernelStore.layoutKey(initScript: script, moduleSet: CompatModuleSet())
                == CompatKernelStore.layoutKey(initScript: script, moduleSet: CompatModuleSet()),
            "the offline fallback matches kits by init and modules alone")
    }

    @Test func aptCacheShowIsReadForVersionAndPinnedDependency() throws {
        let text = """
            Package: linux-image-arm64
            Source: linux-signed-arm64 (6.1.176+1)
            Version: 6.1.176-1
            Architecture: arm64
            Depends: linux-image-6.1.0-50-arm64 (= 6.1.176-1)
            Description-en: Linux for 64-bit ARMv8 machines (meta-package)
             This package depends on the latest Linux kernel
             and modules for use on arm64 machines.

            Package: linux-image-arm64
            Version: 6.1.170-1

            """
        let stanzas = try DebianControlFile.parse(text, file: "apt-cache show").paragraphs
        #expect(stanzas.count == 2)
        let stanza = stanzas[0]
        #expect(stanza["Version"] == "6.1.176-1")
        #expect(stanzas[1]["Version"] == "6.1.170-1")
        #expect(stanza["Description-en"]?.hasSuffix("use on arm64 machines.") == true)
        let dependency = try #require(HostApt.dependency(in: stanza["Depends"] ?? "", prefix: "linux-image-"))
        #expect(dependency.name == "linux-image-6.1.0-50-arm64")
        #expect(dependency.version == "6.1.176-1")
        #expect(
            HostApt.dependency(in: "busybox, linux-image-6.1.0-9-arm64:arm64 | linux-image-x", prefix: "linux-image-")?.name
                == "linux-image-6.1.0-9-arm64")
        #expect(HostApt.dependency(in: "kmod, initramfs-tools", prefix: "linux-image-") == nil)
        #expect(DebianPackageVersion(package: "busybox-static:arm64", version: "1:1.35.0-4").pinned == "busybox-static:arm64=1:1.35.0-4")
    }

    @Test func theCommandLineGetsTheAdditionsOnce() {
        var kit = CompatKernel(
            directory: "/k", kernel: "/k/vmlinuz", initrd: "/k/initrd.img", kernelRelease: "6.1.0-50-arm64",
            kernelPackage: DebianPackageVersion(package: "k", version: "1"),
            busyboxPackage: DebianPackageVersion(package: "b", version: "1"),
            kernelCommandLineAdditions: [], rootModules: [], runtimeModules: [], buildSeconds: 1, builtAt: Date())
        #expect(kit.kernelCommandLine(forImage: "console=ttyAMA0 root=LABEL=vmtest-root rw") == "console=ttyAMA0 root=LABEL=vmtest-root rw")
        kit.kernelCommandLineAdditions = ["quiet"]
        #expect(kit.kernelCommandLine(forImage: "root=/dev/vda2 ro") == "root=/dev/vda2 ro quiet")
        #expect(kit.kernelCommandLine(forImage: "root=/dev/vda2 quiet") == "root=/dev/vda2 quiet")
    }

    /// The repository's compat /init: what the kit's behaviour rests on, checked as text
    /// (booting it is the end-to-end test's job).
    @Test func theCompatInitMountsModulesAndStartsInitAsLinux32() throws {
        let script = try String(
            contentsOf: try DebianImageBuilder.locateDataDirectory().appendingPathComponent("compat-init"), encoding: .utf8)
        #expect(script.hasPrefix("#!/bin/busybox sh\n"))
        let lines = script.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.hasPrefix("#") }
        #expect(lines.last == #"exec /bin/busybox linux32 /bin/busybox switch_root /newroot "$init""#)
        #expect(lines.contains(#"done < /etc/modules-load.order"#))
        #expect(lines.contains { $0.contains("mount -t tmpfs") && $0.contains(#""$modules""#) })
        #expect(lines.contains(#"[ -L /newroot/lib ] && modules=/newroot/usr/lib/modules"#))
        // Everything the script runs is a busybox applet: the initramfs has nothing else.
        for line in lines where line.hasPrefix("/") {
            #expect(line.hasPrefix("/bin/busybox "), "\(line)")
        }
    }
}
