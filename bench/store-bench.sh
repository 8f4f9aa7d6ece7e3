#!/bin/sh
# store-bench.sh - run the store workload on plain SQLite, SQLCipher and
# cloister's store, one process each, and print rows/s, peak memory and
# the ratios.  Usage: bench/store-bench.sh [rows]   (after `make bench`)
set -eu
rows=${1:-100000}
b=${BENCH_DIR:-$(dirname "$0")}
t=$(mktemp -d "${TMPDIR:-/tmp}/store-bench.XXXXXX")
trap 'rm -rf "$t"' EXIT

"$b/store_bench" -n "$rows" "$t" plain >"$t/out"
if [ -x "$b/store_bench_sqlcipher" ]; then
	"$b/store_bench_sqlcipher" -n "$rows" "$t" sqlcipher >>"$t/out"
fi
"$b/store_bench" -n "$rows" "$t" cloister >>"$t/out"
du -k "$t/plain.db" "$t/cloister/store.db" >"$t/du" 2>/dev/null || :

awk -v rows="$rows" '
/^backend=/ {
	split("", kv)
	for (i = 1; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
	b = kv["backend"]
	if (b == "cloister-passwd") { passwd = kv["passwd_s"]; next }
	ins[b] = kv["insert_rows_per_s"]; rd[b] = kv["read_rows_per_s"]
	pk[b] = kv["peak_kb"]; order[++n] = b
}
END {
	printf "store workload: %d rows of 1000 bytes, 100 per transaction\n", rows
	printf "settings: page 4096, WAL, synchronous=NORMAL, temp_store=MEMORY, no mmap\n\n"
	printf "%-10s %14s %14s %12s\n", "backend", "insert rows/s", "read rows/s", "peak MiB"
	for (i = 1; i <= n; i++)
		printf "%-10s %14d %14d %12.1f\n", order[i], ins[order[i]], rd[order[i]], pk[order[i]] / 1024
	printf "\n"
	if ("plain" in ins && "cloister" in ins)
		printf "cloister / plain SQLite:  insert %.2fx  read %.2fx\n",
		    ins["cloister"] / ins["plain"], rd["cloister"] / rd["plain"]
	if ("sqlcipher" in ins && "cloister" in ins)
		printf "cloister / SQLCipher:     insert %.2fx  read %.2fx\n",
		    ins["cloister"] / ins["sqlcipher"], rd["cloister"] / rd["sqlcipher"]
	if (passwd != "")
		printf "cloister passwd on this store: %.3f s\n", passwd
}' "$t/out"
awk '{ printf "size of %s: %.1f MiB\n", $2, $1 / 1024 }' "$t/du" | sed "s|$t/||"
