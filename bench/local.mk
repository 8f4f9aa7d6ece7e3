# bench/: benchmarks, built with `make bench` (never by `make check`).

# The store workload on plain SQLite and cloister's store; SQLCipher in
# its own binary (its symbols clash with SQLite's).  bench/store-bench.sh
# runs them all.
EXTRA_PROGRAMS = bench/store_bench
bench_store_bench_SOURCES = bench/store_bench.c
bench_store_bench_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS) $(SODIUM_CFLAGS)
bench_store_bench_LDADD = libstore.a libutil.a $(SQLITE_LIBS) $(SODIUM_LIBS)
STORE_BENCH_BINS = bench/store_bench
if HAVE_SQLCIPHER
EXTRA_PROGRAMS += bench/store_bench_sqlcipher
bench_store_bench_sqlcipher_SOURCES = bench/store_bench.c
bench_store_bench_sqlcipher_CFLAGS = $(AM_CFLAGS) -DBENCH_SQLCIPHER \
	-DSQLITE_HAS_CODEC $(SQLCIPHER_CFLAGS)
bench_store_bench_sqlcipher_LDADD = $(SQLCIPHER_LIBS)
STORE_BENCH_BINS += bench/store_bench_sqlcipher
endif
EXTRA_DIST += bench/store-bench.sh bench/README.md
CLEANFILES += $(STORE_BENCH_BINS)

# The cost of one audit append (bench/audit_bench.c).
EXTRA_PROGRAMS += bench/audit_bench
bench_audit_bench_SOURCES = bench/audit_bench.c
bench_audit_bench_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS) $(SODIUM_CFLAGS)
bench_audit_bench_LDADD = libaudit.a libstore.a libutil.a $(SQLITE_LIBS) \
	$(SODIUM_LIBS)
CLEANFILES += bench/audit_bench

bench: $(STORE_BENCH_BINS) bench/audit_bench
.PHONY: bench

# The engine in-process (no jail), in the manner of llama-bench.
EXTRA_PROGRAMS += bench/engine_bench
bench_engine_bench_SOURCES = bench/engine_bench.c
bench_engine_bench_LDADD = libengine.a libutil.a -lm
CLEANFILES += bench/engine_bench
bench: bench/engine_bench

# The streaming policy filter's cost per token (issue 6: under 1% of a
# decode step).  Run: ./bench/policy_bench [decode_ms]
EXTRA_PROGRAMS += bench/policy_bench
bench_policy_bench_SOURCES = bench/policy_bench.c
bench_policy_bench_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS)
bench_policy_bench_LDADD = libpolicy.a libsandbox.a libutil.a $(SODIUM_LIBS) \
	$(SECCOMP_LIBS) -lm
CLEANFILES += bench/policy_bench
bench: bench/policy_bench

# Kernel throughput: GB/s of weights at decode (from DRAM), GFLOP/s at
# prefill, per kernel variant, 1 and 2 threads.  Run: ./bench/kern_bench
# (bench/README.md).
EXTRA_PROGRAMS += bench/kern_bench
bench_kern_bench_SOURCES = bench/kern_bench.c
bench_kern_bench_LDADD = libengine.a libutil.a $(PTHREAD_LIBS)
CLEANFILES += bench/kern_bench
bench: bench/kern_bench
