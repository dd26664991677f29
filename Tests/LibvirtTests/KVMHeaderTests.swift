import Foundation
import Testing

@testable import Libvirt

/// The KVM numbers Swift sees are the ones a C compiler reads in <linux/kvm.h>: the test a
/// retyped capability id (34, x86's KVM_CAP_SET_BOOT_CPU_ID, asked instead of 93) would have failed.
@Suite struct KVMHeaderTests {
    @Test func numbersMatchTheHeader() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-kvm-header-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("kvm.c")
        try """
        #include <stdio.h>
        #include <linux/kvm.h>
        int main(void) {
            printf("KVM_CAP_ARM_EL1_32BIT %d\\n", KVM_CAP_ARM_EL1_32BIT);
            printf("KVM_CHECK_EXTENSION %lu\\n", (unsigned long)KVM_CHECK_EXTENSION);
            printf("KVM_CREATE_VM %lu\\n", (unsigned long)KVM_CREATE_VM);
            printf("KVM_CREATE_VCPU %lu\\n", (unsigned long)KVM_CREATE_VCPU);
            return 0;
        }
        """.write(to: source, atomically: true, encoding: .utf8)
        let binary = directory.appendingPathComponent("kvm")
        let compile = Process()
        compile.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        compile.arguments = ["cc", "-o", binary.path, source.path]
        try compile.run()
        compile.waitUntilExit()
        try #require(compile.terminationStatus == 0)
        let run = Process()
        run.executableURL = binary
        let output = Pipe()
        run.standardOutput = output
        try run.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        run.waitUntilExit()
        var header: [String: UInt] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            header[String(parts[0])] = UInt(parts[1])
        }
        #expect(header["KVM_CAP_ARM_EL1_32BIT"] == UInt(KVMDevice.capabilityARMEL1_32Bit))
        #expect(KVMDevice.capabilityARMEL1_32Bit == 93)
        for (name, value) in KVMDevice.requests {
            #expect(header[name] == value, "\(name)")
        }
        #expect(KVMDevice.requests.count == 3)
    }

    /// On a machine without /dev/kvm (this x86_64 CI host) the probe says it could not ask.
    @Test func probeWithoutADeviceCannotAnswer() {
        let answer = KVMDevice.probeAArch32EL1(path: "/nonexistent/kvm")
        #expect(answer.supported == nil)
        #expect(answer.evidence.contains("/nonexistent/kvm cannot be opened"))
        #expect(!KVMDevice.isUsable(path: "/nonexistent/kvm"))
    }
}
