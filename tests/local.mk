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

# Tensor types and the kernel table (engine/quant.c, engine/kern_*.c).
check_PROGRAMS += tests/check_quant
TESTS += tests/check_quant
tests_check_quant_SOURCES = tests/check_quant.c
tests_check_quant_CFLAGS = $(TEST_CFLAGS)
tests_check_quant_LDADD = $(ENGINE_LIBS) libutil.a $(TEST_LIBS)

# Compute kernels (engine/kern_*.c): every SIMD variant the CPU runs
# against the scalar reference and the integer dot products.
check_PROGRAMS += tests/check_kern
TESTS += tests/check_kern
tests_check_kern_SOURCES = tests/check_kern.c
tests_check_kern_CFLAGS = $(TEST_CFLAGS)
tests_check_kern_LDADD = $(ENGINE_LIBS) libutil.a $(TEST_LIBS)
