/* The one validator per key of the generation parameters (gen_params,
 * engine/params.h) that every route shares: YAML front matter, user.llmfs.* xattrs and
 * the generation: section of llmfs.yaml.  A gen_params that came through
 * these setters always holds in-range values (see params_check()). */
#ifndef LLMFS_PARAMS_H
#define LLMFS_PARAMS_H
#include <stddef.h>
#include <stdint.h>

#include "engine/params.h"

/* Flags for params_set(): how the value was written. */
#define PARAMS_QUOTED 1u  /* a quoted YAML scalar: a string, never a number/bool */
#define PARAMS_TRIM   2u  /* trim ASCII whitespace around numbers (xattr route) */

/* Sets one key from its textual value (len bytes, need not be
 * NUL-terminated).  Keys: max_tokens temperature top_k top_p seed stop
 * priority cache.  For stop, the value replaces the list with one string (an
 * empty unquoted value clears it; a quoted
 * "" is refused).  Returns 0, -ENOENT for an unknown key (err
 * untouched), or -EINVAL with err = the reason without the key, e.g.
 * "expected a number >= 0".  p is unchanged on failure. */
int params_set(gen_params *p, const char *key, const char *val, size_t len,
               unsigned flags, char *err, size_t errlen);

/* Is key one of params_set()'s keys? */
int params_is_key(const char *key);

/* What key expects, as its validator words it ("expected a number >= 0"),
 * for messages about values of the wrong shape (a mapping, a list). */
void params_expect(const char *key, char *out, size_t cap);

/* The stop list as a YAML sequence: clear, then add one string at a time.
 * params_stop_add() returns -EINVAL with err set if the list is full or
 * the string is empty, longer than GEN_STOP_MAX or holds a NUL byte. */
void params_stop_clear(gen_params *p);
int params_stop_add(gen_params *p, const char *s, size_t len, char *err, size_t errlen);

/* The xattr route: name is what follows "user.llmfs." (e.g. "top_p").
 * Numbers may be surrounded by whitespace (a trailing newline from echo is
 * fine).  stop: the value is the stop strings separated by NUL bytes (one
 * string when there is no NUL; a trailing NUL is ignored; an empty value
 * clears the list).  Returns 0, -ENOTSUP for a name that is not a
 * parameter, or -EINVAL with err = "KEY: reason".  p is unchanged on
 * failure. */
int params_set_xattr(gen_params *p, const char *name, const char *value, size_t len,
                     char *err, size_t errlen);

/* Checks every field's range (the invariant the setters keep).  Returns 0
 * or -EINVAL with err = "KEY: reason". */
int params_check(const gen_params *p, char *err, size_t errlen);

/* "high" / "normal" / "low"; NULL for an invalid value. */
const char *params_priority_name(gen_priority prio);
/* "on" / "refresh" / "off"; NULL for an invalid value. */
const char *params_cache_name(gen_cache mode);

/* Scalar parsers shared with config.c.  The text is len bytes; flags as
 * for params_set().  Integers are decimal with an optional sign; numbers
 * are decimal floats (no inf/nan/hex).  Each returns 0 or -EINVAL (out
 * untouched); the caller words the reason. */
int params_parse_int(const char *v, size_t len, unsigned flags, long long lo, long long hi,
                     long long *out);
int params_parse_u64(const char *v, size_t len, unsigned flags, uint64_t *out);
int params_parse_float(const char *v, size_t len, unsigned flags, float *out);
/* YAML 1.1 booleans: true/false/yes/no/on/off (lower, Title or UPPER case). */
int params_parse_bool(const char *v, size_t len, unsigned flags, int *out);

/* Field-by-field equality (stop strings compared as strings). */
int params_equal(const gen_params *a, const gen_params *b);
#endif
