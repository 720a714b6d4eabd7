/* Splits a prompt file into YAML front matter (per-request gen_params
 * overrides) and the prompt body, and applies the trailing-newline rule:
 * the prompt is the body less exactly one trailing "\n", so that
 * `echo X > prompts/a` asks exactly "X". */
#ifndef LLMFS_FRONTMATTER_H
#define LLMFS_FRONTMATTER_H
#include <stddef.h>

#include "fs/params.h"

/* Parses buf (len bytes, need not be NUL-terminated).
 *
 * Front matter exists only if the file starts with the line "---" (ended
 * by "\n" or "\r\n"); it runs up to the next line that is exactly "---"
 * (ended by "\n", "\r\n" or the end of the file).  Its YAML is a mapping of
 * the keys max_tokens, temperature, top_k, top_p, seed, stop (a string or a
 * list of strings), priority (high|normal|low); an empty front matter is
 * fine.  Every value is checked by params.c's validators.
 *
 * The body is everything after the closing line, byte for byte, less one
 * trailing "\n" ("X\n" -> "X", "X\n\n" -> "X\n", "X" -> "X").  A "\r"
 * before that "\n" stays: the prompt's bytes are never reinterpreted.
 *
 * On success returns 0, applies the overrides to *inout and sets
 * *body_off and *body_len (the prompt is buf[*body_off, +*body_len)).  On a
 * malformed front matter returns -EINVAL with *inout untouched and err set
 * to a reason like "front matter line 3: temperature: expected a number >=
 * 0" (lines are the file's, 1-based); -ENOMEM if libyaml runs out of
 * memory. */
int frontmatter_parse(const char *buf, size_t len, gen_params *inout, size_t *body_off,
                      size_t *body_len, char *err, size_t errlen);

/* The same for a chat turn (chats/NAME): the key system (a string) is
 * accepted too, and *system is a copy of its value (caller frees), or
 * NULL when the front matter has none. */
int frontmatter_parse_chat(const char *buf, size_t len, gen_params *inout, char **system,
                           size_t *body_off, size_t *body_len, char *err, size_t errlen);
#endif
