#!/bin/sh
# e2e-policy.sh - the policy applied by `cloister ask` to the real jailed
# engine's output.  Scripted models (cloister-mkmodel --preset scripted)
# answer a known text, so what reaches stdout can be compared byte for
# byte; XDG directories are temporary; passphrases and PINs come from
# descriptors.  CLOISTER_TEST_NOW (seconds since the Epoch) fixes the
# broker's clock, TZ=UTC its local time.
set -u
top=${CL_TOP_BUILDDIR:-.}
C="$top/cloister"
t=$(mktemp -d "${TMPDIR:-/tmp}/e2e-policy.XXXXXX") || exit 99
trap 'rm -rf "$t"' EXIT
export XDG_DATA_HOME="$t/data" XDG_CONFIG_HOME="$t/config" TZ=UTC
export CLOISTER_ENGINE="$top/cloister-engine" CLOISTER_TEST_WEAK_KDF=1
unset CLOISTER_MODEL CLOISTER_TEST_NOW
P="$t/config/cloister/policy"
mkdir -p "$t/config/cloister"
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() {	# expect STATUS command...
	want=$1; shift
	"$@" >"$t/out" 2>"$t/err"; got=$?
	[ "$got" -eq "$want" ] || { cat "$t/err" >&2; fail "$* -> $got, want $want"; }
}
same() {	# same TEXT: stdout is exactly TEXT
	printf '%s' "$1" > "$t/want"
	cmp -s "$t/out" "$t/want" || { echo "stdout:"; cat "$t/out";
	    echo; echo "want:"; cat "$t/want"; echo; } >&2 ||
	    true
	cmp -s "$t/out" "$t/want" || fail "stdout differs"
}
absent() {	# absent STRING: not in stdout, in any case
	grep -qi -- "$1" "$t/out" && fail "'$1' reached stdout"
	return 0
}
policy() { printf "$@" > "$P"; }

mk() {	# mk FILE TEXT
	"$top/cloister-mkmodel" --preset scripted --text "$2" -o "$1" \
	    >/dev/null || fail "mkmodel"
}
A="Hello there, write to bob@example.com or pay with 4111 1111 1111 1111. The darn cat sat."
mk "$t/a.gguf" "$A"
mk "$t/hi.gguf" "Hi there, friend."
ask() { "$C" ask --temp 0 "$@"; }

# No policy file: no limits, the answer as the model wrote it.
expect 0 ask --model "$t/a.gguf" hello
same "$A"

# A policy that does not parse stops everything, with the line and column.
policy '[default]\nmax_output_chars = ten\n'
expect 1 ask --model "$t/a.gguf" hello
grep -q "policy:2:" "$t/err" || fail "parse error position"
[ -s "$t/out" ] && fail "output despite a bad policy"

# Redaction: an email and a card number become placeholders.
policy '[default]\nredact = email, card\n'
expect 0 ask --model "$t/a.gguf" hello
same "Hello there, write to [EMAIL] or pay with [CARD]. The darn cat sat."
absent "bob@example" ; absent "4111"
grep -q "replaced by placeholders" "$t/err" || fail "redact notice"

# A blocked term: stop shows what came before it, and nothing of it.
policy '[default]\nblock_terms = darn\non_block = stop\n'
expect 3 ask --model "$t/a.gguf" hello
same "Hello there, write to bob@example.com or pay with 4111 1111 1111 1111. The 
"
absent "darn"; absent " da"
grep -q "stopped here" "$t/err" || fail "stop notice"
# refuse withholds what was not yet shown, and ends the answer.
policy '[default]\nblock_terms = darn\non_block = refuse\n'
expect 3 ask --model "$t/a.gguf" hello
absent "darn"; absent "cat sat"
grep -q "not available under this profile" "$t/err" || fail "refuse notice"
# redact replaces it and goes on.
policy '[default]\nblock_terms = darn\non_block = redact\n'
expect 0 ask --model "$t/a.gguf" hello
absent "darn"
grep -q "The \[REDACTED\] cat sat." "$t/out" || fail "term not redacted"
# Mixed case in the policy, whole words: "darn" is still caught.
policy '[default]\nblock_terms = DaRn\non_block = stop\n'
expect 3 ask --model "$t/a.gguf" hello
absent "darn"

# Length limits: characters, then tokens (the engine is cancelled).
policy '[profile short]\nmax_output_chars = 20\n'
expect 3 ask --profile short --model "$t/a.gguf" hello
same "Hello there, write t
"
grep -q "length limit" "$t/err" || fail "chars notice"
expect 0 ask --model "$t/a.gguf" hello		# default: no limit
same "$A"
policy '[profile short]\nmax_output_tokens = 3\n'
expect 0 ask --model "$t/a.gguf" -n 3 hello	# the first 3 tokens
tr -d '\n' < "$t/out" > "$t/three"
[ -s "$t/three" ] || fail "no tokens"
expect 3 ask --profile short --model "$t/a.gguf" hello
absent "cat sat"
grep -q "length limit" "$t/err" || fail "tokens notice"
tr -d '\n' < "$t/out" > "$t/got"
# What was shown is no more than those 3 tokens (a prefix of them).
case "$(cat "$t/three")" in
"$(cat "$t/got")"*) ;;
*) fail "more than 3 tokens shown" ;;
esac
# An unknown profile is a usage error.
expect 2 ask --profile nosuch --model "$t/a.gguf" hello

# A question longer than allowed never reaches the engine.
policy '[default]\nmax_prompt_chars = 10\n'
expect 3 ask --model "$t/a.gguf" "this question is too long"
[ -s "$t/out" ] && fail "an answer to a refused question"
grep -q "longer than this profile allows" "$t/err" || fail "prompt notice"
grep -q "25 characters" "$t/err" || fail "prompt length not said"
expect 0 ask --model "$t/a.gguf" "short"
# ... and in tokens, counted by the engine's tokenizer.
policy "[default]\\nmax_prompt_tokens = 4\\n"
expect 3 ask --model "$t/a.gguf" "one two three four five six"
[ -s "$t/out" ] && fail "an answer to a refused question (tokens)"
expect 0 ask --model "$t/a.gguf" "a"
# A blocked term in the question refuses it.
policy '[default]\nblock_terms = darn\n'
expect 3 ask --model "$t/hi.gguf" "say darn please"
[ -s "$t/out" ] && fail "an answer to a blocked question"

# Allowed hours, with the clock fixed (2024-01-01 was a Monday).
policy '[default]\nallowed_hours = mon-fri 15:00-18:00\n'
CLOISTER_TEST_NOW=1704124800 expect 0 ask --model "$t/hi.gguf" hello
same "Hi there, friend."
CLOISTER_TEST_NOW=1704139200 expect 3 ask --model "$t/hi.gguf" hello
[ -s "$t/out" ] && fail "answer outside the hours"
grep -q "not available at this time" "$t/err" || fail "hours notice"
CLOISTER_TEST_NOW=1704556800 expect 3 ask --model "$t/hi.gguf" hello

# Sampling caps: a request beyond them is brought within, and said so.
policy '[default]\ntemperature_max = 0.5\n'
expect 0 "$C" ask --temp 2 --seed 1 --model "$t/hi.gguf" hello
grep -q "brought within" "$t/err" || fail "clamp note"

# The system prompt of the profile is sent (the model's answer is fixed,
# so only that it is accepted and the answer unchanged is checked here).
policy '[default]\nsystem_prompt = "Be brief."\n'
expect 0 ask --model "$t/hi.gguf" --system "And kind." hello
same "Hi there, friend."

# Hooks: the output hook sees the whole answer and may replace or block
# it; the prompt hook may block the question.
printf '#!/bin/sh\ncat >/dev/null\necho %s\n' \
    "'{\"action\":\"replace\",\"text\":\"Replaced.\"}'" > "$t/replace"
printf '#!/bin/sh\ncat >/dev/null\necho %s\n' \
    "'{\"action\":\"block\",\"reason\":\"not today\"}'" > "$t/block"
chmod +x "$t/replace" "$t/block"
policy '[default]\noutput_hook = %s\n' "$t/replace"
expect 0 ask --model "$t/a.gguf" hello
same "Replaced."
policy '[default]\noutput_hook = %s\n' "$t/block"
expect 3 ask --model "$t/a.gguf" hello
[ -s "$t/out" ] && fail "answer shown despite the output hook"
grep -q "administrator's check did not let this answer" "$t/err" ||
    fail "output hook notice"
grep -q "not today" "$t/err" || fail "output hook reason"
policy '[default]\nprompt_hook = %s\n' "$t/block"
expect 3 ask --model "$t/a.gguf" hello
[ -s "$t/out" ] && fail "answer to a question the hook blocked"
grep -q "did not let this question through" "$t/err" ||
    fail "prompt hook notice"

# Models: only the listed SHA-256 may be used.
hash=$(sha256sum "$t/hi.gguf" | cut -d' ' -f1)
policy '[default]\nmodels = %s\n' "$hash"
expect 0 ask --model "$t/hi.gguf" hello
expect 3 ask --model "$t/a.gguf" hello
[ -s "$t/out" ] && fail "answer from a model not allowed"
grep -q "may not use this model" "$t/err" || fail "model notice"
grep -q "$(sha256sum "$t/a.gguf" | cut -d' ' -f1)" "$t/err" ||
    fail "the refused model's hash is not named"

# A quota needs the store; without one, a clear refusal.
policy '[default]\ndaily_token_quota = 60\n'
expect 3 ask --model "$t/hi.gguf" hello
grep -q "cloister init" "$t/err" || fail "no-store quota message"
# Quota: kept in the encrypted store, so it holds across runs.
echo pw | expect 0 "$C" init --passphrase-fd 0
n=0
while :; do
	n=$((n + 1))
	[ $n -le 6 ] || fail "quota never ran out"
	echo pw | CLOISTER_TEST_NOW=1704124800 "$C" ask --temp 0 \
	    --passphrase-fd 0 --model "$t/hi.gguf" hello >"$t/out" \
	    2>"$t/err" || break
	same "Hi there, friend."
done
[ $n -ge 3 ] || fail "quota ran out after $n runs"
grep -q "used today's allowance" "$t/err" || fail "quota notice"
echo pw | CLOISTER_TEST_NOW=1704124800 expect 3 ask --passphrase-fd 0 \
    --model "$t/hi.gguf" hello
# The next day renews it.
echo pw | CLOISTER_TEST_NOW=1704211200 expect 0 ask --passphrase-fd 0 \
    --model "$t/hi.gguf" hello
same "Hi there, friend."
echo wrong | expect 6 ask --passphrase-fd 0 --model "$t/hi.gguf" hello

# Shared mode: the sealed policy, the PIN.
rm -rf "$t/data"
echo admin | expect 0 "$C" init --shared --passphrase-fd 0
policy '[default]\n[profile kid]\nmax_output_chars = 50\n'
expect 3 ask --profile kid --model "$t/hi.gguf" hello
grep -q "not sealed" "$t/err" || fail "unsealed policy in shared mode"
echo admin | expect 0 "$C" policy seal --passphrase-fd 0
expect 0 ask --profile kid --model "$t/hi.gguf" hello
same "Hi there, friend."
# Edited by hand: the kid's profile stops, the message says what to do.
printf 'temperature_max = 2\n' >> "$P"
expect 3 ask --profile kid --model "$t/hi.gguf" hello
[ -s "$t/out" ] && fail "ran under a modified policy"
grep -q "modified since it was sealed" "$t/err" || fail "seal message"
grep -q "cloister policy seal" "$t/err" || fail "seal fix not said"
# The administrator may still run (that is how a change is tried).
echo admin | expect 0 ask --admin --passphrase-fd 0 --profile kid \
    --model "$t/hi.gguf" hello
echo wrong | expect 6 ask --admin --passphrase-fd 0 --profile kid \
    --model "$t/hi.gguf" hello
echo wrong | expect 6 "$C" policy seal --passphrase-fd 0
# Re-sealing with the admin passphrase restores it.
echo admin | expect 0 "$C" policy seal --passphrase-fd 0
expect 0 ask --profile kid --model "$t/hi.gguf" hello
same "Hi there, friend."
# A PIN: the right one runs, a wrong one is refused.
echo 4711 | expect 0 "$C" policy set-pin --profile kid --pin-fd 0
echo admin | expect 0 "$C" policy seal --passphrase-fd 0
echo 4711 | expect 0 ask --profile kid --pin-fd 0 --model "$t/hi.gguf" hello
same "Hi there, friend."
echo 4712 | expect 6 ask --profile kid --pin-fd 0 --model "$t/hi.gguf" hello
[ -s "$t/out" ] && fail "answer after a wrong PIN"
grep -q "wrong PIN" "$t/err" || fail "PIN message"
expect 6 ask --profile kid --pin-fd 0 --model "$t/hi.gguf" hello </dev/null
# The default profile from the configuration file.
echo "profile = kid" > "$t/config/cloister/config"
echo 4712 | expect 6 ask --pin-fd 0 --model "$t/hi.gguf" hello
rm "$t/config/cloister/config"
# Without the policy file, a shared installation refuses non-admins.
rm "$P"
expect 3 ask --model "$t/hi.gguf" hello
grep -q "no policy file" "$t/err" || fail "missing policy message"
exit 0
