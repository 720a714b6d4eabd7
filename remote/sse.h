/* An incremental parser of server-sent events (the text/event-stream
 * format of the WHATWG HTML standard), fed the bytes of a response as
 * they arrive, in pieces of any size.  Only the data field is kept:
 * "data:" lines are joined with "\n" and an empty line hands the event's
 * data to a callback.  Lines may end with LF, CR LF or CR, also split
 * across pieces.  An event is bounded in bytes: a longer one is an error,
 * never a larger allocation. */
#ifndef LLMFS_SSE_H
#define LLMFS_SSE_H
#include <stddef.h>

typedef struct sse {
    char *line;              /* (max) the line being read */
    size_t line_len;
    char *data;              /* (max) the event's data so far */
    size_t data_len;
    size_t max;              /* bytes a line or an event may hold */
    int has_data;            /* a data field was seen in this event */
    int after_cr;            /* the last byte was a CR: an LF now ends nothing */
} sse;

/* Called with each event's data (not NUL-terminated).  A non-zero return
 * stops the parse and is returned by sse_feed. */
typedef int (*sse_event_fn)(void *ud, const char *data, size_t len);

/* Returns 0 or -ENOMEM. */
int  sse_init(sse *p, size_t max);
void sse_release(sse *p);
/* Parses buf[0, n): 0, -E2BIG when a line or an event exceeds max, or
 * what fn returned. */
int  sse_feed(sse *p, const char *buf, size_t n, sse_event_fn fn, void *ud);
#endif
