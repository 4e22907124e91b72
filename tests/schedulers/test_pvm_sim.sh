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

# A profile file costs the guests instead of the built-in one; a bad one is
# refused with the line at fault, before anything is printed.
cat >"$out/p" <<'PROFILE'
pvm-sim-profile 1
platform kvm
recorded by test_pvm_sim.sh
work console pv units_per_s=1e8 cpu_per_s=1 exits_per_s=3e4 hook_calls_per_s=3e4
work console emulated units_per_s=2e4 cpu_per_s=1 exits_per_s=2e4 hook_calls_per_s=1
work block pv units_per_s=5e4 cpu_per_s=1 exits_per_s=3e4 hook_calls_per_s=3e4
work block emulated units_per_s=2e3 cpu_per_s=1 exits_per_s=2.4e4 hook_calls_per_s=1
work clock pv units_per_s=8e7 cpu_per_s=1 exits_per_s=1 hook_calls_per_s=1
work clock emulated units_per_s=8e3 cpu_per_s=1 exits_per_s=2.4e4 hook_calls_per_s=1
work compute emulated units_per_s=5e8 cpu_per_s=1 exits_per_s=2 hook_calls_per_s=1
PROFILE
"$sim" --hosts 20 --guests 100 --seed 3 --profile "$out/p" >"$out/f" 2>"$out/f.err"
check "--profile runs" test $? -eq 0
check "--profile is named" grep -q "costed by the $out/p profile of kvm (by test_pvm_sim.sh)" "$out/f"
check "the built-in profile is named" grep -q 'costed by the built-in profile of process' "$out/a"
check "another profile, other costs" \
	bash -c "! cmp -s <(grep 'overloaded host-seconds' '$out/a') <(grep 'overloaded host-seconds' '$out/f')"
sed 's/^platform kvm$/platform kvm\nspeed 9/' "$out/p" >"$out/bad"
"$sim" --profile "$out/bad" >"$out/o" 2>"$out/e"
check "a bad profile fails (exit 1)" test $? -eq 1
check "a bad profile names its line" grep -q 'profile line 3: unknown key "speed"' "$out/e"
check "a bad profile prints nothing on stdout" test ! -s "$out/o"
"$sim" --profile /nonexistent/profile >"$out/o" 2>"$out/e"
check "a missing profile fails" test $? -eq 1
check "a missing profile is named" grep -q 'profile /nonexistent/profile: No such file' "$out/e"

"$sim" --help >"$out/h"
check "--help exits 0" test $? -eq 0
check "--help lists flags" grep -q -- '--guests' "$out/h"
exit $fail
