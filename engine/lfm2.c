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
 * matrix with activations goes through m->kern->matmul, split by output
 * rows across the pool's threads.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "engine/quant.h"

/* ------------------------------------------------------------------ */
/* 1. contexts                                                         */

static size_t
max_sz(size_t a, size_t b)
{
	return a > b ? a : b;
}

int
engine_ctx_new(struct engine_model *m, uint32_t n_ctx, struct engine_ctx **out,
    struct cl_err *err)
{
	const struct lfm2_hparams *hp = &m->hp;
	struct engine_ctx *c;
	size_t B = LFM2_MAX_BATCH, d = hp->n_embd, K, big, kvd, act, i;
	size_t qd = (size_t)hp->n_head * hp->head_dim;
	int nth = pool_size(m->pool);

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
	/* Largest activation row any matmul reads, for B*K rows. */
	act = m->kern->act_row_bytes(m->output.type, d);
	for (i = 0; i < hp->n_layer; i++) {
		const struct lfm2_layer *L = &m->layers[i];
		const struct lfm2_weight *ws[] = {
			&L->in_proj, &L->out_proj, &L->wq, &L->wk, &L->wv,
			&L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down,
			&L->router, &L->gate_exps, &L->up_exps, &L->down_exps
		};
		size_t j;

		for (j = 0; j < CL_ARRAY_LEN(ws); j++) {
			if (ws[j]->data != NULL)
				act = max_sz(act, m->kern->act_row_bytes(
				    ws[j]->type, (size_t)ws[j]->ne[0]));
		}
	}
	c->act_cap = act * B * K;

	if ((c->k_cache = cl_calloc(hp->n_layer, sizeof(float *))) == NULL ||
	    (c->v_cache = cl_calloc(hp->n_layer, sizeof(float *))) == NULL ||
	    (c->conv_state = cl_calloc(hp->n_layer, sizeof(float *))) ==
	    NULL ||
	    (c->x = cl_calloc(B * d, sizeof(float))) == NULL ||
	    (c->xn = cl_calloc(B * d, sizeof(float))) == NULL ||
	    (c->big = cl_calloc(B * big, sizeof(float))) == NULL ||
	    (c->mix = cl_calloc(B * max_sz(d, qd), sizeof(float))) == NULL ||
	    (c->out = cl_calloc(B * d, sizeof(float))) == NULL ||
	    (c->att_scores = cl_calloc((size_t)nth * n_ctx,
	    sizeof(float))) == NULL ||
	    (c->act = cl_malloc(c->act_cap)) == NULL)
		goto nomem;
	if (hp->n_expert > 0 &&
	    ((c->router = cl_calloc(B * hp->n_expert, sizeof(float))) ==
	    NULL ||
	    (c->sel = cl_calloc(B * K, sizeof(int32_t))) == NULL ||
	    (c->sel_w = cl_calloc(B * K, sizeof(float))) == NULL ||
	    (c->route_tok = cl_calloc(B * K, sizeof(int32_t))) == NULL ||
	    (c->route_w = cl_calloc(B * K, sizeof(float))) == NULL ||
	    (c->xs = cl_calloc(B * K * d, sizeof(float))) == NULL ||
	    (c->hs = cl_calloc(B * K * 2 * (size_t)hp->n_ff_exp,
	    sizeof(float))) == NULL ||
	    (c->ys = cl_calloc(B * K * d, sizeof(float))) == NULL))
		goto nomem;
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
	cl_free(c->act);
	cl_free(c->router);
	cl_free(c->sel);
	cl_free(c->sel_w);
	cl_free(c->route_tok);
	cl_free(c->route_w);
	cl_free(c->xs);
	cl_free(c->hs);
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

struct mm_job {
	const struct kern_ops	*kern;
	uint32_t		 type;
	const uint8_t		*w;		/* first row */
	size_t			 row_bytes;
	size_t			 n;		/* row length */
	size_t			 rows;
	const void		*act;
	size_t			 n_tok;
	float			*y;
	size_t			 ldy;
};

static void
mm_worker(void *arg, int ith, int nth)
{
	const struct mm_job *j = arg;
	size_t lo, hi;

	pool_split(j->rows, ith, nth, &lo, &hi);
	if (lo < hi)
		j->kern->matmul(j->type, j->w, j->row_bytes, j->n, j->act,
		    j->n_tok, j->y, j->ldy, lo, hi);
}

/*
 * y (n_tok, ldy) = W[slab] (rows, n) @ x (n_tok, n): y[t*ldy + r] =
 * dot(row r of slab `slab` of w, x[t]).
 */
static void
matmul(struct engine_ctx *c, const struct lfm2_weight *w, size_t slab,
    const float *x, size_t n_tok, float *y, size_t ldy)
{
	const struct kern_ops *k = c->m->kern;
	size_t n = (size_t)w->ne[0], ab = k->act_row_bytes(w->type, n), t;
	struct mm_job j;

	if (ab * n_tok > c->act_cap)
		CL_BUG("activation scratch too small");
	for (t = 0; t < n_tok; t++)
		k->act_prepare(w->type, x + t * n, (char *)c->act + t * ab, n);
	j.kern = k;
	j.type = w->type;
	j.w = w->data + slab * w->slab_bytes;
	j.row_bytes = w->row_bytes;
	j.n = n;
	j.rows = (size_t)w->ne[1];
	j.act = c->act;
	j.n_tok = n_tok;
	j.y = y;
	j.ldy = ldy;
	pool_run(c->m->pool, mm_worker, &j);
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

/* NEOX RoPE on one head of dh values at position pos (lfm2-spec 5.5). */
static void
rope(float *x, size_t dh, uint32_t pos, const double *inv_freq)
{
	size_t i, half = dh / 2;
	double th, cs, sn, x0, x1;

	for (i = 0; i < half; i++) {
		th = (double)pos * inv_freq[i];
		cs = cos(th);
		sn = sin(th);
		x0 = x[i];
		x1 = x[i + half];
		x[i] = (float)(x0 * cs - x1 * sn);
		x[i + half] = (float)(x0 * sn + x1 * cs);
	}
}

static float
silu(float x)
{
	return x / (1.0f + expf(-x));
}

/* ------------------------------------------------------------------ */
/* 3. mixers                                                           */

/*
 * Gated short convolution (lfm2-spec 5.3):
 *   B, C, x = in_proj(a).chunk(3)
 *   u = B * x;  v = causal depthwise conv over time of u (L taps);
 *   y = C * v;  o = out_proj(y)
 * The conv state holds the last L-1 values of u per channel, oldest first.
 */
static void
shortconv(struct engine_ctx *c, const struct lfm2_layer *L, float *S,
    size_t T)
{
	const struct lfm2_hparams *hp = &c->m->hp;
	size_t d = hp->n_embd, Lc = hp->l_cache, t, ch, k;
	float *z = c->big, *y = c->mix;

	matmul(c, &L->in_proj, 0, c->xn, T, z, 3 * d);
	for (t = 0; t < T; t++) {
		const float *Bv = z + t * 3 * d, *Cv = Bv + d, *Xv = Bv + 2 * d;
		float *yt = y + t * d;

		for (ch = 0; ch < d; ch++) {
			const float *kw = L->conv + ch * Lc;
			float u = Bv[ch] * Xv[ch], v;

			v = kw[Lc - 1] * u;
			if (Lc > 1) {
				float *s = S + ch * (Lc - 1);

				for (k = 0; k < Lc - 1; k++)
					v += kw[k] * s[k];
				for (k = 0; k + 1 < Lc - 1; k++)
					s[k] = s[k + 1];
				s[Lc - 2] = u;
			}
			yt[ch] = Cv[ch] * v;
		}
	}
	matmul(c, &L->out_proj, 0, y, T, c->out, d);
}

struct att_job {
	struct engine_ctx	*c;
	const struct lfm2_layer	*L;
	const float		*q;	/* (T, H*Dh) */
	const float		*kc;	/* cache (n_ctx, kvd) */
	const float		*vc;
	float			*o;	/* (T, H*Dh) */
	size_t			 T;
	uint32_t		 pos0;
};

/* Softmax attention for the (token, head) pairs of this thread. */
static void
att_worker(void *arg, int ith, int nth)
{
	const struct att_job *j = arg;
	const struct lfm2_hparams *hp = &j->c->m->hp;
	size_t H = hp->n_head, dh = hp->head_dim, Hkv = j->L->n_head_kv;
	size_t kvd = Hkv * dh, group = H / Hkv, lo, hi, p, t, h, g, i, s;
	float *sc = j->c->att_scores + (size_t)ith * j->c->n_ctx;
	const float scale = 1.0f / sqrtf((float)dh);

	pool_split(j->T * H, ith, nth, &lo, &hi);
	for (p = lo; p < hi; p++) {
		const float *qh;
		float *oh, mx, sum;
		size_t n_pos;

		t = p / H;
		h = p % H;
		g = h / group;
		qh = j->q + t * H * dh + h * dh;
		oh = j->o + t * H * dh + h * dh;
		n_pos = (size_t)j->pos0 + t + 1;	/* causal */
		mx = -INFINITY;
		for (s = 0; s < n_pos; s++) {
			const float *kh = j->kc + s * kvd + g * dh;
			float dot = 0;

			for (i = 0; i < dh; i++)
				dot += qh[i] * kh[i];
			sc[s] = dot * scale;
			if (sc[s] > mx)
				mx = sc[s];
		}
		sum = 0;
		for (s = 0; s < n_pos; s++) {
			sc[s] = expf(sc[s] - mx);
			sum += sc[s];
		}
		for (i = 0; i < dh; i++)
			oh[i] = 0;
		for (s = 0; s < n_pos; s++) {
			const float *vh = j->vc + s * kvd + g * dh;
			float w = sc[s] / sum;

			for (i = 0; i < dh; i++)
				oh[i] += w * vh[i];
		}
	}
}

/*
 * GQA attention with per-head QK RMSNorm and NEOX RoPE (lfm2-spec 5.4):
 *   q, k, v = Wq a, Wk a, Wv a;  q_h = rope(norm(q_h)); k_g = rope(norm(k_g))
 *   append k, v to the cache; o_h = softmax(q_h . K_g / sqrt(Dh)) V_g
 *   o = Wo concat(o_h)
 */
static void
attention(struct engine_ctx *c, const struct lfm2_layer *L, uint32_t il,
    size_t T, uint32_t pos0)
{
	const struct engine_model *m = c->m;
	const struct lfm2_hparams *hp = &m->hp;
	size_t H = hp->n_head, dh = hp->head_dim, Hkv = L->n_head_kv;
	size_t qd = H * dh, kvd = Hkv * dh, d = hp->n_embd, t, h;
	float *q = c->big, *k = q + T * qd, *v = k + T * kvd;
	float *kc = c->k_cache[il], *vc = c->v_cache[il];
	struct att_job j;

	matmul(c, &L->wq, 0, c->xn, T, q, qd);
	matmul(c, &L->wk, 0, c->xn, T, k, kvd);
	matmul(c, &L->wv, 0, c->xn, T, v, kvd);
	for (t = 0; t < T; t++) {
		uint32_t pos = pos0 + (uint32_t)t;

		for (h = 0; h < H; h++) {
			float *qh = q + t * qd + h * dh;

			rmsnorm(qh, qh, L->q_norm, dh, hp->rms_eps);
			rope(qh, dh, pos, m->rope_inv_freq);
		}
		for (h = 0; h < Hkv; h++) {
			float *kh = k + t * kvd + h * dh;

			rmsnorm(kh, kh, L->k_norm, dh, hp->rms_eps);
			rope(kh, dh, pos, m->rope_inv_freq);
		}
		memcpy(kc + (size_t)pos * kvd, k + t * kvd,
		    kvd * sizeof(float));
		memcpy(vc + (size_t)pos * kvd, v + t * kvd,
		    kvd * sizeof(float));
	}
	j.c = c;
	j.L = L;
	j.q = q;
	j.kc = kc;
	j.vc = vc;
	j.o = c->mix;
	j.T = T;
	j.pos0 = pos0;
	pool_run(m->pool, att_worker, &j);
	matmul(c, &L->wo, 0, c->mix, T, c->out, d);
}

/* ------------------------------------------------------------------ */
/* 4. feed-forward                                                     */

/* g = W_down (silu(W_gate f) * (W_up f))  (lfm2-spec 5.6) */
static void
dense_ffn(struct engine_ctx *c, const struct lfm2_layer *L, size_t T)
{
	size_t ff = L->n_ff, d = c->m->hp.n_embd, i;
	float *g = c->big, *u = g + T * ff;

	matmul(c, &L->ffn_gate, 0, c->xn, T, g, ff);
	matmul(c, &L->ffn_up, 0, c->xn, T, u, ff);
	for (i = 0; i < T * ff; i++)
		g[i] = silu(g[i]) * u[i];
	matmul(c, &L->ffn_down, 0, g, T, c->out, d);
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
 * Mixture of experts: g = sum over chosen e of w_e * Expert_e(f).  The
 * chunk's tokens are grouped by expert so each expert's weights are read
 * once per chunk; experts no token chose are never touched.
 */
static void
moe_ffn(struct engine_ctx *c, const struct lfm2_layer *L, size_t T)
{
	const struct lfm2_hparams *hp = &c->m->hp;
	size_t E = hp->n_expert, K = hp->n_expert_used, d = hp->n_embd;
	size_t f = hp->n_ff_exp, t, k, e, i, n_m;
	float *hg, *hu;

	matmul(c, &L->router, 0, c->xn, T, c->router, E);
	for (t = 0; t < T; t++)
		route(hp, c->router + t * E, L->exp_bias, c->sel + t * K,
		    c->sel_w + t * K);
	memset(c->out, 0, T * d * sizeof(float));
	for (e = 0; e < E; e++) {
		n_m = 0;
		for (t = 0; t < T; t++) {
			for (k = 0; k < K; k++) {
				if (c->sel[t * K + k] != (int32_t)e)
					continue;
				c->route_tok[n_m] = (int32_t)t;
				c->route_w[n_m] = c->sel_w[t * K + k];
				memcpy(c->xs + n_m * d, c->xn + t * d,
				    d * sizeof(float));
				n_m++;
			}
		}
		if (n_m == 0)
			continue;
		hg = c->hs;
		hu = c->hs + n_m * f;
		matmul(c, &L->gate_exps, e, c->xs, n_m, hg, f);
		matmul(c, &L->up_exps, e, c->xs, n_m, hu, f);
		for (i = 0; i < n_m * f; i++)
			hg[i] = silu(hg[i]) * hu[i];
		matmul(c, &L->down_exps, e, hg, n_m, c->ys, d);
		for (i = 0; i < n_m; i++) {
			float *o = c->out + (size_t)c->route_tok[i] * d;
			const float *yv = c->ys + i * d;
			float w = c->route_w[i];
			size_t j;

			for (j = 0; j < d; j++)
				o[j] += w * yv[j];
		}
	}
}

/* ------------------------------------------------------------------ */
/* 5. the model                                                        */

/*
 * One chunk of T <= LFM2_MAX_BATCH tokens at positions c->pos.. (lfm2-spec
 * 5.1).  Writes logits for every token (all_logits) or the last one.
 */
static void
forward_chunk(struct engine_ctx *c, const int32_t *tokens, size_t T,
    float *logits, bool all_logits)
{
	struct engine_model *m = c->m;
	const struct lfm2_hparams *hp = &m->hp;
	size_t d = hp->n_embd, t, i;
	uint32_t il;

	/* h = token_embd[token]: no scaling, no input norm. */
	for (t = 0; t < T; t++)
		quant_dequantize_row(m->tok_embd.type, m->tok_embd.data +
		    (size_t)tokens[t] * m->tok_embd.row_bytes, c->x + t * d, d);

	for (il = 0; il < hp->n_layer; il++) {
		const struct lfm2_layer *L = &m->layers[il];

		for (t = 0; t < T; t++)
			rmsnorm(c->xn + t * d, c->x + t * d, L->attn_norm, d,
			    hp->rms_eps);
		if (L->is_attn)
			attention(c, L, il, T, c->pos);
		else
			shortconv(c, L, c->conv_state[il], T);
		for (i = 0; i < T * d; i++)
			c->x[i] += c->out[i];

		for (t = 0; t < T; t++)
			rmsnorm(c->xn + t * d, c->x + t * d, L->ffn_norm, d,
			    hp->rms_eps);
		if (L->is_moe)
			moe_ffn(c, L, T);
		else
			dense_ffn(c, L, T);
		for (i = 0; i < T * d; i++)
			c->x[i] += c->out[i];
	}
	c->pos += (uint32_t)T;
	if (logits == NULL)
		return;

	/* z = RMSNorm(h, final norm); logits = W_out z (tied or not). */
	if (all_logits) {
		for (t = 0; t < T; t++)
			rmsnorm(c->xn + t * d, c->x + t * d, m->output_norm, d,
			    hp->rms_eps);
		matmul(c, &m->output, 0, c->xn, T, logits, hp->n_vocab);
	} else {
		rmsnorm(c->xn, c->x + (T - 1) * d, m->output_norm, d,
		    hp->rms_eps);
		matmul(c, &m->output, 0, c->xn, 1, logits, hp->n_vocab);
	}
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
