#!/bin/sh
# store-cli.sh - end-to-end test of `cloister init`, `passwd` and
# `store check|rotate` with passphrases from a descriptor, in a temp dir.
set -u
top=${CL_TOP_BUILDDIR:-.}
C="$top/cloister"
t=$(mktemp -d "${TMPDIR:-/tmp}/store-cli.XXXXXX") || exit 99
trap 'rm -rf "$t"' EXIT
export XDG_DATA_HOME="$t/data" XDG_CONFIG_HOME="$t/config"
export CLOISTER_TEST_WEAK_KDF=1
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() {	# expect STATUS command...
	want=$1; shift
	"$@" >"$t/out" 2>"$t/err"; got=$?
	[ "$got" -eq "$want" ] || { cat "$t/err" >&2; fail "$* -> $got, want $want"; }
}

echo pw1 | expect 0 "$C" init --passphrase-fd 0
[ -f "$t/data/cloister/store.db" ] && [ -f "$t/data/cloister/store.key" ] ||
	fail "store files missing"
[ -d "$t/config/cloister" ] || fail "config dir missing"
[ "$(stat -c %a "$t/data/cloister/store.db")" = 600 ] || fail "db mode"
[ "$(stat -c %a "$t/data/cloister/store.key")" = 600 ] || fail "key mode"
echo pw1 | expect 1 "$C" init --passphrase-fd 0
grep -q "refusing to overwrite" "$t/err" || fail "overwrite message"
echo wrong | expect 6 "$C" store check --passphrase-fd 0
grep -q "wrong passphrase" "$t/err" || fail "wrong passphrase message"
[ -s "$t/out" ] && fail "output despite a wrong passphrase"
echo pw1 | expect 0 "$C" store check --passphrase-fd 0
printf 'pw1\npw2\n' | expect 0 "$C" passwd --passphrase-fd 0
echo pw1 | expect 6 "$C" store check --passphrase-fd 0
echo pw2 | expect 0 "$C" store rotate --passphrase-fd 0
echo pw2 | expect 0 "$C" store check --passphrase-fd 0
expect 2 "$C" store frobnicate
expect 2 "$C" init --bogus
# Tamper with page 2: exit status 7 and the page named.
printf '\001' | dd of="$t/data/cloister/store.db" bs=1 seek=5000 \
    conv=notrunc 2>/dev/null
echo pw2 | expect 7 "$C" store check --passphrase-fd 0
grep -q "page 2 of the database" "$t/err" || fail "page not named"
# Shared mode: check works without a passphrase.
rm -rf "$t/data"
echo admin | expect 0 "$C" init --shared --passphrase-fd 0
expect 0 "$C" store check </dev/null
exit 0
