import Foundation
import LCMKit
import LCMTestSupport
import Testing

/// `lcm doctor` against the real local libvirtd and a real appliance launch.
@Suite(.serialized) struct DoctorCommandTests {
    @Test func fullReportAgainstTheLocalDaemon() throws {
        let scratch = ScratchDirectory()
        let run = try LCMRunner(home: scratch.file("home").path).run(["doctor", "--format", "json"])
        let report = try JSONDecoder().decode(DoctorReport.self, from: Data(run.stdout.utf8))
        let names = report.checks.map(\.name)
        #expect(names == ["libvirt", "storage pool", "accelerator", "uefi firmware", "tpm", "libguestfs appliance", "lcm home", "inventory", "temporary files", "disk encryption"])
        for check in report.checks {
            #expect(check.status != .fail, "\(check.name) failed: \(check.detail)")
            #expect(!check.detail.isEmpty)
            #expect(check.seconds >= 0)
        }
        #expect(report.ok)
        #expect(run.status == 0)
        // Whatever this host's KVM does, doctor names an accelerator that really booted a guest.
        #expect(report.accelerator == "kvm" || report.accelerator == "tcg")
        let accelerator = report.checks.first { $0.name == "accelerator" }
        #expect(accelerator?.detail.contains("booted") == true)
        if report.accelerator == "tcg", accelerator?.detail.contains("kvm: probe guest printed nothing") == true {
            #expect(accelerator?.status == .warn)
            #expect(accelerator?.fix?.contains("--accel tcg") == true)
        }
        // Deploy turns Secure Boot on by default: this host's OVMF offers it, and doctor says so.
        let firmware = report.checks.first { $0.name == "uefi firmware" }
        #expect(firmware?.status == .pass && firmware?.detail.contains("Secure Boot available") == true, "\(firmware?.detail ?? "no check")")
        let appliance = report.checks.first { $0.name == "libguestfs appliance" }
        #expect(appliance?.detail.contains("launched in") == true)
        // Doctor does not create the inventory.
        #expect(!FileManager.default.fileExists(atPath: scratch.file("home/lcm.db").path))
    }

    @Test func forcedKVMFailsWhereKVMHangs() throws {
        // On a host whose KVM works this passes the other way round; either way doctor must agree
        // with its own probe.
        let scratch = ScratchDirectory()
        let run = try LCMRunner(home: scratch.file("home").path).run(["doctor", "--format", "json", "--accel", "kvm"])
        let report = try JSONDecoder().decode(DoctorReport.self, from: Data(run.stdout.utf8))
        let accelerator = try #require(report.checks.first { $0.name == "accelerator" })
        if accelerator.status == .fail {
            #expect(run.status == LCMExitCode.checkFailed.rawValue)
            #expect(accelerator.fix?.contains("--accel tcg") == true)
        } else {
            #expect(accelerator.detail.contains("booted"))
        }
    }
}
