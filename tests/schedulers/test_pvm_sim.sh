#!/usr/bin/env bash
# pvm-sim end to end: the real binary, its output, determinism, bad arguments.
set -u
sim=$1
fail=0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

check() { # description, condition...
	local what=$1
	shift
	if "$@"; then
		echo "ok: $what"
	else
		echo "FAIL: $what"
		fail=1
	fi
}

"$sim" --hosts 20 --guests 100 --seed 3 >"$out/a" 2>"$out/a.err"
check "runs" test $? -eq 0
check "header" grep -q '^pvm-sim: 20 hosts, 100 guests' "$out/a"
check "both policies" grep -q '^pv-aware ' "$out/a"
check "blind policy" grep -q '^pv-blind .*scorers=binpack:1;' "$out/a"
check "all placed" test "$(grep -c 'placed 100/100' "$out/a")" -eq 2
check "no pv-incompatible placement" test "$(grep -c 'pv-incompatible 0' "$out/a")" -eq 2
check "timing" grep -q 'decisions: [0-9]* per second, p50' "$out/a"
check "rebalancer" grep -q '^rebalance pv-aware fleet: cluster score' "$out/a"
check "nothing on stderr" test ! -s "$out/a.err"

# Same seed, same placements (timing lines aside); another seed differs.
"$sim" --hosts 20 --guests 100 --seed 3 >"$out/b"
"$sim" --hosts 20 --guests 100 --seed 4 >"$out/c"
check "same seed, same output" \
	cmp -s <(grep -v 'decisions:' "$out/a") <(grep -v 'decisions:' "$out/b")
check "other seed, other output" \
	bash -c "! cmp -s <(grep -v 'decisions:' '$out/a') <(grep -v 'decisions:' '$out/c')"

"$sim" --hosts 10 --guests 50 --policy 'scorers=spread:1' --moves 0 >"$out/d"
check "policy override" grep -q '^pv-aware .*scorers=spread:1;' "$out/d"
check "--moves 0 skips the rebalancer" bash -c "! grep -q '^rebalance ' '$out/d'"

bad() { # expected message, args...
	local msg=$1
	shift
	"$sim" "$@" >"$out/o" 2>"$out/e"
	local rc=$?
	check "rejects $* (exit 2)" test $rc -eq 2
	check "rejects $* with \"$msg\"" grep -q -- "$msg" "$out/e"
	check "prints nothing on stdout for $*" test ! -s "$out/o"
}
bad 'hosts' --hosts 0
bad 'hosts' --hosts abc
bad 'guests' --guests -1
bad 'seconds' --seconds 0
bad 'unknown scorer "fastest"' --policy 'scorers=fastest:1'
bad 'unknown policy key' --policy 'speed=1'
bad 'bogus' --bogus 1
bad 'unexpected argument "extra"' extra

"$sim" --help >"$out/h"
check "--help exits 0" test $? -eq 0
check "--help lists flags" grep -q -- '--guests' "$out/h"
exit $fail
