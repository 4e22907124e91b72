#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# pvmd backup and restore, end to end: a backup of a controller's store
# while the controller serves and a client keeps creating images through its
# API; the backup holds every image created before it began and restores into
# a new state directory that a second pvmd serves; restore refuses a store
# already there without --force, and with it puts the backup in place.
# Usage: test_pvmd_backup.sh PVMD
set -euo pipefail
PVMD=$1
DIR=$(mktemp -d /tmp/pvm-backup-XXXXXX)
PID=""
WRITER=""

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

stop() {
	local deadline=$(($(date +%s) + 20))
	kill -TERM "$1" 2>/dev/null || return 0
	while kill -0 "$1" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

cleanup() {
	[ -n "$WRITER" ] && stop "$WRITER"
	[ -n "$PID" ] && stop "$PID"
	rm -rf "$DIR"
}
trap cleanup EXIT

# start STATE_DIR: a controller on a free port; sets PID, URL, TOKEN.
start() {
	local deadline=$(($(date +%s) + 30))
	: >"$DIR/log"
	"$PVMD" --role controller --state-dir "$1" --listen 127.0.0.1:0 2>"$DIR/log" &
	PID=$!
	until grep -q 'controller listening on ' "$DIR/log"; do
		kill -0 "$PID" 2>/dev/null || fail "pvmd exited: $(tail -5 "$DIR/log")"
		[ "$(date +%s)" -lt "$deadline" ] || fail "pvmd did not start: $(tail -3 "$DIR/log")"
		sleep 0.1
	done
	URL=$(sed -n 's/.*controller listening on \([^ ,]*\).*/\1/p' "$DIR/log")
	# a restored store keeps its tokens: the first store's admin token
	# still opens it, and no new one is written
	if [ -f "$1/admin.token" ]; then TOKEN=$(cat "$1/admin.token"); fi
}

image() {
	curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		--data-binary "{\"name\":\"$1\",\"format\":\"elf\",\"source\":\"/images/$1.elf\"}" \
		"$URL/v1/images"
}

images() {
	curl -sf -H "Authorization: Bearer $TOKEN" "$URL/v1/images?limit=1000" |
		jq -r '.items[].name' | sort
}

start "$DIR/a"
for i in $(seq -w 1 20); do image "pre$i" || fail "image pre$i"; done
# the writer: images created one after another for as long as the backup runs
(for i in $(seq -w 1 100000); do image "w$i" || exit 0; done) &
WRITER=$!
sleep 0.5
"$PVMD" backup --state-dir "$DIR/a" --to "$DIR/backup.db" >"$DIR/backup.out" ||
	fail "backup of a serving pvmd"
sleep 0.5
kill -0 "$WRITER" 2>/dev/null || fail "the writer stopped during the backup"
stop "$WRITER"
WRITER=""
[ "$(stat -c %a "$DIR/backup.db")" = 600 ] || fail "backup is not owner-only"
"$PVMD" backup --state-dir "$DIR/a" --to "$DIR/backup.db" 2>/dev/null &&
	fail "a second backup overwrote the first"
images >"$DIR/live"

# restore into a new state directory, served by a second pvmd
"$PVMD" restore --from "$DIR/backup.db" --state-dir "$DIR/b" >/dev/null || fail "restore"
stop "$PID"
start "$DIR/b"
[ ! -e "$DIR/b/admin.token" ] || fail "a new admin token beside the restored ones"
images >"$DIR/restored"
for i in $(seq -w 1 20); do grep -qx "pre$i" "$DIR/restored" || fail "pre$i not restored"; done
# what was written while it ran: a consistent prefix of what the live store holds
n=$(grep -c '^w' "$DIR/restored" || true)
grep '^w' "$DIR/live" | head -n "$n" | cmp -s - <(grep '^w' "$DIR/restored") ||
	fail "the backup's images are not a prefix of the live store's"
[ "$(wc -l <"$DIR/restored")" -lt "$(wc -l <"$DIR/live")" ] ||
	fail "nothing was written after the backup began"
stop "$PID"
PID=""

# over a store that is there: refused without --force, replaced with it
"$PVMD" restore --from "$DIR/backup.db" --state-dir "$DIR/a" 2>"$DIR/err" &&
	fail "restore replaced a store without --force"
grep -q -- '--force' "$DIR/err" || fail "the refusal does not say how: $(cat "$DIR/err")"
"$PVMD" restore --from "$DIR/backup.db" --state-dir "$DIR/a" --force >/dev/null ||
	fail "restore --force"
start "$DIR/a"
images | cmp -s - "$DIR/restored" || fail "restore --force did not put the backup in place"
echo "backup while writing: $n of $(grep -c '^w' "$DIR/live") writer images in it; restored twice"
