/* Prompt files: YAML front matter between "---" lines, parsed with libyaml
 * into gen_params overrides through params.c's validators, then the body
 * with one trailing newline removed.  Nothing is applied unless the whole
 * front matter is valid. */
#include "fs/frontmatter.h"
#include "engine/errbuf.h"
#include "fs/yamlx.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define FM_LINE0 2   /* file line of the front matter's first YAML line */


/* Length of the delimiter line "---\n" / "---\r\n" at p (n bytes left),
 * 0 if there is none; at_eof_ok accepts a bare "---" ending the file. */
static size_t delim_len(const char *p, size_t n, int at_eof_ok)
{
    if (n < 3 || memcmp(p, "---", 3))
        return 0;
    if (n == 3)
        return at_eof_ok ? 3 : 0;
    if (p[3] == '\n')
        return 4;
    if (p[3] == '\r' && n >= 5 && p[4] == '\n')
        return 5;
    if (p[3] == '\r' && n == 4 && at_eof_ok)
        return 4;
    return 0;
}

static void trailing_newline(size_t off, size_t len, const char *buf, size_t *body_off,
                             size_t *body_len)
{
    if (len && buf[off + len - 1] == '\n')
        len--;
    *body_off = off;
    *body_len = len;
}

static int fail_line(char *err, size_t errlen, yaml_mark_t m, const char *fmt, ...)
{
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    errbuf_set(err, errlen, 0, "front matter line %zu: %s", (size_t)m.line + FM_LINE0, reason);
    return -EINVAL;
}

/* Applies one key: value pair to g. */
static int apply_pair(yaml_document_t *doc, yaml_node_t *kn, yaml_node_t *vn, gen_params *g,
                      char **system, char *err, size_t errlen)
{
    char key[32], reason[192];
    if (kn->type != YAML_SCALAR_NODE)
        return fail_line(err, errlen, kn->start_mark, "expected a key name, got %s",
                         yamlx_kind(kn));
    size_t kl = kn->data.scalar.length;
    const char *ks = (const char *)kn->data.scalar.value;
    if (system && kl == 6 && !memcmp(ks, "system", 6)) {
        if (vn->type != YAML_SCALAR_NODE)
            return fail_line(err, errlen, vn->start_mark, "system: expected a string, got %s",
                             yamlx_kind(vn));
        size_t vl = vn->data.scalar.length;
        if (memchr(vn->data.scalar.value, '\0', vl))
            return fail_line(err, errlen, vn->start_mark, "system: holds a NUL byte");
        free(*system);
        if (!(*system = strndup((const char *)vn->data.scalar.value, vl))) {
            errbuf_set(err, errlen, 0, "front matter: out of memory");
            return -ENOMEM;
        }
        return 0;
    }
    if (kl >= sizeof key || memchr(ks, '\0', kl) || (memcpy(key, ks, kl), key[kl] = '\0',
                                                     !params_is_key(key))) {
        char show[52];
        size_t j = 0;
        for (size_t i = 0; i < kl && i < 40; i++)
            show[j++] = (ks[i] >= 0x20 && ks[i] < 0x7f) ? ks[i] : '?';
        show[j] = '\0';
        return fail_line(err, errlen, kn->start_mark,
                         "unknown key '%s' (known: max_tokens, temperature, top_k, top_p, "
                         "min_p, repeat_penalty, repeat_last_n, seed, stop, priority, cache)",
                         show);
    }
    if (!strcmp(key, "stop") && vn->type == YAML_SEQUENCE_NODE) {
        params_stop_clear(g);
        for (yaml_node_item_t *it = vn->data.sequence.items.start;
             it < vn->data.sequence.items.top; it++) {
            yaml_node_t *in = yaml_document_get_node(doc, *it);
            if (!in)
                continue;
            if (in->type != YAML_SCALAR_NODE)
                return fail_line(err, errlen, in->start_mark, "stop: expected a string, got %s",
                                 yamlx_kind(in));
            if (params_stop_add(g, (const char *)in->data.scalar.value, in->data.scalar.length,
                                reason, sizeof reason))
                return fail_line(err, errlen, in->start_mark, "stop: %s", reason);
        }
        return 0;
    }
    if (!strcmp(key, "stop") && yamlx_is_null(vn)) {
        params_stop_clear(g);
        return 0;
    }
    if (vn->type != YAML_SCALAR_NODE) {
        params_expect(key, reason, sizeof reason);
        return fail_line(err, errlen, vn->start_mark, "%s: %s, got %s", key, reason,
                         yamlx_kind(vn));
    }
    unsigned flags = vn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? 0 : PARAMS_QUOTED;
    if (params_set(g, key, (const char *)vn->data.scalar.value, vn->data.scalar.length, flags,
                   reason, sizeof reason))
        return fail_line(err, errlen, vn->start_mark, "%s: %s", key, reason);
    return 0;
}

static int parse_yaml(const char *y, size_t ylen, gen_params *g, char **system, char *err,
                      size_t errlen)
{
    yaml_document_t doc;
    yamlx_error ye;
    int rc = yamlx_load(y, ylen, &doc, &ye);
    if (rc == -ENOMEM) {
        errbuf_set(err, errlen, 0, "front matter: out of memory");
        return rc;
    }
    if (rc) {
        errbuf_set(err, errlen, 0, "front matter line %zu: %s", ye.line - 1 + FM_LINE0,
                   ye.problem);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || yamlx_is_null(root))
        goto out;   /* empty front matter */
    if (root->type != YAML_MAPPING_NODE) {
        rc = fail_line(err, errlen, root->start_mark, "expected key: value lines, got %s",
                       yamlx_kind(root));
        goto out;
    }
    yaml_node_pair_t *start = root->data.mapping.pairs.start;
    for (yaml_node_pair_t *p = start; rc == 0 && p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(&doc, p->value);
        if (!kn || !vn) {
            errbuf_set(err, errlen, 0, "front matter: malformed mapping");
            rc = -EINVAL;
            break;
        }
        for (yaml_node_pair_t *q = start; q < p; q++) {
            yaml_node_t *qk = yaml_document_get_node(&doc, q->key);
            if (qk && qk->type == YAML_SCALAR_NODE && kn->type == YAML_SCALAR_NODE &&
                qk->data.scalar.length == kn->data.scalar.length &&
                !memcmp(qk->data.scalar.value, kn->data.scalar.value, kn->data.scalar.length)) {
                rc = fail_line(err, errlen, kn->start_mark, "duplicate key '%.*s'",
                               (int)(kn->data.scalar.length > 40 ? 40 : kn->data.scalar.length),
                               (const char *)kn->data.scalar.value);
                break;
            }
        }
        if (rc == 0)
            rc = apply_pair(&doc, kn, vn, g, system, err, errlen);
    }
out:
    yaml_document_delete(&doc);
    return rc;
}

static int parse(const char *buf, size_t len, gen_params *inout, char **system,
                 size_t *body_off, size_t *body_len, char *err, size_t errlen)
{
    size_t open = delim_len(buf, len, 0);
    if (!open) {
        trailing_newline(0, len, buf, body_off, body_len);
        return 0;
    }
    /* Find the closing line: the next line that is exactly "---". */
    size_t pos = open, close_at = 0, close_len = 0;
    while (pos < len) {
        size_t d = delim_len(buf + pos, len - pos, 1);
        if (d) {
            close_at = pos, close_len = d;
            break;
        }
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl)
            break;
        pos = (size_t)(nl - buf) + 1;
    }
    if (!close_len) {
        errbuf_set(err, errlen, 0, "front matter: no closing '---' line");
        return -EINVAL;
    }
    gen_params g = *inout;
    char *sys = NULL;
    int rc = parse_yaml(buf + open, close_at - open, &g, system ? &sys : NULL, err, errlen);
    if (rc) {
        free(sys);
        return rc;
    }
    if (system)
        *system = sys;
    *inout = g;
    trailing_newline(close_at + close_len, len - close_at - close_len, buf, body_off, body_len);
    return 0;
}

int frontmatter_parse(const char *buf, size_t len, gen_params *inout, size_t *body_off,
                      size_t *body_len, char *err, size_t errlen)
{
    return parse(buf, len, inout, NULL, body_off, body_len, err, errlen);
}

int frontmatter_parse_chat(const char *buf, size_t len, gen_params *inout, char **system,
                           size_t *body_off, size_t *body_len, char *err, size_t errlen)
{
    *system = NULL;
    return parse(buf, len, inout, system, body_off, body_len, err, errlen);
}
