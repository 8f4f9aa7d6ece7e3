/*
 * vocab_synth.c - a synthetic LFM2-style BPE vocabulary (see
 * vocab_synth.h).
 *
 * Divisions:
 *   1. The built-in corpus
 *   2. A string table (token text -> id) and the id allocator
 *   3. BPE training on the corpus
 *   4. Filling up with synthetic merges
 *   5. The public entry points
 *
 * Training is the textbook loop: count adjacent pairs over the distinct
 * pre-tokens (weighted by frequency), merge the most frequent, repeat.
 * Each round is linear in the corpus, which is why the corpus is capped
 * at VOCAB_SYNTH_MAX_CORPUS; the models this serves are synthetic.
 */
#include "config.h"

#include <string.h>

#include "engine/tokenizer.h"
#include "engine/vocab_synth.h"
#include "util/util.h"

/* ------------------------------------------------------------------ */
/* 1. The built-in corpus                                              */
/* ------------------------------------------------------------------ */

const char vocab_synth_corpus[] =
"Cloister is a private assistant that runs a small language model on the\n"
"computer in front of you. Nothing you type leaves the machine: there is no\n"
"network, no account and no cloud. The model runs inside a jailed process\n"
"that can read its model file and talk to one socket, and nothing else.\n"
"\n"
"Why does that matter? Families share one computer. Therapists take notes\n"
"about people who trusted them. Legal teams read documents they're not\n"
"allowed to send anywhere. Each of them wants the help of a model, but\n"
"none of them can hand their words to a stranger's server. Cloister's\n"
"answer is simple: keep the model local, keep it locked up, and keep a\n"
"record that nobody can quietly rewrite.\n"
"\n"
"The broker is the trusted half. It reads your question, checks it against\n"
"the policy the administrator sealed, and passes it to the engine. The\n"
"engine turns text into tokens, runs the network one token at a time, and\n"
"sends the tokens back. The broker checks the answer again before you see\n"
"it. If the engine misbehaves, the broker stops it; it doesn't argue.\n"
"\n"
"Tokens are pieces of text. A word like \"the\" is one token; a rarer word\n"
"such as \"tamper-evident\" may be four or five. Numbers are split into\n"
"groups of at most 3 digits, so 2024 becomes 202 and 4, and 1000000 becomes\n"
"100, 000 and 0. Spaces usually stick to the word that follows them. We'll\n"
"see why: it makes \" hello\" and \"hello\" different tokens, and the model\n"
"learns that one starts a word in the middle of a sentence.\n"
"\n"
"The audit log is optional. When it is on, every question and answer is\n"
"sealed with a key that only the administrator holds, and each entry\n"
"carries the hash of the one before it. Removing or changing an entry\n"
"breaks the chain, and the next check says so. I'd rather have a log that\n"
"can't lie than one that's merely hard to read.\n"
"\n"
"Settings are few on purpose. The temperature is 0.3, min_p is 0.15 and\n"
"the repetition penalty is 1.05. The context holds 4096 tokens by default;\n"
"longer conversations drop their oldest turns first. You'll find every\n"
"option in the manual, with an example for each one.\n"
"\n"
"How fast is it? On a laptop from a few years ago, the small model writes\n"
"about 20 to 40 tokens per second, which is faster than most people read.\n"
"The first answer takes longer, because the model file has to be mapped\n"
"and checked: every tensor's size, type and offset is verified before a\n"
"single weight is used. A damaged or hostile file is refused with a clear\n"
"message, never a crash.\n"
"\n"
"What won't it do? It won't browse the web, it won't run programs, and it\n"
"won't remember you between sessions unless you ask it to keep a history.\n"
"It is a careful, quiet helper for writing, summarising and thinking out\n"
"loud, and it stays in its room.\n";

/* ------------------------------------------------------------------ */
/* 2. String table and id allocator                                    */
/* ------------------------------------------------------------------ */

#define N_SPECIALS	14
#define BYTE_BASE	14
#define EXTRA_BASE	64394	/* the six extra specials when n == 65536 */

static const char *const specials[N_SPECIALS] = {
	"<|pad|>", "<|startoftext|>", "<|endoftext|>", "<|fim_pre|>",
	"<|fim_mid|>", "<|fim_suf|>", "<|im_start|>", "<|im_end|>",
	"<|tool_list_start|>", "<|tool_list_end|>", "<|tool_call_start|>",
	"<|tool_call_end|>", "<|tool_response_start|>",
	"<|tool_response_end|>",
};

static const char *const extra_specials[6] = {
	"<|cot_start|>", "<|cot_end|>", "<|review_start|>",
	"<|review_end|>", "<|file_start|>", "<|file_end|>",
};

struct builder {
	struct vocab_synth	*v;
	size_t			 n_vocab;
	size_t			 next;		/* next free id */
	int32_t			*ht;		/* ids by text; -1 empty */
	size_t			 ht_mask;
	uint64_t		*pairs;		/* merged pairs + 1; 0 empty */
	size_t			 pairs_mask;
	size_t			 cap_merges;
};

static uint64_t
hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 32);
}

static uint64_t
hash_u64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static size_t
table_size(size_t n)
{
	size_t s = 16;

	while (s < 2 * n)
		s *= 2;
	return s;
}

/* The slot of text s[0..n): holding its id, or the empty one for it. */
static size_t
ht_slot(const struct builder *b, const char *s, size_t n)
{
	size_t i = hash_bytes(s, n) & b->ht_mask;
	int32_t id;

	while ((id = b->ht[i]) >= 0) {
		if (b->v->token_lens[id] == n &&
		    memcmp(b->v->tokens[id], s, n) == 0)
			break;
		i = (i + 1) & b->ht_mask;
	}
	return i;
}

static int32_t
find_text(const struct builder *b, const char *s, size_t n)
{
	return b->ht[ht_slot(b, s, n)];
}

/* Store a copy of s[0..n) as token `id`.  The text must be new. */
static int
put_token(struct builder *b, size_t id, const char *s, size_t n,
    int32_t type)
{
	struct vocab_synth *v = b->v;
	size_t slot = ht_slot(b, s, n);

	if ((v->tokens[id] = cl_malloc(n + 1)) == NULL)
		return CL_ENOMEM;
	memcpy(v->tokens[id], s, n);
	v->tokens[id][n] = '\0';
	v->token_lens[id] = n;
	v->token_types[id] = type;
	b->ht[slot] = (int32_t)id;
	return CL_OK;
}

/* Room for more NORMAL tokens? */
static bool
full(const struct builder *b)
{
	return b->next >= b->n_vocab;
}

/* Add a new NORMAL token at the next free id (the caller checked room). */
static int
add_token(struct builder *b, const char *s, size_t n, int32_t *id)
{
	int r;

	if ((r = put_token(b, b->next, s, n, TOK_TYPE_NORMAL)) != CL_OK)
		return r;
	*id = (int32_t)b->next++;
	if (b->n_vocab == 65536 && b->next == EXTRA_BASE)
		b->next = EXTRA_BASE + 6;
	return CL_OK;
}

/* Was the pair (a, b) already recorded as a merge?  Then true. */
static bool
pair_seen(struct builder *b, int32_t x, int32_t y, bool insert)
{
	uint64_t key = ((uint64_t)(uint32_t)x << 32 | (uint32_t)y) + 1;
	size_t i = hash_u64(key) & b->pairs_mask;

	while (b->pairs[i] != 0) {
		if (b->pairs[i] == key)
			return true;
		i = (i + 1) & b->pairs_mask;
	}
	if (insert)
		b->pairs[i] = key;
	return false;
}

/*
 * Record merge (x, y) -> text(x)text(y), adding the result token if it
 * is new.  *res gets the result id.  The caller checked that the text is
 * at most TOK_MAX_TOKEN_LEN bytes and, for a new token, that there is
 * room.
 */
static int
add_merge(struct builder *b, int32_t x, int32_t y, int32_t *res)
{
	struct vocab_synth *v = b->v;
	size_t lx = v->token_lens[x], ly = v->token_lens[y], c;
	char buf[2 * TOK_MAX_TOKEN_LEN + 1];
	char **nm;
	size_t *nl;
	int r;

	memcpy(buf, v->tokens[x], lx);
	memcpy(buf + lx, v->tokens[y], ly);
	if ((*res = find_text(b, buf, lx + ly)) < 0 &&
	    (r = add_token(b, buf, lx + ly, res)) != CL_OK)
		return r;
	if (pair_seen(b, x, y, false))
		return CL_OK;
	if (v->n_merges == b->cap_merges) {
		c = b->cap_merges < 256 ? 256 : 2 * b->cap_merges;
		if ((nm = cl_realloc(v->merges, c * sizeof(*nm))) == NULL)
			return CL_ENOMEM;
		v->merges = nm;
		if ((nl = cl_realloc(v->merge_lens, c * sizeof(*nl))) == NULL)
			return CL_ENOMEM;
		v->merge_lens = nl;
		b->cap_merges = c;
	}
	if ((v->merges[v->n_merges] = cl_malloc(lx + ly + 2)) == NULL)
		return CL_ENOMEM;
	memcpy(v->merges[v->n_merges], v->tokens[x], lx);
	v->merges[v->n_merges][lx] = ' ';
	memcpy(v->merges[v->n_merges] + lx + 1, v->tokens[y], ly);
	v->merges[v->n_merges][lx + ly + 1] = '\0';
	v->merge_lens[v->n_merges++] = lx + ly + 1;
	pair_seen(b, x, y, true);
	return CL_OK;
}

/* The byte-mapped text of raw[0..n) into out (at least 2n bytes). */
static size_t
map_bytes(const char *raw, size_t n, char *out)
{
	size_t i, o = 0;
	uint32_t cp;

	for (i = 0; i < n; i++) {
		cp = tokenizer_byte_to_cp((uint8_t)raw[i]);
		if (cp < 0x80)
			out[o++] = (char)cp;
		else {
			out[o++] = (char)(0xC0 | (cp >> 6));
			out[o++] = (char)(0x80 | (cp & 0x3F));
		}
	}
	return o;
}

/* ------------------------------------------------------------------ */
/* 3. BPE training                                                     */
/* ------------------------------------------------------------------ */

struct word {
	size_t		off;	/* first symbol in train.sym */
	uint32_t	n;	/* symbols now */
	uint32_t	freq;	/* occurrences in the corpus */
	size_t		raw;	/* byte offset of the text in the corpus */
	size_t		raw_len;
};

struct pslot {
	uint64_t	key;	/* a << 32 | b */
	uint64_t	count;
	uint32_t	gen;	/* round the count belongs to */
};

struct train {
	struct builder	*b;
	const char	*corpus;
	struct word	*words;
	size_t		 n_words;
	int32_t		*sym;		/* corpus_len symbols at most */
	size_t		 n_sym;
	size_t		*wht;		/* word index + 1 by text; 0 empty */
	size_t		 wht_mask;
	struct pslot	*pt;
	size_t		 pt_mask;
};

static int
collect_word(void *arg, size_t off, size_t n)
{
	struct train *tr = arg;
	const char *s = tr->corpus + off;
	struct word *w;
	size_t i, k;

	i = hash_bytes(s, n) & tr->wht_mask;
	while ((k = tr->wht[i]) != 0) {
		w = &tr->words[k - 1];
		if (w->raw_len == n && memcmp(tr->corpus + w->raw, s, n) == 0) {
			if (w->freq < UINT32_MAX)
				w->freq++;
			return 0;
		}
		i = (i + 1) & tr->wht_mask;
	}
	w = &tr->words[tr->n_words];
	tr->wht[i] = ++tr->n_words;
	w->off = tr->n_sym;
	w->n = (uint32_t)n;
	w->freq = 1;
	w->raw = off;
	w->raw_len = n;
	for (k = 0; k < n; k++)
		tr->sym[tr->n_sym++] = BYTE_BASE + (unsigned char)s[k];
	return 0;
}

/* Count one pair; keep *best the most frequent (then smallest key). */
static void
count_pair(struct train *tr, uint64_t key, uint32_t freq, uint32_t gen,
    struct pslot **best)
{
	size_t i = hash_u64(key) & tr->pt_mask;
	struct pslot *p;

	for (;;) {
		p = &tr->pt[i];
		if (p->gen != gen) {
			p->key = key;
			p->count = 0;
			p->gen = gen;
			break;
		}
		if (p->key == key)
			break;
		i = (i + 1) & tr->pt_mask;
	}
	p->count += freq;
	if (*best == NULL || p->count > (*best)->count ||
	    (p->count == (*best)->count && p->key < (*best)->key))
		*best = p;
}

static int
train_corpus(struct builder *b, const char *corpus, size_t len)
{
	struct vocab_synth *v = b->v;
	struct train tr;
	struct pslot *best;
	uint32_t gen = 0;
	size_t w, i, o;
	int32_t x, y, res, *s;
	int r = CL_ENOMEM;

	memset(&tr, 0, sizeof(tr));
	if (len == 0)
		return CL_OK;
	tr.b = b;
	tr.corpus = corpus;
	tr.wht_mask = table_size(len) - 1;
	tr.pt_mask = table_size(len) - 1;
	if ((tr.words = cl_calloc(len, sizeof(*tr.words))) == NULL ||
	    (tr.sym = cl_calloc(len, sizeof(*tr.sym))) == NULL ||
	    (tr.wht = cl_calloc(tr.wht_mask + 1, sizeof(*tr.wht))) == NULL ||
	    (tr.pt = cl_calloc(tr.pt_mask + 1, sizeof(*tr.pt))) == NULL)
		goto out;
	(void)tokenizer_pretokenize(corpus, len, collect_word, &tr);

	while (!full(b)) {
		best = NULL;
		gen++;
		for (w = 0; w < tr.n_words; w++) {
			s = tr.sym + tr.words[w].off;
			for (i = 0; i + 1 < tr.words[w].n; i++) {
				if (v->token_lens[s[i]] +
				    v->token_lens[s[i + 1]] >
				    VOCAB_SYNTH_MAX_MERGED)
					continue;
				count_pair(&tr, (uint64_t)(uint32_t)s[i] << 32 |
				    (uint32_t)s[i + 1], tr.words[w].freq, gen,
				    &best);
			}
		}
		if (best == NULL || best->count < 2)
			break;
		x = (int32_t)(best->key >> 32);
		y = (int32_t)(best->key & 0xffffffffu);
		if ((r = add_merge(b, x, y, &res)) != CL_OK)
			goto out;
		/* Replace (x, y) left to right in every word. */
		for (w = 0; w < tr.n_words; w++) {
			s = tr.sym + tr.words[w].off;
			for (i = 0, o = 0; i < tr.words[w].n; o++) {
				if (i + 1 < tr.words[w].n && s[i] == x &&
				    s[i + 1] == y) {
					s[o] = res;
					i += 2;
				} else
					s[o] = s[i++];
			}
			tr.words[w].n = (uint32_t)o;
		}
	}
	r = CL_OK;
out:
	cl_free(tr.words);
	cl_free(tr.sym);
	cl_free(tr.wht);
	cl_free(tr.pt);
	return r;
}

/* ------------------------------------------------------------------ */
/* 4. Filling up                                                       */
/* ------------------------------------------------------------------ */

/*
 * Merge every NORMAL token, in id order (new ones included, so this is
 * breadth first), with each lowercase letter, skipping texts that exist.
 */
static int
fill(struct builder *b)
{
	struct vocab_synth *v = b->v;
	size_t a;
	int32_t res;
	char buf[TOK_MAX_TOKEN_LEN + 1];
	unsigned c;
	int r;

	for (a = BYTE_BASE; !full(b) && a < b->next; a++) {
		if (v->token_types[a] != TOK_TYPE_NORMAL ||
		    v->token_lens[a] + 1 > TOK_MAX_TOKEN_LEN)
			continue;
		for (c = 'a'; c <= 'z' && !full(b); c++) {
			memcpy(buf, v->tokens[a], v->token_lens[a]);
			buf[v->token_lens[a]] = (char)c;
			if (find_text(b, buf, v->token_lens[a] + 1) >= 0)
				continue;
			if ((r = add_merge(b, (int32_t)a,
			    (int32_t)(BYTE_BASE + c), &res)) != CL_OK)
				return r;
		}
	}
	return CL_OK;
}

/* ------------------------------------------------------------------ */
/* 5. Entry points                                                     */
/* ------------------------------------------------------------------ */

void
vocab_synth_free(struct vocab_synth *v)
{
	size_t i;

	if (v == NULL)
		return;
	if (v->tokens != NULL) {
		for (i = 0; i < v->n_tokens; i++)
			cl_free(v->tokens[i]);
	}
	for (i = 0; i < v->n_merges; i++)
		cl_free(v->merges[i]);
	cl_free(v->tokens);
	cl_free(v->token_lens);
	cl_free(v->token_types);
	cl_free(v->merges);
	cl_free(v->merge_lens);
	cl_free(v);
}

void
vocab_synth_src(const struct vocab_synth *v, struct tok_vocab_src *src)
{
	memset(src, 0, sizeof(*src));
	src->n_tokens = v->n_tokens;
	src->tokens = (const char *const *)v->tokens;
	src->token_lens = v->token_lens;
	src->token_types = v->token_types;
	src->n_merges = v->n_merges;
	src->merges = (const char *const *)v->merges;
	src->merge_lens = v->merge_lens;
	src->bos_id = v->bos_id;
	src->eos_id = v->eos_id;
	src->add_bos = true;
}

static int
count_piece(void *arg, size_t off, size_t n)
{
	(void)off;
	(void)n;
	return ++*(size_t *)arg > 1;
}

int
vocab_synth_build_ex(size_t n_vocab, const char *corpus, size_t corpus_len,
    const char *const *required, const size_t *required_lens,
    size_t n_required, struct vocab_synth **out, struct cl_err *err)
{
	struct builder b;
	struct vocab_synth *v = NULL;
	char buf[TOK_MAX_TOKEN_LEN];
	size_t i, n, pieces;
	int32_t id;
	int r = CL_ENOMEM;

	*out = NULL;
	memset(&b, 0, sizeof(b));
	if (n_vocab < VOCAB_SYNTH_MIN || n_vocab > VOCAB_SYNTH_MAX)
		return cl_errf(err, CL_EINVAL,
		    "vocabulary size %zu outside %u..%u", n_vocab,
		    VOCAB_SYNTH_MIN, VOCAB_SYNTH_MAX);
	if (corpus == NULL) {
		corpus = vocab_synth_corpus;
		corpus_len = strlen(vocab_synth_corpus);
	}
	if (corpus_len > VOCAB_SYNTH_MAX_CORPUS)
		return cl_errf(err, CL_ELIMIT,
		    "corpus of %zu bytes is over the %u byte limit", corpus_len,
		    VOCAB_SYNTH_MAX_CORPUS);
	if (n_required > 0 && (required == NULL || required_lens == NULL))
		return cl_errf(err, CL_EINVAL, "required pieces missing");
	for (i = 0; i < n_required; i++) {
		pieces = 0;
		if (required_lens[i] == 0 || required[i] == NULL ||
		    2 * required_lens[i] > TOK_MAX_TOKEN_LEN ||
		    tokenizer_pretokenize(required[i], required_lens[i],
		    count_piece, &pieces) != 0)
			return cl_errf(err, CL_EINVAL,
			    "required piece %zu is not a single pre-token of "
			    "at most %u bytes", i, TOK_MAX_TOKEN_LEN / 2);
	}

	if ((v = cl_calloc(1, sizeof(*v))) == NULL ||
	    (v->tokens = cl_calloc(n_vocab, sizeof(*v->tokens))) == NULL ||
	    (v->token_lens = cl_calloc(n_vocab, sizeof(*v->token_lens))) ==
	    NULL ||
	    (v->token_types = cl_calloc(n_vocab, sizeof(*v->token_types))) ==
	    NULL)
		goto out;
	v->n_tokens = n_vocab;
	v->pad_id = 0;
	v->bos_id = 1;
	v->eos_id = 7;
	b.v = v;
	b.n_vocab = n_vocab;
	b.ht_mask = table_size(n_vocab) - 1;
	b.pairs_mask = table_size(n_vocab) - 1;
	if ((b.ht = cl_malloc((b.ht_mask + 1) * sizeof(*b.ht))) == NULL ||
	    (b.pairs = cl_calloc(b.pairs_mask + 1, sizeof(*b.pairs))) == NULL)
		goto out;
	memset(b.ht, 0xff, (b.ht_mask + 1) * sizeof(*b.ht));

	for (i = 0; i < N_SPECIALS; i++) {
		if ((r = put_token(&b, i, specials[i], strlen(specials[i]),
		    TOK_TYPE_CONTROL)) != CL_OK)
			goto out;
	}
	if (n_vocab == 65536) {
		for (i = 0; i < 6; i++) {
			if ((r = put_token(&b, EXTRA_BASE + i,
			    extra_specials[i], strlen(extra_specials[i]),
			    TOK_TYPE_CONTROL)) != CL_OK)
				goto out;
		}
	}
	for (i = 0; i < 256; i++) {
		buf[0] = (char)i;
		n = map_bytes(buf, 1, buf + 1);
		if ((r = put_token(&b, BYTE_BASE + i, buf + 1, n,
		    TOK_TYPE_NORMAL)) != CL_OK)
			goto out;
	}
	b.next = BYTE_BASE + 256;

	for (i = 0; i < n_required; i++) {
		n = map_bytes(required[i], required_lens[i], buf);
		if (find_text(&b, buf, n) >= 0)
			continue;
		if (full(&b)) {
			r = cl_errf(err, CL_ELIMIT, "no room for required "
			    "piece %zu in %zu tokens", i, n_vocab);
			goto out_err;
		}
		if ((r = add_token(&b, buf, n, &id)) != CL_OK)
			goto out;
	}
	if ((r = train_corpus(&b, corpus, corpus_len)) != CL_OK ||
	    (r = fill(&b)) != CL_OK)
		goto out;
	if (!full(&b)) {
		r = cl_errf(err, CL_EINTERNAL, "vocabulary stopped at %zu of "
		    "%zu tokens", b.next, n_vocab);
		goto out_err;
	}
	*out = v;
	v = NULL;
	r = CL_OK;
out:
	if (r == CL_ENOMEM)
		cl_errf(err, r, "out of memory building %zu tokens", n_vocab);
out_err:
	cl_free(b.ht);
	cl_free(b.pairs);
	vocab_synth_free(v);
	return r;
}

int
vocab_synth_build(size_t n_vocab, const char *corpus, size_t corpus_len,
    struct vocab_synth **out, struct cl_err *err)
{
	return vocab_synth_build_ex(n_vocab, corpus, corpus_len, NULL, NULL,
	    0, out, err);
}
