/*
 * lfm2.c - the LFM2 / LFM2-MoE forward pass (lfm2-spec.md section 5).
 *
 * Divisions:
 *   1. contexts        - caches and scratch of one sequence
 *   2. building blocks - matmul through the kernel table, RMSNorm, RoPE
 *   3. mixers          - gated short convolution, GQA attention
 *   4. feed-forward    - dense SwiGLU, mixture of experts
 *   5. the model       - lfm2_forward() and engine_ctx_eval()
 *
 * A prompt is evaluated in chunks of up to LFM2_MAX_BATCH tokens; every
 * matrix is read once per chunk (per expert, once for all the chunk's
 * tokens routed to it).  Activations, norms, softmax, the router and the
 * conv state stay in f32; the KV cache is f32.  Every product of a weight
 * matrix with activations goes through m->kern->matmul.  A chunk is one
 * job of the pool: all threads run it, meeting at barriers between
 * dependent steps, with matrix rows claimed in chunks (section 2).
 */
#include "config.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "engine/quant.h"

/* ------------------------------------------------------------------ */
/* 1. contexts                                                         */

/* Work counters: one per thread's share, 64 bytes apart, two sets. */
#define CTR_STRIDE	(64 / sizeof(atomic_size_t))

static size_t
max_sz(size_t a, size_t b)
{
	return a > b ? a : b;
}

/*
 * Room for one prepared activation row of n elements of any weight type,
 * a multiple of 64: a float per element (ref, float weights), or 384
 * bytes per started group of 128 (the largest SIMD layout, kern_simd.h,
 * which pads short rows to whole groups); ab_of() checks.
 */
static size_t
act_stride(size_t n)
{
	return max_sz((n * sizeof(float) + 63) & ~(size_t)63,
	    (n + 127) / 128 * 384);
}

/* Carve `bytes` (rounded up to 64) from the arena at *off. */
static void *
carve(char *base, size_t *off, size_t bytes)
{
	void *p = base + *off;

	*off += (bytes + 63) & ~(size_t)63;
	return p;
}

int
engine_ctx_new(struct engine_model *m, uint32_t n_ctx, struct engine_ctx **out,
    struct cl_err *err)
{
	const struct lfm2_hparams *hp = &m->hp;
	struct engine_ctx *c;
	size_t B = LFM2_MAX_BATCH, d = hp->n_embd, K, big, kvd, i;
	size_t qd = (size_t)hp->n_head * hp->head_dim, f = hp->n_ff_exp;
	size_t nth = (size_t)pool_size(m->pool), ar, off, mid, ts, E, j;
	char *base;

	*out = NULL;
	if (n_ctx == 0)
		n_ctx = m->info.n_ctx_default;
	if (n_ctx > (1u << 24))
		return cl_errf(err, CL_EINVAL,
		    "context of %u tokens is too large", n_ctx);
	if ((c = cl_calloc(1, sizeof(*c))) == NULL)
		return cl_errf(err, CL_ENOMEM, "out of memory");
	c->m = m;
	c->n_ctx = n_ctx;
	K = hp->n_expert_used > 0 ? hp->n_expert_used : 1;

	big = max_sz(3 * d, qd + 2 * (size_t)hp->max_kv_dim);
	big = max_sz(big, 2 * (size_t)hp->max_ff);
	mid = act_stride(max_sz(max_sz(d, qd), hp->max_ff));
	E = hp->n_expert > 0 ? hp->n_expert : 1;
	/* Everything below the caches, 64-byte aligned, in one allocation. */
	ts = d * sizeof(float) + 3 * act_stride(d) + mid +
	    K * act_stride(f) + 2 * 64 +
	    (B * K * 4 + E * 3) * 4 + 7 * 64;
	ar = 3 * B * act_stride(d) + B * mid + nth * ts;
	if (hp->n_expert > 0)
		ar += 2 * B * K * act_stride(d) + B * K * act_stride(f);
	if ((c->k_cache = cl_calloc(hp->n_layer, sizeof(float *))) == NULL ||
	    (c->v_cache = cl_calloc(hp->n_layer, sizeof(float *))) == NULL ||
	    (c->conv_state = cl_calloc(hp->n_layer, sizeof(float *))) ==
	    NULL ||
	    (c->x = cl_calloc(B * d, sizeof(float))) == NULL ||
	    (c->xn = cl_calloc(B * d, sizeof(float))) == NULL ||
	    (c->big = cl_calloc(B * big, sizeof(float))) == NULL ||
	    (c->mix = cl_calloc(B * max_sz(d, qd), sizeof(float))) == NULL ||
	    (c->out = cl_calloc(B * d, sizeof(float))) == NULL ||
	    (c->att_scores = cl_calloc(nth * n_ctx, sizeof(float))) == NULL ||
	    (c->rope_cs = cl_calloc(nth * hp->head_dim, sizeof(double))) ==
	    NULL ||
	    (c->ts = cl_calloc(nth, sizeof(*c->ts))) == NULL ||
	    (c->work = cl_calloc(2 * nth * CTR_STRIDE,
	    sizeof(atomic_size_t))) == NULL ||
	    (c->arena = cl_calloc(1, ar + 64)) == NULL)
		goto nomem;
	base = (char *)c->arena + (64 - (uintptr_t)c->arena % 64) % 64;
	off = 0;
	for (i = 0; i < 3; i++)
		c->act_in[i] = carve(base, &off, B * act_stride(d));
	c->act_mid = carve(base, &off, B * mid);
	for (i = 0; i < nth; i++) {
		struct lfm2_tscratch *t = &c->ts[i];

		t->xn = carve(base, &off, d * sizeof(float));
		for (j = 0; j < 3; j++)
			t->act_in[j] = carve(base, &off, act_stride(d));
		t->act_mid = carve(base, &off, mid);
		t->act_h = carve(base, &off, K * act_stride(f));
		t->sel = carve(base, &off, B * K * 4);
		t->sel_w = carve(base, &off, B * K * 4);
		t->slot_tok = carve(base, &off, B * K * 4);
		t->slot_w = carve(base, &off, B * K * 4);
		t->ex_id = carve(base, &off, E * 4);
		t->ex_base = carve(base, &off, E * 4);
		t->ex_n = carve(base, &off, E * 4);
	}
	if (hp->n_expert > 0) {
		c->act_gate = carve(base, &off, B * K * act_stride(d));
		c->act_up = carve(base, &off, B * K * act_stride(d));
		c->act_h = carve(base, &off, B * K * act_stride(f));
		if ((c->router = cl_calloc(B * hp->n_expert,
		    sizeof(float))) == NULL ||
		    (c->hg = cl_calloc(B * K * f, sizeof(float))) == NULL ||
		    (c->hu = cl_calloc(B * K * f, sizeof(float))) == NULL ||
		    (c->ys = cl_calloc(B * K * d, sizeof(float))) == NULL)
			goto nomem;
	}
	if (off > ar)
		CL_BUG("context arena overrun");
	for (i = 0; i < hp->n_layer; i++) {
		const struct lfm2_layer *L = &m->layers[i];

		if (L->is_attn) {
			kvd = (size_t)L->n_head_kv * hp->head_dim;
			if ((c->k_cache[i] = cl_calloc((size_t)n_ctx * kvd,
			    sizeof(float))) == NULL ||
			    (c->v_cache[i] = cl_calloc((size_t)n_ctx * kvd,
			    sizeof(float))) == NULL)
				goto nomem;
		} else if (hp->l_cache > 1 &&
		    (c->conv_state[i] = cl_calloc(d * (hp->l_cache - 1),
		    sizeof(float))) == NULL)
			goto nomem;
	}
	*out = c;
	return CL_OK;
nomem:
	engine_ctx_free(c);
	return cl_errf(err, CL_ENOMEM,
	    "out of memory for a context of %u tokens", n_ctx);
}

void
engine_ctx_free(struct engine_ctx *c)
{
	uint32_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->m->hp.n_layer; i++) {
		if (c->k_cache != NULL)
			cl_free(c->k_cache[i]);
		if (c->v_cache != NULL)
			cl_free(c->v_cache[i]);
		if (c->conv_state != NULL)
			cl_free(c->conv_state[i]);
	}
	cl_free(c->k_cache);
	cl_free(c->v_cache);
	cl_free(c->conv_state);
	cl_free(c->x);
	cl_free(c->xn);
	cl_free(c->big);
	cl_free(c->mix);
	cl_free(c->out);
	cl_free(c->att_scores);
	cl_free(c->rope_cs);
	cl_free(c->arena);
	cl_free(c->router);
	cl_free(c->ts);
	cl_free(c->work);
	cl_free(c->hg);
	cl_free(c->hu);
	cl_free(c->ys);
	cl_free(c);
}

void
engine_ctx_reset(struct engine_ctx *c)
{
	const struct lfm2_hparams *hp = &c->m->hp;
	uint32_t i;

	c->pos = 0;
	/* The conv state is recurrent: a new sequence starts from zero. */
	for (i = 0; i < hp->n_layer; i++) {
		if (c->conv_state[i] != NULL)
			memset(c->conv_state[i], 0, (size_t)hp->n_embd *
			    (hp->l_cache - 1) * sizeof(float));
	}
}

uint32_t
engine_ctx_pos(const struct engine_ctx *c)
{
	return c->pos;
}

uint32_t
engine_ctx_n_ctx(const struct engine_ctx *c)
{
	return c->n_ctx;
}

/* ------------------------------------------------------------------ */
/* 2. building blocks                                                  */

/*
 * A forward chunk is one job of the pool: every thread runs the whole
 * pass and the threads meet at pool_barrier() between steps that read
 * what the previous step wrote.  Within a step, work is either split
 * statically (per token: cheap, even work) or claimed in chunks (matrix
 * rows, channels, heads): each thread owns a contiguous share of the
 * chunks and takes them in order, so its weights stay one sequential
 * stream for the prefetchers, then takes what is left of the others'
 * shares, so a thread descheduled on a busy machine does not hold the
 * step up by more than the chunk it is in.  Every output element is
 * computed by exactly one thread with the same arithmetic whatever the
 * split, so results do not depend on the thread count.
 */
struct fwd {
	struct engine_ctx	*c;
	const int32_t		*tokens;
	size_t			 T;
	float			*logits;
	bool			 all_logits;
};

/* A step of n chunks being claimed (par_begin, par_next). */
struct par {
	atomic_size_t	*q;		/* this step's set of counters */
	size_t		 n;
	int		 k;		/* shares exhausted: own first */
};

/*
 * One thread's view of the job.  With priv (decode: one token), each
 * thread normalises and prepares every matrix input itself, in its own
 * scratch, instead of one thread doing it while the others wait at a
 * barrier: a microsecond of duplicated work per input, one barrier less.
 */
struct thr {
	struct fwd		*f;
	struct engine_ctx	*c;
	const struct engine_model *m;
	struct pool		*pool;
	int			 ith, nth;
	unsigned		 step;		/* dynamic steps begun */
	bool			 priv;
	struct lfm2_tscratch	*ts;		/* this thread's */
	float			*xn;		/* ts->xn or c->xn */
	void			*act_in[3];
	void			*act_mid;
	void			*act_h;
};

static void
sync_all(struct thr *th)
{
	pool_barrier(th->pool);
}

/*
 * Begin a step of n chunks.  Steps alternate between two sets of
 * counters; thread 0 zeroes the set the next step will use, which the
 * previous step (finished: a barrier lies between any two steps) no
 * longer reads, and the barrier after this step publishes the zeroes.
 */
static void
par_begin(struct thr *th, struct par *p, size_t n)
{
	atomic_size_t *set = th->c->work + (th->step & 1) * th->nth *
	    CTR_STRIDE;
	atomic_size_t *next = th->c->work + ((th->step + 1) & 1) * th->nth *
	    CTR_STRIDE;
	int i;

	if (th->ith == 0)
		for (i = 0; i < th->nth; i++)
			atomic_store_explicit(&next[i * CTR_STRIDE], 0,
			    memory_order_relaxed);
	th->step++;
	p->q = set;
	p->n = n;
	p->k = 0;
}

/*
 * Claim the next chunk: from this thread's share in order, then from the
 * other threads' shares.  Returns false when none is left.
 */
static bool
par_next(const struct thr *th, struct par *p, size_t *item)
{
	size_t lo, hi, i;
	int o;

	while (p->k < th->nth) {
		o = (th->ith + p->k) % th->nth;
		pool_split(p->n, o, th->nth, &lo, &hi);
		i = atomic_fetch_add_explicit(&p->q[o * CTR_STRIDE], 1,
		    memory_order_relaxed);
		if (lo + i < hi) {
			*item = lo + i;
			return true;
		}
		p->k++;
	}
	return false;
}

/* Rows per chunk when `rows` rows are shared: about 8 chunks a thread. */
static size_t
chunk_rows(size_t rows, int nth)
{
	size_t ch = rows / ((size_t)nth * 8);

	ch = (ch + 15) & ~(size_t)15;
	return ch < 16 ? 16 : ch;
}

/* This thread's static share of n items. */
static void
share(const struct thr *th, size_t n, size_t *lo, size_t *hi)
{
	pool_split(n, th->ith, th->nth, lo, hi);
}

/* The rows of an input this thread prepares: all if private, else a share. */
static void
prep_share(const struct thr *th, size_t n, size_t *lo, size_t *hi)
{
	if (th->priv) {
		*lo = 0;
		*hi = n;
	} else
		share(th, n, lo, hi);
}

/* After preparing inputs: shared ones must be complete before use. */
static void
prep_done(struct thr *th)
{
	if (!th->priv)
		sync_all(th);
}

static const uint8_t *
slab_of(const struct lfm2_weight *w, size_t slab)
{
	return w->data + slab * w->slab_bytes;
}

/* y[t*ldy + r] = W[slab] row r . act row t, rows [r0, r1). */
static void
mm_rows(const struct engine_model *m, const struct lfm2_weight *w,
    size_t slab, const void *act, size_t n_tok, float *y, size_t ldy,
    size_t r0, size_t r1)
{
	m->kern->matmul(w->type, slab_of(w, slab), w->row_bytes,
	    (size_t)w->ne[0], act, n_tok, y, ldy, r0, r1);
}

static float
silu(float x)
{
	return x / (1.0f + expf(-x));
}

/*
 * One matrix product of a step.  With w2 set, the same rows of w2 are
 * computed into y2 and then y = silu(y) * y2 (SwiGLU).  With add set,
 * add[t*ldy + r] += y[t*ldy + r] afterwards (the residual).
 */
struct seg {
	const struct lfm2_weight *w;
	size_t			 slab;
	const void		*act;		/* n_tok prepared rows */
	size_t			 n_tok;
	float			*y;
	size_t			 ldy;
	const struct lfm2_weight *w2;
	const void		*act2;
	float			*y2;
	float			*add;
};

static void
seg_rows(const struct engine_model *m, const struct seg *s, size_t r0,
    size_t r1)
{
	size_t t, r;

	mm_rows(m, s->w, s->slab, s->act, s->n_tok, s->y, s->ldy, r0, r1);
	if (s->w2 != NULL) {
		mm_rows(m, s->w2, s->slab, s->act2, s->n_tok, s->y2, s->ldy,
		    r0, r1);
		for (t = 0; t < s->n_tok; t++) {
			float *g = s->y + t * s->ldy, *u = s->y2 + t * s->ldy;

			for (r = r0; r < r1; r++)
				g[r] = silu(g[r]) * u[r];
		}
	}
	if (s->add != NULL) {
		for (t = 0; t < s->n_tok; t++) {
			float *a = s->add + t * s->ldy;
			const float *y = s->y + t * s->ldy;

			for (r = r0; r < r1; r++)
				a[r] += y[r];
		}
	}
}

/* Run segments s[0..n) with their rows handed out in chunks. */
static void
par_segs(struct thr *th, const struct seg *s, size_t n)
{
	struct par p;
	size_t i, total = 0, items = 0, ch, item, base = 0, nc, r0, r1;
	size_t cur = 0;

	for (i = 0; i < n; i++)
		total += (size_t)s[i].w->ne[1];
	ch = chunk_rows(total, th->nth);
	for (i = 0; i < n; i++)
		items += ((size_t)s[i].w->ne[1] + ch - 1) / ch;
	par_begin(th, &p, items);
	while (par_next(th, &p, &item)) {
		/* Claims grow within a share; restart on another's. */
		if (item < base) {
			base = 0;
			cur = 0;
		}
		while (cur < n) {
			nc = ((size_t)s[cur].w->ne[1] + ch - 1) / ch;
			if (item < base + nc)
				break;
			base += nc;
			cur++;
		}
		if (cur == n)
			CL_BUG("work item out of range");
		r0 = (item - base) * ch;
		r1 = r0 + ch < s[cur].w->ne[1] ? r0 + ch :
		    (size_t)s[cur].w->ne[1];
		seg_rows(th->m, &s[cur], r0, r1);
	}
}

static struct seg
seg_of(const struct lfm2_weight *w, size_t slab, const void *act,
    size_t n_tok, float *y, size_t ldy)
{
	struct seg s;

	memset(&s, 0, sizeof(s));
	s.w = w;
	s.slab = slab;
	s.act = act;
	s.n_tok = n_tok;
	s.y = y;
	s.ldy = ldy;
	return s;
}

/* out = w * x / sqrt(mean(x^2) + eps), n elements (lfm2-spec 5.2). */
static void
rmsnorm(float *out, const float *x, const float *w, size_t n, float eps)
{
	double ss = 0;
	float scale;
	size_t i;

	for (i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
	for (i = 0; i < n; i++)
		out[i] = w[i] * (x[i] * scale);
}

/* cos and sin of pos * inv_freq[i] into cs[i], cs[half + i]. */
static void
rope_table(double *cs, size_t dh, uint32_t pos, const double *inv_freq)
{
	size_t i, half = dh / 2;
	double th;

	for (i = 0; i < half; i++) {
		th = (double)pos * inv_freq[i];
		cs[i] = cos(th);
		cs[half + i] = sin(th);
	}
}

/* NEOX RoPE on one head of dh values with a rope_table (lfm2-spec 5.5). */
static void
rope(float *x, size_t dh, const double *cs)
{
	size_t i, half = dh / 2;
	double x0, x1;

	for (i = 0; i < half; i++) {
		x0 = x[i];
		x1 = x[i + half];
		x[i] = (float)(x0 * cs[i] - x1 * cs[half + i]);
		x[i + half] = (float)(x0 * cs[half + i] + x1 * cs[i]);
	}
}

/*
 * The distinct activation layouts that weights ws[0..n) read from one
 * input: types[j] for j < return value; ptr[i] = act_in[j] of weight i.
 */
static int
act_plan(const struct thr *th, const struct lfm2_weight *const *ws, int n,
    uint32_t *types, void **ptr)
{
	int i, j, nt = 0;

	for (i = 0; i < n; i++) {
		for (j = 0; j < nt; j++)
			if (types[j] == ws[i]->type)
				break;
		if (j == nt) {
			if (nt == 3)
				CL_BUG("more than three activation layouts");
			types[nt++] = ws[i]->type;
		}
		ptr[i] = th->act_in[j];
	}
	return nt;
}

/*
 * Bytes of one prepared row of n elements for wtype: the rows of one
 * matrix product lie back to back at this stride (kern.h), in buffers
 * sized with act_stride().
 */
static size_t
ab_of(const struct engine_model *m, uint32_t wtype, size_t n)
{
	size_t ab = m->kern->act_row_bytes(wtype, n);

	if (ab > act_stride(n))
		CL_BUG("activation row larger than its stride");
	return ab;
}

/* Prepare row x (n floats) for weights of type wtype as row t of act. */
static void
prep_row(const struct engine_model *m, uint32_t wtype, const float *x,
    void *act, size_t t, size_t n)
{
	m->kern->act_prepare(wtype, x, (char *)act + t * ab_of(m, wtype, n),
	    n);
}

/*
 * xn = rmsnorm(rows of src with weight nw), then prepared for the weights
 * ws[0..n) into act_in (ptr[i] for weight i); split by token.
 */
static void
norm_prep(struct thr *th, const float *src, const float *nw,
    const struct lfm2_weight *const *ws, int n, void **ptr)
{
	size_t d = th->m->hp.n_embd, T = th->f->T, lo, hi, t;
	uint32_t types[3];
	int nt = act_plan(th, ws, n, types, ptr), j;

	prep_share(th, T, &lo, &hi);
	for (t = lo; t < hi; t++) {
		rmsnorm(th->xn + t * d, src + t * d, nw, d, th->m->hp.rms_eps);
		for (j = 0; j < nt; j++)
			prep_row(th->m, types[j], th->xn + t * d,
			    th->act_in[j], t, d);
	}
	prep_done(th);
}

/* Prepare T rows of x (n floats each) for wtype into th->act_mid. */
static void
prep_mid(struct thr *th, uint32_t wtype, const float *x, size_t n, size_t T)
{
	size_t lo, hi, t;

	prep_share(th, T, &lo, &hi);
	for (t = lo; t < hi; t++)
		prep_row(th->m, wtype, x + t * n, th->act_mid, t, n);
	prep_done(th);
}

/* ------------------------------------------------------------------ */
/* 3. mixers                                                           */

/*
 * Gated short convolution (lfm2-spec 5.3):
 *   B, C, x = in_proj(a).chunk(3)
 *   u = B * x;  v = causal depthwise conv over time of u (L taps);
 *   y = C * v;  o = out_proj(y)
 * The conv state holds the last L-1 values of u per channel, oldest first.
 * Adds o to the residual stream.
 */
static void
shortconv(struct thr *th, const struct lfm2_layer *L, float *S)
{
	struct engine_ctx *c = th->c;
	const struct lfm2_hparams *hp = &th->m->hp;
	size_t d = hp->n_embd, Lc = hp->l_cache, T = th->f->T, t, ch, k;
	size_t lo, hi, it, cw = chunk_rows(d, th->nth), j;
	float *z = c->big, *y = c->mix;
	const struct lfm2_weight *ws[1] = { &L->in_proj };
	void *act[1];
	struct par p;
	struct seg s;

	norm_prep(th, c->x, L->attn_norm, ws, 1, act);
	/*
	 * Channels are independent: an item computes the B, C and x rows of
	 * its channels, then their conv over all the chunk's tokens.
	 */
	par_begin(th, &p, (d + cw - 1) / cw);
	while (par_next(th, &p, &it)) {
		lo = it * cw;
		hi = lo + cw < d ? lo + cw : d;
		for (j = 0; j < 3; j++)
			mm_rows(th->m, &L->in_proj, 0, act[0], T, z, 3 * d,
			    j * d + lo, j * d + hi);
		/* Token-major, like z and y; each channel's state in turn. */
		for (t = 0; t < T; t++) {
			const float *Bv = z + t * 3 * d;

			for (ch = lo; ch < hi; ch++) {
				const float *kw = L->conv + ch * Lc;
				float *st = Lc > 1 ? S + ch * (Lc - 1) : NULL;
				float u = Bv[ch] * Bv[2 * d + ch], v;

				v = kw[Lc - 1] * u;
				if (Lc > 1) {
					for (k = 0; k < Lc - 1; k++)
						v += kw[k] * st[k];
					for (k = 0; k + 1 < Lc - 1; k++)
						st[k] = st[k + 1];
					st[Lc - 2] = u;
				}
				y[t * d + ch] = Bv[d + ch] * v;
			}
		}
	}
	sync_all(th);
	prep_mid(th, L->out_proj.type, y, d, T);
	s = seg_of(&L->out_proj, 0, th->act_mid, T, c->out, d);
	s.add = c->x;
	par_segs(th, &s, 1);
	sync_all(th);
}

/*
 * Softmax attention of one (token, head) pair: oh = softmax(qh . K /
 * sqrt(Dh)) V over the n_pos cached positions of kv head g.  Each score
 * is summed in element order, as the reference does; four positions at a
 * time give the CPU four independent chains instead of one.
 */
static void
att_head(const struct engine_model *m, const float *qh, const float *kc,
    const float *vc, size_t kvd, size_t g, size_t n_pos, float *sc,
    float *restrict oh)
{
	size_t dh = m->hp.head_dim, s, i;
	const float scale = 1.0f / sqrtf((float)dh);
	float mx = -INFINITY, sum = 0;

	for (s = 0; s + 4 <= n_pos; s += 4) {
		const float *k0 = kc + s * kvd + g * dh, *k1 = k0 + kvd;
		const float *k2 = k1 + kvd, *k3 = k2 + kvd;
		float d0 = 0, d1 = 0, d2 = 0, d3 = 0;

		for (i = 0; i < dh; i++) {
			d0 += qh[i] * k0[i];
			d1 += qh[i] * k1[i];
			d2 += qh[i] * k2[i];
			d3 += qh[i] * k3[i];
		}
		sc[s] = d0 * scale;
		sc[s + 1] = d1 * scale;
		sc[s + 2] = d2 * scale;
		sc[s + 3] = d3 * scale;
	}
	for (; s < n_pos; s++) {
		const float *kh = kc + s * kvd + g * dh;
		float dot = 0;

		for (i = 0; i < dh; i++)
			dot += qh[i] * kh[i];
		sc[s] = dot * scale;
	}
	for (s = 0; s < n_pos; s++)
		mx = sc[s] > mx ? sc[s] : mx;
	for (s = 0; s < n_pos; s++) {
		sc[s] = expf(sc[s] - mx);
		sum += sc[s];
	}
	for (i = 0; i < dh; i++)
		oh[i] = 0;
	for (s = 0; s < n_pos; s++) {
		const float *restrict vh = vc + s * kvd + g * dh;
		float w = sc[s] / sum;

		/* Eight at a time, so the compiler's SLP pass vectorizes. */
		for (i = 0; i + 8 <= dh; i += 8) {
			oh[i] += w * vh[i];
			oh[i + 1] += w * vh[i + 1];
			oh[i + 2] += w * vh[i + 2];
			oh[i + 3] += w * vh[i + 3];
			oh[i + 4] += w * vh[i + 4];
			oh[i + 5] += w * vh[i + 5];
			oh[i + 6] += w * vh[i + 6];
			oh[i + 7] += w * vh[i + 7];
		}
		for (; i < dh; i++)
			oh[i] += w * vh[i];
	}
}

/*
 * GQA attention with per-head QK RMSNorm and NEOX RoPE (lfm2-spec 5.4):
 *   q, k, v = Wq a, Wk a, Wv a;  q_h = rope(norm(q_h)); k_g = rope(norm(k_g))
 *   append k, v to the cache; o_h = softmax(q_h . K_g / sqrt(Dh)) V_g
 *   o = Wo concat(o_h), added to the residual stream.
 */
static void
attention(struct thr *th, const struct lfm2_layer *L, uint32_t il)
{
	struct engine_ctx *c = th->c;
	const struct engine_model *m = th->m;
	const struct lfm2_hparams *hp = &m->hp;
	size_t H = hp->n_head, dh = hp->head_dim, Hkv = L->n_head_kv;
	size_t qd = H * dh, kvd = Hkv * dh, d = hp->n_embd, T = th->f->T;
	size_t t, h, p, last, pos0 = c->pos;
	float *q = c->big, *k = q + T * qd, *v = k + T * kvd;
	float *kc = c->k_cache[il], *vc = c->v_cache[il];
	float *sc = c->att_scores + (size_t)th->ith * c->n_ctx;
	double *cs = c->rope_cs + (size_t)th->ith * dh;
	const struct lfm2_weight *ws[3] = { &L->wq, &L->wk, &L->wv };
	void *act[3];
	struct seg s[3];
	struct par pp;

	norm_prep(th, c->x, L->attn_norm, ws, 3, act);
	s[0] = seg_of(&L->wq, 0, act[0], T, q, qd);
	s[1] = seg_of(&L->wk, 0, act[1], T, k, kvd);
	s[2] = seg_of(&L->wv, 0, act[2], T, v, kvd);
	par_segs(th, s, 3);
	sync_all(th);
	/*
	 * Per (token, head): QK norm and RoPE of the q heads and the k heads,
	 * the k heads and v heads stored in the cache.
	 */
	par_begin(th, &pp, T * (H + 2 * Hkv));
	last = SIZE_MAX;
	while (par_next(th, &pp, &p)) {
		float *xh;

		t = p / (H + 2 * Hkv);
		h = p % (H + 2 * Hkv);
		if (h >= H + Hkv) {
			h -= H + Hkv;
			memcpy(vc + (pos0 + t) * kvd + h * dh,
			    v + t * kvd + h * dh, dh * sizeof(float));
			continue;
		}
		if (t != last)		/* about once per token */
			rope_table(cs, dh, pos0 + (uint32_t)t,
			    m->rope_inv_freq);
		last = t;
		xh = h < H ? q + t * qd + h * dh : k + t * kvd + (h - H) * dh;
		rmsnorm(xh, xh, h < H ? L->q_norm : L->k_norm, dh,
		    hp->rms_eps);
		rope(xh, dh, cs);
		if (h >= H)
			memcpy(kc + (pos0 + t) * kvd + (h - H) * dh, xh,
			    dh * sizeof(float));
	}
	sync_all(th);
	/* (token, head) pairs; later tokens see more positions. */
	par_begin(th, &pp, T * H);
	while (par_next(th, &pp, &p)) {
		t = p / H;
		h = p % H;
		att_head(m, q + t * qd + h * dh, kc, vc, kvd, h / (H / Hkv),
		    (size_t)pos0 + t + 1, sc, c->mix + t * qd + h * dh);
	}
	sync_all(th);
	prep_mid(th, L->wo.type, c->mix, qd, T);
	s[0] = seg_of(&L->wo, 0, th->act_mid, T, c->out, d);
	s[0].add = c->x;
	par_segs(th, s, 1);
	sync_all(th);
}

/* ------------------------------------------------------------------ */
/* 4. feed-forward                                                     */

/* g = W_down (silu(W_gate f) * (W_up f))  (lfm2-spec 5.6) */
static void
dense_ffn(struct thr *th, const struct lfm2_layer *L)
{
	struct engine_ctx *c = th->c;
	size_t ff = L->n_ff, d = th->m->hp.n_embd, T = th->f->T;
	float *g = c->big, *u = g + T * ff;
	const struct lfm2_weight *ws[2] = { &L->ffn_gate, &L->ffn_up };
	void *act[2];
	struct seg s;

	norm_prep(th, c->x, L->ffn_norm, ws, 2, act);
	s = seg_of(&L->ffn_gate, 0, act[0], T, g, ff);
	s.w2 = &L->ffn_up;
	s.act2 = act[1];
	s.y2 = u;
	par_segs(th, &s, 1);
	sync_all(th);
	prep_mid(th, L->ffn_down.type, g, ff, T);
	s = seg_of(&L->ffn_down, 0, th->act_mid, T, c->out, d);
	s.add = c->x;
	par_segs(th, &s, 1);
	sync_all(th);
}

/*
 * Route one token (lfm2-spec 5.7): s = sigmoid(router logits); choose the
 * K experts with the largest s + bias (the bias only chooses); weights
 * w_e = s_e / sum of the chosen s, times expert_weights_scale.  Ties go to
 * the lower expert index.
 */
static void
route(const struct lfm2_hparams *hp, const float *logits, const float *bias,
    int32_t *sel, float *sel_w)
{
	size_t E = hp->n_expert, K = hp->n_expert_used, e, k, j;
	float s[LFM2_MAX_EXPERTS], score[LFM2_MAX_EXPERTS], sum = 0, mx;

	if (hp->gating == LFM2_GATING_SOFTMAX) {
		mx = logits[0];
		for (e = 1; e < E; e++)
			mx = logits[e] > mx ? logits[e] : mx;
		for (e = 0; e < E; e++) {
			s[e] = expf(logits[e] - mx);
			sum += s[e];
		}
		for (e = 0; e < E; e++)
			s[e] /= sum;
	} else {
		for (e = 0; e < E; e++)
			s[e] = 1.0f / (1.0f + expf(-logits[e]));
	}
	for (e = 0; e < E; e++)
		score[e] = s[e] + bias[e];
	/* Insertion into a sorted top-K list: K is small. */
	for (k = 0; k < K; k++)
		sel[k] = -1;
	for (e = 0; e < E; e++) {
		for (k = 0; k < K; k++) {
			if (sel[k] < 0 || score[e] > score[sel[k]])
				break;
		}
		if (k == K)
			continue;
		for (j = K - 1; j > k; j--)
			sel[j] = sel[j - 1];
		sel[k] = (int32_t)e;
	}
	sum = 0;
	for (k = 0; k < K; k++)
		sum += s[sel[k]];
	if (sum < 6.103515625e-5f)
		sum = 6.103515625e-5f;
	for (k = 0; k < K; k++)
		sel_w[k] = s[sel[k]] / sum * hp->expert_weights_scale;
}

/*
 * Group the chunk's (token, expert) choices by expert, experts ascending
 * and tokens ascending within one: the slots.  A counting sort; every
 * thread does it (the same result in each) rather than wait for one.
 */
static void
moe_slots(const struct lfm2_hparams *hp, struct lfm2_tscratch *ts,
    size_t T)
{
	size_t E = hp->n_expert, K = hp->n_expert_used, e, t, k;
	uint32_t cnt[LFM2_MAX_EXPERTS], n_act = 0, slot = 0;

	memset(cnt, 0, sizeof(cnt));
	for (t = 0; t < T * K; t++)
		cnt[ts->sel[t]]++;
	for (e = 0; e < E; e++) {
		if (cnt[e] == 0)
			continue;
		ts->ex_id[n_act] = (int32_t)e;
		ts->ex_base[n_act] = slot;
		ts->ex_n[n_act] = cnt[e];
		cnt[e] = slot;		/* now: next free slot of e */
		slot += ts->ex_n[n_act];
		n_act++;
	}
	for (t = 0; t < T; t++) {
		for (k = 0; k < K; k++) {
			e = (size_t)ts->sel[t * K + k];
			ts->slot_tok[cnt[e]] = (int32_t)t;
			ts->slot_w[cnt[e]] = ts->sel_w[t * K + k];
			cnt[e]++;
		}
	}
	ts->n_active = n_act;
	ts->n_slot = slot;
}

/*
 * Down projections of the active experts and their weighted sum, added to
 * the residual stream, for output rows [r0, r1): per token, the experts
 * are summed in ascending order whatever the chunk or the thread.
 */
static void
moe_down_rows(const struct thr *th, const struct lfm2_layer *L, size_t r0,
    size_t r1)
{
	struct engine_ctx *c = th->c;
	const struct engine_model *m = th->m;
	const struct lfm2_tscratch *ts = th->ts;
	size_t d = m->hp.n_embd, f = m->hp.n_ff_exp, T = th->f->T, j, t, r;
	size_t sl, ab = ab_of(m, L->down_exps.type, f);

	for (j = 0; j < ts->n_active; j++)
		mm_rows(m, &L->down_exps, (size_t)ts->ex_id[j],
		    (const char *)th->act_h + ts->ex_base[j] * ab, ts->ex_n[j],
		    c->ys + (size_t)ts->ex_base[j] * d, d, r0, r1);
	for (t = 0; t < T; t++)
		memset(c->out + t * d + r0, 0, (r1 - r0) * sizeof(float));
	for (sl = 0; sl < ts->n_slot; sl++) {
		float *o = c->out + (size_t)ts->slot_tok[sl] * d;
		const float *y = c->ys + sl * d;
		float w = ts->slot_w[sl];

		for (r = r0; r < r1; r++)
			o[r] += w * y[r];
	}
	for (t = 0; t < T; t++) {
		float *x = c->x + t * d;
		const float *o = c->out + t * d;

		for (r = r0; r < r1; r++)
			x[r] += o[r];
	}
}

/*
 * Mixture of experts: g = sum over chosen e of w_e * Expert_e(f).  The
 * chunk's tokens are grouped by expert so each expert's weights are read
 * once per chunk; experts no token chose are never touched.  Gate and up
 * run fused (SwiGLU on the same rows), all active experts in one step.
 */
static void
moe_ffn(struct thr *th, const struct lfm2_layer *L)
{
	struct engine_ctx *c = th->c;
	const struct engine_model *m = th->m;
	const struct lfm2_hparams *hp = &m->hp;
	struct lfm2_tscratch *ts = th->ts;
	size_t E = hp->n_expert, K = hp->n_expert_used, d = hp->n_embd;
	size_t f = hp->n_ff_exp, T = th->f->T, lo, hi, t, sl, j, ch, it;
	size_t sg = ab_of(m, L->gate_exps.type, d);
	size_t su = ab_of(m, L->up_exps.type, d);
	const struct lfm2_weight *ws[3] = { &L->router, &L->gate_exps,
	    &L->up_exps };
	void *act[3];
	const void *ag, *au;
	struct seg s[LFM2_MAX_EXPERTS];
	struct par p;

	norm_prep(th, c->x, L->ffn_norm, ws, 3, act);
	s[0] = seg_of(&L->router, 0, act[0], T, c->router, E);
	par_segs(th, s, 1);
	sync_all(th);
	for (t = 0; t < T; t++)
		route(hp, c->router + t * E, L->exp_bias, ts->sel + t * K,
		    ts->sel_w + t * K);
	moe_slots(hp, ts, T);
	if (T > 1) {
		/* Gather each slot's prepared input row. */
		share(th, ts->n_slot, &lo, &hi);
		for (sl = lo; sl < hi; sl++) {
			t = (size_t)ts->slot_tok[sl];
			memcpy((char *)c->act_gate + sl * sg,
			    (const char *)act[1] + t * sg, sg);
			if (act[2] != act[1])
				memcpy((char *)c->act_up + sl * su,
				    (const char *)act[2] + t * su, su);
		}
		ag = c->act_gate;
		au = act[2] != act[1] ? c->act_up : c->act_gate;
		sync_all(th);
	} else {
		ag = act[1];
		au = act[2];
	}
	for (j = 0; j < ts->n_active; j++) {
		size_t b = ts->ex_base[j];

		s[j] = seg_of(&L->gate_exps, (size_t)ts->ex_id[j],
		    T > 1 ? (const char *)ag + b * sg : ag, ts->ex_n[j],
		    c->hg + b * f, f);
		s[j].w2 = &L->up_exps;
		s[j].act2 = T > 1 ? (const char *)au + b * su : au;
		s[j].y2 = c->hu + b * f;
	}
	par_segs(th, s, ts->n_active);
	sync_all(th);
	prep_share(th, ts->n_slot, &lo, &hi);
	for (sl = lo; sl < hi; sl++)
		prep_row(m, L->down_exps.type, c->hg + sl * f, th->act_h, sl,
		    f);
	prep_done(th);
	ch = chunk_rows(d, th->nth);
	par_begin(th, &p, (d + ch - 1) / ch);
	while (par_next(th, &p, &it))
		moe_down_rows(th, L, it * ch,
		    (it + 1) * ch < d ? (it + 1) * ch : d);
	sync_all(th);
}

/* ------------------------------------------------------------------ */
/* 5. the model                                                        */

/*
 * One chunk of T <= LFM2_MAX_BATCH tokens at positions c->pos.. (lfm2-spec
 * 5.1), run by every thread of the pool.  Writes logits for every token
 * (all_logits) or the last one.
 */
static void
fwd_worker(void *arg, int ith, int nth)
{
	struct fwd *f = arg;
	struct engine_ctx *c = f->c;
	const struct engine_model *m = c->m;
	const struct lfm2_hparams *hp = &m->hp;
	size_t d = hp->n_embd, T = f->T, lo, hi, t, t0, nt;
	struct thr th;
	const struct lfm2_weight *ws[1] = { &m->output };
	void *act[1];
	struct seg s;
	uint32_t il;
	int i;

	th.f = f;
	th.c = c;
	th.m = m;
	th.pool = m->pool;
	th.ith = ith;
	th.nth = nth;
	th.step = 0;
	th.ts = &c->ts[ith];
	th.priv = T == 1 && nth > 1;
	th.xn = th.priv ? th.ts->xn : c->xn;
	for (i = 0; i < 3; i++)
		th.act_in[i] = th.priv ? th.ts->act_in[i] : c->act_in[i];
	th.act_mid = th.priv ? th.ts->act_mid : c->act_mid;
	th.act_h = th.priv ? th.ts->act_h : c->act_h;

	/* h = token_embd[token]: no scaling, no input norm. */
	share(&th, T, &lo, &hi);
	for (t = lo; t < hi; t++)
		m->kern->row_f32(m->tok_embd.type, m->tok_embd.data,
		    m->tok_embd.row_bytes, d, (size_t)f->tokens[t],
		    c->x + t * d);
	sync_all(&th);

	for (il = 0; il < hp->n_layer; il++) {
		const struct lfm2_layer *L = &m->layers[il];

		if (L->is_attn)
			attention(&th, L, il);
		else
			shortconv(&th, L, c->conv_state[il]);
		if (L->is_moe)
			moe_ffn(&th, L);
		else
			dense_ffn(&th, L);
	}
	if (f->logits == NULL)
		return;

	/* z = RMSNorm(h, final norm); logits = W_out z (tied or not). */
	t0 = f->all_logits ? 0 : T - 1;
	nt = T - t0;
	act_plan(&th, ws, 1, (uint32_t[3]){ 0 }, act);
	prep_share(&th, nt, &lo, &hi);
	for (t = lo; t < hi; t++) {
		rmsnorm(th.xn + t * d, c->x + (t0 + t) * d, m->output_norm, d,
		    hp->rms_eps);
		prep_row(m, m->output.type, th.xn + t * d, act[0], t, d);
	}
	prep_done(&th);
	s = seg_of(&m->output, 0, act[0], nt, f->logits, hp->n_vocab);
	par_segs(&th, &s, 1);
}

static void
forward_chunk(struct engine_ctx *c, const int32_t *tokens, size_t T,
    float *logits, bool all_logits)
{
	struct fwd f;
	size_t i;

	f.c = c;
	f.tokens = tokens;
	f.T = T;
	f.logits = logits;
	f.all_logits = all_logits;
	for (i = 0; i < 2 * (size_t)pool_size(c->m->pool) * CTR_STRIDE; i++)
		atomic_store_explicit(&c->work[i], 0, memory_order_relaxed);
	pool_run(c->m->pool, fwd_worker, &f);
	c->pos += (uint32_t)T;
}

int
lfm2_forward(struct engine_ctx *c, const int32_t *tokens, size_t n,
    float *logits, bool all_logits, struct cl_err *err)
{
	size_t done = 0, T;
	float *lg;

	while (done < n) {
		T = n - done < LFM2_MAX_BATCH ? n - done : LFM2_MAX_BATCH;
		lg = NULL;
		if (logits != NULL && all_logits)
			lg = logits + done * c->m->hp.n_vocab;
		else if (logits != NULL && done + T == n)
			lg = logits;
		forward_chunk(c, tokens + done, T, lg, all_logits);
		done += T;
	}
	return CL_OK;
}

int
engine_ctx_eval(struct engine_ctx *c, const int32_t *tokens, size_t n,
    float *logits, bool all_logits, struct cl_err *err)
{
	size_t i;

	if (n == 0)
		return cl_errf(err, CL_EINVAL, "no tokens to evaluate");
	if (n > c->n_ctx - c->pos)
		return cl_errf(err, CL_ELIMIT,
		    "context full: %zu tokens do not fit after position %u "
		    "(context %u)", n, c->pos, c->n_ctx);
	for (i = 0; i < n; i++) {
		if (tokens[i] < 0 || (uint32_t)tokens[i] >= c->m->hp.n_vocab)
			return cl_errf(err, CL_EINVAL,
			    "token id %d at index %zu out of range 0..%u",
			    tokens[i], i, c->m->hp.n_vocab - 1);
	}
	return lfm2_forward(c, tokens, n, logits, all_logits, err);
}
