# SPDX-License-Identifier: MIT
# Sourced by the scrape tests: an all-in-one pvmd (controller and host in one
# process, real pvm-vmm processes) in a temporary folder, with guests.
# Everything it starts is stopped by its pid in aio_cleanup.

AIO_DIR=""
AIO_URL=""
AIO_PID=""

aio_fail() {
	echo "FAIL: $*" >&2
	[ -n "$AIO_DIR" ] && [ -f "$AIO_DIR/pvmd.log" ] && tail -n 20 "$AIO_DIR/pvmd.log" >&2
	exit 1
}

# Seconds since the epoch, for deadlines.
aio_now() {
	date +%s
}

# aio_start PVMD VMM IMAGE_DIR: pvmd on a free loopback port, its URL and
# admin token read from what it prints on stdout.
aio_start() {
	local deadline
	AIO_DIR=$(mktemp -d /tmp/pvm-scrape-XXXXXX)
	"$1" --state-dir "$AIO_DIR/state" --listen 127.0.0.1:0 --vmm "$2" --image-dir "$3" \
		--report-interval-ms 200 --stop-guests-on-exit \
		>"$AIO_DIR/pvmd.out" 2>"$AIO_DIR/pvmd.log" &
	AIO_PID=$!
	deadline=$(($(aio_now) + 30))
	until grep -q '^admin token: ' "$AIO_DIR/pvmd.out"; do
		kill -0 "$AIO_PID" 2>/dev/null || aio_fail "pvmd exited at start"
		[ "$(aio_now)" -lt "$deadline" ] || aio_fail "pvmd printed no URL and token in 30 s"
		sleep 0.1
	done
	AIO_URL=$(sed -n 's/^pvm is running: //p' "$AIO_DIR/pvmd.out")
	AIO_TOKEN_FILE=$(sed -n 's/^admin token: //p' "$AIO_DIR/pvmd.out")
	[ -n "$AIO_URL" ] && [ -s "$AIO_TOKEN_FILE" ] || aio_fail "no URL or token file"
}

# aio_api METHOD PATH [BODY]: the answer's body on stdout, its status in
# $AIO_DIR/status.
aio_api() {
	local args=(-s -o "$AIO_DIR/body" -w '%{http_code}' -X "$1"
		-H "Authorization: Bearer $(cat "$AIO_TOKEN_FILE")")
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	curl "${args[@]}" "$AIO_URL$2" >"$AIO_DIR/status" || aio_fail "curl $1 $2"
	cat "$AIO_DIR/body"
}

# aio_guest BODY: creates a guest, prints its id.
aio_guest() {
	local ans
	ans=$(aio_api POST /v1/guests "$1")
	[ "$(cat "$AIO_DIR/status")" = 201 ] || aio_fail "create: $(cat "$AIO_DIR/status") $ans"
	jq -r .id <<<"$ans"
}

# aio_wait_state ID STATE: polls the guest until it is observed in STATE (60 s).
aio_wait_state() {
	local deadline=$(($(aio_now) + 60)) s=""
	while [ "$(aio_now)" -lt "$deadline" ]; do
		s=$(aio_api GET "/v1/guests/$1" | jq -r .observed_state)
		[ "$s" = "$2" ] && return 0
		sleep 0.2
	done
	aio_fail "guest $1 is $s, not $2, after 60 s"
}

# The guests every scrape test runs: a pv console guest and its emulated twin
# (both run to completion), and a pv idle guest whose hooks keep being called.
aio_guests() {
	AIO_PV=$(aio_guest '{"name":"pv1","image":"console","vcpus":1,"memory_mib":64,
		"cmdline":"bytes=16384","restart_policy":"never","pv":{"hooks_required":["console"]}}')
	AIO_EMU=$(aio_guest '{"name":"emu1","image":"console","vcpus":1,"memory_mib":64,
		"cmdline":"bytes=16384","restart_policy":"never","pv":{"needs_emulation":true}}')
	AIO_IDLE=$(aio_guest '{"name":"idle1","image":"idle","vcpus":1,"memory_mib":64}')
	aio_wait_state "$AIO_PV" stopped
	aio_wait_state "$AIO_EMU" stopped
	aio_wait_state "$AIO_IDLE" running
}

# aio_stop_pid PID: SIGTERM, then SIGKILL after 20 s; reaps it.
aio_stop_pid() {
	local deadline=$(($(aio_now) + 20))
	kill -TERM "$1" 2>/dev/null || return 0
	while kill -0 "$1" 2>/dev/null && [ "$(aio_now)" -lt "$deadline" ]; do
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

aio_cleanup() {
	# pvmd stops its guests on SIGTERM (--stop-guests-on-exit)
	[ -n "$AIO_PID" ] && aio_stop_pid "$AIO_PID"
	[ -n "$AIO_DIR" ] && rm -rf "$AIO_DIR"
}
