#!/bin/sh
# check_build.sh SOURCE_DIR BUILD_DIR
#
# The build says what veld is (docs/architecture.md, "The targets"). Fails
# when:
#  - a CMake file decides membership with file(GLOB ...): every target lists
#    its sources by name;
#  - core links libcurl or anything of sync/: veld_core's link interface, the
#    undefined symbols of libveld_core.a, and core's #includes;
#  - a public header includes a private one (or anything that is not a
#    public header or a system header);
#  - the server carries libcurl or the bridge, or the `veld` command the
#    bridge; libveld (for apps) carries the server.
set -eu
src=$1
build=$2
NM=${NM:-nm}
status=0
fail() { echo "FAIL: $*"; status=1; }

# ---- membership by name ------------------------------------------------------
globs=$(cd "$src" && find . -path ./.git -prune -o -path './build*' -prune -o \
	\( -name CMakeLists.txt -o -name '*.cmake' \) -print | sort |
	xargs grep -n -i 'file[[:space:]]*([[:space:]]*GLOB' 2>/dev/null || true)
[ -z "$globs" ] || fail "a file(GLOB) decides what is built; list sources by name instead:
$globs"

# ---- core: no network, nothing of sync ----------------------------------------
links=$(cat "$build/tests/build/core_links.txt")
case "$links" in
*[Cc][Uu][Rr][Ll]*) fail "veld_core links libcurl: $links" ;;
esac
case "$links" in
*veld_wire* | *veld_devsync* | *veld_server* | *veld_bridge* | *veld_sync*)
	fail "veld_core links another part: $links" ;;
esac
curl_syms=$("$NM" -u "$build/core/libveld_core.a" 2>/dev/null | grep -E ' curl_' || true)
[ -z "$curl_syms" ] || fail "libveld_core.a calls libcurl:
$curl_syms"
sync_headers=$(cd "$src" && ls sync/src/*.h sync/include/*.h mobile-bridge/include/*.h | xargs -n1 basename)
for h in $sync_headers curl/; do
	hits=$(grep -rn "#[[:space:]]*include[[:space:]]*[<\"]$h" "$src/core" || true)
	[ -z "$hits" ] || fail "core includes $h:
$hits"
done

# ---- the device side of sync keeps no SQL of its own ------------------------------
# Core owns its tables: sync reaches the store through core/src/syncstate.h.
for f in $(sed -n 's|.*\${VELD_SYNC_DIR}/\(src/[a-z_]*\.c\).*|\1|p' "$src/sync/sources.cmake"); do
	case " $(sed -n '/VELD_DEVSYNC_SOURCES/,/)/p' "$src/sync/sources.cmake") " in
	*"$f"*) ;;
	*) continue ;;
	esac
	hits=$(grep -n 'sqlite3_\|->db\b' "$src/sync/$f" || true)
	[ -z "$hits" ] || fail "sync/$f reaches the store's SQL itself (use core/src/syncstate.h):
$hits"
done

# ---- public headers include only public headers --------------------------------
pubdirs="core/include sync/include mobile-bridge/include"
public=""
# The names on one line, separated by spaces, so " name " matches each: ls
# gives one a line, and then only the last header of a folder counted.
for d in $pubdirs; do public="$public $(ls "$src/$d"/*.h | xargs -n1 basename | tr '\n' ' ')"; done
private=$(cd "$src" && ls core/src/*.h sync/src/*.h | xargs -n1 basename)
for d in $pubdirs; do
	for f in "$src/$d"/*.h; do
		for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
			case " $public " in
			*" $inc "*) ;;
			*) fail "public header $d/$(basename "$f") includes \"$inc\", which is not a public header" ;;
			esac
		done
		for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*<\([^>]*\)>.*/\1/p' "$f"); do
			for p in $private; do
				[ "$inc" != "$p" ] || fail "public header $d/$(basename "$f") includes the private <$inc>"
			done
		done
	done
done

# ---- what each product carries -------------------------------------------------
server=$("$NM" "$build/sync/libveld_server.a" 2>/dev/null)
printf '%s\n' "$server" | grep -qE ' U curl_' && fail "libveld_server.a calls libcurl"
printf '%s\n' "$server" | grep -qE ' [TU] veld_(session|bridge)_' && fail "libveld_server.a carries the bridge"
"$NM" "$build/veld" 2>/dev/null | grep -qE ' T veld_(session|bridge)_' && fail "the veld command carries the bridge"
"$NM" -D --defined-only "$build/mobile-bridge/libveld.so" | grep -qE ' veld_server_' &&
	fail "libveld.so (for apps) carries the server"

[ $status -eq 0 ] && echo "ok: targets list their sources by name; core has no network code;" \
	"the device side of sync has no SQL of its own;" \
	"public headers include only public headers; server, command and libveld carry only their parts"
exit $status
