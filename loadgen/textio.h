/* Files as llmfs-bench reads them: a whole file at once (a stats file is
 * one snapshot per open), one RFC 4180 CSV line split in place, and prompt
 * sets (one file per prompt in a directory, or one prompt per line). */
#ifndef LLMFS_TEXTIO_H
#define LLMFS_TEXTIO_H
#include <stddef.h>

/* The whole file, NUL-terminated (malloc'd), its length in *len; NULL
 * with errno set on failure. */
char *lg_slurp(const char *path, size_t *len);

/* Splits one CSV line in place into at most maxf fields (quotes and
 * doubled quotes undone); returns the field count. */
int lg_csv_split(char *line, char **f, int maxf);

/* The index of the column named name in header fields f[n], or -1. */
int lg_csv_col(char **f, int n, const char *name);

/* A set of prompt texts. */
typedef struct {
    char **text;
    size_t *len;
    int n;
    char *block;             /* lines mode: the file the texts point into */
} lg_prompts;

/* Every regular file of dir, sorted by name, one prompt each (one trailing
 * newline dropped).  0, or -1 with a message in err. */
int  lg_prompts_dir(lg_prompts *p, const char *dir, char *err, size_t errlen);
/* Every non-empty line of path, one prompt each.  0, or -1 with err. */
int  lg_prompts_lines(lg_prompts *p, const char *path, char *err, size_t errlen);
/* One prompt, text (copied).  0, or -1 on ENOMEM. */
int  lg_prompts_one(lg_prompts *p, const char *text);
void lg_prompts_free(lg_prompts *p);

#endif
