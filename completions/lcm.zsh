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
            'inventory:Report devices, desktops, users, images, licenses and audit events.'
            'recover:Finish or undo operations that a killed lcm run left unfinished.'
            'help:Show subcommand help information.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        doctor|inventory|recover|help)
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
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        list|show)
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
