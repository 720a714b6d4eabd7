/* Cutting a byte stream at valid UTF-8 boundaries.  Token pieces may end
 * inside a character (byte-fallback tokens carry one byte each); text is
 * handed out only up to the last complete character, and bytes that can
 * never form a valid character become U+FFFD, so every chunk handed out is
 * valid UTF-8 on its own. */
#ifndef LLMFS_UTF8_H
#define LLMFS_UTF8_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    unsigned char pend[4];   /* an incomplete character's leading bytes */
    int n;
} utf8_stream;

/* Feeds len bytes; writes the valid text that is now complete to out
 * (which needs room for len * 3 + 12 bytes) and returns its length. */
size_t utf8_feed(utf8_stream *u, const char *in, size_t len, char *out);
/* At the end of the stream: a pending incomplete character becomes
 * U+FFFD.  out needs 3 bytes.  Returns the length written. */
size_t utf8_finish(utf8_stream *u, char *out);
/* 1 if buf[0..len) is entirely valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
int utf8_valid(const char *buf, size_t len);
/* The valid character at buf[0..len): its length (1 to 4) with its code
 * point in *cp, or 0 if it is not one. */
size_t utf8_decode(const char *buf, size_t len, uint32_t *cp);
#endif
