#!/usr/bin/env bash
# make demo: what veld does, end to end, on loopback with the embedded SQLite
# server store. Part 1 is a support worker offline; part 2 adds the server,
# the office and a second worker, the team's field policy, a conflict, its
# resolution, convergence, the access log at the office, an export and an
# erasure. Part 3 tells one client's road from sheltered housing to a home
# of her own in the seeds' records, with the office's record schema, the
# Woonkompas page, the worker's due list and ZRM progress. Part 4 writes
# the partners' report for the quarter and starts the office's console.
set -euo pipefail
BUILD=${1:-build}
VELD=$(cd "$BUILD" && pwd)/veld
TMP=$(mktemp -d /tmp/veld-demo-XXXXXX)
SERVER_PID=""
CONSOLE_PID=""
cleanup() {
  for pid in $CONSOLE_PID $SERVER_PID; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

# Demo passphrase and the cheapest key derivation veld allows (a demo, not a phone).
export VELD_PASSPHRASE="demo passphrase, not for real use"
KDF=(--kdf-memory 19 --kdf-passes 2)
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
anna() { "$VELD" --store "$TMP/anna" --user anna "$@"; }
bram() { "$VELD" --store "$TMP/bram" --user bram "$@"; }
office() { "$VELD" --store "$TMP/office" --user office1 "$@"; }
json_get() { python3 -c 'import json,sys; print(json.load(sys.stdin)'"$1"')'; }

say "Part 1: Anna, a support worker, offline"
anna init --team noord "${KDF[@]}"
C=$(anna client add --json --name "Jan de Vries" --initials JdV --address "Dorpsstraat 12, Zwolle" \
      --phone 0612345678 --care-status beschermd_thuis --care-active yes --care-end 2027-06-30 \
      --housing-corporation "deltaWonen" --tenancy "huur, begeleidingsclausule" --support-clause yes \
      --contact-person anna | json_get '["id"]')
echo "client $C"
V1=$(anna visit add --json --client "$C" --kind home_visit --started "2026-11-02T10:00" --ended "2026-11-02T11:00" \
      --domains financien,huisvesting --score financien=2 --score huisvesting=3 \
      --actions "Call deltaWonen about the payment plan" | json_get '["id"]')
N1=$(anna note add --json --client "$C" --visit "$V1" --text "Rent two months behind; letter from deltaWonen on the table." \
      --tags financien,huisvesting | json_get '["id"]')
anna note amend "$N1" --text "Correction: one month behind, the second was paid last week." >/dev/null
V2=$(anna visit add --json --client "$C" --kind home_visit --started "2026-11-16T10:00" --ended "2026-11-16T10:45" \
      --domains financien --score financien=3 --actions "Payment plan signed" | json_get '["id"]')
anna note add --client "$C" --visit "$V2" --text "Payment plan in place. Mood good." --tags financien >/dev/null
anna signal raise --client "$C" --kind rent_arrears --severity high --description "Arrears reported by the corporation" >/dev/null
anna goal set --client "$C" --domain huisvesting --description "Keep the flat: no arrears for six months" --review-date 2027-05-01 >/dev/null
anna client show "$C"
anna visit list --client "$C"
anna note list --client "$C"
anna signal list
say "The access log (NEN 7513) and its verification"
anna log show --client "$C" | tail -8
anna log verify
say "What a thief with the phone's database file sees of Jan de Vries"
if grep -c "Jan de Vries" "$TMP/anna/veld.db" "$TMP/anna/veld.db-wal" 2>/dev/null; then
  echo "FOUND plaintext - this must never happen"; exit 1
else
  echo "nothing: the name is not in the database or its WAL"
fi

say "Part 2: the server, the office and a second worker"
"$VELD" serve --listen 127.0.0.1:0 --data "$TMP/server" >"$TMP/server.out" 2>"$TMP/server.log" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q "setup code" "$TMP/server.out" 2>/dev/null && break; sleep 0.1; done
URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$TMP/server.out" | head -1)
SETUP=$(sed -n 's/^office setup code: //p' "$TMP/server.out")
echo "server at $URL"
office office init "${KDF[@]}"
office office enroll "$URL" "$SETUP"
INVITE_A=$(office office invite --team noord --json | json_get "['code']")
INVITE_B=$(office office invite --team noord --json | json_get "['code']")
anna enroll "$URL" "$INVITE_A" --label anna-phone
bram init --team noord "${KDF[@]}"
bram enroll "$URL" "$INVITE_B" --label bram-phone
anna sync
say "The office certifies the phones that enrolled with its invites (and signs a checkpoint)"
office office sync
echo "-- Bram's phone: what waited for Anna's certificate goes in"
bram sync
bram client list

say "What reaches the phones: the team's field policy (only what a home visit needs)"
bram fields
echo "-- Bram's phone"
bram client show "$C"
echo "-- Anna's phone: what she recorded of the rest is now at the office only"
anna client show "$C"
say "The office lets the care status through; the phones receive it at their next sync"
office office fields noord --set address,phone,care_status
bram sync
bram client list

say "Offline, both change Jan's phone number, and both write notes"
anna client edit "$C" --phone 0611111111 >/dev/null
bram client edit "$C" --phone 0622222222 >/dev/null
anna note add --client "$C" --text "Anna: called about the energy bill." >/dev/null
bram note add --client "$C" --text "Bram: dropped by, nobody home; left a card." >/dev/null

say "Back online: sync (Anna, Bram, Anna again, the office)"
anna sync
bram sync
anna sync
office office sync
say "The conflict, on Anna's phone, Bram's phone and at the office"
anna conflicts
bram conflicts
office office list conflicts

say "Anna resolves it; everyone syncs"
anna resolve client "$C" phone '"0611111111"'
anna sync
bram sync
office office sync
say "Converged: the same client on all three"
for who in anna bram; do echo "-- $who"; $who client show "$C" | grep -Ei "phone|name"; $who conflicts; done
echo "-- office"; office office list clients
office office list notes
say "Trusting no server: each phone holds the office's signed checkpoint, nothing waits or is kept aside"
for who in anna bram; do echo "-- $who"; $who info | grep -E "^(pending|quarantined|checkpoint) "; done
say "The office's copy of every device's access log: who opened Jan's file (newest 8)"
office office log --client "$C" --limit 8
say "Jan asks what is kept about him (AVG art. 15): one office command"
office office export "$C" --out "$TMP/jan-export.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d["records"]
print("client:", d["client"]["name"]); print("records:", ", ".join("%d %s" % (len(v), k) for k, v in r.items() if v))
print("access log entries:", len(d["access_log"]), "from", len({e["device"] for e in d["access_log"]}), "devices")' "$TMP/jan-export.json"
say "Jan asks to be forgotten (AVG art. 17): one office command, every device follows"
office office erase "$C" --yes
anna sync
bram sync
for who in anna bram; do echo "-- $who"; $who client show "$C" || echo "(exit $?: erased)"; done
say "Part 3: the road to a protected home, in the data (one client, Sanne)"
echo "-- The office adds its contact persons and the social map to the record schema (version 2)"
office schema --json | python3 -c 'import json,sys; d=json.load(sys.stdin); d.pop("domains")
d["version"] += 1
d["lists"]["contact_persons"].append({"code": "wt_noord_petra", "label": "Petra (wijkteam Noord)", "team": "noord"})
d["lists"]["services"] += [{"code": "repair_cafe_noord", "label": "Repair Café Noord", "kind": "volunteer", "area": "noord"},
                          {"code": "schuldhulp_zwolle", "label": "Schuldhulp Zwolle", "kind": "debt_help", "area": "zwolle"}]
json.dump(d, open(sys.argv[1], "w"))' "$TMP/schema-v2.json"
office office schema --set "$TMP/schema-v2.json"
anna sync >/dev/null
anna schema | sed -n 1p
rec() { local who=$1 kind=$2; shift 2; "$who" record add "$kind" --json "$@" | json_get '["id"]'; }
S=$(anna client add --json --name "Sanne Bakker" --contact-person anna | json_get '["id"]')
rec anna phase --client "$S" --set phase=beschermd_wonen --set date=2025-03-01 >/dev/null
rec anna readiness --client "$S" --set decision=ready --set date=2026-06-01 --set decided_by="MDO beschermd wonen" \
    --set reason="Stable for a year, manages her money with budgetbeheer" >/dev/null
WK=$(rec anna woonkompas --client "$S" --set date=2026-06-15 --set participants=client,worker,corporation \
    --set themes=huur_betalen,buren_overlast,dagbesteding,terugval_time_out --set next_review=2026-12-15 \
    --set summary="Sanne wants the flat at the Veerallee; rent by direct debit, a day activity close by.")
rec anna action --client "$S" --set description="Rent by direct debit" --set owner=client --set due=2026-07-01 \
    --set woonkompas="$WK" --set done=2026-06-28 >/dev/null
rec anna action --client "$S" --set description="Meter readings and keys at the handover" --set owner=corporation \
    --set due=2026-12-20 --set woonkompas="$WK" >/dev/null
anna woonkompas print "$WK"
rec anna tenancy --client "$S" --set form=three_party --set corporation=deltaWonen --set start=2026-07-01 \
    --set clause_version=BT-2024 --set clause_signed=2026-06-20 --set own_name_planned=2027-01-01 >/dev/null
rec anna phase --client "$S" --set phase=beschermd_thuis --set date=2026-07-01 >/dev/null
rec anna income --client "$S" --set benefit=participatiewet --set budget_management=budgetbeheer \
    --set rent_allowance=yes --set rent_direct_debit=yes >/dev/null
rec anna day_activity --client "$S" --set kind=volunteer --set in_neighbourhood=yes --set hours_per_week=12 \
    --set service=repair_cafe_noord --set start=2026-08-01 >/dev/null
rec anna contact_person --client "$S" --set person=wt_noord_petra --set from=2026-07-01 \
    --set budget_hours_granted=40 --set budget_hours_spent=6 >/dev/null
echo "-- Rent arrears: the escalation ladder stops at a payment plan"
SIG=$(anna signal raise --json --client "$S" --kind rent_arrears --severity high \
    --description "Two months behind after the benefit stopped" | json_get '["id"]')
ESC=$(rec anna escalation --client "$S" --set about=rent_arrears --set amount=640 --set signal="$SIG")
rec anna escalation_step --client "$S" --set escalation="$ESC" --set step=reminder --set date=2026-09-10 \
    --set owner=deltaWonen >/dev/null
rec anna escalation_step --client "$S" --set escalation="$ESC" --set step=payment_plan --set date=2026-09-24 \
    --set owner=anna --set due=2026-12-24 >/dev/null
anna record edit escalation "$ESC" --set status=stopped >/dev/null
anna record edit signal "$SIG" --set follow_up="Payment plan with deltaWonen, escalation stopped" >/dev/null
anna record list escalation_step --client "$S"
echo "-- A relapse: a time-out, with rent and benefit continued, and care at once through the standing decision"
WV=$(rec anna waakvlam --client "$S" --set number=WVB-2026-0142 --set municipality=Zwolle --set start=2026-07-01 \
    --set end=2027-01-31 --set scope="Begeleiding bij terugval")
REL=$(anna signal raise --json --client "$S" --kind relapse --severity critical \
    --description "Stopped her medication; not sleeping" | json_get '["id"]')
USE=$(rec anna waakvlam_use --client "$S" --set waakvlam="$WV" --set signal="$REL" --set relapse_date=2026-10-04 \
    --set care_started=2026-10-05)
rec anna time_out --client "$S" --set start=2026-10-05 --set end=2026-10-19 --set agreed_days=14 \
    --set location="Herstelhuis De Brug" --set rent_continued=yes --set benefit_continued=yes \
    --set corporation_informed=yes --set returned_home=yes --set waakvlam_use="$USE" >/dev/null
anna signal close "$REL" --follow-up "Time-out at De Brug, care through the standing decision" >/dev/null
anna record list time_out --client "$S"
for d in 2026-06-15:2:2 2026-09-01:3:2 2026-11-20:4:4; do
  IFS=: read -r day fin hui <<<"$d"
  anna visit add --client "$S" --kind home_visit --started "${day}T10:00" --ended "${day}T11:00" \
      --score financien="$fin" --score huisvesting="$hui" >/dev/null
done
echo "-- Sanne's self-reliance (ZRM) over time"
anna client progress "$S"
echo "-- What is due for Anna in the next 30 days (as of 2026-12-06)"
anna due --days 30 --today 2026-12-06
anna sync >/dev/null
office office sync >/dev/null
echo "-- The team lead's view at the office"
office office due --team noord --days 30 --today 2026-12-06

say "Sanne moves to team Zuid: one office command; Anna's phone lets go, Cees's phone takes over"
cees() { "$VELD" --store "$TMP/cees" --user cees "$@"; }
INVITE_C=$(office office invite --team zuid --json | json_get "['code']")
cees init --team zuid "${KDF[@]}"
cees enroll "$URL" "$INVITE_C" --label cees-phone
office office sync >/dev/null
S2=$(office office move "$S" --team zuid --json | json_get "['new_client']")
office office move "$S" --status
cees sync >/dev/null
cees client list
cees record list tenancy --client "$S2"
anna sync >/dev/null
anna client show "$S" || echo "(exit $?: moved to another team)"
bram sync >/dev/null
office office sync >/dev/null
office office move "$S" --status
say "Part 4: what the partners watch: the report for the quarter, and the office's console"
OUT_DIR=$(cd "$BUILD" && pwd)/demo
mkdir -p "$OUT_DIR"
office office report --period 2026Q4 --format csv --lang en | sed -n 1,12p
echo "..."
office office report --period 2026Q4 --format html --out "$OUT_DIR/report-2026Q4.html"
echo "The partners' report for 2026Q4 (A4, open it in a browser): $OUT_DIR/report-2026Q4.html"
office log show --limit 1

say "The office's console: the same store in a browser, on loopback, opened with a one-time link"
office office console --listen 127.0.0.1:0 >"$TMP/console.out" 2>"$TMP/console.err" &
CONSOLE_PID=$!
for _ in $(seq 1 100); do grep -q "token=" "$TMP/console.out" 2>/dev/null && break; sleep 0.1; done
cat "$TMP/console.out"
LINK=$(grep -o 'http://127.0.0.1:[0-9]*/?token=[0-9a-f]*' "$TMP/console.out")
python3 - "${LINK%%/?token=*}" <<'PY'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1] + "/api/signals", timeout=5)
    print("a request without the link's token was answered")
except urllib.error.HTTPError as e:
    print(f"a request without the link's token: HTTP {e.code}, refused")
PY
kill -TERM "$CONSOLE_PID"; wait "$CONSOLE_PID" || true; CONSOLE_PID=""

say "Stopping the server"
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""
rm -rf "$OUT_DIR/office"
cp -r "$TMP/office" "$OUT_DIR/office"
echo "The demo's office store is kept; to look at it in the console yourself:"
echo "  VELD_PASSPHRASE='$VELD_PASSPHRASE' $VELD --store $OUT_DIR/office office console"
echo "demo done"
