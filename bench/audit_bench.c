/*
 * audit_bench.c - the cost of appending one audit event, as the broker
 * pays it: audit_prompt() at level full with a 200-byte prompt, in a
 * shared store opened without the admin (so the body is sealed and the
 * checkpoint left pending), with the store's normal durability (WAL,
 * synchronous=NORMAL) and the WAL truncated after every append so no
 * earlier chain key survives in it.
 *
 * usage: audit_bench [n_events] [dir]	(default 10000, a temp dir)
 * Prints the median, p99 and max of the per-append wall time.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <sodium.h>

#include "audit/audit.h"
#include "store/store.h"

#define PASS	"bench passphrase"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
die(const char *what, const struct cl_err *err)
{
	fprintf(stderr, "audit_bench: %s: %s\n", what, err->msg);
	exit(1);
}

int
main(int argc, char **argv)
{
	struct store_options opt = STORE_OPTIONS_INIT;
	struct cl_err err = CL_ERR_INIT;
	struct store *s = NULL;
	struct audit *a = NULL;
	char tmpl[] = "/tmp/audit_bench.XXXXXX", prompt[201], cmd[600];
	const char *dir;
	struct rusage ru0, ru1;
	double *t, t0, cpu;
	long i, n = argc > 1 ? atol(argv[1]) : 10000;

	if (sodium_init() < 0 || n < 1)
		return 1;
	if (argc > 2) {
		dir = argv[2];
	} else if ((dir = mkdtemp(tmpl)) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	memset(prompt, 'p', sizeof(prompt) - 1);
	prompt[sizeof(prompt) - 1] = '\0';
	opt.mode = STORE_MODE_SHARED;
	opt.kdf_opslimit = crypto_pwhash_OPSLIMIT_MIN;
	opt.kdf_memlimit = crypto_pwhash_MEMLIMIT_MIN;
	if (store_create(dir, PASS, strlen(PASS), &opt, &s, &err) != CL_OK)
		die("creating the store", &err);
	if (audit_set_level(s, "bench", AUDIT_LEVEL_FULL, &err) != CL_OK)
		die("enabling audit", &err);
	store_close(s);
	if (store_open(dir, NULL, 0, &opt, &s, &err) != CL_OK)
		die("opening the store", &err);
	if (audit_open(s, "bench", &a, &err) != CL_OK ||
	    audit_session_start(a, NULL, "model", "policy", &err) != CL_OK)
		die("starting a session", &err);
	if ((t = calloc((size_t)n, sizeof(*t))) == NULL)
		return 1;
	getrusage(RUSAGE_SELF, &ru0);
	for (i = 0; i < n; i++) {
		t0 = now_ms();
		if (audit_prompt(a, prompt, strlen(prompt), &err) != CL_OK)
			die("appending", &err);
		t[i] = now_ms() - t0;
	}
	getrusage(RUSAGE_SELF, &ru1);
	cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec +
	    ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1e3 +
	    (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec +
	    ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e3;
	if (audit_session_end(a, "done", &err) != CL_OK)
		die("ending the session", &err);
	audit_close(a);
	store_close(s);
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	printf("audit append (full, 200-byte prompt, sealed, WAL truncated "
	    "each time): n=%ld median %.3f ms p99 %.3f ms max %.3f ms, "
	    "CPU %.3f ms per append\n", n, t[n / 2],
	    t[(size_t)((double)n * 0.99)], t[n - 1], cpu / (double)n);
	free(t);
	if (argc <= 2) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return 1;
	}
	return 0;
}
