#!/bin/bash

__lcm_cursor_index_in_current_word() {
    local remaining="${COMP_LINE}"

    local word
    for word in "${COMP_WORDS[@]::COMP_CWORD}"; do
        remaining="${remaining##*([[:space:]])"${word}"*([[:space:]])}"
    done

    local -ir index="$((COMP_POINT - ${#COMP_LINE} + ${#remaining}))"
    if [[ "${index}" -le 0 ]]; then
        printf 0
    else
        printf %s "${index}"
    fi
}

# positional arguments:
#
# - 1: the current (sub)command's count of positional arguments
#
# required variables:
#
# - repeating_flags: the repeating flags that the current (sub)command can accept
# - non_repeating_flags: the non-repeating flags that the current (sub)command can accept
# - repeating_options: the repeating options that the current (sub)command can accept
# - non_repeating_options: the non-repeating options that the current (sub)command can accept
# - positional_number: value ignored
# - unparsed_words: unparsed words from the current command line
#
# modified variables:
#
# - non_repeating_flags: remove flags for this (sub)command that are already on the command line
# - non_repeating_options: remove options for this (sub)command that are already on the command line
# - positional_number: set to the current positional number
# - unparsed_words: remove all flags, options, and option values for this (sub)command
__lcm_offer_flags_options() {
    local -ir positional_count="${1}"
    positional_number=0

    local was_flag_option_terminator_seen=false
    local is_parsing_option_value=false

    local -ar unparsed_word_indices=("${!unparsed_words[@]}")
    local -i word_index
    for word_index in "${unparsed_word_indices[@]}"; do
        if "${is_parsing_option_value}"; then
            # This word is an option value:
            # Reset marker for next word iff not currently the last word
            [[ "${word_index}" -ne "${unparsed_word_indices[${#unparsed_word_indices[@]} - 1]}" ]] && is_parsing_option_value=false
            unset "unparsed_words[${word_index}]"
            # Do not process this word as a flag or an option
            continue
        fi

        local word="${unparsed_words["${word_index}"]}"
        if ! "${was_flag_option_terminator_seen}"; then
            case "${word}" in
            --)
                unset "unparsed_words[${word_index}]"
                # by itself -- is a flag/option terminator, but if it is the last word, it is the start of a completion
                if [[ "${word_index}" -ne "${unparsed_word_indices[${#unparsed_word_indices[@]} - 1]}" ]]; then
                    was_flag_option_terminator_seen=true
                fi
                continue
                ;;
            -*)
                # ${word} is a flag or an option
                # If ${word} is an option, mark that the next word to be parsed is an option value
                local option
                for option in "${repeating_options[@]}" "${non_repeating_options[@]}"; do
                    [[ "${word}" = "${option}" ]] && is_parsing_option_value=true && break
                done

                # Remove ${word} from ${non_repeating_flags} or ${non_repeating_options} so it isn't offered again
                local not_found=true
                local -i index
                for index in "${!non_repeating_flags[@]}"; do
                    if [[ "${non_repeating_flags[${index}]}" = "${word}" ]]; then
                        unset "non_repeating_flags[${index}]"
                        non_repeating_flags=("${non_repeating_flags[@]}")
                        not_found=false
                        break
                    fi
                done
                if "${not_found}"; then
                    for index in "${!non_repeating_flags[@]}"; do
                        if [[ "${non_repeating_flags[${index}]}" = "${word}" ]]; then
                            unset "non_repeating_flags[${index}]"
                            non_repeating_flags=("${non_repeating_flags[@]}")
                            break
                        fi
                    done
                fi
                unset "unparsed_words[${word_index}]"
                continue
                ;;
            esac
        fi

        # ${word} is neither a flag, nor an option, nor an option value
        if [[ "${positional_number}" -lt "${positional_count}" || "${positional_count}" -lt 0 ]]; then
            # ${word} is a positional
            ((positional_number++))
            unset "unparsed_words[${word_index}]"
        else
            if [[ -z "${word}" ]]; then
                # Could be completing a flag, option, or subcommand
                positional_number=-1
            else
                # ${word} is a subcommand or invalid, so stop processing this (sub)command
                positional_number=-2
            fi
            break
        fi
    done

    unparsed_words=("${unparsed_words[@]}")

    if\
        ! "${was_flag_option_terminator_seen}"\
        && ! "${is_parsing_option_value}"\
        && [[ ("${cur}" = -* && "${positional_number}" -ge 0) || "${positional_number}" -eq -1 ]]
    then
        COMPREPLY+=($(compgen -W "${repeating_flags[*]} ${non_repeating_flags[*]} ${repeating_options[*]} ${non_repeating_options[*]}" -- "${cur}"))
    fi
}

__lcm_add_completions() {
    local completion
    while IFS='' read -r completion; do
        COMPREPLY+=("${completion}")
    done < <(IFS=$'\n' compgen "${@}" -- "${cur}")
}

__lcm_custom_complete() {
    if [[ -n "${cur}" || -z ${COMP_WORDS[${COMP_CWORD}]} || "${COMP_LINE:${COMP_POINT}:1}" != ' ' ]]; then
        local -ar words=("${COMP_WORDS[@]}")
    else
        local -ar words=("${COMP_WORDS[@]::${COMP_CWORD}}" '' "${COMP_WORDS[@]:${COMP_CWORD}}")
    fi

    "${COMP_WORDS[0]}" "${@}" "${words[@]}"
}

_lcm() {
    local state
    state="$(shopt -p;shopt -po)"
    trap "${state//$'\n'/;}" RETURN
    shopt -s extglob
    set +o history +o posix

    local -xr SAP_SHELL=bash
    local -x SAP_SHELL_VERSION
    SAP_SHELL_VERSION="$(IFS='.';printf %s "${BASH_VERSINFO[*]}")"
    local -r SAP_SHELL_VERSION

    local -r cur="${2}"
    local -r prev="${3}"

    local -i positional_number
    local -a unparsed_words=("${COMP_WORDS[@]:1:${COMP_CWORD}}")

    local -a repeating_flags=()
    local -a non_repeating_flags=(--version -h --help)
    local -a repeating_options=()
    local -a non_repeating_options=()
    __lcm_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    doctor|procure|image|deploy|manage|retire|inventory|recover|help)
        # Offer subcommand argument completions
        "_lcm_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'doctor procure image deploy manage retire inventory recover help' -- "${cur}"))
        ;;
    esac
}

_lcm_doctor() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --quick --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_procure() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __lcm_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    profile|check|add|import|export|update|move|checkout|checkin|history|license|report)
        # Offer subcommand argument completions
        "_lcm_procure_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'profile check add import export update move checkout checkin history license report' -- "${cur}"))
        ;;
    esac
}

_lcm_procure_profile() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __lcm_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    add|list|show|rm)
        # Offer subcommand argument completions
        "_lcm_procure_profile_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'add list show rm' -- "${cur}"))
        ;;
    esac
}

_lcm_procure_profile_add() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --replace --cpu-virtualization --no-cpu-virtualization --iommu --no-iommu --tpm --no-tpm --uefi --no-uefi --secure-boot --no-secure-boot --probe --no-probe --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --file --description --arch --min-cpus --min-memory --min-disk --accelerator --vcpus --vm-memory --os-disk --data-disk)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--file')
        return
        ;;
    '--description')
        return
        ;;
    '--arch')
        return
        ;;
    '--min-cpus')
        return
        ;;
    '--min-memory')
        return
        ;;
    '--min-disk')
        return
        ;;
    '--accelerator')
        __lcm_add_completions -W 'none'$'\n''any'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--vcpus')
        return
        ;;
    '--vm-memory')
        return
        ;;
    '--os-disk')
        return
        ;;
    '--data-disk')
        return
        ;;
    esac
}

_lcm_procure_profile_list() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_procure_profile_show() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_procure_profile_rm() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_procure_check() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --no-probe --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --profile)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--profile')
        return
        ;;
    esac
}

_lcm_procure_add() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --asset-tag --serial --vendor --model --order-number --purchase-date --cost --currency --supplier --warranty-months --profile --uri --notes --status)
    __lcm_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--asset-tag')
        return
        ;;
    '--serial')
        return
        ;;
    '--vendor')
        return
        ;;
    '--model')
        return
        ;;
    '--order-number')
        return
        ;;
    '--purchase-date')
        return
        ;;
    '--cost')
        return
        ;;
    '--currency')
        return
        ;;
    '--supplier')
        return
        ;;
    '--warranty-months')
        return
        ;;
    '--profile')
        return
        ;;
    '--uri')
        return
        ;;
    '--notes')
        return
        ;;
    '--status')
        return
        ;;
    esac
}

_lcm_procure_import() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --dry-run --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_procure_export() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --output -o --status)
    __lcm_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--output'|'-o')
        return
        ;;
    '--status')
        return
        ;;
    esac
}

_lcm_procure_update() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --asset-tag --serial --vendor --model --order-number --purchase-date --cost --currency --supplier --warranty-months --profile --uri --notes)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--asset-tag')
        return
        ;;
    '--serial')
        return
        ;;
    '--vendor')
        return
        ;;
    '--model')
        return
        ;;
    '--order-number')
        return
        ;;
    '--purchase-date')
        return
        ;;
    '--cost')
        return
        ;;
    '--currency')
        return
        ;;
    '--supplier')
        return
        ;;
    '--warranty-months')
        return
        ;;
    '--profile')
        return
        ;;
    '--uri')
        return
        ;;
    '--notes')
        return
        ;;
    esac
}

_lcm_procure_move() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --note)
    __lcm_offer_flags_options 2

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--note')
        return
        ;;
    esac
}

_lcm_procure_checkout() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --create-user --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --full-name --email)
    __lcm_offer_flags_options 2

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--full-name')
        return
        ;;
    '--email')
        return
        ;;
    esac
}

_lcm_procure_checkin() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --keep-status --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_procure_history() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_procure_license() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __lcm_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    add|list|show|set|rm)
        # Offer subcommand argument completions
        "_lcm_procure_license_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'add list show set rm' -- "${cur}"))
        ;;
    esac
}

_lcm_procure_license_add() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --key-stdin --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --product --edition --seats --expires --key-file)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--product')
        return
        ;;
    '--edition')
        return
        ;;
    '--seats')
        return
        ;;
    '--expires')
        return
        ;;
    '--key-file')
        return
        ;;
    esac
}

_lcm_procure_license_list() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_procure_license_show() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --reveal-key --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_procure_license_set() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --key-stdin --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --seats --expires --edition --key-file)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--seats')
        return
        ;;
    '--expires')
        return
        ;;
    '--edition')
        return
        ;;
    '--key-file')
        return
        ;;
    esac
}

_lcm_procure_license_rm() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_procure_report() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __lcm_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    warranty|status|model|age|seats)
        # Offer subcommand argument completions
        "_lcm_procure_report_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'warranty status model age seats' -- "${cur}"))
        ;;
    esac
}

_lcm_procure_report_warranty() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --include-expired --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --within)
    __lcm_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--within')
        return
        ;;
    esac
}

_lcm_procure_report_status() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_procure_report_model() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_procure_report_age() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_procure_report_seats() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_image() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __lcm_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    import|inspect|check|drivers|list|show|diff|verify|rm)
        # Offer subcommand argument completions
        "_lcm_image_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'import inspect check drivers list show diff verify rm' -- "${cur}"))
        ;;
    esac
}

_lcm_image_import() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --compress --allow-non-windows --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --name --version --description --inject-virtio)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--name')
        return
        ;;
    '--version')
        return
        ;;
    '--description')
        return
        ;;
    '--inject-virtio')
        return
        ;;
    esac
}

_lcm_image_inspect() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options -1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_image_check() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options -1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_image_drivers() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __lcm_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    add)
        # Offer subcommand argument completions
        "_lcm_image_drivers_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'add' -- "${cur}"))
        ;;
    esac
}

_lcm_image_drivers_add() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --virtio --version)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--virtio')
        return
        ;;
    '--version')
        return
        ;;
    esac
}

_lcm_image_list() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --all --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_image_show() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_image_diff() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --limit)
    __lcm_offer_flags_options 2

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--limit')
        return
        ;;
    esac
}

_lcm_image_verify() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options -1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_image_rm() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_deploy() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --no-encrypt --no-secure-boot --allow-ungeneralized --no-start --discard-user-data --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --image --device --device-status --user --name --from-csv --computer-name --time-zone --organization --license-pool --migrate --join-blob --vcpus --memory --os-disk --data-disk --network --pool --undo)
    __lcm_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--image')
        return
        ;;
    '--device')
        return
        ;;
    '--device-status')
        return
        ;;
    '--user')
        return
        ;;
    '--name')
        return
        ;;
    '--from-csv')
        return
        ;;
    '--computer-name')
        return
        ;;
    '--time-zone')
        return
        ;;
    '--organization')
        return
        ;;
    '--license-pool')
        return
        ;;
    '--migrate')
        return
        ;;
    '--join-blob')
        return
        ;;
    '--vcpus')
        return
        ;;
    '--memory')
        return
        ;;
    '--os-disk')
        return
        ;;
    '--data-disk')
        return
        ;;
    '--network')
        return
        ;;
    '--pool')
        return
        ;;
    '--undo')
        return
        ;;
    esac
}

_lcm_manage() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __lcm_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    status|patch|app|rollback)
        # Offer subcommand argument completions
        "_lcm_manage_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'status patch app rollback' -- "${cur}"))
        ;;
    esac
}

_lcm_manage_status() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --device)
    __lcm_offer_flags_options -1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--device')
        return
        ;;
    esac
}

_lcm_manage_patch() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __lcm_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    apply|status|hook)
        # Offer subcommand argument completions
        "_lcm_manage_patch_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'apply status hook' -- "${cur}"))
        ;;
    esac
}

_lcm_manage_patch_apply() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --all --shutdown --apply-queued --version -h --help)
    repeating_options=(--add)
    non_repeating_options=(--connect --home --format --accel --device --status --image --max-parallel --lock-wait --new-version)
    __lcm_offer_flags_options -1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--device')
        return
        ;;
    '--status')
        __lcm_add_completions -W 'provisioning'$'\n''deployed'$'\n''stopped'$'\n''retiring'$'\n''retired'$'\n''disposed'
        return
        ;;
    '--image')
        return
        ;;
    '--max-parallel')
        return
        ;;
    '--lock-wait')
        return
        ;;
    '--new-version')
        return
        ;;
    '--add')
        return
        ;;
    esac
}

_lcm_manage_patch_status() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --device)
    __lcm_offer_flags_options -1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--device')
        return
        ;;
    esac
}

_lcm_manage_patch_hook() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --uninstall --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_manage_app() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __lcm_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    install)
        # Offer subcommand argument completions
        "_lcm_manage_app_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'install' -- "${cur}"))
        ;;
    esac
}

_lcm_manage_app_install() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --all --shutdown --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --device --status --image --max-parallel --lock-wait --new-version)
    __lcm_offer_flags_options -1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--device')
        return
        ;;
    '--status')
        __lcm_add_completions -W 'provisioning'$'\n''deployed'$'\n''stopped'$'\n''retiring'$'\n''retired'$'\n''disposed'
        return
        ;;
    '--image')
        return
        ;;
    '--max-parallel')
        return
        ;;
    '--lock-wait')
        return
        ;;
    '--new-version')
        return
        ;;
    esac
}

_lcm_manage_rollback() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --shutdown --dry-run --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --device --run --lock-wait)
    __lcm_offer_flags_options -1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--device')
        return
        ;;
    '--run')
        return
        ;;
    '--lock-wait')
        return
        ;;
    esac
}

_lcm_retire() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __lcm_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    run|certificate|verify-certificate|export-key)
        # Offer subcommand argument completions
        "_lcm_retire_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'run certificate verify-certificate export-key' -- "${cur}"))
        ;;
    esac
}

_lcm_retire_run() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --dry-run --yes --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --device --method --verify --reason --destination --operator --host-sanitized-by --shutdown-timeout --append-hash-to)
    __lcm_offer_flags_options -1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--device')
        return
        ;;
    '--method')
        __lcm_add_completions -W 'auto'$'\n''crypto-erase'$'\n''overwrite'$'\n''zero'$'\n''dod-3pass'$'\n''verify-only'
        return
        ;;
    '--verify')
        __lcm_add_completions -W 'full'$'\n''sample'$'\n''none'
        return
        ;;
    '--reason')
        return
        ;;
    '--destination')
        return
        ;;
    '--operator')
        return
        ;;
    '--host-sanitized-by')
        return
        ;;
    '--shutdown-timeout')
        return
        ;;
    '--append-hash-to')
        return
        ;;
    esac
}

_lcm_retire_certificate() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_retire_verify-certificate() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --all --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --trusted-key --trusted-fingerprint --hash-log)
    __lcm_offer_flags_options -1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--trusted-key')
        return
        ;;
    '--trusted-fingerprint')
        return
        ;;
    '--hash-log')
        return
        ;;
    esac
}

_lcm_retire_export-key() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_inventory() {
    repeating_flags=()
    non_repeating_flags=(--version -h --help)
    repeating_options=()
    non_repeating_options=()
    __lcm_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    list|show|licenses)
        # Offer subcommand argument completions
        "_lcm_inventory_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'list show licenses' -- "${cur}"))
        ;;
    esac
}

_lcm_inventory_list() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel --status --user --device --model --object-kind --object --since --limit)
    __lcm_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    '--status')
        return
        ;;
    '--user')
        return
        ;;
    '--device')
        return
        ;;
    '--model')
        return
        ;;
    '--object-kind')
        return
        ;;
    '--object')
        return
        ;;
    '--since')
        return
        ;;
    '--limit')
        return
        ;;
    esac

    # Offer positional completions
    case "${positional_number}" in
    1)
        __lcm_add_completions -W 'devices'$'\n''desktops'$'\n''users'$'\n''images'$'\n''licenses'$'\n''events'
        return
        ;;
    esac
}

_lcm_inventory_show() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 2

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac

    # Offer positional completions
    case "${positional_number}" in
    1)
        __lcm_add_completions -W 'devices'$'\n''desktops'$'\n''users'$'\n''images'$'\n''licenses'$'\n''events'
        return
        ;;
    esac
}

_lcm_inventory_licenses() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_recover() {
    repeating_flags=()
    non_repeating_flags=(--quiet -q --verbose -v --version -h --help)
    repeating_options=()
    non_repeating_options=(--connect --home --format --accel)
    __lcm_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--connect')
        return
        ;;
    '--home')
        return
        ;;
    '--format')
        __lcm_add_completions -W 'text'$'\n''json'$'\n''csv'
        return
        ;;
    '--accel')
        __lcm_add_completions -W 'auto'$'\n''kvm'$'\n''tcg'
        return
        ;;
    esac
}

_lcm_help() {
    repeating_flags=()
    non_repeating_flags=(--version)
    repeating_options=()
    non_repeating_options=()
    __lcm_offer_flags_options -1
}

complete -o filenames -F _lcm lcm
