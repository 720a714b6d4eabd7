/* llmfs-run: generation without FUSE, for scripts, tests and benchmarks.
 * Prints only the generated text to stdout, as it is produced; --stats
 * adds figures on stderr, one "name value" per line. */
#include "engine/version.h"
#include "engine/engine.h"
#include "engine/perplexity.h"
#include "engine/quant.h"
#include "fs/modelfind.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *resolved_model;   /* --model NAME's file */
static void free_resolved_model(void) { free(resolved_model); }

static void usage(FILE *f) {
    fprintf(f,
        "usage: llmfs-run --model FILE [--tokenizer FILE] -p PROMPT [-n N] [--temp T]\n"
        "                 [-s S] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R]\n"
        "                 [--repeat-last-n N] [--threads N] [--ctx N] [--ignore-eos] [--mmap]\n"
        "                 [--stats]\n"
        "       llmfs-run --model FILE --chat [--system TEXT] [sampling options] < TURNS\n"
        "       llmfs-run --model FILE --perplexity TEXT [--ctx N] [--threads N]\n"
        "  -m, --model FILE      GGUF model, or llama2.c .bin (then --tokenizer)\n"
        "  -m, --model NAME      a model already downloaded: Ollama's (llama3.2:1b), llama.cpp's\n"
        "                        or Hugging Face's cache, or in $LLMFS_MODEL (llmfs --list-models)\n"
        "  -z, --tokenizer FILE  llama2.c tokenizer .bin\n"
        "  -p, --prompt TEXT     the prompt (-f FILE reads it from a file, -f - from stdin)\n"
        "  -n, --n-predict N     most tokens to generate (default: to the end of context)\n"
        "  --temp T              temperature, 0 = greedy (default 0)\n"
        "  -s, --seed S          sampling seed (default 0)\n"
        "  --top-k K, --top-p P  sampling filters (default off)\n"
        "  --min-p P             drop tokens under P times the most likely (default 0, off)\n"
        "  --repeat-penalty R    penalize the last --repeat-last-n tokens (default 1, off)\n"
        "  --repeat-last-n N     tokens the repeat penalty looks back over (default 64)\n"
        "  -t, --threads N       threads (default 2)\n"
        "  -c, --ctx N           context length (default: the model's)\n"
        "  --ignore-eos          generate past end-of-sequence tokens\n"
        "  --mmap                keep weights in the file mapping (default for big\n"
        "                        models: read them into huge pages, faster)\n"
        "  --stats               print timing figures to stderr\n"
        "  --chat                a conversation in the model's chat template: each line\n"
        "                        of stdin is a user turn, each reply is printed as it is\n"
        "                        generated, then a newline; -n is per reply\n"
        "  --system TEXT         the conversation's system prompt (with --chat)\n"
        "  --perplexity TEXT     the model's perplexity over the file TEXT, in chunks of\n"
        "                        --ctx tokens, as llama-perplexity computes it\n");
}

static void emit(void *ud, const char *text, size_t n) {
    (void)ud;
    fwrite(text, 1, n, stdout);
    fflush(stdout);
}

static int parse_int(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "llmfs-run: %s: '%s' is not an integer in [%ld, %ld]\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_float(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "llmfs-run: %s: '%s' is not a number in [%g, %g]\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* The whole file ("-": standard input); caller frees. */
static char *read_file(const char *path, size_t *len) {
    int is_stdin = !strcmp(path, "-");
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *t = realloc(b, cap *= 2);
            if (!t) { free(b); b = NULL; }
            b = t;
        }
    }
    if (!is_stdin) fclose(f);
    *len = n;
    return b;
}

static void ppl_chunk(void *ud, const ppl_result *r)
{
    (void)ud;
    fprintf(stderr, "[%d]%.4f%s", r->chunks, r->ppl, r->chunks % 8 ? "," : "\n");
}

typedef struct { engine *e; } chat_tok;

static int chat_tokenize(void *ud, const char *text, size_t len, int first, int **ids) {
    return engine_tokenize_chat(((chat_tok *)ud)->e, text, len, first, ids);
}

/* --chat: each line of stdin (less its newline) is a user turn; each
 * reply streams to stdout, then a newline.  The conversation's token ids
 * are kept and grow turn by turn, and the prefix cache finds the earlier
 * turns' KV.  --stats: one line per turn on stderr. */
static int run_chat(engine *e, const gen_params *gp, const char *system, int stats) {
    char err[512];
    chat_format f = engine_chat_format(e, err, sizeof err);
    if (f == CHAT_NONE) { fprintf(stderr, "llmfs-run: %s\n", err); return 1; }
    engine_set_prefix_cache(e, 1);
    chat_conv conv;
    chat_conv_init(&conv, f);
    int rc = system ? chat_conv_system(&conv, system, strlen(system)) : 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    chat_tok tk = {e};
    for (int turn = 1; !rc && (len = getline(&line, &cap, stdin)) >= 0;) {
        if (len && line[len - 1] == '\n') len--;
        if (!len) continue;
        rc = chat_conv_user(&conv, line, (size_t)len, chat_tokenize, &tk);
        seq *s = NULL;
        if (!rc) rc = seq_new_tokens(e, conv.ids, conv.n_ids, gp, emit, NULL, &s);
        if (rc == -EFBIG) {
            fprintf(stderr, "llmfs-run: the conversation no longer fits in the context of %d "
                    "tokens\n", engine_ctx(e));
            break;
        } else if (rc) {
            fprintf(stderr, "llmfs-run: turn %d: %s\n", turn, strerror(-rc));
            break;
        }
        rc = engine_generate(e, s);
        fputc('\n', stdout);
        fflush(stdout);
        if (rc) fprintf(stderr, "llmfs-run: generation failed: %s\n", strerror(-rc));
        if (!rc) rc = chat_conv_reply(&conv, s->text, s->text_len, s->tokens + s->n_prompt,
                                      s->n_gen);
        if (stats)
            fprintf(stderr, "turn %d prompt_tokens %d cached_tokens %d generated_tokens %d\n",
                    turn, s->n_prompt, s->n_cached, s->n_gen);
        seq_free(e, s);
        turn++;
    }
    free(line);
    chat_conv_release(&conv);
    return rc ? 1 : 0;
}

/* --perplexity FILE: the text's perplexity in chunks of ctx tokens
 * (default: the model's context), as llama-perplexity computes it. */
static int run_perplexity(const char *model_path, const char *tok_path, int load_flags,
                          const char *file, int threads, int ctx)
{
    size_t len;
    char *text = read_file(file, &len);
    if (!text) { fprintf(stderr, "llmfs-run: %s: %s\n", file, strerror(errno)); return 1; }
    char err[512];
    model *m;
    int rc = model_load_flags(model_path, tok_path, load_flags, &m, err, sizeof err);
    if (rc) { fprintf(stderr, "llmfs-run: %s\n", err); free(text); return 1; }
    if (!m->tok) {
        fprintf(stderr, "llmfs-run: %s: no tokenizer (give --tokenizer)\n", model_path);
        model_free(m); free(text); return 1;
    }
    if (ctx <= 0 || ctx > m->c.ctx) ctx = m->c.ctx;
    if (ctx < 4) {
        fprintf(stderr, "llmfs-run: --perplexity needs chunks of at least 4 tokens (--ctx %d)\n", ctx);
        model_free(m); free(text); return 2;
    }
    /* as llama-perplexity: BOS first when the vocabulary adds one, and then
     * in place of every chunk's first token */
    int n = tokenizer_encode(m->tok, text, len, 1, NULL, 0);
    int *ids = n > 0 ? malloc((size_t)n * sizeof *ids) : NULL;
    if (n > 0 && ids) n = tokenizer_encode(m->tok, text, len, 1, ids, n);
    free(text);
    if (n < 0 || (n > 0 && !ids)) {
        fprintf(stderr, "llmfs-run: %s: cannot tokenize: %s\n", file, strerror(n < 0 ? -n : ENOMEM));
        free(ids); model_free(m); return 1;
    }
    int bos = n > 0 && ids[0] == tokenizer_bos(m->tok) ? ids[0] : -1;
    if (n < ctx) {
        fprintf(stderr, "llmfs-run: %s: %d tokens, fewer than one chunk of %d (give a smaller --ctx)\n",
                file, n, ctx);
        free(ids); model_free(m); return 1;
    }
    ppl_result r;
    rc = perplexity(m, threads, ids, n, ctx, bos, ppl_chunk, NULL, &r);
    if (r.chunks % 8) fputc('\n', stderr);
    if (rc) {
        fprintf(stderr, "llmfs-run: perplexity: %s\n", strerror(-rc));
    } else {
        printf("tokens %d\nctx %d\nchunks %d\ntokens_scored %ld\nperplexity %.6f\nperplexity_err %.6f\n",
               n, ctx, r.chunks, r.scored, r.ppl, r.err);
    }
    free(ids);
    model_free(m);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *prompt = NULL, *prompt_file = NULL;
    long n_predict = -1, threads = 2, ctx = 0;
    int stats = 0, load_flags = 0;
    gen_params gp;
    gen_params_default(&gp);
    enum { O_TEMP = 256, O_TOPK, O_TOPP, O_MINP, O_PENALTY, O_LAST_N, O_IGNORE_EOS, O_STATS,
           O_MMAP, O_PPL, O_CHAT, O_SYSTEM };
    int chat = 0;
    const char *system = NULL;
    const char *ppl_file = NULL;
    static const struct option opts[] = {
        { "model", required_argument, 0, 'm' },
        { "tokenizer", required_argument, 0, 'z' },
        { "prompt", required_argument, 0, 'p' },
        { "file", required_argument, 0, 'f' },
        { "n-predict", required_argument, 0, 'n' },
        { "threads", required_argument, 0, 't' },
        { "ctx", required_argument, 0, 'c' },
        { "temp", required_argument, 0, O_TEMP },
        { "seed", required_argument, 0, 's' },
        { "min-p", required_argument, 0, O_MINP },
        { "repeat-penalty", required_argument, 0, O_PENALTY },
        { "repeat-last-n", required_argument, 0, O_LAST_N },
        { "top-k", required_argument, 0, O_TOPK },
        { "top-p", required_argument, 0, O_TOPP },
        { "ignore-eos", no_argument, 0, O_IGNORE_EOS },
        { "stats", no_argument, 0, O_STATS },
        { "mmap", no_argument, 0, O_MMAP },
        { "perplexity", required_argument, 0, O_PPL },
        { "chat", no_argument, 0, O_CHAT },
        { "system", required_argument, 0, O_SYSTEM },
        { "version", no_argument, 0, 'V' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    int c;
    long lv;
    double dv;
    while ((c = getopt_long(argc, argv, "m:z:p:f:n:t:c:s:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'z': tok_path = optarg; break;
        case 'p': prompt = optarg; break;
        case 'f': prompt_file = optarg; break;
        case 'n': if (parse_int("-n", optarg, -1, 1 << 30, &n_predict)) return 2; break;
        case 't': if (parse_int("--threads", optarg, 1, 256, &threads)) return 2; break;
        case 'c': if (parse_int("--ctx", optarg, 0, 1 << 20, &ctx)) return 2; break;
        case O_TEMP: if (parse_float("--temp", optarg, 0, GEN_TEMPERATURE_MAX, &dv)) return 2;
            gp.temperature = (float)dv; break;
        case 's':
            errno = 0;
            gp.seed = strtoull(optarg, NULL, 0);
            if (errno) { fprintf(stderr, "llmfs-run: --seed: bad value '%s'\n", optarg); return 2; }
            break;
        case O_TOPK: if (parse_int("--top-k", optarg, 0, 1 << 30, &lv)) return 2;
            gp.top_k = (int)lv; break;
        case O_TOPP: if (parse_float("--top-p", optarg, 1e-9, 1, &dv)) return 2;
            gp.top_p = (float)dv; break;
        case O_MINP: if (parse_float("--min-p", optarg, 0, 1, &dv)) return 2;
            gp.min_p = (float)dv; break;
        case O_PENALTY: if (parse_float("--repeat-penalty", optarg, 1e-9, GEN_PENALTY_MAX, &dv))
                return 2;
            gp.repeat_penalty = (float)dv; break;
        case O_LAST_N: if (parse_int("--repeat-last-n", optarg, 0, GEN_PENALTY_LAST_MAX, &lv))
                return 2;
            gp.repeat_last_n = (int)lv; break;
        case O_IGNORE_EOS: gp.ignore_eos = 1; break;
        case O_STATS: stats = 1; break;
        case O_MMAP: load_flags |= MODEL_LOAD_MMAP; break;
        case O_PPL: ppl_file = optarg; break;
        case O_CHAT: chat = 1; break;
        case O_SYSTEM: system = optarg; break;
        case 'V': printf("llmfs-run %s\n", LLMFS_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "llmfs-run: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!model_path) { fprintf(stderr, "llmfs-run: --model FILE is required\n"); return 2; }
    {   /* a name of a downloaded model, or a path */
        char err[1024];
        int rc = mf_resolve(model_path, &resolved_model, err, sizeof err);
        if (rc) { fprintf(stderr, "llmfs-run: %s\n", rc == -ENOMEM ? "out of memory" : err); return 1; }
        atexit(free_resolved_model);
        model_path = resolved_model;
    }
    if (ppl_file)
        return run_perplexity(model_path, tok_path, load_flags, ppl_file, (int)threads, (int)ctx);
    if (chat && (prompt || prompt_file)) {
        fprintf(stderr, "llmfs-run: --chat reads its turns from stdin: no -p or -f\n");
        return 2;
    }
    if (system && !chat) { fprintf(stderr, "llmfs-run: --system needs --chat\n"); return 2; }
    size_t plen = 0;
    char *pbuf = NULL;
    if (prompt_file) {
        pbuf = read_file(prompt_file, &plen);
        if (!pbuf) { fprintf(stderr, "llmfs-run: %s: %s\n", prompt_file, strerror(errno)); return 1; }
        prompt = pbuf;
    } else if (prompt) {
        plen = strlen(prompt);
    } else {
        prompt = "";
    }
    char err[512];
    model *m;
    int rc = model_load_flags(model_path, tok_path, load_flags, &m, err, sizeof err);
    if (rc) { fprintf(stderr, "llmfs-run: %s\n", err); free(pbuf); return 1; }
    engine *e;
    /* a KV budget of 0: engine_new makes room for one full context */
    rc = engine_new(m, (int)threads, 0, 512, (int)ctx, &e, err, sizeof err);
    if (rc) { fprintf(stderr, "llmfs-run: %s\n", err); model_free(m); free(pbuf); return 1; }
    gp.max_tokens = n_predict < 0 ? engine_ctx(e) : (int)n_predict;
    if (chat) {
        rc = run_chat(e, &gp, system, stats);
        engine_free(e);
        model_free(m);
        return rc;
    }
    seq *s;
    rc = seq_new(e, prompt, plen, &gp, emit, NULL, &s);
    if (rc == -EFBIG) {
        fprintf(stderr, "llmfs-run: the prompt does not fit in the context of %d tokens\n",
                engine_ctx(e));
    } else if (rc) {
        fprintf(stderr, "llmfs-run: cannot start generation: %s\n", strerror(-rc));
    } else {
        rc = engine_generate(e, s);
        if (rc) fprintf(stderr, "llmfs-run: generation failed: %s\n", strerror(-rc));
        if (stats) {
            double pre = (s->t_prefill_ns - s->t_start_ns) / 1e9;
            double dec = (s->t_done_ns - s->t_prefill_ns) / 1e9;
            fprintf(stderr, "prompt_tokens %d\n", s->n_prompt);
            fprintf(stderr, "prefill_tok_s %.1f\n", pre > 0 ? s->n_prompt / pre : 0);
            fprintf(stderr, "generated_tokens %d\n", s->n_gen);
            fprintf(stderr, "decode_tok_s %.1f\n",
                    dec > 0 && s->n_gen > 1 ? (s->n_gen - 1) / dec : 0);
            fprintf(stderr, "ttft_ms %.3f\n", (s->t_first_ns - s->t_start_ns) / 1e6);
            fprintf(stderr, "total_ms %.3f\n", (s->t_done_ns - s->t_start_ns) / 1e6);
            fprintf(stderr, "weights %s\n", quant_name(m->wtype));
            /* what a decode step reads: every weight once (the embedding
             * one row), and the KV cache of its context, on average
             * n_prompt + n_gen / 2 positions */
            double kv_pos = 2.0 * m->c.n_layers * m->c.n_kv_heads * m->c.head_dim * sizeof(float);
            fprintf(stderr, "decode_bytes_per_token %.0f\n",
                    (double)m->weight_bytes + kv_pos * (s->n_prompt + s->n_gen / 2.0));
        }
        seq_free(e, s);
    }
    engine_free(e);
    model_free(m);
    free(pbuf);
    return rc ? 1 : 0;
}
