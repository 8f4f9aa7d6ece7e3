# tests/: shared test data (copied from ../shared/refvectors by
# tests/data/strip-refvec.py) and the rule that unpacks the F32 model.
REFVEC_FILES = \
	tests/data/REFVECTORS.md tests/data/strip-refvec.py \
	tests/data/synth-tiny-s1-f32.gguf.xz tests/data/synth-tiny-s1-f32.json \
	tests/data/synth-tiny-s1-q4_0.gguf tests/data/synth-tiny-s1-q4_0.json \
	tests/data/synth-tiny-s1-q8_0.gguf tests/data/synth-tiny-s1-q8_0.json \
	tests/data/synth-tiny-s1-q4_k_m.gguf tests/data/synth-tiny-s1-q4_k_m.json \
	tests/data/synth-tiny-s1-q4_k_m.dequant.json \
	tests/data/synth-tiny-s1-q5_k_m.gguf tests/data/synth-tiny-s1-q5_k_m.json \
	tests/data/synth-tiny-s1-q5_k_m.dequant.json \
	tests/data/synth-tiny-s1-q6_k.gguf tests/data/synth-tiny-s1-q6_k.json \
	tests/data/synth-tiny-s1-q6_k.dequant.json \
	tests/data/synth-tiny-s1.config.json tests/data/synth-tiny-s1.manifest.json
EXTRA_DIST += $(REFVEC_FILES)

# The F32 reference model is kept xz-compressed in the repository (it is
# just over 10 MiB raw); tests read the unpacked copy from the build tree.
tests/data/synth-tiny-s1-f32.gguf: tests/data/synth-tiny-s1-f32.gguf.xz
	$(AM_V_GEN)$(MKDIR_P) tests/data && \
	xz -dc $(srcdir)/tests/data/synth-tiny-s1-f32.gguf.xz > $@.tmp && \
	mv $@.tmp $@
check_DATA = tests/data/synth-tiny-s1-f32.gguf
CLEANFILES += tests/data/synth-tiny-s1-f32.gguf

# GGUF reader and writer (engine/gguf*.c).
check_PROGRAMS += tests/check_gguf
TESTS += tests/check_gguf
tests_check_gguf_SOURCES = tests/check_gguf.c
tests_check_gguf_CFLAGS = $(TEST_CFLAGS)
tests_check_gguf_LDADD = libggufwrite.a libengine.a libutil.a $(TEST_LIBS)
# libFuzzer harness for the GGUF reader: built by hand, see the file.
EXTRA_DIST += tests/fuzz_gguf.c

# Tokenizer (engine/tokenizer.c) and the synthetic vocabulary builder.
check_PROGRAMS += tests/check_tokenizer
TESTS += tests/check_tokenizer
tests_check_tokenizer_SOURCES = tests/check_tokenizer.c
tests_check_tokenizer_CFLAGS = $(TEST_CFLAGS)
tests_check_tokenizer_LDADD = libvocabsynth.a libengine.a libutil.a $(TEST_LIBS)

# Tensor types and the kernel table (engine/quant.c, engine/kern_*.c).
check_PROGRAMS += tests/check_quant
TESTS += tests/check_quant
tests_check_quant_SOURCES = tests/check_quant.c
tests_check_quant_CFLAGS = $(TEST_CFLAGS)
tests_check_quant_LDADD = libengine.a libutil.a $(TEST_LIBS)
check_PROGRAMS += tests/check_kern
TESTS += tests/check_kern
tests_check_kern_SOURCES = tests/check_kern.c
tests_check_kern_CFLAGS = $(TEST_CFLAGS)
tests_check_kern_LDADD = libengine.a libutil.a $(TEST_LIBS) $(PTHREAD_LIBS)

# The jailed engine end to end (client, ask, doctor, bench); runs the
# programs of the build tree, so `make check` builds them first.
check_PROGRAMS += tests/check_jail
TESTS += tests/check_jail
tests_check_jail_SOURCES = tests/check_jail.c
tests_check_jail_CFLAGS = $(TEST_CFLAGS) $(SECCOMP_CFLAGS)
tests_check_jail_LDADD = libengine_client.a libsandbox.a libutil.a \
	$(SECCOMP_LIBS) $(TEST_LIBS)

# The policy and the audit log applied by ask and chat to the jailed
# engine's output, end to end (scripted models, temporary XDG dirs).
dist_check_SCRIPTS += tests/e2e-policy.sh tests/e2e-audit.sh
TESTS += tests/e2e-policy.sh tests/e2e-audit.sh

# Every SIMD kernel variant the CPU runs against kern_ref and the
# integer dot products quant_vec_dot_* (engine/kern_avx*.c).
check_PROGRAMS += tests/check_kern_simd
TESTS += tests/check_kern_simd
tests_check_kern_simd_SOURCES = tests/check_kern_simd.c
tests_check_kern_simd_CFLAGS = $(TEST_CFLAGS)
tests_check_kern_simd_LDADD = libengine.a libutil.a $(TEST_LIBS)
