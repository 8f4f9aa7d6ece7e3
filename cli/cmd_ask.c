/*
 * cmd_ask.c - `cloister ask`: one question to the jailed engine, the
 * answer streamed to stdout.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/broker.h"
#include "cli/cli.h"
#include "cli/cmd_engine.h"
#include "cli/session.h"

#define MAX_PROMPT	(192u * 1024)	/* fits a GENERATE frame */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: cloister ask [-c n] [-n n] [-t n] [--admin] "
	    "[--kernels auto|ref] [--min-p p]\n"
	    "                    [--model path] [--passphrase-fd fd] "
	    "[--pin-fd fd] [--profile name]\n"
	    "                    [--repeat-last-n n] [--repeat-penalty r]\n"
	    "                    [--sandbox full|degraded[=layers]|off] "
	    "[--seed n]\n"
	    "                    [--system text] [--temp t] [--top-k n] "
	    "[--top-p p]\n"
	    "                    [prompt ...]\n");
}

enum { OPT_SYSTEM = CLI_OPT_BROKER_FREE };

int
cmd_ask(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_ENGINE_LONGOPTS,
		CLI_SAMPLING_LONGOPTS,
		CLI_BROKER_LONGOPTS,
		{ "system", required_argument, NULL, OPT_SYSTEM },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_engine_args a;
	struct cli_broker_args ba;
	struct cli_broker *broker = NULL;
	struct cli_hooks hooks;
	struct engine_client *c = NULL;
	struct engine_client_msg msgs[2];
	struct engine_client_done done;
	struct cli_out out;
	struct cl_buf prompt = CL_BUF_INIT;
	struct cl_err err = CL_ERR_INIT;
	const char *system = NULL, *sys = NULL;
	char *model = NULL, *in = NULL;
	size_t n_msgs = 0, in_len = 0, sys_len = 0;
	int ch, i, rc = CLI_EXIT_FAIL, r;

	cli_engine_args_init(&a, "ask");
	cli_broker_args_init(&ba, "ask");
	memset(&hooks, 0, sizeof(hooks));
	cli_out_init(&out, stdout);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:hn:t:", longopts, NULL)) !=
	    -1) {
		if ((r = cli_engine_option(&a, ch, optarg)) == 1 ||
		    (r == 0 && (r = cli_broker_option(&ba, ch, optarg)) == 1))
			continue;
		if (r < 0) {
			usage(stderr);
			rc = CLI_EXIT_USAGE;
			goto out;
		}
		switch (ch) {
		case OPT_SYSTEM:
			system = optarg;
			break;
		case 'h':
			usage(stdout);
			rc = CLI_EXIT_OK;
			goto out;
		default:
			usage(stderr);
			rc = CLI_EXIT_USAGE;
			goto out;
		}
	}

	/* The prompt: the arguments, or stdin. */
	if (optind < argc) {
		for (i = optind; i < argc; i++) {
			if ((i > optind && cl_buf_puts(&prompt, " ") !=
			    CL_OK) || cl_buf_puts(&prompt, argv[i]) != CL_OK) {
				fprintf(stderr, "cloister ask: out of memory\n");
				goto out;
			}
		}
	} else {
		if (cl_read_all(STDIN_FILENO, MAX_PROMPT, &in, &in_len, &err) !=
		    CL_OK) {
			fprintf(stderr, "cloister ask: reading the prompt: "
			    "%s\n", err.msg);
			goto out;
		}
		if (cl_buf_append(&prompt, in != NULL ? in : "", in_len) !=
		    CL_OK) {
			fprintf(stderr, "cloister ask: out of memory\n");
			goto out;
		}
	}
	if (prompt.len == 0 || prompt.len > MAX_PROMPT) {
		fprintf(stderr, "cloister ask: %s prompt\n", prompt.len == 0 ?
		    "empty" : "too long a");
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (!cl_utf8_valid(prompt.data, prompt.len) ||
	    memchr(prompt.data, '\0', prompt.len) != NULL ||
	    (system != NULL && !cl_utf8_valid(system, strlen(system)))) {
		fprintf(stderr, "cloister ask: the prompt is not valid UTF-8 "
		    "text\n");
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if ((model = cli_model_path(&a)) == NULL)
		goto out;
	/* The policy, the profile, the store and the model file. */
	if ((rc = cli_broker_open(&ba, &a, model, &broker)) != CLI_EXIT_OK ||
	    (rc = cli_broker_system(broker, system, &sys, &sys_len)) !=
	    CLI_EXIT_OK)
		goto out;
	rc = CLI_EXIT_FAIL;
	if (sys != NULL) {
		msgs[n_msgs].role = PROTO_ROLE_SYSTEM;
		msgs[n_msgs].text = sys;
		msgs[n_msgs++].text_len = sys_len;
	}
	msgs[n_msgs].role = PROTO_ROLE_USER;
	msgs[n_msgs].text = prompt.data;
	msgs[n_msgs++].text_len = prompt.len;

	if ((rc = cli_engine_spawn(&a, model, false, &c)) != CLI_EXIT_OK ||
	    (rc = cli_engine_wait(&a, c, false)) != CLI_EXIT_OK)
		goto out;
	cli_broker_hooks(broker, c, &hooks);
	if (hooks.session_start != NULL && (r = hooks.session_start(hooks.arg,
	    engine_client_get_info(c), &err)) != CL_OK) {
		fprintf(stderr, "cloister ask: %s\n", err.msg);
		rc = cli_exit_status(r);
		goto out;
	}
	cli_catch_sigint();
	r = cli_turn(&a, &hooks, c, msgs, n_msgs, &out, &done, NULL);
	if (r == CL_OK) {
		/* End the answer with a newline on a terminal. */
		if (out.tty && out.text.len > 0 &&
		    out.text.data[out.text.len - 1] != '\n')
			fputc('\n', stdout);
		if (fflush(stdout) != 0)
			r = CL_EIO;
	}
	rc = cli_exit_status(r);
	if (r == CL_OK && done.reason == PROTO_DONE_CANCEL)
		rc = CLI_EXIT_FAIL;	/* Ctrl-C: the answer is incomplete */
out:
	if (hooks.session_end != NULL && c != NULL)
		hooks.session_end(hooks.arg, rc);
	engine_client_free(c);
	cli_broker_free(broker);
	cli_out_release(&out);
	cl_buf_release(&prompt);
	cl_free(in);
	cl_free(model);
	return rc;
}
