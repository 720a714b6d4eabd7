/* Whole files, CSV lines and prompt sets for llmfs-bench (textio.h). */
#define _GNU_SOURCE
#include "loadgen/textio.h"
#include "engine/errbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *lg_slurp(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    int saved = ENOMEM;
    while (b) {
        if (n == cap) {
            char *nb = realloc(b, 2 * cap + 1);
            if (!nb) { free(b); b = NULL; break; }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { saved = errno; free(b); b = NULL; break; }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (!b) { errno = saved; return NULL; }
    b[n] = 0;
    *len = n;
    return b;
}

int lg_csv_split(char *line, char **f, int maxf) {
    int n = 0;
    char *p = line;
    while (n < maxf) {
        if (*p == '"') {
            char *w = ++p;
            f[n++] = w;
            while (*p) {
                if (*p == '"' && p[1] == '"') { *w++ = '"'; p += 2; }
                else if (*p == '"') { p++; break; }
                else *w++ = *p++;
            }
            *w = 0;
            while (*p && *p != ',') p++;
        } else {
            f[n++] = p;
            while (*p && *p != ',') p++;
        }
        if (*p != ',') { *p = 0; break; }
        *p++ = 0;
    }
    return n;
}

int lg_csv_col(char **f, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(f[i], name)) return i;
    return -1;
}

static int grow(lg_prompts *p) {
    char **t = realloc(p->text, (size_t)(p->n + 1) * sizeof *t);
    if (t) p->text = t;
    size_t *l = realloc(p->len, (size_t)(p->n + 1) * sizeof *l);
    if (l) p->len = l;
    return t && l ? 0 : -1;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int lg_prompts_dir(lg_prompts *p, const char *dir, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    DIR *d = opendir(dir);
    if (!d) return errbuf_set(err, errlen, -1, "%s: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[PATH_MAX];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &sb) || !S_ISREG(sb.st_mode)) continue;
        char **grown = realloc(names, (size_t)(n + 1) * sizeof *names);
        if (!grown || !(grown[n] = strdup(path))) {
            if (grown) names = grown;
            rc = errbuf_set(err, errlen, -1, "out of memory");
            break;
        }
        names = grown;
        n++;
    }
    closedir(d);
    if (!rc && !n) rc = errbuf_set(err, errlen, -1, "%s: no regular files in the directory", dir);
    if (!rc) qsort(names, (size_t)n, sizeof *names, name_cmp);
    for (int i = 0; i < n && !rc; i++) {
        size_t len;
        char *t = lg_slurp(names[i], &len);
        if (!t) { rc = errbuf_set(err, errlen, -1, "%s: %s", names[i], strerror(errno)); break; }
        if (grow(p)) { free(t); rc = errbuf_set(err, errlen, -1, "out of memory"); break; }
        if (len && t[len - 1] == '\n') t[--len] = 0;   /* the bench adds its own */
        p->text[p->n] = t;
        p->len[p->n++] = len;
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    if (rc) lg_prompts_free(p);
    return rc;
}

int lg_prompts_lines(lg_prompts *p, const char *path, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    size_t len;
    char *buf = lg_slurp(path, &len);
    if (!buf) return errbuf_set(err, errlen, -1, "%s: %s", path, strerror(errno));
    p->block = buf;
    for (size_t i = 0, start = 0; i <= len; i++)
        if (i == len || buf[i] == '\n') {
            if (i > start) {
                if (grow(p)) { lg_prompts_free(p); return errbuf_set(err, errlen, -1, "out of memory"); }
                p->text[p->n] = buf + start;
                p->len[p->n++] = i - start;
            }
            start = i + 1;
        }
    if (!p->n) {
        lg_prompts_free(p);
        return errbuf_set(err, errlen, -1, "%s: no prompts (one per line)", path);
    }
    return 0;
}

int lg_prompts_one(lg_prompts *p, const char *text) {
    memset(p, 0, sizeof *p);
    if (!(p->block = strdup(text)) || grow(p)) { lg_prompts_free(p); return -1; }
    p->text[0] = p->block;
    p->len[0] = strlen(text);
    p->n = 1;
    return 0;
}

void lg_prompts_free(lg_prompts *p) {
    if (!p->block)
        for (int i = 0; i < p->n; i++) free(p->text[i]);
    free(p->block);
    free(p->text);
    free(p->len);
    memset(p, 0, sizeof *p);
}
