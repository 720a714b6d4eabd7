/* A growing string buffer for rendering files (stats/, config): appends
 * never fail one by one; the first allocation failure sets oom and later
 * appends do nothing, so a renderer checks once at the end.  p is
 * NUL-terminated whenever len > 0. */
#ifndef LLMFS_SBUF_H
#define LLMFS_SBUF_H
#include <stddef.h>

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

void sb_put(sbuf *b, const char *s, size_t n);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
