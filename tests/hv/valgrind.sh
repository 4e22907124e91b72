#!/usr/bin/env bash
# pvm-vmm under valgrind: a pv console run and a hostile run end with no
# leaks and no invalid accesses (valgrind's exit code 99 otherwise).
set -euo pipefail
vmm=$1
guests=$2
[ -e /dev/kvm ] || { echo "SKIP: no /dev/kvm"; exit 77; }
command -v valgrind >/dev/null || { echo "SKIP: no valgrind"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
truncate -s 1M "$tmp/disk"
vg=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect)
"${vg[@]}" "$vmm" run --image "$guests/guest-console" --cmdline "mode=pv bytes=5000" \
	--stats-json "$tmp/s.json" >"$tmp/out"
[ "$(wc -c <"$tmp/out")" = 5000 ]
"${vg[@]}" "$vmm" run --image "$guests/guest-hostile" --cmdline "n=200" --disk "$tmp/disk" \
	>"$tmp/out2"
grep -q "unexpected=0" "$tmp/out2"
echo "valgrind: clean"
