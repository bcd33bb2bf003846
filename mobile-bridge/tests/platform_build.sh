#!/bin/sh
# platform_build.sh SOURCE_DIR BUILD_DIR C_COMPILER [CMAKE]
#
# Build mobile-bridge/platform (the phone build of docs/mobile.md) natively,
# as a check that the project an Android or iOS build points CMake at still
# configures, compiles and installs headers an app can compile against, and
# that its libveld_jni.so exports only JNI entry points.
# test_bridge_java_platform then runs the Java test on it.
set -eu
src=$1
build=$2
cc=$3
cmake=${4:-cmake}
here=$(dirname "$0")
rm -rf "$build"
"$cmake" -S "$src/mobile-bridge/platform" -B "$build" -DVELD_JNI=ON \
	-DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build.log" 2>&1 ||
	{ cat "$build.log"; exit 1; }
"$cmake" --build "$build" -j 2 >>"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
test -f "$build/libveld.a"
# An app compiles against what the build installs: the bridge's header must
# compile from the installed include directory alone (it includes
# veld_errors.h, which lives in core/include in the source tree).
"$cmake" --install "$build" --prefix "$build/installed" >>"$build.log" 2>&1 ||
	{ cat "$build.log"; exit 1; }
printf '#include "veld_bridge.h"\nint app(void) { return veld_bridge_abi_check(0) == VELD_EINVAL; }\n' \
	>"$build/installed.c"
"$cc" -std=c11 -pedantic -Wall -Wextra -Werror -I"$build/installed/include" \
	-c "$build/installed.c" -o "$build/installed.o"
sh "$here/check_symbols.sh" "$build/libveld_jni.so" '^(Java_org_veld_[A-Za-z0-9_]+|JNI_OnLoad)$'
