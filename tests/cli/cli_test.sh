#!/usr/bin/env bash
# cli_test.sh BUILD_DIR - end-to-end test of the `veld` command.
#
# Runs the real binary against a throw-away store and checks what a worker
# and a script rely on: output, exit codes, the passphrase handling.
# With VELD_VALGRIND=1 every veld run is under valgrind, and a leak or a
# memory error fails the test (exit 99 from valgrind).
set -euo pipefail

build=${1:?usage: cli_test.sh BUILD_DIR}
VELD=$(cd "$build" && pwd)/veld
[ -x "$VELD" ] || { echo "cli_test: no veld binary at $VELD" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

PASS1='correct horse battery staple'
PASS2='another long passphrase 2'
export VELD_STORE="$tmp/store"
export VELD_PASSPHRASE="$PASS1"
export VELD_USER=tester
unset VELD_NEW_PASSPHRASE XDG_DATA_HOME || true

. "$(dirname "$0")/lib.sh"

KDF=(--kdf-memory 19 --kdf-passes 2)

# ---- usage ------------------------------------------------------------------
ok --version
has "veld "
ok --help
has "client"
ok client --help
has "veld client add"
ok visit add --help
has "--score"
status 2 frobnicate
err_has "unknown command"
status 2 client frobnicate
status 2
status 2 client add --no-such-option
status 2 client add --initials X        # --name is required
status 2 client add --name X --care-status nonsense
status 2 client add --name X --birth-date 1990-13-45
status 2 visit add --client abcd --kind teleport
status 2 visit add --client abcd --kind home_visit --started yesterday

# The store does not exist yet.
status 3 info

# ---- init -------------------------------------------------------------------
VELD_PASSPHRASE=short status 2 init "${KDF[@]}"     # under 8 bytes
ok init "${KDF[@]}" --team noord
has "created a veld store"
status 1 init "${KDF[@]}"                            # already there
ok info --json
expect noord 'j["team"]'
ok verify

# ---- clients ----------------------------------------------------------------
ok client add --json --name "Jan de Vries" --initials JdV --birth-date 1971-04-02 \
	--address "Kerkstraat 1, Utrecht" --phone 0612345678 --care-status beschermd_thuis \
	--care-active yes --care-end 2027-01-31 --housing-corporation Mitros \
	--tenancy T-118 --support-clause yes --contact-person anna --team noord
C1=$(json 'j["id"]')
[ ${#C1} -ge 16 ] || fail "client add printed no id"
expect "Jan de Vries" 'j["name"]'
ok client add --json --name "Fatima el Amrani" --care-status beschermd_wonen
C2=$(json 'j["id"]')
[ "$C1" != "$C2" ] || fail "two clients got one id"

ok client list
has "Jan de Vries"
has "Fatima el Amrani"
has "beschermd_thuis"
has "${C1:0:8}"
ok client list --query vries
has "Jan de Vries"
hasnt "Fatima"

ok client show "${C1:0:8}"                           # a prefix is enough
has "Jan de Vries"
has "Kerkstraat 1"
ok client show --json "$C1"
expect True 'j["care_decision"]["active"]'
expect "2027-01-31" 'j["care_decision"]["end_date"]'
expect True 'j["housing"]["support_clause"]'

# An edit of one sub-field keeps the others.
ok client edit "$C1" --care-end 2027-06-30 --phone 0687654321
ok client show --json "$C1"
expect "2027-06-30" 'j["care_decision"]["end_date"]'
expect True 'j["care_decision"]["active"]'
expect Mitros 'j["housing"]["corporation"]'
expect 0687654321 'j["phone"]'
status 2 client edit "$C1"                           # nothing to change

status 3 client show ffffffffffff
status 3 client show --json 0000000000000000

# ---- visits -----------------------------------------------------------------
ok visit add --json --client "${C1:0:8}" --kind home_visit --planned 2026-11-22T10:00 \
	--started now --domains financien,huisvesting --score financien=3 --score huisvesting=2 \
	--actions "Samen naar de schuldhulp"
V1=$(json 'j["id"]')
expect 3 'j["scores"]["financien"]'
expect 2 'j["scores"]["huisvesting"]'
expect "$C1" 'j["client"]'
status 2 visit add --client "$C1" --kind phone --score financien=9
status 2 visit add --client "$C1" --kind phone --score nodomain=3
ok visit edit "$V1" --score financien=4 --ended now
ok visit show --json "$V1"
expect 4 'j["scores"]["financien"]'
expect 2 'j["scores"]["huisvesting"]'
ok visit add --client "$C2" --kind phone --started 2026-11-21T09:15:00+01:00
ok visit list
has "${V1:0:8}"
has "home_visit"
has "phone"
ok visit list --client "$C1"
has "home_visit"
hasnt "phone"

# ---- progress ---------------------------------------------------------------
# A client's ZRM scores over time, at fixed times recorded out of order; a
# planned time counts when a visit has no start; a visit without scores is
# left out.
ok client add --json --name "Piet Voortgang"
C3=$(json 'j["id"]')
ok visit add --client "$C3" --kind home_visit --started 2026-03-10T10:00Z --score financien=3 \
	--score huisvesting=2
ok visit add --client "$C3" --kind home_visit --started 2026-01-10T10:00Z --score financien=1 \
	--score huisvesting=2
ok visit add --client "$C3" --kind phone --planned 2026-05-10T10:00Z --score justitie=4 \
	--score financien=5
ok visit add --client "$C3" --kind phone --started 2026-06-01T10:00Z
ok client progress "${C3:0:8}" --purpose "weekly review"
has "client ${C3:0:8}: 3 visits with scores, 2026-01-10 to 2026-05-10 (ZRM 2017)"
has "DOMAIN                          FIRST  LATEST  CHANGE  SCORES, OLDEST FIRST"
has "Financien                           1       5      +4  ▁▅█"
has "Huisvesting                         2       2       0  ▃▃"
has "Justitie                            4       4       0  ▆"
# In the ZRM's order, one line per scored domain after the two heading lines.
[ "$(cut -c1-12 "$tmp/out" | tr -s ' ' | tr '\n' '|')" = \
	"client ${C3:0:5}|DOMAIN |Financien |Huisvesting |Justitie |" ] ||
	fail "client progress: a line per scored domain, in the ZRM's order"
ok log show --json --client "$C3"
expect "read weekly review" 'j[-1]["event"] + " " + j[-1]["purpose"]'
ok client progress --json "$C3"
expect "$C3" 'j["client"]'
expect "financien huisvesting justitie" '" ".join(d["code"] for d in j["domains"])'
expect "[1, 3, 5]" '[p["score"] for p in j["domains"][0]["series"]]'
expect "0 2" '"%d %d" % (j["domains"][1]["change"], len(j["domains"][1]["series"]))'
expect "2026-05-10T10:00Z" 'j["domains"][0]["latest"]["at"]'
ok client progress "$C2"                              # one visit, without scores
has "has no visits with scores"
status 3 client progress ffffffffffff
err_has "no client with that id"
! grep -qF ffffffffffff "$tmp/err" || fail "client progress: the error repeats the id given"
status 2 client progress
status 2 client progress "$C3" "$C2"
# The chart shows the latest 24 scores: 25 visits, scored 1..5 over and over.
ok client add --json --name "Lange Reeks"
C4=$(json 'j["id"]')
for day in $(seq 1 25); do
	ok visit add --client "$C4" --kind phone --started "$(printf '2026-01-%02dT10:00Z' "$day")" \
		--score werk_opleiding=$(( (day - 1) % 5 + 1 ))
done
ok client progress "$C4"
has "Werk & opleiding                    1       5      +4  ▃▅▆█▁▃▅▆█▁▃▅▆█▁▃▅▆█▁▃▅▆█"

# ---- notes ------------------------------------------------------------------
ok note add --json --client "$C1" --visit "${V1:0:8}" --text "Huur van oktober nog niet betaald." \
	--tags financien,huisvesting
N1=$(json 'j["id"]')
ok note amend "${N1:0:8}" --json --text "Huur van oktober en november nog niet betaald."
N2=$(json 'j["id"]')
expect "$N1" 'j["amends"]'
expect "$C1" 'j["client"]'
echo "Gesprek met de buurvrouw over geluidsoverlast." | veld note add --client "$C1" --text - ||
	fail "note add --text - failed"
# The first line of standard input is the passphrase, the rest the note.
printf '%s\nRegel een.\nRegel twee.\n' "$PASS1" |
	(unset VELD_PASSPHRASE; veld note add --client "$C1" --text - --passphrase-fd 0 --json) ||
	fail "note add with the passphrase and the text on standard input failed"
expect "Regel een.
Regel twee." 'j["text"]'
ok note list --client "$C1"
has "Huur van oktober nog niet"
has "[amended]"
has "amends ${N1:0:8}"
has "Gesprek met de buurvrouw"
ok note show "$N2"
has "november"
status 2 note add --client "$C1"                     # no text

# ---- goals ------------------------------------------------------------------
ok goal set --json --client "$C1" --domain financien --description "Vaste lasten automatisch betalen" \
	--review-date 2027-03-01
G1=$(json 'j["id"]')
ok goal edit "$G1" --status achieved
ok goal list --client "$C1"
has "achieved"
has "Vaste lasten"
status 2 goal set --client "$C1" --domain nodomain --description x

# ---- signals ----------------------------------------------------------------
ok signal raise --json --client "$C1" --kind rent_arrears --severity high --description "Twee maanden achterstand"
S1=$(json 'j["id"]')
ok signal raise --json --client "$C2" --kind relapse --severity critical
S2=$(json 'j["id"]')
ok signal close "$S1" --follow-up "Betalingsregeling getroffen"
ok signal show --json "$S1"
expect closed 'j["status"]'
expect "Betalingsregeling getroffen" 'j["follow_up"]'
ok signal list
has "rent_arrears"
has "relapse"
# open first: the open relapse signal comes before the closed one
first=$(grep -m1 -E 'relapse|rent_arrears' "$tmp/out")
[[ "$first" == *relapse* ]] || fail "open signals should be listed first"
ok signal list --open
has "${S2:0:8}"
hasnt "${S1:0:8}"
status 2 signal raise --client "$C1" --kind fire --severity high

# ---- the record schema, and records of any kind -----------------------------
ok schema
has "record schema beschermd-thuis version 1"
has "kind note (append-only)"
has "  form                   enum           required; one of: via_care_provider, three_party, own_name"
has "  agreed_days            int            1 to 365"
has "  escalation             ref            required; -> escalation"
has "  themes                 codes          list woonkompas_themes"
has "  huur_betalen           Huur en betalen"
has "list contact_persons: no entries yet"
has "list services: no entries yet"
ok schema --json
expect beschermd-thuis 'j["name"]'
expect 20 'len(j["kinds"])'
expect int 'j["kinds"]["time_out"]["fields"]["agreed_days"]["type"]'
expect "[]" 'j["lists"]["services"]'
expect 2017 '",".join(j["domains"])'
status 2 schema tenancy

# A tenancy with its support clause signed today; the store keeps the
# client's full id for a prefix.
ok record add tenancy --json --client "${C1:0:8}" --set form=three_party --set corporation=Mitros \
	--set start=2026-12-01 --set clause_version=v1 --set clause_signed=today
T1=$(json 'j["id"]')
expect "$C1" 'j["client"]'
expect three_party 'j["form"]'
expect "$(date +%F)" 'j["clause_signed"]'
ok record list tenancy --client "$C1"
has "ID        CLIENT    DATE        FORM                  CORPORATION           CLAUSE_VERSION"
has "${T1:0:8}  ${C1:0:8}  2026-12-01  three_party           Mitros                v1"
ok record show tenancy "${T1:0:8}"
has "tenancy $T1"
has "corporation:       Mitros"
# in the schema's order: the clause's version before its signature
[ "$(grep -n 'clause version:' "$tmp/out" | cut -d: -f1)" -lt \
  "$(grep -n 'clause signed:' "$tmp/out" | cut -d: -f1)" ] || fail "show is not in the schema's order"
ok record edit tenancy "$T1" --set corporation= --set own_name_planned=2027-06-01
has "updated tenancy $T1"
ok record show --json tenancy "$T1"
expect False '"corporation" in j'
expect 2027-06-01 'j["own_name_planned"]'
expect v1 'j["clause_version"]'

# A Woonkompas conversation: options, and codes of the schema's list.
ok record add woonkompas --json --client "$C1" --set date=2026-12-02 \
	--set participants=client,worker,corporation --set themes=huur_betalen,buren_overlast \
	--set summary="Huur op tijd, afspraken over geluid"
W1=$(json 'j["id"]')
expect "client worker corporation" '" ".join(j["participants"])'
expect "huur_betalen buren_overlast" '" ".join(j["themes"])'
ok record list woonkompas --query "OVER GELUID"
has "${W1:0:8}  ${C1:0:8}  2026-12-02  client, worker, corp"
ok record list woonkompas --query "niet gezegd"
has "no woonkompas records"
status 2 record add woonkompas --client "$C1" --set date=2026-12-02 --set themes=huur_betalen,geheimpje
err_has "woonkompas field 'themes' must be a code of the list 'woonkompas_themes'"
err_lacks geheimpje
status 2 record add woonkompas --client "$C1" --set date=2026-12-02 --set participants=client,,worker
err_has "--set participants needs options separated by commas"

# The conversation as the page everyone signs: every theme of the list, the
# ones gone through marked, its agreements (actions that name it) and no
# action of another conversation.
ok record add action --json --client "$C1" --set description="Huur per automatische incasso" \
	--set owner=client --set due=2026-12-20 --set woonkompas="$W1"
ok record add action --client "$C1" --set description="Iets anders" --set owner=worker
ok woonkompas print "${W1:0:8}"
has "Client:        Jan de Vries"
has "  [x] Huur en betalen"
has "  [x] Buren en overlast"
has "  [ ] Veiligheid in en om huis"
has "Huur per automatische incasso"
has "2026-12-20"
hasnt "Iets anders"
ok woonkompas print --html "$W1"
has "<!DOCTYPE html>"
has "@page{size:A4"
has "&#9745;</td><td>Huur en betalen"
ok woonkompas print --json "$W1"
expect 1 'len(j["agreements"])'
expect 11 'len(j["themes"])'
status 3 woonkompas print 00000000000000000000000000000000
status 2 woonkompas print

# An escalation and a step of its ladder, named by prefixes.
ok record add escalation --json --client "$C1" --set about=rent_arrears --set amount=850 \
	--set signal="${S1:0:8}"
E1=$(json 'j["id"]')
expect "$S1" 'j["signal"]'
expect open 'j["status"]'
expect 850 'j["amount"]'
ok record add escalation_step --json --client "$C1" --set escalation="${E1:0:6}" \
	--set step=payment_plan --set date=today --set owner=anna --set due=2027-01-15
ES1=$(json 'j["id"]')
expect "$E1" 'j["escalation"]'
ok record list escalation_step --client "${C1:0:8}"
has "${ES1:0:8}  ${C1:0:8}  $(date +%F)  ${E1:0:8}    payment_plan          anna"
ok record edit escalation_step "${ES1:0:8}" --set done=2027-01-10
ok record show --json escalation_step "$ES1"
expect 2027-01-10 'j["done"]'
status 2 record add escalation_step --client "$C1" --set escalation=zz-top --set step=summons \
	--set date=2027-02-01
err_has "--set escalation needs a record id"
# --yes is required, and asked for before the passphrase
VELD_PASSPHRASE="wrong passphrase" status 2 record delete escalation_step "$ES1"
err_has "--yes"
ok record delete escalation_step "$ES1" --yes
has "deleted escalation_step $ES1"
status 3 record show escalation_step "$ES1"
ok record list escalation_step
has "no escalation_step records"

# A time-out: a whole number within the field's range, yes and no.
ok record add time_out --json --client "$C1" --set start=2026-11-03 --set agreed_days=14 \
	--set rent_continued=yes --set corporation_informed=no
TO1=$(json 'j["id"]')
expect 14 'j["agreed_days"]'
expect True 'j["rent_continued"]'
expect False 'j["corporation_informed"]'
ok record list time_out
has "2026-11-03  14           yes             no"
status 2 record edit time_out "$TO1" --set agreed_days=400
err_has "time_out field 'agreed_days' must be a whole number from 1 to 365"
err_lacks 400
status 2 record edit time_out "$TO1" --set agreed_days=veertien
err_has "--set agreed_days needs a whole number"
status 2 record edit time_out "$TO1" --set returned_home=misschien
err_has "--set returned_home must be yes or no"
status 2 record edit time_out "$TO1" --set end=gisteren
err_has "--set end needs a date as YYYY-MM-DD, or today"
ok record edit time_out "$TO1" --set returned_home=true --set end=2026-11-17 --set rent_continued=
ok record show --json time_out "$TO1"
expect True 'j["returned_home"]'
expect False '"rent_continued" in j'
# Scores, a care decision and housing: the API's shapes.
ok record add visit --json --client "$C1" --set kind=phone --set started=now \
	--set scores="financien=3, huisvesting=2"
expect 3 'j["scores"]["financien"]'
expect 2 'j["scores"]["huisvesting"]'
status 2 record add visit --client "$C1" --set kind=phone --set scores=financien
err_has "--set scores needs DOMAIN=N,... with N from 1 to 5"
ok record add client --json --set name="Piet Bakker" --set care_decision='{"active": true}' \
	--set housing='{"corporation": "Zayaz", "support_clause": true}'
expect True 'j["care_decision"]["active"]'
expect True 'j["housing"]["support_clause"]'
status 2 record add client --set name="Piet Bakker" --set housing=Zayaz
err_has "--set housing needs a JSON object"
err_lacks Zayaz
status 2 record add client --client "$C1" --set name="Piet Bakker"
err_has "a client record is its own client"
# Anything the options cannot say goes as JSON.
ok record add income --json --client "$C1" --fields '{"benefit": "wajong", "rent_allowance": true}' \
	--set since=2026-01-01
expect wajong 'j["benefit"]'
expect True 'j["rent_allowance"]'

# Usage errors name the option or the field, never a value.
status 2 record add tenancy --client "$C1" --set kleur=rood
err_has "tenancy has no field 'kleur'"
err_lacks rood
status 2 record add tenancy --client "$C1" --set "Jan de Vries"
err_has "--set needs FIELD=VALUE"
err_lacks "Jan"
status 2 record add tenancy --client "$C1" --set "Jan de Vries=x"
err_has "--set needs FIELD=VALUE"
err_lacks "Jan"
status 2 record add Jansen --client "$C1"
err_has "unknown record kind; the kinds are: client visit note goal signal phase"
err_lacks "Jansen"
VELD_PASSPHRASE="wrong passphrase" status 2 record add tenancy --set form=own_name
err_has "a record needs --client"
status 2 record add tenancy --client "$C1" --set form=own_name --fields '{"form": "own_name"}'
err_has "field 'form' is given twice"
status 2 record add tenancy --client "$C1" --fields '["Jan de Vries"]'
err_has "--fields needs a JSON object"
err_lacks "Jan"
VELD_PASSPHRASE="wrong passphrase" status 2 record edit tenancy "$T1"
err_has "nothing to change: give --set FIELD=VALUE or --fields"
status 2 record edit tenancy "$T1" --client "$C2" --set form=own_name
err_has "cannot move to another client"
# Notes are append-only, and a client is erased, not deleted.
status 6 record edit note "$N1" --set text=anders
err_has "note records are append-only"
status 6 record delete note "$N1" --yes
err_has "note records are append-only"
status 6 record delete client "$C1" --yes
err_has "veld client erase"
ok record add note --json --client "$C1" --set text="Via record add." --set amends="$N2"
expect "$N2" 'j["amends"]'

# A kind the office adds later needs no new veld: a newer schema in the store
# (as the office's notice brings it) is in force at once.
ok schema --json
python3 - "$tmp/out" "$VELD_STORE/veld.db" <<'PY' || fail "cannot put a newer schema in the store"
import json, sqlite3, sys
doc = json.load(open(sys.argv[1]))
del doc["domains"]
doc["version"] += 1
doc["kinds"]["buurtcheck"] = {"fields": {
    "date": {"type": "date", "required": True}, "street_ok": {"type": "bool"},
    "service": {"type": "code", "list": "services"}, "remarks": {"type": "text", "search": True}}}
doc["lists"]["services"].append({"code": "inloop_west", "label": "Inloop West", "area": "West"})
doc["kinds"]["tenancy"]["fields"]["clause_version"]["retired"] = True
db = sqlite3.connect(sys.argv[2])
db.execute("INSERT INTO schemas(version, doc, at) VALUES (?, ?, 0)", (doc["version"], json.dumps(doc)))
db.commit()
PY
ok schema
has "record schema beschermd-thuis version 2"
has "kind buurtcheck"
has "  clause_version         text           retired"
has "  inloop_west            Inloop West (area: West)"
ok record add buurtcheck --json --client "$C1" --set date=today --set street_ok=no \
	--set service=inloop_west
B1=$(json 'j["id"]')
expect inloop_west 'j["service"]'
ok record list buurtcheck
has "${B1:0:8}  ${C1:0:8}  $(date +%F)  no         inloop_west"
status 2 record edit tenancy "$T1" --set clause_version=v2
err_has "tenancy field 'clause_version' is no longer in use"

# ---- conflicts, policy, log -------------------------------------------------
ok conflicts
ok conflicts --json
expect 0 'len(j)'
ok domains
has "financien"
has "justitie"
# A worker device cannot change the retention policy; the office sets it.
status 6 policy set note 7300 --basis "WGBO 20 years"
ok policy show
has "only while the case is active"
ok purge --dry-run
ok log show --client "$C1"
has "tester"
ok log show --json
[ "$(json 'len(j)')" -gt 5 ] || fail "the access log should have entries"
ok log verify
has "intact"
# Every device's log is the office's to show; a worker's store holds only its own.
status 2 office log
err_has "only the office"
status 2 log show --device abcd
ok office log --help
has "--device"
# The team's field policy: a store that never enrolled follows none and
# records every field; the office sets it, naming only governed fields.
ok fields --json
expect noord 'j["team"]'
expect None 'j["set"]'
expect "address,phone" '",".join(j["fields"])'
expect False 'j["applies"]'
ok fields
has "stay at the office:       initials, birth_date"
status 2 office fields                                 # which team?
status 2 office fields noord --set address,bsn
err_has "'bsn' is not a client field"
status 2 office fields noord --set name
err_has "always reaches"
status 2 office erase "$C1"                          # --yes is required
err_has "--yes"
# A client's request for access (AVG art. 15): one readable document, mode 0600.
ok office export "$C1" --out "$tmp/export.json"
[ "$(stat -c %a "$tmp/export.json")" = 600 ] || fail "the export must be mode 0600"
grep -qF "Jan de Vries" "$tmp/export.json" || fail "the export lacks the client's name"
grep -qF '"access_log"' "$tmp/export.json" || fail "the export lacks the access log"
status 1 office export "$C1" --out "$tmp/export.json" # never overwrites
ok office export "$C1"
expect "Jan de Vries" 'j["client"]["name"]'

# ---- passphrases ------------------------------------------------------------
VELD_PASSPHRASE="wrong passphrase" status 4 info
err_has "veld:"
(unset VELD_PASSPHRASE; veld info --passphrase-fd 3 3<<<"$PASS1") ||
	fail "--passphrase-fd did not open the store"
if command -v setsid >/dev/null 2>&1; then
	rc=0
	env -u VELD_PASSPHRASE setsid -w "$VELD" info </dev/null >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ "$rc" = 2 ] || fail "no passphrase and no terminal should exit 2, got $rc"
	err_has "VELD_PASSPHRASE"
fi
VELD_NEW_PASSPHRASE=short status 2 passwd
VELD_NEW_PASSPHRASE="$PASS2" ok passwd
status 4 info                                         # the old one no longer works
VELD_PASSPHRASE="$PASS2" ok client list
has "Jan de Vries"
# and back, the new passphrase from a descriptor
VELD_PASSPHRASE="$PASS2" ok passwd --new-passphrase-fd 3 3<<<"$PASS1"
ok info

# ---- erasure ----------------------------------------------------------------
status 2 client erase "$C2"                          # needs --yes
ok client show "$C2"
ok client erase "$C2" --yes
rc=0; veld client show "$C2" || rc=$?
[ "$rc" != 0 ] || fail "an erased client can still be shown"
ok client list
hasnt "Fatima"
has "Jan de Vries"
ok log verify
ok verify

# ---- the partners' report ---------------------------------------------------
# An office store of its own; 2025Q4 is over whatever day the test runs, so
# the figures are fixed. Eleven clients in the programme, ten tenancies
# ended (moved) in 2025Q4; names, reasons and the corporation are canaries.
worker_store=$VELD_STORE
export VELD_STORE="$tmp/office"
ok office init "${KDF[@]}"
ids=()
for i in $(seq 1 11); do
	ok --json client add --name "CANARY-NAME-$i" --address "CANARY-STREET $i" --team noord
	ids+=("$(sed -n 's/.*"id": "\([0-9a-f]*\)".*/\1/p' "$tmp/out" | head -1)")
	ok --json record add phase --client "${ids[-1]}" --set phase=beschermd_thuis \
		--set date=2025-01-01 --set reason="CANARY-REASON"
	if [ "$i" -le 10 ]; then
		ok --json record add tenancy --client "${ids[-1]}" --set form=three_party \
			--set corporation="CANARY-CORP" --set end=2025-11-01 --set end_reason=moved
	fi
done
ok office report --period 2025Q4
has '"period": "2025Q4"'
has '"2025Q1"'
ok --json office report --period 2025Q4
python3 - "$tmp/out" <<'PY' || fail "the report's JSON is not as counted"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["quarters"] == ["2025Q1", "2025Q2", "2025Q3", "2025Q4"], doc["quarters"]
ind = {(i["id"], i.get("group")): i["values"] for s in doc["sections"] for i in s["indicators"]}
assert ind[("clients_in_programme", None)] == [11, 11, 11, 11]
assert ind[("tenancies_ended", None)] == [0, 0, 0, 10]
assert ind[("tenancies_ended", "moved")] == [0, 0, 0, 10]
assert ind[("contact_person_share", None)] == [0, 0, 0, 0]
PY
checks=$((checks + 1))
ok office report --period 2025Q4 --format csv
[ "$(head -1 "$tmp/out")" = "section,indicator,group,unit,2025Q1,2025Q2,2025Q3,2025Q4" ] \
	|| fail "the CSV header"
has 'Doorstroom,"Huurcontracten beëindigd, naar reden",verhuisd,count,0,0,0,10'
[ "$(wc -l <"$tmp/out")" -gt 100 ] || fail "the CSV has a row per indicator"
checks=$((checks + 1))
ok office report --period 2025Q4 --format csv --lang en
has 'Flow,"Tenancies ended, by reason",moved,count,0,0,0,10'
ok office report --period 2025Q4 --format html --out "$tmp/report.html"
err_has "report.html"
grep -qF '<!doctype html>' "$tmp/report.html" || fail "the report is not HTML"
grep -qF 'var uPlot=' "$tmp/report.html" || fail "uPlot is not inlined"
grep -qF 'class=chart data-v=' "$tmp/report.html" || fail "the report has no charts"
grep -qF '@page{size:A4' "$tmp/report.html" || fail "the report has no A4 print style"
# It loads nothing from outside itself.
! grep -qiE '<script[^>]* src=|<link|@import|url\(' "$tmp/report.html" || fail "the report loads from outside"
checks=$((checks + 4))
ok office report --period 2025Q4 --format html --lang en
has 'Report for the partners'
has '<html lang=en>'
# No value or id of a client in any form.
for fmt in json csv html; do
	ok office report --period 2025Q4 --format "$fmt"
	hasnt "CANARY"
	for id in "${ids[@]}"; do hasnt "${id:0:8}"; done
done
# Errors: nothing is written, and nothing logged.
ok --json log show
before=$(grep -c '"event"' "$tmp/out")
status 2 office report
err_has "--period"
status 2 office report --period 2025Q5
err_has "YYYYQn"
err_lacks "2025Q5"
status 2 office report --period 2199Q1
err_has "not begun"
status 2 office report --period 2025Q4 --format pdf
err_has "--format"
status 2 office report --period 2025Q4 --lang fr
err_has "--lang"
ok --json log show
[ "$(grep -c '"event"' "$tmp/out")" = "$before" ] || fail "a refused report was logged"
checks=$((checks + 1))
# One access-log entry a report: event report, purpose monitoring, no client.
ok --json log show --limit 1
before_report=$(cat "$tmp/out")
ok office report --period 2025Q4
ok --json log show --limit 1
has '"event": "report"'
has '"purpose": "monitoring"'
has '"client": null'
[ "$(cat "$tmp/out")" != "$before_report" ] || fail "the report was not logged"
checks=$((checks + 1))
# A team is a name as at `veld init`: one a spreadsheet would take for a
# formula, or with a comma, is refused, and no client is made.
ok --json client list
clients_before=$(grep -c '"id"' "$tmp/out")
status 2 client add --name "CANARY-TEAM" --team "=HYPERLINK(1)"
err_has "team must be"
status 2 client add --name "CANARY-TEAM" --team "noord,zuid"
ok --json client list
[ "$(grep -c '"id"' "$tmp/out")" = "$clients_before" ] || fail "a client with a bad team was made"
checks=$((checks + 1))
# A worker's store has no report.
export VELD_STORE="$worker_store"
status 6 office report --period 2025Q4

# ---- TLS trust options: refused before the network ---------------------------
CODE0=AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA
status 2 enroll https://127.0.0.1:1 "$CODE0" --pin sha256//short
err_has "sha256//"
printf 'not a certificate\n' >"$tmp/not-a-ca.pem"
status 2 enroll https://127.0.0.1:1 "$CODE0" --ca-file "$tmp/not-a-ca.pem"
err_has "no PEM certificate"
status 3 sync                                         # and nothing was kept: not enrolled

# ---- the passphrase never shows ---------------------------------------------
! grep -qF -- "$PASS1" "$tmp/all" || fail "the passphrase appeared in veld's output"
! grep -qF -- "$PASS2" "$tmp/all" || fail "the new passphrase appeared in veld's output"

echo "cli_test: $checks checks passed"
