#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A real Prometheus (Debian's prometheus package) on loopback, its
# configuration and storage in a temporary folder, scrapes an all-in-one
# pvmd running guests every second with the admin token (authorization
# credentials_file), and its HTTP API answers the questions an operator
# asks: hook call rates per guest, exits the pv hooks avoided, placement
# decisions, API latency quantiles. Then every query of the Grafana
# dashboard names metrics pvmd exports and returns data.
# Usage: test_prometheus.sh PVMD VMM IMAGE_DIR DASHBOARD_JSON
set -euo pipefail
. "$(dirname "$0")/aio.sh"

if ! command -v prometheus >/dev/null; then
	echo "SKIP: prometheus not installed (Debian's prometheus package; packaging/install-deps)"
	exit 77
fi
DASHBOARD=$4
PROM_PID=""
PROM=""
# The window of every rate: at a scrape a second, 20 samples at most.
WINDOW=20s

cleanup() {
	[ -n "$PROM_PID" ] && aio_stop_pid "$PROM_PID"
	aio_cleanup
}
trap cleanup EXIT

# Prometheus cannot listen on port 0 and say which it got: try free ports.
start_prometheus() {
	local port deadline
	sed -n 's|^http://||p' <<<"$AIO_URL" >"$AIO_DIR/target"
	cat >"$AIO_DIR/prometheus.yml" <<-EOF
		global:
		  scrape_interval: 1s
		  scrape_timeout: 1s
		  evaluation_interval: 1s
		scrape_configs:
		  - job_name: pvm
		    authorization:
		      type: Bearer
		      credentials_file: $AIO_TOKEN_FILE
		    static_configs:
		      - targets: ['$(cat "$AIO_DIR/target")']
	EOF
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		[ -z "$(ss -Hltn "sport = :$port")" ] || continue
		prometheus --config.file="$AIO_DIR/prometheus.yml" \
			--storage.tsdb.path="$AIO_DIR/prometheus-data" \
			--web.listen-address="127.0.0.1:$port" --log.level=warn \
			>"$AIO_DIR/prometheus.log" 2>&1 &
		PROM_PID=$!
		PROM="http://127.0.0.1:$port"
		deadline=$(($(aio_now) + 60))
		while [ "$(aio_now)" -lt "$deadline" ] && kill -0 "$PROM_PID" 2>/dev/null; do
			curl -sf "$PROM/-/ready" >/dev/null && return 0
			sleep 0.2
		done
		aio_stop_pid "$PROM_PID"
		PROM_PID=""
		grep -q 'address already in use' "$AIO_DIR/prometheus.log" || break
	done
	cat "$AIO_DIR/prometheus.log" >&2
	aio_fail "prometheus did not become ready"
}

# query PROMQL: the answer's result array (fails unless the query ran).
query() {
	local ans
	ans=$(curl -sf --get --data-urlencode "query=$1" "$PROM/api/v1/query") ||
		aio_fail "query failed: $1"
	[ "$(jq -r .status <<<"$ans")" = success ] || aio_fail "query $1: $ans"
	jq -c .data.result <<<"$ans"
}

# value RESULT SELECTOR: the value of the first element the jq selector keeps.
value() {
	jq -r "[.[] | select($2)][0].value[1] // \"none\"" <<<"$1"
}

# check DESCRIPTION JQ_BOOLEAN VALUE: a plausibility check on one figure.
check() {
	jq -en --arg v "$3" "(\$v | tonumber? // null) as \$x | \$x != null and ($2)" >/dev/null ||
		aio_fail "$1: $3"
	echo "ok: $1: $3"
}

aio_start "$1" "$2" "$3"
aio_guests
start_prometheus

# Until a dozen scrapes landed (deadline, not a count of sleeps). Meanwhile
# requests with no valid token and to no route, so the error panels have
# something to show.
deadline=$(($(aio_now) + 120))
while :; do
	n=$(value "$(query 'count_over_time(up{job="pvm"}[1m])')" true)
	up=$(value "$(query 'up{job="pvm"}')" true)
	[ "$up" = 1 ] && [ "$n" != none ] && [ "$n" -ge 12 ] && break
	[ "$(aio_now)" -lt "$deadline" ] || aio_fail "only $n scrapes (up=$up) in 120 s"
	curl -s -o /dev/null -H 'Authorization: Bearer nope' "$AIO_URL/v1/guests"
	curl -s -o /dev/null -H "Authorization: Bearer $(cat "$AIO_TOKEN_FILE")" "$AIO_URL/v1/nowhere"
	sleep 0.5
done
echo "prometheus: $n scrapes of $AIO_URL"

# hook calls per second per guest: the idle guest keeps calling (halt, agent)
r=$(query "sum by (guest) (rate(pvm_hook_calls_total[$WINDOW]))")
check "idle guest's hook calls per second" '$x > 0 and $x < 100000' \
	"$(value "$r" ".metric.guest == \"$AIO_IDLE\"")"
check "pv console guest's hook call rate (it stopped)" '$x >= 0' \
	"$(value "$r" ".metric.guest == \"$AIO_PV\"")"

# exits avoided by pv hooks: the console workload's 16384 bytes would each
# have been an exit of the emulated twin, which took them
r=$(query 'sum by (guest) (pvm_hook_exits_avoided_total{hook="console"})')
check "pv guest's console exits avoided" '$x >= 16384 * 0.9 and $x <= 16384 * 1.1' \
	"$(value "$r" ".metric.guest == \"$AIO_PV\"")"
r=$(query 'sum by (guest) (pvm_guest_vcpu_guest_exits_total)')
emu=$(value "$r" ".metric.guest == \"$AIO_EMU\"")
pv=$(value "$r" ".metric.guest == \"$AIO_PV\"")
check "emulated twin's exits" '$x >= 16384' "$emu"
check "pv guest's exits, a small part of its twin's" "\$x < $emu / 20" "$pv"
# the reasons sum to the guest's exits plus the host's kicks, never twice
r=$(query "sum(pvm_guest_vcpu_exits_total{guest=\"$AIO_EMU\",reason!=\"intr\"})")
check "emulated twin's exits summed over reasons" "\$x == $emu" "$(value "$r" true)"

# placement decisions: the three guests bound, nothing failed
r=$(query 'sum by (result) (pvm_placements_total)')
check "placements bound" '$x >= 3' "$(value "$r" '.metric.result == "bound"')"
check "placements in error" '$x == 0' "$(value "$r" '.metric.result == "error"')"

# API latency quantiles from the histogram: /metrics itself is answered
# every second, hosts' reports every 200 ms; long polls wait by design
r=$(query "histogram_quantile(0.95, sum by (le) (rate(pvm_api_request_duration_seconds_bucket{route!~\".*/assignments|/v1/events\"}[$WINDOW])))")
check "API p95 latency but long polls (s)" '$x > 0 and $x < 1' "$(value "$r" true)"
r=$(query "histogram_quantile(0.99, sum by (le) (rate(pvm_api_request_duration_seconds_bucket[$WINDOW])))")
check "API p99 latency, long polls too (s)" '$x > 0 and $x <= 2.5' "$(value "$r" true)"
r=$(query "histogram_quantile(0.5, sum by (le, route) (rate(pvm_api_request_duration_seconds_bucket{route=\"/metrics\"}[$WINDOW])))")
check "/metrics p50 latency (s)" '$x > 0 and $x < 1' "$(value "$r" true)"
r=$(query "sum by (code) (rate(pvm_api_requests_total{code=\"401\"}[$WINDOW]))")
check "401 answers per second" '$x > 0' "$(value "$r" true)"

# The dashboard: every metric its queries name is one pvmd exports (a
# histogram's _bucket by its family), and every query returns data.
aio_api GET /metrics >"$AIO_DIR/metrics"
sed -n 's/^# TYPE \([a-z_0-9]*\) .*/\1/p' "$AIO_DIR/metrics" | sort -u >"$AIO_DIR/families"
jq -e '.panels | length > 0' "$DASHBOARD" >/dev/null || aio_fail "no panels in $DASHBOARD"
jq -r '.panels[] | select(.type != "row") | .targets[]?.expr' "$DASHBOARD" >"$AIO_DIR/exprs"
[ -s "$AIO_DIR/exprs" ] || aio_fail "no queries in $DASHBOARD"
for m in $(grep -o 'pvm_[a-z_0-9]*' "$AIO_DIR/exprs" | sort -u); do
	grep -qx "$m" "$AIO_DIR/families" || grep -qx "${m%_bucket}" "$AIO_DIR/families" ||
		aio_fail "the dashboard names $m, which pvmd does not export"
done
panels=0
while IFS=$'\t' read -r title expr; do
	q=${expr//\$__rate_interval/$WINDOW}
	q=${q//\$host/.*}
	q=${q//\$guest/.*}
	[ "$(query "$q")" != "[]" ] || aio_fail "panel \"$title\" has no data: $q"
	panels=$((panels + 1))
done < <(jq -r '.panels[] | select(.type != "row") | .title as $t | .targets[] | [$t, .expr] | @tsv' "$DASHBOARD")
echo "dashboard: $panels queries, each with data"
