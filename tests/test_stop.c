/* Stop strings: generation ends at the first occurrence of any stop
 * string, which is not part of the text; bytes that might be the start of
 * a stop string are held back until they are known not to be, so a reader
 * never sees a partial stop string that later completes. */
#include "tests/harness.h"
#include "tests/test_model.h"
#include "engine/engine.h"

#include <string.h>

static model *m;
static char got[8192];
static size_t got_len;
static int saw_partial;          /* a chunk ended with a prefix of the stop */
static const char *cur_stop;

static void collect(void *ud, const char *t, size_t n) {
    (void)ud;
    if (got_len + n < sizeof got) { memcpy(got + got_len, t, n); got_len += n; }
    /* the text emitted so far must never end inside the stop string */
    size_t sl = strlen(cur_stop);
    for (size_t k = 1; k < sl && k <= got_len; k++)
        if (!memcmp(got + got_len - k, cur_stop, k)) saw_partial = 1;
}

static int generate(const char *prompt, const char *stop, int *finish) {
    char err[256];
    engine *e;
    if (engine_new(m, 1, 0, 64, 0, &e, err, sizeof err)) return -1;
    gen_params p;
    gen_params_default(&p);
    p.max_tokens = 200;
    if (stop) { snprintf(p.stop[0], sizeof p.stop[0], "%s", stop); p.n_stop = 1; }
    cur_stop = stop ? stop : "";
    got_len = 0;
    saw_partial = 0;
    seq *s;
    if (seq_new(e, prompt, strlen(prompt), &p, collect, NULL, &s)) return -1;
    engine_generate(e, s);
    *finish = s->finish;
    seq_free(e, s);
    engine_free(e);
    return 0;
}

static void stops(void) {
    int fin;
    char full[8192];
    CHECK(generate("Once upon a time", NULL, &fin) == 0);
    memcpy(full, got, got_len);
    size_t full_len = got_len;
    full[full_len] = 0;
    /* stops that span token boundaries, a single character, a word */
    static const char *cases[] = { "girl named", ".", "Lily", " to play", "\n" };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *at = strstr(full, cases[i]);
        CHECKF(at, "the reference text has no '%s'", cases[i]);
        if (!at) continue;
        CHECK(generate("Once upon a time", cases[i], &fin) == 0);
        size_t want = (size_t)(at - full);
        CHECKF(got_len == want && !memcmp(got, full, want),
               "stop '%s': got %zu bytes, want the %zu before it", cases[i], got_len, want);
        CHECKF(fin == FINISH_STOP, "stop '%s': finish %d", cases[i], fin);
        CHECKF(!saw_partial, "stop '%s': a partial stop string was handed out", cases[i]);
    }
    /* a stop string that never occurs changes nothing */
    CHECK(generate("Once upon a time", "zebra", &fin) == 0);
    CHECK(got_len == full_len && !memcmp(got, full, full_len) && fin != FINISH_STOP);
}

int main(void) {
    if (!(m = test_load_model("models/stories260K.gguf"))) return 1;
    TEST("stop strings end generation before them, never half-emitted", stops);
    model_free(m);
    TEST_EXIT();
}
