#!/bin/sh
# check_symbols.sh LIBRARY PATTERN [HEADER...]
#
# The exported symbol table is part of the ABI. Fails when LIBRARY exports a
# defined symbol that does not match PATTERN (an extended regular
# expression), and when a function a HEADER declares as public API (with
# VELD_EXTERN or VELD_BRIDGE_API) is missing from the table.
set -eu
lib=$1
pattern=$2
shift 2
NM=${NM:-nm}

syms=$("$NM" -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' | sort -u)
if [ -z "$syms" ]; then
	echo "FAIL: $lib exports nothing (or $NM could not read it)"
	exit 1
fi

status=0
bad=$(printf '%s\n' "$syms" | grep -Ev "$pattern" || true)
if [ -n "$bad" ]; then
	echo "FAIL: $lib exports symbols outside /$pattern/:"
	printf '  %s\n' $bad
	status=1
fi

for h in "$@"; do
	for f in $(grep -E '(VELD_EXTERN|VELD_BRIDGE_API) ' "$h" | grep -oE '\bveld_[a-z0-9_]+\(' | tr -d '(' | sort -u); do
		if ! printf '%s\n' "$syms" | grep -qx "$f"; then
			echo "FAIL: $f is declared in $(basename "$h") but $lib does not export it"
			status=1
		fi
	done
done

n=$(printf '%s\n' "$syms" | wc -l)
[ $status -eq 0 ] && echo "ok: $lib exports $n symbols, all matching /$pattern/"
exit $status
