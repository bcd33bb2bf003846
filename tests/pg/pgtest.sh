#!/bin/sh
# pgtest.sh start|stop BUILD_DIR
#
# A throwaway PostgreSQL cluster for the tests that need one: Debian's
# PostgreSQL (.ci/install-deps installs it), initdb in a new temporary
# directory, the server listening on a Unix socket in that directory only
# (no TCP port, so it cannot clash with a cluster of the machine's own),
# fsync off. initdb refuses to run as root: as root (CI) the cluster runs
# as the system user veld-pgtest, made here if missing.
#
# start writes BUILD_DIR/pgtest.env (VELD_PG_DIR=..., VELD_PG_CONNINFO=a URI
# for the database "postgres" as the superuser "veld"); a test makes a
# database of its own there. stop stops the server and deletes the
# directory. ctest runs them as the fixtures pg_start and pg_stop.
set -eu
cmd=$1
build=$2
env_file=$build/pgtest.env
user=veld-pgtest

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] && [ -x "$bin/initdb" ] || { echo "pgtest: PostgreSQL is not installed (.ci/install-deps installs it)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    setpriv --reuid="$user" --regid="$user" --init-groups --reset-env -- "$@"
  else
    "$@"
  fi
}

# Stop the server of cluster directory $1 (fast, else at once), then delete
# the directory; only a directory this script made (/tmp/veldpg.XXXXXX).
stop_cluster() {
  case $1 in
  /tmp/veldpg.*/* | *..* | *[[:space:]]*) echo "pgtest: odd cluster directory '$1'" >&2; return 1 ;;
  /tmp/veldpg.?*) ;;
  *) echo "pgtest: odd cluster directory '$1'" >&2; return 1 ;;
  esac
  if [ -f "$1/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$1/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      as_owner "$bin/pg_ctl" -D "$1/data" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
      { echo "pgtest: the server in $1 does not stop; left in place" >&2; return 1; }
  fi
  rm -rf "$1"
}

case $cmd in
start)
  if [ -f "$env_file" ]; then "$0" stop "$build" || true; fi
  if [ "$(id -u)" -eq 0 ] && ! id "$user" >/dev/null 2>&1; then
    # (two runs at once: the second useradd fails, and the user is there)
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user" \
      2>/dev/null || id "$user" >/dev/null
  fi
  dir=$(mktemp -d /tmp/veldpg.XXXXXX)
  [ "$(id -u)" -eq 0 ] && chown "$user:" "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U veld -A trust -E UTF8 --no-locale -N >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1; }
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200" \
    start >/dev/null || { cat "$dir/server.log" >&2; stop_cluster "$dir"; exit 1; }
  printf 'VELD_PG_DIR=%s\nVELD_PG_CONNINFO=postgresql://veld@/postgres?host=%s\n' "$dir" "$dir" >"$env_file"
  echo "pgtest: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on the socket in $dir"
  ;;
stop)
  [ -f "$env_file" ] || exit 0
  dir=$(sed -n 's/^VELD_PG_DIR=//p' "$env_file")
  rm -f "$env_file"
  stop_cluster "$dir"
  echo "pgtest: stopped"
  ;;
*)
  echo "usage: pgtest.sh start|stop BUILD_DIR" >&2
  exit 2
  ;;
esac
