#!/bin/bash
# SPDX-License-Identifier: MIT
# The bash completion script completes commands, subcommands, options and
# option values, and stays quiet when the controller cannot be reached.
# Usage: test_completion.sh COMPLETION_SCRIPT PVMCTL_DIR
set -u
script=$1
export PATH="$2:$PATH"
export PVM_ADDR=127.0.0.1:1 # nothing listens: name lookups must yield nothing, silently
unset PVM_TOKEN
fail=0

# shellcheck source=/dev/null
source "$script"

complete_line() {
	# the words of $1, completing the last one (empty when $1 ends in a space)
	read -r -a COMP_WORDS <<<"$1"
	[[ $1 == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_pvmctl 2>"$errf"
	echo "${COMPREPLY[*]}"
}

expect() {
	local got
	got=$(complete_line "$1")
	if [[ $got != "$2" ]]; then
		echo "FAIL: '$1' completed to '$got', wanted '$2'"
		fail=1
	fi
	if [[ -s $errf ]]; then
		echo "FAIL: '$1' wrote to stderr: $(cat "$errf")"
		fail=1
	fi
}

errf=$(mktemp)
trap 'rm -f "$errf"' EXIT

expect "pvmctl gu" "guest"
expect "pvmctl " "host guest image token events rebalance version --addr --token --cacert --config --output -o --timeout --no-color --verbose -v --help"
expect "pvmctl host " "list show cordon uncordon drain rm"
expect "pvmctl -o json guest s" "show start stop stats"
expect "pvmctl guest list -o " "table wide json"
expect "pvmctl guest create web --re" "--require --restart"
expect "pvmctl guest create web --require " "console block clock agent halt"
expect "pvmctl guest create web --kind l" "linux libvirt"
expect "pvmctl guest create web --pl" "--platform"
expect "pvmctl guest create web --platform " "kvm process"
expect "pvmctl guest explain web --platform p" "process"
expect "pvmctl token create t --role " "admin operator reader host"
expect "pvmctl token create t --tt" "--ttl"
expect "pvmctl token create t --ttl 1" "15m 1h 12h"
expect "pvmctl events --f" "--follow"
expect "pvmctl rebalance --a" "--apply --addr"
expect "pvmctl guest show " ""
expect "pvmctl host drain " ""

[[ $fail == 0 ]] && echo "completion: all cases passed"
exit $fail
