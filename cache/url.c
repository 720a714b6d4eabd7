/* This file implements the URL parser of url.h. */
#include "cache/url.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/errbuf.h"

static int hexv(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Copies s[0, n) into out[cap], decoding %XX; -EINVAL when it does not
 * fit, a %XX is bad, or it decodes to a NUL or control byte. */
static int copy_dec(char *out, size_t cap, const char *s, size_t n) {
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (n - i < 3 || hexv(s[i + 1]) < 0 || hexv(s[i + 2]) < 0) return -EINVAL;
            c = hexv(s[i + 1]) * 16 + hexv(s[i + 2]);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || j + 1 >= cap) return -EINVAL;
        out[j++] = (char)c;
    }
    out[j] = 0;
    return 0;
}

int url_parse(const char *s, url *u, char *err, size_t errlen) {
    memset(u, 0, sizeof *u);
    if (!s) return errbuf_set(err, errlen, -EINVAL, "no URL");
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f || s[i] == '"' || s[i] == '\\' ||
            s[i] == '<' || s[i] == '>')
            return errbuf_set(err, errlen, -EINVAL, "a URL has no blanks, control characters, "
                              "quotes, backslashes or angle brackets");
    const char *sep = strstr(s, "://");
    if (!sep || sep == s || (size_t)(sep - s) >= sizeof u->scheme)
        return errbuf_set(err, errlen, -EINVAL, "expected SCHEME://HOST[:PORT]");
    for (const char *p = s; p < sep; p++) {
        if (!isalpha((unsigned char)*p) && !(p > s && (isdigit((unsigned char)*p) || *p == '+' ||
                                                       *p == '-' || *p == '.')))
            return errbuf_set(err, errlen, -EINVAL, "a bad scheme");
        u->scheme[p - s] = (char)tolower((unsigned char)*p);
    }
    const char *a = sep + 3, *end = s + n;
    const char *slash = a;
    while (slash < end && *slash != '/' && *slash != '?' && *slash != '#') slash++;
    /* the last '@' of the authority ends the user information */
    const char *at = NULL;
    for (const char *p = a; p < slash; p++)
        if (*p == '@') at = p;
    if (at) {
        const char *colon = memchr(a, ':', (size_t)(at - a));
        size_t ul = (size_t)((colon ? colon : at) - a);
        if (copy_dec(u->user, sizeof u->user, a, ul))
            return errbuf_set(err, errlen, -EINVAL, "a bad or too long user name");
        if (colon) {
            u->has_password = 1;
            if (copy_dec(u->password, sizeof u->password, colon + 1, (size_t)(at - colon - 1)))
                return errbuf_set(err, errlen, -EINVAL, "a bad or too long password");
        }
        a = at + 1;
    }
    const char *hend;
    if (a < slash && *a == '[') {
        const char *rb = memchr(a, ']', (size_t)(slash - a));
        if (!rb) return errbuf_set(err, errlen, -EINVAL, "an IPv6 address without its ']'");
        for (const char *p = a + 1; p < rb; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
                return errbuf_set(err, errlen, -EINVAL, "a bad IPv6 address");
        if ((size_t)(rb - a - 1) >= sizeof u->host || rb == a + 1)
            return errbuf_set(err, errlen, -EINVAL, "a bad IPv6 address");
        memcpy(u->host, a + 1, (size_t)(rb - a - 1));
        hend = rb + 1;
        if (hend < slash && *hend != ':')
            return errbuf_set(err, errlen, -EINVAL, "unexpected text after the host");
    } else {
        hend = a;
        while (hend < slash && *hend != ':') hend++;
        if (hend == a) return errbuf_set(err, errlen, -EINVAL, "no host");
        if ((size_t)(hend - a) >= sizeof u->host)
            return errbuf_set(err, errlen, -EINVAL, "the host name is too long");
        for (const char *p = a; p < hend; p++)
            if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
                return errbuf_set(err, errlen, -EINVAL, "a bad host name");
        memcpy(u->host, a, (size_t)(hend - a));
    }
    if (hend < slash) {                       /* ":PORT" */
        const char *p = hend + 1;
        if (p == slash) return errbuf_set(err, errlen, -EINVAL, "an empty port");
        long port = 0;
        for (; p < slash; p++) {
            if (!isdigit((unsigned char)*p) || (port = port * 10 + (*p - '0')) > 65535)
                return errbuf_set(err, errlen, -EINVAL, "the port is not a number in [1, 65535]");
        }
        if (port < 1) return errbuf_set(err, errlen, -EINVAL, "the port is not a number in [1, 65535]");
        u->port = (int)port;
    }
    if ((size_t)(end - slash) >= sizeof u->path)
        return errbuf_set(err, errlen, -EINVAL, "the path is too long");
    memcpy(u->path, slash, (size_t)(end - slash));
    return 0;
}

void url_show(const url *u, char *out, size_t cap) {
    char port[16] = "", user[3 * sizeof u->user];
    /* the user as written: what is not unreserved (RFC 3986) as %XX */
    size_t j = 0;
    for (const unsigned char *p = (const unsigned char *)u->user; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            user[j++] = (char)*p;
        } else {
            snprintf(user + j, 4, "%%%02X", *p);
            j += 3;
        }
    }
    user[j] = 0;
    if (u->port) snprintf(port, sizeof port, ":%d", u->port);
    int v6 = strchr(u->host, ':') != NULL;
    snprintf(out, cap, "%s://%s%s%s%s%s%s%s%s", u->scheme, user,
             u->has_password ? ":***" : "", u->user[0] || u->has_password ? "@" : "",
             v6 ? "[" : "", u->host, v6 ? "]" : "", port, u->path);
}
