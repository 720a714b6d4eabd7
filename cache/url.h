/* URLs of servers (http://host:port/path, redis://:password@host:port/db):
 * a bounded parser into fixed fields, and the form that may be shown to
 * anyone, with the password left out. */
#ifndef LLMFS_URL_H
#define LLMFS_URL_H
#include <stddef.h>

typedef struct url {
    char scheme[16];         /* lower case: "http", "https", "redis" */
    char user[128];          /* "" when none */
    char password[256];      /* "" when none (decoded from %XX) */
    int has_password;
    char host[256];          /* without the brackets of an IPv6 literal */
    int port;                /* 0 when not given */
    char path[1024];         /* "" or from the first "/" on (query kept) */
} url;

/* Parses s: SCHEME://[USER[:PASSWORD]@]HOST[:PORT][/PATH].  Returns 0, or
 * -EINVAL with err = the reason (which never quotes the password). */
int url_parse(const char *s, url *u, char *err, size_t errlen);

/* The URL of u as it may be shown: the password replaced by "***". */
void url_show(const url *u, char *out, size_t cap);
#endif
