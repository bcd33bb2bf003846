#!/bin/sh
# test_arm64.sh SOURCE_DIR BUILD_DIR SYSROOT CMAKE CTEST
#
# The phone build (mobile-bridge/platform) cross-compiled for 64-bit ARM
# Linux with Debian's cross compiler, its C tests included
# (VELD_PLATFORM_TESTS), then run under qemu-user: the bridge's tests, its
# threads with a server in the process, and the device-side unit tests.
# docs/mobile.md ("arm64 under qemu") says what this proves about phones.
#
# SYSROOT holds Debian's arm64 libraries unpacked (.ci/install-cross-deps,
# run by `make test`).
#
# Exit 77 (ctest SKIP_RETURN_CODE) with one line saying why when this
# machine cannot do it; any failure to build, an output that is not AArch64,
# or a test failing under qemu fails.
set -eu
src=$1
build=$2
sysroot=$3
cmake=$4
ctest=$5
prefix=aarch64-linux-gnu-

skip() {
	echo "test_arm64: SKIPPED: $*"
	exit 77
}
command -v ${prefix}gcc >/dev/null 2>&1 ||
	skip "no cross compiler ${prefix}gcc (Debian package gcc-aarch64-linux-gnu; .ci/install-deps installs it)"
command -v qemu-aarch64 >/dev/null 2>&1 || command -v qemu-aarch64-static >/dev/null 2>&1 ||
	skip "no qemu-aarch64 to run AArch64 programs (Debian package qemu-user; .ci/install-deps installs it)"
[ -f "$sysroot/.veld-packages" ] ||
	skip "no arm64 libraries in $sysroot (.ci/install-cross-deps $sysroot unpacks them)"

log=$build.log
mkdir -p "$build"
# -Werror: the target's compiler must see no warning either (the platform
# project leaves warnings as warnings for apps' newer compilers).
"$cmake" -S "$src/mobile-bridge/platform" -B "$build" \
	-DCMAKE_TOOLCHAIN_FILE="$src/mobile-bridge/platform/toolchain-aarch64-linux-gnu.cmake" \
	-DVELD_AARCH64_SYSROOT="$sysroot" -DVELD_PLATFORM_TESTS=ON -DCMAKE_C_FLAGS=-Werror >"$log" 2>&1 ||
	{ cat "$log"; echo "test_arm64: the cross build does not configure"; exit 1; }
"$cmake" --build "$build" -j 2 >>"$log" 2>&1 ||
	{ cat "$log"; echo "test_arm64: the cross build does not compile"; exit 1; }

# Every object in libveld.a and every test program must be AArch64 code
# (ELF64, little-endian): a toolchain file that was silently ignored would
# build for this machine, and the tests would then pass without qemu.
aarch64() { # FILE...: each ELF header in them says AArch64
	${prefix}readelf -h "$@" 2>/dev/null | awk '
		function odd(what) { if (!seen[what]++) bad = bad " " what }
		/^ *Class:/   { n++; if ($2 != "ELF64") odd($2) }
		/^ *Data:/    { if ($0 !~ /little endian/) odd("big-endian") }
		/^ *Machine:/ { m++; sub(/^ *Machine: */, ""); if ($0 != "AArch64") odd($0) }
		END { if (n == 0 || m != n || bad != "") { print bad; exit 1 } }'
}
# Each test is a program of its own name in the build directory.
programs=$("$ctest" --test-dir "$build" -N | sed -n "s|^ *Test *#[0-9]*: *|$build/|p")
[ -n "$programs" ] || { echo "test_arm64: the cross build registered no test"; exit 1; }
for f in "$build/libveld.a" $programs; do
	bad=$(aarch64 "$f") || { echo "test_arm64: $f is not AArch64 code:$bad"; exit 1; }
done
echo "test_arm64: libveld.a and $(echo "$programs" | wc -l) test programs are AArch64 ELF64 little-endian"

# Under qemu (the toolchain file's CMAKE_CROSSCOMPILING_EMULATOR). test_merge,
# 300-400 random histories each replayed in many orders, takes minutes under
# qemu: it runs with VELD_ARM64_ALL=1 (label "slow").
exclude="-LE slow"
[ "${VELD_ARM64_ALL:-0}" = 1 ] && exclude=""
# shellcheck disable=SC2086
"$ctest" --test-dir "$build" -j 2 --no-tests=error --output-on-failure $exclude ||
	{ echo "test_arm64: a C test failed on AArch64 (under qemu)"; exit 1; }
