/* llmfs: mounts a language model as a filesystem (llmfs(1)).
 *
 *   llmfs [-f] [-d] [-o opt[,opt]] [--config FILE] --model FILE|NAME [--tokenizer FILE] MOUNTPOINT
 *   llmfs --list-models
 *
 * Order matters: the config and the model are loaded (and the engine tried
 * once) and the response cache opened (its disk directory locked and
 * scanned, the model fingerprinted) before mounting, so that every failure
 * is a one-line reason and a non-zero exit with nothing mounted; the
 * scheduler, cache worker and notifier threads start after
 * fuse_daemonize(), since fork() keeps only the calling thread.
 *
 * With `backend:` endpoints in the config there is no model: the API
 * keys are read before mounting and the remote backend's HTTP thread
 * starts after the fork.
 *
 * The layers: fs (ns, ops, stats) -> cache (rcache over a backend) ->
 * engine (sched), or remote servers (remote/). */
#define FUSE_USE_VERSION 312
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <fuse_lowlevel.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/backend.h"
#include "cache/fingerprint.h"
#include "cache/rcache.h"
#include "engine/version.h"
#include "engine/engine.h"
#include "engine/model.h"
#include "engine/quant.h"
#include "engine/sched.h"
#include "fs/config.h"
#include "fs/log.h"
#include "fs/modelfind.h"
#include "fs/notify.h"
#include "fs/ns.h"
#include "fs/ops.h"
#include "fs/stats.h"
#include "fs/stop.h"
#include "remote/remote.h"

#define BATCH_TOKENS 256

typedef struct {
    char *model, *config, *tokenizer;
    char **set;                 /* key=value config overrides from -o, in order */
    int n_set;
    int bad;                    /* 1: out of memory while parsing; 2: a bad option, said */
    int allow_other;            /* -o allow_other: other users may use the mount */
    int list_models;            /* --list-models */
} cli;

enum { KEY_VERSION, KEY_LIST_MODELS };

static const struct fuse_opt cli_spec[] = {
    {"--model=%s", offsetof(cli, model), 0},
    {"--model %s", offsetof(cli, model), 0},
    {"model=%s", offsetof(cli, model), 0},
    {"--config=%s", offsetof(cli, config), 0},
    {"--config %s", offsetof(cli, config), 0},
    {"config=%s", offsetof(cli, config), 0},
    {"--tokenizer=%s", offsetof(cli, tokenizer), 0},
    {"--tokenizer %s", offsetof(cli, tokenizer), 0},
    {"tokenizer=%s", offsetof(cli, tokenizer), 0},
    FUSE_OPT_KEY("--list-models", KEY_LIST_MODELS),
    FUSE_OPT_END
};

static void usage(FILE *f) {
    fprintf(f,
        "usage: llmfs [-f] [-d] [-o opt[,opt]] [--config FILE] --model FILE|NAME [--tokenizer FILE]"
        " MOUNTPOINT\n"
        "       llmfs --list-models\n"
        "  --model FILE       GGUF model, or llama2.c .bin (with --tokenizer)\n"
        "  --model NAME       a model already downloaded: Ollama's (llama3.2:1b), llama.cpp's or\n"
        "                     Hugging Face's cache (ORG/REPO/FILE), or in $LLMFS_MODEL\n"
        "  --list-models      prints those models (name, source, size, path) and exits\n"
        "  --tokenizer FILE   llama2.c tokenizer .bin\n"
        "  --config FILE      llmfs.yaml (see llmfs.yaml(5))\n"
        "  -o model=,config=,tokenizer=   the same as -o options\n"
        "  -o KEY=VALUE       a config key, dotted (generation.max_tokens=64, threads=4)\n"
        "  -f                 stay in the foreground\n"
        "  -d                 FUSE debug output (implies -f)\n");
}

/* A -o option that is a config key: dotted, or a top-level scalar key. */
static int is_config_key(const char *arg) {
    const char *eq = strchr(arg, '=');
    if (!eq) return 0;
    size_t k = (size_t)(eq - arg);
    if (memchr(arg, '.', k)) return 1;
    return (k == 7 && !strncmp(arg, "threads", 7)) || (k == 7 && !strncmp(arg, "context", 7));
}

static int cli_proc(void *data, const char *arg, int key, struct fuse_args *outargs) {
    cli *c = data;
    if (key == KEY_LIST_MODELS) {
        c->list_models = 1;
        return 0;
    }
    if (key == FUSE_OPT_KEY_OPT && !strcmp(arg, "allow_other")) c->allow_other = 1;
    const char *eq = key == FUSE_OPT_KEY_OPT ? strchr(arg, '=') : NULL;
    const char *full = eq ? config_dotted_key(arg, (size_t)(eq - arg)) : NULL;
    if (full && !is_config_key(arg)) {  /* libfuse would say "unknown option" */
        fprintf(stderr, "llmfs: -o %s: unknown option; did you mean -o %s%s?\n", arg, full, eq);
        c->bad = 2;
        return 0;
    }
    if (key != FUSE_OPT_KEY_OPT || !is_config_key(arg)) return 1;   /* FUSE's */
    char **s = realloc(c->set, (size_t)(c->n_set + 1) * sizeof *s);
    if (!s || !(s[c->n_set] = strdup(arg))) { c->bad = 1; if (s) c->set = s; return 0; }
    c->set = s;
    c->n_set++;
    return 0;
}

static void cli_release(cli *c) {
    free(c->model);
    free(c->config);
    free(c->tokenizer);
    for (int i = 0; i < c->n_set; i++) free(c->set[i]);
    free(c->set);
}

/* --list-models: one line a model found (modelfind.h): name, source,
 * size in MiB, path, in columns. */
static int list_models(FILE *f) {
    mf_list l;
    if (mf_scan(&l)) {
        fprintf(stderr, "llmfs: out of memory\n");
        return -1;
    }
    int w = 4;
    for (int i = 0; i < l.n; i++)
        if ((int)strlen(l.v[i].name) > w) w = (int)strlen(l.v[i].name);
    if (w > 80) w = 80;
    for (int i = 0; i < l.n; i++)
        fprintf(f, "%-*s  %-11s  %9.1f MiB  %s\n", w, l.v[i].name, l.v[i].source,
                (double)l.v[i].size / 1048576.0, l.v[i].path);
    mf_free(&l);
    return 0;
}

/* Makes a relative path absolute against the working directory (the
 * daemon runs in /, and stats' config must hold wherever it is saved). */
static int absolute(char **path) {
    if (!*path || (*path)[0] == '/' || (*path)[0] == '~') return 0;
    char *cwd = getcwd(NULL, 0);
    if (!cwd) return -errno;
    size_t a = strlen(cwd), b = strlen(*path);
    char *s = malloc(a + b + 2);
    if (!s) { free(cwd); return -ENOMEM; }
    memcpy(s, cwd, a);
    s[a] = '/';
    memcpy(s + a + 1, *path, b + 1);
    free(cwd);
    free(*path);
    *path = s;
    return 0;
}

/* Builds the effective config: defaults, the file, -o keys, then the
 * command line's model and tokenizer.  Prints the reason on failure. */
static int load_config(cli *c, llmfs_config *cfg) {
    char err[512];
    config_defaults(cfg);
    if (c->config && config_load_file(cfg, c->config, err, sizeof err)) {
        fprintf(stderr, "llmfs: %s\n", err);
        return -1;
    }
    for (int i = 0; i < c->n_set; i++) {
        char *eq = strchr(c->set[i], '=');
        *eq = 0;
        int rc = config_set_option(cfg, c->set[i], eq + 1, err, sizeof err);
        *eq = '=';
        if (rc) {
            fprintf(stderr, "llmfs: -o %s\n", err);
            return -1;
        }
    }
    if (c->model && config_set_option(cfg, "model", c->model, err, sizeof err)) {
        fprintf(stderr, "llmfs: --model: %s\n", err);
        return -1;
    }
    if (c->tokenizer && config_set_option(cfg, "tokenizer", c->tokenizer, err, sizeof err)) {
        fprintf(stderr, "llmfs: --tokenizer: %s\n", err);
        return -1;
    }
    int rc = 0;
    if (cfg->model) {   /* a name of a downloaded model, or a path */
        char *path;
        if ((rc = mf_resolve(cfg->model, &path, err, sizeof err))) {
            fprintf(stderr, "llmfs: %s\n", rc == -ENOMEM ? "out of memory" : err);
            return -1;
        }
        free(cfg->model);
        cfg->model = path;
    }
    for (int i = 0; i < cfg->n_backends && !rc; i++)
        rc = absolute(&cfg->backends[i].api_key_file);
    if (rc || (rc = absolute(&cfg->model)) || (rc = absolute(&cfg->tokenizer)) ||
        (rc = absolute(&cfg->cache.l2_dir)) || (rc = absolute(&cfg->cache.l2_hmac_key_file))) {
        fprintf(stderr, "llmfs: cannot resolve a relative path: %s\n", strerror(-rc));
        return -1;
    }
    return 0;
}

/* The API key of endpoint e: the first line of its api_key_file, or its
 * api_key_env variable; NULL in *out when it names neither.  Prints why on
 * failure (never the key). */
static int read_key(const config_backend *e, char **out) {
    *out = NULL;
    if (e->api_key_env) {
        const char *v = getenv(e->api_key_env);
        if (!v || !*v) {
            fprintf(stderr, "llmfs: backend %s: the environment variable %s is not set\n", e->url,
                    e->api_key_env);
            return -1;
        }
        if (!(*out = strdup(v))) { fprintf(stderr, "llmfs: out of memory\n"); return -1; }
        return 0;
    }
    if (!e->api_key_file) return 0;
    char *path = NULL;
    if (config_expand_path(e->api_key_file, &path)) {
        fprintf(stderr, "llmfs: backend %s: api_key_file %s: cannot expand ~\n", e->url,
                e->api_key_file);
        return -1;
    }
    FILE *f = fopen(path, "re");
    char line[512];
    int ok = f && fgets(line, sizeof line, f);
    int err = errno;
    if (f) fclose(f);
    if (!ok) {
        fprintf(stderr, "llmfs: backend %s: api_key_file %s: %s\n", e->url, path,
                f ? "empty" : strerror(err));
        free(path);
        return -1;
    }
    free(path);
    size_t n = strcspn(line, "\r\n");
    while (n && (line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
    line[n] = 0;
    *out = n ? strdup(line) : NULL;
    explicit_bzero(line, sizeof line);
    if (!n) {
        fprintf(stderr, "llmfs: backend %s: api_key_file %s: the first line is empty\n", e->url,
                e->api_key_file);
        return -1;
    }
    if (!*out) { fprintf(stderr, "llmfs: out of memory\n"); return -1; }
    return 0;
}

/* The remote backend's configuration from cfg, with the keys read: ep[]
 * and keys[] (n_backends each) are the caller's to free (free_keys). */
static int remote_setup(const llmfs_config *cfg, remote_config *rc, remote_endpoint *ep,
                        char **keys) {
    for (int i = 0; i < cfg->n_backends; i++) {
        const config_backend *e = &cfg->backends[i];
        if (read_key(e, &keys[i])) return -1;
        ep[i] = (remote_endpoint){
            .url = e->url, .model = e->model, .api_key = keys[i], .kind = e->kind,
            .timeout_ms = e->timeout_ms ? e->timeout_ms : cfg->remote.timeout_ms,
            .connect_timeout_ms = e->connect_timeout_ms ? e->connect_timeout_ms
                                                        : cfg->remote.connect_timeout_ms,
            .max_inflight = e->max_inflight ? e->max_inflight : cfg->remote.max_inflight,
        };
    }
    *rc = (remote_config){
        .ep = ep, .n_ep = cfg->n_backends, .revision = cfg->revision,
        .breaker = {.failures = cfg->remote.breaker_failures,
                    .failure_rate = cfg->remote.breaker_failure_rate,
                    .window = cfg->remote.breaker_window,
                    .cooldown_ms = cfg->remote.breaker_cooldown_ms},
        .retries = cfg->remote.retries, .retry_budget = cfg->remote.retry_budget,
        .backoff_ms = cfg->remote.backoff_ms, .tpot_target_ms = cfg->scheduler.tpot_target_ms,
        .queue = cfg->scheduler.queue, .route_prefix_bytes = cfg->remote.route_prefix_bytes,
    };
    return 0;
}

static void free_keys(char **keys, int n) {
    for (int i = 0; keys && i < n; i++) {
        if (keys[i]) explicit_bzero(keys[i], strlen(keys[i]));
        free(keys[i]);
    }
    free(keys);
}

/* Opens the response cache and fingerprints the model's files (remembered
 * in the disk directory when the cache has one; a remote backend has no
 * files).  Prints why on failure. */
static int open_cache(const llmfs_config *cfg, rcache **out, uint8_t model_fp[16],
                      uint8_t tok_fp[16]) {
    char msg[512], err[512];
    char *dir = NULL;
    int rc = 0;
    *out = NULL;
    if (cfg->cache.l2_mb && cfg->cache.l2_dir && !cfg->cache.l2_redis &&
        (rc = config_expand_path(cfg->cache.l2_dir, &dir)) && rc != -ENOENT) {
        fprintf(stderr, "llmfs: cache.l2_dir: %s\n", strerror(-rc));
        return -1;
    }
    if (rc == -ENOENT && !cfg->cache.l2_redis)
        fprintf(stderr, "llmfs: cache.l2_dir %s: HOME is not set: running without the disk "
                "cache\n", cfg->cache.l2_dir);
    char *hkey = NULL;
    if (cfg->cache.l2_hmac_key_file &&
        (rc = config_expand_path(cfg->cache.l2_hmac_key_file, &hkey))) {
        fprintf(stderr, "llmfs: cache.l2_hmac_key_file: %s\n", strerror(-rc));
        free(dir);
        return -1;
    }
    cache_config cc = {
        .l1_bytes = (size_t)cfg->cache.l1_mb << 20,
        .l2_dir = dir,
        .l2_bytes = (size_t)cfg->cache.l2_mb << 20,
        .policy = config_policy_name(cfg->cache.policy),
        .l2_redis = cfg->cache.l2_redis,
        .l2_hmac_key_file = hkey,
    };
    rc = rcache_new(&cc, out, msg, sizeof msg);
    free(hkey);
    if (rc) {
        fprintf(stderr, "llmfs: %s\n", msg[0] ? msg : strerror(-rc));
        free(dir);
        return -1;
    }
    if (msg[0]) fprintf(stderr, "llmfs: %s\n", msg);
    rcache_stats cs;
    rcache_get_stats(*out, &cs);
    const char *fpdir = cs.l2_on ? dir : NULL;
    if (cfg->n_backends) {
        free(dir);
        return 0;
    }
    if ((rc = fingerprint_file(fpdir, cfg->model, model_fp, err, sizeof err)) ||
        (cfg->tokenizer && (rc = fingerprint_file(fpdir, cfg->tokenizer, tok_fp, err,
                                                  sizeof err)))) {
        fprintf(stderr, "llmfs: %s\n", err);
        rcache_free(*out);
        *out = NULL;
    }
    free(dir);
    return rc ? -1 : 0;
}

static size_t kv_bytes(const llmfs_config *cfg) {
    return (size_t)(cfg->cache.kv_mb > 0 ? cfg->cache.kv_mb : 256) << 20;
}

int main(int argc, char **argv) {
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct fuse_cmdline_opts fo;
    cli c;
    llmfs_config cfg;
    model *m = NULL;
    engine *eng = NULL;
    sched *sch = NULL;
    rcache *rc_cache = NULL;
    backend *be = NULL;
    uint8_t model_fp[16] = {0}, tok_fp[16] = {0};
    stats *st = NULL;
    notify *nt = NULL;
    ns *n = NULL;
    struct fuse_session *se = NULL;
    char *yaml = NULL;
    size_t yaml_len = 0;
    char err[512];
    int ret = 1, rc;
    ops_ctx ctx;
    char **keys = NULL;          /* the endpoints' API keys (remote) */
    remote_endpoint *rep = NULL;
    remote_config rcfg;

    memset(&rcfg, 0, sizeof rcfg);
    memset(&c, 0, sizeof c);
    memset(&fo, 0, sizeof fo);
    memset(&cfg, 0, sizeof cfg);
    memset(&ctx, 0, sizeof ctx);
    pthread_mutex_init(&ctx.files_mu, NULL);
    if (fuse_opt_parse(&args, &c, cli_spec, cli_proc) || c.bad) {
        if (c.bad != 2) fprintf(stderr, "llmfs: cannot parse the options\n");
        goto out_args;
    }
    /* ownership and modes are enforced by the kernel */
    if (fuse_opt_add_arg(&args, "-odefault_permissions")) goto out_args;
    if (fuse_parse_cmdline(&args, &fo)) goto out_args;
    if (fo.show_help) {
        usage(stdout);
        printf("\nFUSE options:\n");
        fuse_cmdline_help();
        fuse_lowlevel_help();
        ret = 0;
        goto out_args;
    }
    if (fo.show_version) {
        printf("llmfs %s (libfuse %s)\n", LLMFS_VERSION, fuse_pkgversion());
        ret = 0;
        goto out_args;
    }
    if (c.list_models) {
        ret = list_models(stdout) ? 1 : 0;
        goto out_args;
    }
    if (load_config(&c, &cfg)) goto out_args;
    if (!fo.mountpoint) {
        usage(stderr);
        goto out_args;
    }
    int remote_mode = cfg.n_backends > 0;
    if (remote_mode && (cfg.model || cfg.tokenizer)) {
        fprintf(stderr, "llmfs: %s and backend endpoints: the endpoints generate, so give no "
                "model\n", cfg.model ? "--model" : "--tokenizer");
        goto out_args;
    }
    if (!cfg.model && !remote_mode) {
        fprintf(stderr, "llmfs: no model: give --model FILE (or model: in the config, or "
                "backend: endpoints)\n");
        goto out_args;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        fprintf(stderr, "llmfs: cannot initialize libcurl\n");
        goto out_args;
    }
    int ctx_len = 0;
    if (remote_mode) {
        keys = calloc((size_t)cfg.n_backends, sizeof *keys);
        rep = calloc((size_t)cfg.n_backends, sizeof *rep);
        if (!keys || !rep) {
            fprintf(stderr, "llmfs: out of memory\n");
            goto out_model;
        }
        if (remote_setup(&cfg, &rcfg, rep, keys)) goto out_model;
        goto model_done;
    }

    /* ---- the model, before anything is mounted */
    rc = model_load(cfg.model, cfg.tokenizer, &m, err, sizeof err);
    if (rc) {
        /* model_load's reason names the file already */
        if (err[0]) fprintf(stderr, "llmfs: %s\n", err);
        else fprintf(stderr, "llmfs: %s: %s\n", cfg.model, strerror(-rc));
        goto out_args;
    }
    if (!m->tok) {
        fprintf(stderr, "llmfs: %s: the model has no tokenizer (give --tokenizer FILE)\n",
                cfg.model);
        goto out_model;
    }
    /* Try the engine once, so that its errors also fail the mount; the real
     * one is made after daemonizing (its thread pool would not survive the
     * fork). */
    rc = engine_new(m, cfg.threads, kv_bytes(&cfg), BATCH_TOKENS, cfg.context, &eng, err,
                    sizeof err);
    if (rc) {
        fprintf(stderr, "llmfs: engine: %s\n", err[0] ? err : strerror(-rc));
        goto out_model;
    }
    ctx_len = engine_ctx(eng);
    engine_free(eng);
    eng = NULL;
model_done:
    if (config_render_yaml(&cfg, &yaml, &yaml_len)) {
        fprintf(stderr, "llmfs: out of memory\n");
        goto out_model;
    }
    if (open_cache(&cfg, &rc_cache, model_fp, tok_fp)) goto out_model;

    /* ---- mount */
    se = fuse_session_new(&args, &ops_table, sizeof ops_table, &ctx);
    if (!se) goto out_model;      /* libfuse said why */
    if (fuse_set_signal_handlers(se)) goto out_session;
    if (fuse_session_mount(se, fo.mountpoint)) goto out_signals;
    if (fuse_daemonize(fo.foreground)) goto out_unmount;
    log_to_stderr(fo.foreground);

    /* ---- threads, after the fork */
    /* chats/ in the model's chat format (without one, turns are refused
     * with the reason); with remote backends, the servers render the
     * messages in theirs */
    static char chat_error[256] = "the model has no chat template";
    chat_format chat_fmt = CHAT_NONE;
    if (remote_mode) {
        /* each endpoint's latency histograms are the stats' */
        if (!(rc = stats_new(&st)) && !(rc = stats_endpoints(st, rcfg.n_ep))) {
            rcfg.observe = stats_endpoint_observe;
            rcfg.observe_ud = st;
        }
        if (rc || (rc = remote_new(&rcfg, &be, err, sizeof err)) ||
            (rc = rcache_start(rc_cache, be)) || (rc = notify_new(&nt))) {
            fprintf(stderr, "llmfs: cannot start: %s\n", be || rc != -EINVAL ? strerror(-rc) : err);
            goto out_threads;
        }
        goto threads_done;
    }
    rc = engine_new(m, cfg.threads, kv_bytes(&cfg), BATCH_TOKENS, cfg.context, &eng, err,
                    sizeof err);
    if (rc) {
        fprintf(stderr, "llmfs: engine: %s\n", err[0] ? err : strerror(-rc));
        goto out_unmount;
    }
    sched_config sc = {
        .max_batch = cfg.scheduler.max_batch,
        .queue = cfg.scheduler.queue,
        .tpot_target_ms = cfg.scheduler.tpot_target_ms,
        .adaptive = cfg.scheduler.adaptive,
    };
    engine_set_prefix_cache(eng, cfg.cache.kv_prefix);
    if ((rc = engine_set_prefix_policy(eng, config_policy_name(cfg.cache.policy)))) {
        fprintf(stderr, "llmfs: cache.policy: %s\n", strerror(-rc));
        goto out_threads;
    }
    engine_set_prefill_chunk(eng, cfg.scheduler.prefill_chunk);
    if ((rc = stats_new(&st)) || (rc = sched_new(eng, &sc, &sch)) ||
        (rc = backend_local_new(sch, model_fp, cfg.tokenizer ? tok_fp : NULL, &be)) ||
        (rc = rcache_start(rc_cache, be)) || (rc = notify_new(&nt))) {
        fprintf(stderr, "llmfs: cannot start: %s\n", strerror(-rc));
        goto out_threads;
    }
    chat_fmt = engine_chat_format(eng, chat_error, sizeof chat_error);
threads_done:
    ns_env env = {.c = rc_cache, .cfg = &cfg, .st = st, .nt = nt, .config_size = yaml_len,
                  .se = fo.singlethread ? NULL : se, .shared = c.allow_other,
                  .chat_fmt = chat_fmt, .chat_error = chat_error,
                  .chat_messages = remote_mode};
    if ((rc = ns_new(&env, &n))) {
        fprintf(stderr, "llmfs: cannot start: %s\n", strerror(-rc));
        goto out_threads;
    }
    ctx.n = n;
    ctx.st = st;
    ctx.nt = nt;
    ctx.env = (stats_env){.cfg = &cfg, .m = m, .s = sch, .c = rc_cache, .ctx = ctx_len,
                          .threads = cfg.threads,
                          .max_batch_tokens = BATCH_TOKENS, .kv_bytes = kv_bytes(&cfg),
                          .remote = remote_mode ? be : NULL,
                          .chat_format = remote_mode ? "server" : chat_format_name(chat_fmt)};
    ctx.config_yaml = yaml;
    ctx.config_len = yaml_len;

    if (remote_mode) {
        log_msg(LOG_INFO, "llmfs %s mounted on %s: %d remote endpoints, cache L1 %d MB, "
                "L2 %s (%d MB)", LLMFS_VERSION, fo.mountpoint, cfg.n_backends, cfg.cache.l1_mb,
                cfg.cache.l2_mb ? cfg.cache.l2_dir : "off", cfg.cache.l2_mb);
    } else {
        const model_config *mc = &m->c;
        log_msg(LOG_INFO, "llmfs %s mounted on %s: model %s (%s, dim %d, %d layers, %d heads, "
                "%d kv heads, vocab %d, context %d), %d threads, cache L1 %d MB, L2 %s (%d MB)",
                LLMFS_VERSION, fo.mountpoint, cfg.model, quant_name(m->wtype), mc->dim,
                mc->n_layers, mc->n_heads, mc->n_kv_heads, mc->vocab, ctx_len, cfg.threads,
                cfg.cache.l1_mb, cfg.cache.l2_mb ? cfg.cache.l2_dir : "off", cfg.cache.l2_mb);
    }
    stopper *stop = stopper_start(se, n);
    if (!stop) fprintf(stderr, "llmfs: cannot start the stopper: a signal ends the mount at once\n");
    if (fo.singlethread) {
        rc = fuse_session_loop(se);
    } else {
        struct fuse_loop_config *lc = fuse_loop_cfg_create();
        if (!lc) {
            rc = -ENOMEM;
        } else {
            fuse_loop_cfg_set_clone_fd(lc, (unsigned)fo.clone_fd);
            if (fo.max_idle_threads != UINT_MAX) fuse_loop_cfg_set_idle_threads(lc, fo.max_idle_threads);
            if (fo.max_threads != UINT_MAX) fuse_loop_cfg_set_max_threads(lc, fo.max_threads);
            rc = fuse_session_loop_mt(se, lc);
            fuse_loop_cfg_destroy(lc);
        }
    }
    /* A signal ends the loop with its number: that is a clean unmount. */
    ret = rc < 0 ? 1 : 0;
    stopper_free(stop);
    log_msg(LOG_INFO, "unmounted %s%s", fo.mountpoint, rc < 0 ? " after an error" : "");

    ns_shutdown(n);          /* no callbacks after this; parked reads answered */
    ops_close_all(&ctx);     /* files still open when the session ended */
out_threads:
    notify_free(nt);         /* runs the releases still queued */
    ns_free(n);
    rcache_free(rc_cache);   /* writes what is queued for the disk; releases */
    rc_cache = NULL;
    backend_free(be);
    sched_free(sch);
    stats_free(st);
    engine_free(eng);
out_unmount:
    fuse_session_unmount(se);
out_signals:
    fuse_remove_signal_handlers(se);
out_session:
    fuse_session_destroy(se);
out_model:
    rcache_free(rc_cache);
    free(yaml);
    model_free(m);
    free_keys(keys, cfg.n_backends);
    free(rep);
    curl_global_cleanup();
out_args:
    config_release(&cfg);
    free(fo.mountpoint);
    cli_release(&c);
    fuse_opt_free_args(&args);
    return ret;
}
