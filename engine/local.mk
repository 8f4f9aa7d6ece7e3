# engine/: rules for this module (see Makefile.am).

# The engine library.  One source per line so that parallel branches
# can append with `libengine_a_SOURCES +=` and merge cleanly.
noinst_LIBRARIES += libengine.a
libengine_a_SOURCES = engine/ggml_types.h
libengine_a_SOURCES += engine/gguf.h
libengine_a_SOURCES += engine/gguf.c
libengine_a_SOURCES += engine/proto.h
libengine_a_SOURCES += engine/proto.c

# The GGUF writer (cloister-mkmodel and tests).  Separate so that the
# jailed cloister-engine binary never links it.
noinst_LIBRARIES += libggufwrite.a
libggufwrite_a_SOURCES = engine/gguf_write.h
libggufwrite_a_SOURCES += engine/gguf_write.c
libengine_a_SOURCES += engine/quant.h
libengine_a_SOURCES += engine/quant.c
libengine_a_SOURCES += engine/kern.h
libengine_a_SOURCES += engine/kern_ref.c
libengine_a_SOURCES += engine/kern_select.c

# Tokenizer (byte-level BPE, chat template, streaming decoder).
libengine_a_SOURCES += engine/tokenizer.h engine/tokenizer.c engine/unicode.h engine/unicode_tables.c
EXTRA_DIST += scripts/gen-unicode-tables.py

# The model: loading, forward pass, sampler, thread pool.
libengine_a_SOURCES += engine/engine.h
libengine_a_SOURCES += engine/engine_impl.h
libengine_a_SOURCES += engine/model.c
libengine_a_SOURCES += engine/lfm2.c
libengine_a_SOURCES += engine/sampler.c
libengine_a_SOURCES += engine/pool.h
libengine_a_SOURCES += engine/pool.c

# cloister-eval: run the engine in-process (tests, benchmarks, people).
bin_PROGRAMS += cloister-eval
cloister_eval_SOURCES = engine/eval_main.c
cloister_eval_LDADD = libengine.a libutil.a -lm

check_PROGRAMS += tests/check_engine
TESTS += tests/check_engine
tests_check_engine_SOURCES = tests/check_engine.c
tests_check_engine_CFLAGS = $(TEST_CFLAGS)
tests_check_engine_LDADD = libengine.a libutil.a $(TEST_LIBS)

# The synthetic vocabulary builder (cloister-mkmodel and tests only).
noinst_LIBRARIES += libvocabsynth.a
libvocabsynth_a_SOURCES = engine/vocab_synth.h engine/vocab_synth.c

# cloister-mkmodel: synthetic LFM2 / LFM2-MoE models.
bin_PROGRAMS += cloister-mkmodel
cloister_mkmodel_SOURCES = engine/mkmodel_main.c
cloister_mkmodel_LDADD = libggufwrite.a libvocabsynth.a libengine.a \
	libutil.a -lm

check_PROGRAMS += tests/check_tools
TESTS += tests/check_tools
tests_check_tools_SOURCES = tests/check_tools.c
tests_check_tools_CFLAGS = $(TEST_CFLAGS)
tests_check_tools_LDADD = libengine.a libutil.a $(TEST_LIBS)

# The wire protocol's tests.
check_PROGRAMS += tests/check_proto
TESTS += tests/check_proto
tests_check_proto_SOURCES = tests/check_proto.c
tests_check_proto_CFLAGS = $(TEST_CFLAGS)
tests_check_proto_LDADD = libengine.a libutil.a $(TEST_LIBS)

# SIMD kernels: each file is compiled alone with its own -m flags so
# wide instructions never leak into generic code, and its objects are
# added to libengine.a (kern_select.c only calls them after probing
# CPUID and XGETBV).  kern_act.c, the activation layouts they share, is
# generic code.
libengine_a_SOURCES += engine/kern_simd.h
libengine_a_SOURCES += engine/kern_act.c
libengine_a_SOURCES += engine/kern_pack.c
if CPU_X86_64
noinst_LIBRARIES += libkern_avx2.a libkern_avx512.a
libkern_avx2_a_SOURCES = engine/kern_avx2.c
libkern_avx2_a_CFLAGS = $(AM_CFLAGS) -mavx2 -mfma -mf16c
libkern_avx512_a_SOURCES = engine/kern_avx512.c
libkern_avx512_a_CFLAGS = $(AM_CFLAGS) -mavx2 -mfma -mf16c -mavx512f \
	-mavx512bw -mavx512dq -mavx512vl -mavx512vnni
libengine_a_LIBADD = $(libkern_avx2_a_OBJECTS) $(libkern_avx512_a_OBJECTS)
libengine_a_DEPENDENCIES = $(libkern_avx2_a_OBJECTS) \
	$(libkern_avx512_a_OBJECTS)
endif
# cloister-engine: the jailed engine program.  Links the engine, the
# sandbox and util only (never store, audit or policy).
libexec_PROGRAMS += cloister-engine
cloister_engine_SOURCES = engine/engine_main.c
cloister_engine_CFLAGS = $(AM_CFLAGS) $(SECCOMP_CFLAGS)
cloister_engine_LDADD = libengine.a libsandbox.a libutil.a $(SECCOMP_LIBS) \
	-lm $(PTHREAD_LIBS)

# The broker's engine client: protocol, spawn, attestation.  proto.c is
# compiled into it again so the broker never links the model code.
noinst_LIBRARIES += libengine_client.a
libengine_client_a_SOURCES = engine/engine_client.h engine/engine_client.c \
	engine/proto.h engine/proto.c
libengine_client_a_CFLAGS = $(AM_CFLAGS) $(SECCOMP_CFLAGS)
