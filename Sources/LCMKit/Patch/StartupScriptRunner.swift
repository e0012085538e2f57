import Foundation
import Guestfs

/// The boot-time runner lcm installs into a Windows image offline: a local Group Policy machine
/// startup script that carries out the queue at `C:\ProgramData\lcm\queue` (the contract in
/// LCMTestSupport's BootRunnerContract) and removes itself once the queue is empty.
///
/// Why this route (docs/PATCHING.md has the whole argument): it is Windows' own, needs no
/// third-party binary (libguestfs's firstboot service needs rhsrvany, which Debian lacks), runs at
/// every boot as SYSTEM before anyone logs on, works on generalized and ungeneralized images
/// alike (SetupComplete.cmd runs only after Setup, and not on OEM-key installs), and survives the
/// reboots a cumulative update asks for. Startup scripts normally get 600 s
/// (MaxGPOScriptWait); lcm sets the policy to 0, no limit, so a long update is not killed.
public enum StartupScriptRunner {
    /// File names in `<SystemRoot>\System32\GroupPolicy\Machine\Scripts\Startup`.
    public static let commandFile = "lcm-runner.cmd"
    public static let powershellFile = "lcm-runner.ps1"

    /// The Scripts client-side extension and its editor extension, as gpt.ini lists them.
    static let scriptsExtension = "[{42B5FAAE-6536-11D2-AE5A-0000F87571E3}{40B6664F-4972-11D1-A7CA-0000F87571E3}]"

    /// What the registration found and changed.
    public struct Registration: Sendable, Equatable, Codable {
        /// The runner was registered already (files refreshed, nothing else changed).
        public var wasRegistered: Bool
        /// The image had startup scripts of its own; lcm's was added after them.
        public var otherStartupScripts: Int
        /// gpt.ini's version after the change.
        public var gptVersion: UInt32
    }

    /// Installs the runner into the Windows volume mounted writable at `/` (`systemRoot` as
    /// mounted, e.g. `/Windows`; `softwareHive` its SOFTWARE). Idempotent.
    public static func install(_ g: GuestfsSession, systemRoot: String, softwareHive: String) throws -> Registration {
        let registration = try installFiles(g, systemRoot: systemRoot)
        try OfflineHives.edit(g, hives: [.software: softwareHive], edit: { editors in
            try registerState(editors.software!, systemRoot: systemRoot)
            return ((), [.software])
        }, check: { _ in })
        return registration
    }

    /// The runner's files, scripts.ini and gpt.ini; the registry half is `registerState`.
    static func installFiles(_ g: GuestfsSession, systemRoot: String) throws -> Registration {
        let policy = existingCase(g, systemRoot, ["System32", "GroupPolicy"])
        let machine = existingCase(g, policy, ["Machine"])
        let startup = existingCase(g, machine, ["Scripts", "Startup"])
        try g.mkdirP(startup)
        try g.writeString(startup + "/" + commandFile, commandScript)
        try g.writeString(startup + "/" + powershellFile, powershellScript)

        let scriptsPath = existingCase(g, machine, ["Scripts", "scripts.ini"])
        var scripts = try g.isFile(scriptsPath) ? ScriptsIni(text: IniText.decode(try g.read(scriptsPath))) : ScriptsIni(text: "")
        let others = scripts.startup.filter { $0.command.caseInsensitiveCompare(commandFile) != .orderedSame }.count
        let wasRegistered = scripts.startup.count != others
        if !wasRegistered {
            scripts.startup.append((commandFile, ""))
            try g.write(scriptsPath, IniText.encodeUTF16(scripts.text))
        }

        let gptPath = existingCase(g, policy, ["gpt.ini"])
        var gpt = GptIni(text: try g.isFile(gptPath) ? IniText.decode(try g.read(gptPath)) : "")
        if !wasRegistered || !gpt.listsScriptsExtension {
            gpt.addScriptsExtension()
            gpt.bumpMachineVersion()
            try g.write(gptPath, Array(gpt.text.utf8))
        }
        return Registration(wasRegistered: wasRegistered, otherStartupScripts: others, gptVersion: gpt.version)
    }

    /// The registry half of the registration, in a SOFTWARE hive opened for writing: the local
    /// GPO's startup-script state and the script wait limit.
    static func registerState(_ software: HostRegistry, systemRoot: String) throws {
        let windowsPath = "C:" + systemRoot.replacingOccurrences(of: "/", with: "\\")
        for tree in [groupPolicyScripts, groupPolicyState] {
            try registerState(software, tree: tree, fileSysPath: windowsPath + "\\System32\\GroupPolicy\\Machine")
        }
        let system = try software.node(atPath: "Policies\\Microsoft\\Windows\\System", create: true)!
        try software.setValue(system, key: "MaxGPOScriptWait", .dword(0))
    }

    /// `base` with `components` appended, each spelled as on disk where it exists (NTFS names
    /// are case-insensitive) and as given where it does not yet (libguestfs's
    /// case_sensitive_path fails when a directory before the last component is missing).
    static func existingCase(_ g: GuestfsSession, _ base: String, _ components: [String]) -> String {
        components.reduce(base) { path, component in
            let candidate = path + "/" + component
            return (try? g.caseSensitivePath(candidate)) ?? candidate
        }
    }

    static let groupPolicyScripts = "Microsoft\\Windows\\CurrentVersion\\Group Policy\\Scripts\\Startup"
    static let groupPolicyState = "Microsoft\\Windows\\CurrentVersion\\Group Policy\\State\\Machine\\Scripts\\Startup"

    /// The registry copy of the local GPO's startup scripts, which gpscript.exe runs from: the
    /// local GPO's entry (`GPO-ID` LocalGPO, made when missing) with lcm's script at its end.
    private static func registerState(_ software: HostRegistry, tree: String, fileSysPath: String) throws {
        let root = try software.node(atPath: tree, create: true)!
        let gpos = try software.children(root)
        var local: HostRegistry.Node?
        for gpo in gpos {
            if try software.value(gpo, "GPO-ID")?.stringValue == "LocalGPO" { local = gpo }
        }
        let gpo = try local ?? software.addChild(root, String(gpos.count))
        for (name, value) in [("GPO-ID", "LocalGPO"), ("SOM-ID", "Local"), ("FileSysPath", fileSysPath),
                              ("DisplayName", "Local Group Policy"), ("GPOName", "Local Group Policy")] {
            try software.setValue(gpo, key: name, .string(value))
        }
        try software.setValue(gpo, key: "PSScriptOrder", .dword(1))
        let scripts = try software.children(gpo)
        for script in scripts {
            if try software.value(script, "Script")?.stringValue?.caseInsensitiveCompare(commandFile) == .orderedSame { return }
        }
        let script = try software.addChild(gpo, String(scripts.count))
        try software.setValue(script, key: "Script", .string(commandFile))
        try software.setValue(script, key: "Parameters", .string(""))
        try software.setValue(script, key: "IsPowershell", .dword(0))
        try software.setValue(script, key: "ExecTime", .qword(0))
    }

    // MARK: - The runner

    /// Started by Group Policy; hands over to PowerShell (startup scripts listed in scripts.ini
    /// run through cmd, and PowerShell's execution policy would refuse a bare .ps1).
    public static let commandScript = """
        @echo off\r
        rem lcm boot-time runner: carries out C:\\ProgramData\\lcm\\queue, then removes itself.\r
        "%SystemRoot%\\System32\\WindowsPowerShell\\v1.0\\powershell.exe" -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "%~dp0lcm-runner.ps1"\r
        exit /b %ERRORLEVEL%\r

        """

    /// The queue runner: one log line per item (item, start, end, exit code, reboot needed), the
    /// item file deleted once done so a reboot resumes after it; 3010 restarts Windows and the next
    /// boot continues; an empty queue unregisters the runner (scripts.ini entry removed, gpt.ini
    /// version bumped so Group Policy drops it from its registry copy, files deleted). A `purge`
    /// item removes the answer files (`BootRunnerContract`, "Answer files").
    public static let powershellScript = #"""
        # lcm boot-time runner (local Group Policy machine startup script, runs as SYSTEM).
        $ErrorActionPreference = 'Continue'
        $base = Join-Path $env:SystemDrive 'ProgramData\lcm'
        $queue = Join-Path $base 'queue'
        $manifest = Join-Path $queue 'manifest.tsv'
        $utf8 = New-Object System.Text.UTF8Encoding($false)
        function Stamp { (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ') }
        function Append([string]$name, [string]$line) {
            [System.IO.File]::AppendAllText((Join-Path $base $name), $line + "`r`n", $utf8)
        }
        New-Item -ItemType Directory -Force -Path $base | Out-Null
        $name = (Get-ItemProperty 'HKLM:\SYSTEM\CurrentControlSet\Control\ComputerName\ComputerName').ComputerName
        Append 'boot.log' ("booted computer-name=$name time=" + (Stamp))

        if (Test-Path -LiteralPath $manifest) {
            $entries = Get-Content -LiteralPath $manifest -Encoding UTF8 |
                Where-Object { $_ -ne '' -and -not $_.StartsWith('#') } |
                ForEach-Object {
                    $f = $_ -split "`t"; $options = @{}
                    if ($f.Count -gt 3) { foreach ($pair in ($f[3] -split ',')) { if ($pair -match '^([^=]+)=(.*)$') { $options[$Matches[1]] = $Matches[2] } } }
                    [pscustomobject]@{ Order = [int]$f[0]; Item = $f[1]; Kind = $f[2]; Medium = $options['medium']; Sha256 = $options['sha256'] }
                } |
                Sort-Object Order
            $blocked = $false; $waiting = $false
            foreach ($entry in $entries) {
                $placeholder = Join-Path $queue $entry.Item
                if (-not (Test-Path -LiteralPath $placeholder)) { continue }
                $file = $placeholder
                $start = Stamp
                $mismatch = $false
                if ($entry.Kind -eq 'purge') {
                    # oobeSystem still reads the cached answer file while Setup runs: a later boot does it.
                    $setup = Get-ItemProperty -LiteralPath 'HKLM:\SYSTEM\Setup' -ErrorAction SilentlyContinue
                    if ($setup.SystemSetupInProgress -eq 1 -or $setup.OOBEInProgress -eq 1) { $waiting = $true; continue }
                    $left = 0
                    foreach ($relative in @(\#(answerFileList))) {
                        $path = Join-Path $env:SystemDrive $relative
                        if (-not (Test-Path -LiteralPath $path -PathType Leaf)) { continue }
                        # Zeros over the same clusters first: a deleted file's data stays on the disk.
                        try {
                            (Get-Item -LiteralPath $path -Force).Attributes = 'Normal'
                            $stream = [System.IO.File]::Open($path, 'Open', 'Write', 'None')
                            $zeros = New-Object byte[] $stream.Length
                            $stream.Write($zeros, 0, $zeros.Length); $stream.Flush($true); $stream.Close()
                        } catch { }
                        Remove-Item -LiteralPath $path -Force -ErrorAction SilentlyContinue
                        if (Test-Path -LiteralPath $path) { $left++ }
                    }
                    $code = $(if ($left -eq 0) { 0 } else { \#(BootRunnerContract.answerFilesRemainExitCode) })
                    Append 'runner.log' ("{0}`t{1}`t{2}`t{3}`tno" -f $entry.Item, $start, (Stamp), $code)
                    Remove-Item -LiteralPath $placeholder -Force
                    continue
                }
                if ($entry.Medium) {
                    # On a patch medium (a CD drive): the drive whose root holds the item's path.
                    $relative = $entry.Medium -replace '/', '\'
                    $file = [System.IO.DriveInfo]::GetDrives() | Where-Object { $_.IsReady } |
                        ForEach-Object { Join-Path $_.RootDirectory.FullName $relative } |
                        Where-Object { Test-Path -LiteralPath $_ } | Select-Object -First 1
                    if (-not $file) { $blocked = $true; break }
                    $mismatch = ((Get-FileHash -LiteralPath $file -Algorithm SHA256).Hash -ne $entry.Sha256.ToUpperInvariant())
                }
                $system = Join-Path $env:SystemRoot 'System32'
                switch ($entry.Kind) {
                    { $_ -in 'msu', 'cab' } { $exe = "$system\dism.exe"; $arguments = @('/online', '/add-package', "/packagepath:`"$file`"", '/quiet', '/norestart') }
                    'msi' { $exe = "$system\msiexec.exe"; $arguments = @('/i', "`"$file`"", '/qn', '/norestart') }
                    'cmd' { $exe = "$system\cmd.exe"; $arguments = @('/c', "`"$file`"") }
                    'ps1' { $exe = "$system\WindowsPowerShell\v1.0\powershell.exe"; $arguments = @('-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-File', "`"$file`"") }
                    'reg' { $exe = "$system\reg.exe"; $arguments = @('import', "`"$file`"") }
                    default { $exe = $null }
                }
                $code = -1
                if ($mismatch) { $code = -4 }
                elseif ($exe) {
                    try { $code = (Start-Process -FilePath $exe -ArgumentList $arguments -Wait -PassThru -WindowStyle Hidden).ExitCode }
                    catch { $code = -2 }
                }
                $reboot = ($code -eq 3010 -or $code -eq 1641)
                Append 'runner.log' ("{0}`t{1}`t{2}`t{3}`t{4}" -f $entry.Item, $start, (Stamp), $code, $(if ($reboot) { 'yes' } else { 'no' }))
                Remove-Item -LiteralPath $placeholder -Force
                if ($code -eq 3010) { Restart-Computer -Force; exit 0 }
                if ($code -eq 1641) { exit 0 }
            }
            # A medium not attached, or Setup still running: what is left waits for a later boot
            # (the runner stays registered).
            if ($blocked -or $waiting) { exit 0 }
            Remove-Item -LiteralPath $manifest -Force
        }

        # The queue is empty: unregister.
        $machine = Join-Path $env:SystemRoot 'System32\GroupPolicy\Machine'
        $ini = Join-Path $machine 'Scripts\scripts.ini'
        if (Test-Path -LiteralPath $ini) {
            $kept = @(); $section = ''; $pairs = @{}
            foreach ($line in Get-Content -LiteralPath $ini -Encoding Unicode) {
                if ($line -match '^\s*\[(.+)\]\s*$') { $section = $Matches[1]; if ($section -ne 'Startup') { $kept += $line }; continue }
                if ($section -eq 'Startup' -and $line -match '^(\d+)(CmdLine|Parameters)=(.*)$') { $pairs["$($Matches[1])|$($Matches[2])"] = $Matches[3]; continue }
                if ($section -ne 'Startup') { $kept += $line }
            }
            $startup = @('[Startup]'); $n = 0
            foreach ($i in ($pairs.Keys | ForEach-Object { [int]($_ -split '\|')[0] } | Sort-Object -Unique)) {
                if ($pairs["$i|CmdLine"] -ieq 'lcm-runner.cmd') { continue }
                $startup += "${n}CmdLine=$($pairs["$i|CmdLine"])"; $startup += "${n}Parameters=$($pairs["$i|Parameters"])"; $n++
            }
            Set-Content -LiteralPath $ini -Encoding Unicode -Value ($startup + $kept)
        }
        $gpt = Join-Path $env:SystemRoot 'System32\GroupPolicy\gpt.ini'
        if (Test-Path -LiteralPath $gpt) {
            $lines = Get-Content -LiteralPath $gpt | ForEach-Object {
                if ($_ -match '^Version=(\d+)$') { 'Version=' + ([uint32]$Matches[1] + 1) } else { $_ }
            }
            Set-Content -LiteralPath $gpt -Encoding ASCII -Value $lines
        }
        Remove-Item -LiteralPath (Join-Path $machine 'Scripts\Startup\lcm-runner.cmd'), $PSCommandPath -Force
        exit 0

        """#

    /// `BootRunnerContract.answerFilePaths` as a PowerShell list of Windows paths.
    static var answerFileList: String {
        BootRunnerContract.answerFilePaths.map { "'" + $0.replacingOccurrences(of: "/", with: "\\") + "'" }.joined(separator: ", ")
    }
}

/// scripts.ini: the `[Startup]` list (`NCmdLine=`, `NParameters=`), other sections kept as they are.
struct ScriptsIni {
    var startup: [(command: String, parameters: String)] = []
    private var otherLines: [String] = []

    init(text: String) {
        var section = ""
        var pairs: [Int: (command: String, parameters: String)] = [:]
        for line in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map(String.init) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("["), trimmed.hasSuffix("]") {
                section = String(trimmed.dropFirst().dropLast())
                if section.caseInsensitiveCompare("Startup") != .orderedSame { otherLines.append(line) }
                continue
            }
            guard section.caseInsensitiveCompare("Startup") == .orderedSame else { otherLines.append(line); continue }
            let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
            guard let index = Int(digits), let equals = trimmed.firstIndex(of: "=") else { continue }
            let key = trimmed[digits.endIndex..<equals].lowercased()
            let value = String(trimmed[trimmed.index(after: equals)...])
            var pair = pairs[index] ?? ("", "")
            if key == "cmdline" { pair.command = value } else if key == "parameters" { pair.parameters = value }
            pairs[index] = pair
        }
        startup = pairs.keys.sorted().compactMap { pairs[$0] }.filter { !$0.command.isEmpty }
    }

    var text: String {
        var lines = ["[Startup]"]
        for (index, script) in startup.enumerated() {
            lines += ["\(index)CmdLine=\(script.command)", "\(index)Parameters=\(script.parameters)"]
        }
        return (lines + otherLines).joined(separator: "\r\n") + "\r\n"
    }
}

/// gpt.ini of the local GPO: its version (user in the high 16 bits, machine in the low) and the
/// client-side extensions that have machine settings.
struct GptIni {
    private var lines: [String]

    init(text: String) {
        lines = text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map(String.init)
        if !lines.contains(where: { $0.trimmingCharacters(in: .whitespaces).caseInsensitiveCompare("[General]") == .orderedSame }) {
            lines.insert("[General]", at: 0)
        }
    }

    var text: String { lines.joined(separator: "\r\n") + "\r\n" }

    var version: UInt32 { value("Version").flatMap { UInt32($0) } ?? 0 }

    var listsScriptsExtension: Bool {
        value("gPCMachineExtensionNames")?.uppercased().contains(StartupScriptRunner.scriptsExtension) ?? false
    }

    /// Group Policy reprocesses a GPO only when its version changed.
    mutating func bumpMachineVersion() {
        let machine = (version & 0xFFFF) == 0xFFFF ? 1 : (version & 0xFFFF) + 1
        set("Version", String((version & 0xFFFF_0000) | machine))
    }

    /// Adds the Scripts extension pair; Windows wants the list sorted by extension GUID.
    mutating func addScriptsExtension() {
        guard !listsScriptsExtension else { return }
        let current = value("gPCMachineExtensionNames") ?? ""
        var groups = current.split(separator: "]").map { $0 + "]" }.filter { $0.hasPrefix("[") }.map(String.init)
        groups.append(StartupScriptRunner.scriptsExtension)
        set("gPCMachineExtensionNames", groups.sorted { $0.uppercased() < $1.uppercased() }.joined())
    }

    private func value(_ key: String) -> String? {
        for line in lines {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, parts[0].caseInsensitiveCompare(key) == .orderedSame { return parts[1] }
        }
        return nil
    }

    private mutating func set(_ key: String, _ newValue: String) {
        if let index = lines.firstIndex(where: {
            $0.split(separator: "=", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).caseInsensitiveCompare(key) == .orderedSame } ?? false
        }) {
            lines[index] = "\(key)=\(newValue)"
        } else {
            lines.append("\(key)=\(newValue)")
        }
    }
}

/// Text files Group Policy writes: scripts.ini in UTF-16LE with a byte-order mark, gpt.ini in ANSI.
enum IniText {
    static func decode(_ bytes: [UInt8]) -> String {
        if let text = UTF16Text.decode(bytes) { return text }
        let body = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes
        return String(decoding: body, as: UTF8.self)
    }

    static func encodeUTF16(_ text: String) -> [UInt8] {
        [0xFF, 0xFE] + text.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
    }
}

/// Windows text files that start with a UTF-16 byte-order mark (.reg v5, scripts.ini).
enum UTF16Text {
    /// The text after a little- or big-endian byte-order mark; nil without one. A trailing odd
    /// byte (a file cut short) is dropped; callers that must refuse it check `bytes.count`.
    static func decode(_ bytes: [UInt8]) -> String? {
        let littleEndian: Bool
        if bytes.starts(with: [0xFF, 0xFE]) { littleEndian = true }
        else if bytes.starts(with: [0xFE, 0xFF]) { littleEndian = false }
        else { return nil }
        let units = stride(from: 2, to: bytes.count - 1, by: 2).map { index -> UInt16 in
            let (first, second) = (UInt16(bytes[index]), UInt16(bytes[index + 1]))
            return littleEndian ? first | second << 8 : first << 8 | second
        }
        return String(decoding: units, as: UTF16.self)
    }
}
