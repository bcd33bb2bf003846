# lib.sh - what the CLI tests (cli_test.sh, due_test.sh) share: running the
# real binary (under valgrind with VELD_VALGRIND=1: a leak or a memory error
# fails the test, exit 99 from valgrind) and checking what it printed.
# Sourced after the test has set VELD (the binary) and tmp (its directory);
# counts its checks in `checks`.
checks=0
fail() {
	echo "FAIL: $*" >&2
	if [ -s "$tmp/err" ]; then echo "--- stderr:" >&2; cat "$tmp/err" >&2; fi
	if [ -s "$tmp/out" ]; then echo "--- stdout:" >&2; head -40 "$tmp/out" >&2; fi
	exit 1
}

# veld ARGS...: run the binary (under valgrind if asked); stdout in
# $tmp/out, stderr in $tmp/err, both also appended to $tmp/all so the end
# of the test can check the passphrase never appeared. Returns veld's code.
veld() {
	local rc=0
	if [ "${VELD_VALGRIND:-0}" = 1 ]; then
		valgrind --leak-check=full --error-exitcode=99 -q "$VELD" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	else
		"$VELD" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	fi
	cat "$tmp/out" "$tmp/err" >>"$tmp/all"
	[ "$rc" != 99 ] || [ "${VELD_VALGRIND:-0}" != 1 ] || fail "valgrind found errors: veld $*"
	return "$rc"
}

# ok ARGS...: veld must exit 0.
ok() {
	veld "$@" || fail "expected exit 0, got $?: veld $*"
	checks=$((checks + 1))
}

# status N ARGS...: veld must exit N.
status() {
	local want=$1 rc=0
	shift
	veld "$@" || rc=$?
	[ "$rc" = "$want" ] || fail "expected exit $want, got $rc: veld $*"
	checks=$((checks + 1))
}

# has TEXT / hasnt TEXT: the last stdout contains (or not) TEXT.
has() {
	grep -qF -- "$1" "$tmp/out" || fail "output lacks '$1'"
	checks=$((checks + 1))
}
hasnt() {
	! grep -qF -- "$1" "$tmp/out" || fail "output should not contain '$1'"
	checks=$((checks + 1))
}
err_has() {
	grep -qF -- "$1" "$tmp/err" || fail "stderr lacks '$1'"
	checks=$((checks + 1))
}
# err_lacks TEXT: the last stderr does not contain TEXT (a value given).
err_lacks() {
	! grep -qF -- "$1" "$tmp/err" || fail "stderr should not contain '$1'"
	checks=$((checks + 1))
}

# json EXPR: evaluate a Python expression over the last stdout, parsed as
# JSON (bound to `j`); prints the result.
json() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
		"$tmp/out" "$1" || fail "cannot evaluate $1 on the output"
}

# expect VALUE EXPR: json EXPR must print VALUE.
expect() {
	local got
	got=$(json "$2")
	[ "$got" = "$1" ] || fail "expected $2 == '$1', got '$got'"
	checks=$((checks + 1))
}

# line_has TEXT MORE: a line of the last stdout holds both.
line_has() {
	grep -F -- "$1" "$tmp/out" | grep -qF -- "$2" || fail "no line with '$1' and '$2'"
	checks=$((checks + 1))
}

# id_of: the id of the record the last command printed with --json.
id_of() { json 'j["id"]'; }
