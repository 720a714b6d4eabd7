/* Tests for fs/config.c: defaults, the render/load round trip, every kind
 * of error with its exact file:line:column, -o options. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>

#include "fs/config.h"
#include "remote/remote.h"
#include "tests/harness.h"

static int load(llmfs_config *c, const char *yaml, char *err, size_t errlen)
{
    err[0] = '\0';
    return config_load_buf(c, yaml, strlen(yaml), "t.yaml", err, errlen);
}

static void test_defaults(void)
{
    llmfs_config c;
    config_defaults(&c);
    CHECK(c.model == NULL);
    CHECK(c.tokenizer == NULL);
    CHECK(c.threads == 2);
    CHECK(c.context == 0);
    CHECK(c.generation.max_tokens == 256);
    CHECK(c.generation.temperature == 0.0f);
    CHECK(c.generation.top_k == 0);
    CHECK(c.generation.top_p == 1.0f);
    CHECK(c.generation.seed == 0);
    CHECK(c.generation.n_stop == 0);
    CHECK(c.generation.priority == PRIO_NORMAL);
    CHECK(c.scheduler.max_batch == 16);
    CHECK(c.scheduler.queue == 256);
    CHECK(c.scheduler.tpot_target_ms == 50);
    CHECK(c.cache.l1_mb == 64);
    CHECK(c.cache.l2_dir && !strcmp(c.cache.l2_dir, "~/.cache/llmfs"));
    CHECK(c.cache.l2_mb == 1024);
    CHECK(!strcmp(config_policy_name(c.cache.policy), "adaptive"));
    CHECK(c.cache.kv_prefix == true);
    CHECK(c.cache.kv_mb == 256);
    CHECK(c.limits.max_prompt_bytes == 1048576);
    /* An empty file, a comment, a null document and empty sections change nothing. */
    const char *empties[] = {"", "# nothing\n", "~\n", "---\n", "generation:\ncache: ~\n"};
    for (size_t i = 0; i < sizeof empties / sizeof *empties; i++) {
        llmfs_config d;
        char err[256];
        config_defaults(&d);
        CHECKF(load(&d, empties[i], err, sizeof err) == 0, "%s", err);
        CHECK(config_equal(&c, &d));
        config_release(&d);
    }
    config_release(&c);
    config_release(&c);   /* released twice: zeroed, so harmless */
    config_release(NULL);
}

static void test_load_values(void)
{
    const char *y =
        "model: /m/model.gguf\n"
        "tokenizer: tok.bin\n"
        "threads: 8\n"
        "context: 512\n"
        "generation: {max_tokens: 64, temperature: 0.8, top_k: 40, top_p: 0.95, seed: 7,\n"
        "             stop: [\"\\n\\n\", \"###\"], priority: high}\n"
        "scheduler: {max_batch: 4, queue: 10, tpot_target_ms: 25}\n"
        "cache:\n"
        "  l1_mb: 0\n"
        "  l2_dir: '/var/cache/llmfs'\n"
        "  l2_mb: 2048\n"
        "  policy: lru\n"
        "  kv_prefix: no\n"
        "  kv_mb: 16\n"
        "limits: {max_prompt_bytes: 4096}\n";
    llmfs_config c;
    char err[256];
    config_defaults(&c);
    CHECKF(load(&c, y, err, sizeof err) == 0, "%s", err);
    CHECK(c.model && !strcmp(c.model, "/m/model.gguf"));
    CHECK(c.tokenizer && !strcmp(c.tokenizer, "tok.bin"));
    CHECK(c.threads == 8 && c.context == 512);
    CHECK(c.generation.max_tokens == 64 && c.generation.temperature == 0.8f);
    CHECK(c.generation.top_k == 40 && c.generation.top_p == 0.95f && c.generation.seed == 7);
    CHECK(c.generation.n_stop == 2 && !strcmp(c.generation.stop[0], "\n\n") &&
          !strcmp(c.generation.stop[1], "###"));
    CHECK(c.generation.priority == PRIO_HIGH);
    CHECK(c.scheduler.max_batch == 4 && c.scheduler.queue == 10 &&
          c.scheduler.tpot_target_ms == 25);
    CHECK(c.cache.l1_mb == 0 && !strcmp(c.cache.l2_dir, "/var/cache/llmfs"));
    CHECK(c.cache.l2_mb == 2048 &&
          !strcmp(config_policy_name(c.cache.policy), "lru"));
    CHECK(c.cache.kv_prefix == false && c.cache.kv_mb == 16);
    CHECK(c.limits.max_prompt_bytes == 4096);
    /* A later file overrides only what it names; model: ~ unsets. */
    CHECKF(load(&c, "threads: 3\nmodel: ~\ngeneration: {stop: []}\n", err, sizeof err) == 0,
           "%s", err);
    CHECK(c.threads == 3 && c.model == NULL && c.context == 512);
    CHECK(c.generation.n_stop == 0 && c.generation.max_tokens == 64);
    /* stop as a single string */
    CHECKF(load(&c, "generation:\n  stop: \"END\"\n", err, sizeof err) == 0, "%s", err);
    CHECK(c.generation.n_stop == 1 && !strcmp(c.generation.stop[0], "END"));
    config_release(&c);
}

static void roundtrip(const llmfs_config *c)
{
    char *y = NULL, *y2 = NULL, err[256];
    size_t n = 0, n2 = 0;
    CHECK(config_render_yaml(c, &y, &n) == 0);
    if (!y)
        return;
    CHECK(strlen(y) == n);
    llmfs_config d;
    config_defaults(&d);
    config_set_option(&d, "threads", "99", err, sizeof err);   /* differ before the load */
    int rc = config_load_buf(&d, y, n, "rendered", err, sizeof err);
    CHECKF(rc == 0, "%s\n%s", err, y);
    CHECKF(config_equal(c, &d), "not equal after reading back:\n%s", y);
    CHECK(config_render_yaml(&d, &y2, &n2) == 0);
    CHECK(y2 && n == n2 && !memcmp(y, y2, n));
    free(y);
    free(y2);
    config_release(&d);
}

static void test_roundtrip(void)
{
    llmfs_config c;
    char err[256];
    config_defaults(&c);
    roundtrip(&c);
    /* Every field away from its default, strings full of characters YAML
     * treats specially. */
    const char *opts[][2] = {
        {"model", "/tmp/we\"ird\\ path: #x\t'q'\n~"},
        {"tokenizer", "~"},
        {"threads", "7"},
        {"context", "2048"},
        {"generation.max_tokens", "1000"},
        {"generation.temperature", "0.7"},
        {"generation.top_k", "5"},
        {"generation.top_p", "0.9"},
        {"generation.seed", "18446744073709551615"},
        {"generation.priority", "low"},
        {"scheduler.max_batch", "1"},
        {"scheduler.queue", "1048576"},
        {"scheduler.tpot_target_ms", "600000"},
        {"cache.l1_mb", "0"},
        {"cache.l2_mb", "0"},
        {"cache.policy", "lru"},
        {"cache.kv_prefix", "off"},
        {"cache.kv_mb", "1"},
        {"limits.max_prompt_bytes", "1099511627776"},
    };
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++)
        CHECKF(config_set_option(&c, opts[i][0], opts[i][1], err, sizeof err) == 0, "%s: %s",
               opts[i][0], err);
    /* "null" and "~" set by -o: a plain scalar that is YAML's null unsets,
     * except for l2_dir, which refuses. */
    CHECK(c.tokenizer == NULL);
    CHECK(config_set_option(&c, "cache.l2_dir", "null", err, sizeof err) == -EINVAL);
    CHECK(c.cache.l2_dir && !strcmp(c.cache.l2_dir, "~/.cache/llmfs"));
    free(c.tokenizer);
    c.tokenizer = strdup("\x7f\xc2\x85\xe2\x80\xa8\xe2\x80\xa9\xef\xbb\xbf\xef\xbf\xbe"
                         "\xc2\x80 \xc3\xa9\xf0\x9f\x98\x80 \x01\x1b\r");
    free(c.cache.l2_dir);
    c.cache.l2_dir = strdup("null");
    params_stop_clear(&c.generation);
    CHECK(params_stop_add(&c.generation, "\n\n", 2, err, sizeof err) == 0);
    CHECK(params_stop_add(&c.generation, "\"]", 2, err, sizeof err) == 0);
    CHECK(params_stop_add(&c.generation, "- ", 2, err, sizeof err) == 0);
    CHECK(params_stop_add(&c.generation, "\xe2\x80\xa8", 3, err, sizeof err) == 0);
    roundtrip(&c);
    /* Floats that need every digit. */
    c.generation.temperature = nextafterf(0.1f, 1.0f);
    c.generation.top_p = nextafterf(1.0f, 0.0f);
    roundtrip(&c);
    c.generation.temperature = 1e-30f;
    c.generation.top_p = 1e-7f;
    roundtrip(&c);
    config_release(&c);
}

/* Loads yaml onto the defaults, expects -EINVAL with exactly msg, and the
 * config unchanged. */
static void expect_error(const char *yaml, const char *msg)
{
    llmfs_config c, before;
    char err[512];
    config_defaults(&c);
    config_defaults(&before);
    int rc = load(&c, yaml, err, sizeof err);
    CHECKF(rc == -EINVAL, "rc %d for %s", rc, yaml);
    CHECKF(!strncmp(err, msg, strlen(msg)), "\n#     got  '%s'\n#     want '%s'", err, msg);
    CHECK(config_equal(&c, &before));
    config_release(&c);
    config_release(&before);
}

static void test_errors(void)
{
    /* unknown keys */
    expect_error("threads: 2\nfoo: 1\n", "t.yaml:2:1: unknown key 'foo' (known: model,");
    expect_error("cache:\n  polcy: lru\n", "t.yaml:2:3: unknown key 'cache.polcy' (known: l1_mb,");
    expect_error("generation:\n    top_n: 3\n", "t.yaml:2:5: unknown key 'generation.top_n'");
    expect_error("? [a]\n: 1\n", "t.yaml:1:3: expected a key name, got a list");
    expect_error("threads: 1\nthreads: 2\n", "t.yaml:2:1: duplicate key 'threads'");
    /* wrong types */
    expect_error("threads: two\n", "t.yaml:1:10: threads: expected an integer in [1, 256]");
    expect_error("threads: \"4\"\n",
                 "t.yaml:1:10: threads: expected an integer in [1, 256] (got a quoted string)");
    expect_error("threads: 2.5\n", "t.yaml:1:10: threads: expected an integer in [1, 256]");
    expect_error("threads:\n", "t.yaml:1:9: threads: expected an integer in [1, 256]");
    expect_error("threads: {a: 1}\n",
                 "t.yaml:1:10: threads: expected an integer in [1, 256], got a mapping");
    expect_error("model: [a, b]\n", "t.yaml:1:8: model: expected a string, got a list");
    expect_error("cache:\n  kv_prefix: maybe\n",
                 "t.yaml:2:14: cache.kv_prefix: expected true or false");
    expect_error("cache:\n  kv_prefix: 1\n", "t.yaml:2:14: cache.kv_prefix: expected true or false");
    expect_error("cache:\n  kv_prefix: \"true\"\n",
                 "t.yaml:2:14: cache.kv_prefix: expected true or false (got a quoted string)");
    expect_error("cache: 5\n", "t.yaml:1:8: cache: expected a mapping of keys, got a scalar");
    expect_error("generation: [1]\n",
                 "t.yaml:1:13: generation: expected a mapping of keys, got a list");
    expect_error("- a\n", "t.yaml:1:1: expected a mapping of keys, got a list");
    expect_error("generation:\n  temperature: hot\n",
                 "t.yaml:2:16: generation.temperature: expected a number from 0 to 100");
    expect_error("generation:\n  temperature: .inf\n",
                 "t.yaml:2:16: generation.temperature: expected a number from 0 to 100");
    expect_error("generation:\n  temperature: [1]\n",
                 "t.yaml:2:16: generation.temperature: expected a number from 0 to 100, got a list");
    expect_error("generation:\n  stop: [[1]]\n",
                 "t.yaml:2:10: generation.stop: expected a string, got a list");
    expect_error("generation:\n  stop: {a: 1}\n",
                 "t.yaml:2:9: generation.stop: expected a string or a list of strings, got a mapping");
    expect_error("generation:\n  seed: -1\n", "t.yaml:2:9: generation.seed: expected an integer");
    expect_error("generation:\n  seed: 18446744073709551616\n",
                 "t.yaml:2:9: generation.seed: expected an integer");
    /* impossible values */
    expect_error("threads: 0\n", "t.yaml:1:10: threads: expected an integer in [1, 256]");
    expect_error("threads: 257\n", "t.yaml:1:10: threads: expected an integer in [1, 256]");
    expect_error("threads: 99999999999999999999\n", "t.yaml:1:10: threads: expected an integer");
    expect_error("context: -1\n", "t.yaml:1:10: context: expected an integer in [0, 16777216]");
    expect_error("generation:\n  temperature: -0.5\n",
                 "t.yaml:2:16: generation.temperature: expected a number from 0 to 100");
    expect_error("generation:\n  top_p: 0\n", "t.yaml:2:10: generation.top_p: expected a number in (0, 1]");
    expect_error("generation:\n  top_p: 1.01\n", "t.yaml:2:10: generation.top_p: expected a number in (0, 1]");
    expect_error("generation:\n  max_tokens: 0\n",
                 "t.yaml:2:15: generation.max_tokens: expected an integer in [1, 1048576]");
    expect_error("generation:\n  top_k: -1\n", "t.yaml:2:10: generation.top_k: expected an integer >= 0");
    expect_error("generation:\n  priority: urgent\n",
                 "t.yaml:2:13: generation.priority: expected high, normal or low");
    expect_error("generation:\n  stop: [a, b, c, d, e]\n",
                 "t.yaml:2:22: generation.stop: at most 4 stop strings");
    expect_error("generation:\n  stop: [\"\"]\n",
                 "t.yaml:2:10: generation.stop: a stop string cannot be empty");
    expect_error("generation:\n  stop: "
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
                 "t.yaml:2:9: generation.stop: a stop string is at most 64 bytes (got 65)");
    expect_error("generation:\n  stop: \"a\\0b\"\n",
                 "t.yaml:2:9: generation.stop: a stop string cannot contain a NUL byte");
    expect_error("scheduler: {queue: 0}\n", "t.yaml:1:20: scheduler.queue: expected an integer in [1, 1048576]");
    expect_error("scheduler: {max_batch: 0}\n", "t.yaml:1:24: scheduler.max_batch: expected an integer in [1, 4096]");
    expect_error("cache:\n  policy: fifo\n", "t.yaml:2:11: cache.policy: expected adaptive, lru, arc, s3fifo or gdsf");
    expect_error("cache:\n  l2_dir: ~\n", "t.yaml:2:11: cache.l2_dir: expected a directory path");
    expect_error("cache:\n  l1_mb: -1\n", "t.yaml:2:10: cache.l1_mb: expected an integer in [0, 1048576]");
    expect_error("limits: {max_prompt_bytes: 0}\n",
                 "t.yaml:1:28: limits.max_prompt_bytes: expected an integer in [1, 1099511627776]");
    expect_error("model: ''\n", "t.yaml:1:8: model: expected a path, got an empty string");
    expect_error("generation:\n  stop: \"\"\n",
                 "t.yaml:2:9: generation.stop: a stop string cannot be empty");
    expect_error("model: \"a\\0b\"\n", "t.yaml:1:8: model: a path cannot contain a NUL byte");
    /* YAML syntax */
    expect_error("threads: 2\n x: 1\n", "t.yaml:2:3: mapping values are not allowed in this context");
    expect_error("a: [1, 2\n", "t.yaml:2:1: did not find expected ',' or ']'");
    expect_error("key: @\n", "t.yaml:1:6: found character that cannot start any token");
    expect_error("threads: 2\nmodel: \"x\x01\"\n", "t.yaml:2:10: control characters are not allowed");
    expect_error("threads: 2\nmodel: \xff\n", "t.yaml:2:8: invalid leading UTF-8 octet");
    expect_error("threads: 1\n---\nthreads: 2\n", "t.yaml:2:1: only one YAML document is allowed");
    expect_error("threads: *nope\n", "t.yaml:1:10: found undefined alias");
    /* nesting and aliases are bounded before the document is built */
    {
        char deep[200000];
        size_t k = (size_t)sprintf(deep, "x: ");
        for (int i = 0; i < 90000; i++) deep[k++] = '[';
        deep[k] = 0;
        expect_error(deep, "t.yaml:1:35: nested deeper than 32 levels");
        k = (size_t)sprintf(deep, "a: &x 1\nb: [");
        for (int i = 0; i < 33; i++) k += (size_t)sprintf(deep + k, "*x, ");
        sprintf(deep + k, "]\n");
        expect_error(deep, "t.yaml:2:133: more than 32 aliases");
    }
    /* A bad value after good ones leaves the config as it was. */
    expect_error("threads: 5\nmodel: /x\ncontext: -3\n", "t.yaml:3:10: context:");
}

static void test_file(void)
{
    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *y = "threads: 4\n\ngeneration:\n  top_p: 2\n";
    CHECK(write(fd, y, strlen(y)) == (ssize_t)strlen(y));
    close(fd);
    llmfs_config c;
    char err[512], want[512];
    config_defaults(&c);
    CHECK(config_load_file(&c, path, err, sizeof err) == -EINVAL);
    snprintf(want, sizeof want, "%s:4:10: generation.top_p: expected a number in (0, 1]", path);
    CHECKF(!strcmp(err, want), "got '%s'", err);
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(write(fd, "threads: 4\n", 11) == 11);
    close(fd);
    CHECKF(config_load_file(&c, path, err, sizeof err) == 0, "%s", err);
    CHECK(c.threads == 4);
    unlink(path);
    CHECK(config_load_file(&c, path, err, sizeof err) == -ENOENT);
    snprintf(want, sizeof want, "%s: No such file or directory", path);
    CHECKF(!strcmp(err, want), "got '%s'", err);
    CHECK(config_load_file(&c, "/tmp", err, sizeof err) == -EISDIR);
    config_release(&c);
}

static void test_options(void)
{
    llmfs_config c;
    char err[256];
    config_defaults(&c);
    CHECK(config_set_option(&c, "generation.max_tokens", "5", err, sizeof err) == 0);
    CHECK(c.generation.max_tokens == 5);
    CHECK(config_set_option(&c, "model", "/m.gguf", err, sizeof err) == 0);
    CHECK(!strcmp(c.model, "/m.gguf"));
    CHECK(config_set_option(&c, "cache.policy", "lru", err, sizeof err) == 0);
    CHECK(!strcmp(config_policy_name(c.cache.policy), "lru"));
    CHECK(config_set_option(&c, "cache.policy", "adaptive", err, sizeof err) == 0);
    CHECK(config_set_option(&c, "cache.policy", "fifo", err, sizeof err) == -EINVAL);
    CHECK(config_set_option(&c, "generation.cache", "refresh", err, sizeof err) == 0);
    CHECK(c.generation.cache == GEN_CACHE_REFRESH);
    CHECK(config_set_option(&c, "generation.cache", "sometimes", err, sizeof err) == -EINVAL);
    CHECK(config_set_option(&c, "cache.kv_prefix", "false", err, sizeof err) == 0);
    CHECK(!c.cache.kv_prefix);
    CHECK(config_set_option(&c, "generation.stop", "###", err, sizeof err) == 0);
    CHECK(c.generation.n_stop == 1 && !strcmp(c.generation.stop[0], "###"));
    CHECK(config_set_option(&c, "generation.stop", "", err, sizeof err) == 0);
    CHECK(c.generation.n_stop == 0);
    CHECK(config_set_option(&c, "generation.temperature", "1.5", err, sizeof err) == 0);
    CHECK(c.generation.temperature == 1.5f);
    CHECK(config_set_option(&c, "threads", "0", err, sizeof err) == -EINVAL);
    CHECKF(!strcmp(err, "threads: expected an integer in [1, 256]"), "%s", err);
    CHECK(c.threads == 2);
    CHECK(config_set_option(&c, "generation.top_p", "abc", err, sizeof err) == -EINVAL);
    CHECKF(!strcmp(err, "generation.top_p: expected a number in (0, 1]"), "%s", err);
    CHECK(config_set_option(&c, "nosuch", "1", err, sizeof err) == -EINVAL);
    CHECKF(!strcmp(err, "nosuch: unknown option"), "%s", err);
    CHECK(config_set_option(&c, "cache", "1", err, sizeof err) == -EINVAL);
    CHECKF(!strncmp(err, "cache: a section", 16), "%s", err);
    CHECK(config_set_option(&c, "model", "\xff", err, sizeof err) == -EINVAL);
    CHECKF(!strcmp(err, "model: expected UTF-8 text"), "%s", err);
    CHECK(!strcmp(c.model, "/m.gguf"));
    config_release(&c);

    char *out = NULL;
    setenv("HOME", "/home/u", 1);
    CHECK(config_expand_path("~/.cache/llmfs", &out) == 0 && !strcmp(out, "/home/u/.cache/llmfs"));
    free(out);
    CHECK(config_expand_path("~", &out) == 0 && !strcmp(out, "/home/u"));
    free(out);
    CHECK(config_expand_path("~x/y", &out) == 0 && !strcmp(out, "~x/y"));
    free(out);
    CHECK(config_expand_path("/abs", &out) == 0 && !strcmp(out, "/abs"));
    free(out);
}

static void test_backends(void)
{
    llmfs_config c;
    char err[512];
    config_defaults(&c);
    CHECK(c.n_backends == 0 && c.remote.retries == 2 && c.remote.breaker_cooldown_ms == 5000);
    const char *y =
        "revision: \"2024-06\"\n"
        "backend:\n"
        "  - {url: \"http://gpu1.example:8000\", model: \"qwen2.5-7b\", "
        "api_key_file: \"/k\", timeout_ms: 30000}\n"
        "  - {url: \"http://gpu2.example:8000/\", model: \"qwen2.5-7b\", kind: vllm, "
        "api_key_env: KEY, connect_timeout_ms: 100, max_inflight: 8}\n"
        "remote:\n  retries: 3\n  retry_budget: 0.5\n  breaker_failure_rate: 0.25\n";
    CHECKF(load(&c, y, err, sizeof err) == 0, "%s", err);
    CHECK(c.n_backends == 2 && !strcmp(c.backends[1].url, "http://gpu2.example:8000/"));
    CHECK(c.backends[0].kind == REMOTE_OPENAI && c.backends[1].kind == REMOTE_VLLM);
    CHECK(c.backends[0].timeout_ms == 30000 && c.backends[1].max_inflight == 8);
    CHECK(!strcmp(c.backends[1].api_key_env, "KEY") && !strcmp(c.revision, "2024-06"));
    CHECK(c.remote.retries == 3 && c.remote.retry_budget == 0.5f &&
          c.remote.breaker_failure_rate == 0.25f);
    roundtrip(&c);
    /* one endpoint as a mapping; local turns them off */
    CHECKF(load(&c, "backend: {url: \"https://h\"}\n", err, sizeof err) == 0, "%s", err);
    CHECK(c.n_backends == 1 && !c.backends[0].model);
    roundtrip(&c);
    CHECKF(load(&c, "backend: local\n", err, sizeof err) == 0, "%s", err);
    CHECK(c.n_backends == 0);
    CHECK(config_set_option(&c, "backend", "x", err, sizeof err) == -EINVAL &&
          strstr(err, "config file"));
    CHECK(config_set_option(&c, "remote.breaker_window", "300", err, sizeof err) == -EINVAL);
    CHECK(config_set_option(&c, "remote.retry_budget", "1.5", err, sizeof err) == -EINVAL);
    config_release(&c);
    expect_error("backend:\n  - {model: m}\n", "t.yaml:2:5: backend: an entry without its url");
    expect_error("backend:\n  - {url: \"ftp://h\"}\n", "t.yaml:2:5: backend.url: expected http");
    expect_error("backend:\n  - {url: \"http://u:pw@h\"}\n",
                 "t.yaml:2:5: backend.url: no user or password");
    expect_error("backend:\n  - {url: \"http://h\", kind: tgi}\n",
                 "t.yaml:2:29: backend.kind: expected openai, vllm");
    expect_error("backend:\n  - {url: \"http://h\", key: 1}\n",
                 "t.yaml:2:23: unknown key 'backend.key' (known: url,");
    expect_error("backend:\n  - {url: \"http://a\", model: x}\n  - {url: \"http://b\", model: y}\n",
                 "t.yaml:2:3: backend: every endpoint must serve the same model");
    expect_error("backend: 3\n", "t.yaml:1:10: backend: expected local or a list");
    expect_error("cache: {l2_redis: \"http://h\"}\n",
                 "t.yaml:1:19: cache.l2_redis: expected redis://");
    /* a Redis password is never rendered */
    config_defaults(&c);
    CHECKF(load(&c, "cache: {l2_redis: \"redis://:hunter22@h:1/2\", l2_hmac_key_file: /k}\n",
                err, sizeof err) == 0, "%s", err);
    char *ry = NULL;
    size_t n = 0;
    CHECK(config_render_yaml(&c, &ry, &n) == 0);
    CHECK(ry && !strstr(ry, "hunter22") && strstr(ry, "l2_redis: \"redis://:***@h:1/2\"") &&
          strstr(ry, "l2_hmac_key_file: \"/k\""));
    free(ry);
    config_release(&c);
}

static void test_render(void)
{
    llmfs_config c;
    char *y;
    size_t n;
    config_defaults(&c);
    CHECK(config_render_yaml(&c, &y, &n) == 0);
    CHECK(strstr(y, "\nthreads: 2\n") != NULL);
    CHECK(strstr(y, "\n  policy: adaptive\n") != NULL);
    CHECK(strstr(y, "\n  l2_dir: \"~/.cache/llmfs\"\n") != NULL);
    CHECK(strstr(y, "\n  temperature: 0\n") != NULL);
    CHECK(strstr(y, "\n  top_p: 1\n") != NULL);
    CHECK(strstr(y, "\n  stop: []\n") != NULL);
    CHECK(strstr(y, "\nmodel: ~\n") != NULL);
    free(y);
    config_release(&c);
}

int main(void)
{
    TEST("config defaults", test_defaults);
    TEST("config load values", test_load_values);
    TEST("config render/load round trip", test_roundtrip);
    TEST("config errors with file:line:column", test_errors);
    TEST("config load file", test_file);
    TEST("config -o options", test_options);
    TEST("config render", test_render);
    TEST("config backend endpoints and remote keys load, render and read back", test_backends);
    TEST_EXIT();
}
