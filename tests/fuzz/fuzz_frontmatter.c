/* libFuzzer target for fs/frontmatter.c and the xattr route: any bytes
 * either parse (body within the buffer, valid params, body rule held) or
 * fail with EINVAL, a "front matter" reason and the params untouched. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/frontmatter.h"
#include "fs/params.h"

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
