/*
 * proto.h - the broker <-> engine wire protocol.
 *
 * Owns: the frame types, their binary layout, their validation, and the
 * socket calls that move one frame.  Used by both sides: the broker
 * (engine client) encodes requests and decodes the engine's answers; the
 * jailed engine does the reverse.  Depends only on util/.
 *
 * Transport.  One AF_UNIX SOCK_SEQPACKET socketpair.  One frame is one
 * datagram, so there is no stream reassembly: the kernel keeps record
 * boundaries and a frame arrives whole or not at all.  A frame is at most
 * PROTO_MAX_FRAME bytes; call proto_socket_tune() on each end so the
 * kernel accepts datagrams that large.
 *
 * Layout.  Every frame is `u8 type` followed by the fields of that type,
 * in the order listed at each struct below, with no padding:
 *   u8, u32, u64       unsigned, little-endian
 *   i32                two's complement, little-endian
 *   f32                IEEE 754 binary32 bit pattern, little-endian
 *   str                u32 byte length, then the bytes (no NUL)
 *   T[]                u32 count, then the elements
 * Nothing may follow the last field.
 *
 * Trust.  The engine is untrusted: every frame it sends is hostile input.
 * proto_decode() checks exact lengths, counts, enum ranges, UTF-8 of
 * every text field, and finite, sane floats, and fails with CL_EFORMAT
 * and a message naming the frame type and the field.  Messages never
 * quote field contents (privacy rule).  Encoders apply the same checks
 * (CL_EINVAL) so neither side can send what the other must refuse.
 * The direction of a frame is checked by the caller with
 * proto_type_direction(): the broker refuses a frame meant for the engine
 * and vice versa.
 */
#ifndef CLOISTER_PROTO_H
#define CLOISTER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/*
 * Protocol version, sent in HELLO.  Bump it on any change of layout or
 * meaning; a broker refuses an engine that speaks another version.
 */
#define PROTO_VERSION		1

/*
 * Largest frame, type byte included: 256 KiB.  A stock Linux kernel caps
 * a unix datagram at the socket's send buffer, which an unprivileged
 * process can raise to 2 * net.core.wmem_max (416 KiB by default); 256 KiB
 * fits with room to spare and holds a 32k-token prompt as text.
 */
#define PROTO_MAX_FRAME		(256u * 1024)

/* Limits checked by the encoders and decoders. */
#define PROTO_MAX_MESSAGES	256	/* chat messages in GENERATE */
#define PROTO_MAX_PROMPT_TOKENS	65536	/* raw prompt tokens in GENERATE */
#define PROTO_MAX_STOPS		16	/* stop strings in GENERATE */
#define PROTO_MAX_STOP_LEN	256	/* bytes per stop string */
#define PROTO_MAX_GEN_TOKENS	(1u << 20) /* GENERATE max_tokens */
#define PROTO_MAX_TOP_K		(1u << 20) /* GENERATE top_k */
#define PROTO_MAX_REPEAT_LAST_N	(1u << 20) /* GENERATE repeat_last_n */
#define PROTO_MAX_TEMPERATURE	10.0f	/* GENERATE temperature */
#define PROTO_MAX_REPEAT_PENALTY 10.0f	/* GENERATE repeat_penalty */
#define PROTO_MAX_TOKEN_BYTES	64	/* bytes of one TOKEN piece */
#define PROTO_MAX_ARCH_LEN	64	/* HELLO architecture string */
#define PROTO_MAX_TENSOR_TYPES	64	/* HELLO tensor type summary rows */
#define PROTO_MAX_LAYERS	32	/* HELLO sandbox layer rows */
#define PROTO_MAX_NAME_LEN	64	/* HELLO sandbox layer name */
#define PROTO_MAX_STATUS_LEN	256	/* HELLO sandbox layer status */
#define PROTO_MAX_ERROR_LEN	255	/* ERROR message (fits cl_err.msg) */
#define PROTO_MAX_BENCH_TOKENS	65536	/* BENCH n_prompt, n_gen */
#define PROTO_MAX_BENCH_REPS	100	/* BENCH repetitions */

/* Frame types: the first byte of every frame. */
enum proto_type {
	PROTO_NONE = 0,		/* never on the wire; an empty proto_msg */
	PROTO_HELLO = 1,	/* e->b: version, model facts, sandbox view */
	PROTO_PROGRESS = 2,	/* e->b: model loading progress */
	PROTO_GENERATE = 3,	/* b->e: prompt and sampling parameters */
	PROTO_TOKEN = 4,	/* e->b: one generated token */
	PROTO_CANCEL = 5,	/* b->e: stop generating now (no fields) */
	PROTO_DONE = 6,		/* e->b: generation finished */
	PROTO_ERROR = 7,	/* e->b: a request failed */
	PROTO_TOKENIZE = 8,	/* b->e: count the tokens of a text */
	PROTO_TOKEN_COUNT = 9,	/* e->b: answer to TOKENIZE */
	PROTO_BENCH = 10,	/* b->e: run a timed prefill/decode benchmark */
	PROTO_BENCH_RESULT = 11,/* e->b: answer to BENCH */
	PROTO_SHUTDOWN = 12,	/* b->e: exit cleanly (no fields) */
};
#define PROTO_TYPE_MAX		PROTO_SHUTDOWN

/* Who may send a frame type. */
enum proto_dir {
	PROTO_DIR_INVALID = 0,	/* unknown type: nobody */
	PROTO_DIR_TO_ENGINE,	/* sent by the broker, read by the engine */
	PROTO_DIR_TO_BROKER,	/* sent by the engine, read by the broker */
};

/*
 * An owned byte string.  Decoded strings are cl_malloc'ed copies with a
 * NUL after `len` bytes (not counted), so text can be used as a C string;
 * text fields never contain a NUL byte.  For encoding, `ptr` is borrowed
 * and need not be NUL-terminated.
 */
struct proto_str {
	char	*ptr;		/* bytes; NULL allowed when len == 0 */
	size_t	 len;		/* length in bytes */
};

/* HELLO tensor summary row: `u32 type, u32 n_tensors, u64 n_bytes`. */
struct proto_tensor_type {
	uint32_t	 type;		/* ggml type id (engine/ggml_types.h) */
	uint32_t	 n_tensors;	/* tensors of this type, >= 1 */
	uint64_t	 n_bytes;	/* their total size in the file */
};

/* The engine's own view of its jail, summarised. */
enum proto_sandbox_mode {
	PROTO_SANDBOX_OFF = 0,		/* --sandbox=off (benchmarks only) */
	PROTO_SANDBOX_FULL = 1,		/* every layer applied */
	PROTO_SANDBOX_PARTIAL = 2,	/* a layer the kernel lacks is missing */
};
#define PROTO_SANDBOX_MODE_MAX	PROTO_SANDBOX_PARTIAL

/* HELLO sandbox row: `str name, str status` (both UTF-8). */
struct proto_layer {
	struct proto_str	 name;	/* "seccomp", 1..PROTO_MAX_NAME_LEN */
	struct proto_str	 status;/* "enforced", 0..PROTO_MAX_STATUS_LEN */
};

/*
 * HELLO (e->b), the engine's first frame once the model is loaded:
 *   u32 version, str arch, u64 n_params, u64 n_params_active,
 *   u32 n_ctx, u32 n_vocab, u32 n_layer, proto_tensor_type[] types,
 *   u64 load_us, u8 sandbox_mode, proto_layer[] layers
 * A version other than PROTO_VERSION fails to decode (CL_EUNSUPPORTED)
 * before anything after it is read, since its layout may differ.
 */
struct proto_hello {
	uint32_t		 version;	/* PROTO_VERSION */
	struct proto_str	 arch;		/* "lfm2moe", UTF-8, 1..64 */
	uint64_t		 n_params;	/* parameters in total */
	uint64_t		 n_params_active;/* used per token, <= total */
	uint32_t		 n_ctx;		/* context length, >= 1 */
	uint32_t		 n_vocab;	/* vocabulary size, >= 1 */
	uint32_t		 n_layer;	/* blocks, >= 1 */
	struct proto_tensor_type *types;	/* n_types rows */
	size_t			 n_types;	/* <= PROTO_MAX_TENSOR_TYPES */
	uint64_t		 load_us;	/* model load time */
	enum proto_sandbox_mode	 sandbox_mode;
	struct proto_layer	*layers;	/* n_layers rows */
	size_t			 n_layers;	/* <= PROTO_MAX_LAYERS */
};

/* PROGRESS (e->b) while loading: `u64 done, u64 total` bytes, done <= total. */
struct proto_progress {
	uint64_t	 done;		/* bytes processed */
	uint64_t	 total;		/* bytes to process */
};

enum proto_role {
	PROTO_ROLE_SYSTEM = 0,
	PROTO_ROLE_USER = 1,
	PROTO_ROLE_ASSISTANT = 2,
};
#define PROTO_ROLE_MAX		PROTO_ROLE_ASSISTANT

/* GENERATE chat message: `u8 role, str text` (UTF-8, may be empty). */
struct proto_chat_msg {
	enum proto_role		 role;
	struct proto_str	 text;
};

enum proto_prompt_kind {
	PROTO_PROMPT_CHAT = 0,		/* messages[], engine applies template */
	PROTO_PROMPT_TOKENS = 1,	/* tokens[], used as they are */
};

/*
 * GENERATE (b->e):
 *   u8 kind, then for PROTO_PROMPT_CHAT proto_chat_msg[] messages
 *   (1..PROTO_MAX_MESSAGES) or for PROTO_PROMPT_TOKENS i32[] tokens
 *   (1..PROTO_MAX_PROMPT_TOKENS, each >= 0); then
 *   f32 temperature, u32 top_k, f32 top_p, f32 min_p, f32 repeat_penalty,
 *   u32 repeat_last_n, u64 seed, u32 max_tokens, str[] stops
 * Only the array of the given kind is on the wire; the other is empty.
 */
struct proto_generate {
	enum proto_prompt_kind	 kind;
	struct proto_chat_msg	*messages;	/* kind CHAT: n_messages */
	size_t			 n_messages;
	int32_t			*tokens;	/* kind TOKENS: n_tokens ids */
	size_t			 n_tokens;
	float			 temperature;	/* 0 (greedy) .. 10 */
	uint32_t		 top_k;		/* 0 = off, <= 2^20 */
	float			 top_p;		/* 0 .. 1; 1 = off */
	float			 min_p;		/* 0 .. 1; 0 = off */
	float			 repeat_penalty;/* > 0 .. 10; 1 = off */
	uint32_t		 repeat_last_n;	/* 0 = off, <= 2^20 */
	uint64_t		 seed;		/* sampler seed */
	uint32_t		 max_tokens;	/* 1 .. 2^20 */
	struct proto_str	*stops;		/* n_stops stop strings */
	size_t			 n_stops;	/* <= PROTO_MAX_STOPS */
};

/*
 * TOKEN (e->b): `i32 id, str bytes`.  id >= 0.  The bytes are the
 * token's piece, at most PROTO_MAX_TOKEN_BYTES; they are NOT checked as
 * UTF-8 (a piece may be part of a code point, or a raw byte token), so
 * the broker reassembles and validates the stream itself.
 */
struct proto_token {
	int32_t			 id;
	struct proto_str	 bytes;
};

enum proto_done_reason {
	PROTO_DONE_EOS = 0,		/* the model ended its turn */
	PROTO_DONE_LENGTH = 1,		/* max_tokens or the context was hit */
	PROTO_DONE_STOP = 2,		/* a stop string matched */
	PROTO_DONE_CANCEL = 3,		/* CANCEL was received */
};
#define PROTO_DONE_REASON_MAX	PROTO_DONE_CANCEL

/*
 * DONE (e->b): `u8 reason, u32 n_prompt, u32 n_gen, u64 prompt_us,
 * u64 gen_us` - token counts and wall times of prompt evaluation and of
 * generation, in microseconds.
 */
struct proto_done {
	enum proto_done_reason	 reason;
	uint32_t		 n_prompt;
	uint32_t		 n_gen;
	uint64_t		 prompt_us;
	uint64_t		 gen_us;
};

/*
 * ERROR (e->b): `i32 code, str message`.  code is a CL_E* value
 * (CL_EAUTH ..  CL_EINTERNAL); message is UTF-8, no NUL, at most
 * PROTO_MAX_ERROR_LEN bytes, and follows the privacy rule.
 */
struct proto_error {
	int32_t			 code;
	struct proto_str	 message;
};

/* TOKENIZE (b->e): `str text` (UTF-8, no NUL). */
struct proto_tokenize {
	struct proto_str	 text;
};

/* TOKEN_COUNT (e->b): `u32 n_tokens`, the answer to TOKENIZE. */
struct proto_token_count {
	uint32_t	 n_tokens;
};

/*
 * BENCH (b->e): `u32 n_prompt, u32 n_gen, u32 n_reps`.  Evaluate n_prompt
 * prompt tokens in one batch, then decode n_gen tokens one by one, n_reps
 * times (1..PROTO_MAX_BENCH_REPS); n_prompt + n_gen >= 1, each at most
 * PROTO_MAX_BENCH_TOKENS.
 */
struct proto_bench {
	uint32_t	 n_prompt;
	uint32_t	 n_gen;
	uint32_t	 n_reps;
};

/* BENCH_RESULT row: `u64 prompt_us, u64 gen_us` of one repetition. */
struct proto_bench_rep {
	uint64_t	 prompt_us;
	uint64_t	 gen_us;
};

/*
 * BENCH_RESULT (e->b): `u32 n_prompt, u32 n_gen, u64 peak_rss,
 * proto_bench_rep[] reps` (1..PROTO_MAX_BENCH_REPS).  peak_rss is the
 * engine's peak resident set in bytes (getrusage ru_maxrss * 1024).
 */
struct proto_bench_result {
	uint32_t		 n_prompt;
	uint32_t		 n_gen;
	uint64_t		 peak_rss;
	struct proto_bench_rep	*reps;
	size_t			 n_reps;
};

/*
 * A decoded frame: `type` says which member of `u` is set.  CANCEL and
 * SHUTDOWN have no fields.  Zero-initialise (PROTO_NONE) before use;
 * release with proto_msg_release().
 */
struct proto_msg {
	enum proto_type		 type;
	union {
		struct proto_hello		hello;
		struct proto_progress		progress;
		struct proto_generate		generate;
		struct proto_token		token;
		struct proto_done		done;
		struct proto_error		error;
		struct proto_tokenize		tokenize;
		struct proto_token_count	token_count;
		struct proto_bench		bench;
		struct proto_bench_result	bench_result;
	} u;
};

/* "HELLO", "GENERATE", ...; "unknown" for anything else.  Never NULL. */
const char	*proto_type_name(unsigned type);

/*
 * Who may send frame type `type`: PROTO_DIR_TO_ENGINE (broker requests),
 * PROTO_DIR_TO_BROKER (engine answers) or PROTO_DIR_INVALID (unknown).
 * The receiver must refuse a frame whose direction is not its own.
 */
enum proto_dir	 proto_type_direction(unsigned type);

/*
 * Encoders.  Each validates `msg` as proto_decode() would (CL_EINVAL,
 * message naming frame and field, on a violation), then replaces the
 * contents of `out` with exactly one frame.  CL_ELIMIT if the frame
 * would exceed PROTO_MAX_FRAME, CL_ENOMEM if out of memory.  `msg` and
 * everything it points to are borrowed.  On failure `out` is left empty
 * (its allocation may be kept).  Thread-safe with distinct `out`s.
 */
int	proto_encode_hello(struct cl_buf *out, const struct proto_hello *msg,
	    struct cl_err *err) CL_WUR;
int	proto_encode_progress(struct cl_buf *out,
	    const struct proto_progress *msg, struct cl_err *err) CL_WUR;
int	proto_encode_generate(struct cl_buf *out,
	    const struct proto_generate *msg, struct cl_err *err) CL_WUR;
int	proto_encode_token(struct cl_buf *out, const struct proto_token *msg,
	    struct cl_err *err) CL_WUR;
int	proto_encode_cancel(struct cl_buf *out, struct cl_err *err) CL_WUR;
int	proto_encode_done(struct cl_buf *out, const struct proto_done *msg,
	    struct cl_err *err) CL_WUR;
int	proto_encode_error(struct cl_buf *out, const struct proto_error *msg,
	    struct cl_err *err) CL_WUR;
int	proto_encode_tokenize(struct cl_buf *out,
	    const struct proto_tokenize *msg, struct cl_err *err) CL_WUR;
int	proto_encode_token_count(struct cl_buf *out,
	    const struct proto_token_count *msg, struct cl_err *err) CL_WUR;
int	proto_encode_bench(struct cl_buf *out, const struct proto_bench *msg,
	    struct cl_err *err) CL_WUR;
int	proto_encode_bench_result(struct cl_buf *out,
	    const struct proto_bench_result *msg, struct cl_err *err) CL_WUR;
int	proto_encode_shutdown(struct cl_buf *out, struct cl_err *err) CL_WUR;
/* Encode whichever frame `msg->type` names (CL_EINVAL for PROTO_NONE). */
int	proto_encode(struct cl_buf *out, const struct proto_msg *msg,
	    struct cl_err *err) CL_WUR;

/*
 * Decode one frame `frame[0..len)` (borrowed; not referenced afterwards)
 * into *out, which is overwritten without being released first.  All
 * strings and arrays in *out are fresh copies that the caller owns and
 * frees with proto_msg_release().  Returns CL_OK; CL_EFORMAT for any
 * malformed frame (empty, too large, unknown type, truncated, trailing
 * bytes, a count, enum, float, id or length out of range, bad UTF-8);
 * CL_EUNSUPPORTED for a HELLO of another protocol version; CL_ENOMEM.
 * On failure *out is all zero (type PROTO_NONE) and owns nothing.
 * Does not check direction (see proto_type_direction()).
 */
int	proto_decode(const void *frame, size_t len, struct proto_msg *out,
	    struct cl_err *err) CL_WUR;

/*
 * Free everything `msg` owns and leave it all zero (PROTO_NONE), ready
 * for reuse.  Safe on a zeroed or already released message.
 */
void	proto_msg_release(struct proto_msg *msg);

/*
 * Raise the socket's send buffer so that a PROTO_MAX_FRAME datagram fits
 * (setsockopt SO_SNDBUF, then getsockopt to check what the kernel
 * granted).  Call on both ends of the socketpair before the engine is
 * started.  CL_ELIMIT if the kernel will not allow it (net.core.wmem_max
 * set very low), CL_EIO if the calls fail.
 */
int	proto_socket_tune(int fd, struct cl_err *err) CL_WUR;

/*
 * Broker side: send one encoded frame with send(2) and MSG_NOSIGNAL, so a
 * dead engine gives CL_EIO ("connection closed") instead of SIGPIPE.
 * Retries on EINTR; blocks while the peer's queue is full (unless `fd` is
 * non-blocking: then CL_EIO with EAGAIN).  CL_EINVAL for an empty or
 * oversized frame.
 */
int	proto_send(int fd, const struct cl_buf *frame, struct cl_err *err)
	    CL_WUR;

/*
 * Broker side: receive one frame into buf[0..cap) with recv(2) and
 * MSG_TRUNC, which reports the datagram's real length, so a frame larger
 * than `cap` is detected (CL_EFORMAT; the frame is consumed and lost).
 * Use cap >= PROTO_MAX_FRAME.  timeout_ms < 0 waits forever; otherwise
 * poll(2) waits at most that long first, and if nothing arrives the call
 * returns CL_OK with *len = 0 (a real frame is never empty).  The peer
 * closing its end gives CL_EIO, "connection closed by peer".
 */
int	proto_recv(int fd, void *buf, size_t cap, size_t *len, int timeout_ms,
	    struct cl_err *err) CL_WUR;

/*
 * Engine side: the same as proto_send() and proto_recv() but with only
 * write(2), read(2) and poll(2) (the C library may use ppoll), the calls
 * the engine's seccomp filter allows on its socket.  On a SEQPACKET
 * socket these still move one whole record per call.  If the broker is
 * gone, proto_write() returns CL_EIO ("connection closed by peer"):
 * Linux does not raise SIGPIPE for AF_UNIX datagram-style sockets, which
 * SEQPACKET is (tests/check_proto.c asserts this).  proto_read() cannot
 * learn a datagram's real length, so it needs cap > PROTO_MAX_FRAME: a
 * read longer than PROTO_MAX_FRAME is reported as an oversized frame
 * (CL_EFORMAT; the kernel has already dropped the rest).
 */
int	proto_write(int fd, const struct cl_buf *frame, struct cl_err *err)
	    CL_WUR;
int	proto_read(int fd, void *buf, size_t cap, size_t *len, int timeout_ms,
	    struct cl_err *err) CL_WUR;

#endif /* CLOISTER_PROTO_H */
