#!/bin/sh
# package_test.sh SOURCE_DIR BUILD_DIR
#
# Build the Debian packages as cli/debian/package.cmake says (a tree of its
# own configured for /usr, without tests, then CPack), and check them:
#  - lintian reports no error;
#  - each package holds what it should, with the right dependencies
#    (libveld0's found by dpkg-shlibdeps, libveld-dev on libveld0 of the
#    same version), shlibs and the ldconfig trigger, conffiles;
#  - unpacked into a directory, the veld command runs, and a C program
#    builds through pkg-config against the unpacked libveld-dev and runs
#    on the unpacked libveld0;
#  - the systemd unit passes `systemd-analyze verify`, and its exposure
#    (`systemd-analyze security`) is at most 2.0 ("OK"), where systemd is
#    there to ask.
set -eu
src=$1
build=$2
out=$build/packages
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "package_test: $*" >&2; exit 1; }
for tool in cpack lintian dpkg-deb dpkg-shlibdeps; do
  command -v $tool >/dev/null || fail "$tool is missing (.ci/install-deps installs it)"
done

rm -rf "$out"
cmake -S "$src" -B "$out" -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DVELD_BUILD_TESTS=OFF >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; fail "configure failed"; }
cmake --build "$out" -j 2 >"$tmp/build.log" 2>&1 || { tail -30 "$tmp/build.log"; fail "build failed"; }
(cd "$out" && cpack -G DEB) >"$tmp/cpack.log" 2>&1 || { cat "$tmp/cpack.log"; fail "cpack failed"; }
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$out/CMakeCache.txt")-1
arch=$(dpkg --print-architecture)
triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
cli=$out/veld_${version}_$arch.deb
lib=$out/libveld0_${version}_$arch.deb
dev=$out/libveld-dev_${version}_$arch.deb
for d in "$cli" "$lib" "$dev"; do [ -f "$d" ] || fail "$(basename "$d") was not made"; done

# lintian: warnings are shown, an error fails
lintian "$cli" "$lib" "$dev" >"$tmp/lintian.txt" 2>&1 || true
cat "$tmp/lintian.txt"
grep -q '^E:' "$tmp/lintian.txt" && fail "lintian reports errors"
grep -q '^[EWIN]:\|^$' "$tmp/lintian.txt" || [ ! -s "$tmp/lintian.txt" ] || fail "lintian did not run: $(head -3 "$tmp/lintian.txt")"

# contents and control fields
has() { dpkg-deb -c "$1" | awk '{print $6}' | grep -qx "$2" || fail "$(basename "$1") lacks $2"; }
field() { dpkg-deb -f "$1" "$2"; }
has "$cli" ./usr/bin/veld
has "$cli" ./usr/share/man/man1/veld.1.gz
has "$cli" ./usr/share/bash-completion/completions/veld
has "$cli" ./usr/lib/systemd/system/veld.service
has "$cli" ./etc/default/veld
has "$lib" ./usr/lib/$triplet/libveld.so.${version%-1}
has "$lib" ./usr/lib/$triplet/libveld.so.0
has "$dev" ./usr/lib/$triplet/libveld.so
has "$dev" ./usr/lib/$triplet/libveld.a
has "$dev" ./usr/include/veld/veld.h
has "$dev" ./usr/include/veld/veld_bridge.h
has "$dev" ./usr/include/veld/module.modulemap
has "$dev" ./usr/lib/$triplet/pkgconfig/veld.pc
has "$dev" ./usr/lib/$triplet/cmake/veld/veldConfig.cmake
for d in "$cli" "$lib" "$dev"; do
  p=$(field "$d" Package)
  has "$d" ./usr/share/doc/$p/copyright
  has "$d" ./usr/share/doc/$p/changelog.Debian.gz
done
dpkg-deb -c "$lib" | awk '{print $6}' | grep -v '^\./usr/share/doc/\|/$' | grep -v "libveld\.so\.0" \
  && fail "libveld0 holds more than the library"
field "$lib" Depends | grep -q 'libsodium' || fail "libveld0's Depends lacks libsodium: $(field "$lib" Depends)"
field "$dev" Depends | grep -q "libveld0 (= $version)" || fail "libveld-dev does not depend on libveld0 (= $version)"
field "$cli" Depends | grep -q 'libsqlite3' || fail "veld's Depends lacks libsqlite3"
dpkg-deb -e "$lib" "$tmp/lib.control"
grep -q "^libveld 0 libveld0" "$tmp/lib.control/shlibs" || fail "libveld0 has no shlibs entry"
grep -q "activate-noawait ldconfig" "$tmp/lib.control/triggers" || fail "libveld0 lacks the ldconfig trigger"
dpkg-deb -e "$cli" "$tmp/cli.control"
grep -qx "/etc/default/veld" "$tmp/cli.control/conffiles" || fail "/etc/default/veld is not a conffile"

# unpacked: the command, and a program built against the packages
root=$tmp/root
for d in "$cli" "$lib" "$dev"; do dpkg-deb -x "$d" "$root"; done
[ "$("$root/usr/bin/veld" --version)" = "veld ${version%-1}" ] || fail "the packaged veld --version"
grep -q "^ExecStart=/usr/bin/veld serve --data /var/lib/veld" "$root/usr/lib/systemd/system/veld.service" \
  || fail "the unit does not run /usr/bin/veld"
export PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_LIBDIR="$root/usr/lib/$triplet/pkgconfig:/usr/lib/$triplet/pkgconfig:/usr/share/pkgconfig"
cc -o "$tmp/hello" "$src/tests/install/consumer/hello.c" $(pkg-config --cflags --libs veld) \
  || fail "hello does not build against the packages"
LD_LIBRARY_PATH="$root/usr/lib/$triplet" "$tmp/hello" "$tmp/store" | grep -q '"clients": *1' \
  || fail "hello on the packaged libveld0 failed"

# the unit
if command -v systemd-analyze >/dev/null; then
  # verify wants the command to exist: the unpacked one stands in for it
  sed "s|^ExecStart=/usr/bin/veld|ExecStart=$root/usr/bin/veld|" \
    "$root/usr/lib/systemd/system/veld.service" >"$tmp/veld.service"
  systemd-analyze verify --man=no "$tmp/veld.service" || fail "systemd-analyze verify rejects the unit"
  systemd-analyze security --offline=true --no-pager "$root/usr/lib/systemd/system/veld.service" \
    >"$tmp/security.txt" 2>&1 || true
  grep "Overall exposure" "$tmp/security.txt" || fail "systemd-analyze security: $(tail -3 "$tmp/security.txt")"
  systemd-analyze security --offline=true --threshold=20 --no-pager \
    "$root/usr/lib/systemd/system/veld.service" >/dev/null 2>&1 || fail "the unit's exposure is above 2.0"
else
  echo "package_test: systemd-analyze not here: the unit's checks skipped"
fi
echo "package_test: ok ($(basename "$cli") $(basename "$lib") $(basename "$dev"))"
