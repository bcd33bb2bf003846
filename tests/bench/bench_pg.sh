#!/bin/sh
# bench_pg.sh BUILD_DIR [DEVICES...] - bench_sync --devices N on SQLite, on
# PostgreSQL with one server process and with two (each run on a fresh
# database of a throwaway cluster: tests/pg/pgtest.sh, in a directory of
# its own, stopped at the end). Default N: 1 20 50.
#
# The cluster runs as the tests' does: fsync off, synchronous_commit off
# (the SQLite server's synchronous=NORMAL does not sync each commit
# either); a production database syncs its WAL, which costs each write a
# disk flush.
set -eu
build=$(cd "$1" && pwd)
shift
[ $# -gt 0 ] || set -- 1 20 50
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/veld-bench-pg.XXXXXX)
sh "$here/../pg/pgtest.sh" start "$work" >/dev/null
trap 'sh "$here/../pg/pgtest.sh" stop "$work" >/dev/null; rm -rf "$work"' EXIT INT TERM
dir=$(sed -n 's/^VELD_PG_DIR=//p' "$work/pgtest.env")
maint=$(sed -n 's/^VELD_PG_CONNINFO=//p' "$work/pgtest.env")
# A new database NAME; its conninfo in $db.
fresh() {
  psql "$maint" -X -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $1" >/dev/null
  db="host=$dir user=veld dbname=$1"
}
bench="$build/tests/bench/bench_sync"
for d in "$@"; do
  "$bench" --veld "$build/veld" --devices "$d"
  fresh "bench_${d}_one"
  "$bench" --veld "$build/veld" --devices "$d" --db "$db"
  fresh "bench_${d}_two"
  "$bench" --veld "$build/veld" --devices "$d" --db "$db" --servers 2
done
