#!/bin/sh
# pg_smoke.sh BUILD_DIR
#
# The throwaway cluster of pgtest.sh works as the PostgreSQL tests will
# use it: reachable through BUILD_DIR/pgtest.env's URI, a test makes and
# drops a database of its own, two sessions see each other's commits, and
# the cluster listens on no TCP port.
set -eu
env_file=$1/pgtest.env
[ -f "$env_file" ] || { echo "pg_smoke: no cluster ($env_file missing: the pg_start fixture did not run)" >&2; exit 1; }
conninfo=$(sed -n 's/^VELD_PG_CONNINFO=//p' "$env_file")
dir=$(sed -n 's/^VELD_PG_DIR=//p' "$env_file")
db=veld_smoke_$$
q() { psql "$1" -X -v ON_ERROR_STOP=1 -Atqc "$2"; }
own=$(echo "$conninfo" | sed "s|/postgres?|/$db?|")

q "$conninfo" "CREATE DATABASE $db"
trap 'q "$conninfo" "DROP DATABASE IF EXISTS $db" || true' EXIT
q "$own" "CREATE TABLE t(k bigint PRIMARY KEY); INSERT INTO t VALUES (1), (2)"
[ "$(q "$own" "SELECT sum(k) FROM t")" = 3 ] || { echo "pg_smoke: a second session does not see the commit" >&2; exit 1; }
[ "$(q "$own" "SHOW listen_addresses")" = "" ] || { echo "pg_smoke: the cluster listens on TCP" >&2; exit 1; }
[ "$(q "$own" "SHOW unix_socket_directories")" = "$dir" ] || { echo "pg_smoke: the socket is not in $dir" >&2; exit 1; }
[ "$(q "$own" "SELECT current_setting('server_version_num')::int >= 130000")" = t ] \
  || { echo "pg_smoke: PostgreSQL older than 13" >&2; exit 1; }
echo "pg_smoke: ok ($(q "$own" "SHOW server_version"))"
