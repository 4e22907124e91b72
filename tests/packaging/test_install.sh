#!/usr/bin/env bash
# packaging_install: `cmake --install` of a build tree puts every component
# where the Debian packages have it (packaging/CMakeLists.txt is the one list
# for both), and the systemd units it generates verify clean.
#   usage: tests/packaging/test_install.sh BUILDDIR
set -euo pipefail
build=$1
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
status=0
for c in pvmd pvmctl pvm-agent pvm-microguests; do
	DESTDIR=$dest/$c cmake --install "$build" --component "$c" >/dev/null
done
DESTDIR=$dest/all cmake --install "$build" >/dev/null
# The prefix the build tree was configured with (/usr/local by default).
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
unitdir=$(sed -n 's/^PVM_SYSTEMD_UNITDIR:PATH=//p' "$build/CMakeCache.txt")
expect() {
	for f in "${@:2}"; do
		[ -e "$dest/$1/$f" ] || {
			echo "component $1: $f is not installed"
			status=1
		}
		[ -e "$dest/all/$f" ] || {
			echo "cmake --install: $f is not installed"
			status=1
		}
	done
}
expect pvmd "$prefix/bin/pvmd" "$prefix/bin/pvm-vmm" "$unitdir/pvmd.service" \
	"$unitdir/pvmd-controller.service" "$unitdir/pvmd-host.service" \
	"$prefix/share/man/man8/pvmd.8" "$prefix/share/man/man1/pvm-vmm.1"
expect pvmctl "$prefix/bin/pvmctl" "$prefix/bin/pvm-sim" "$prefix/share/man/man1/pvmctl.1" \
	"$prefix/share/man/man1/pvm-sim.1" "$prefix/share/bash-completion/completions/pvmctl" \
	"$prefix/share/zsh/vendor-completions/_pvmctl"
expect pvm-agent "$prefix/bin/pvm-agent" "$prefix/share/man/man1/pvm-agent.1"
expect pvm-microguests "$prefix/lib/pvm/images/guest-console" "$prefix/lib/pvm/images/guest-block"
conf=$(find "$dest/pvmd" -name pvmd.ini)
[ -n "$conf" ] || {
	echo "component pvmd: no pvmd.ini"
	status=1
}
# The components split the install: no file in two, none left out.
(cd "$dest/all" && find . ! -type d | sort) >"$dest/all.list"
for c in pvmd pvmctl pvm-agent pvm-microguests; do
	(cd "$dest/$c" && find . ! -type d)
done | sort >"$dest/components.list"
diff -u "$dest/all.list" "$dest/components.list" || {
	echo "the components do not add up to cmake --install"
	status=1
}
# The units with their paths: verify them where the build installs them.
r=$dest/root
mkdir -p "$r/lib/systemd/system" "$r/usr/bin"
cp "$dest/pvmd/$unitdir"/*.service "$r/lib/systemd/system/"
sed -i "s|$prefix/bin/pvmd|/usr/bin/pvmd|" "$r"/lib/systemd/system/*.service
cp "$dest/pvmd/$prefix/bin/pvmd" "$r/usr/bin/"
"$(dirname "$0")/verify_units" "$r" || status=1
[ $status = 0 ] && echo "packaging_install: $(wc -l <"$dest/all.list") files in 4 components"
exit $status
