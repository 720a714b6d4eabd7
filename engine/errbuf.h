/* One-line error messages into a caller's buffer: the convention of every
 * parser and loader here (return a negative errno, say why in err). */
#ifndef LLMFS_ERRBUF_H
#define LLMFS_ERRBUF_H
#include <stddef.h>

/* Formats into err (if err and errlen) and returns rc, so that a failing
 * path reads `return errbuf_set(err, errlen, -EINVAL, "why %d", x);`. */
int errbuf_set(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#endif
