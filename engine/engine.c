/* This file implements the engine of engine.h: sequence lifecycle, the
 * batch assembly of one continuous-batching step, sampling, and the text
 * pipeline (token pieces -> UTF-8 validation -> stop strings -> emit). */
#include "engine/engine.h"
#include "engine/clock.h"
#include "engine/quant.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct engine {
    model *m;
    pool *p;
    fwd *f;
    kv_cache kv;
    int ctx, max_batch;
    int prefill_chunk;       /* prompt tokens per step while others decode */
    /* batch assembly buffers, (max_batch) each */
    int *tok, *pos, *out_row;
    kv_seq **bseq;
    seq **owner;             /* the sequence of each logits row */
    float *logits;           /* (max_batch, vocab) */
    uint64_t prefix_queries, prefix_hits;   /* prompt tokens looked up / found */
};

int64_t engine_now_ns(void) { return clock_mono_ns(); }

void gen_params_default(gen_params *p) {
    memset(p, 0, sizeof *p);
    p->max_tokens = 256;
    p->temperature = 0.0f;
    p->top_p = 1.0f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->priority = PRIO_NORMAL;
    p->cache = GEN_CACHE_ON;
}

void engine_free(engine *e) {
    if (!e) return;
    fwd_free(e->f);
    pool_free(e->p);
    kv_release(&e->kv);
    free(e->tok); free(e->pos); free(e->out_row); free(e->bseq); free(e->owner);
    free(e->logits);
    free(e);
}

int engine_ctx(const engine *e) { return e->ctx; }
kv_cache *engine_kv(engine *e) { return &e->kv; }

void engine_set_prefix_cache(engine *e, int on) { kv_enable_prefix(&e->kv, on); }
int engine_set_prefix_policy(engine *e, const char *name) { return kv_set_policy(&e->kv, name); }

void engine_set_prefill_chunk(engine *e, int tokens) {
    e->prefill_chunk = tokens < 1 ? 1 : tokens > e->max_batch ? e->max_batch : tokens;
}

void engine_prefix_stats(const engine *e, uint64_t *queries, uint64_t *hits) {
    *queries = e->prefix_queries;
    *hits = e->prefix_hits;
}

int engine_new(model *m, int n_threads, size_t kv_bytes, int max_batch_tokens, int ctx,
               engine **out, char *err, size_t errlen) {
    *out = NULL;
    engine *e = calloc(1, sizeof *e);
    if (!e) return -ENOMEM;
    e->m = m;
    e->ctx = ctx > 0 ? ctx : m->c.ctx;   /* longer than trained is the user's call */
    e->max_batch = max_batch_tokens > 0 ? max_batch_tokens : 256;
    e->prefill_chunk = e->max_batch;
    int kvd = m->c.n_kv_heads * m->c.head_dim;
    int rc = kv_init(&e->kv, m->c.n_layers, kvd, kv_bytes, e->ctx);
    if (rc) { snprintf(err, errlen, "cannot allocate the KV cache"); engine_free(e); return rc; }
    e->p = pool_new(n_threads);
    e->f = e->p ? fwd_new(m, e->p, e->max_batch, e->ctx) : NULL;
    size_t B = (size_t)e->max_batch;
    e->tok = malloc(B * sizeof(int));
    e->pos = malloc(B * sizeof(int));
    e->out_row = malloc(B * sizeof(int));
    e->bseq = malloc(B * sizeof(kv_seq *));
    e->owner = malloc(B * sizeof(seq *));
    e->logits = malloc(B * (size_t)m->c.vocab * sizeof(float));
    if (!e->p || !e->f || !e->tok || !e->pos || !e->out_row || !e->bseq || !e->owner ||
        !e->logits) {
        snprintf(err, errlen, "out of memory for the engine's buffers");
        engine_free(e);
        return -ENOMEM;
    }
    *out = e;
    return 0;
}

/* ----------------------------------------------------------- sequences */

int seq_new_tokens(engine *e, const int *ids, int n, const gen_params *p, seq_emit_fn emit,
                   void *ud, seq **out) {
    *out = NULL;
    if (n < 1) return -EINVAL;
    if (n > e->ctx) return -EFBIG;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= e->m->c.vocab) return -EINVAL;
    seq *s = calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    s->params = *p;
    s->cap = n + (p->max_tokens > 0 ? p->max_tokens : 0) + 1;
    if (s->cap > e->ctx + 1) s->cap = e->ctx + 1;
    s->tokens = malloc((size_t)s->cap * sizeof *s->tokens);
    int penalize = p->repeat_penalty != 1.0f && p->repeat_last_n > 0;
    if (penalize) s->recent = malloc((size_t)p->repeat_last_n * sizeof *s->recent);
    if (!s->tokens || (penalize && !s->recent) || sampler_init(&s->smp, p, e->m->c.vocab)) {
        seq_free(e, s);
        return -ENOMEM;
    }
    memcpy(s->tokens, ids, (size_t)n * sizeof *ids);
    s->n_tokens = s->n_prompt = n;
    s->state = SEQ_PREFILL;
    s->emit = emit;
    s->ud = ud;
    s->t_start_ns = engine_now_ns();
    if (p->max_tokens <= 0) { s->state = SEQ_DONE; s->finish = FINISH_LENGTH; }
    *out = s;
    return 0;
}

static int tokenize(engine *e, const char *text, size_t len, int add_bos, int special,
                    int **ids) {
    int cap = 256, *buf = NULL, n;
    *ids = NULL;
    for (;;) {
        int *t = realloc(buf, (size_t)cap * sizeof *buf);
        if (!t) { free(buf); return -ENOMEM; }
        buf = t;
        n = special ? tokenizer_encode_special(e->m->tok, text, len, add_bos, buf, cap)
                    : tokenizer_encode(e->m->tok, text, len, add_bos, buf, cap);
        if (n < 0 || n <= cap) break;
        if (n > e->ctx) { free(buf); return -EFBIG; }
        cap = n;
    }
    if (n < 0 || n > e->ctx) { free(buf); return n < 0 ? n : -EFBIG; }
    *ids = buf;
    return n;
}

int engine_tokenize(engine *e, const char *text, size_t len, int **ids) {
    return tokenize(e, text, len, 1, 0, ids);
}

int engine_tokenize_chat(engine *e, const char *text, size_t len, int first, int **ids) {
    return tokenize(e, text, len, first, 1, ids);
}

chat_format engine_chat_format(const engine *e, char *err, size_t errlen) {
    gguf_str s = {0};
    if (!e->m->g || gguf_get_str(e->m->g, "tokenizer.chat_template", &s)) s.len = 0;
    return chat_detect(s.ptr, (size_t)s.len, err, errlen);
}

int seq_new(engine *e, const char *text, size_t len, const gen_params *p, seq_emit_fn emit,
            void *ud, seq **out) {
    int *ids;
    int n = engine_tokenize(e, text, len, &ids);
    int rc = n < 0 ? n : seq_new_tokens(e, ids, n, p, emit, ud, out);
    free(ids);
    return rc;
}

void seq_free(engine *e, seq *s) {
    if (!s) return;
    kv_seq_release(&e->kv, &s->kv);
    sampler_release(&s->smp);
    free(s->tokens);
    free(s->recent);
    free(s->text);
    free(s);
}

/* ------------------------------------------------------------ text out */

/* Length of the longest suffix of text that is a proper prefix of a stop
 * string: those bytes must wait, they may yet become a stop. */
static size_t stop_holdback(const seq *s) {
    size_t hold = 0;
    for (int i = 0; i < s->params.n_stop; i++) {
        size_t sl = strlen(s->params.stop[i]);
        if (!sl) continue;
        for (size_t k = sl - 1; k > hold && k >= 1; k--)
            if (k <= s->text_len && !memcmp(s->text + s->text_len - k, s->params.stop[i], k)) {
                hold = k;
                break;
            }
    }
    return hold;
}

/* Cuts the text at the first complete stop string; returns 1 if found.
 * Only the region that was not yet emitted can hold a new match. */
static int stop_cut(seq *s, size_t from) {
    size_t best = (size_t)-1;
    for (int i = 0; i < s->params.n_stop; i++) {
        size_t sl = strlen(s->params.stop[i]);
        if (!sl || sl > s->text_len) continue;
        size_t start = from >= sl ? from - sl + 1 : 0;
        for (size_t at = start; at + sl <= s->text_len; at++)
            if (!memcmp(s->text + at, s->params.stop[i], sl)) {
                if (at < best) best = at;
                break;
            }
    }
    if (best == (size_t)-1) return 0;
    s->text_len = best;
    return 1;
}

static void flush_text(seq *s, int final) {
    size_t upto = final ? s->text_len : s->text_len - stop_holdback(s);
    if (upto > s->emitted) {
        if (s->emit) s->emit(s->ud, s->text + s->emitted, upto - s->emitted);
        s->emitted = upto;
    }
}

static void finish(seq *s, int why) {
    char tail[4];
    size_t n = utf8_finish(&s->u8, tail);
    if (n && s->text_len + n <= s->text_cap) {
        memcpy(s->text + s->text_len, tail, n);
        s->text_len += n;
    }
    s->state = SEQ_DONE;
    s->finish = why;
    s->t_done_ns = engine_now_ns();
    flush_text(s, 1);
}

/* Appends a generated token's text; returns 1 if a stop string ended it. */
static int add_text(seq *s, const tokenizer *tk, int prev, int id) {
    char piece[TOKENIZER_MAX_PIECE];
    int n = tokenizer_decode(tk, prev, id, piece, sizeof piece);
    if (n <= 0) return 0;
    size_t need = s->text_len + (size_t)n * 3 + 16;
    if (need > s->text_cap) {
        size_t cap = s->text_cap ? s->text_cap : 1024;
        while (cap < need) cap *= 2;
        char *t = realloc(s->text, cap);
        if (!t) return 0;
        s->text = t;
        s->text_cap = cap;
    }
    size_t from = s->text_len;
    s->text_len += utf8_feed(&s->u8, piece, (size_t)n, s->text + s->text_len);
    if (s->params.n_stop && stop_cut(s, from)) return 1;
    return 0;
}

/* Records a sampled token and decides whether the sequence goes on. */
static void accept_token(engine *e, seq *s, int id) {
    const tokenizer *tk = e->m->tok;
    if (!s->t_first_ns) s->t_first_ns = engine_now_ns();
    if (!s->params.ignore_eos && tokenizer_is_eog(tk, id)) { finish(s, FINISH_EOS); return; }
    int prev = s->tokens[s->n_tokens - 1];
    s->tokens[s->n_tokens++] = id;
    s->n_gen++;
    if (add_text(s, tk, prev, id)) finish(s, FINISH_STOP);
    else if (s->n_gen >= s->params.max_tokens) finish(s, FINISH_LENGTH);
    else if (s->n_tokens >= e->ctx || s->n_tokens >= s->cap) finish(s, FINISH_CONTEXT);
    else flush_text(s, 0);
    if (s->on_token)
        s->on_token(s->ud, s->n_gen, s->state == SEQ_DONE || !s->u8.n ? s->text_len : SEQ_NO_CUT);
}

void seq_cancel(engine *e, seq *s) {
    if (s->state != SEQ_DONE) {
        s->state = SEQ_DONE;
        s->finish = FINISH_ERROR;
        s->t_done_ns = engine_now_ns();
    }
    kv_seq_clear(&e->kv, &s->kv);
}

void engine_preempt(engine *e, seq *s) {
    kv_seq_clear(&e->kv, &s->kv);
    s->n_past = 0;
    if (s->state != SEQ_DONE) s->state = SEQ_PREFILL;
}

/* ---------------------------------------------------------------- step */

static int by_id(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* llama.cpp's repeat penalty: each distinct token among the sequence's
 * last repeat_last_n (prompt included) has its logit divided by the
 * penalty, or multiplied when negative.  It reads only the sequence's own
 * tokens, so a batch changes nothing. */
static void penalize_recent(seq *s, float *logits) {
    int n = s->params.repeat_last_n < s->n_tokens ? s->params.repeat_last_n : s->n_tokens;
    memcpy(s->recent, s->tokens + s->n_tokens - n, (size_t)n * sizeof *s->recent);
    qsort(s->recent, (size_t)n, sizeof *s->recent, by_id);
    float pen = s->params.repeat_penalty;
    for (int i = 0; i < n; i++) {
        if (i && s->recent[i] == s->recent[i - 1]) continue;
        float *l = &logits[s->recent[i]];
        *l = *l > 0 ? *l / pen : *l * pen;
    }
}

int engine_step(engine *e, seq **seqs, int n) {
    int nb = 0, nout = 0, nospace = 0, budget = e->max_batch;
    /* decode tokens first, so that running streams never wait on a
     * prefill; then prompt chunks in the budget that is left, which is
     * small while streams run, so that a long prompt slows each of their
     * steps by a bounded amount instead of freezing them */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && nb > 0 && nb + e->prefill_chunk < budget) budget = nb + e->prefill_chunk;
        for (int i = 0; i < n && nb < budget; i++) {
            seq *s = seqs[i];
            if (s->state == SEQ_DONE) continue;
            if ((pass == 0) != (s->state == SEQ_DECODE)) continue;
            int fresh = 0;   /* its blocks, if any, come from this step's match */
            if (s->n_past == 0 && s->kv.n_blocks == 0 && e->kv.prefix) {
                fresh = 1;
                /* reuse cached blocks of the same prefix; the last prompt
                 * token is always computed, it gives the first logits */
                s->n_past = kv_seq_match(&e->kv, &s->kv, s->tokens, s->n_tokens - 1);
                if (!s->prefix_looked) {
                    s->prefix_looked = 1;
                    s->n_cached = s->n_past;
                    e->prefix_queries += (uint64_t)s->n_prompt;
                    e->prefix_hits += (uint64_t)s->n_past;
                }
            }
            int left = s->n_tokens - s->n_past;
            int take = left < budget - nb ? left : budget - nb;
            if (take <= 0) continue;
            if (kv_seq_reserve(&e->kv, &s->kv, s->n_past + take)) {
                /* a sequence that cannot start holds nothing while it
                 * waits, or shared blocks it took could starve everyone */
                if (fresh) {
                    kv_seq_clear(&e->kv, &s->kv);
                    s->n_past = 0;
                }
                nospace = 1;
                continue;
            }
            for (int k = 0; k < take; k++) {
                e->tok[nb] = s->tokens[s->n_past + k];
                e->pos[nb] = s->n_past + k;
                e->bseq[nb] = &s->kv;
                e->out_row[nb] = -1;
                nb++;
            }
            s->n_past += take;
            if (s->n_past == s->n_tokens) {
                e->out_row[nb - 1] = nout;
                e->owner[nout++] = s;
            }
        }
    }
    if (!nb) return nospace ? -ENOSPC : 0;
    fwd_run(e->f, &e->kv, e->tok, e->pos, e->bseq, nb, e->out_row, e->logits);
    if (e->kv.prefix)
        for (int i = 0; i < n; i++)
            if (seqs[i]->state != SEQ_DONE)
                kv_seq_publish(&e->kv, &seqs[i]->kv, seqs[i]->tokens, seqs[i]->n_past);
    for (int r = 0; r < nout; r++) {
        seq *s = e->owner[r];
        if (s->state == SEQ_PREFILL) {
            s->state = SEQ_DECODE;
            if (!s->t_prefill_ns) s->t_prefill_ns = engine_now_ns();
        }
        float *row = e->logits + (size_t)r * e->m->c.vocab;
        if (s->recent) penalize_recent(s, row);
        int id = sampler_sample(&s->smp, row);
        /* an id outside the vocabulary would index the embedding table */
        if (id < 0 || id >= e->m->c.vocab) finish(s, FINISH_ERROR);
        else accept_token(e, s, id);
    }
    return nb;
}

int engine_generate(engine *e, seq *s) {
    while (s->state != SEQ_DONE) {
        int rc = engine_step(e, &s, 1);
        if (rc < 0) return rc;
    }
    return 0;
}
