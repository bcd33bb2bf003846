#!/usr/bin/env bash
# due_test.sh BUILD_DIR - `veld due` and `veld office due` end to end.
#
# Runs the real binary against throw-away stores, with --today fixed at
# 2099-01-01 so the answer does not depend on the day the test runs (every
# record is then older than 30 days: its client is not seen, its open signal
# overdue). With VELD_VALGRIND=1 every veld run is under valgrind, and a
# leak or a memory error fails the test (exit 99 from valgrind).
set -euo pipefail

build=${1:?usage: due_test.sh BUILD_DIR}
VELD=$(cd "$build" && pwd)/veld
[ -x "$VELD" ] || { echo "due_test: no veld binary at $VELD" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

PASS='correct horse battery staple'
export VELD_STORE="$tmp/store"
export VELD_PASSPHRASE="$PASS"
export VELD_USER=anna
unset XDG_DATA_HOME || true
TODAY=2099-01-01

. "$(dirname "$0")/lib.sh"

KDF=(--kdf-memory 19 --kdf-passes 2)

# ---- help and the manual ------------------------------------------------------
ok due --help
has "--days N"
has "--today YYYY-MM-DD"
ok office due --help
has "--team T"
ok help --man
has 'veld due'
has 'veld office due'
ok help --bash-completion
has "due"

# ---- a worker's store ------------------------------------------------------------
ok init "${KDF[@]}" --team noord
ok --json client add --name "Jan de Vries" --contact-person anna
jan=$(id_of)
ok --json client add --name "Piet Jansen" --contact-person bert
piet=$(id_of)
ok --json visit add --client "$jan" --kind home_visit --planned 2099-01-15T10:00
edge=$(id_of)
ok --json visit add --client "$jan" --kind home_visit --planned 2099-01-16T10:00
beyond=$(id_of)
ok --json visit add --client "$jan" --kind phone --planned 2099-01-03T09:00 --started 2099-01-03T09:00
ok --json goal set --client "$jan" --domain financien --description "Pays the rent" --review-date 2099-01-01
goal=$(id_of)
ok --json signal raise --client "$jan" --kind rent_arrears --severity high
signal=$(id_of)
ok --json goal set --client "$piet" --domain huisvesting --description "Repairs" --review-date 2099-01-02
pgoal=$(id_of)

# The kinds of the seeds' process, through `veld record add`.
ok --json record add tenancy --client "$jan" --set form=three_party --set own_name_planned=2099-01-10
tenancy=$(id_of)
ok --json record add time_out --client "$jan" --set start=2098-12-01 --set agreed_days=14
timeout=$(id_of)

# Only anna's client; the window's last day is in, the day after is not.
ok due --today "$TODAY"
has "due for anna, 2099-01-01 to 2099-01-15: 6 items, 1 client"
line_has "tenancy to own name" "tenancy ${tenancy:0:8}"
line_has "time-out: agreed days up" "time_out ${timeout:0:8}"
line_has "2098-12-15  17 days late" "time_out ${timeout:0:8}"
has "OVERDUE"
line_has "not seen for 30 days" "Jan de Vries"
line_has "signal without follow-up" "signal ${signal:0:8}"
line_has "goal review" "goal ${goal:0:8}"
line_has "planned visit" "visit ${edge:0:8}"
has "2099-01-01  today"
has "2099-01-15  in 14 days"
hasnt "${beyond:0:8}"
hasnt "Piet Jansen"
# Overdue first, then by date.
[ "$(grep -n OVERDUE "$tmp/out" | cut -d: -f1)" -lt "$(grep -n '2099-01-01  today' "$tmp/out" | cut -d: -f1)" ] \
	|| fail "overdue items should come first"
checks=$((checks + 1))

ok due --today "$TODAY" --days 15
has "visit ${beyond:0:8}"
ok due --today "$TODAY" --days 0
hasnt "planned visit"
has "goal review"

ok due --today "$TODAY" --all
has "2 clients"
line_has "goal review" "Piet Jansen"
line_has "goal review" "goal ${pgoal:0:8}"

ok --json due --today "$TODAY"
expect 1 'j["clients"]'
expect 14 'j["days"]'
expect 6 'len(j["items"])'
expect "$edge" '[i["record"] for i in j["items"] if i["kind"] == "visit_planned"][0]'
expect True 'all(set(i) == {"client","kind","record","type","due","overdue","days"} for i in j["items"])'
expect False '"Jan de Vries" in open(sys.argv[1]).read()'

# Every client looked at is logged as a read (and the names shown, again).
ok --json log show --client "$jan"
expect True 'any(e["event"] == "read" for e in j)'

# Nothing due.
ok --user carla due --today "$TODAY"
has "due for carla, 2099-01-01 to 2099-01-15: 0 items, 0 clients"

# Usage errors name the option, never its value.
status 2 due --days 367
err_has "--days must be from 0 to 366"
status 2 due --days soon
status 2 due --today 2099-02-30
err_has "--today needs a date"
status 2 due tomorrow
status 2 office due --today "$TODAY"
err_has "--team"
# A worker's store answers for its own team only.
status 6 office due --team zuid --today "$TODAY"
ok office due --team noord --today "$TODAY"
has "anna: 1 client"
has "bert: 1 client"

# ---- the office: per worker --------------------------------------------------------
export VELD_STORE="$tmp/office" VELD_USER=lead
ok office init "${KDF[@]}"
ok --json client add --name "Client A" --team noord --contact-person bert
a=$(id_of)
ok --json client add --name "Client B" --team noord --contact-person anna
b=$(id_of)
ok --json client add --name "Client C" --team noord
c=$(id_of)
ok --json client add --name "Client D" --team zuid --contact-person anna
d=$(id_of)
for x in "$a" "$b" "$c" "$d"; do
	ok goal set --client "$x" --domain financien --description "Rent" --review-date 2099-01-05
done
ok office due --team noord --today "$TODAY"
has "due for team noord, 2099-01-01 to 2099-01-15: 3 clients"
has "anna: 1 client, 2 items"
has "bert: 1 client, 2 items"
has "(no contact person): 1 client, 2 items"
hasnt "Client D"
# The workers in order, the clients under their own worker.
[ "$(grep -E '^(anna|bert|\(no contact person\)):' "$tmp/out" | cut -d: -f1 | tr '\n' ' ')" = "anna bert (no contact person) " ] \
	|| fail "workers out of order"
checks=$((checks + 1))
[ "$(awk '/^bert:/{w=1} /^\(no/{w=0} w && /Client/' "$tmp/out" | grep -c "Client A")" = 2 ] \
	|| fail "Client A should be under bert"
checks=$((checks + 1))
ok --json office due --team zuid --today "$TODAY" --days 4
expect 1 'j["clients"]'
expect anna 'j["by_worker"][0]["worker"]'
expect 2 'len(j["by_worker"][0]["items"])'

# The passphrase never appears in any output.
! grep -qF -- "$PASS" "$tmp/all" || fail "the passphrase appeared in output"
checks=$((checks + 1))
echo "due_test: $checks checks passed"
