#!/bin/sh
# install_test.sh SOURCE_DIR BUILD_DIR
#
# Install veld from BUILD_DIR into a temporary prefix, as
# `cmake --install BUILD_DIR --prefix P` does for a user, and use it the
# ways its users do:
#  - the files are where README.md and docs/ say;
#  - libveld.so carries its SONAME and version;
#  - a C program builds and runs against the prefix through pkg-config,
#    and through find_package(veld) (libveld.so and libveld.a);
#  - the installed `veld --version` runs;
#  - the installed manual renders without a warning and describes every
#    option of every command's --help;
#  - the installed bash completion completes commands and options.
set -eu
src=$1
build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
p=$tmp/prefix
fail() { echo "install_test: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$p" >"$tmp/install.log" || { cat "$tmp/install.log"; fail "install failed"; }
libdir=$p/$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$build/CMakeCache.txt")
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
major=${version%%.*}

for f in bin/veld include/veld/veld.h include/veld/veld_errors.h include/veld/veld_sync.h \
         include/veld/veld_bridge.h include/veld/module.modulemap \
         share/man/man1/veld.1.gz share/bash-completion/completions/veld \
         lib/systemd/system/veld.service etc/default/veld; do
  [ -e "$p/$f" ] || fail "$f is not installed"
done
for f in libveld.so libveld.so.$major libveld.so.$version libveld.a pkgconfig/veld.pc \
         cmake/veld/veldConfig.cmake cmake/veld/veldConfigVersion.cmake cmake/veld/veldTargets.cmake; do
  [ -e "$libdir/$f" ] || fail "$f is not installed in the libdir"
done
if [ -e "$build/mobile-bridge/libveld_jni.so" ]; then
  [ -e "$libdir/jni/libveld_jni.so" ] || fail "the JNI library is not installed"
fi
if [ -e "$build/mobile-bridge/veld.jar" ]; then
  [ -e "$p/share/java/veld.jar" ] || fail "veld.jar is not installed"
fi
# nothing of the build tree (a private header, a test) came along
[ -z "$(find "$p/include" -name '*_private*' -o -name 'veld_server.h')" ] || fail "a private header is installed"
soname=$(readelf -d "$libdir/libveld.so.$version" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libveld.so.$major" ] || fail "SONAME is '$soname', not libveld.so.$major"
if readelf -d "$p/bin/veld" "$libdir/libveld.so.$version" | grep -qE 'RPATH|RUNPATH'; then
  fail "an installed binary keeps the build tree's RPATH"
fi

# pkg-config
export PKG_CONFIG_PATH="$libdir/pkgconfig"
[ "$(pkg-config --modversion veld)" = "$version" ] || fail "pkg-config --modversion is not $version"
cc ${CFLAGS:-} ${LDFLAGS:-} -o "$tmp/hello_pc" "$src/tests/install/consumer/hello.c" \
  $(pkg-config --cflags --libs veld) \
  || fail "hello does not build through pkg-config"
out=$(LD_LIBRARY_PATH="$libdir" "$tmp/hello_pc" "$tmp/store_pc") || fail "hello (pkg-config) failed"
echo "$out" | grep -q "\"clients\": *1" || fail "hello (pkg-config) printed: $out"
# it ran on the installed libveld.so, not some other one
LD_LIBRARY_PATH="$libdir" ldd "$tmp/hello_pc" | grep -q "$libdir/libveld.so.$major" \
  || fail "hello (pkg-config) is not linked to the installed libveld.so"

# find_package: the shared and the static library
cmake -S "$src/tests/install/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$p" \
  -DCMAKE_BUILD_TYPE=Release >"$tmp/consumer.log" 2>&1 || { cat "$tmp/consumer.log"; fail "find_package(veld) failed"; }
cmake --build "$tmp/consumer" >>"$tmp/consumer.log" 2>&1 || { cat "$tmp/consumer.log"; fail "the find_package build failed"; }
for h in hello hello_static; do
  out=$(LD_LIBRARY_PATH="$libdir" "$tmp/consumer/$h" "$tmp/store_$h") || fail "$h (find_package) failed"
  echo "$out" | grep -q "\"clients\": *1" || fail "$h (find_package) printed: $out"
done
if readelf -d "$tmp/consumer/hello_static" | grep -q 'libveld\.so'; then
  fail "hello_static links libveld.so"
fi

# the command
[ "$("$p/bin/veld" --version)" = "veld $version" ] || fail "installed veld --version is not 'veld $version'"

# the manual: renders cleanly and has every option of every --help
warn=$(LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings -l "$p/share/man/man1/veld.1.gz" 2>&1 >"$tmp/man.txt") || fail "man failed"
[ -z "$warn" ] || fail "the manual renders with warnings: $warn"
"$p/bin/veld" help --bash-completion >/dev/null
checked=0
for cmd in $("$p/bin/veld" --help | sed -n 's/^  veld \([a-z]*\) .*/\1/p' | grep -vx help | sort -u); do
  verbs=$("$p/bin/veld" help "$cmd" | sed -n "s/^  veld $cmd \([a-z]*\).*/\1/p")
  for v in ${verbs:--}; do
    [ "$v" = - ] && v=
    for o in $("$p/bin/veld" $cmd $v --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
      grep -q -- "$o" "$tmp/man.txt" || fail "the manual lacks $o of veld $cmd $v"
      checked=$((checked + 1))
    done
    grep -q "^ *veld $cmd${v:+ $v}\$" "$tmp/man.txt" || fail "the manual lacks a section for veld $cmd $v"
  done
done
[ "$checked" -gt 50 ] || fail "only $checked options checked in the manual"

# bash completion
bash -c '
  . "$1"
  t() { want=$1; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _veld
        case " ${COMPREPLY[*]} " in *" $want "*) ;; *) echo "completing [$*] gave [${COMPREPLY[*]}], not $want"; exit 1 ;; esac; }
  t client veld cl
  t add veld client a
  t --name veld --store /tmp/s client add --na
  t --birth-date veld client add --name "A B" --bi
  t --open veld office list --o
  t --data veld serve --da
  t --json veld client list --j
  t --version veld --ver
' sh "$p/share/bash-completion/completions/veld" || fail "bash completion"

echo "install_test: ok ($checked options in the manual; prefix layout, pkg-config, find_package, SONAME $soname)"
