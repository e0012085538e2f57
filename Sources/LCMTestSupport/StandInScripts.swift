import LCMKit

extension StandInBootProgram {
    /// `/init` of the stand-in's initramfs (busybox sh). It implements `BootRunnerContract`.
    public static let initScript = #"""
        #!/bin/busybox sh
        # lcm stand-in for Windows at boot: find the Windows volume, record the boot with the
        # computer name read from the SYSTEM hive, run the boot-time queue the way lcm's runner
        # does (contract: Sources/LCMKit/Patch/BootRunnerContract.swift), power off.
        /bin/busybox --install -s /bin
        export PATH=/bin
        mount -t proc proc /proc
        mount -t sysfs sysfs /sys
        mount -t devtmpfs devtmpfs /dev
        exec >/dev/console 2>&1
        say() { echo "lcm-standin: $*"; }
        now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
        finish() { sync; say "power off"; poweroff -f; sleep 10; }
        while read -r m; do insmod "/lib/modules/$m" || say "cannot load $m"; done < /etc/lcm/modules

        is_ntfs() { [ "$(dd if="$1" bs=1 skip=3 count=4 2>/dev/null)" = "NTFS" ]; }
        ntfs_partitions() {
            for p in /sys/class/block/*; do
                [ -e "$p/partition" ] && is_ntfs "/dev/${p##*/}" && echo "/dev/${p##*/}"
            done
        }
        unmount() { umount /mnt; while pidof ntfs-3g >/dev/null; do sleep 0.1; done; }

        # Disks appear a moment after their driver loads.
        i=0
        while [ -z "$(ntfs_partitions)" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        sleep 0.3
        root=""
        for dev in $(ntfs_partitions); do
            if ! ntfs-3g "$dev" /mnt 2>/tmp/mount.err; then
                say "cannot mount $dev read-write: $(cat /tmp/mount.err)"
                continue
            fi
            if [ -d /mnt/Windows/System32/config ]; then root=$dev; break; fi
            unmount
        done
        if [ -z "$root" ]; then say "no Windows volume found"; finish; fi
        say "Windows volume: $root"

        name=$(awk -v H=/mnt/Windows/System32/config/SYSTEM -f /etc/lcm/hive.awk)
        [ -n "$name" ] || say "cannot read the computer name from the SYSTEM hive"
        L=/mnt/ProgramData/lcm
        Q=$L/queue
        mkdir -p "$L"
        printf 'booted computer-name=%s time=%s\r\n' "$name" "$(now)" >> "$L/boot.log"
        say "booted computer-name=$name"
        # What the kernel learnt from the firmware's SecureBoot variable (StandInBootProgram.firmwareLogPath).
        sb=$(dmesg | sed -n 's/.*secureboot: Secure boot \([a-z]*\).*/\1/p' | head -n 1)
        printf 'secure-boot=%s\r\n' "${sb:-unknown}" >> "$L/standin-firmware.log"
        say "secure-boot=${sb:-unknown}"

        # Patch media (read-only CDs), mounted once when an item needs one (in this shell, not in
        # a command substitution, so it happens once) and found by the item's path.
        media=""
        mount_media() {
            [ -z "$media" ] || return 0
            media=mounted
            i=0
            while ! ls /dev/sr* >/dev/null 2>&1 && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
            n=0
            for dev in /dev/sr*; do
                [ -b "$dev" ] || continue
                mkdir -p "/media/$n"
                mount -t iso9660 -o ro "$dev" "/media/$n" || say "cannot mount $dev"
                n=$((n + 1))
            done
        }
        medium_file() { for m in /media/*; do [ -f "$m/$1" ] && { echo "$m/$1"; return; }; done; }
        option() { case ",$2," in *",$1="*) v=${2#*$1=}; echo "${v%%,*}" ;; esac; }
        # A path below $1 whose components match $2's case-insensitively (NTFS names, as Windows sees them).
        ci_path() {
            p=$1; saved=$IFS; IFS=/
            for c in $2; do
                m=$(ls -a "$p" 2>/dev/null | grep -i -x -F -- "$c" | head -n 1)
                [ -n "$m" ] || { IFS=$saved; return 1; }
                p="$p/$m"
            done
            IFS=$saved; echo "$p"
        }
        # Windows Setup's state from SYSTEM\Setup: "SystemSetupInProgress OOBEInProgress".
        setup=$(awk -v H=/mnt/Windows/System32/config/SYSTEM -v Q=setup -f /etc/lcm/hive.awk)

        if [ -f "$Q/manifest.tsv" ]; then
            tab=$(printf '\t')
            blocked=no
            waiting=no
            tr -d '\r' < "$Q/manifest.tsv" | grep -v '^#' | grep -v '^$' | sort -t "$tab" -k1,1n > /tmp/manifest
            while IFS="$tab" read -r order item kind options; do
                [ -f "$Q/$item" ] || continue
                start=$(now)
                if [ "$kind" = purge ]; then
                    # As the runner: not while Setup runs (oobeSystem reads the answer file), then
                    # every answer file zeroed in place and deleted.
                    case " $setup " in *" 1 "*) say "$item: Windows Setup has not finished ($setup); it waits"; waiting=yes; continue ;; esac
                    left=0
                    for rel in \#(answerFileList); do
                        f=$(ci_path /mnt "$rel") || continue
                        [ -f "$f" ] || continue
                        size=$(stat -c %s "$f")
                        [ "$size" -gt 0 ] && dd if=/dev/zero of="$f" bs="$size" count=1 conv=notrunc 2>/dev/null
                        sync
                        rm -f "$f"
                        if [ -e "$f" ]; then left=$((left + 1)); else say "removed /$rel"; fi
                    done
                    code=0
                    [ $left -eq 0 ] || code=\#(BootRunnerContract.answerFilesRemainExitCode)
                    printf '%s\t%s\t%s\t%s\tno\r\n' "$item" "$start" "$(now)" "$code" >> "$L/runner.log"
                    rm -f "$Q/$item"
                    say "ran $item ($kind): exit $code"
                    continue
                fi
                code=$(option standin-exit "$options")
                [ -n "$code" ] || code=0
                medium=$(option medium "$options")
                if [ -n "$medium" ]; then
                    mount_media
                    file=$(medium_file "$medium")
                    if [ -z "$file" ]; then say "$item: $medium is on no attached medium; the queue waits"; blocked=yes; break; fi
                    [ "$(sha256sum "$file" | cut -d' ' -f1)" = "$(option sha256 "$options")" ] || code=-4
                fi
                reboot=no
                case "$code" in 3010|1641) reboot=yes ;; esac
                printf '%s\t%s\t%s\t%s\t%s\r\n' "$item" "$start" "$(now)" "$code" "$reboot" >> "$L/runner.log"
                rm -f "$Q/$item"
                say "ran $item ($kind): exit $code"
            done < /tmp/manifest
            [ "$blocked" = yes ] || [ "$waiting" = yes ] || rm -f "$Q/manifest.tsv"
        fi
        for m in /media/*; do umount "$m" 2>/dev/null; done
        unmount
        finish
        """#

    /// A registry hive reader in busybox awk, for the stand-in (which has no hivex): prints the
    /// computer name of the SYSTEM hive `H`, walking the real structures: base block -> root key
    /// -> `Select` -> `Current` -> `ControlSet00N\Control\ComputerName\ComputerName` -> value
    /// `ComputerName`. It follows "lh", "lf", "li" and "ri" subkey lists (using lh hashes to read
    /// few cells), compressed and UTF-16 names, inline and cell data.
    ///
    /// Limits: big data ("db") values are not read (a computer name never needs one), and
    /// characters outside printable ASCII come out as `?`. Usage: `awk -v H=SYSTEM -f hive.awk`;
    /// with `-v Q=setup` it prints `Setup\SystemSetupInProgress` and `Setup\OOBEInProgress` instead.
    public static let hiveReaderScript = #"""
        # Bytes [off, off+len) of the hive file, as numbers, into B[0..].
        function rd(off, len,    cmd, line, k, f, i, n) {
            delete B
            n = 0
            cmd = "od -A n -t u1 -v -j " off " -N " len " '" H "'"
            while ((cmd | getline line) > 0) {
                k = split(line, f, " ")
                for (i = 1; i <= k; i++) B[n++] = f[i] + 0
            }
            close(cmd)
            return n
        }
        # The data of the cell at hive offset o (cells follow the 4096-byte base block and start
        # with a 4-byte size).
        function cell(o, len) { return rd(4096 + o + 4, len) }
        function u16(i) { return B[i] + 256 * B[i + 1] }
        function u32(i) { return B[i] + 256 * B[i + 1] + 65536 * B[i + 2] + 16777216 * B[i + 3] }
        function text(start, len, compressed,    s, i) {
            s = ""
            if (compressed) for (i = 0; i < len; i++) s = s C[B[start + i]]
            else for (i = 0; i + 1 < len; i += 2) s = s (B[start + i + 1] == 0 ? C[B[start + i]] : "?")
            return s
        }
        function lhhash(s,    h, i) {
            h = 0
            s = toupper(s)
            for (i = 1; i <= length(s); i++) h = (h * 37 + O[substr(s, i, 1)]) % 4294967296
            return h
        }
        # nk cell: 0x14 subkey count, 0x1C subkey list, 0x24 value count, 0x28 value list,
        # 0x48 name length, 0x4C name; flag 0x20 = one byte per character.
        function keyname(nk,    l, flags) {
            cell(nk, 76)
            flags = u16(2)
            l = u16(72)
            cell(nk, 76 + l)
            return text(76, l, int(flags / 32) % 2)
        }
        function child(nk, want) {
            if (nk < 0) return -1
            cell(nk, 76)
            if (u32(20) == 0) return -1
            return search(u32(28), want)
        }
        function search(list, want,    s, n, i, off, hint, h, found) {
            cell(list, 4)
            s = C[B[0]] C[B[1]]
            n = u16(2)
            h = lhhash(want)
            if (s == "ri" || s == "li") {
                cell(list, 4 + 4 * n)
                for (i = 0; i < n; i++) off[i] = u32(4 + 4 * i)
            } else if (s == "lh" || s == "lf") {
                cell(list, 4 + 8 * n)
                for (i = 0; i < n; i++) { off[i] = u32(4 + 8 * i); hint[i] = u32(8 + 8 * i) }
            } else return -1
            for (i = 0; i < n; i++) {
                if (s == "ri") { found = search(off[i], want); if (found >= 0) return found; continue }
                if (s == "lh" && hint[i] != h) continue
                if (toupper(keyname(off[i])) == toupper(want)) return off[i]
            }
            return -1
        }
        # vk cell: 0x02 name length, 0x04 data length (top bit: data inline at 0x08),
        # 0x08 data cell, 0x0C type, 0x10 flags (1 = one byte per character), 0x14 name.
        # Leaves the data in D[0..DN-1]; returns 1 when found.
        function value(nk, want,    count, list, i, j, vk, vks, l, len, off, name, compressed) {
            if (nk < 0) return 0
            cell(nk, 76)
            count = u32(36)
            list = u32(40)
            if (count == 0) return 0
            cell(list, 4 * count)
            for (i = 0; i < count; i++) vks[i] = u32(4 * i)
            for (i = 0; i < count; i++) {
                vk = vks[i]
                cell(vk, 20)
                l = u16(2)
                len = u32(4)
                off = u32(8)
                compressed = u16(16) % 2
                cell(vk, 20 + l)
                name = text(20, l, compressed)
                if (toupper(name) != toupper(want)) continue
                if (len >= 2147483648) {
                    len -= 2147483648
                    for (j = 0; j < len; j++) D[j] = B[8 + j]
                } else {
                    cell(off, len)
                    for (j = 0; j < len; j++) D[j] = B[j]
                }
                DN = len
                return 1
            }
            return 0
        }
        BEGIN {
            for (i = 0; i < 256; i++) {
                C[i] = (i >= 32 && i < 127) ? sprintf("%c", i) : "?"
                if (i >= 32 && i < 127) O[C[i]] = i
            }
            rd(36, 4)
            root = u32(0)
            if (Q == "setup") {
                # Windows Setup's progress flags (DWORDs; a missing one counts as 0).
                k = child(root, "Setup")
                a = value(k, "SystemSetupInProgress") ? D[0] : 0
                b = value(k, "OOBEInProgress") ? D[0] : 0
                print a " " b
                exit 0
            }
            if (!value(child(root, "Select"), "Current")) exit 1
            current = D[0] + 256 * D[1] + 65536 * D[2] + 16777216 * D[3]
            k = child(root, sprintf("ControlSet%03d", current))
            k = child(child(child(k, "Control"), "ComputerName"), "ComputerName")
            if (!value(k, "ComputerName")) exit 1
            s = ""
            for (j = 0; j + 1 < DN; j += 2) {
                if (D[j] == 0 && D[j + 1] == 0) break
                s = s (D[j + 1] == 0 ? C[D[j]] : "?")
            }
            print s
        }
        """#
}

extension StandInBootProgram {
    /// `BootRunnerContract.answerFilePaths`, quoted for the shell.
    static var answerFileList: String {
        BootRunnerContract.answerFilePaths.map { "'\($0)'" }.joined(separator: " ")
    }
}
