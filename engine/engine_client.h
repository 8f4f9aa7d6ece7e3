/*
 * engine_client.h - the broker's side of the jailed engine.
 *
 * Owns: opening the model file (the engine never sees a path), starting
 * cloister-engine through sandbox_spawn() with the model and one end of a
 * SOCK_SEQPACKET socketpair, following its loading (PROGRESS) until HELLO,
 * verifying its jail from outside (sandbox_attest) against the mode asked
 * for, and then the requests: GENERATE with streamed TOKENs and CANCEL,
 * TOKENIZE, BENCH, SHUTDOWN.  The engine's stderr reaches the broker
 * through a pipe and is handed to a callback one sanitized line at a time.
 *
 * Trust: the engine is untrusted.  Every frame is decoded by proto_decode()
 * and checked for direction and for the state of the conversation; a bad
 * frame, an unexpected exit, EOF or a death by SIGSYS is an engine failure
 * (CL_EENGINE with a message saying what happened), never a broker crash.
 * After a failure the engine is killed and reaped and every later call
 * returns CL_EENGINE.  A session is refused (CL_ESANDBOX) unless the
 * attestation matches the mode: fail closed.
 *
 * Layering: links proto, sandbox and util only (libengine_client.a), never
 * the model code.  Not thread-safe: one thread drives one client.  The
 * client does not install signal handlers; a caller that wants Ctrl-C to
 * cancel makes its `cancel` callback read a flag its handler sets.
 */
#ifndef CLOISTER_ENGINE_CLIENT_H
#define CLOISTER_ENGINE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/proto.h"
#include "sandbox/sandbox.h"
#include "util/util.h"

struct engine_client;

/* How to start the engine.  Zero-initialise, then set what you need. */
struct engine_client_opts {
	const char		*model_path;	/* GGUF file; required */
	/*
	 * With have_model_fd, the model is this open descriptor rather than
	 * a second open of model_path, which then only names it in messages
	 * (the broker hashes what it opened, and the engine must get that
	 * very file).  Borrowed: the client uses a duplicate.
	 */
	bool			 have_model_fd;
	int			 model_fd;
	/*
	 * The engine program; NULL means $CLOISTER_ENGINE when set (tests,
	 * uninstalled builds), else CL_LIBEXECDIR "/cloister-engine".
	 */
	const char		*engine_path;
	enum sandbox_mode	 sandbox;	/* FULL unless chosen otherwise */
	unsigned		 allow_missing;	/* DEGRADED: SANDBOX_LAYER_BIT mask */
	/*
	 * Tests only: layers the engine pretends the kernel lacks (its
	 * --test-unavailable).  0 in production.
	 */
	unsigned		 test_unavailable;
	int			 n_threads;	/* 0: the engine's default */
	uint32_t		 n_ctx;		/* 0: the model's default */
	bool			 ref_kernels;	/* scalar reference kernels */
	int			 load_timeout_ms; /* spawn to HELLO; 0 = 600 s */
	/* Loading progress, bytes of the model; may be NULL. */
	void			(*progress)(void *arg, uint64_t done,
				    uint64_t total);
	void			*progress_arg;
	/*
	 * One line of the engine's stderr, control characters replaced, no
	 * newline; may be NULL (lines are then dropped).  The line is
	 * borrowed for the call.
	 */
	void			(*stderr_line)(void *arg, const char *line);
	void			*stderr_arg;
};

/* What is known about a running engine.  Borrowed from the client. */
struct engine_client_info {
	pid_t				pid;
	const struct proto_hello	*hello;	/* the engine's HELLO */
	struct sandbox_report		report;	/* its own view, from HELLO */
	struct sandbox_attestation	att;	/* read from /proc */
	enum sandbox_verdict		verdict;
	enum sandbox_mode		mode;	/* the mode asked for */
	double				load_s;	/* spawn to HELLO, seconds */
};

/*
 * Open the model, start the engine and return at once; the engine loads
 * the model while the caller does other things (the chat prompt).  Then
 * call engine_client_poll_ready() until it reports ready.  On success
 * *out holds the client; caller frees with engine_client_free().
 * Returns CL_ENOTFOUND / CL_EIO when the model cannot be opened (or is
 * not a regular file), CL_EENGINE when the engine cannot be started,
 * CL_EIO, CL_ENOMEM.  `opts` is borrowed for the call only.
 */
int	engine_client_spawn(const struct engine_client_opts *opts,
	    struct engine_client **out, struct cl_err *err) CL_WUR;

/*
 * Follow the engine's start for at most `timeout_ms` (-1: until it is
 * ready or the load timeout passes): PROGRESS frames go to the progress
 * callback, and HELLO is checked, the jail attested and judged.  Sets
 * *ready once the engine can take requests (then returns CL_OK at once
 * on later calls).  Returns CL_OK (ready or not yet), CL_ESANDBOX when
 * the engine could not jail itself or the attestation does not match the
 * mode (the engine is then stopped), CL_EFORMAT / CL_EUNSUPPORTED /
 * CL_ENOMEM / ... when the engine reported that it cannot load the model
 * (its own code and message), CL_ELIMIT when loading took longer than
 * the load timeout, CL_EENGINE for any other engine failure.
 */
int	engine_client_poll_ready(struct engine_client *c, int timeout_ms,
	    bool *ready, struct cl_err *err) CL_WUR;

/* engine_client_spawn() then engine_client_poll_ready() until ready. */
int	engine_client_start(const struct engine_client_opts *opts,
	    struct engine_client **out, struct cl_err *err) CL_WUR;

/*
 * Facts about the engine; NULL until it is ready.  Borrowed; valid until
 * engine_client_free().
 */
const struct engine_client_info *engine_client_get_info(
	    const struct engine_client *c);

/* The engine's pid (for tests and doctor); -1 once it has been reaped. */
pid_t	engine_client_pid(const struct engine_client *c);

/* One chat message for GENERATE; text is borrowed for the call. */
struct engine_client_msg {
	enum proto_role	 role;
	const char	*text;		/* UTF-8, no NUL inside */
	size_t		 text_len;
};

/* A generation request; everything is borrowed for the call. */
struct engine_client_gen {
	const struct engine_client_msg *msgs;
	size_t			 n_msgs;	/* 1..PROTO_MAX_MESSAGES */
	float			 temperature;	/* as struct engine_sampling */
	int32_t			 top_k;
	float			 top_p;
	float			 min_p;
	float			 repeat_penalty;
	int32_t			 repeat_last_n;
	uint64_t		 seed;
	uint32_t		 max_tokens;	/* 1..PROTO_MAX_GEN_TOKENS */
	const char *const	*stops;		/* n_stops NUL-terminated */
	size_t			 n_stops;
};

/* Callbacks of a generation; any may be NULL. */
struct engine_client_gen_cb {
	/*
	 * Bytes of one generated token, exactly as the engine sent them (a
	 * piece may end inside a code point and is not yet validated as
	 * UTF-8; see cl_utf8_complete_prefix()).  Return true to stop the
	 * generation: the client sends CANCEL once and keeps reading until
	 * DONE, dropping any tokens still in flight.
	 */
	bool	(*token)(void *arg, int32_t id, const char *p, size_t len);
	/* Polled about ten times a second: true sends CANCEL (Ctrl-C). */
	bool	(*cancel)(void *arg);
	void	*arg;
};

/* How a generation ended. */
struct engine_client_done {
	enum proto_done_reason	reason;
	bool			canceled_by_us;	/* CANCEL was sent */
	uint32_t		n_prompt;	/* prompt tokens */
	uint32_t		n_gen;		/* generated tokens */
	double			prompt_s;	/* prompt evaluation */
	double			gen_s;		/* generation */
};

/*
 * Generate an answer to `req`, streaming tokens through `cb`.  Fills
 * *done on success.  Returns CL_OK (also when canceled: done->reason says
 * so), CL_EINVAL for a request the protocol cannot carry (nothing is
 * sent), the engine's own code (CL_ELIMIT: prompt too long for the
 * context, CL_EINVAL ...) when it answered ERROR, CL_EENGINE when the
 * engine failed.  Only when the client is ready.
 */
int	engine_client_generate(struct engine_client *c,
	    const struct engine_client_gen *req,
	    const struct engine_client_gen_cb *cb,
	    struct engine_client_done *done, struct cl_err *err) CL_WUR;

/* Count the tokens of text[0..len) (no BOS).  Errors as generate. */
int	engine_client_tokenize(struct engine_client *c, const char *text,
	    size_t len, uint32_t *n_tokens, struct cl_err *err) CL_WUR;

/*
 * Run a benchmark in the engine (see PROTO_BENCH).  On success *out
 * holds a PROTO_BENCH_RESULT message; caller releases it with
 * proto_msg_release().  Errors as generate.
 */
int	engine_client_bench(struct engine_client *c, uint32_t n_prompt,
	    uint32_t n_gen, uint32_t n_reps, struct proto_msg *out,
	    struct cl_err *err) CL_WUR;

/*
 * Stop the engine: SHUTDOWN, up to two seconds for it to exit, then
 * SIGKILL; reap it; close everything; free.  NULL-safe.
 */
void	engine_client_free(struct engine_client *c);

/*
 * Parse a comma-separated list of layer names (sandbox_layer_name();
 * "namespaces" stands for the three namespace layers) into a
 * SANDBOX_LAYER_BIT mask.  Returns CL_OK or CL_EINVAL naming the bad
 * entry.
 */
int	engine_client_parse_layers(const char *s, unsigned *mask,
	    struct cl_err *err) CL_WUR;

#endif /* CLOISTER_ENGINE_CLIENT_H */
