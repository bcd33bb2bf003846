#!/usr/bin/env bash
# run.sh BUILD_DIR - the office console in a real browser (test_console_browser).
#
# Seeds an office store the way tests/demo.sh does: a real `veld serve` on
# 127.0.0.1, the office and two phones of team noord, a client with signals
# of three severities, ZRM scores, and a conflict (both phones edit the
# client's phone number offline). Then starts `veld office console` and
# runs console.test.js in headless Chromium (Debian's chromium, driven by
# puppeteer-core, both installed by .ci/install-browser). The dashboard's
# screenshot is kept in BUILD_DIR/console-dashboard.png.
# Every process it starts is stopped on exit, whatever happens.
set -euo pipefail

build=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
VELD=$build/veld
CHROMIUM=$(command -v chromium || true)
if [ -z "$CHROMIUM" ] || [ ! -d "$here/node_modules/puppeteer-core" ] || ! command -v node >/dev/null; then
  echo "test_console_browser: skipped: run .ci/install-browser (chromium, node, puppeteer-core)"
  exit 77
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

export VELD_PASSPHRASE='correct horse battery staple'
KDF=(--kdf-memory 19 --kdf-passes 2)
office() { "$VELD" --store "$tmp/office" --user office1 "$@"; }
anna() { "$VELD" --store "$tmp/anna" --user anna "$@"; }
bram() { "$VELD" --store "$tmp/bram" --user bram "$@"; }
json_get() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# wait_line FILE PATTERN: until FILE has a line matching PATTERN (at most 30 s).
wait_line() {
  for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "test_console_browser: timed out waiting for '$2' in $1" >&2
  cat "$1" >&2 || true
  exit 1
}

"$VELD" serve --listen 127.0.0.1:0 --data "$tmp/server" >"$tmp/server.out" 2>"$tmp/server.log" &
pids+=($!)
wait_line "$tmp/server.out" "setup code"
URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$tmp/server.out" | head -1)
SETUP=$(sed -n 's/^office setup code: //p' "$tmp/server.out")

office office init "${KDF[@]}" >/dev/null
office office enroll "$URL" "$SETUP" >/dev/null
for w in anna bram; do
  code=$(office office invite --team noord --json | json_get "['code']")
  "$w" init --team noord "${KDF[@]}" >/dev/null
  "$w" enroll "$URL" "$code" --label "$w-phone" >/dev/null
done
anna sync >/dev/null
office office sync >/dev/null
bram sync >/dev/null

C=$(anna client add --name "Jan Jansen" --team noord --contact-person anna --phone 0612345678 \
  --json | json_get "['id']")
anna signal raise --client "$C" --kind missed_visits --severity low >/dev/null
anna signal raise --client "$C" --kind rent_arrears --severity high --description "two months" >/dev/null
anna signal raise --client "$C" --kind neighbour_complaints --severity medium >/dev/null
anna visit add --client "$C" --kind home_visit --started 2026-09-01T10:00 \
  --score financien=2 --score huisvesting=3 >/dev/null
anna visit add --client "$C" --kind home_visit --started 2026-11-01T10:00 \
  --score financien=3 --score huisvesting=4 >/dev/null
anna sync >/dev/null
bram sync >/dev/null
# Both phones change the phone number offline: a conflict.
anna client edit "$C" --phone 0611111111 >/dev/null
bram client edit "$C" --phone 0622222222 >/dev/null
anna sync >/dev/null
bram sync >/dev/null
anna sync >/dev/null
office office sync >/dev/null
[ "$(anna conflicts --json | json_get '.__len__()')" = 1 ] || { echo "no conflict seeded" >&2; exit 1; }

"$VELD" --store "$tmp/office" --user office1 office console --listen 127.0.0.1:0 \
  >"$tmp/console.out" 2>"$tmp/console.err" &
pids+=($!)
wait_line "$tmp/console.out" "token="
LINK=$(grep -o 'http://127.0.0.1:[0-9]*/?token=[0-9a-f]*' "$tmp/console.out")

CHROMIUM=$CHROMIUM LINK=$LINK VELD=$VELD DEVICE_STORE=$tmp/anna CLIENT=$C \
  SCREENSHOT=$build/console-dashboard.png SHOTS=${VELD_CONSOLE_SHOTS:-} node "$here/console.test.js"
