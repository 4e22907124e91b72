#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# /metrics of an all-in-one pvmd running guests, as a scrape consumer reads
# it: `promtool check metrics` finds nothing to complain about (HELP and
# TYPE of every family, counters ending in _total, units in names), and the
# figures a sum would double-count or read as negative capacity are gone.
# Usage: test_promtool.sh PVMD VMM IMAGE_DIR
set -euo pipefail
. "$(dirname "$0")/aio.sh"

if ! command -v promtool >/dev/null; then
	echo "SKIP: promtool not installed (Debian's prometheus package; packaging/install-deps)"
	exit 77
fi
trap aio_cleanup EXIT
aio_start "$1" "$2" "$3"
aio_guests
aio_api GET /metrics >"$AIO_DIR/metrics"
[ "$(cat "$AIO_DIR/status")" = 200 ] || aio_fail "GET /metrics: $(cat "$AIO_DIR/status")"

if ! promtool check metrics <"$AIO_DIR/metrics" >"$AIO_DIR/lint" 2>&1 || [ -s "$AIO_DIR/lint" ]; then
	cat "$AIO_DIR/lint" >&2
	aio_fail "promtool check metrics complained"
fi
# the scrape holds what the guests did, so the lint saw every family filled
for fam in pvm_hook_calls_total pvm_hook_exits_avoided_total pvm_guest_vcpu_exits_total \
	pvm_guest_vcpu_guest_exits_total pvm_placements_total pvm_host_allocated_vcpus \
	pvm_host_cpu_overcommit_ratio pvm_api_request_duration_seconds_bucket; do
	grep -q "^$fam{" "$AIO_DIR/metrics" || aio_fail "no $fam sample"
done
# the exits' sum is not one of its parts, and no capacity reads negative
! grep -q 'reason="total"' "$AIO_DIR/metrics" || aio_fail 'reason="total" beside its parts'
! grep -qE '^pvm_host_free_[a-z_]+\{[^}]*\} -' "$AIO_DIR/metrics" || aio_fail "negative free"
grep -q "^pvm_guest_vcpu_guest_exits_total{guest=\"$AIO_EMU\"} " "$AIO_DIR/metrics" ||
	aio_fail "no guest exits of the emulated guest"
echo "promtool: $(grep -c '^# TYPE' "$AIO_DIR/metrics") families, $(grep -vc '^#' "$AIO_DIR/metrics") samples, clean"
