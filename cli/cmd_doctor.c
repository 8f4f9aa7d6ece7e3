/*
 * cmd_doctor.c - `cloister doctor`: start a jailed engine and show what
 * the kernel offered, what the engine says it applied, what /proc proves,
 * and the model's facts.  Exit 0 only when the jail is whole.
 *
 * When the jail cannot be applied whole, the engine refuses to start in
 * full mode (fail closed); doctor then starts it once more in degraded
 * mode, only to report which layers are missing, and exits 5.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_engine.h"
#include "cli/session.h"
#include "engine/ggml_types.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: cloister doctor [--json] [--model path] "
	    "[--sandbox full|degraded[=layers]|off]\n");
}

enum { OPT_JSON = CLI_OPT_FIRST_FREE };

static const char *
ns_name(enum sandbox_ns ns)
{
	return ns == SANDBOX_NS_NEW ? "new" : ns == SANDBOX_NS_SAME ?
	    "shared" : "unknown";
}

static const char *
type_name(uint32_t t)
{
	const struct ggml_type_info *ti = ggml_type_info(t);

	return ti != NULL && ti->name != NULL ? ti->name : "?";
}

static void
print_text(const char *model, const struct engine_client_info *in,
    const char *refused)
{
	const struct proto_hello *h = in->hello;
	const struct sandbox_attestation *at = &in->att;
	struct cl_buf b = CL_BUF_INIT;
	size_t i;

	printf("model:      %s\n", model);
	printf("  arch %.*s, %llu parameters (%llu active), %u layers, "
	    "vocabulary %u, context %u\n", (int)h->arch.len, h->arch.ptr,
	    (unsigned long long)h->n_params,
	    (unsigned long long)h->n_params_active, h->n_layer, h->n_vocab,
	    h->n_ctx);
	printf("  tensors");
	for (i = 0; i < h->n_types; i++)
		printf(" %s:%u", type_name(h->types[i].type),
		    h->types[i].n_tensors);
	printf("; loaded in %.2f s\n", in->load_s);
	printf("jail asked: %s\n", sandbox_mode_name(in->mode));
	if (refused != NULL)
		printf("  full mode refused: %s\n", refused);
	printf("layers (the engine's report; Landlock ABI %d):\n",
	    in->report.landlock_abi);
	if (sandbox_report_format(&in->report, &b) == CL_OK && b.data != NULL)
		printf("%s", b.data);
	if (b.len > 0 && b.data[b.len - 1] != '\n')
		printf("\n");
	printf("attestation (from /proc/%ld):\n", (long)in->pid);
	printf("  seccomp mode %d on all %d threads, filters %d..%d "
	    "(broker %d)\n", at->seccomp_mode_min, at->n_threads,
	    at->seccomp_filters_min, at->seccomp_filters_max,
	    at->baseline_filters);
	printf("  no_new_privs %s; namespaces: user %s, net %s, ipc %s\n",
	    at->no_new_privs ? "yes" : "no", ns_name(at->user_ns),
	    ns_name(at->net_ns), ns_name(at->ipc_ns));
	if (at->detail[0] != '\0')
		printf("  %s\n", at->detail);
	printf("verdict:    %s\n", sandbox_verdict_name(in->verdict));
	cl_buf_release(&b);
}

static int
print_json(const char *model, const struct engine_client_info *in,
    const char *refused)
{
	const struct proto_hello *h = in->hello;
	struct cl_buf b = CL_BUF_INIT;
	struct cl_json_writer w;
	size_t i;
	int r;

	cl_json_init(&w, &b);
	cl_json_obj_begin(&w);
	cli_jail_json(&w, in, refused);

	cl_json_key(&w, "model");
	cl_json_obj_begin(&w);
	cl_json_key(&w, "path");
	cl_json_str(&w, model);
	cl_json_key(&w, "arch");
	cl_json_strn(&w, h->arch.ptr, h->arch.len);
	cl_json_key(&w, "n_params");
	cl_json_uint(&w, h->n_params);
	cl_json_key(&w, "n_params_active");
	cl_json_uint(&w, h->n_params_active);
	cl_json_key(&w, "n_layer");
	cl_json_uint(&w, h->n_layer);
	cl_json_key(&w, "n_vocab");
	cl_json_uint(&w, h->n_vocab);
	cl_json_key(&w, "n_ctx");
	cl_json_uint(&w, h->n_ctx);
	cl_json_key(&w, "load_s");
	cl_json_double(&w, in->load_s);
	cl_json_key(&w, "types");
	cl_json_arr_begin(&w);
	for (i = 0; i < h->n_types; i++) {
		cl_json_obj_begin(&w);
		cl_json_key(&w, "type");
		cl_json_str(&w, type_name(h->types[i].type));
		cl_json_key(&w, "n_tensors");
		cl_json_uint(&w, h->types[i].n_tensors);
		cl_json_key(&w, "n_bytes");
		cl_json_uint(&w, h->types[i].n_bytes);
		cl_json_obj_end(&w);
	}
	cl_json_arr_end(&w);
	cl_json_obj_end(&w);
	cl_json_key(&w, "engine_pid");
	cl_json_int(&w, in->pid);
	cl_json_key(&w, "ok");
	cl_json_bool(&w, in->verdict == SANDBOX_VERDICT_WHOLE);
	cl_json_obj_end(&w);
	if ((r = w.err) == CL_OK)
		printf("%s\n", b.data);
	cl_buf_release(&b);
	return r;
}

int
cmd_doctor(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_ENGINE_LONGOPTS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_engine_args a;
	struct engine_client *c = NULL;
	struct cl_err err = CL_ERR_INIT;
	const struct engine_client_info *in;
	char refused[sizeof(err.msg)];
	bool json = false, was_refused = false;
	char *model = NULL;
	int ch, r = CL_EINTERNAL, rc = CLI_EXIT_FAIL;

	cli_engine_args_init(&a, "doctor");
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:ht:", longopts, NULL)) != -1) {
		if ((r = cli_engine_option(&a, ch, optarg)) == 1)
			continue;
		if (r < 0) {
			usage(stderr);
			return CLI_EXIT_USAGE;
		}
		switch (ch) {
		case OPT_JSON:
			json = true;
			break;
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		default:
			usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if ((model = cli_model_path(&a)) == NULL)
		return CLI_EXIT_FAIL;

	if ((rc = cli_engine_spawn(&a, model, true, &c)) != CLI_EXIT_OK)
		goto out;
	{
		bool ready = false;

		while (!ready && (r = engine_client_poll_ready(c, -1, &ready,
		    &err)) == CL_OK)
			;
	}
	if (r == CL_ESANDBOX && a.sandbox == SANDBOX_MODE_FULL) {
		/* Fail closed, then look again only to say what is missing. */
		snprintf(refused, sizeof(refused), "%s", err.msg);
		was_refused = true;
		engine_client_free(c);
		c = NULL;
		a.sandbox = SANDBOX_MODE_DEGRADED;
		a.allow_missing = (1u << SANDBOX_N_LAYERS) - 1;
		if ((rc = cli_engine_spawn(&a, model, true, &c)) !=
		    CLI_EXIT_OK)
			goto out;
		{
			bool ready = false;

			while (!ready && (r = engine_client_poll_ready(c, -1,
			    &ready, &err)) == CL_OK)
				;
		}
	}
	if (r != CL_OK) {
		fprintf(stderr, "cloister doctor: %s\n", err.msg);
		rc = cli_exit_status(r);
		goto out;
	}
	in = engine_client_get_info(c);
	if (json) {
		if (print_json(model, in, was_refused ? refused : NULL) !=
		    CL_OK) {
			fprintf(stderr, "cloister doctor: cannot write JSON\n");
			rc = CLI_EXIT_FAIL;
			goto out;
		}
	} else
		print_text(model, in, was_refused ? refused : NULL);
	rc = in->verdict == SANDBOX_VERDICT_WHOLE && !was_refused ?
	    CLI_EXIT_OK : CLI_EXIT_SANDBOX;
	if (fflush(stdout) != 0)
		rc = CLI_EXIT_FAIL;
out:
	engine_client_free(c);
	cl_free(model);
	return rc;
}
