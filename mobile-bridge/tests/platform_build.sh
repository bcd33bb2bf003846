#!/bin/sh
# platform_build.sh SOURCE_DIR BUILD_DIR C_COMPILER [CMAKE]
#
# Build mobile-bridge/platform (the phone build of docs/mobile.md) natively,
# as a check that the project an Android or iOS build points CMake at still
# configures and compiles, and that its libveld_jni.so exports only JNI
# entry points. test_bridge_java_platform then runs the Java test on it.
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
sh "$here/check_symbols.sh" "$build/libveld_jni.so" '^(Java_org_veld_[A-Za-z0-9_]+|JNI_OnLoad)$'
