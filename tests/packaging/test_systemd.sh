#!/usr/bin/env bash
# make check-systemd: the packaged pvmd under a real systemd. A Debian 12 root
# (debootstrap, cached in $PVM_SYSTEMD_CACHE) gets the .debs of `make deb`
# and boots with systemd as PID 1 in systemd-nspawn; then pvmd.service must
# become active through sd_notify, answer /healthz and /readyz, run a guest,
# keep it across `systemctl restart` and a SIGKILL (Restart=on-failure) and
# re-adopt it, keep pinging its watchdog (pvmd.service and the controller's
# unit, with WatchdogSec=4), and stop cleanly.
#   usage: tests/packaging/test_systemd.sh DEBDIR
# Needs root and, for the first run, Debian's mirror (debootstrap, apt).
# --register=no --keep-unit: no systemd-machined (nor systemd) runs on the
# machine that starts the container; commands go in with nsenter.
set -euo pipefail
debs=$(realpath "$1")
cache=${PVM_SYSTEMD_CACHE:-/var/tmp/pvm-systemd-root}
mirror=${PVM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: systemd-nspawn needs root"
	exit 0
fi
for t in debootstrap systemd-nspawn nsenter; do
	command -v $t >/dev/null || {
		echo "check-systemd: $t is missing (packaging/install-deps installs it)"
		exit 1
	}
done
work=$(mktemp -d /var/tmp/pvm-systemd.XXXXXX)
root=$work/root
nspawn=
cleanup() {
	if [ -n "$nspawn" ] && kill -0 "$nspawn" 2>/dev/null; then
		kill "$nspawn" 2>/dev/null || true
		wait "$nspawn" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
status=0
fail() {
	echo "FAIL: $*"
	status=1
}

# ---- the root: a cached minimal Debian 12 with systemd, plus the packages
if [ ! -f "$cache/done" ]; then
	echo "check-systemd: debootstrap bookworm into $cache (once)"
	rm -rf "$cache"
	debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl,jq,procps \
		bookworm "$cache" "$mirror" >"$work/debootstrap.log" 2>&1 || {
		tail -n 20 "$work/debootstrap.log"
		exit 1
	}
	touch "$cache/done"
fi
cp -a "$cache" "$root"
echo pvmtest >"$root/etc/hostname"
mkdir -p "$root/tmp/debs"
cp "$debs"/pvmd_*.deb "$debs"/pvmctl_*.deb "$debs"/pvm-microguests_*.deb "$root/tmp/debs/"
deps=$(for d in "$root"/tmp/debs/*.deb; do dpkg-deb -f "$d" Depends; done | tr ',' '\n' |
	sed 's/(.*)//; s/|.*//; s/ //g' | grep -v '^pvm' | sort -u | tr '\n' ' ')
chroot "$root" sh -c "apt-get install -y -qq --no-install-recommends $deps && dpkg -i /tmp/debs/*.deb" \
	>"$work/install.log" 2>&1 || {
	tail -n 20 "$work/install.log"
	exit 1
}

# ---- boot
kvm=()
[ -c /dev/kvm ] && kvm=(--bind=/dev/kvm)
systemd-nspawn -q -D "$root" --register=no --keep-unit --machine=pvmtest "${kvm[@]}" -b \
	>"$work/boot.log" 2>&1 </dev/null &
nspawn=$!
pid1=
for _ in $(seq 100); do
	pid1=$(pgrep -P "$nspawn" -x systemd || true)
	[ -n "$pid1" ] && break
	sleep 0.2
done
[ -n "$pid1" ] || {
	cat "$work/boot.log"
	echo "FAIL: systemd did not start in the container"
	exit 1
}
inside() { nsenter -t "$pid1" -a "$@"; }
sh_in() { inside sh -c "export PVM_TOKEN=\$(cat /var/lib/pvm/admin.token 2>/dev/null); $1"; }
prop() { inside systemctl show -P "$2" "$1"; }
for _ in $(seq 300); do
	[ -S "/proc/$pid1/root/run/systemd/private" ] && break
	sleep 0.2
done
state=$(timeout 120 nsenter -t "$pid1" -a systemctl is-system-running --wait || true)
echo "check-systemd: the container's systemd is $state"
vmm_pids() { sh_in 'pgrep -x pvm-vmm | sort | tr "\n" " "'; }

# ---- pvmd.service, started by the package's postinst at boot
[ "$(prop pvmd ActiveState)" = active ] || fail "pvmd.service is $(prop pvmd ActiveState)"
[ "$(prop pvmd Type)" = notify ] || fail "pvmd.service is not Type=notify"
sh_in 'curl -sf http://127.0.0.1:7070/healthz' | grep -q '"ok"' || fail "no /healthz"
sh_in 'curl -sf -H "Authorization: Bearer $PVM_TOKEN" http://127.0.0.1:7070/readyz' |
	grep -q '"ready"' || fail "not /readyz"
sh_in 'pvmctl guest create idle1 --image idle --restart never --wait' >/dev/null ||
	fail "guest idle1 did not start"
platform=$(sh_in 'pvmctl guest show idle1 -o json | jq -r .platform')
before=$(vmm_pids)
[ -n "$before" ] || fail "no pvm-vmm runs guest idle1"
guest_state() { sh_in 'pvmctl guest show idle1 -o json | jq -r .observed_state'; }
started() { sh_in 'journalctl -u pvmd | grep -c "pvm-vmm started" || true'; }

inside systemctl restart pvmd || fail "systemctl restart pvmd"
[ "$(prop pvmd ActiveState)" = active ] || fail "pvmd.service is not active after a restart"
sleep 3
[ "$(vmm_pids)" = "$before" ] || fail "the restart replaced the guest's pvm-vmm ($before -> $(vmm_pids))"
[ "$(guest_state)" = running ] || fail "guest idle1 is $(guest_state) after the restart"

main=$(prop pvmd MainPID)
inside systemctl kill -s KILL --kill-whom=main pvmd
for _ in $(seq 50); do
	[ "$(prop pvmd NRestarts)" = 1 ] && [ "$(prop pvmd ActiveState)" = active ] && break
	sleep 0.2
done
[ "$(prop pvmd NRestarts)" = 1 ] || fail "SIGKILL: pvmd.service restarted $(prop pvmd NRestarts) times"
[ "$(prop pvmd ActiveState)" = active ] && [ "$(prop pvmd MainPID)" != "$main" ] ||
	fail "SIGKILL: pvmd.service is $(prop pvmd ActiveState), main pid $(prop pvmd MainPID)"
sleep 3
[ "$(vmm_pids)" = "$before" ] || fail "SIGKILL took the guest's pvm-vmm ($before -> $(vmm_pids))"
[ "$(guest_state)" = running ] || fail "guest idle1 is $(guest_state) after SIGKILL"
[ "$(started)" = 1 ] || fail "pvmd started the guest's pvm-vmm $(started) times: not re-adopted"

# ---- the watchdog: it bites here (a unit that never pings fails), and
# with 4 s the roles ping it in time (the host's loop, the controller's)
inside systemd-run -q --unit=pvm-watchdog-probe -p Type=notify -p NotifyAccess=all \
	-p WatchdogSec=2 sh -c 'systemd-notify --ready; sleep 30' || fail "systemd-run"
sleep 6
[ "$(prop pvm-watchdog-probe Result)" = watchdog ] ||
	fail "the watchdog does not bite in this container: $(prop pvm-watchdog-probe Result)"
mkdir -p "$root/etc/systemd/system/pvmd.service.d" "$root/etc/systemd/system/pvmd-controller.service.d"
printf '[Service]\nWatchdogSec=4\n' >"$root/etc/systemd/system/pvmd.service.d/watchdog.conf"
cp "$root/etc/systemd/system/pvmd.service.d/watchdog.conf" "$root/etc/systemd/system/pvmd-controller.service.d/"
inside systemctl daemon-reload
inside systemctl restart pvmd
n=$(prop pvmd NRestarts)
sleep 12
[ "$(prop pvmd ActiveState)" = active ] && [ "$(prop pvmd NRestarts)" = "$n" ] ||
	fail "WatchdogSec=4: pvmd.service is $(prop pvmd ActiveState), restarted" \
		"$(($(prop pvmd NRestarts) - n)) times"
inside systemctl start pvmd-controller || fail "pvmd-controller.service did not start" # Conflicts= stops pvmd.service
sleep 12
[ "$(prop pvmd-controller ActiveState)" = active ] && [ "$(prop pvmd-controller NRestarts)" = 0 ] ||
	fail "WatchdogSec=4: pvmd-controller.service is $(prop pvmd-controller ActiveState)" \
		"after $(prop pvmd-controller NRestarts) restarts"
[ "$(prop pvmd ActiveState)" = inactive ] || fail "pvmd-controller.service left pvmd.service running"
if sh_in 'journalctl -u "pvmd*" | grep -q "Watchdog timeout"'; then
	fail "a watchdog timeout: $(sh_in 'journalctl -u "pvmd*" | grep "Watchdog timeout"')"
fi

# ---- a clean stop: the guests stay (KillMode=process), the result is success
inside systemctl stop pvmd-controller
inside systemctl start pvmd
inside systemctl stop pvmd
[ "$(prop pvmd ActiveState)" = inactive ] && [ "$(prop pvmd Result)" = success ] ||
	fail "stop: pvmd.service is $(prop pvmd ActiveState), result $(prop pvmd Result)"
[ "$(vmm_pids)" = "$before" ] || fail "stopping pvmd took the guest's pvm-vmm"

if [ $status != 0 ]; then
	sh_in 'journalctl -u "pvmd*" --no-pager -o cat | grep -v "access method" | tail -n 40' || true
fi
inside systemctl poweroff || true
wait "$nspawn" || true
nspawn=
[ $status = 0 ] && echo "check-systemd: pvmd.service active (notify), /healthz and /readyz," \
	"guest on the $platform platform kept across restart and SIGKILL, watchdog pinged," \
	"clean stop"
exit $status
