#!/usr/bin/env bash
# The Debian package a packager gets from `cpack -G DEB`: every binary, the
# microguest images, the systemd unit, the man page, completions, and the
# configuration as a conffile.
set -euo pipefail
builddir=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd "$builddir" && cpack -G DEB -B "$out" >"$out/cpack.log" 2>&1) || {
	cat "$out/cpack.log"
	exit 1
}
deb=$(ls "$out"/pvm_*.deb)
dpkg-deb -c "$deb" | awk '{print $6}' >"$out/files"
status=0
for f in ./usr/bin/pvmd ./usr/bin/pvm-vmm ./usr/bin/pvmctl ./usr/bin/pvm-agent \
	./usr/lib/pvm/images/guest-console ./usr/lib/systemd/system/pvmd.service \
	./usr/share/man/man1/pvmctl.1 ./etc/pvm/pvmd.ini \
	./usr/share/bash-completion/completions/pvmctl; do
	if ! grep -qx "$f" "$out/files"; then
		echo "missing from the package: $f"
		status=1
	fi
done
dpkg-deb -e "$deb" "$out/control"
grep -qx /etc/pvm/pvmd.ini "$out/control/conffiles" || {
	echo "pvmd.ini is not a conffile"
	status=1
}
grep -q '^Depends:.*libmicrohttpd' "$out/control/control" || {
	echo "shared library dependencies missing from the control file"
	status=1
}
[ $status = 0 ] && echo "packaging_deb: $(basename "$deb") has $(wc -l <"$out/files") entries"
exit $status
