#compdef lcm

__lcm_complete() {
    local -ar non_empty_completions=("${@:#(|:*)}")
    local -ar empty_completions=("${(M)@:#(|:*)}")
    _describe -V '' non_empty_completions -- empty_completions -P $'\'\''
}

__lcm_custom_complete() {
    local -a completions
    completions=("${(@f)"$("${command_name}" "${@}" "${command_line[@]}")"}")
    if [[ "${#completions[@]}" -gt 1 ]]; then
        __lcm_complete "${completions[@]:0:-1}"
    fi
}

__lcm_cursor_index_in_current_word() {
    if [[ -z "${QIPREFIX}${IPREFIX}${PREFIX}" ]]; then
        printf 0
    else
        printf %s "${#${(z)LBUFFER}[-1]}"
    fi
}

_lcm() {
    emulate -RL zsh -G
    setopt extendedglob nullglob numericglobsort
    unsetopt aliases banghist

    local -xr SAP_SHELL=zsh
    local -x SAP_SHELL_VERSION
    SAP_SHELL_VERSION="$(builtin emulate zsh -c 'printf %s "${ZSH_VERSION}"')"
    local -r SAP_SHELL_VERSION

    local context state state_descr line
    local -A opt_args

    local -r command_name="${words[1]}"
    local -ar command_line=("${words[@]}")
    local -ir current_word_index="$((CURRENT - 1))"

    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'doctor:Check every prerequisite of lcm and say how to fix what fails.'
            'procure:Define device requirements, check devices, take assets in, and track status, users, warranty and licenses.'
            'image:Import, inspect, check and catalog golden Windows images.'
            'deploy:Deploy desktops on devices from a golden image, or remove one (--undo).'
            'manage:Look after deployed desktops: status, offline patching and rollback (rollout and snapshots come later).'
            'retire:Retire desktops: stop, reclaim, destroy every key copy, overwrite and verify every file, certify.'
            'inventory:Report devices, desktops, users, images, licenses and audit events.'
            'recover:Finish or undo operations that a killed lcm run left unfinished.'
            'help:Show subcommand help information.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        doctor|procure|image|deploy|manage|retire|inventory|recover|help)
            "_lcm_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_lcm_doctor() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '--quick[Skip the slow probes (accelerator boot and appliance launch).]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'profile:Manage requirement profiles: what a device needs and how big its desktop is.'
            'check:Check a device against a requirement profile through libvirt.'
            'add:Take one device into the inventory with its purchase data.'
            'import:Import devices from a CSV file: all of them or, on any problem, none.'
            'export:Write devices as CSV in the format `lcm procure import` reads.'
            'update:Correct or complete a device'\''s asset data (an empty value clears a field).'
            'move:Move a device to another status.'
            'checkout:Hand a device to a user (a device in stock becomes deployed).'
            'checkin:Take a device back from its user (a deployed device goes back in stock).'
            'history:Show a device'\''s status changes and check-outs, oldest first.'
            'license:Manage license pools: product, sealed key, seats, expiry.'
            'report:Procurement reports: warranty ending, devices by status, model or age, seats by pool.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        profile|check|add|import|export|update|move|checkout|checkin|history|license|report)
            "_lcm_procure_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_lcm_procure_profile() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'add:Add a profile from a YAML file (see examples/profiles/) and/or options.'
            'list:List requirement profiles.'
            'show:Show one profile (text: as a YAML profile file).'
            'rm:Remove a profile no device uses.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        add|list|show|rm)
            "_lcm_procure_profile_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_lcm_procure_profile_add() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar ___accelerator=('none' 'any' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':name:'
        '--file[Read the profile from this YAML (or JSON) file.]:file:'
        '--replace[Replace an existing profile of the same name.]'
        '--description[A line describing the profile.]:description:'
        '--arch[Required CPU architecture, e.g. x86_64.]:arch:'
        '--min-cpus[At least this many CPUs.]:min-cpus:'
        '--min-memory[At least this much memory, e.g. 16GiB.]:size:'
        '--min-disk[At least this much free space in the device'\''s storage pool.]:size:'
        '--cpu-virtualization[Require Intel VT-x or AMD-V.]'
        '--no-cpu-virtualization[Require Intel VT-x or AMD-V.]'
        '--iommu[Require an IOMMU.]'
        '--no-iommu[Require an IOMMU.]'
        '--tpm[Require an emulated TPM 2.0 for guests.]'
        '--no-tpm[Require an emulated TPM 2.0 for guests.]'
        '--uefi[Require UEFI firmware for guests.]'
        '--no-uefi[Require UEFI firmware for guests.]'
        '--secure-boot[Require UEFI Secure Boot (implies --uefi).]'
        '--no-secure-boot[Require UEFI Secure Boot (implies --uefi).]'
        '--accelerator[Accelerator that must really run a guest\: none, any, kvm or tcg.]:accelerator:{__lcm_complete "${___accelerator[@]}"}'
        '--probe[Boot a probe guest to prove the accelerator (default) or trust libvirt.]'
        '--no-probe[Boot a probe guest to prove the accelerator (default) or trust libvirt.]'
        '--vcpus[vCPUs of the desktop VM.]:vcpus:'
        '--vm-memory[Memory of the desktop VM.]:size:'
        '--os-disk[Size of the desktop'\''s OS disk.]:size:'
        '--data-disk[Size of the desktop'\''s user-data disk.]:size:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_profile_list() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_profile_show() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':name:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_profile_rm() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':name:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_check() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':device:'
        '--profile[The profile to check against (default\: the device'\''s profile).]:profile:'
        '--no-probe[Do not boot a probe guest\: trust the accelerators libvirt advertises.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_add() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '--asset-tag[Asset tag (unique).]:asset-tag:'
        '--serial[Manufacturer serial number (unique).]:serial:'
        '--vendor[Manufacturer, e.g. Lenovo.]:vendor:'
        '--model[Model, e.g. ThinkPad T14 Gen 5.]:model:'
        '--order-number[Purchase order number.]:order-number:'
        '--purchase-date[Purchase date.]:YYYY-MM-DD:'
        '--cost[Price, digits with a dot, e.g. 1249.90.]:amount:'
        '--currency[ISO 4217 currency of the cost, e.g. EUR.]:code:'
        '--supplier[Who sold it.]:supplier:'
        '--warranty-months[Warranty length from the purchase date.]:months:'
        '--profile[Requirement profile the device is bought against.]:profile:'
        '--uri[The device'\''s libvirt URI, e.g. qemu+ssh\://root@pc-0042/system.]:uri:'
        '--notes[Free text.]:notes:'
        '--status[Starting status\: ordered or "in stock" (default), or any other status when recording an existing fleet.]:status:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_import() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':file:'
        '--dry-run[Check the file and report problems without importing.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_export() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '(--output -o)'{--output,-o}'[Write to this file instead of stdout.]:file:'
        '--status[Only devices with this status.]:status:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_update() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':device:'
        '--asset-tag[Asset tag (unique).]:asset-tag:'
        '--serial[Manufacturer serial number (unique).]:serial:'
        '--vendor[Manufacturer, e.g. Lenovo.]:vendor:'
        '--model[Model, e.g. ThinkPad T14 Gen 5.]:model:'
        '--order-number[Purchase order number.]:order-number:'
        '--purchase-date[Purchase date.]:YYYY-MM-DD:'
        '--cost[Price, digits with a dot, e.g. 1249.90.]:amount:'
        '--currency[ISO 4217 currency of the cost, e.g. EUR.]:code:'
        '--supplier[Who sold it.]:supplier:'
        '--warranty-months[Warranty length from the purchase date.]:months:'
        '--profile[Requirement profile the device is bought against.]:profile:'
        '--uri[The device'\''s libvirt URI, e.g. qemu+ssh\://root@pc-0042/system.]:uri:'
        '--notes[Free text.]:notes:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_move() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':device:'
        ':status:'
        '--note[Why, or for disposal how the disks were wiped; kept in the device'\''s history.]:note:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_checkout() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':device:'
        ':user:'
        '--create-user[Add the user to the inventory if missing.]'
        '--full-name[With --create-user\: the user'\''s full name.]:full-name:'
        '--email[With --create-user\: the user'\''s e-mail address.]:email:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_checkin() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':device:'
        '--keep-status[Leave the status as it is (e.g. to move it to repair next).]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_history() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':device:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_license() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'add:Add a license pool.'
            'list:List license pools with use and expiry.'
            'show:Show a license pool and the desktops holding its seats.'
            'set:Change a pool'\''s seats, expiry, edition or key.'
            'rm:Remove a license pool with no seat in use.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        add|list|show|set|rm)
            "_lcm_procure_license_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_lcm_procure_license_add() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':pool:'
        '--product[Product, e.g. "Windows 11 Enterprise".]:product:'
        '--edition[Edition or channel, e.g. MAK, KMS, retail.]:edition:'
        '--seats[Number of seats.]:seats:'
        '--expires[Last day the licenses are valid.]:YYYY-MM-DD:'
        '--key-file[Read the product key from this file.]:file:'
        '--key-stdin[Read the product key from stdin.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_license_list() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_license_show() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':pool:'
        '--reveal-key[Print the product key in clear (audited).]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_license_set() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':pool:'
        '--seats[New number of seats (not below the seats in use).]:seats:'
        '--expires[New last valid day, or "never".]:YYYY-MM-DD:'
        '--edition[New edition.]:edition:'
        '--key-file[Read the product key from this file.]:file:'
        '--key-stdin[Read the product key from stdin.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_license_rm() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':pool:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_report() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'warranty:Devices whose warranty ends within N days (retired and disposed left out).'
            'status:Device count per status.'
            'model:Device count per vendor and model, by status.'
            'age:Device count per age since purchase (retired and disposed left out).'
            'seats:Seats per license pool: size, use, expiry.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        warranty|status|model|age|seats)
            "_lcm_procure_report_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_lcm_procure_report_warranty() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '--within[Days from today.]:within:'
        '--include-expired[Also list devices already out of warranty.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_report_status() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_report_model() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_report_age() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_procure_report_seats() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_image() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'import:Import a disk image (qcow2, raw, vmdk, vhd/vhdx, vdi) as a new cataloged version.'
            'inspect:Show what is in images, read offline: OS, build, apps, updates, drivers, generalization, hibernation, BitLocker.'
            'check:List what stands between images and a safe fleet rollout, each with its fix.'
            'drivers:Make images fit generic virtual hardware: add virtio drivers offline.'
            'list:List image versions (all images, or one).'
            'show:Show one version: provenance, lineage, inspection, readiness.'
            'diff:List what changed between two images: facts, applications, files and registry values.'
            'verify:Recompute stored versions'\'' SHA-256 and compare with the catalog.'
            'rm:Delete a version'\''s file; its catalog row stays (marked removed) for lineage and audit.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        import|inspect|check|drivers|list|show|diff|verify|rm)
            "_lcm_image_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_lcm_image_import() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':file:'
        '--name[Image name.]:name:'
        '--version[Version (default\: the next whole number).]:version:'
        '--description[A line describing the image (kept for a new image).]:description:'
        '--compress[Store the qcow2 compressed (smaller, slower to convert).]'
        '--allow-non-windows[Import a disk even when no Windows is found on it.]'
        '--inject-virtio[Then add the virtio drivers from this virtio-win ISO or directory, as the next version.]:iso-or-dir:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_image_inspect() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '*:images:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_image_check() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '*:images:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_image_drivers() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'add:Inject virtio storage and network drivers into a new version of an image.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        add)
            "_lcm_image_drivers_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_lcm_image_drivers_add() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':reference:'
        '--virtio[The virtio-win ISO or its unpacked directory.]:iso-or-dir:'
        '--version[Version of the result (default\: the next whole number).]:version:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_image_list() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':name:'
        '--all[Include removed versions (kept for lineage).]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_image_show() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':reference:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_image_diff() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':from:'
        ':to:'
        '--limit[Lines shown per section in text output (0\: all).]:limit:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_image_verify() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '*:references:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_image_rm() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':reference:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_deploy() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '--image[Golden image\: NAME, NAME\:VERSION or NAME@VERSION.]:ref:'
        '--device[Device (asset tag or serial) to deploy on.]:tag:'
        '--device-status[Deploy one desktop on every device with this status (e.g. "in stock").]:status:'
        '--user[User the desktop is checked out to.]:username:'
        '--name[Desktop name (default\: DEVICE-USER).]:name:'
        '--from-csv[Deploy every row of this file (columns\: device,user,desktop,image,os_disk,data_disk,vcpus,memory,computer_name,time_zone,organization,license_pool,migrate_archive).]:file:'
        '--computer-name[Windows computer name (default\: the desktop name, upper case).]:name:'
        '--time-zone[Windows time zone ID, e.g. "W. Europe Standard Time" (default\: UTC).]:id:'
        '--organization[Registered organization.]:text:'
        '--license-pool[Take a seat from this license pool.]:pool:'
        '--migrate[Migrate the user'\''s old data from this tar or zip onto the user-data disk.]:archive:'
        '--join-blob[Offline domain join\: the file `djoin /provision /savefile` wrote (read, never stored or logged).]:file:'
        '--vcpus[vCPUs (default\: the device'\''s profile).]:n:'
        '--memory[Memory, e.g. 4GiB (default\: the device'\''s profile).]:size:'
        '--os-disk[OS layer size, at least the image'\''s (default\: the profile'\''s, raised to the image'\''s).]:size:'
        '--data-disk[User-data disk size (default\: the profile).]:size:'
        '--network[libvirt network for the desktop'\''s NIC.]:name:'
        '--pool[Storage pool on the device for the golden image and the desktop'\''s volumes (default\: lcm'\''s own, made when missing).]:name:'
        '--no-encrypt[Do not encrypt the volumes (recorded).]'
        '--no-secure-boot[Boot without UEFI Secure Boot, e.g. on a device whose firmware cannot do it (recorded).]'
        '--allow-ungeneralized[Deploy an image that was not generalized (clones share SID and update IDs; recorded).]'
        '--no-start[Define the desktop but do not start it.]'
        '--undo[Remove this desktop completely\: domain, volumes, NVRAM, TPM state, key, seat, records.]:desktop:'
        '--discard-user-data[With --undo\: confirm that the desktop'\''s user data may be destroyed.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_manage() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'status:Show desktops: domain state, image version, disks with backing chains and encryption, personalization.'
            'patch:Patch desktops or a golden image offline, and read the outcomes back.'
            'app:Install applications offline: the installer is staged and run once, as SYSTEM, at the next boot.'
            'rollback:Switch desktops back to their previous OS layer; the user-data disk is not touched.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        status|patch|app|rollback)
            "_lcm_manage_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_lcm_manage_status() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '*:desktops:'
        '--device[Only the desktops on this device.]:tag:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_manage_patch() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'apply:Apply .reg files offline and stage .msu/.cab/.msi/.ps1/.cmd files to run once at the next boot (the default subcommand).'
            'status:Read patch outcomes back offline: per desktop and item pending, succeeded, failed (exit code), reboot pending.'
            'hook:Install (or remove) the libvirt hook that applies a desktop'\''s queued patch when it stops.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        apply|status|hook)
            "_lcm_manage_patch_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_lcm_manage_patch_apply() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar ___status=('provisioning' 'deployed' 'stopped' 'retiring' 'retired' 'disposed')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '*:desktops:'
        '--device[Every desktop on this device.]:tag:'
        '--all[Every deployed desktop.]'
        '--status[Every desktop whose inventory status is this (provisioning, deployed, stopped, retiring, retired, disposed); narrows --device.]:status:{__lcm_complete "${___status[@]}"}'
        '--image[Patch this golden image instead\: the result is its next version (NAME, NAME\:VERSION).]:ref:'
        '--shutdown[Shut running desktops down gracefully, patch them, and start them again (default\: queue their patch until they stop).]'
        '--max-parallel[Desktops per appliance launch (default\: all in one).]:n:'
        '--lock-wait[Seconds to wait for another patch run to finish before giving up with exit code 75.]:seconds:'
        '--new-version[With --image\: the new version'\''s name (default\: the next number).]:version:'
        '--add[Files to apply, in order.]:file:'
        '--apply-queued[Apply what is queued for stopped desktops (all, or the ones named).]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_manage_patch_status() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '*:desktops:'
        '--device[Every desktop on this device.]:tag:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_manage_patch_hook() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '--uninstall[Remove the hook instead.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_manage_app() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'install:Stage an installer (.msi, or a .ps1/.cmd that installs) for desktops or a golden image.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        install)
            "_lcm_manage_app_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_lcm_manage_app_install() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar ___status=('provisioning' 'deployed' 'stopped' 'retiring' 'retired' 'disposed')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '*:desktop... file:'
        '--device[Every desktop on this device.]:tag:'
        '--all[Every deployed desktop.]'
        '--status[Every desktop whose inventory status is this (provisioning, deployed, stopped, retiring, retired, disposed); narrows --device.]:status:{__lcm_complete "${___status[@]}"}'
        '--image[Patch this golden image instead\: the result is its next version (NAME, NAME\:VERSION).]:ref:'
        '--shutdown[Shut running desktops down gracefully, patch them, and start them again (default\: queue their patch until they stop).]'
        '--max-parallel[Desktops per appliance launch (default\: all in one).]:n:'
        '--lock-wait[Seconds to wait for another patch run to finish before giving up with exit code 75.]:seconds:'
        '--new-version[With --image\: the new version'\''s name (default\: the next number).]:version:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_manage_rollback() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '*:desktops:'
        '--device[Every desktop on this device.]:tag:'
        '--run[Every desktop whose current OS layer this patch run made (its id, or the first 8 characters or more)\: undoes that run across the fleet.]:run-id:'
        '--shutdown[Shut running desktops down gracefully, roll them back, and start them again (default\: a running desktop is refused).]'
        '--dry-run[Show what would be switched and which items would go; change nothing.]'
        '--lock-wait[Seconds to wait for a patch or rollback run to finish before giving up with exit code 75.]:seconds:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_retire() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'run:Retire desktops (the default subcommand).'
            'certificate:Print the newest certificate of a desktop (its signed JSON file).'
            'verify-certificate:Check certificates against a trusted key: canonical form, Ed25519 signature, signer, claim against evidence, and the chain.'
            'export-key:Print the home'\''s certificate-signing public key (PEM) for auditors.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        run|certificate|verify-certificate|export-key)
            "_lcm_retire_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_lcm_retire_run() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar ___method=('auto' 'crypto-erase' 'overwrite' 'zero' 'dod-3pass' 'verify-only')
    local -ar ___verify=('full' 'sample' 'none')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '*:desktops:'
        '--device[Every desktop on this device.]:tag:'
        '--method[auto (crypto-erase + a random pass for encrypted volumes, a random pass otherwise; the default), crypto-erase, overwrite, zero, dod-3pass or verify-only. A resumed retirement keeps its method unless this names another (possible until every file is overwritten, e.g. after a failed verify-only check).]:method:{__lcm_complete "${___method[@]}"}'
        '--verify[Read back every byte (full), a sample of at least 10% (sample), or nothing (none\: the desktop then stays retired, not disposed).]:mode:{__lcm_complete "${___verify[@]}"}'
        '--dry-run[Print the plan (every file, key copy and record) and change nothing.]'
        '--yes[Confirm\: retirement destroys the desktop'\''s data.]'
        '--reason[Why (recorded and certified).]:text:'
        '--destination[What happens next\: reuse, recycle or return-to-vendor.]:destination:'
        '--operator[Who performs it (default\: the OS user).]:name:'
        '--host-sanitized-by[With --device\: how the device'\''s own storage was sanitized (recorded in its certificate, not checked by lcm); the device is then disposed, else it stays retired.]:evidence:'
        '--shutdown-timeout[Seconds a graceful shutdown may take before the desktop is forced off.]:seconds:'
        '--append-hash-to[Append each certificate'\''s sequence, SHA-256 and path to this file, kept outside lcm'\''s home (another filesystem, a log shipper)\: `verify-certificate --hash-log` then finds a chain rewritten with the home'\''s own key.]:file:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_retire_certificate() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':subject:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_retire_verify-certificate() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '*:files:'
        '--all[Every certificate the home recorded.]'
        '--trusted-key[The signer'\''s public key (PEM, from `lcm retire export-key`).]:file:'
        '--trusted-fingerprint[The signer'\''s key fingerprint (SHA-256, 64 hex digits).]:sha256:'
        '--hash-log[A log written with `lcm retire --append-hash-to`\: every certificate must be in it.]:file:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_retire_export-key() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_inventory() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'list:List records of one kind: devices, desktops, users, images, licenses or events.'
            'show:Show one record: a device, desktop, user, image, license pool or event.'
            'licenses:List license pools with seats used and free and their expiry (same as `list licenses`).'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        list|show|licenses)
            "_lcm_inventory_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_lcm_inventory_list() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar _kind=('devices' 'desktops' 'users' 'images' 'licenses' 'events')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':kind:{__lcm_complete "${_kind[@]}"}'
        '--status[Only devices or desktops with this status (e.g. "in stock", deployed).]:status:'
        '--user[Only records assigned to this user (events\: done by this OS user).]:user:'
        '--device[Only desktops on this device (asset tag).]:device:'
        '--model[Only devices of this model.]:model:'
        '--object-kind[Events\: only about this kind of object (device, desktop, ...).]:object-kind:'
        '--object[Events\: only about this object.]:object:'
        '--since[Events\: only since this date (YYYY-MM-DD or ISO 8601 time).]:since:'
        '--limit[At most this many records (events\: the newest).]:limit:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_inventory_show() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar _kind=('devices' 'desktops' 'users' 'images' 'licenses' 'events')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        ':kind:{__lcm_complete "${_kind[@]}"}'
        ':key:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_inventory_licenses() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_recover() {
    local -i ret=1
    local -ar ___format=('text' 'json' 'csv')
    local -ar ___accel=('auto' 'kvm' 'tcg')
    local -ar arg_specs=(
        '--connect[libvirt URI of the device to act on (default\: LCM_CONNECT, else qemu\:///system as root, qemu\:///session otherwise).]:uri:'
        '--home[lcm'\''s home\: inventory, locks, keys, image store (default\: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).]:dir:'
        '--format[Output format\: text, json or csv (csv for listings only).]:format:{__lcm_complete "${___format[@]}"}'
        '(--quiet -q)'{--quiet,-q}'[Print only results and errors (for cron).]'
        '(--verbose -v)'{--verbose,-v}'[Log each step to stderr.]'
        '--accel[Accelerator for domains and the appliance\: auto, kvm or tcg (default\: LCM_ACCEL, else auto).]:accel:{__lcm_complete "${___accel[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_lcm_help() {
    local -i ret=1
    local -ar arg_specs=(
        '*:subcommands:'
        '--version[Show the version.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

if [[ "${funcstack[1]}" = _lcm ]]; then
    _lcm "${@}"
else
    compdef _lcm lcm
fi
