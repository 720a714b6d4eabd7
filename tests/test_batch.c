/* Determinism whatever the batch, for every weight type: a sequence's
 * logits are bitwise equal whether it is decoded alone or beside 1, 6 or
 * 15 other sequences, and whether its prompt was prefilled in one piece
 * or in chunks, also for models with sliding-window layers whose window
 * the run passes; generation through the engine gives the same tokens
 * alone and in a crowd. */
#include "tests/harness.h"
#include "tests/test_model.h"
#include "engine/matmul.h"
#include "engine/engine.h"
#include "engine/forward.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STEPS 24
#define MAXB 16

static const char *model_rel;
static const char *mk_args;   /* instead of model_rel: a model llmfs-mkmodel writes */

/* Logits of sequence 0 for STEPS decode steps, with nb - 1 companions.
 * Prompts are prefilled in chunks of `chunk` tokens (all sequences in one
 * batch per chunk).  Every sequence feeds back its own greedy token. */
static float *run(model *m, int nb, int chunk) {
    const int V = m->c.vocab, P = 9;
    pool *p = pool_new(2);
    fwd *f = fwd_new(m, p, MAXB * P, m->c.ctx);
    kv_cache kv;
    kv_init(&kv, m->c.n_layers, m->c.n_kv_heads * m->c.head_dim, 0, (MAXB + 1) * 64);
    kv_seq s[MAXB];
    memset(s, 0, sizeof s);
    int toks[MAXB][P + STEPS + 1];
    for (int b = 0; b < nb; b++) {
        toks[b][0] = 1;
        for (int i = 1; i < P; i++) toks[b][i] = 3 + (b * 37 + i * 11) % (V - 3);
        kv_seq_reserve(&kv, &s[b], P + STEPS + 1);
    }
    float *out = malloc((size_t)STEPS * V * sizeof *out);
    float *lg = malloc((size_t)MAXB * V * sizeof *lg);
    int tok[MAXB * P], pos[MAXB * P], row[MAXB * P];
    kv_seq *sq[MAXB * P];
    /* prefill, in chunks */
    for (int c0 = 0; c0 < P; c0 += chunk) {
        int n = 0;
        for (int b = 0; b < nb; b++)
            for (int i = c0; i < c0 + chunk && i < P; i++) {
                tok[n] = toks[b][i]; pos[n] = i; sq[n] = &s[b];
                row[n] = i == P - 1 ? b : -1;
                n++;
            }
        fwd_run(f, &kv, tok, pos, sq, n, row, lg);
    }
    for (int st = 0; st < STEPS; st++) {
        for (int b = 0; b < nb; b++) {
            const float *l = lg + (size_t)b * V;
            int best = 0;
            for (int v = 1; v < V; v++) if (l[v] > l[best]) best = v;
            toks[b][P + st] = best;
        }
        memcpy(out + (size_t)st * V, lg, (size_t)V * sizeof *lg);
        /* sequence 0 sits in the middle of the batch, not always first */
        int n = 0;
        for (int b = nb - 1; b >= 0; b--) {
            tok[n] = toks[b][P + st]; pos[n] = P + st; sq[n] = &s[b]; row[n] = b; n++;
        }
        fwd_run(f, &kv, tok, pos, sq, n, row, lg);
    }
    for (int b = 0; b < nb; b++) kv_seq_release(&kv, &s[b]);
    kv_release(&kv);
    fwd_free(f);
    pool_free(p);
    free(lg);
    return out;
}

static void logits_bitwise(void) {
    char path[512];
    model *m = NULL;
    char err[256];
    int rc = 0;
    if (mk_args) m = test_mkmodel("batch", mk_args);
    else rc = model_load(model_rel[0] == '/' ? model_rel : shared_path(path, sizeof path, model_rel),
                         NULL, &m, err, sizeof err);
    CHECKF(rc == 0 && m, "%s", mk_args ? mk_args : err);
    if (rc || !m) return;
    size_t N = (size_t)STEPS * m->c.vocab * sizeof(float);
    float *solo = run(m, 1, 9);
    static const int sizes[] = { 2, 7, 16 };
    for (int i = 0; i < 3; i++) {
        float *o = run(m, sizes[i], 9);
        CHECKF(!memcmp(solo, o, N), "%s: batch %d differs from batch 1", model_rel, sizes[i]);
        free(o);
    }
    /* a checksum of the logits, for tests/test_isa.sh to compare across
     * instruction sets (LLMFS_ISA) */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < N; i++) h = (h ^ ((const unsigned char *)solo)[i]) * 1099511628211ull;
    /* (a model of a temporary directory by its file name: test_isa.sh
     * compares these lines between runs) */
    printf("# logits fnv1a %s %016llx\n", model_rel[0] == '/' ? strrchr(model_rel, '/') + 1 : model_rel,
           (unsigned long long)h);
    printf("# isa %s\n", matmul_isa());
    float *chunked = run(m, 7, 4);
    CHECKF(!memcmp(solo, chunked, N), "%s: chunked prefill differs", model_rel);
    free(chunked);
    free(solo);
    model_free(m);
}

/* Generation through engine_step: alone and among 15 others, greedy and
 * seeded sampling. */
static char texts[16][4096];
static size_t lens[16];
static void collect(void *ud, const char *t, size_t n) {
    int i = (int)(long)ud;
    if (lens[i] + n < sizeof texts[i]) { memcpy(texts[i] + lens[i], t, n); lens[i] += n; }
}

static void engine_crowd(void) {
    char path[512], err[256];
    model *m;
    int rc = model_load(shared_path(path, sizeof path, "models/stories260K.gguf"), NULL, &m, err,
                        sizeof err);
    CHECKF(rc == 0, "%s", err);
    if (rc) return;
    engine *e;
    /* KV room for all 16 sequences at once */
    size_t kv_bytes = (size_t)16 * 128 * m->c.n_layers * 2 * m->c.n_kv_heads * m->c.head_dim * 4;
    CHECK(engine_new(m, 2, kv_bytes, 64, 0, &e, err, sizeof err) == 0);
    static const char *prompts[] = { "Once upon a time", "The little dog", "Lily wanted to",
                                     "Tom had a red ball", "" };
    /* greedy; sampled with top_p; sampled with min_p and a repeat penalty */
    for (int temp = 0; temp < 3; temp++) {
        gen_params p;
        gen_params_default(&p);
        p.max_tokens = 80;
        p.temperature = temp ? 0.9f : 0.0f;
        p.top_p = temp == 1 ? 0.9f : 1.0f;
        p.min_p = temp == 2 ? 0.05f : 0.0f;
        p.repeat_penalty = temp == 2 ? 1.3f : 1.0f;
        p.seed = 42;
        memset(lens, 0, sizeof lens);
        seq *s;
        CHECK(seq_new(e, prompts[0], strlen(prompts[0]), &p, collect, (void *)0L, &s) == 0);
        engine_generate(e, s);
        seq_free(e, s);
        char alone[4096];
        size_t alone_len = lens[0];
        memcpy(alone, texts[0], alone_len);
        memset(lens, 0, sizeof lens);
        seq *many[16];
        for (int i = 0; i < 16; i++) {
            gen_params q = p;
            q.seed = i == 5 ? 42 : (uint64_t)i;
            const char *pr = i == 5 ? prompts[0] : prompts[i % 5];
            CHECK(seq_new(e, pr, strlen(pr), &q, collect, (void *)(long)i, &many[i]) == 0);
        }
        int live = 1;
        while (live) {
            if (engine_step(e, many, 16) <= 0) { CHECK(!"engine made no progress"); break; }
            live = 0;
            for (int i = 0; i < 16; i++) live |= many[i]->state != SEQ_DONE;
        }
        CHECKF(lens[5] == alone_len && !memcmp(texts[5], alone, alone_len),
               "temp %d: output in a batch of 16 differs from alone", temp);
        for (int i = 0; i < 16; i++) seq_free(e, many[i]);
    }
    engine_free(e);
    model_free(m);
}

int main(void) {
    model_rel = "models/stories260K.gguf";
    TEST("logits bitwise equal at batch 1, 2, 7, 16 (stories260K, hidden 172)", logits_bitwise);
    model_rel = "models/llamacpp/tiny-gqa-f32.gguf";
    TEST("logits bitwise equal at batch 1, 2, 7, 16 (tiny GQA F32)", logits_bitwise);
    model_rel = "models/llamacpp/tiny-q8_0.gguf";
    TEST("logits bitwise equal at batch 1, 2, 7, 16 (Q8_0)", logits_bitwise);
    model_rel = "models/llamacpp/tiny-q4_k.gguf";
    TEST("logits bitwise equal at batch 1, 2, 7, 16 (Q4_K_M)", logits_bitwise);
    /* every other weight type, and a Q4_K_M mixture whose rows of 640
     * fall back to Q5_0 and Q8_0, from llmfs-mkmodel */
    static const char *const more[] = { "bf16", "q4_1", "q5_0", "q5_1", "q3_k", "q5_k", "q6_k",
                                        "q4_k_m" };
    const char *bin = getenv("BIN") && *getenv("BIN") ? getenv("BIN") : "bin";
    char dir[] = "/tmp/llmfs-batch-XXXXXX";
    if (!mkdtemp(dir)) { printf("not ok - mkdtemp\n"); return 1; }
    for (size_t i = 0; i < sizeof more / sizeof *more; i++) {
        static char path[sizeof dir + 32];
        char cmd[1024], name[96];
        snprintf(path, sizeof path, "%s/%s.gguf", dir, more[i]);
        snprintf(cmd, sizeof cmd, "%s/llmfs-mkmodel -o %s --dim 256 --hidden %d --layers 2 --heads 4 "
                 "--kv-heads 2 --vocab 512 --ctx 128 --type %s --seed 11 --std 0.1 >/dev/null",
                 bin, path, strcmp(more[i], "q4_k_m") ? 512 : 640, more[i]);
        snprintf(name, sizeof name, "logits bitwise equal at batch 1, 2, 7, 16 (%s)", more[i]);
        if (system(cmd) != 0) { printf("not ok - %s: llmfs-mkmodel\n", name); continue; }
        model_rel = path;
        TEST(name, logits_bitwise);
        unlink(path);
    }
    rmdir(dir);
    /* windows of 8 and 20 positions: the 9-token prompt and 24 steps pass
     * them, mid-block (blocks are 16 positions) */
    static const char *const swa[][2] = {
        { "gemma2", "--arch gemma2 --dim 64 --hidden 128 --layers 2 --heads 4 --kv-heads 2 "
                    "--vocab 512 --ctx 64 --type f32 --std 0.15 --sliding-window 8" },
        { "gemma3", "--arch gemma3 --dim 64 --hidden 128 --layers 2 --heads 4 --kv-heads 2 "
                    "--vocab 512 --ctx 64 --type q8_0 --std 0.15 --sliding-window 20 "
                    "--sliding-window-pattern 2 --rope-scaling 8" },
        { "llama", "--arch llama --dim 64 --hidden 128 --layers 2 --heads 4 --kv-heads 2 "
                   "--vocab 512 --ctx 64 --type q4_0 --std 0.15 --sliding-window 8" },
    };
    for (size_t i = 0; i < sizeof swa / sizeof *swa; i++) {
        char name[160];
        mk_args = swa[i][1];
        model_rel = swa[i][0];
        snprintf(name, sizeof name, "logits bitwise equal at batch 1, 2, 7, 16 and chunked (%s with "
                 "a sliding window)", swa[i][0]);
        TEST(name, logits_bitwise);
    }
    mk_args = NULL;
    TEST("engine: same text alone and among 15 others, greedy, sampled, with min_p and a repeat "
         "penalty", engine_crowd);
    TEST_EXIT();
}
