/// One `lcm retire` run: each desktop retired (or only planned, `dryRun`), one failure not
/// stopping the others; with a device, the device itself once every desktop on it is closed.
public struct RetireBatch {
    let context: LCMContext
    public let inventory: Inventory
    public let options: RetireOptions

    public init(context: LCMContext, options: RetireOptions) throws {
        self.context = context; self.inventory = try context.inventory(); self.options = options
    }

    /// The desktops named, or every one still to retire on `device`. A retirement that throws
    /// is a failure of its desktop; only finding the device's desktops throws.
    public func run(desktops names: [String], device: String?, dryRun: Bool, changingMethodTo method: SanitizationMethod?,
                    hostSanitizedBy: String?) throws -> Report {
        let retirement = Retirement(context: context, inventory: inventory, options: options)
        let desktops = names.isEmpty && device != nil ? try Retirement.desktops(onDevice: device!, inventory: inventory) : names
        var report = Report(desktops: [], device: nil, failures: [], dryRun: dryRun, verification: options.verify)
        for name in desktops {
            do {
                report.desktops.append(dryRun ? try retirement.dryRun(name) : try retirement.run(name, changingMethodTo: method))
            } catch {
                report.failures.append(BatchFailure(item: name, error: LCMError.from(error)))
            }
        }
        // The device itself, once every desktop on it is retired (a failure leaves it as it is).
        if let device, !dryRun, report.failures.isEmpty, report.desktops.allSatisfy({ $0.state == .closed }) {
            do {
                report.device = try DeviceRetirement(context: context, options: options).run(device, hostSanitizedBy: hostSanitizedBy)
            } catch {
                report.failures.append(BatchFailure(item: device, error: LCMError.from(error)))
            }
        }
        return report
    }

    /// What a retire run did: the desktops' reports (JSON: their array, or `desktops` and
    /// `device` when the device was retired too), failures and the exit code.
    public struct Report: CommandResult {
        public var desktops: [RetireReport]
        public var device: DeviceRetirement.Report?
        public var failures: [BatchFailure]
        public var dryRun: Bool
        public var verification: RetireOptions.Verification

        public var batch: BatchResult { BatchResult(total: desktops.count + failures.count, failures: failures) }

        /// Retired but not disposed although verification was asked for: a check that did not pass.
        var notDisposed: [RetireReport] {
            dryRun || verification == .none ? [] : desktops.filter { !$0.disposed }
        }

        public func text(quiet: Bool) -> String {
            guard !quiet || !desktops.isEmpty else { return "" }
            var text = desktops.map(RetireReports.text).joined(separator: "\n")
            if let device {
                text += "device \(device.device): \(device.status), certificate \(device.certificateSequence) claims \(device.claim) for its own storage\n"
            }
            return text
        }

        public func json() throws -> String {
            guard let device else { return try JSONOutput.encode(desktops) }
            return try JSONOutput.encode(WithDevice(desktops: desktops, device: device))
        }

        private struct WithDevice: Encodable {
            var desktops: [RetireReport]
            var device: DeviceRetirement.Report
        }

        public var problems: [LCMError] {
            guard failures.isEmpty else { return batch.problems }
            return notDisposed.compactMap { report in
                guard let left = report.plan.notSanitized, !left.isEmpty else { return nil }
                return LCMError(.checkFailed, "\(report.desktop) is retired, not disposed: lcm did not sanitize "
                                + left.map(\.item).joined(separator: "; "),
                                hint: "sanitize each where it lives; the certificate names them and claims None")
            }
        }

        public var exitCode: Int32 {
            guard failures.isEmpty else { return batch.exitCode }
            return notDisposed.isEmpty ? LCMExitCode.success.rawValue : LCMExitCode.checkFailed.rawValue
        }
    }
}
