/*
 * engine_client.c - the broker's side of the jailed engine (see
 * engine_client.h).
 *
 * Divisions:
 *   1. the client and small helpers
 *   2. the engine's stderr        - a pipe read line by line, sanitized
 *   3. frames                     - receive with poll, engine failure
 *   4. start                      - open, socketpair, spawn, HELLO, attest
 *   5. requests                   - GENERATE, TOKENIZE, BENCH
 *   6. stop
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine_client.h"

#ifndef CL_LIBEXECDIR
#define CL_LIBEXECDIR	"/usr/local/libexec"
#endif

#define DEFAULT_LOAD_TIMEOUT_MS	(600 * 1000)
#define STDERR_LINE_MAX		512	/* longer lines are cut */
#define CANCEL_POLL_MS		100

/* ------------------------------------------------------------------ */
/* 1. the client and small helpers                                     */

struct engine_client {
	pid_t			 pid;		/* -1 once reaped */
	int			 sock;		/* our end of the socketpair */
	int			 errfd;		/* read end of the stderr pipe */
	bool			 ready;		/* HELLO checked, jail attested */
	bool			 dead;		/* failed; no more requests */
	enum sandbox_mode	 mode;
	double			 t_spawn;	/* cl_now() at spawn */
	double			 deadline;	/* cl_now() limit for HELLO */
	char			*rbuf;		/* PROTO_MAX_FRAME bytes */
	struct cl_buf		 wbuf;		/* frame being sent */
	struct proto_msg	 hello;		/* owned HELLO */
	struct engine_client_info info;
	struct cl_buf		 errline;	/* partial stderr line */
	char			 last_line[160]; /* last stderr line seen */
	void			(*progress)(void *, uint64_t, uint64_t);
	void			*progress_arg;
	void			(*stderr_line)(void *, const char *);
	void			*stderr_arg;
};

static int
parse_one_layer(const char *name, unsigned *mask)
{
	int l;

	if (strcmp(name, "namespaces") == 0) {
		*mask |= SANDBOX_LAYERS_NAMESPACES;
		return 0;
	}
	for (l = 0; l < SANDBOX_N_LAYERS; l++) {
		if (strcmp(name, sandbox_layer_name((enum sandbox_layer)l)) ==
		    0) {
			*mask |= SANDBOX_LAYER_BIT(l);
			return 0;
		}
	}
	return -1;
}

int
engine_client_parse_layers(const char *s, unsigned *mask,
    struct cl_err *err)
{
	char name[64];
	const char *p = s, *e;
	unsigned m = 0;
	size_t len;

	if (*p == '\0')
		return cl_errf(err, CL_EINVAL, "empty list of layers");
	while (*p != '\0') {
		e = strchr(p, ',');
		len = e != NULL ? (size_t)(e - p) : strlen(p);
		if (len == 0 || len >= sizeof(name))
			return cl_errf(err, CL_EINVAL, "bad list of layers");
		memcpy(name, p, len);
		name[len] = '\0';
		if (parse_one_layer(name, &m) != 0)
			return cl_errf(err, CL_EINVAL, "unknown sandbox layer "
			    "'%s'", name);
		p += len;
		if (*p == ',' && *++p == '\0')
			return cl_errf(err, CL_EINVAL, "bad list of layers");
	}
	*mask = m;
	return CL_OK;
}

/* A mask as "userns,netns" for the engine's command line. */
static void
format_layers(unsigned mask, char *out, size_t cap)
{
	size_t pos = 0;
	int l;

	out[0] = '\0';
	for (l = 0; l < SANDBOX_N_LAYERS && pos < cap; l++) {
		if (mask & SANDBOX_LAYER_BIT(l))
			pos += (size_t)snprintf(out + pos, cap - pos, "%s%s",
			    pos ? "," : "",
			    sandbox_layer_name((enum sandbox_layer)l));
	}
}

static int
ms_left(double deadline)
{
	double left = deadline - cl_now();

	if (left <= 0)
		return 0;
	if (left > 1e6)
		return 1000 * 1000 * 1000;
	return (int)(left * 1000) + 1;
}

/* ------------------------------------------------------------------ */
/* 2. the engine's stderr                                              */

static void
emit_line(struct engine_client *c)
{
	char *s = c->errline.data;
	size_t i, n = c->errline.len;

	if (n == 0 || s == NULL)
		return;
	/*
	 * The engine is untrusted: no escape sequences reach the terminal.
	 * Control bytes and invalid UTF-8 become '?'.
	 */
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f)
			s[i] = '?';
	}
	for (i = 0; i < n;) {
		uint32_t cp;
		size_t k = cl_utf8_decode(s + i, n - i, &cp);

		if (k == 0 || (cp >= 0x80 && cp < 0xa0)) {
			s[i] = '?';
			k = 1;
		}
		i += k;
	}
	snprintf(c->last_line, sizeof(c->last_line), "%s", s);
	if (c->stderr_line != NULL)
		c->stderr_line(c->stderr_arg, s);
	cl_buf_reset(&c->errline);
}

/* Read whatever the engine wrote to stderr, without blocking. */
static void
drain_stderr(struct engine_client *c, bool at_eof)
{
	char buf[4096];
	ssize_t n;
	ssize_t i;

	if (c->errfd < 0)
		return;
	for (;;) {
		n = read(c->errfd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0) {
				close(c->errfd);
				c->errfd = -1;
			}
			break;
		}
		for (i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				emit_line(c);
				continue;
			}
			if (c->errline.len < STDERR_LINE_MAX &&
			    cl_buf_append(&c->errline, &buf[i], 1) != CL_OK)
				break;
		}
	}
	if (at_eof || c->errfd < 0)
		emit_line(c);
}

/* ------------------------------------------------------------------ */
/* 3. frames                                                           */

/* Reap the engine: wait up to `grace_ms` for it, then SIGKILL. */
static void
reap(struct engine_client *c, int grace_ms, struct sandbox_exit *ex,
    struct cl_err *why)
{
	struct cl_err tmp = CL_ERR_INIT;
	double until = cl_now() + grace_ms / 1000.0;

	memset(ex, 0, sizeof(*ex));
	if (c->pid <= 0)
		return;
	if (why == NULL)
		why = &tmp;
	for (;;) {
		(void)sandbox_wait(c->pid, "engine", false, ex, why);
		if (ex->state != SANDBOX_EXIT_RUNNING || cl_now() >= until)
			break;
		usleep(10 * 1000);
	}
	if (ex->state == SANDBOX_EXIT_RUNNING) {
		kill(c->pid, SIGKILL);
		(void)sandbox_wait(c->pid, "engine", true, ex, why);
	}
	c->pid = -1;
}

/* Stop and reap the engine at once; the client is dead afterwards. */
static void
stop_engine(struct engine_client *c)
{
	struct sandbox_exit ex;

	if (c->pid > 0)
		kill(c->pid, SIGKILL);
	reap(c, 0, &ex, NULL);
	drain_stderr(c, true);
	c->dead = true;
	c->ready = false;
}

/*
 * The engine failed: stop it and return CL_EENGINE with `fmt`, which says
 * what it did wrong.
 */
static int
engine_failed(struct engine_client *c, struct cl_err *err, const char *fmt,
    ...) CL_PRINTF(3, 4);

static int
engine_failed(struct engine_client *c, struct cl_err *err, const char *fmt,
    ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	stop_engine(c);
	return cl_errf(err, CL_EENGINE, "%s", what);
}

/* The socket closed: the engine ended.  Say how. */
static int
engine_ended(struct engine_client *c, struct cl_err *err)
{
	struct sandbox_exit ex;
	struct cl_err how = CL_ERR_INIT;

	reap(c, 2000, &ex, &how);
	drain_stderr(c, true);
	c->dead = true;
	c->ready = false;
	if (ex.state == SANDBOX_EXIT_EXITED && ex.code == 0)
		return cl_errf(err, CL_EENGINE, "engine exited unexpectedly");
	if (how.code != CL_OK)
		return cl_errf(err, CL_EENGINE, "%s%s%s%s", how.msg,
		    c->last_line[0] ? " (last message: " : "", c->last_line,
		    c->last_line[0] ? ")" : "");
	return cl_errf(err, CL_EENGINE, "engine closed its socket");
}

/*
 * Wait at most `timeout_ms` (-1: forever) for one frame, reading the
 * engine's stderr meanwhile.  Returns 1 with a decoded frame meant for the
 * broker in *m, 0 on timeout, or a CL_E* code (engine failure).
 */
static int
recv_frame(struct engine_client *c, int timeout_ms, struct proto_msg *m,
    struct cl_err *err)
{
	struct pollfd pfd[2];
	struct cl_err e2 = CL_ERR_INIT;
	double until = timeout_ms < 0 ? 0 : cl_now() + timeout_ms / 1000.0;
	size_t len;
	int n, r, wait;

	for (;;) {
		pfd[0].fd = c->sock;
		pfd[0].events = POLLIN;
		pfd[1].fd = c->errfd;
		pfd[1].events = POLLIN;
		wait = timeout_ms < 0 ? -1 : ms_left(until);
		n = poll(pfd, c->errfd >= 0 ? 2 : 1, wait);
		if (n < 0) {
			if (errno == EINTR)
				return 0;	/* let the caller look at flags */
			return engine_failed(c, err, "poll: %s",
			    strerror(errno));
		}
		if (n == 0)
			return 0;
		if (c->errfd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP)))
			drain_stderr(c, false);
		if (pfd[0].revents == 0)
			continue;
		r = proto_recv(c->sock, c->rbuf, PROTO_MAX_FRAME, &len, 0,
		    &e2);
		if (r == CL_EIO)
			return engine_ended(c, err);
		if (r != CL_OK)
			return engine_failed(c, err, "engine sent a bad frame: "
			    "%s", e2.msg);
		if (len == 0)
			continue;
		if ((r = proto_decode(c->rbuf, len, m, &e2)) != CL_OK)
			return engine_failed(c, err, "engine sent a bad frame: "
			    "%s", e2.msg);
		if (proto_type_direction(m->type) != PROTO_DIR_TO_BROKER) {
			enum proto_type t = m->type;

			proto_msg_release(m);
			return engine_failed(c, err, "engine sent a %s frame, "
			    "which only the broker may send",
			    proto_type_name(t));
		}
		return 1;
	}
}

/*
 * An ERROR frame: the engine's code and message.  The engine may exit
 * after it (a jail or load failure); it is reaped then.
 */
static int
engine_error(struct engine_client *c, const struct proto_error *pe,
    bool fatal, struct cl_err *err)
{
	int code = pe->code;

	if (code >= CL_OK || code < CL_EAUTH)
		code = CL_EENGINE;
	if (fatal) {
		struct sandbox_exit ex;

		reap(c, 2000, &ex, NULL);
		drain_stderr(c, true);
		c->dead = true;
		c->ready = false;
	}
	return cl_errf(err, code, "engine: %.*s", (int)pe->message.len,
	    pe->message.ptr != NULL ? pe->message.ptr : "");
}

static int
send_msg(struct engine_client *c, const struct proto_msg *m,
    struct cl_err *err)
{
	struct cl_err e2 = CL_ERR_INIT;
	int r;

	if ((r = proto_encode(&c->wbuf, m, err)) != CL_OK)
		return r;
	if (proto_send(c->sock, &c->wbuf, &e2) != CL_OK)
		return engine_ended(c, err);
	return CL_OK;
}

/* ------------------------------------------------------------------ */
/* 4. start                                                            */

/* Rebuild the engine's sandbox report from its HELLO rows. */
static void
report_from_hello(const struct proto_hello *h, enum sandbox_mode mode,
    struct sandbox_report *rep)
{
	size_t i, nl;
	int l, s;

	memset(rep, 0, sizeof(*rep));
	rep->mode = mode;
	rep->profile = SANDBOX_PROFILE_ENGINE;
	for (i = 0; i < h->n_layers; i++) {
		const char *name = h->layers[i].name.ptr;
		const char *st = h->layers[i].status.ptr;

		if (name == NULL || st == NULL)
			continue;
		if (strcmp(name, "landlock_abi") == 0) {
			rep->landlock_abi = atoi(st);
			continue;
		}
		if (strcmp(name, "seccomp_rules") == 0) {
			rep->n_syscalls = atoi(st);
			continue;
		}
		for (l = 0; l < SANDBOX_N_LAYERS; l++) {
			if (strcmp(name, sandbox_layer_name(
			    (enum sandbox_layer)l)) == 0)
				break;
		}
		if (l == SANDBOX_N_LAYERS)
			continue;
		for (s = SANDBOX_STATUS_NOT_TRIED; s <= SANDBOX_STATUS_FAILED;
		    s++) {
			const char *sn = sandbox_status_name(
			    (enum sandbox_status)s);

			nl = strlen(sn);
			if (strncmp(st, sn, nl) == 0 &&
			    (st[nl] == '\0' || st[nl] == ':')) {
				rep->layers[l].status = (enum sandbox_status)s;
				if (st[nl] == ':')
					snprintf(rep->layers[l].detail,
					    sizeof(rep->layers[l].detail),
					    "%s", st + nl + (st[nl + 1] ==
					    ' ' ? 2 : 1));
				break;
			}
		}
	}
}

/* HELLO arrived: check it, attest the jail, judge it against the mode. */
static int
on_hello(struct engine_client *c, struct cl_err *err)
{
	const struct proto_hello *h = &c->hello.u.hello;
	struct engine_client_info *in = &c->info;
	struct cl_err e2 = CL_ERR_INIT;
	int r;

	in->pid = c->pid;
	in->hello = h;
	in->mode = c->mode;
	in->load_s = cl_now() - c->t_spawn;
	report_from_hello(h, c->mode, &in->report);
	if (c->mode == SANDBOX_MODE_FULL &&
	    h->sandbox_mode != PROTO_SANDBOX_FULL) {
		stop_engine(c);
		return cl_errf(err, CL_ESANDBOX, "engine reports a partial "
		    "jail in full mode");
	}
	if (c->mode != SANDBOX_MODE_OFF &&
	    h->sandbox_mode == PROTO_SANDBOX_OFF) {
		stop_engine(c);
		return cl_errf(err, CL_ESANDBOX, "engine reports no jail");
	}
	if ((r = sandbox_attest(c->pid, &in->att, &e2)) != CL_OK) {
		stop_engine(c);
		return cl_errf(err, r == CL_ENOTFOUND ? CL_EENGINE :
		    CL_ESANDBOX, "%s", e2.msg);
	}
	in->verdict = sandbox_verdict(&in->att, &in->report);
	if ((r = sandbox_attestation_check(&in->att, c->mode, &in->report,
	    &e2)) != CL_OK) {
		stop_engine(c);
		return cl_errf(err, CL_ESANDBOX, "%s", e2.msg);
	}
	c->ready = true;
	return CL_OK;
}

int
engine_client_spawn(const struct engine_client_opts *o,
    struct engine_client **out, struct cl_err *err)
{
	struct engine_client *c = NULL;
	struct stat sb;
	const char *exe;
	char s_threads[16], s_ctx[16], s_miss[128], s_unav[128];
	char *argv[24];
	int fds[3] = { -1, -1, -1 }, sv[2] = { -1, -1 }, ep[2] = { -1, -1 };
	int model_fd = -1, r, e, k = 0;

	*out = NULL;
	if (o == NULL || o->model_path == NULL)
		return cl_errf(err, CL_EINVAL, "no model given");
	if ((c = cl_calloc(1, sizeof(*c))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	c->pid = -1;
	c->sock = -1;
	c->errfd = -1;
	c->mode = o->sandbox;
	c->progress = o->progress;
	c->progress_arg = o->progress_arg;
	c->stderr_line = o->stderr_line;
	c->stderr_arg = o->stderr_arg;
	if ((c->rbuf = cl_malloc(PROTO_MAX_FRAME)) == NULL) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}

	/* The broker opens the model; the engine only gets the descriptor. */
	if (o->have_model_fd) {
		if ((model_fd = fcntl(o->model_fd, F_DUPFD_CLOEXEC, 3)) == -1) {
			r = cl_errf(err, CL_EIO, "cannot use model '%s': %s",
			    o->model_path, strerror(errno));
			goto out;
		}
	} else if ((model_fd = open(o->model_path, O_RDONLY | O_CLOEXEC |
	    O_NOCTTY)) == -1) {
		e = errno;
		r = cl_errf(err, e == ENOENT ? CL_ENOTFOUND : CL_EIO,
		    "cannot open model '%s': %s", o->model_path, strerror(e));
		goto out;
	}
	if (fstat(model_fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		r = cl_errf(err, CL_EIO, "model '%s' is not a regular file",
		    o->model_path);
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0 ||
	    pipe2(ep, O_CLOEXEC) != 0) {
		r = cl_errf(err, CL_EIO, "socketpair: %s", strerror(errno));
		goto out;
	}
	if ((r = proto_socket_tune(sv[0], err)) != CL_OK ||
	    (r = proto_socket_tune(sv[1], err)) != CL_OK)
		goto out;
	if (fcntl(ep[0], F_SETFL, O_NONBLOCK) != 0) {
		r = cl_errf(err, CL_EIO, "fcntl: %s", strerror(errno));
		goto out;
	}

	exe = o->engine_path;
	if (exe == NULL)
		exe = getenv("CLOISTER_ENGINE");
	if (exe == NULL || *exe == '\0')
		exe = CL_LIBEXECDIR "/cloister-engine";
	/* sandbox_spawn() puts pass_fds[i] at 3 + i. */
	argv[k++] = "cloister-engine";
	argv[k++] = "--model-fd";
	argv[k++] = "3";
	argv[k++] = "--ipc-fd";
	argv[k++] = "4";
	argv[k++] = "--stderr-fd";
	argv[k++] = "5";
	argv[k++] = "--sandbox";
	argv[k++] = o->sandbox == SANDBOX_MODE_OFF ? "off" :
	    o->sandbox == SANDBOX_MODE_DEGRADED ? "degraded" : "full";
	if (o->sandbox == SANDBOX_MODE_DEGRADED && o->allow_missing != 0) {
		format_layers(o->allow_missing, s_miss, sizeof(s_miss));
		argv[k++] = "--allow-missing";
		argv[k++] = s_miss;
	}
	if (o->test_unavailable != 0) {
		format_layers(o->test_unavailable, s_unav, sizeof(s_unav));
		argv[k++] = "--test-unavailable";
		argv[k++] = s_unav;
	}
	if (o->n_threads > 0) {
		snprintf(s_threads, sizeof(s_threads), "%d", o->n_threads);
		argv[k++] = "--threads";
		argv[k++] = s_threads;
	}
	if (o->n_ctx > 0) {
		snprintf(s_ctx, sizeof(s_ctx), "%u", o->n_ctx);
		argv[k++] = "--ctx";
		argv[k++] = s_ctx;
	}
	if (o->ref_kernels) {
		argv[k++] = "--kernels";
		argv[k++] = "ref";
	}
	argv[k] = NULL;
	fds[0] = model_fd;
	fds[1] = sv[1];
	fds[2] = ep[1];
	c->t_spawn = cl_now();
	c->deadline = c->t_spawn + (o->load_timeout_ms > 0 ?
	    o->load_timeout_ms : DEFAULT_LOAD_TIMEOUT_MS) / 1000.0;
	if ((r = sandbox_spawn(exe, argv, fds, 3, &c->pid, err)) != CL_OK) {
		c->pid = -1;
		goto out;
	}
	c->sock = sv[0];
	sv[0] = -1;
	c->errfd = ep[0];
	ep[0] = -1;
	*out = c;
	c = NULL;
	r = CL_OK;
out:
	if (model_fd != -1)
		close(model_fd);
	if (sv[0] != -1)
		close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
	if (ep[0] != -1)
		close(ep[0]);
	if (ep[1] != -1)
		close(ep[1]);
	engine_client_free(c);
	return r;
}

int
engine_client_poll_ready(struct engine_client *c, int timeout_ms,
    bool *ready, struct cl_err *err)
{
	struct proto_msg m;
	double until;
	int r, wait;

	memset(&m, 0, sizeof(m));
	*ready = c->ready;
	if (c->ready)
		return CL_OK;
	if (c->dead)
		return cl_errf(err, CL_EENGINE, "engine is not running");
	until = timeout_ms < 0 ? c->deadline : cl_now() + timeout_ms / 1000.0;
	if (until > c->deadline)
		until = c->deadline;
	for (;;) {
		if (cl_now() >= c->deadline) {
			stop_engine(c);
			return cl_errf(err, CL_ELIMIT, "engine did not load "
			    "the model within %.0f seconds",
			    c->deadline - c->t_spawn);
		}
		wait = ms_left(until);
		if ((r = recv_frame(c, wait, &m, err)) < 0)
			return r;
		if (r == 0) {
			if (cl_now() >= until && until < c->deadline)
				return CL_OK;	/* not yet */
			continue;
		}
		switch (m.type) {
		case PROTO_PROGRESS:
			if (c->progress != NULL)
				c->progress(c->progress_arg, m.u.progress.done,
				    m.u.progress.total);
			proto_msg_release(&m);
			break;
		case PROTO_HELLO:
			c->hello = m;
			memset(&m, 0, sizeof(m));
			if ((r = on_hello(c, err)) != CL_OK)
				return r;
			*ready = true;
			return CL_OK;
		case PROTO_ERROR:
			r = engine_error(c, &m.u.error, true, err);
			proto_msg_release(&m);
			return r;
		default:
			r = m.type;
			proto_msg_release(&m);
			return engine_failed(c, err, "engine sent %s before "
			    "HELLO", proto_type_name((unsigned)r));
		}
	}
}

int
engine_client_start(const struct engine_client_opts *o,
    struct engine_client **out, struct cl_err *err)
{
	struct engine_client *c = NULL;
	bool ready = false;
	int r;

	*out = NULL;
	if ((r = engine_client_spawn(o, &c, err)) != CL_OK)
		return r;
	while (!ready) {
		if ((r = engine_client_poll_ready(c, -1, &ready, err)) !=
		    CL_OK) {
			engine_client_free(c);
			return r;
		}
	}
	*out = c;
	return CL_OK;
}

const struct engine_client_info *
engine_client_get_info(const struct engine_client *c)
{
	return c->ready ? &c->info : NULL;
}

pid_t
engine_client_pid(const struct engine_client *c)
{
	return c->pid;
}

/* ------------------------------------------------------------------ */
/* 5. requests                                                         */

static int
check_ready(struct engine_client *c, struct cl_err *err)
{
	if (c->dead)
		return cl_errf(err, CL_EENGINE, "engine is not running");
	if (!c->ready)
		return cl_errf(err, CL_EINVAL, "engine is not ready");
	return CL_OK;
}

int
engine_client_generate(struct engine_client *c,
    const struct engine_client_gen *req, const struct engine_client_gen_cb *cb,
    struct engine_client_done *done, struct cl_err *err)
{
	struct proto_msg q, m;
	struct proto_chat_msg *pm = NULL;
	struct proto_str *ps = NULL;
	uint64_t n_frames = 0, max_frames;
	size_t i;
	bool cancel_sent = false;
	int r;

	memset(&q, 0, sizeof(q));
	memset(&m, 0, sizeof(m));
	memset(done, 0, sizeof(*done));
	if ((r = check_ready(c, err)) != CL_OK)
		return r;
	if (req->n_msgs == 0 || req->n_msgs > PROTO_MAX_MESSAGES ||
	    req->n_stops > PROTO_MAX_STOPS || req->top_k < 0 ||
	    req->repeat_last_n < 0)
		return cl_errf(err, CL_EINVAL, "bad generation request");
	if ((pm = cl_calloc(req->n_msgs, sizeof(*pm))) == NULL ||
	    (req->n_stops > 0 &&
	    (ps = cl_calloc(req->n_stops, sizeof(*ps))) == NULL)) {
		r = cl_errf(err, CL_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < req->n_msgs; i++) {
		pm[i].role = req->msgs[i].role;
		pm[i].text.ptr = (char *)req->msgs[i].text;
		pm[i].text.len = req->msgs[i].text_len;
	}
	for (i = 0; i < req->n_stops; i++) {
		ps[i].ptr = (char *)req->stops[i];
		ps[i].len = strlen(req->stops[i]);
	}
	q.type = PROTO_GENERATE;
	q.u.generate.kind = PROTO_PROMPT_CHAT;
	q.u.generate.messages = pm;
	q.u.generate.n_messages = req->n_msgs;
	q.u.generate.temperature = req->temperature;
	q.u.generate.top_k = (uint32_t)req->top_k;
	q.u.generate.top_p = req->top_p;
	q.u.generate.min_p = req->min_p;
	q.u.generate.repeat_penalty = req->repeat_penalty;
	q.u.generate.repeat_last_n = (uint32_t)req->repeat_last_n;
	q.u.generate.seed = req->seed;
	q.u.generate.max_tokens = req->max_tokens;
	q.u.generate.stops = ps;
	q.u.generate.n_stops = req->n_stops;
	if ((r = send_msg(c, &q, err)) != CL_OK)
		goto out;
	/*
	 * A piece longer than PROTO_MAX_TOKEN_BYTES comes in several
	 * frames; an engine sending far more than max_tokens is broken.
	 */
	max_frames = (uint64_t)req->max_tokens * 16 + 16;

	for (;;) {
		if (!cancel_sent && cb != NULL && cb->cancel != NULL &&
		    cb->cancel(cb->arg)) {
			memset(&q, 0, sizeof(q));
			q.type = PROTO_CANCEL;
			if ((r = send_msg(c, &q, err)) != CL_OK)
				goto out;
			cancel_sent = true;
		}
		if ((r = recv_frame(c, CANCEL_POLL_MS, &m, err)) < 0)
			goto out;
		if (r == 0)
			continue;
		switch (m.type) {
		case PROTO_TOKEN:
			if (++n_frames > max_frames) {
				proto_msg_release(&m);
				r = engine_failed(c, err, "engine sent more "
				    "tokens than asked for");
				goto out;
			}
			if (!cancel_sent && cb != NULL && cb->token != NULL &&
			    cb->token(cb->arg, m.u.token.id,
			    m.u.token.bytes.ptr, m.u.token.bytes.len)) {
				struct proto_msg cq;

				memset(&cq, 0, sizeof(cq));
				cq.type = PROTO_CANCEL;
				if ((r = send_msg(c, &cq, err)) != CL_OK) {
					proto_msg_release(&m);
					goto out;
				}
				cancel_sent = true;
			}
			break;
		case PROTO_DONE:
			done->reason = m.u.done.reason;
			done->canceled_by_us = cancel_sent;
			done->n_prompt = m.u.done.n_prompt;
			done->n_gen = m.u.done.n_gen;
			done->prompt_s = (double)m.u.done.prompt_us / 1e6;
			done->gen_s = (double)m.u.done.gen_us / 1e6;
			proto_msg_release(&m);
			r = CL_OK;
			goto out;
		case PROTO_ERROR:
			r = engine_error(c, &m.u.error, false, err);
			proto_msg_release(&m);
			goto out;
		default:
			r = m.type;
			proto_msg_release(&m);
			r = engine_failed(c, err, "engine sent %s during a "
			    "generation", proto_type_name((unsigned)r));
			goto out;
		}
		proto_msg_release(&m);
	}
out:
	cl_free(pm);
	cl_free(ps);
	return r;
}

/* Send `q`, wait for a frame of type `want` (or ERROR). */
static int
request(struct engine_client *c, const struct proto_msg *q,
    enum proto_type want, struct proto_msg *out, struct cl_err *err)
{
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = check_ready(c, err)) != CL_OK ||
	    (r = send_msg(c, q, err)) != CL_OK)
		return r;
	for (;;) {
		if ((r = recv_frame(c, -1, out, err)) < 0)
			return r;
		if (r == 0)
			continue;
		if (out->type == want)
			return CL_OK;
		if (out->type == PROTO_ERROR) {
			r = engine_error(c, &out->u.error, false, err);
			proto_msg_release(out);
			return r;
		}
		r = out->type;
		proto_msg_release(out);
		return engine_failed(c, err, "engine sent %s, expected %s",
		    proto_type_name((unsigned)r), proto_type_name(want));
	}
}

int
engine_client_tokenize(struct engine_client *c, const char *text,
    size_t len, uint32_t *n_tokens, struct cl_err *err)
{
	struct proto_msg q, a;
	int r;

	memset(&q, 0, sizeof(q));
	q.type = PROTO_TOKENIZE;
	q.u.tokenize.text.ptr = (char *)text;
	q.u.tokenize.text.len = len;
	if ((r = request(c, &q, PROTO_TOKEN_COUNT, &a, err)) != CL_OK)
		return r;
	*n_tokens = a.u.token_count.n_tokens;
	proto_msg_release(&a);
	return CL_OK;
}

int
engine_client_bench(struct engine_client *c, uint32_t n_prompt,
    uint32_t n_gen, uint32_t n_reps, struct proto_msg *out,
    struct cl_err *err)
{
	struct proto_msg q;
	int r;

	memset(&q, 0, sizeof(q));
	q.type = PROTO_BENCH;
	q.u.bench.n_prompt = n_prompt;
	q.u.bench.n_gen = n_gen;
	q.u.bench.n_reps = n_reps;
	if ((r = request(c, &q, PROTO_BENCH_RESULT, out, err)) != CL_OK)
		return r;
	if (out->u.bench_result.n_reps != n_reps ||
	    out->u.bench_result.n_prompt != n_prompt ||
	    out->u.bench_result.n_gen != n_gen) {
		proto_msg_release(out);
		return engine_failed(c, err, "engine answered another "
		    "benchmark than asked for");
	}
	return CL_OK;
}

/* ------------------------------------------------------------------ */
/* 6. stop                                                             */

void
engine_client_free(struct engine_client *c)
{
	struct sandbox_exit ex;
	struct cl_buf b = CL_BUF_INIT;

	if (c == NULL)
		return;
	if (c->pid > 0) {
		/* A failed send only means the engine is already gone. */
		if (!c->dead && c->sock >= 0 &&
		    proto_encode_shutdown(&b, NULL) == CL_OK &&
		    proto_send(c->sock, &b, NULL) != CL_OK)
			c->dead = true;
		reap(c, c->dead ? 0 : 2000, &ex, NULL);
	}
	cl_buf_release(&b);
	if (c->sock >= 0)
		close(c->sock);
	if (c->errfd >= 0) {
		drain_stderr(c, true);
		if (c->errfd >= 0)
			close(c->errfd);
	}
	proto_msg_release(&c->hello);
	cl_buf_release(&c->wbuf);
	cl_buf_release(&c->errline);
	cl_free(c->rbuf);
	cl_free(c);
}
