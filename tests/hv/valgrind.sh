#!/usr/bin/env bash
# pvm-vmm under valgrind, on every platform the machine has: a pv console run
# and a hostile run end with no leaks and no invalid accesses (valgrind's exit
# code 99 otherwise). valgrind follows pvm-vmm only, not the process
# platform's guest process (a freestanding stub with no allocator). valgrind
# cannot run seccomp filters: the VMM's own allow-lists are off under it
# (hv_vm tests them).
set -euo pipefail
vmm=$1
guests=$2
command -v valgrind >/dev/null || { echo "SKIP: no valgrind"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
truncate -s 1M "$tmp/disk"
vg=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect)
for p in $("$vmm" platforms | awk '$2 == "yes" { print $1 }'); do
	"${vg[@]}" "$vmm" run --platform "$p" --seccomp off --image "$guests/guest-console" \
		--cmdline "mode=pv bytes=5000" --stats-json "$tmp/s.json" >"$tmp/out"
	[ "$(wc -c <"$tmp/out")" = 5000 ]
	"${vg[@]}" "$vmm" run --platform "$p" --seccomp off --image "$guests/guest-hostile" \
		--cmdline "n=200" \
		--disk "$tmp/disk" >"$tmp/out2"
	grep -q "unexpected=0" "$tmp/out2"
	echo "valgrind: $p clean"
done
