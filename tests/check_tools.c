/*
 * check_tools.c - cloister-mkmodel and cloister-eval, run as programs.
 *
 * The scripted model is the project's known-answer engine test: its
 * weights make greedy decoding emit a given text, then <|im_end|>.  These
 * tests build such models for awkward texts (repeated words, a literal
 * "<|im_end|>", multi-byte characters split across tokens, newlines), run
 * cloister-eval --generate on the chat prompt and check the bytes.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine.h"
#include "util/util.h"

static char tmpdir[256];

static const char *
builddir(void)
{
	const char *s = getenv("CL_TOP_BUILDDIR");

	return s != NULL ? s : ".";
}

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cl-tools-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

/*
 * Run argv (argv[0] is a program name in the build tree), capture stdout
 * and stderr into bufs, return the exit status (or 128 + signal).
 */
static int
run(char **argv, struct cl_buf *out, struct cl_buf *errb)
{
	int po[2], pe[2], st;
	char path[4096], buf[65536];
	pid_t pid;
	ssize_t n;
	struct cl_err err = CL_ERR_INIT;
	char *text;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", builddir(), argv[0]);
	ck_assert_int_eq(pipe(po), 0);
	ck_assert_int_eq(pipe(pe), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		execv(path, argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	ck_assert_int_eq(cl_read_all(po[0], 64u << 20, &text, &len, &err),
	    CL_OK);
	if (out != NULL)
		ck_assert_int_eq(cl_buf_append(out, text, len), CL_OK);
	cl_free(text);
	while ((n = read(pe[0], buf, sizeof(buf))) > 0) {
		if (errb != NULL)
			ck_assert_int_eq(cl_buf_append(errb, buf, (size_t)n),
			    CL_OK);
	}
	close(po[0]);
	close(pe[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static struct engine_model *
load(const char *path)
{
	struct cl_err err = CL_ERR_INIT;
	struct engine_model *m = NULL;
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_msg(engine_model_load(fd, NULL, &m, &err) == CL_OK, "%s",
	    err.msg);
	close(fd);
	return m;
}

/* Parse the ids of the last `{"generated":[...]}` line of `out`. */
static size_t
parse_generated(const char *out, int32_t *ids, size_t cap)
{
	const char *p = strstr(out, "{\"generated\":[");
	size_t n = 0;
	char *end;

	ck_assert_ptr_nonnull(p);
	p += strlen("{\"generated\":[");
	while (*p != ']') {
		ck_assert_uint_lt(n, cap);
		ids[n++] = (int32_t)strtol(p, &end, 10);
		ck_assert_ptr_ne(end, p);
		p = *end == ',' ? end + 1 : end;
	}
	return n;
}

/*
 * Make a scripted model for `text`, generate from the chat prompt with
 * cloister-eval and check it emits exactly `text`, then <|im_end|>.
 */
static void
check_scripted(const char *text, const char *arch, const char *type)
{
	char model[512], toks[65536], n_gen[32];
	char *mk[12] = { "cloister-mkmodel", "--preset", "scripted", "--text",
	    (char *)text, "-o", model, NULL, NULL, NULL, NULL, NULL };
	char *ev[10] = { "cloister-eval", model, "--tokens", toks, "--top",
	    "1", "--generate", n_gen, NULL, NULL };
	struct cl_buf out = CL_BUF_INIT, errb = CL_BUF_INIT, got = CL_BUF_INIT;
	struct cl_err err = CL_ERR_INIT;
	struct engine_model *m;
	struct engine_chat_msg msg = { "user", "Say it.", 7 };
	int32_t *ids = NULL, gen[8192];
	size_t n, i, pos = 0, ng;
	int k = 7;

	snprintf(model, sizeof(model), "%s/scripted.gguf", tmpdir);
	if (arch != NULL) {
		mk[k++] = "--arch";
		mk[k++] = (char *)arch;
	}
	if (type != NULL) {
		mk[k++] = "--type";
		mk[k++] = (char *)type;
	}
	ck_assert_msg(run(mk, NULL, &errb) == 0, "mkmodel failed: %s",
	    errb.data ? errb.data : "");
	m = load(model);
	ck_assert_int_eq(engine_chat_tokenize(m, &msg, 1, true, &ids, &n,
	    &err), CL_OK);
	for (i = 0; i < n; i++)
		pos += (size_t)snprintf(toks + pos, sizeof(toks) - pos, "%s%d",
		    i ? "," : "", ids[i]);
	snprintf(n_gen, sizeof(n_gen), "%zu", strlen(text) + 8);
	ck_assert_msg(run(ev, &out, &errb) == 0, "eval failed: %s",
	    errb.data ? errb.data : "");
	ng = parse_generated(out.data, gen, CL_ARRAY_LEN(gen));
	ck_assert_uint_ge(ng, 2);
	for (i = 0; i + 1 < ng; i++) {
		const char *p;
		size_t len;

		ck_assert(engine_token_bytes(m, gen[i], &p, &len));
		ck_assert_int_eq(cl_buf_append(&got, p, len), CL_OK);
		ck_assert(!engine_token_is_eog(m, gen[i]));
	}
	ck_assert_int_eq(gen[ng - 1], 7);	/* <|im_end|> */
	ck_assert_uint_eq(got.len, strlen(text));
	ck_assert_int_eq(memcmp(got.data, text, got.len), 0);
	cl_free(ids);
	engine_model_free(m);
	cl_buf_release(&out);
	cl_buf_release(&errb);
	cl_buf_release(&got);
}

START_TEST(test_scripted_simple)
{
	check_scripted("The capital of France is Paris.", NULL, NULL);
}
END_TEST

START_TEST(test_scripted_repeats)
{
	/* The same word many times: a plain bigram of words could not. */
	check_scripted("the the the the the cat sat on the mat, the end. "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL, NULL);
}
END_TEST

START_TEST(test_scripted_specials_and_utf8)
{
	/* A literal "<|im_end|>" is text, never the control token. */
	check_scripted("Type <|im_end|> to stop.\nCaf\xc3\xa9 \xe6\x97\xa5"
	    "\xe6\x9c\xac \xf0\x9f\x99\x82 ok\n\n  spaced", NULL, NULL);
}
END_TEST

START_TEST(test_scripted_moe_q8)
{
	check_scripted("Call me at 555-0100 or mail a@b.example.", "lfm2moe",
	    "q8_0");
}
END_TEST

START_TEST(test_scripted_q4_k)
{
	check_scripted("Quantized weights still follow the script.", NULL,
	    "q4_k_m");
}
END_TEST

START_TEST(test_tiny_deterministic)
{
	char a[512], b[512], c[512], cmd[2048];
	char *mk1[] = { "cloister-mkmodel", "--preset", "tiny", "--type",
	    "q4_0", "--seed", "7", "-o", a, NULL };
	char *mk2[] = { "cloister-mkmodel", "--preset", "tiny", "--type",
	    "q4_0", "--seed", "7", "--threads", "1", "-o", b, NULL };
	char *mk3[] = { "cloister-mkmodel", "--preset", "tiny", "--type",
	    "q4_0", "--seed", "8", "-o", c, NULL };
	char *ev[] = { "cloister-eval", a, "--tokens", "1,6,50,60",
	    "--generate", "8", NULL };
	struct cl_buf out = CL_BUF_INIT;
	const struct engine_model_info *in;
	struct engine_model *m;

	snprintf(a, sizeof(a), "%s/a.gguf", tmpdir);
	snprintf(b, sizeof(b), "%s/b.gguf", tmpdir);
	snprintf(c, sizeof(c), "%s/c.gguf", tmpdir);
	ck_assert_int_eq(run(mk1, NULL, NULL), 0);
	ck_assert_int_eq(run(mk2, NULL, NULL), 0);
	ck_assert_int_eq(run(mk3, NULL, NULL), 0);
	/* Same seed, any thread count: identical bytes; other seed: not. */
	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, c);
	ck_assert_int_ne(system(cmd), 0);
	m = load(a);
	in = engine_model_get_info(m);
	ck_assert_str_eq(in->arch, "lfm2moe");
	ck_assert_uint_eq(in->n_layer, 6);
	ck_assert_uint_eq(in->n_expert, 8);
	ck_assert_uint_eq(in->n_attn_layers, 2);
	engine_model_free(m);
	ck_assert_int_eq(run(ev, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out.data, "{\"pos\":3,\"top\":[["));
	ck_assert_ptr_nonnull(strstr(out.data, "{\"generated\":["));
	cl_buf_release(&out);
}
END_TEST

START_TEST(test_eval_errors)
{
	char model[512], trunc[512], cmd[2048];
	char *mk[] = { "cloister-mkmodel", "--preset", "tiny", "-o", model,
	    NULL };
	char *missing[] = { "cloister-eval", "/nonexistent/x.gguf",
	    "--tokens", "1", NULL };
	char *badtok[] = { "cloister-eval", model, "--tokens", "1,,2", NULL };
	char *range[] = { "cloister-eval", model, "--tokens", "1,99999", NULL };
	char *badk[] = { "cloister-eval", model, "--tokens", "1", "--kernels",
	    "fast", NULL };
	char *both[] = { "cloister-eval", model, NULL };
	char *tr[] = { "cloister-eval", trunc, "--tokens", "1", NULL };
	char *mkbad[] = { "cloister-mkmodel", "--preset", "huge", "-o", model,
	    NULL };
	struct cl_buf e = CL_BUF_INIT;

	snprintf(model, sizeof(model), "%s/tiny.gguf", tmpdir);
	snprintf(trunc, sizeof(trunc), "%s/trunc.gguf", tmpdir);
	ck_assert_int_eq(run(mk, NULL, NULL), 0);
	ck_assert_int_eq(run(missing, NULL, &e), 1);
	ck_assert_ptr_nonnull(strstr(e.data, "cannot open"));
	cl_buf_reset(&e);
	ck_assert_int_eq(run(badtok, NULL, &e), 2);
	cl_buf_reset(&e);
	ck_assert_int_eq(run(range, NULL, &e), 1);
	ck_assert_ptr_nonnull(strstr(e.data, "99999"));
	cl_buf_reset(&e);
	ck_assert_int_eq(run(badk, NULL, &e), 2);
	cl_buf_reset(&e);
	ck_assert_int_eq(run(both, NULL, &e), 2);
	cl_buf_reset(&e);
	snprintf(cmd, sizeof(cmd), "head -c 100000 '%s' > '%s'", model, trunc);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(run(tr, NULL, &e), 1);
	/* One line, naming the problem. */
	ck_assert_ptr_nonnull(strstr(e.data, "gguf"));
	ck_assert_ptr_eq(strchr(e.data, '\n'), e.data + e.len - 1);
	cl_buf_reset(&e);
	ck_assert_int_eq(run(mkbad, NULL, &e), 2);
	ck_assert_ptr_nonnull(strstr(e.data, "unknown preset"));
	cl_buf_release(&e);
}
END_TEST

static Suite *
tools_suite(void)
{
	Suite *s = suite_create("tools");
	TCase *tc;

	tc = tcase_create("scripted");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_scripted_simple);
	tcase_add_test(tc, test_scripted_repeats);
	tcase_add_test(tc, test_scripted_specials_and_utf8);
	tcase_add_test(tc, test_scripted_moe_q8);
	tcase_add_test(tc, test_scripted_q4_k);
	suite_add_tcase(s, tc);
	tc = tcase_create("mkmodel_eval");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_tiny_deterministic);
	tcase_add_test(tc, test_eval_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tools_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
