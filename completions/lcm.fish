function __lcm_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __lcm_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __lcm_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __lcm_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __lcm_parse_tokens -S
    set -l unparsed_tokens (__lcm_tokens -pc)
    switch $unparsed_tokens[1]
    case 'lcm'
        __lcm_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'doctor'
            __lcm_parse_subcommand 0 'connect=' 'home=' 'format=' 'q/quiet' 'v/verbose' 'accel=' 'quick' 'version' 'h/help'
        case 'inventory'
            __lcm_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'list'
                __lcm_parse_subcommand 1 'connect=' 'home=' 'format=' 'q/quiet' 'v/verbose' 'accel=' 'status=' 'user=' 'device=' 'model=' 'object-kind=' 'object=' 'since=' 'limit=' 'version' 'h/help'
            case 'show'
                __lcm_parse_subcommand 2 'connect=' 'home=' 'format=' 'q/quiet' 'v/verbose' 'accel=' 'version' 'h/help'
            end
        case 'recover'
            __lcm_parse_subcommand 0 'connect=' 'home=' 'format=' 'q/quiet' 'v/verbose' 'accel=' 'version' 'h/help'
        case 'help'
            __lcm_parse_subcommand -r 1 'version'
        end
    end
end

function __lcm_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __lcm_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __lcm_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __lcm_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__lcm_tokens -p)
    if test -z "$(__lcm_tokens -t)"
        set -l index (count (__lcm_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'lcm' -f
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm" version' -l 'version' -d 'Show the version.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_positional "lcm" -eq 1' -fa 'doctor' -d 'Check every prerequisite of lcm and say how to fix what fails.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_positional "lcm" -eq 1' -fa 'inventory' -d 'Report devices, desktops, users, images, licenses and audit events.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_positional "lcm" -eq 1' -fa 'recover' -d 'Finish or undo operations that a killed lcm run left unfinished.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_positional "lcm" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm doctor" connect' -l 'connect' -d 'libvirt URI of the device to act on (default: LCM_CONNECT, else qemu:///system as root, qemu:///session otherwise).' -rfka ''
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm doctor" home' -l 'home' -d 'lcm\'s home: inventory, locks, keys, image store (default: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).' -rfka ''
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm doctor" format' -l 'format' -d 'Output format: text, json or csv (csv for listings only).' -rfka 'text json csv'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm doctor" q quiet' -l 'quiet' -s 'q' -d 'Print only results and errors (for cron).'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm doctor" v verbose' -l 'verbose' -s 'v' -d 'Log each step to stderr.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm doctor" accel' -l 'accel' -d 'Accelerator for domains and the appliance: auto, kvm or tcg (default: LCM_ACCEL, else auto).' -rfka 'auto kvm tcg'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm doctor" quick' -l 'quick' -d 'Skip the slow probes (accelerator boot and appliance launch).'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm doctor" version' -l 'version' -d 'Show the version.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm doctor" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory" version' -l 'version' -d 'Show the version.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_positional "lcm inventory" -eq 1' -fa 'list' -d 'List records of one kind: devices, desktops, users, images, licenses or events.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_positional "lcm inventory" -eq 1' -fa 'show' -d 'Show one record: a device, desktop, user, image, license pool or event.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory list" connect' -l 'connect' -d 'libvirt URI of the device to act on (default: LCM_CONNECT, else qemu:///system as root, qemu:///session otherwise).' -rfka ''
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory list" home' -l 'home' -d 'lcm\'s home: inventory, locks, keys, image store (default: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).' -rfka ''
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory list" format' -l 'format' -d 'Output format: text, json or csv (csv for listings only).' -rfka 'text json csv'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory list" q quiet' -l 'quiet' -s 'q' -d 'Print only results and errors (for cron).'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory list" v verbose' -l 'verbose' -s 'v' -d 'Log each step to stderr.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory list" accel' -l 'accel' -d 'Accelerator for domains and the appliance: auto, kvm or tcg (default: LCM_ACCEL, else auto).' -rfka 'auto kvm tcg'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_positional "lcm inventory list" -eq 1' -fka 'devices desktops users images licenses events'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory list" status' -l 'status' -d 'Only devices or desktops with this status (e.g. "in stock", deployed).' -rfka ''
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory list" user' -l 'user' -d 'Only records assigned to this user (events: done by this OS user).' -rfka ''
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory list" device' -l 'device' -d 'Only desktops on this device (asset tag).' -rfka ''
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory list" model' -l 'model' -d 'Only devices of this model.' -rfka ''
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory list" object-kind' -l 'object-kind' -d 'Events: only about this kind of object (device, desktop, ...).' -rfka ''
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory list" object' -l 'object' -d 'Events: only about this object.' -rfka ''
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory list" since' -l 'since' -d 'Events: only since this date (YYYY-MM-DD or ISO 8601 time).' -rfka ''
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory list" limit' -l 'limit' -d 'At most this many records (events: the newest).' -rfka ''
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory list" version' -l 'version' -d 'Show the version.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory list" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory show" connect' -l 'connect' -d 'libvirt URI of the device to act on (default: LCM_CONNECT, else qemu:///system as root, qemu:///session otherwise).' -rfka ''
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory show" home' -l 'home' -d 'lcm\'s home: inventory, locks, keys, image store (default: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).' -rfka ''
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory show" format' -l 'format' -d 'Output format: text, json or csv (csv for listings only).' -rfka 'text json csv'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory show" q quiet' -l 'quiet' -s 'q' -d 'Print only results and errors (for cron).'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory show" v verbose' -l 'verbose' -s 'v' -d 'Log each step to stderr.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory show" accel' -l 'accel' -d 'Accelerator for domains and the appliance: auto, kvm or tcg (default: LCM_ACCEL, else auto).' -rfka 'auto kvm tcg'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_positional "lcm inventory show" -eq 1' -fka 'devices desktops users images licenses events'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory show" version' -l 'version' -d 'Show the version.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm inventory show" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm recover" connect' -l 'connect' -d 'libvirt URI of the device to act on (default: LCM_CONNECT, else qemu:///system as root, qemu:///session otherwise).' -rfka ''
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm recover" home' -l 'home' -d 'lcm\'s home: inventory, locks, keys, image store (default: LCM_HOME, else /var/lib/lcm as root, ~/.local/share/lcm otherwise).' -rfka ''
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm recover" format' -l 'format' -d 'Output format: text, json or csv (csv for listings only).' -rfka 'text json csv'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm recover" q quiet' -l 'quiet' -s 'q' -d 'Print only results and errors (for cron).'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm recover" v verbose' -l 'verbose' -s 'v' -d 'Log each step to stderr.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm recover" accel' -l 'accel' -d 'Accelerator for domains and the appliance: auto, kvm or tcg (default: LCM_ACCEL, else auto).' -rfka 'auto kvm tcg'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm recover" version' -l 'version' -d 'Show the version.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm recover" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'lcm' -n '__lcm_should_offer_completions_for_flags_or_options "lcm help" version' -l 'version' -d 'Show the version.'
