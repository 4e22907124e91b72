#!/usr/bin/env bash
# make check-deb: the .debs of `make deb` installed with dpkg into a fresh
# root (dpkg --root, maintainer scripts included), then upgraded to a newer
# version, removed and purged.
#   usage: tests/packaging/test_deb_install.sh DEBDIR
# The root holds a shell and rm only, for the maintainer scripts: no systemd
# runs there, so the scripts' systemctl steps are skipped as on any
# systemd-less root. Libraries come from this machine (--force-depends): the
# installed binaries run with them.
set -euo pipefail
debs=$(realpath "$1")
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: dpkg --root needs root (chroot for the maintainer scripts)"
	exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
status=0
fail() {
	echo "FAIL: $*"
	status=1
}
dpkg_root() {
	dpkg --root="$root" --force-depends --force-confdef --force-confold "$@" \
		>>"$work/dpkg.log" 2>&1 || {
		cat "$work/dpkg.log"
		echo "FAIL: dpkg $*"
		exit 1
	}
}
version() { dpkg-query --root="$root" -W -f='${Version}' "$1" 2>/dev/null || true; }

# ---- a fresh root: usr-merged, with dpkg's database and /bin/sh, rm
mkdir -p "$root"/{etc,var/lib/dpkg/{info,updates},usr/bin,usr/sbin,usr/lib,usr/lib64,tmp,run}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
: >"$root/var/lib/dpkg/status"
: >"$root/var/lib/dpkg/available"
for p in sh rm; do
	bin=$(readlink -f "$(command -v $p)")
	cp "$bin" "$root/usr/bin/$p"
	for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
		mkdir -p "$root/usr$(dirname "${lib#/usr}")"
		cp -n "$lib" "$root/usr${lib#/usr}"
	done
done
# dpkg wants these on PATH inside the root; none of pvm's scripts calls them.
for p in ldconfig start-stop-daemon; do
	printf '#!/bin/sh\nexit 0\n' >"$root/usr/sbin/$p"
	chmod +x "$root/usr/sbin/$p"
done
(cd "$root" && find . ! -path './var/lib/dpkg*' | sort) >"$work/before"
# As on a real system, where base-files and libc6 own /lib and the rest, the
# root's own files belong to a package: dpkg must not take them on a purge.
cat >"$root/var/lib/dpkg/status" <<EOF
Package: pvm-test-base
Status: install ok installed
Maintainer: pvm tests <root@localhost>
Architecture: all
Version: 1
Description: the test root's own files

EOF
sed -e 's|^\.$|/.|' -e 's|^\./|/|' "$work/before" >"$root/var/lib/dpkg/info/pvm-test-base.list"

pkgs=(pvmd pvmctl pvm-agent pvm-microguests)
files=()
for p in "${pkgs[@]}"; do
	f=$(ls "$debs/${p}_"*.deb)
	files+=("$f")
done

# ---- install
dpkg_root -i "${files[@]}"
for p in "${pkgs[@]}"; do
	dpkg-query --root="$root" -W -f='${Status}' "$p" | grep -qx 'install ok installed' ||
		fail "$p is not installed"
done
for f in usr/bin/pvmd usr/bin/pvm-vmm usr/bin/pvmctl usr/bin/pvm-sim usr/bin/pvm-agent \
	lib/systemd/system/pvmd.service lib/systemd/system/pvmd-controller.service \
	lib/systemd/system/pvmd-host.service etc/pvm/pvmd.ini \
	usr/share/man/man8/pvmd.8.gz usr/share/man/man1/pvmctl.1.gz \
	usr/share/man/man1/pvm-vmm.1.gz usr/share/man/man1/pvm-agent.1.gz \
	usr/share/man/man1/pvm-sim.1.gz \
	usr/share/bash-completion/completions/pvmctl usr/share/zsh/vendor-completions/_pvmctl \
	usr/lib/pvm/images/guest-console usr/lib/pvm/images/guest-block; do
	[ -e "$root/$f" ] || fail "/$f is not installed"
done
dpkg-query --root="$root" -W -f='${Conffiles}\n' pvmd | grep -q '^ /etc/pvm/pvmd.ini ' ||
	fail "/etc/pvm/pvmd.ini is not a conffile"
grep -q '^image_dir = /usr/lib/pvm/images$' "$root/etc/pvm/pvmd.ini" ||
	fail "pvmd.ini's image_dir is not where pvm-microguests puts the images"
grep -q 'ExecStart=/usr/bin/pvmd --config /etc/pvm/pvmd.ini' "$root/lib/systemd/system/pvmd.service" ||
	fail "pvmd.service does not start /usr/bin/pvmd with /etc/pvm/pvmd.ini"
# The installed binaries run, and so does an installed microguest (built
# with Debian's compiler flags) under the installed VMM.
"$root/usr/bin/pvmctl" --help | grep -q guest || fail "the installed pvmctl does not run"
"$root/usr/bin/pvmd" --help | grep -q -- --role || fail "the installed pvmd does not run"
out=$(timeout 30 "$root/usr/bin/pvm-vmm" run --platform process \
	--image "$root/usr/lib/pvm/images/guest-console") || fail "the installed guest-console failed"
grep -q '^line 00000099 ' <<<"$out" || fail "the installed guest-console printed: ${out:0:200}"
# The units as installed: systemd finds nothing to say about them.
"$(dirname "$0")/verify_units" "$root" || fail "systemd-analyze verify"

# ---- what an operator adds: a local setting, a token, state
echo 'listen = 127.0.0.1:7171' >>"$root/etc/pvm/pvmd.ini"
echo 'secret' >"$root/etc/pvm/host.token"
mkdir -p "$root/var/lib/pvm/guests/g1"
echo store >"$root/var/lib/pvm/pvm.db"
echo keep >"$root/tmp/unrelated"

# ---- upgrade to a newer build whose pvmd.ini changed too: the operator's
# copy stays (the new one beside it, as .dpkg-dist), the state stays.
old=$(version pvmd)
new="$old+1"
upgrade=()
for f in "${files[@]}"; do
	x=$work/x/$(basename "$f")
	mkdir -p "$work/x"
	dpkg-deb -R "$f" "$x"
	sed -i "s/^Version: .*/Version: $new/" "$x/DEBIAN/control"
	if [ -f "$x/etc/pvm/pvmd.ini" ]; then
		echo '; a setting the new version documents' >>"$x/etc/pvm/pvmd.ini"
		(cd "$x" && find . -path ./DEBIAN -prune -o -type f ! -path './etc/*' -printf '%P\0' |
			xargs -0 md5sum >DEBIAN/md5sums)
	fi
	dpkg-deb --root-owner-group -b "$x" "$work/$(basename "$f" .deb)-new.deb" >/dev/null
	upgrade+=("$work/$(basename "$f" .deb)-new.deb")
done
dpkg_root -i "${upgrade[@]}"
[ "$(version pvmd)" = "$new" ] || fail "pvmd is at $(version pvmd) after the upgrade, not $new"
grep -q '^listen = 127.0.0.1:7171$' "$root/etc/pvm/pvmd.ini" ||
	fail "the upgrade lost the operator's pvmd.ini"
grep -q 'a setting the new version documents' "$root/etc/pvm/pvmd.ini.dpkg-dist" ||
	fail "the upgrade did not leave the new pvmd.ini as pvmd.ini.dpkg-dist"
[ "$(cat "$root/var/lib/pvm/pvm.db")" = store ] && [ -d "$root/var/lib/pvm/guests/g1" ] ||
	fail "the upgrade lost the state directory"

# ---- remove keeps the configuration and the state; purge takes both
dpkg_root -r "${pkgs[@]}"
[ ! -e "$root/usr/bin/pvmd" ] || fail "remove left /usr/bin/pvmd"
[ -f "$root/etc/pvm/pvmd.ini" ] || fail "remove took the configuration"
[ -f "$root/var/lib/pvm/pvm.db" ] || fail "remove took the state"
dpkg_root -P "${pkgs[@]}"
for f in etc/pvm/pvmd.ini etc/pvm/pvmd.ini.dpkg-dist var/lib/pvm usr/lib/pvm \
	lib/systemd/system/pvmd.service; do
	[ ! -e "$root/$f" ] || fail "purge left /$f"
done
# ... and nothing else: what the operator wrote beside it stays.
[ "$(cat "$root/etc/pvm/host.token")" = secret ] || fail "purge took /etc/pvm/host.token"
rm "$root/etc/pvm/host.token"
rmdir "$root/etc/pvm"
[ "$(cat "$root/tmp/unrelated")" = keep ] || fail "purge took /tmp/unrelated"
rm "$root/tmp/unrelated"
(cd "$root" && find . ! -path './var/lib/dpkg*' | sort) >"$work/after"
diff -u "$work/before" "$work/after" || fail "purge did not leave the root as it was"

[ $status = 0 ] && echo "check-deb: ${#pkgs[@]} packages installed, upgraded $old -> $new," \
	"removed and purged in a fresh root"
exit $status
