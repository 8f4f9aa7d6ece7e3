/*
 * cmd_chat.c - `cloister chat`: a conversation with the jailed model.
 *
 * The engine starts, jails itself and loads the model as soon as chat
 * starts; on a terminal the prompt shows the loading progress while the
 * user types the first question (libedit: line editing and history).
 * Answers stream to stdout; Ctrl-C stops the current answer (CANCEL) but
 * not the program; /reset forgets the conversation, /quit or end of
 * input leaves.  Without a terminal (or without libedit) lines are read
 * plainly from stdin, which is how the test suite drives it.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#ifdef HAVE_LIBEDIT
#include <histedit.h>
#endif /* HAVE_LIBEDIT */

#include "cli/broker.h"
#include "cli/cli.h"
#include "cli/cmd_engine.h"
#include "cli/session.h"

#define MAX_LINE	(64u * 1024)

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: cloister chat [-c n] [-n n] [-t n] [--admin] "
	    "[--kernels auto|ref] [--min-p p]\n"
	    "                     [--model path] [--passphrase-fd fd] "
	    "[--pin-fd fd] [--profile name]\n"
	    "                     [--repeat-last-n n] [--repeat-penalty r]\n"
	    "                     [--sandbox full|degraded[=layers]|off] "
	    "[--seed n]\n"
	    "                     [--system text] [--temp t] [--top-k n] "
	    "[--top-p p]\n");
}

enum { OPT_SYSTEM = CLI_OPT_BROKER_FREE };

/* The conversation: owned texts. */
struct convo {
	struct engine_client_msg msgs[PROTO_MAX_MESSAGES];
	size_t		n;
	size_t		n_fixed;	/* the system message, kept on /reset */
};

static void
convo_drop(struct convo *cv, size_t from)
{
	size_t i;

	for (i = from; i < cv->n; i++)
		cl_free((char *)cv->msgs[i].text);
	cv->n = from;
}

static int
convo_add(struct convo *cv, enum proto_role role, const char *text,
    size_t len)
{
	char *t;

	/* Full: forget the oldest exchange after the system message. */
	if (cv->n + 1 > PROTO_MAX_MESSAGES) {
		cl_free((char *)cv->msgs[cv->n_fixed].text);
		cl_free((char *)cv->msgs[cv->n_fixed + 1].text);
		memmove(&cv->msgs[cv->n_fixed], &cv->msgs[cv->n_fixed + 2],
		    (cv->n - cv->n_fixed - 2) * sizeof(cv->msgs[0]));
		cv->n -= 2;
	}
	if ((t = cl_strndup(text != NULL ? text : "", len)) == NULL)
		return CL_ENOMEM;
	cv->msgs[cv->n].role = role;
	cv->msgs[cv->n].text = t;
	cv->msgs[cv->n].text_len = len;
	cv->n++;
	return CL_OK;
}

/* Put the question as sent in place of the one typed. */
static int
convo_replace_last(struct convo *cv, const char *text, size_t len)
{
	char *t;

	if (cv->n == 0)
		return CL_EINTERNAL;
	if ((t = cl_strndup(text != NULL ? text : "", len)) == NULL)
		return CL_ENOMEM;
	cl_free((char *)cv->msgs[cv->n - 1].text);
	cv->msgs[cv->n - 1].text = t;
	cv->msgs[cv->n - 1].text_len = len;
	return CL_OK;
}

struct chat {
	struct cli_engine_args	 a;
	struct cli_broker_args	 ba;
	struct cli_broker	*broker;
	struct cli_hooks	 hooks;
	struct engine_client	*c;
	bool			 ready;
	int			 fail_rc;	/* engine failed while typing */
	int			 pct;		/* loading progress, -1 none */
	bool			 tty;
};

static struct chat *the_chat;	/* for libedit's callbacks */

static void
chat_progress(void *arg, uint64_t done, uint64_t total)
{
	struct chat *ch = arg;

	ch->pct = total > 0 ? (int)(done * 100 / total) : 0;
}

/* Take the engine's frames while the user types; never blocks long. */
static void
chat_poll_engine(struct chat *ch, int timeout_ms)
{
	struct cl_err err = CL_ERR_INIT;
	int r;

	if (ch->ready || ch->fail_rc != 0)
		return;
	if ((r = engine_client_poll_ready(ch->c, timeout_ms, &ch->ready,
	    &err)) != CL_OK) {
		fprintf(stderr, "\ncloister chat: %s\n", err.msg);
		ch->fail_rc = cli_exit_status(r);
	}
}

/* Wait for the engine before the first answer. */
static int
chat_wait(struct chat *ch)
{
	if (!ch->ready && ch->fail_rc == 0) {
		if (ch->tty)
			fprintf(stderr, "cloister chat: waiting for the model "
			    "to load...\n");
		while (!ch->ready && ch->fail_rc == 0)
			chat_poll_engine(ch, 200);
		if (ch->ready) {
			struct cl_err err = CL_ERR_INIT;
			int r;

			cli_warn_degraded("chat",
			    engine_client_get_info(ch->c));
			/* One audit session per run of chat. */
			if (ch->hooks.session_start != NULL &&
			    (r = ch->hooks.session_start(ch->hooks.arg,
			    engine_client_get_info(ch->c), &err)) != CL_OK) {
				fprintf(stderr, "cloister chat: %s\n",
				    err.msg);
				ch->fail_rc = cli_exit_status(r);
			}
		}
	}
	return ch->fail_rc;
}

#ifdef HAVE_LIBEDIT
static char *
chat_prompt(EditLine *el)
{
	static char p[64];

	(void)el;
	if (the_chat->ready || the_chat->fail_rc != 0)
		snprintf(p, sizeof(p), "> ");
	else
		snprintf(p, sizeof(p), "[loading %d%%] > ",
		    the_chat->pct < 0 ? 0 : the_chat->pct);
	return p;
}

/*
 * libedit's input: wait for a key while following the engine's loading,
 * redrawing the prompt when the progress changes.
 */
static int
chat_getc(EditLine *el, wchar_t *wc)
{
	struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
	mbstate_t mbs;
	char ch;
	ssize_t n;
	size_t k;
	bool was_ready;
	int last;

	memset(&mbs, 0, sizeof(mbs));
	for (;;) {
		last = the_chat->pct;
		was_ready = the_chat->ready;
		chat_poll_engine(the_chat, 0);
		if (the_chat->pct != last || the_chat->ready != was_ready)
			el_set(el, EL_REFRESH);
		if (poll(&pfd, 1, the_chat->ready ? -1 : 100) <= 0)
			continue;	/* timeout or Ctrl-C at the prompt */
		n = read(STDIN_FILENO, &ch, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? 0 : -1;
		k = mbrtowc(wc, &ch, 1, &mbs);
		if (k == (size_t)-2)
			continue;	/* more bytes of this character */
		if (k == (size_t)-1) {
			memset(&mbs, 0, sizeof(mbs));
			*wc = L'?';
		}
		return 1;
	}
}
#endif /* HAVE_LIBEDIT */

static void
help(void)
{
	printf("Type a message and press Enter.  Ctrl-C stops an answer.\n"
	    "  /reset  forget the conversation\n"
	    "  /help   this text\n"
	    "  /quit   leave (or end of input)\n");
}

/* One line from the user; NULL at end of input.  Caller frees. */
static char *
read_line(struct chat *ch, void *el)
{
	char *line = NULL, *res;
	size_t cap = 0;
	ssize_t n;

#ifdef HAVE_LIBEDIT
	if (el != NULL) {
		const char *s;
		int count = 0;

		if ((s = el_gets(el, &count)) == NULL || count <= 0)
			return NULL;
		return cl_strndup(s, (size_t)count);
	}
#endif /* HAVE_LIBEDIT */
	(void)el;
	(void)ch;
	do {
		errno = 0;
		n = getline(&line, &cap, stdin);
	} while (n < 0 && errno == EINTR && !feof(stdin));
	if (n < 0) {
		free(line);
		return NULL;
	}
	res = cl_strndup(line, (size_t)n);
	free(line);
	return res;
}

int
cmd_chat(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_ENGINE_LONGOPTS,
		CLI_SAMPLING_LONGOPTS,
		CLI_BROKER_LONGOPTS,
		{ "system", required_argument, NULL, OPT_SYSTEM },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static struct convo cv;
	struct chat chs;
	struct chat *ch = &chs;
	struct engine_client_done done;
	struct cli_out out;
	struct cl_buf sent = CL_BUF_INIT;
	const char *system = NULL, *sys = NULL;
	size_t sys_len = 0;
	char *model = NULL, *line = NULL;
	void *el = NULL;
	size_t len;
	int opt, r, rc = CLI_EXIT_FAIL;
	unsigned policy_stops = 0;
#ifdef HAVE_LIBEDIT
	History *hist = NULL;
	HistEvent ev;
#endif /* HAVE_LIBEDIT */

	memset(ch, 0, sizeof(*ch));
	memset(&cv, 0, sizeof(cv));
	ch->pct = -1;
	the_chat = ch;
	cli_engine_args_init(&ch->a, "chat");
	cli_broker_args_init(&ch->ba, "chat");
	cli_out_init(&out, stdout);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:hn:t:", longopts, NULL)) !=
	    -1) {
		if ((r = cli_engine_option(&ch->a, opt, optarg)) == 1 ||
		    (r == 0 && (r = cli_broker_option(&ch->ba, opt,
		    optarg)) == 1))
			continue;
		if (r < 0) {
			usage(stderr);
			return CLI_EXIT_USAGE;
		}
		switch (opt) {
		case OPT_SYSTEM:
			system = optarg;
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
	if (system != NULL && !cl_utf8_valid(system, strlen(system))) {
		fprintf(stderr, "cloister chat: the system text is not valid "
		    "UTF-8\n");
		return CLI_EXIT_USAGE;
	}
	if ((model = cli_model_path(&ch->a)) == NULL)
		goto out;
	/* The policy, the profile, the store and the model file. */
	if ((rc = cli_broker_open(&ch->ba, &ch->a, model, &ch->broker)) !=
	    CLI_EXIT_OK || (rc = cli_broker_system(ch->broker, system, &sys,
	    &sys_len)) != CLI_EXIT_OK)
		goto out;
	rc = CLI_EXIT_FAIL;
	if (sys != NULL) {
		if (convo_add(&cv, PROTO_ROLE_SYSTEM, sys, sys_len) != CL_OK)
			goto out;
		cv.n_fixed = 1;
	}

	/* Start the engine now; it loads while the user types. */
	ch->a.progress = chat_progress;		/* shown in the prompt */
	ch->a.progress_arg = ch;
	if ((rc = cli_engine_spawn(&ch->a, model, true, &ch->c)) !=
	    CLI_EXIT_OK)
		goto out;
	cli_broker_hooks(ch->broker, ch->c, &ch->hooks);
	rc = CLI_EXIT_FAIL;
	ch->tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	cli_catch_sigint();
#ifdef HAVE_LIBEDIT
	if (ch->tty) {
		setlocale(LC_CTYPE, "");
		if ((el = el_init("cloister", stdin, stdout, stderr)) != NULL &&
		    (hist = history_init()) != NULL) {
			history(hist, &ev, H_SETSIZE, 500);
			el_set(el, EL_HIST, history, hist);
			el_set(el, EL_EDITOR, "emacs");
			el_set(el, EL_PROMPT, chat_prompt);
			el_set(el, EL_GETCFN, chat_getc);
		}
		printf("cloister chat: the model loads in its jail; type "
		    "/help for help.\n");
	}
#endif /* HAVE_LIBEDIT */

	for (;;) {
		cl_free(line);
		if ((line = read_line(ch, el)) == NULL) {
			if (ch->tty)
				printf("\n");
			break;
		}
		if (ch->fail_rc != 0) {
			rc = ch->fail_rc;
			goto out;
		}
		len = strlen(line);
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
#ifdef HAVE_LIBEDIT
		if (hist != NULL)
			history(hist, &ev, H_ENTER, line);
#endif /* HAVE_LIBEDIT */
		if (strcmp(line, "/quit") == 0 || strcmp(line, "/exit") == 0)
			break;
		if (strcmp(line, "/help") == 0) {
			help();
			continue;
		}
		if (strcmp(line, "/reset") == 0) {
			convo_drop(&cv, cv.n_fixed);
			printf("(conversation forgotten)\n");
			continue;
		}
		if (line[0] == '/') {
			printf("unknown command '%s'; /help lists them\n",
			    line);
			continue;
		}
		if (!cl_utf8_valid(line, len) || len > MAX_LINE) {
			fprintf(stderr, "cloister chat: not valid UTF-8 text, "
			    "or too long; ignored\n");
			continue;
		}
		if ((rc = chat_wait(ch)) != 0)
			goto out;
		if (convo_add(&cv, PROTO_ROLE_USER, line, len) != CL_OK) {
			rc = CLI_EXIT_FAIL;
			goto out;
		}
		r = cli_turn(&ch->a, &ch->hooks, ch->c, cv.msgs, cv.n, &out,
		    &done, &sent);
		if (r == CL_EENGINE || r == CL_EIO || r == CL_ECRYPTO ||
		    r == CL_ENOMEM) {
			rc = cli_exit_status(r);
			goto out;
		}
		if (r == CL_EPOLICY && out.text.len > 0) {
			/* Stopped: keep what was shown, as it was shown. */
			if (convo_replace_last(&cv, sent.data, sent.len) !=
			    CL_OK || convo_add(&cv, PROTO_ROLE_ASSISTANT,
			    out.text.data, out.text.len) != CL_OK) {
				rc = CLI_EXIT_FAIL;
				goto out;
			}
			policy_stops++;
			continue;
		}
		if (r == CL_EPOLICY)
			policy_stops++;
		if (r != CL_OK) {
			/* Refused or too long: the turn did not happen. */
			convo_drop(&cv, cv.n - 1);
			if (r == CL_ELIMIT)
				fprintf(stderr, "cloister chat: /reset starts "
				    "a new conversation\n");
			continue;
		}
		if (out.text.len == 0 || out.text.data[out.text.len - 1] !=
		    '\n')
			fputc('\n', stdout);
		if (done.reason == PROTO_DONE_CANCEL)
			printf("(stopped)\n");
		fflush(stdout);
		if (convo_replace_last(&cv, sent.data, sent.len) != CL_OK ||
		    convo_add(&cv, PROTO_ROLE_ASSISTANT, out.text.data,
		    out.text.len) != CL_OK) {
			rc = CLI_EXIT_FAIL;
			goto out;
		}
	}
	rc = ch->fail_rc != 0 ? ch->fail_rc : policy_stops > 0 ?
	    CLI_EXIT_POLICY : CLI_EXIT_OK;
out:
	if (ch->hooks.session_end != NULL && ch->c != NULL)
		ch->hooks.session_end(ch->hooks.arg, rc);
#ifdef HAVE_LIBEDIT
	if (el != NULL)
		el_end(el);
	if (hist != NULL)
		history_end(hist);
#endif /* HAVE_LIBEDIT */
	engine_client_free(ch->c);
	cli_broker_free(ch->broker);
	cl_buf_release(&sent);
	convo_drop(&cv, 0);
	cli_out_release(&out);
	cl_free(line);
	cl_free(model);
	return rc;
}
