import Foundation
@testable import LCMKit
import LCMTestSupport
import Testing

/// The engine's pure parts: bisection, volume XML reading, image options, audit rules.
@Suite struct DiskUnitTests {
    struct Launches {
        var bad: Set<Int>
        var attempts: [[Int]] = []
        var blamed: [Int] = []
    }

    /// One bad disk among 20: found with far fewer launches than one per disk.
    @Test func bisectionFindsOneBadDiskInLogarithmicLaunches() {
        var state = Launches(bad: [13])
        let tally = withUnsafeMutablePointer(to: &state) { state in
            LaunchBisector<Int>(
                attempt: { group in
                    state.pointee.attempts.append(group)
                    if group.contains(where: state.pointee.bad.contains) { throw LCMError(.unavailable, "launch failed") }
                    return []
                },
                suspects: { _, _ in [] },
                blame: { item, _ in state.pointee.blamed.append(item) }
            ).run([Array(0..<20)])
        }
        #expect(state.blamed == [13])
        #expect(tally.launches <= 1 + 2 * 5, "\(tally.launches) launches")
        #expect(tally.failedLaunches <= 6)
        // Every good disk ran in exactly one successful launch.
        let succeeded = state.attempts.filter { !$0.contains(13) }.flatMap { $0 }
        #expect(succeeded.sorted() == Array(0..<20).filter { $0 != 13 })
    }

    /// An appliance that never starts is not bisected down to every single disk.
    @Test func systemicLaunchFailureStopsRelaunching() {
        var blamed = 0
        let tally = withUnsafeMutablePointer(to: &blamed) { blamed in
            LaunchBisector<Int>(
                attempt: { _ in throw LCMError(.unavailable, "supermin: no kernel") },
                suspects: { _, _ in [] },
                blame: { _, _ in blamed.pointee += 1 }
            ).run([Array(0..<50)])
        }
        #expect(blamed == 50)
        #expect(tally.launches <= 16, "\(tally.launches) launches")
    }

    /// A cheap diagnosis (re-validation) that names the culprit avoids bisection: 2 launches.
    @Test func suspectsShortCutBisection() {
        var state = Launches(bad: [4, 9])
        let tally = withUnsafeMutablePointer(to: &state) { state in
            LaunchBisector<Int>(
                attempt: { group in
                    if group.contains(where: state.pointee.bad.contains) { throw LCMError(.unavailable, "launch failed") }
                    return []
                },
                suspects: { group, _ in group.indices.filter { state.pointee.bad.contains(group[$0]) } },
                blame: { item, _ in state.pointee.blamed.append(item) }
            ).run([Array(0..<12)])
        }
        #expect(state.blamed.sorted() == [4, 9])
        #expect(tally == .init(launches: 2, failedLaunches: 1))
    }

    /// When the appliance dies midway, the unprocessed rest gets one more launch.
    @Test func remainingDisksAfterADeadApplianceGetANewLaunch() {
        var attempts: [[Int]] = []
        let tally = withUnsafeMutablePointer(to: &attempts) { attempts in
            LaunchBisector<Int>(
                attempt: { group in
                    attempts.pointee.append(group)
                    if let position = group.firstIndex(of: 5) { return Array(group[(position + 1)...]) }
                    return []
                },
                suspects: { _, _ in [] }, blame: { _, _ in }
            ).run([Array(0..<8)])
        }
        #expect(attempts == [Array(0..<8), [6, 7]])
        #expect(tally.launches == 2)
    }

    /// A launch that hung (no disk's fault) is retried once with the whole group, not bisected;
    /// a second hang of the same group is blamed as usual.
    @Test func aHungLaunchIsRetriedOnceWithTheSameGroup() {
        var attempts: [[Int]] = []
        let tally = withUnsafeMutablePointer(to: &attempts) { attempts in
            LaunchBisector<Int>(
                attempt: { group in
                    attempts.pointee.append(group)
                    if attempts.pointee.count == 1 { throw LCMError(.unavailable, "launch hung") }
                    return []
                },
                suspects: { _, _ in [] }, blame: { _, _ in },
                isTransient: { "\($0)".contains("hung") }
            ).run([Array(0..<6)])
        }
        #expect(attempts == [Array(0..<6), Array(0..<6)])
        #expect(tally == .init(launches: 2, failedLaunches: 1))

        var blamed: [Int] = []
        _ = withUnsafeMutablePointer(to: &blamed) { blamed in
            LaunchBisector<Int>(
                attempt: { _ in throw LCMError(.unavailable, "launch hung") },
                suspects: { _, _ in [] }, blame: { item, _ in blamed.pointee.append(item) },
                isTransient: { _ in true }
            ).run([[7]])
        }
        #expect(blamed == [7])
    }

    @Test func volumeXMLGivesFormatEncryptionAndBacking() throws {
        let xml = """
            <volume type='file'>
              <name>d.qcow2</name>
              <target>
                <path>/var/lib/libvirt/images/lcm/d.qcow2</path>
                <format type='qcow2'/>
                <encryption format='luks'>
                </encryption>
              </target>
              <backingStore>
                <path>/var/lib/libvirt/images/lcm/base&amp;1.qcow2</path>
                <format type='raw'/>
              </backingStore>
            </volume>
            """
        let description = try VolumeDescription.parse(xml)
        #expect(description == VolumeDescription(format: "qcow2", encryptionFormat: "luks",
                                                 backingPath: "/var/lib/libvirt/images/lcm/base&1.qcow2", backingFormat: "raw"))
        let plain = try VolumeDescription.parse("<volume><target><format type='raw'/></target></volume>")
        #expect(plain == VolumeDescription(format: "raw", encryptionFormat: nil, backingPath: nil, backingFormat: nil))
    }

    @Test func imageOptionsNameEveryLayerAndEscapeCommas() {
        let options = QemuImage.imageOptions(chain: [
            .init(path: "/run/d0,x.img", format: "qcow2", encrypted: true),
            .init(path: "/store/base.qcow2", format: "qcow2", encrypted: false),
        ])
        #expect(options == "driver=qcow2,file.driver=file,file.filename=/run/d0,,x.img,encrypt.format=luks,encrypt.key-secret=sec0,"
                + "backing.driver=qcow2,backing.file.driver=file,backing.file.filename=/store/base.qcow2")
    }

    @Test func auditAllowsOnlyAPlainSharedBase() {
        let encryptedOverlay = EncryptionAudit.Layer(path: "/p/desk.qcow2", format: "qcow2", encrypted: true)
        let plainOverlay = EncryptionAudit.Layer(path: "/p/desk-plain.qcow2", format: "qcow2", encrypted: false)
        let base = EncryptionAudit.Layer(path: "/p/golden.qcow2", format: "qcow2", encrypted: false)
        #expect(EncryptionAudit.check(layers: [encryptedOverlay, base]).passed)
        #expect(EncryptionAudit.check(layers: [encryptedOverlay, base]).sharedBases == [1])
        #expect(!EncryptionAudit.check(layers: [plainOverlay, base]).passed)
        #expect(!EncryptionAudit.check(layers: [base]).passed, "a lone plain disk is all data")
        #expect(EncryptionAudit.check(layers: [encryptedOverlay]).passed)
        // A plain layer between two encrypted ones is data too.
        #expect(!EncryptionAudit.check(layers: [encryptedOverlay, plainOverlay, encryptedOverlay]).passed)
        // Unknown encryption of a non-base layer is reported, not assumed.
        let unknown = EncryptionAudit.Layer(path: "/p/x", format: "qcow2", encrypted: nil)
        #expect(!EncryptionAudit.check(layers: [unknown, base]).passed)
        // A golden chain (v2 over v1) below the desktop's layer, with an explicit base list.
        let v2 = EncryptionAudit.Layer(path: "/p/golden-v2.qcow2", format: "qcow2", encrypted: false)
        let report = EncryptionAudit.check(layers: [encryptedOverlay, v2, base]) { layer, _, _ in layer.path.contains("golden") }
        #expect(report.passed && report.sharedBases == [1, 2])
    }

    @Test func onlyURIsWithoutAHostAreLocal() {
        #expect(DiskHost.isLocal(uri: "qemu:///system"))
        #expect(DiskHost.isLocal(uri: "qemu+unix:///system?socket=/run/x"))
        #expect(!DiskHost.isLocal(uri: "qemu+tcp://127.0.0.1/system"))
        #expect(!DiskHost.isLocal(uri: "qemu+ssh://admin@device7/system"))
    }

    @Test func planSaysHowManyLaunches() throws {
        let plan = DiskPlan(diskCount: 300, drivesPerLaunch: 255, launches: [Array(0..<255), Array(255..<300)], remoteDisks: 2)
        #expect(plan.summary == "300 disk(s) in 2 appliance launches (255 + 45; at most 255 drives each); 2 remote disk(s) go through libvirt streams")
    }

    /// More disks than one appliance takes: more launches, and the plan says so up front.
    @Test func planSplitsByTheDriveLimit() throws {
        final class Nothing: LeftoverRecorder, @unchecked Sendable {
            func record(_ resource: LeftoverResource) throws -> LeftoverToken { LeftoverToken(id: 0) }
            func release(_ token: LeftoverToken) throws {}
        }
        let scratch = ScratchDirectory(prefix: "lcm-plan")
        let inventory = try Inventory.open(home: LCMHome(url: scratch.file("home")))
        var options = DiskEngine.Options()
        options.drivesPerLaunch = 20
        let engine = DiskEngine(inventory: inventory, recorder: Nothing(), options: options)
        let volumes = (0..<45).map { DiskVolume.file("/nonexistent/d\($0).qcow2") }
            + [.libvirt(uri: "qemu+tcp://10.0.0.7/system", volume: "remote.qcow2")]
        let plan = try engine.plan(volumes)
        #expect(plan.launches.map(\.count) == [20, 20, 6])
        #expect(plan.summary == "46 disk(s) in 3 appliance launches (20 + 20 + 6; at most 20 drives each); 1 remote disk(s) go through libvirt streams")
    }

    @Test func passphraseNeverPrints() {
        let passphrase = DiskPassphrase.random()
        #expect(passphrase.count == 64)
        #expect("\(passphrase)" == "<redacted>")
        #expect(String(reflecting: passphrase) == "DiskPassphrase(<redacted>)")
        let text = passphrase.withBytes { String(decoding: $0, as: UTF8.self) }
        #expect(text.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(!DiskPassphrase.random().matches(passphrase))
        #expect(DiskPassphrase(text: Array(text.utf8)).matches(passphrase))
    }
}
