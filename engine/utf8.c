/* This file implements utf8.h: an incremental UTF-8 validator that
 * follows the Unicode "maximal subpart" replacement practice (each
 * maximal invalid subsequence becomes one U+FFFD). */
#include "engine/utf8.h"
#include <string.h>

/* Expected length of a character starting with b, 0 if b cannot start one. */
static int lead_len(unsigned char b) {
    if (b < 0x80) return 1;
    if (b >= 0xc2 && b <= 0xdf) return 2;
    if (b >= 0xe0 && b <= 0xef) return 3;
    if (b >= 0xf0 && b <= 0xf4) return 4;
    return 0;
}

/* Whether c may follow the bytes p[0..n) (n >= 1) of a character. */
static int cont_ok(const unsigned char *p, int n, unsigned char c) {
    if ((c & 0xc0) != 0x80) return 0;
    if (n == 1) {
        if (p[0] == 0xe0) return c >= 0xa0;
        if (p[0] == 0xed) return c <= 0x9f;
        if (p[0] == 0xf0) return c >= 0x90;
        if (p[0] == 0xf4) return c <= 0x8f;
    }
    return 1;
}

static const char repl[3] = { (char)0xef, (char)0xbf, (char)0xbd };

size_t utf8_feed(utf8_stream *u, const char *in, size_t len, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (u->n) {
            if (cont_ok(u->pend, u->n, c)) {
                u->pend[u->n++] = c;
                if (u->n == lead_len(u->pend[0])) {
                    memcpy(out + o, u->pend, (size_t)u->n);
                    o += (size_t)u->n;
                    u->n = 0;
                }
                continue;
            }
            memcpy(out + o, repl, 3);   /* the incomplete character */
            o += 3;
            u->n = 0;
        }
        int l = lead_len(c);
        if (l == 1) out[o++] = (char)c;
        else if (l == 0) { memcpy(out + o, repl, 3); o += 3; }
        else { u->pend[0] = c; u->n = 1; }
    }
    return o;
}

size_t utf8_finish(utf8_stream *u, char *out) {
    if (!u->n) return 0;
    u->n = 0;
    memcpy(out, repl, 3);
    return 3;
}

int utf8_valid(const char *buf, size_t len) {
    const unsigned char *p = (const unsigned char *)buf;
    for (size_t i = 0; i < len;) {
        int l = lead_len(p[i]);
        if (!l || (size_t)l > len - i) return 0;
        for (int k = 1; k < l; k++)
            if (!cont_ok(p + i, k, p[i + k])) return 0;
        i += (size_t)l;
    }
    return 1;
}

size_t utf8_decode(const char *buf, size_t len, uint32_t *cp) {
    const unsigned char *p = (const unsigned char *)buf;
    if (!len) return 0;
    int l = lead_len(p[0]);
    if (!l || (size_t)l > len) return 0;
    uint32_t c = l == 1 ? p[0] : p[0] & (0x7fu >> l);
    for (int k = 1; k < l; k++) {
        if (!cont_ok(p, k, p[k])) return 0;
        c = (c << 6) | (p[k] & 0x3fu);
    }
    *cp = c;
    return (size_t)l;
}
