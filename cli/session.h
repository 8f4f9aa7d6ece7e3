/*
 * session.h - what ask, chat, doctor and bench share (cli/ only): the
 * engine options on the command line, choosing the model, starting the
 * jailed engine with progress, one conversation turn with streamed output,
 * and the hook points where the policy and the audit log plug in.
 *
 * Output safety: model output is untrusted.  It reaches stdout only
 * through struct cli_out, which holds back an incomplete UTF-8 tail,
 * replaces invalid UTF-8 with U+FFFD and, when stdout is a terminal, also
 * replaces control characters (escape sequences) other than newline and
 * tab.
 */
#ifndef CLOISTER_CLI_SESSION_H
#define CLOISTER_CLI_SESSION_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "engine/engine_client.h"
#include "util/util.h"

/* getopt_long codes of the shared options (above any short option). */
enum {
	CLI_OPT_MODEL = 256,
	CLI_OPT_SANDBOX,
	CLI_OPT_TEMP,
	CLI_OPT_TOP_K,
	CLI_OPT_TOP_P,
	CLI_OPT_MIN_P,
	CLI_OPT_REPEAT_PENALTY,
	CLI_OPT_REPEAT_LAST_N,
	CLI_OPT_SEED,
	CLI_OPT_CTX,
	CLI_OPT_KERNELS,
	CLI_OPT_FIRST_FREE		/* commands number their own from here */
};

/* Long options every engine command takes (ends without a terminator). */
#define CLI_ENGINE_LONGOPTS \
	{ "model", required_argument, NULL, CLI_OPT_MODEL }, \
	{ "sandbox", required_argument, NULL, CLI_OPT_SANDBOX }, \
	{ "threads", required_argument, NULL, 't' }, \
	{ "ctx-size", required_argument, NULL, 'c' }, \
	{ "kernels", required_argument, NULL, CLI_OPT_KERNELS }
/* Sampling options (ask and chat), names as llama.cpp's. */
#define CLI_SAMPLING_LONGOPTS \
	{ "temp", required_argument, NULL, CLI_OPT_TEMP }, \
	{ "top-k", required_argument, NULL, CLI_OPT_TOP_K }, \
	{ "top-p", required_argument, NULL, CLI_OPT_TOP_P }, \
	{ "min-p", required_argument, NULL, CLI_OPT_MIN_P }, \
	{ "repeat-penalty", required_argument, NULL, CLI_OPT_REPEAT_PENALTY }, \
	{ "repeat-last-n", required_argument, NULL, CLI_OPT_REPEAT_LAST_N }, \
	{ "seed", required_argument, NULL, CLI_OPT_SEED }, \
	{ "n-predict", required_argument, NULL, 'n' }

/* What the shared options set. */
struct cli_engine_args {
	const char		*cmd;		/* "ask", for messages */
	const char		*model;		/* --model, or NULL */
	enum sandbox_mode	 sandbox;	/* default FULL */
	unsigned		 allow_missing;	/* degraded=LAYERS */
	int			 n_threads;	/* -t, 0 = engine default */
	uint32_t		 n_ctx;		/* -c, 0 = model default */
	bool			 ref_kernels;
	int			 model_fd;	/* >= 0: the model, opened */
	struct engine_client_gen gen;		/* sampling, max tokens */
	bool			 seed_set;	/* --seed given */
	/* Loading progress; NULL: a percentage on stderr if a terminal. */
	void			(*progress)(void *arg, uint64_t done,
				    uint64_t total);
	void			*progress_arg;
};

/* Defaults: FULL jail, the model cards' sampling (engine.h). */
void	cli_engine_args_init(struct cli_engine_args *a, const char *cmd);

/*
 * Handle option `ch` with argument `arg` if it is a shared one.  Returns
 * 1 when handled, 0 when not a shared option, -1 after printing a usage
 * error ("cloister CMD: ...").
 */
int	cli_engine_option(struct cli_engine_args *a, int ch, const char *arg);

/*
 * The model to use: --model, else $CLOISTER_MODEL, else "model = PATH"
 * in $XDG_CONFIG_HOME/cloister/config (~/.config when unset).  With none
 * configured prints where to get an LFM2 GGUF and how to make a synthetic
 * one, and returns NULL.  Caller frees with cl_free().
 */
char	*cli_model_path(const struct cli_engine_args *a);

/* Map a CL_E* code to an exit status of cloister(1). */
int	cli_exit_status(int code);

/*
 * Start the jailed engine for `model` as `a` says; progress goes to
 * stderr when it is a terminal (unless `quiet`), engine stderr lines to
 * stderr prefixed "cloister CMD: engine: ".  Spawn only: the caller
 * polls engine_client_poll_ready() or calls cli_engine_wait().
 * On failure prints the error and returns its exit status; 0 on success.
 */
int	cli_engine_spawn(const struct cli_engine_args *a, const char *model,
	    bool quiet, struct engine_client **out);
/* Wait until ready (progress shown); prints errors; returns exit status. */
int	cli_engine_wait(const struct cli_engine_args *a,
	    struct engine_client *c, bool quiet);

/* Streamed model output to a FILE (see the file comment). */
struct cli_out {
	FILE		*f;
	bool		 tty;		/* sanitize control characters */
	struct cl_buf	 hold;		/* incomplete UTF-8 tail */
	struct cl_buf	 text;		/* everything written this turn */
};
void	cli_out_init(struct cli_out *o, FILE *f);
/* Write bytes (a piece may end inside a code point); CL_OK or CL_EIO. */
int	cli_out_write(struct cli_out *o, const char *p, size_t n);
/* Write the held tail (as U+FFFD if incomplete) and flush. */
int	cli_out_finish(struct cli_out *o);
void	cli_out_release(struct cli_out *o);

/*
 * Hook points for the policy and the audit log, filled by
 * cli_broker_hooks() (cli/broker.h).  Every member may be NULL.
 */
struct cli_hooks {
	void	*arg;
	/*
	 * Before GENERATE: check the question msgs[n_msgs - 1] and adjust
	 * the request `g` (max_tokens).  When the question must be sent
	 * changed, put the new text in `text` and set *changed.  CL_EPOLICY
	 * refuses the turn (the notice is already shown and err->msg may be
	 * empty); any other code fails it.
	 */
	int	(*prompt_check)(void *arg, const struct engine_client_msg *msgs,
		    size_t n_msgs, struct engine_client_gen *g,
		    struct cl_buf *text, bool *changed, struct cl_err *err);
	/*
	 * Streaming output filter between TOKEN and stdout: append what may
	 * be shown of p[0..n) to `out` (`final`: end of answer, flush); set
	 * *stop to cancel the generation (a limit was hit, a term matched).
	 */
	int	(*output_filter)(void *arg, const char *p, size_t n, bool final,
		    struct cl_buf *out, bool *stop, struct cl_err *err);
	/*
	 * After a generation that ended (done is filled), with the answer
	 * as shown: charge usage, show the policy's notice, log.  Returns
	 * CL_EPOLICY when the policy stopped or withheld the answer (that
	 * becomes the turn's result), another code when it failed.
	 */
	int	(*answer)(void *arg, const char *text, size_t len,
		    const struct engine_client_done *done, struct cl_err *err);
	/* The engine is ready (attestation in `in`); failing ends it all. */
	int	(*session_start)(void *arg, const struct engine_client_info *in,
		    struct cl_err *err);
	/* The session ends with exit status `status`. */
	void	(*session_end)(void *arg, int status);
};

/*
 * The jail part of an attestation as one JSON object member "jail" (what
 * `cloister doctor --json` shows and the audit log records); `refused`
 * may be NULL.
 */
void	cli_jail_json(struct cl_json_writer *w,
	    const struct engine_client_info *in, const char *refused);

/*
 * The value of "KEY = VALUE" in $XDG_CONFIG_HOME/cloister/config
 * (~/.config when unset; the last line wins), or NULL.  Caller frees.
 */
char	*cli_config_value(const char *key);

/* Set by the SIGINT handler installed with cli_catch_sigint(). */
extern volatile sig_atomic_t cli_interrupted;
/* Ctrl-C sets cli_interrupted instead of ending the program. */
void	cli_catch_sigint(void);

/*
 * One turn: run the hooks, generate an answer to msgs[0..n) and stream it
 * through the output filter to `out`.  Ctrl-C (cli_interrupted) cancels.
 * The answer as shown is left in out->text, and the question as sent
 * (after the policy) in `sent` when not NULL.  Prints errors; returns the
 * CL_E* code (CL_OK also when canceled; CL_EPOLICY when the policy
 * refused the question or stopped the answer).
 */
int	cli_turn(const struct cli_engine_args *a, const struct cli_hooks *h,
	    struct engine_client *c, const struct engine_client_msg *msgs,
	    size_t n_msgs, struct cli_out *out, struct engine_client_done *done,
	    struct cl_buf *sent);

/* Say which layers are missing when the jail is not whole. */
void	cli_warn_degraded(const char *cmd, const struct engine_client_info *in);

/* Print the loud --sandbox=off warning. */
void	cli_warn_sandbox_off(const char *cmd);

#endif /* CLOISTER_CLI_SESSION_H */
