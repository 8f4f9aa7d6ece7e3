#!/bin/sh
# e2e-audit.sh - the audit log written by `cloister ask` and `cloister
# chat` around the real jailed engine: nothing at all with audit off,
# sealed prompt and answer text at full level that only the admin
# passphrase opens, no text at metadata level, a log that verifies.
# Scripted models answer a known text; XDG dirs are temporary.
set -u
top=${CL_TOP_BUILDDIR:-.}
C="$top/cloister"
t=$(mktemp -d "${TMPDIR:-/tmp}/e2e-audit.XXXXXX") || exit 99
trap '[ -n "${KEEP:-}" ] || rm -rf "$t"' EXIT
export XDG_DATA_HOME="$t/data" XDG_CONFIG_HOME="$t/config" TZ=UTC
export CLOISTER_ENGINE="$top/cloister-engine" CLOISTER_TEST_WEAK_KDF=1
unset CLOISTER_MODEL CLOISTER_TEST_NOW
P="$t/config/cloister/policy"
S="$t/data/cloister"
mkdir -p "$t/config/cloister"
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() {	# expect STATUS command...
	want=$1; shift
	"$@" >"$t/out" 2>"$t/err"; got=$?
	[ "$got" -eq "$want" ] || { cat "$t/err" >&2; fail "$* -> $got, want $want"; }
}
ANS="Four, and nothing else."
"$top/cloister-mkmodel" --preset scripted --text "$ANS" -o "$t/m.gguf" \
    >/dev/null || fail mkmodel
ask() { "$C" ask --temp 0 --model "$t/m.gguf" "$@"; }
# The sequence numbers of the events of `kind` (admin).
seqs() {
	echo admin | "$C" audit list --kind "$1" --passphrase-fd 0 2>/dev/null |
	    awk '{ print $1 }'
}

echo admin | expect 0 "$C" init --shared --passphrase-fd 0
cat > "$P" <<'EOF'
[default]
[profile kid]
audit = full
redact = email
[profile meta]
audit = metadata
[profile quiet]
EOF
echo admin | expect 0 "$C" policy seal --passphrase-fd 0

# Audit off: a whole session leaves every byte of the store as it was.
mkdir "$t/before"
cp -a "$S/." "$t/before/"
expect 0 ask --profile quiet "What is two plus two?"
[ "$(cat "$t/out")" = "$ANS" ] || fail "answer with audit off"
printf 'hello\nagain\n' | expect 0 "$C" chat --temp 0 --profile quiet \
    --model "$t/m.gguf"
[ "$(ls -A "$S")" = "$(ls -A "$t/before")" ] || fail "files appeared"
for f in "$t/before"/*; do
	cmp -s "$f" "$S/$(basename "$f")" ||
	    fail "$(basename "$f") changed with audit off"
done

# The policy asks for a log the administrator has not turned on: refuse.
expect 3 ask --profile kid "What is two plus two?"
grep -q "cloister audit enable --level full --profile kid" "$t/err" ||
    fail "the fix is not said"
[ -s "$t/out" ] && fail "answer without the log the policy asks for"

echo admin | expect 0 "$C" audit enable --level full --profile kid \
    --passphrase-fd 0
grep -q "note" "$t/err" && fail "a note for a profile the policy audits"
echo admin | expect 0 "$C" audit enable --level metadata --profile meta \
    --passphrase-fd 0
# Enabling for a profile the policy does not audit says it records nothing.
echo admin | expect 0 "$C" audit enable --level full --profile quiet \
    --passphrase-fd 0
grep -q "says 'audit = off' for profile 'quiet'" "$t/err" ||
    fail "no note that quiet is not audited"
echo admin | expect 0 "$C" audit disable --profile quiet --passphrase-fd 0

# Full level, a non-admin profile: the session is logged...
Q="What is two plus two? Mail me at bob@example.com"
expect 0 ask --profile kid "$Q"
[ "$(cat "$t/out")" = "$ANS" ] || fail "answer at full level"
# The session's checkpoint waits for the admin (the kid cannot sign).
expect 0 "$C" audit status </dev/null
grep -q "checkpoints: 0 signed, 1 awaiting" "$t/out" ||
    fail "pending checkpoint"
p=$(seqs prompt | tail -n 1)
a=$(seqs answer | tail -n 1)
[ -n "$p" ] && [ -n "$a" ] || fail "no prompt or answer event"
[ -n "$(seqs session_start)" ] || fail "no session_start"
[ -n "$(seqs session_end)" ] || fail "no session_end"
# ...but not readable without the admin passphrase...
echo wrong | expect 6 "$C" audit show "$p" --passphrase-fd 0
grep -q "two plus two" "$t/out" && fail "prompt shown without the admin"
expect 1 "$C" audit show "$p" </dev/null
grep -q "two plus two" "$t/out" && fail "prompt shown without a passphrase"
grep -q "two plus two" "$S/store.db" && fail "prompt in clear on disk"
# ...and with it, exactly (the email redacted, as the policy says).
echo admin | expect 0 "$C" audit show "$p" --passphrase-fd 0
grep -q '"text":"What is two plus two? Mail me at \[EMAIL\]"' "$t/out" ||
    fail "prompt text in the log"
grep -q "bob@example" "$t/out" && fail "email kept in the log"
echo admin | expect 0 "$C" audit show "$a" --passphrase-fd 0
grep -q "\"text\":\"$ANS\"" "$t/out" || fail "answer text in the log"
grep -q '"output_tokens":[1-9]' "$t/out" || fail "token counts"
# The session start records the jail, the model and the policy hashes.
s=$(seqs session_start | tail -n 1)
echo admin | expect 0 "$C" audit show "$s" --passphrase-fd 0
grep -q "$(sha256sum "$t/m.gguf" | cut -d' ' -f1)" "$t/out" ||
    fail "model hash"
grep -q "$(sha256sum "$P" | cut -d' ' -f1)" "$t/out" || fail "policy hash"
grep -q 'seccomp' "$t/out" || fail "attestation"

# A policy action is logged with its verdict, never the text.
cat > "$P" <<'EOF'
[default]
[profile kid]
audit = full
redact = email
block_terms = nothing
on_block = stop
[profile meta]
audit = metadata
EOF
echo admin | expect 0 "$C" policy seal --passphrase-fd 0
expect 3 ask --profile kid "Again?"
[ "$(cat "$t/out")" = "Four, and " ] || fail "stopped answer"
pa=$(seqs policy_action | tail -n 1)
[ -n "$pa" ] || fail "no policy_action event"
echo admin | expect 0 "$C" audit show "$pa" --passphrase-fd 0
grep -q 'block_term' "$t/out" || fail "verdict not recorded"
grep -q 'nothing' "$t/out" && fail "the blocked term is in the log"

# chat: one session per run, however many questions.
n0=$(seqs session_start | wc -l)
np0=$(seqs prompt | wc -l)
printf 'one\ntwo\n' | expect 3 "$C" chat --temp 0 --profile kid \
    --model "$t/m.gguf"
[ "$(seqs session_start | wc -l)" -eq $((n0 + 1)) ] ||
    fail "chat: not one session"
[ "$(seqs prompt | wc -l)" -eq $((np0 + 2)) ] || fail "chat: prompts"

# Metadata level: lengths and counts, no text.
expect 0 ask --profile meta "What is two plus two?"
p=$(seqs prompt | tail -n 1)
a=$(seqs answer | tail -n 1)
echo admin | expect 0 "$C" audit show "$p" --passphrase-fd 0
grep -q '"bytes":21' "$t/out" || fail "metadata prompt length"
grep -q "two plus two" "$t/out" && fail "text at metadata level"
grep -q '"text"' "$t/out" && fail "text key at metadata level"
echo admin | expect 0 "$C" audit show "$a" --passphrase-fd 0
grep -q "nothing else" "$t/out" && fail "answer text at metadata level"

# The log verifies; every pending checkpoint is signed by now.
echo admin | expect 0 "$C" audit verify --passphrase-fd 0
grep -q "intact" "$t/out" || fail "verify"
expect 0 "$C" audit status </dev/null
grep -q "awaiting the admin" "$t/out" || fail "status"
grep -q " 0 awaiting" "$t/out" || fail "pending checkpoints not signed"
# A kid's session leaves one pending; an administrator's session signs it
# and its own.
expect 0 ask --profile meta "Again?"
expect 0 "$C" audit status </dev/null
grep -q " 1 awaiting" "$t/out" || fail "kid session not pending"
echo admin | expect 0 ask --admin --passphrase-fd 0 --profile meta "Again?"
expect 0 "$C" audit status </dev/null
grep -q " 0 awaiting" "$t/out" || fail "admin session left checkpoints"
echo admin | expect 0 "$C" audit verify --passphrase-fd 0
exit 0
