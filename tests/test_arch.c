/* The architecture table and what the loader takes from it: every
 * architecture llmfs-mkmodel writes loads with the flags of its row;
 * an unsupported architecture, a rope_freqs of the wrong size or cut
 * short, and an unsupported RoPE scaling (YaRN, LongRoPE) are refused with
 * one line that says which.  Models come from llmfs-mkmodel (BIN) into a temp dir. */
#define _GNU_SOURCE   /* memmem */
#include "tests/harness.h"
#include "engine/arch.h"
#include "engine/gguf_write.h"
#include "engine/model.h"

#include <errno.h>
#include <unistd.h>

static char tmpdir[256];

static const char *bin_dir(void) {
    const char *b = getenv("BIN");
    return b && *b ? b : "bin";
}

/* Writes tmpdir/NAME.gguf with llmfs-mkmodel --arch arch (small shape,
 * synthetic vocabulary) and extra arguments. */
static const char *mk(const char *name, const char *arch, const char *extra) {
    static char path[512];
    char cmd[1024];
    snprintf(path, sizeof path, "%s/%s.gguf", tmpdir, name);
    snprintf(cmd, sizeof cmd,
             "%s/llmfs-mkmodel -o %s --arch %s --dim 64 --hidden 128 --layers 2 --heads 4 "
             "--kv-heads 2 --vocab 512 --ctx 64 --type f32 %s", bin_dir(), path, arch, extra);
    return system(cmd) == 0 ? path : NULL;
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *p = NULL;
    *n = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len > 0 && (p = malloc((size_t)len)) && fread(p, 1, (size_t)len, f) == (size_t)len)
        *n = (size_t)len;
    fclose(f);
    return p;
}

/* One line, no newline, containing want. */
static void check_refused(int rc, const char *err, const char *want) {
    CHECKF(rc < 0, "loaded, expected a refusal naming '%s'", want);
    CHECKF(strstr(err, want) != NULL, "'%s' does not say '%s'", err, want);
    CHECKF(strchr(err, '\n') == NULL, "'%s' is more than one line", err);
}

static void test_table(void) {
    gguf_str s = { "qwen3", 5 }, bad = { "gemma", 5 };
    const arch_info *a = arch_find(s);
    CHECK(a && a->rope_neox && a->qk_norm && !a->qkv_bias);
    CHECK(arch_find(bad) == NULL);
    gguf_str phi = { "phi3", 4 };
    a = arch_find(phi);
    CHECK(a && a->rope_neox && a->fused_gate_up && !a->qk_norm);
    gguf_str g2 = { "gemma2", 6 }, g3 = { "gemma3", 6 };
    a = arch_find(g2);
    CHECK(a && a->gemma == 2 && a->swa == SWA_GEMMA2 && a->attn_softcap == 50 &&
          a->final_softcap == 30 && !a->qk_norm && a->rope_neox);
    a = arch_find(g3);
    CHECK(a && a->gemma == 3 && a->swa == SWA_GEMMA3 && a->attn_softcap == 0 &&
          a->final_softcap == 0 && a->qk_norm && a->rope_neox);
    char names[64];
    arch_names(names, sizeof names);
    CHECKF(!strcmp(names, "llama, qwen2, qwen3, phi3, gemma2, gemma3"), "%s", names);
    char tiny[8];
    arch_names(tiny, sizeof tiny);    /* cut short, still a string */
    CHECK(strlen(tiny) < sizeof tiny);
}

static void test_loads(void) {
    static const struct { const char *arch, *extra, *gguf; int neox, bias, qk, freqs, head; } c[] = {
        { "llama", "", "llama", 0, 0, 0, 0, 16 },
        { "llama3", "", "llama", 0, 0, 0, 1, 16 },
        { "qwen2", "", "qwen2", 1, 1, 0, 0, 16 },
        { "qwen3", "--head-dim 32", "qwen3", 1, 0, 1, 0, 32 },
        { "phi3", "", "phi3", 1, 0, 0, 0, 16 },
        { "gemma2", "", "gemma2", 1, 0, 0, 0, 16 },
        { "gemma3", "--head-dim 32", "gemma3", 1, 0, 1, 0, 32 },
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        const char *p = mk(c[i].arch, c[i].arch, c[i].extra);
        CHECKF(p != NULL, "llmfs-mkmodel --arch %s", c[i].arch);
        if (!p) continue;
        model *m;
        char err[512];
        int rc = model_load(p, NULL, &m, err, sizeof err);
        CHECKF(rc == 0, "%s: %s", c[i].arch, err);
        if (rc) continue;
        CHECKF(!strcmp(m->arch, c[i].gguf), "%s loads as %s", c[i].arch, m->arch);
        CHECK(m->c.rope_neox == c[i].neox);
        CHECK((m->layers[1].bq != NULL) == c[i].bias && (m->layers[1].bv != NULL) == c[i].bias);
        CHECK((m->layers[1].q_norm != NULL) == c[i].qk && (m->layers[1].k_norm != NULL) == c[i].qk);
        CHECK((m->rope_freqs != NULL) == c[i].freqs);
        CHECK(m->c.head_dim == c[i].head && m->c.q_dim == 4 * c[i].head);
        int untied = !strcmp(c[i].arch, "llama") || !strcmp(c[i].arch, "phi3");   /* gemma: tied */
        CHECK((m->output.data != m->tok_embd.data) == untied);
        if (!strcmp(c[i].arch, "phi3")) {   /* slices of the fused tensors, in order */
            const model_layer *L = &m->layers[1];
            CHECK((const char *)L->wk.data == (const char *)L->wq.data + 64 * L->wq.row_bytes);
            CHECK((const char *)L->wv.data == (const char *)L->wk.data + 32 * L->wk.row_bytes);
            CHECK((const char *)L->w3.data == (const char *)L->w1.data + 128 * L->w1.row_bytes);
            CHECK(L->w1.rows == 128 && L->w3.rows == 128 && L->wk.rows == 32);
        }
        if (m->rope_freqs)   /* Llama 3.1's factors: 1 for the fastest pair, 8 for the slowest */
            CHECK(m->rope_freqs[0] == 1.0f && m->rope_freqs[7] == 8.0f);
        model_free(m);
    }
}

static void test_unsupported_arch(void) {
    gguf_writer *w;
    CHECK(gguf_writer_new(&w) == 0);
    gguf_writer_set_str(w, "general.architecture", "gemma");
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/gemma.gguf", tmpdir);
    CHECK(gguf_writer_write(w, path) == 0);
    gguf_writer_free(w);
    model *m;
    int rc = model_load(path, NULL, &m, err, sizeof err);
    check_refused(rc, err, "architecture 'gemma' is not supported (supported: llama, qwen2, qwen3, "
                           "phi3, gemma2, gemma3)");
}

/* rope_freqs.weight with its length field set to n (the bytes stay). */
static int load_with_freqs_len(const unsigned char *file, size_t size, uint64_t n, char *err,
                               size_t errlen) {
    unsigned char *b = malloc(size);
    memcpy(b, file, size);
    static const char name[] = "rope_freqs.weight";
    unsigned char *at = memmem(b, size, name, sizeof name - 1);
    CHECK(at != NULL);
    if (at) memcpy(at + sizeof name - 1 + 4, &n, 8);   /* after the name: n_dims, then ne[0] */
    model *m = NULL;
    int rc = model_load_gguf_buf(b, size, &m, err, errlen);
    model_free(m);
    free(b);
    return rc;
}

static void test_bad_rope_freqs(void) {
    const char *p = mk("llama3", "llama3", "");
    CHECK(p != NULL);
    size_t n;
    unsigned char *file = p ? slurp(p, &n) : NULL;
    CHECK(file != NULL);
    if (!file) return;
    char err[512];
    int rc = load_with_freqs_len(file, n, 8, err, sizeof err);   /* as written: loads */
    CHECKF(rc == 0, "%s", err);
    rc = load_with_freqs_len(file, n, 7, err, sizeof err);
    check_refused(rc, err, "tensor rope_freqs.weight has 7 values, expected 8 (head size / 2)");
    /* cut inside rope_freqs' data (the tensor after token_embd) */
    gguf *g;
    CHECK(gguf_parse(file, n, &g, err, sizeof err) == 0);
    const gguf_tensor *t = gguf_find_tensor(g, "rope_freqs.weight");
    size_t cut = t ? (size_t)((const unsigned char *)t->data - file) + 16 : 0;
    gguf_free(g);
    unsigned char *b = malloc(cut);
    if (cut) memcpy(b, file, cut);
    model *m = NULL;
    rc = model_load_gguf_buf(b, cut, &m, err, sizeof err);
    check_refused(rc, err, "truncated: tensor 'rope_freqs.weight'");
    model_free(m);
    free(b);
    free(file);
}

/* A gguf_fill_fn: the bytes of the gguf_tensor ctx. */
static int copy_tensor(void *ctx, void *dst, size_t nbytes) {
    const gguf_tensor *t = ctx;
    if (nbytes != t->nbytes) return -EINVAL;
    memcpy(dst, t->data, nbytes);
    return 0;
}

/* The model g rewritten to out with every key and tensor, plus a RoPE
 * scaling type and factor 4 (if type) and a rope_factors_long tensor (if
 * longrope). */
static int write_variant(const gguf *g, const char *out, const char *type, int longrope) {
    gguf_writer *w;
    if (gguf_writer_new(&w)) return -1;
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (!gguf_str_eq(g->kv[i].key, "general.alignment")) gguf_writer_copy_kv(w, &g->kv[i]);
    if (type) {
        gguf_writer_set_str(w, "llama.rope.scaling.type", type);
        gguf_writer_set_f32(w, "llama.rope.scaling.factor", 4.0f);
    }
    const gguf_tensor *norm = NULL;
    gguf_tensor half;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        char tn[128];
        snprintf(tn, sizeof tn, "%.*s", (int)t->name.len, t->name.ptr);
        gguf_writer_add_tensor_fn(w, tn, (int)t->n_dims, t->ne, (int)t->type, copy_tensor,
                                  (void *)t);
        if (!strcmp(tn, "blk.0.attn_norm.weight")) norm = t;
    }
    if (longrope && norm) {   /* any 8 floats will do: the name is refused */
        uint64_t ne[1] = { 8 };
        half = *norm;
        half.nbytes = 8 * sizeof(float);
        gguf_writer_add_tensor_fn(w, "rope_factors_long.weight", 1, ne, 0, copy_tensor, &half);
    }
    int rc = gguf_writer_write(w, out);
    gguf_writer_free(w);
    return rc;
}

static void test_rope_scaling(void) {
    const char *p = mk("llama", "llama", "");
    size_t n;
    unsigned char *file = p ? slurp(p, &n) : NULL;
    CHECK(file != NULL);
    if (!file) return;
    gguf *g;
    char err[512], out[512];
    CHECK(gguf_parse(file, n, &g, err, sizeof err) == 0);
    model *m = NULL;
    snprintf(out, sizeof out, "%s/scaled.gguf", tmpdir);
    CHECK(write_variant(g, out, "linear", 0) == 0);
    int rc = model_load(out, NULL, &m, err, sizeof err);
    CHECKF(rc == 0, "%s", err);
    if (!rc) CHECK(m->c.rope_scale == 0.25f);   /* a linear factor divides the positions */
    model_free(m);
    m = NULL;
    CHECK(write_variant(g, out, "yarn", 0) == 0);
    rc = model_load(out, NULL, &m, err, sizeof err);
    check_refused(rc, err, "RoPE scaling 'yarn' is not supported (linear and none are)");
    model_free(m);
    m = NULL;
    CHECK(write_variant(g, out, NULL, 1) == 0);
    rc = model_load(out, NULL, &m, err, sizeof err);
    check_refused(rc, err, "LongRoPE (rope_factors_long/short, Phi-3 128k) is not supported");
    model_free(m);
    gguf_free(g);
    free(file);
}

/* Gemma's block and the sliding-window layers as the metadata sets them. */
static void test_gemma(void) {
    model *m;
    char err[512];
    /* gemma2, 4 layers: even layers local, soft caps 50 and 30, tied */
    const char *p = mk("g2", "gemma2", "--layers 4 --sliding-window 24");
    CHECK(p != NULL);
    int rc = p ? model_load(p, NULL, &m, err, sizeof err) : -1;
    CHECKF(rc == 0, "%s", err);
    if (!rc) {
        const model_config *c = &m->c;
        CHECK(!strcmp(m->arch, "gemma2") && c->n_swa == 24);
        CHECK(m->layers[0].swa && !m->layers[1].swa && m->layers[2].swa && !m->layers[3].swa);
        CHECK(c->attn_softcap == 50.0f && c->final_softcap == 30.0f && c->ffn_gelu);
        CHECK(c->embd_scale == 8.0f && c->q_scale == 0.25f);   /* sqrt(64), 1/sqrt(16) */
        CHECK(c->rope_base_swa == c->rope_base && c->rope_scale_swa == c->rope_scale);
        CHECK(m->layers[3].attn_post_norm && m->layers[3].ffn_post_norm && !m->layers[3].q_norm);
        CHECK(m->output.data == m->tok_embd.data);
        model_free(m);
    }
    /* gemma3, 12 layers: 5 local and 1 global twice; local layers at theta
     * 1e4 unscaled, global ones at 1e6 scaled by 1/8; no soft caps */
    p = mk("g3", "gemma3", "--layers 12 --sliding-window 24 --rope-scaling 8");
    CHECK(p != NULL);
    rc = p ? model_load(p, NULL, &m, err, sizeof err) : -1;
    CHECKF(rc == 0, "%s", err);
    if (!rc) {
        const model_config *c = &m->c;
        for (int l = 0; l < 12; l++) CHECKF(m->layers[l].swa == (l % 6 != 5), "layer %d", l);
        CHECK(c->n_swa == 24 && c->attn_softcap == 0 && c->final_softcap == 0);
        CHECK(c->rope_base == 1e6f && c->rope_scale == 0.125f);
        CHECK(c->rope_base_swa == 1e4f && c->rope_scale_swa == 1.0f);
        CHECK(m->layers[0].q_norm && m->layers[0].k_norm && m->layers[0].ffn_post_norm);
        model_free(m);
    }
    /* gemma3 without a window: every layer global */
    p = mk("g3n", "gemma3", "--sliding-window 24 --sliding-window-pattern 1");
    rc = p ? model_load(p, NULL, &m, err, sizeof err) : -1;
    CHECKF(rc == 0, "%s", err);
    if (!rc) {
        CHECK(!m->layers[0].swa && !m->layers[1].swa);
        model_free(m);
    }
    /* llama: a window makes every layer local; without one, none */
    p = mk("lswa", "llama", "--sliding-window 16");
    rc = p ? model_load(p, NULL, &m, err, sizeof err) : -1;
    CHECKF(rc == 0, "%s", err);
    if (!rc) {
        CHECK(m->c.n_swa == 16 && m->layers[0].swa && m->layers[1].swa && !m->c.ffn_gelu);
        model_free(m);
    }
    p = mk("l", "llama", "");
    rc = p ? model_load(p, NULL, &m, err, sizeof err) : -1;
    CHECKF(rc == 0, "%s", err);
    if (!rc) {
        CHECK(m->c.n_swa == 0 && !m->layers[0].swa && m->c.embd_scale == 0);
        model_free(m);
    }
}

/* The model at path rewritten with one more key (an f32 or a u32). */
static int with_key(const char *path, const char *out, const char *key, int is_f32, double v) {
    size_t n;
    unsigned char *file = slurp(path, &n);
    gguf *g;
    char err[512];
    if (!file || gguf_parse(file, n, &g, err, sizeof err)) { free(file); return -1; }
    gguf_writer *w;
    if (gguf_writer_new(&w)) { gguf_free(g); free(file); return -1; }
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (!gguf_str_eq(g->kv[i].key, "general.alignment") && !gguf_str_eq(g->kv[i].key, key))
            gguf_writer_copy_kv(w, &g->kv[i]);
    if (is_f32) gguf_writer_set_f32(w, key, (float)v);
    else gguf_writer_set_u32(w, key, (uint32_t)v);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        char tn[128];
        snprintf(tn, sizeof tn, "%.*s", (int)t->name.len, t->name.ptr);
        gguf_writer_add_tensor_fn(w, tn, (int)t->n_dims, t->ne, (int)t->type, copy_tensor,
                                  (void *)t);
    }
    int rc = gguf_writer_write(w, out);
    gguf_writer_free(w);
    gguf_free(g);
    free(file);
    return rc;
}

static void test_gemma_refusals(void) {
    const char *p = mk("g2r", "gemma2", "");
    char src[512], out[512], err[512];
    CHECK(p != NULL);
    if (!p) return;
    snprintf(src, sizeof src, "%s", p);
    snprintf(out, sizeof out, "%s/g2bad.gguf", tmpdir);
    static const struct { const char *key; int f32; double v; const char *want; } c[] = {
        { "gemma2.attn_logit_softcapping", 1, 0, "bad attention logit soft cap 0" },
        { "gemma2.final_logit_softcapping", 1, -1, "bad final logit soft cap -1" },
        { "gemma2.attention.sliding_window", 0, 0,
          "metadata key gemma2.attention.sliding_window is 0: no position could be attended" },
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        CHECK(with_key(src, out, c[i].key, c[i].f32, c[i].v) == 0);
        model *m = NULL;
        int rc = model_load(out, NULL, &m, err, sizeof err);
        check_refused(rc, err, c[i].want);
        model_free(m);
    }
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/llmfs-arch-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) { printf("not ok - mkdtemp %s\n", tmpdir); return 1; }
    TEST("arch: the table finds and names the architectures", test_table);
    TEST("arch: llama, llama3, qwen2, qwen3, phi3 and gemma2/3 load with their features", test_loads);
    TEST("arch: gemma2 and gemma3 load with their norms, soft caps, scales and local layers; llama "
         "with a sliding window has every layer local", test_gemma);
    TEST("arch: a gemma2 soft cap of 0 or below and a window of 0 are refused in one line",
         test_gemma_refusals);
    TEST("arch: an unsupported architecture is refused in one line with the list", test_unsupported_arch);
    TEST("arch: a rope_freqs of the wrong size or cut short is refused in one line", test_bad_rope_freqs);
    TEST("arch: a linear RoPE factor divides positions; YaRN and LongRoPE are refused by name",
         test_rope_scaling);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) printf("#   could not remove %s\n", tmpdir);
    TEST_EXIT();
}
