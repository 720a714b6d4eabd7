/* A bounded reader of JSON text (RFC 8259) for what servers send back:
 * no tree is built; a value is a span of the input, checked once
 * (json_check) and then walked in place.  Every function reads only
 * inside the span it is given and nests at most JSON_MAX_DEPTH deep. */
#ifndef LLMFS_JSON_H
#define LLMFS_JSON_H
#include <stddef.h>

#define JSON_MAX_DEPTH 64

typedef struct jspan {
    const char *p;           /* the value's text, leading and trailing blanks trimmed */
    size_t n;
} jspan;

/* Whether s[0, n) is exactly one valid JSON value (blanks around it
 * allowed); 0 and the value's span in *out, or -EINVAL. */
int json_check(const char *s, size_t n, jspan *out);

/* The value of member key of object obj; -ENOENT when there is none,
 * -EINVAL when obj is not an object.  Duplicate keys: the first. */
int json_member(jspan obj, const char *key, jspan *out);

/* One walk over s[0, n), which must be exactly one JSON object (blanks
 * around it allowed), that also finds its members named keys[0, nk):
 * out[k] is the value of keys[k] (the first one), or {NULL, 0} when the
 * object has none (nk at most 16).  0, or -EINVAL when s is not one
 * valid object.  It
 * costs one json_check, where json_check and a json_member per key cost a
 * walk each. */
int json_object(const char *s, size_t n, const char *const *keys, int nk, jspan *out);

/* Element i of array arr; -ENOENT past its end, -EINVAL when not an array. */
int json_item(jspan arr, int i, jspan *out);

int json_is_null(jspan v);

/* The string v decoded to UTF-8 into a new buffer *out of *len bytes
 * (NUL-terminated; caller frees).  A lone surrogate escape becomes
 * U+FFFD.  -EINVAL when v is not a string, -ENOMEM. */
int json_string(jspan v, char **out, size_t *len);

/* The integer v (no fraction or exponent), within [-2^53, 2^53]. */
int json_int(jspan v, long long *out);

/* Appends s[0, n) as a JSON string (quotes and escapes included) to the
 * buffer *buf of *len bytes and capacity *cap (grown with realloc).
 * Bytes that are not UTF-8 become U+FFFD.  Returns 0 or -ENOMEM. */
int json_put_string(char **buf, size_t *len, size_t *cap, const char *s, size_t n);
#endif
