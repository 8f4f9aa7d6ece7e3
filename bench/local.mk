# bench/: rules for this module (see Makefile.am).

# The streaming policy filter's cost per token (issue 6: under 1% of a
# decode step).  Run: ./bench/policy_bench [decode_ms]
noinst_PROGRAMS += bench/policy_bench
bench_policy_bench_SOURCES = bench/policy_bench.c
bench_policy_bench_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS)
bench_policy_bench_LDADD = libpolicy.a libutil.a $(SODIUM_LIBS) -lm
