import Foundation

extension Workaround {
    /// Every workaround vmtest knows, in the order they apply.
    public static let registry: [Workaround] = [armv7Highmem, javaSingleCPU, javaInterpreterOnly]

    /// The registry's names, for help texts and did-you-mean suggestions.
    public static var names: [String] { registry.map(\.name) }

    public static func named(_ name: String) -> Workaround? {
        registry.first { $0.name == name }
    }

    /// The most RAM a 32-bit Arm guest on QEMU's `virt` machine gets below 4 GiB: RAM
    /// starts at 1 GiB (0x4000_0000) in virt's memory map, so 4 GiB - 1 GiB.
    public static let armv7LowMemoryLimitMiB = 3072

    public static let armv7Highmem = Workaround(
        name: "armv7-highmem",
        summary: "cap a 32-bit TCG guest's memory at \(armv7LowMemoryLimitMiB) MiB on the virt machine",
        reason: """
            on QEMU's virt machine RAM starts at 1 GiB, so only \(armv7LowMemoryLimitMiB) MiB fit below 4 GiB. \
            With highmem=off QEMU refuses more ('Addressing limited to 32 bits, but memory exceeds it', QEMU 7.0 \
            and later); with highmem on (the default for cortex-a15, which has LPAE) the rest goes above 4 GiB, \
            where Linux guests under TCG fault on their first use of it (QEMU 7.2 to 9.1)
            """,
        reference: "QEMU issue #2585 'qemu-system-arm highmem support broken with TCG': https://gitlab.com/qemu-project/qemu/-/issues/2585",
        evidence: .reproduced(
            """
            debian12-armhf with memory: 4096 and --no-workaround armv7-highmem, QEMU 7.2.22 (Debian 12), TCG on x86_64, \
            Debian's 6.1 armmp-lpae kernel: 3 s into boot init faulted at its first page-table walk above 4 GiB \
            ('Unhandled fault: synchronous abort (translation table walk) (0xa17)', *pmd=13fee8003) and the kernel \
            panicked; with the cap (2960 MiB free) the same run passed (2026-12-01)
            """),
        condition: { context in
            context.arch == .armv7l && context.accelerator == .tcg && isVirtMachine(context.machine)
                && context.memoryMiB > armv7LowMemoryLimitMiB
        },
        domainChange: { domain, _ in
            guard domain.memoryMiB > armv7LowMemoryLimitMiB else {
                return "memory \(domain.memoryMiB) MiB is already within \(armv7LowMemoryLimitMiB) MiB"
            }
            let asked = domain.memoryMiB
            domain.memoryMiB = armv7LowMemoryLimitMiB
            return "memory capped from \(asked) MiB to \(armv7LowMemoryLimitMiB) MiB"
        })

    public static let javaSingleCPU = Workaround(
        name: "java-single-cpu",
        summary: "one vCPU, pinned with QEMU's emulator thread to one host CPU, for Java under TCG",
        reason: """
            JVMs were reported to hang or crash intermittently under QEMU's emulation of 32-bit Arm (both \
            reports under user-mode emulation, qemu-arm). HotSpot's JIT writes and patches code while other \
            threads run it; in a guest with several vCPUs under multi-threaded TCG each vCPU is a host thread and \
            the guest's memory ordering and cache maintenance are emulated. One vCPU sharing a host CPU with the \
            emulator thread runs the guest's threads one at a time
            """,
        reference: """
            multiarch/qemu-user-static#18 (Java crashes under qemu-arm): https://github.com/multiarch/qemu-user-static/issues/18; \
            Linaro bug 3259 (OpenJDK under QEMU user mode): https://bugs.linaro.org/show_bug.cgi?id=3259
            """,
        evidence: .notReproduced(javaEvidence),
        condition: { $0.accelerator == .tcg && $0.installsJava },
        domainChange: { domain, settings in
            let cpuset = String(settings.pinnedHostCPU)
            let asked = domain.cpus
            domain.cpus = 1
            domain.cpuTune = .init(vcpuPins: [.init(vcpu: 0, cpuset: cpuset)], emulatorPin: cpuset)
            return "\(asked) vCPU(s) reduced to 1, vCPU 0 and the emulator thread pinned to host CPU \(cpuset)"
        })

    public static let javaInterpreterOnly = Workaround(
        name: "java-interpreter-only",
        summary: "run Java without its JIT (JAVA_TOOL_OPTIONS=-Xint): slow, for when java-single-cpu is not enough",
        reason: """
            an alternative to java-single-cpu when a JVM still fails under TCG: with -Xint no code is \
            generated at run time, so nothing depends on how QEMU emulates modified code; 10x slower Java
            """,
        reference: "HotSpot -Xint: https://docs.oracle.com/en/java/javase/17/docs/specs/man/java.html",
        evidence: .notReproduced(javaEvidence),
        condition: { $0.installsJava },
        environment: ["JAVA_TOOL_OPTIONS": "-Xint"])

    /// What vmtest saw of Java under emulation, for both Java workarounds.
    static let javaEvidence = """
        Debian 12's OpenJDK 17 (armhf) on QEMU 7.2.22 (Debian 12), TCG on a 2-core x86_64 host (2026-12-01). In \
        debian12-armhf guests the example vmtest-hello-java (its installed test, then 10 runs of 8 threads counting \
        primes while HotSpot compiles and patches code, java -version, java -Xshare:dump) passed in 4 runs of 4 with \
        2 vCPUs and 4 of 4 with 1: no crash file, no signal, no hang, no wrong count; one pinned vCPU only made them \
        slower (stress loop 59 s against 46 s), -Xint slower still (151 s). Under qemu-arm (user mode, where the \
        reports came from) mmdebstrap installed openjdk-17-jre-headless twice (its set-up runs Java), and java \
        -Xshare:dump, the installed test and 20 threaded runs passed. Nothing failed, so neither Java workaround \
        applies by itself. Not measured: TCG on an aarch64 host, whose weaker memory ordering an x86_64 host hides
        """

    static func isVirtMachine(_ machine: String) -> Bool {
        machine == "virt" || machine.hasPrefix("virt-")
    }
}
