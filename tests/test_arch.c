/* The architecture table and what the loader takes from it: every
 * architecture llmfs-mkmodel writes loads with the flags of its row;
 * an unsupported architecture, a rope_freqs of the wrong size or cut
 * short, and an unsupported RoPE scaling are refused with one line that
 * says which.  Models come from llmfs-mkmodel (BIN) into a temp dir. */
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
    gguf_str s = { "qwen3", 5 }, bad = { "gemma2", 6 };
    const arch_info *a = arch_find(s);
    CHECK(a && a->rope_neox && a->qk_norm && !a->qkv_bias);
    CHECK(arch_find(bad) == NULL);
    char names[64];
    arch_names(names, sizeof names);
    CHECKF(!strcmp(names, "llama, qwen2, qwen3"), "%s", names);
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
        CHECK(m->output.data == m->tok_embd.data || !strcmp(c[i].arch, "llama"));
        if (m->rope_freqs)   /* Llama 3.1's factors: 1 for the fastest pair, 8 for the slowest */
            CHECK(m->rope_freqs[0] == 1.0f && m->rope_freqs[7] == 8.0f);
        model_free(m);
    }
}

static void test_unsupported_arch(void) {
    gguf_writer *w;
    CHECK(gguf_writer_new(&w) == 0);
    gguf_writer_set_str(w, "general.architecture", "gemma2");
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/gemma2.gguf", tmpdir);
    CHECK(gguf_writer_write(w, path) == 0);
    gguf_writer_free(w);
    model *m;
    int rc = model_load(path, NULL, &m, err, sizeof err);
    check_refused(rc, err, "architecture 'gemma2' is not supported (supported: llama, qwen2, qwen3)");
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

static void test_rope_scaling(void) {
    gguf_writer *w;
    const char *p = mk("llama", "llama", "");
    size_t n;
    unsigned char *file = p ? slurp(p, &n) : NULL;
    CHECK(file != NULL);
    if (!file) return;
    gguf *g;
    char err[512];
    CHECK(gguf_parse(file, n, &g, err, sizeof err) == 0);
    /* rewrite the file with extra keys: copy every key, then the tensors */
    static const char *const types[] = { "linear", "yarn" };
    for (int k = 0; k < 2; k++) {
        CHECK(gguf_writer_new(&w) == 0);
        for (uint64_t i = 0; i < g->n_kv; i++)
            if (!gguf_str_eq(g->kv[i].key, "general.alignment")) gguf_writer_copy_kv(w, &g->kv[i]);
        gguf_writer_set_str(w, "llama.rope.scaling.type", types[k]);
        gguf_writer_set_f32(w, "llama.rope.scaling.factor", 4.0f);
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const gguf_tensor *t = &g->tensors[i];
            char tn[128];
            snprintf(tn, sizeof tn, "%.*s", (int)t->name.len, t->name.ptr);
            gguf_writer_add_tensor_fn(w, tn, (int)t->n_dims, t->ne, (int)t->type, copy_tensor,
                                      (void *)t);
        }
        char out[512];
        snprintf(out, sizeof out, "%s/scaled-%s.gguf", tmpdir, types[k]);
        CHECK(gguf_writer_write(w, out) == 0);
        gguf_writer_free(w);
        model *m = NULL;
        int rc = model_load(out, NULL, &m, err, sizeof err);
        if (k == 0) {
            CHECKF(rc == 0, "%s", err);
            if (!rc) CHECK(m->c.rope_scale == 0.25f);
        } else {
            check_refused(rc, err, "RoPE scaling 'yarn' is not supported (linear and none are)");
        }
        model_free(m);
    }
    gguf_free(g);
    free(file);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/llmfs-arch-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) { printf("not ok - mkdtemp %s\n", tmpdir); return 1; }
    TEST("arch: the table finds and names the architectures", test_table);
    TEST("arch: llama, llama3, qwen2 and qwen3 load with their features", test_loads);
    TEST("arch: an unsupported architecture is refused in one line with the list", test_unsupported_arch);
    TEST("arch: a rope_freqs of the wrong size or cut short is refused in one line", test_bad_rope_freqs);
    TEST("arch: a linear RoPE factor divides positions; YaRN is refused by name", test_rope_scaling);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) printf("#   could not remove %s\n", tmpdir);
    TEST_EXIT();
}
