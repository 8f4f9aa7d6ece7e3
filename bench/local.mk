# bench/: rules for this module (see Makefile.am).

# Kernel throughput (GB/s decode, GFLOP/s prefill); run by hand, see
# bench/README.md.
noinst_PROGRAMS += bench/kern_bench
bench_kern_bench_SOURCES = bench/kern_bench.c
bench_kern_bench_LDADD = $(ENGINE_LIBS) libutil.a $(PTHREAD_LIBS)
EXTRA_DIST += bench/README.md
