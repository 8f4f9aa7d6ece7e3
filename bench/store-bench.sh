#!/bin/sh
# store-bench.sh - run the store workload on plain SQLite, SQLCipher and
# cloister's store, one process each, and print rows/s, peak memory and
# the ratios.  Usage: bench/store-bench.sh [rows [rounds]]   (after
# `make bench`).  The three backends run in turn, `rounds` times (default
# 3); each backend's best round is kept, by wall clock and by CPU time
# (user + system), since other jobs on a shared machine slow down
# whichever backend happens to be running.
set -eu
rows=${1:-100000}
rounds=${2:-3}
b=${BENCH_DIR:-$(dirname "$0")}
t=$(mktemp -d "${TMPDIR:-/tmp}/store-bench.XXXXXX")
trap 'rm -rf "$t"' EXIT

: >"$t/out"
r=0
while [ "$r" -lt "$rounds" ]; do
	rm -rf "$t/plain.db" "$t/plain.db-wal" "$t/plain.db-shm" \
	    "$t/sqlcipher.db" "$t/sqlcipher.db-wal" "$t/sqlcipher.db-shm" \
	    "$t/cloister"
	"$b/store_bench" -n "$rows" "$t" plain >>"$t/out"
	if [ -x "$b/store_bench_sqlcipher" ]; then
		"$b/store_bench_sqlcipher" -n "$rows" "$t" sqlcipher >>"$t/out"
	fi
	"$b/store_bench" -n "$rows" "$t" cloister >>"$t/out"
	"$b/store_bench" "$t" aead >>"$t/out"
	r=$((r + 1))
done
du -k "$t/plain.db" "$t/cloister/store.db" >"$t/du" 2>/dev/null || :

awk -v rows="$rows" -v rounds="$rounds" '
function max(a, b) { return a > b ? a : b }
/^backend=/ {
	split("", kv)
	for (i = 1; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
	b = kv["backend"]
	if (b == "cloister-passwd") { passwd = kv["passwd_s"]; next }
	if (b == "aead") {
		if (aead == "" || kv["decrypt_us_per_page"] < aead)
			aead = kv["decrypt_us_per_page"]
		next
	}
	if (!(b in ins)) { order[++n] = b; ins[b] = rd[b] = ci[b] = cr[b] = 0 }
	ins[b] = max(ins[b], kv["insert_rows_per_s"])
	rd[b] = max(rd[b], kv["read_rows_per_s"])
	if (kv["insert_cpu_s"] > 0)
		ci[b] = max(ci[b], rows / kv["insert_cpu_s"])
	if (kv["read_cpu_s"] > 0)
		cr[b] = max(cr[b], rows / kv["read_cpu_s"])
	pk[b] = kv["peak_kb"]
}
function ratios(what, x, y) {
	if ("plain" in x && "cloister" in x)
		printf "cloister / plain SQLite:  insert %.2fx  read %.2fx%s\n",
		    x["cloister"] / x["plain"], y["cloister"] / y["plain"], what
	if ("sqlcipher" in x && "cloister" in x)
		printf "cloister / SQLCipher:     insert %.2fx  read %.2fx%s\n",
		    x["cloister"] / x["sqlcipher"],
		    y["cloister"] / y["sqlcipher"], what
}
END {
	printf "store workload: %d rows of 1000 bytes, 100 per transaction, best of %d rounds\n", rows, rounds
	printf "settings: page 4096, WAL, synchronous=NORMAL, temp_store=MEMORY, no mmap,\n"
	printf "default cache (2000 KiB)\n\n"
	printf "%-10s %14s %14s %14s %14s %9s\n", "", "wall clock", "", "CPU time", "", "peak"
	printf "%-10s %14s %14s %14s %14s %9s\n", "backend", "insert rows/s", "read rows/s", "insert rows/s", "read rows/s", "MiB"
	for (i = 1; i <= n; i++) {
		b = order[i]
		printf "%-10s %14d %14d %14d %14d %9.1f\n", b, ins[b], rd[b], ci[b], cr[b], pk[b] / 1024
	}
	printf "\n"
	ratios("  (wall clock)", ins, rd)
	ratios("  (CPU time)", ci, cr)
	if (passwd != "")
		printf "cloister passwd on this store: %.3f s\n", passwd
	if (aead != "" && ("plain" in cr) && pages > 0) {
		# Plain SQLite CPU per page read, and the best any per-page
		# AEAD store could do: plain + one decryption per page.
		pp = rows / cr["plain"] / pages * 1e6
		printf "floor: XChaCha20-Poly1305 opens a 4 KiB page in %.2f us; plain SQLite\n", aead
		printf "reads a page in %.2f us (CPU), so a store that decrypts each page once\n", pp
		printf "reads at most %.2fx plain SQLite\n", pp / (pp + aead)
	}
}' pages="$(du -k "$t/plain.db" 2>/dev/null | awk '{ print int($1 / 4) }')" "$t/out"
awk '{ printf "size of %s: %.1f MiB\n", $2, $1 / 1024 }' "$t/du" | sed "s|$t/||"
