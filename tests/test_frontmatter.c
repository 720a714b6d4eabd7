/* Tests for fs/frontmatter.c and the xattr route of fs/params.c: no front
 * matter, the trailing-newline rule, overrides, stop as string and list,
 * every error (EINVAL with its reason), unterminated front matter, CRLF,
 * bounded nesting and aliases. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fs/frontmatter.h"
#include "fs/params.h"
#include "tests/harness.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Parses s; on success checks the body is want_body. */
static int parse(const char *s, gen_params *g, const char *want_body, char *err, size_t errlen)
{
    size_t off = 99, blen = 99;
    err[0] = '\0';
    int rc = frontmatter_parse(s, strlen(s), g, &off, &blen, err, errlen);
    if (rc == 0 && want_body) {
        CHECKF(blen == strlen(want_body) && !memcmp(s + off, want_body, blen),
               "body of '%s' is '%.*s', want '%s'", s, (int)blen, s + off, want_body);
    }
    return rc;
}

static void test_no_front_matter(void)
{
    gen_params g, d;
    char err[256];
    gen_params_default(&g);
    gen_params_default(&d);
    CHECK(parse("X\n", &g, "X", err, sizeof err) == 0);
    CHECK(parse("X\n\n", &g, "X\n", err, sizeof err) == 0);
    CHECK(parse("X", &g, "X", err, sizeof err) == 0);
    CHECK(parse("", &g, "", err, sizeof err) == 0);
    CHECK(parse("\n", &g, "", err, sizeof err) == 0);
    CHECK(parse("X\r\n", &g, "X\r", err, sizeof err) == 0);
    CHECK(parse("---", &g, "---", err, sizeof err) == 0);
    CHECK(parse("--- \nmax_tokens: 3\n---\n", &g, "--- \nmax_tokens: 3\n---", err, sizeof err) == 0);
    CHECK(parse("----\nx\n", &g, "----\nx", err, sizeof err) == 0);
    CHECK(parse(" ---\nx\n", &g, " ---\nx", err, sizeof err) == 0);
    CHECK(parse("hello\n---\nmax_tokens: 3\n---\n", &g, "hello\n---\nmax_tokens: 3\n---", err,
                sizeof err) == 0);
    CHECK(params_equal(&g, &d));
    /* Bytes that are not UTF-8 or YAML are fine in a body. */
    size_t off, blen;
    const char bin[] = "a\0\xff\n";
    CHECK(frontmatter_parse(bin, 4, &g, &off, &blen, err, sizeof err) == 0);
    CHECK(off == 0 && blen == 3);
}

static void test_overrides(void)
{
    gen_params g;
    char err[256];
    gen_params_default(&g);
    g.max_tokens = 100;   /* from the config: kept unless overridden */
    const char *f = "---\n"
                    "temperature: 0.8      # 0 = greedy\n"
                    "top_k: 40\n"
                    "top_p: 0.95\n"
                    "seed: 7\n"
                    "stop: [\"\\n\\n\"]\n"
                    "priority: high\n"
                    "---\n"
                    "Once upon a time\n";
    CHECKF(parse(f, &g, "Once upon a time", err, sizeof err) == 0, "%s", err);
    CHECK(g.max_tokens == 100);
    CHECK(g.temperature == 0.8f && g.top_k == 40 && g.top_p == 0.95f && g.seed == 7);
    CHECK(g.n_stop == 1 && !strcmp(g.stop[0], "\n\n"));
    CHECK(g.priority == PRIO_HIGH);

    /* The trailing-newline rule applies to the body after front matter. */
    gen_params_default(&g);
    CHECK(parse("---\nmax_tokens: 1\n---\nX\n\n", &g, "X\n", err, sizeof err) == 0);
    CHECK(g.max_tokens == 1);
    CHECK(parse("---\nmax_tokens: 2\n---\nX", &g, "X", err, sizeof err) == 0);
    CHECK(parse("---\nmax_tokens: 3\n---\n", &g, "", err, sizeof err) == 0);
    CHECK(parse("---\nmax_tokens: 4\n---", &g, "", err, sizeof err) == 0);
    CHECK(g.max_tokens == 4);
    /* Empty front matter, and a comment-only one. */
    CHECK(parse("---\n---\nbody\n", &g, "body", err, sizeof err) == 0);
    CHECK(parse("---\n# nothing\n---\nbody\n", &g, "body", err, sizeof err) == 0);
    /* A body may itself contain "---" lines: only the first closes. */
    CHECK(parse("---\nseed: 1\n---\na\n---\nb\n", &g, "a\n---\nb", err, sizeof err) == 0);
    /* stop as a string, as a list, cleared; priority low/normal */
    CHECK(parse("---\nstop: \"###\"\npriority: low\n---\nx\n", &g, "x", err, sizeof err) == 0);
    CHECK(g.n_stop == 1 && !strcmp(g.stop[0], "###") && g.priority == PRIO_LOW);
    CHECK(parse("---\nstop:\n  - END\n  - \"\\n\"\n  - 'a b'\n  - \"\\u00e9\"\n---\nx\n", &g, "x",
                err, sizeof err) == 0);
    CHECK(g.n_stop == 4 && !strcmp(g.stop[0], "END") && !strcmp(g.stop[1], "\n") &&
          !strcmp(g.stop[2], "a b") && !strcmp(g.stop[3], "\xc3\xa9"));
    CHECK(parse("---\nstop: []\npriority: normal\n---\nx\n", &g, "x", err, sizeof err) == 0);
    CHECK(g.n_stop == 0 && g.priority == PRIO_NORMAL);
    CHECK(parse("---\nstop: [a]\n---\nx\n", &g, "x", err, sizeof err) == 0);
    CHECK(parse("---\nstop:\n---\nx\n", &g, "x", err, sizeof err) == 0);
    CHECK(g.n_stop == 0);
    /* Flow mapping, a leading document marker inside is not allowed but
     * flow style is; seed at its maximum; top_k 0 (off); temperature 0. */
    CHECK(parse("---\n{seed: 18446744073709551615, top_k: 0, temperature: 0}\n---\nx\n", &g, "x",
                err, sizeof err) == 0);
    CHECK(g.seed == UINT64_MAX && g.top_k == 0 && g.temperature == 0.0f);
}

/* Expects -EINVAL with exactly msg and g untouched. */
static void expect_error(const char *s, const char *msg)
{
    gen_params g, d;
    char err[512];
    gen_params_default(&g);
    gen_params_default(&d);
    int rc = parse(s, &g, NULL, err, sizeof err);
    CHECKF(rc == -EINVAL, "rc %d for '%s'", rc, s);
    CHECKF(!strcmp(err, msg), "\n#     got  '%s'\n#     want '%s'", err, msg);
    CHECK(params_equal(&g, &d));
}

static void test_errors(void)
{
    expect_error("---\nmax_tokens: 5\n", "front matter: no closing '---' line");
    expect_error("---\n", "front matter: no closing '---' line");
    expect_error("---\nmax_tokens: 5\n--- \nx\n", "front matter: no closing '---' line");
    expect_error("---\nmax_tokens: 5\ntemperature: -1\n---\nx\n",
                 "front matter line 3: temperature: expected a number from 0 to 100");
    expect_error("---\nseed: 1\nmax_tokens: 0\n---\nx\n",
                 "front matter line 3: max_tokens: expected an integer in [1, 1048576]");
    expect_error("---\nmax_tokens: lots\n---\n",
                 "front matter line 2: max_tokens: expected an integer in [1, 1048576]");
    expect_error("---\nmax_tokens: \"5\"\n---\n",
                 "front matter line 2: max_tokens: expected an integer in [1, 1048576] "
                 "(got a quoted string)");
    expect_error("---\ntop_k: -3\n---\n",
                 "front matter line 2: top_k: expected an integer >= 0 (0 = off)");
    expect_error("---\ntop_p: 0\n---\n", "front matter line 2: top_p: expected a number in (0, 1]");
    expect_error("---\ntop_p: 1.5\n---\n", "front matter line 2: top_p: expected a number in (0, 1]");
    expect_error("---\ntop_p: nan\n---\n", "front matter line 2: top_p: expected a number in (0, 1]");
    expect_error("---\nseed: -7\n---\n",
                 "front matter line 2: seed: expected an integer in [0, 18446744073709551615]");
    expect_error("---\npriority: urgent\n---\n",
                 "front matter line 2: priority: expected high, normal or low");
    expect_error("---\ntemperature: [1]\n---\n",
                 "front matter line 2: temperature: expected a number from 0 to 100, got a list");
    expect_error("---\n\nstop: [a, b, c, d, e]\n---\n",
                 "front matter line 3: stop: at most 4 stop strings");
    expect_error("---\nstop:\n  - ok\n  - {a: 1}\n---\n",
                 "front matter line 4: stop: expected a string, got a mapping");
    expect_error("---\nstop: \"\"\n---\n", "front matter line 2: stop: a stop string cannot be empty");
    expect_error("---\nstop: {a: b}\n---\n",
                 "front matter line 2: stop: expected a string or a list of strings, got a mapping");
    expect_error("---\nstop: "
                 "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n---\n",
                 "front matter line 2: stop: a stop string is at most 64 bytes (got 65)");
    expect_error("---\ntemprature: 1\n---\n",
                 "front matter line 2: unknown key 'temprature' (known: max_tokens, "
                 "temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, seed, stop, "
                 "priority, cache)");
    expect_error("---\nseed: 1\nseed: 2\n---\n", "front matter line 3: duplicate key 'seed'");
    expect_error("---\njust a sentence\n---\n",
                 "front matter line 2: expected key: value lines, got a scalar");
    expect_error("---\n- a\n---\n", "front matter line 2: expected key: value lines, got a list");
    expect_error("---\nseed: 1\n  x: 2\n---\n",
                 "front matter line 3: mapping values are not allowed in this context");
    expect_error("---\nseed: [1\n---\n",
                 "front matter line 3: did not find expected ',' or ']'");
    expect_error("---\nseed: 1\nstop: \"\x01\"\n---\n",
                 "front matter line 3: control characters are not allowed");
    expect_error("---\nseed: 1\n--- x\n---\n",
                 "front matter line 3: only one YAML document is allowed");
}

static void test_crlf(void)
{
    /* Delimiter lines may end in CRLF (a file from a Windows editor keeps
     * its front matter); the body's bytes are kept as they are, and only
     * one "\n" is removed at its end. */
    gen_params g;
    char err[256];
    gen_params_default(&g);
    CHECKF(parse("---\r\nmax_tokens: 9\r\ntop_k: 2\r\n---\r\nHi\r\n", &g, "Hi\r", err,
                 sizeof err) == 0, "%s", err);
    CHECK(g.max_tokens == 9 && g.top_k == 2);
    CHECK(parse("---\r\nmax_tokens: 8\r\n---\r\n", &g, "", err, sizeof err) == 0);
    CHECK(g.max_tokens == 8);
    CHECK(parse("---\nmax_tokens: 7\n---\r", &g, "", err, sizeof err) == 0);
    CHECK(g.max_tokens == 7);
}

static void test_xattr(void)
{
    gen_params g, d;
    char err[256];
    gen_params_default(&g);
    CHECK(params_set_xattr(&g, "temperature", "0.5", 3, err, sizeof err) == 0);
    CHECK(g.temperature == 0.5f);
    CHECK(params_set_xattr(&g, "max_tokens", "12\n", 3, err, sizeof err) == 0);
    CHECK(g.max_tokens == 12);
    CHECK(params_set_xattr(&g, "seed", " 42 ", 4, err, sizeof err) == 0);
    CHECK(g.seed == 42);
    CHECK(params_set_xattr(&g, "priority", "low\n", 4, err, sizeof err) == 0);
    CHECK(g.priority == PRIO_LOW);
    CHECK(params_set_xattr(&g, "stop", "\n\n", 2, err, sizeof err) == 0);
    CHECK(g.n_stop == 1 && !strcmp(g.stop[0], "\n\n"));
    CHECK(params_set_xattr(&g, "stop", "a\0bc\0", 5, err, sizeof err) == 0);
    CHECK(g.n_stop == 2 && !strcmp(g.stop[0], "a") && !strcmp(g.stop[1], "bc"));
    CHECK(params_set_xattr(&g, "stop", "", 0, err, sizeof err) == 0);
    CHECK(g.n_stop == 0);
    d = g;
    CHECK(params_set_xattr(&g, "temperature", "-1", 2, err, sizeof err) == -EINVAL);
    CHECKF(!strcmp(err, "temperature: expected a number from 0 to 100"), "%s", err);
    CHECK(params_set_xattr(&g, "top_p", "2", 1, err, sizeof err) == -EINVAL);
    CHECKF(!strcmp(err, "top_p: expected a number in (0, 1]"), "%s", err);
    CHECK(params_set_xattr(&g, "max_tokens", "1\0002", 3, err, sizeof err) == -EINVAL);
    CHECK(params_set_xattr(&g, "stop", "a\0\0b", 4, err, sizeof err) == -EINVAL);
    CHECKF(!strcmp(err, "stop: a stop string cannot be empty"), "%s", err);
    CHECK(params_set_xattr(&g, "stop", "1\0" "2\0" "3\0" "4\0" "5", 9, err, sizeof err) == -EINVAL);
    CHECKF(!strcmp(err, "stop: at most 4 stop strings"), "%s", err);
    CHECK(params_set_xattr(&g, "priority", "asap", 4, err, sizeof err) == -EINVAL);
    CHECK(params_set_xattr(&g, "error", "x", 1, err, sizeof err) == -ENOTSUP);
    CHECK(params_equal(&g, &d));
    CHECK(params_check(&g, err, sizeof err) == 0);
    g.top_p = 0;
    CHECK(params_check(&g, err, sizeof err) == -EINVAL);
    CHECKF(!strcmp(err, "top_p: expected a number in (0, 1]"), "%s", err);
}

/* Nesting and aliases are bounded before libyaml builds the document:
 * a 100,000-deep front matter (seconds of libyaml time unbounded) and a
 * list of 33 aliases are refused with the line they cross the bound on. */
static void test_bounds(void)
{
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 64);
    size_t k = (size_t)sprintf(deep, "---\nstop: ");
    memset(deep + k, '[', depth), k += depth;
    memset(deep + k, ']', depth), k += depth;
    k += (size_t)sprintf(deep + k, "\n---\nhi\n");
    double t0 = now_s();
    expect_error(deep, "front matter line 2: nested deeper than 32 levels");
    CHECKF(now_s() - t0 < 1.0, "refusing took %.2f s", now_s() - t0);
    free(deep);
    char al[1024];
    k = (size_t)sprintf(al, "---\nstop: &s x\nmax_tokens: [");
    for (int i = 0; i < 33; i++) k += (size_t)sprintf(al + k, "*s, ");
    sprintf(al + k, "]\n---\nhi\n");
    expect_error(al, "front matter line 3: more than 32 aliases");
    /* 32 levels are still read (and refused for what they are) */
    char ok[256];
    k = (size_t)sprintf(ok, "---\nstop: ");
    for (int i = 0; i < 31; i++) ok[k++] = '[';
    for (int i = 0; i < 31; i++) ok[k++] = ']';
    sprintf(ok + k, "\n---\nhi\n");
    expect_error(ok, "front matter line 2: stop: expected a string, got a list");
}

int main(void)
{
    TEST("frontmatter: none", test_no_front_matter);
    TEST("frontmatter: overrides and trailing newline", test_overrides);
    TEST("frontmatter: errors are EINVAL with a reason", test_errors);
    TEST("frontmatter: CRLF", test_crlf);
    TEST("frontmatter: nesting and aliases are bounded", test_bounds);
    TEST("params: xattr route", test_xattr);
    TEST_EXIT();
}
