/* libFuzzer target for fs/config.c: any bytes either load or fail with a
 * "NAME:LINE:COLUMN: reason" message and leave the config unchanged; a
 * loaded config renders to YAML that reads back to an equal config (but
 * for a Redis password, shown as ***) and renders identically. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/url.h"
#include "fs/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    llmfs_config c, before;
    char err[512];
    config_defaults(&c);
    config_defaults(&before);
    err[0] = '\0';
    int rc = config_load_buf(&c, (const char *)data, size, "f.yaml", err, sizeof err);
    if (rc != 0) {
        if (rc != -EINVAL && rc != -ENOMEM)
            abort();
        if (strncmp(err, "f.yaml:", 7) || !config_equal(&c, &before))
            abort();
    } else {
        char *y = NULL, *y2 = NULL;
        size_t n = 0, n2 = 0;
        if (config_render_yaml(&c, &y, &n))
            abort();
        llmfs_config d;
        config_defaults(&d);
        if (config_load_buf(&d, y, n, "rendered", err, sizeof err)) {
            fprintf(stderr, "rendered config does not load: %s\n%s\n", err, y);
            abort();
        }
        /* a Redis password renders as *** (never shown): that config reads
         * back with *** as its password, and renders the same */
        url u;
        char ue[64];
        int hidden = c.cache.l2_redis && !url_parse(c.cache.l2_redis, &u, ue, sizeof ue) &&
                     u.has_password;
        if (!hidden && !config_equal(&c, &d)) {
            fprintf(stderr, "round trip differs:\n%s\n", y);
            abort();
        }
        if (config_render_yaml(&d, &y2, &n2) || n != n2 || memcmp(y, y2, n))
            abort();
        char e2[256];
        if (params_check(&c.generation, e2, sizeof e2))
            abort();
        free(y);
        free(y2);
        config_release(&d);
    }
    /* The -o route on the same bytes: key=value split at the first '='. */
    if (size < 512) {
        char *s = malloc(size + 1);
        memcpy(s, data, size);
        s[size] = '\0';
        char *eq = strchr(s, '=');
        if (eq) {
            *eq = '\0';
            llmfs_config o;
            config_defaults(&o);
            if (config_set_option(&o, s, eq + 1, err, sizeof err) == 0) {
                char *y = NULL;
                size_t n = 0;
                llmfs_config d;
                config_defaults(&d);
                if (config_render_yaml(&o, &y, &n) ||
                    config_load_buf(&d, y, n, "rendered", err, sizeof err) ||
                    !config_equal(&o, &d)) {
                    fprintf(stderr, "-o round trip fails: %s\n%s\n", err, y ? y : "");
                    abort();
                }
                free(y);
                config_release(&d);
            }
            config_release(&o);
        }
        free(s);
    }
    config_release(&c);
    config_release(&before);
    return 0;
}
