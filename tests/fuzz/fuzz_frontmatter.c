/* libFuzzer target for fs/frontmatter.c and the xattr route: any bytes
 * either parse (body within the buffer, valid params, body rule held) or
 * fail with EINVAL, a "front matter" reason and the params untouched; a
 * chat turn's front matter parses the same, its system prompt a string;
 * and engine/chat.c recognises the bytes as a template, or refuses them
 * in one line. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/frontmatter.h"
#include "fs/params.h"
#include "engine/chat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gen_params g, d;
    char err[512];
    size_t off = 0, len = 0;
    gen_params_default(&g);
    gen_params_default(&d);
    err[0] = '\0';
    int rc = frontmatter_parse((const char *)data, size, &g, &off, &len, err, sizeof err);
    if (rc == 0) {
        if (off > size || len > size - off)
            abort();
        /* The body rule: what follows the body is nothing or one "\n". */
        size_t rest = size - off - len;
        if (rest > 1 || (rest == 1 && data[off + len] != '\n'))
            abort();
        if (params_check(&g, err, sizeof err))
            abort();
        if (size < 4 || memcmp(data, "---", 3))
            if (off != 0)
                abort();
    } else {
        if (rc != -EINVAL && rc != -ENOMEM)
            abort();
        if (strncmp(err, "front matter", 12) || !params_equal(&g, &d))
            abort();
    }
    /* a chat turn: the same split, and system: a NUL-free string */
    gen_params c = d;
    char *sys = NULL;
    size_t coff = 0, clen = 0;
    int crc = frontmatter_parse_chat((const char *)data, size, &c, &sys, &coff, &clen, err,
                                     sizeof err);
    if (crc == 0 && (coff > size || clen > size - coff || (rc == 0 && (coff != off ||
                                                                        clen != len))))
        abort();
    if (crc && (sys || !params_equal(&c, &d)))
        abort();
    free(sys);
    char why[256] = "";
    chat_format f = chat_detect((const char *)data, size, why, sizeof why);
    if (f == CHAT_NONE && (!why[0] || strchr(why, '\n')))
        abort();
    if (f != CHAT_NONE && size) {
        chat_msg m[2] = {{CHAT_USER, (const char *)data, size}, {CHAT_ASSISTANT, "x", 1}};
        char *out = NULL;
        size_t ol = 0;
        if (chat_render(f, m, 2, 1, &out, &ol) == 0 && strlen(out) != ol && !memchr(data, 0, size))
            abort();
        free(out);
        if (chat_render_next(f, m, 2, (const char *)data, size, &out, &ol) == 0 && !out)
            abort();
        free(out);
    }
    /* xattr route: the first byte picks the name, the rest is the value. */
    static const char *names[] = {"max_tokens", "temperature", "top_k", "top_p",
                                  "seed", "stop", "priority", "bogus"};
    if (size) {
        gen_params x = g;
        rc = params_set_xattr(&x, names[data[0] % 8], (const char *)data + 1, size - 1, err,
                              sizeof err);
        if (rc == 0 && params_check(&x, err, sizeof err))
            abort();
        if (rc && !params_equal(&x, &g))
            abort();
    }
    return 0;
}
