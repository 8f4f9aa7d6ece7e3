#!/bin/sh
# audit-cli.sh - end-to-end test of `cloister audit ...` on a shared store,
# passphrases from a descriptor, in a temp dir.  The session API itself
# (what the broker writes) is tested in check_audit.c.
set -u
top=${CL_TOP_BUILDDIR:-.}
C="$top/cloister"
t=$(mktemp -d "${TMPDIR:-/tmp}/audit-cli.XXXXXX") || exit 99
trap 'rm -rf "$t"' EXIT
export XDG_DATA_HOME="$t/data" XDG_CONFIG_HOME="$t/config"
export CLOISTER_TEST_WEAK_KDF=1
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() {	# expect STATUS command...
	want=$1; shift
	"$@" >"$t/out" 2>"$t/err"; got=$?
	[ "$got" -eq "$want" ] || { cat "$t/err" >&2; fail "$* -> $got, want $want"; }
}

echo admin | expect 0 "$C" init --shared --passphrase-fd 0
expect 0 "$C" audit status </dev/null
grep -q "never enabled" "$t/out" || fail "status before enable"
# Changing settings needs the admin.
echo wrong | expect 6 "$C" audit enable --level full --profile kid \
    --passphrase-fd 0
echo admin | expect 0 "$C" audit enable --level full --profile kid \
    --passphrase-fd 0
# No policy: nothing asks for a log yet, and the command says so.
grep -q "note: there is no policy" "$t/err" || fail "no note without policy"
echo admin | expect 0 "$C" audit enable --level metadata --passphrase-fd 0
echo admin | expect 0 "$C" audit disable --profile guest --passphrase-fd 0
echo admin | expect 0 "$C" audit retention 30 --passphrase-fd 0
expect 0 "$C" audit status </dev/null
grep -q "profile kid: full" "$t/out" || fail "kid level"
grep -q "profile guest: off" "$t/out" || fail "guest level"
grep -q "default level: metadata" "$t/out" || fail "default level"
grep -q "retention: 30 days" "$t/out" || fail "retention"
grep -q "events: 4 " "$t/out" || fail "four admin events"
expect 2 "$C" audit enable --level loud
expect 2 "$C" audit frobnicate

echo admin | expect 0 "$C" audit list --passphrase-fd 0
[ "$(grep -c admin_action "$t/out")" -eq 4 ] || fail "list"
echo admin | expect 0 "$C" audit list --kind checkpoint --passphrase-fd 0
[ -s "$t/out" ] && fail "list --kind"
echo admin | expect 0 "$C" audit show 1 --passphrase-fd 0
grep -q '"action":"set_level"' "$t/out" || fail "show body"
echo admin | expect 1 "$C" audit show 99 --passphrase-fd 0

# Checkpoint, export, verify-export with the public key alone.
echo admin | expect 0 "$C" audit checkpoint --export "$t/cp" \
    --passphrase-fd 0
echo admin | expect 0 "$C" audit verify --checkpoint "$t/cp" \
    --passphrase-fd 0
grep -q "intact: 5 events" "$t/out" || fail "verify output"
expect 0 "$C" audit public-key </dev/null
cp "$t/out" "$t/pub"
echo admin | expect 0 "$C" audit export --format jsonl --passphrase-fd 0
cp "$t/out" "$t/export.jsonl"
[ "$(wc -l < "$t/export.jsonl")" -eq 6 ] || fail "export lines"
expect 0 "$C" audit verify-export "$t/export.jsonl" --public-key "$t/pub"
sed 's/set_level/set_levex/' "$t/export.jsonl" > "$t/bad.jsonl"
expect 7 "$C" audit verify-export "$t/bad.jsonl" --public-key "$t/pub"
head -n 3 "$t/export.jsonl" > "$t/cut.jsonl"
expect 7 "$C" audit verify-export "$t/cut.jsonl" --public-key "$t/pub"

# Purge keeps a log that verifies.
echo admin | expect 0 "$C" audit purge --before 2999-01-01 --passphrase-fd 0
grep -q "purged 5 event bodies" "$t/out" || fail "purge count"
echo admin | expect 0 "$C" audit verify --checkpoint "$t/cp" \
    --passphrase-fd 0
echo admin | expect 2 "$C" audit purge --before yesterday --passphrase-fd 0

# Roll the whole store back to the copy made before the checkpoint.
mkdir "$t/bak"
cp "$t/data/cloister/store.db" "$t/data/cloister/store.key" "$t/bak/"
echo admin | expect 0 "$C" audit checkpoint --export "$t/cp2" \
    --passphrase-fd 0
cp "$t/bak/store.db" "$t/bak/store.key" "$t/data/cloister/"
echo admin | expect 0 "$C" audit verify --passphrase-fd 0
echo admin | expect 7 "$C" audit verify --checkpoint "$t/cp2" \
    --passphrase-fd 0
grep -q "rolled back" "$t/err" || fail "rollback not named"
exit 0
