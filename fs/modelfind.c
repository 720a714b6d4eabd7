/* This file implements modelfind.h: a scan of the places downloaded
 * models live (bounded: directory depth, manifest size, name lengths),
 * and the matching of a name against what was found. */
#define _GNU_SOURCE   /* strcasestr */
#include "fs/modelfind.h"
#include "remote/json.h"

#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 4                 /* directories below a searched one */
#define MAX_MANIFEST (1 << 20)      /* bytes of an Ollama manifest read */
#define MAX_MODELS 100000

static const char *home_dir(void) {
    const char *h = getenv("HOME");
    if (h && *h) return h;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir ? pw->pw_dir : NULL;
}

/* dst = a + b + c (any may be NULL); NULL on overflow of PATH_MAX or
 * allocation failure. */
static char *join3(const char *a, const char *b, const char *c) {
    size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0, lc = c ? strlen(c) : 0;
    if (la + lb + lc >= 4096) return NULL;
    char *s = malloc(la + lb + lc + 1);
    if (!s) return NULL;
    memcpy(s, a ? a : "", la);
    memcpy(s + la, b ? b : "", lb);
    memcpy(s + la + lb, c ? c : "", lc);
    s[la + lb + lc] = 0;
    return s;
}

/* The directory of a cache: $VAR, else $HOME + rel; NULL when neither. */
static char *env_dir(const char *var, const char *rel) {
    const char *v = getenv(var);
    if (v && *v) return join3(v, NULL, NULL);
    const char *h = home_dir();
    return h ? join3(h, rel, NULL) : NULL;
}

static char *hf_dir(void) {
    const char *v = getenv("HF_HUB_CACHE");
    if (v && *v) return join3(v, NULL, NULL);
    if ((v = getenv("HF_HOME")) && *v) return join3(v, "/hub", NULL);
    if ((v = getenv("XDG_CACHE_HOME")) && *v) return join3(v, "/huggingface/hub", NULL);
    const char *h = home_dir();
    return h ? join3(h, "/.cache/huggingface/hub", NULL) : NULL;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int add(mf_list *l, const char *name, size_t name_len, const char *source, const char *path,
               uint64_t size) {
    if (l->n >= MAX_MODELS) return 0;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        mf_model *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    mf_model *m = &l->v[l->n];
    m->name = strndup(name, name_len);
    m->path = strdup(path);
    m->source = source;
    m->size = size;
    if (!m->name || !m->path) {
        free(m->name);
        free(m->path);
        return -ENOMEM;
    }
    l->n++;
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const mf_model *)a)->name, ((const mf_model *)b)->name);
}

/* Sorts the models from index from on. */
static void sort_from(mf_list *l, int from) {
    if (l->n - from > 1) qsort(l->v + from, (size_t)(l->n - from), sizeof *l->v, by_name);
}

/* Regular files (symlinks followed) *.gguf under dir, to depth: named by
 * prefix + their path below dir without ".gguf". */
static int scan_gguf_dir(mf_list *l, const char *dir, const char *prefix, const char *source,
                         int depth) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p = join3(dir, "/", e->d_name);
        struct stat st;
        if (!p) { rc = -ENOMEM; break; }
        if (stat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode) && depth > 0) {
                char *pre = join3(prefix, e->d_name, "/");
                rc = pre ? scan_gguf_dir(l, p, pre, source, depth - 1) : -ENOMEM;
                free(pre);
            } else if (S_ISREG(st.st_mode) && ends_with(e->d_name, ".gguf")) {
                char *name = join3(prefix, e->d_name, NULL);
                rc = name ? add(l, name, strlen(name) - 5, source, p, (uint64_t)st.st_size) : -ENOMEM;
                free(name);
            }
        }
        free(p);
    }
    closedir(d);
    return rc;
}

static int scan_llmfs_model(mf_list *l) {
    const char *v = getenv("LLMFS_MODEL");
    if (!v || !*v) return 0;
    int from = l->n, rc = 0;
    char *copy = strdup(v), *save = NULL;
    if (!copy) return -ENOMEM;
    for (char *t = strtok_r(copy, ":", &save); t && !rc; t = strtok_r(NULL, ":", &save)) {
        struct stat st;
        if (stat(t, &st)) continue;
        if (S_ISDIR(st.st_mode)) {
            rc = scan_gguf_dir(l, t, "", "LLMFS_MODEL", MAX_DEPTH);
        } else if (S_ISREG(st.st_mode)) {
            const char *b = strrchr(t, '/');
            b = b ? b + 1 : t;
            size_t n = strlen(b);
            if (ends_with(b, ".gguf")) n -= 5;
            rc = add(l, b, n, "LLMFS_MODEL", t, (uint64_t)st.st_size);
        }
    }
    free(copy);
    sort_from(l, from);
    return rc;
}

/* ---------------------------------------------------------------- Ollama */

int mf_ollama_digest(const char *json, size_t n, char hex[65]) {
    jspan root, layers, layer, v;
    if (json_check(json, n, &root) || json_member(root, "layers", &layers)) return -EINVAL;
    for (int i = 0; json_item(layers, i, &layer) == 0; i++) {
        char *mt = NULL, *dg = NULL;
        size_t len;
        int found = 0;
        if (json_member(layer, "mediaType", &v) == 0 && json_string(v, &mt, &len) == 0 &&
            !strcmp(mt, "application/vnd.ollama.image.model") &&
            json_member(layer, "digest", &v) == 0 && json_string(v, &dg, &len) == 0 &&
            len == 71 && !strncmp(dg, "sha256:", 7)) {
            found = 1;
            for (int k = 0; k < 64; k++) {
                char c = dg[7 + k];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) found = 0;
            }
            if (found) {
                memcpy(hex, dg + 7, 64);
                hex[64] = 0;
            }
        }
        free(mt);
        free(dg);
        if (found) return 0;
    }
    return -EINVAL;
}

/* A whole small file into a new buffer; NULL when it cannot. */
static char *read_small(const char *path, size_t cap, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(cap);
    size_t got = buf ? fread(buf, 1, cap, f) : 0;
    int whole = buf && got < cap && !ferror(f);
    fclose(f);
    if (!whole) { free(buf); return NULL; }
    *n = got;
    return buf;
}

/* The entries of dir (no dot files), for the fixed levels of Ollama's
 * manifests; NULL when it is not a directory. */
static int list_dir(const char *dir, char ***names, int *count) {
    *names = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0, cap = 0;
    while ((e = readdir(d)) && *count < MAX_MODELS) {
        if (e->d_name[0] == '.') continue;
        if (*count == cap) {
            cap = cap ? 2 * cap : 8;
            char **v = realloc(*names, (size_t)cap * sizeof *v);
            if (!v) { rc = -ENOMEM; break; }
            *names = v;
        }
        if (!((*names)[*count] = strdup(e->d_name))) { rc = -ENOMEM; break; }
        (*count)++;
    }
    closedir(d);
    return rc;
}

static void free_names(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* The manifest at path names model name: its blob, if it is a file. */
static int ollama_manifest(mf_list *l, const char *root, const char *path, const char *name) {
    size_t n;
    char *json = read_small(path, MAX_MANIFEST, &n), hex[65];
    if (!json) return 0;
    int ok = mf_ollama_digest(json, n, hex) == 0;
    free(json);
    if (!ok) return 0;
    char *blob = join3(root, "/blobs/sha256-", hex);
    if (!blob) return -ENOMEM;
    struct stat st;
    int rc = 0;
    if (stat(blob, &st) == 0 && S_ISREG(st.st_mode)) rc = add(l, name, strlen(name), "ollama", blob, (uint64_t)st.st_size);
    free(blob);
    return rc;
}

static int scan_ollama(mf_list *l) {
    char *root = env_dir("OLLAMA_MODELS", "/.ollama/models");
    if (!root) return 0;
    char *man = join3(root, "/manifests", NULL);
    int from = l->n, rc = man ? 0 : -ENOMEM;
    char **hosts = NULL;
    int nh = 0;
    if (!rc) rc = list_dir(man, &hosts, &nh);
    /* manifests/HOST/NS/NAME/TAG */
    for (int h = 0; h < nh && !rc; h++) {
        char *hd = join3(man, "/", hosts[h]), **nss = NULL;
        int nn = 0;
        rc = hd ? list_dir(hd, &nss, &nn) : -ENOMEM;
        for (int s = 0; s < nn && !rc; s++) {
            char *sd = join3(hd, "/", nss[s]), **models = NULL;
            int nm = 0;
            rc = sd ? list_dir(sd, &models, &nm) : -ENOMEM;
            for (int m = 0; m < nm && !rc; m++) {
                char *md = join3(sd, "/", models[m]), **tags = NULL;
                int nt = 0;
                rc = md ? list_dir(md, &tags, &nt) : -ENOMEM;
                for (int t = 0; t < nt && !rc; t++) {
                    char *mp = join3(md, "/", tags[t]), name[1024];
                    if (!mp) { rc = -ENOMEM; break; }
                    if (!strcmp(hosts[h], "registry.ollama.ai") && !strcmp(nss[s], "library"))
                        snprintf(name, sizeof name, "%s:%s", models[m], tags[t]);
                    else if (!strcmp(hosts[h], "registry.ollama.ai"))
                        snprintf(name, sizeof name, "%s/%s:%s", nss[s], models[m], tags[t]);
                    else
                        snprintf(name, sizeof name, "%s/%s/%s:%s", hosts[h], nss[s], models[m], tags[t]);
                    rc = ollama_manifest(l, root, mp, name);
                    free(mp);
                }
                free_names(tags, nt);
                free(md);
            }
            free_names(models, nm);
            free(sd);
        }
        free_names(nss, nn);
        free(hd);
    }
    free_names(hosts, nh);
    free(man);
    free(root);
    sort_from(l, from);
    return rc;
}

/* ---------------------------------------------------------- Hugging Face */

/* refs/main of a repository: the revision (a plain name), or NULL. */
static char *hf_main_rev(const char *repo) {
    char *p = join3(repo, "/refs/main", NULL);
    size_t n = 0;
    char *s = p ? read_small(p, 256, &n) : NULL;
    free(p);
    if (!s) return NULL;
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) n--;
    s[n] = 0;
    if (!n || strchr(s, '/') || s[0] == '.') { free(s); return NULL; }
    return s;
}

static int scan_hf(mf_list *l) {
    char *root = hf_dir();
    if (!root) return 0;
    char **repos = NULL;
    int nr = 0, from = l->n;
    int rc = list_dir(root, &repos, &nr);
    for (int r = 0; r < nr && !rc; r++) {
        if (strncmp(repos[r], "models--", 8) || !repos[r][8]) continue;
        /* models--ORG--NAME: ORG/NAME */
        char id[512];
        snprintf(id, sizeof id, "%s", repos[r] + 8);
        char *sep = strstr(id, "--");
        if (sep) { sep[0] = '/'; memmove(sep + 1, sep + 2, strlen(sep + 2) + 1); }
        char *rd = join3(root, "/", repos[r]);
        if (!rd) { rc = -ENOMEM; break; }
        char *main_rev = hf_main_rev(rd);
        char *snaps = join3(rd, "/snapshots", NULL), **revs = NULL;
        int nv = 0;
        rc = snaps ? list_dir(snaps, &revs, &nv) : -ENOMEM;
        for (int v = 0; v < nv && !rc; v++) {
            if (main_rev && strcmp(revs[v], main_rev)) continue;
            char *sd = join3(snaps, "/", revs[v]), *pre = join3(id, "/", NULL);
            rc = sd && pre ? scan_gguf_dir(l, sd, pre, "huggingface", MAX_DEPTH) : -ENOMEM;
            free(sd);
            free(pre);
        }
        free_names(revs, nv);
        free(snaps);
        free(main_rev);
        free(rd);
    }
    free_names(repos, nr);
    free(root);
    sort_from(l, from);
    return rc;
}

static int scan_llamacpp(mf_list *l) {
    char *root = env_dir("LLAMA_CACHE", "/.cache/llama.cpp");
    if (!root) return 0;
    int from = l->n, rc = scan_gguf_dir(l, root, "", "llama.cpp", MAX_DEPTH);
    free(root);
    sort_from(l, from);
    return rc;
}

int mf_scan(mf_list *out) {
    memset(out, 0, sizeof *out);
    int rc = scan_llmfs_model(out);
    if (!rc) rc = scan_ollama(out);
    if (!rc) rc = scan_llamacpp(out);
    if (!rc) rc = scan_hf(out);
    if (rc) mf_free(out);
    return rc;
}

void mf_free(mf_list *l) {
    for (int i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].path);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ------------------------------------------------------------- matching */

/* Whether name matches q at pass 0 (exact), 1 (q:latest), 2 (.../q or
 * q/...); icase: ignoring case. */
static int matches(const char *name, const char *q, int pass, int icase) {
    int (*cmp)(const char *, const char *, size_t) = icase ? strncasecmp : strncmp;
    size_t a = strlen(name), b = strlen(q);
    switch (pass) {
    case 0: return a == b && !cmp(name, q, a);
    case 1: return a == b + 7 && !cmp(name, q, b) && !cmp(name + b, ":latest", 7);
    default:
        return (a > b && name[a - b - 1] == '/' && !cmp(name + a - b, q, b)) ||
               (a > b && name[b] == '/' && !cmp(name, q, b));
    }
}

static int looks_like_path(const char *s) {
    return s[0] == '/' || s[0] == '~' || !strncmp(s, "./", 2) || !strncmp(s, "../", 3) ||
           ends_with(s, ".gguf") || ends_with(s, ".bin");
}

/* Appends "NAME (SOURCE)" to the message buffer, comma-separated. */
static void append(char *err, size_t errlen, size_t *len, const mf_model *m, int first) {
    if (*len >= errlen) return;
    int w = snprintf(err + *len, errlen - *len, "%s%s (%s)", first ? "" : ", ", m->name, m->source);
    if (w > 0) *len += (size_t)w;
    if (*len >= errlen) *len = errlen;
}

static int same_file(const char *a, const char *b) {
    struct stat x, y;
    return !strcmp(a, b) || (stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev &&
                             x.st_ino == y.st_ino);
}

int mf_resolve(const char *arg, char **path, char *err, size_t errlen) {
    struct stat st;
    *path = NULL;
    if (err && errlen) err[0] = 0;
    if (!*arg || looks_like_path(arg) || stat(arg, &st) == 0) {
        *path = strdup(arg);
        return *path ? 0 : -ENOMEM;
    }
    mf_list l;
    if (mf_scan(&l)) return -ENOMEM;
    int *hit = calloc((size_t)l.n + 1, sizeof *hit), nhit = 0;
    if (!hit) { mf_free(&l); return -ENOMEM; }
    for (int icase = 0; icase < 2 && !nhit; icase++)
        for (int pass = 0; pass < 3 && !nhit; pass++)
            for (int i = 0; i < l.n; i++)
                if (matches(l.v[i].name, arg, pass, icase)) hit[nhit++] = i;
    int distinct = nhit > 0;
    for (int i = 1; i < nhit; i++)
        if (!same_file(l.v[hit[i]].path, l.v[hit[0]].path)) distinct++;
    int rc = 0;
    size_t len = 0;
    if (nhit && distinct == 1) {
        if (!(*path = strdup(l.v[hit[0]].path))) rc = -ENOMEM;
    } else if (nhit) {
        rc = -EEXIST;
        int w = snprintf(err, errlen, "model '%s' is ambiguous; give one of: ", arg);
        len = w > 0 ? (size_t)w : 0;
        for (int i = 0; i < nhit && i < 8; i++) append(err, errlen, &len, &l.v[hit[i]], i == 0);
    } else {
        rc = -ENOENT;
        int w = snprintf(err, errlen, "model '%s' not found: no such file, and no model of that name "
                                      "in $LLMFS_MODEL, Ollama, llama.cpp's or Hugging Face's cache",
                         arg);
        len = w > 0 ? (size_t)w : 0;
        /* candidates: those whose name contains arg (ignoring case), else any */
        int shown = 0;
        for (int pass = 0; pass < 2 && !shown; pass++)
            for (int i = 0; i < l.n && shown < 8; i++) {
                if (pass == 0 && !strcasestr(l.v[i].name, arg)) continue;
                if (!shown && len < errlen) {
                    w = snprintf(err + len, errlen - len, "; found: ");
                    len = w > 0 && len + (size_t)w < errlen ? len + (size_t)w : errlen;
                }
                append(err, errlen, &len, &l.v[i], shown++ == 0);
            }
        if (l.n > shown && shown && len < errlen)
            snprintf(err + len, errlen - len, ", ... (llmfs --list-models)");
    }
    free(hit);
    mf_free(&l);
    return rc;
}
