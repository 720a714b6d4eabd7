/* Bounded YAML loading (yamlx.h). */
#include "fs/yamlx.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Line and column (1-based, in characters) of a byte offset. */
static void offset_mark(const char *buf, size_t len, size_t off, size_t *line, size_t *col) {
    *line = 1, *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (buf[i] == '\n') (*line)++, *col = 1;
        else if (((unsigned char)buf[i] & 0xc0) != 0x80) (*col)++;
    }
}

static int parser_error(yaml_parser_t *P, const char *buf, size_t len, yamlx_error *e) {
    if (P->error == YAML_MEMORY_ERROR) {
        e->rc = -ENOMEM;
        e->line = e->col = 0;
        snprintf(e->problem, sizeof e->problem, "out of memory");
        return e->rc;
    }
    if (P->error == YAML_READER_ERROR) {
        offset_mark(buf, len, P->problem_offset, &e->line, &e->col);
    } else {
        e->line = P->problem_mark.line + 1;
        e->col = P->problem_mark.column + 1;
    }
    snprintf(e->problem, sizeof e->problem, "%s", P->problem ? P->problem : "invalid YAML");
    if (P->context) {
        snprintf(e->context, sizeof e->context, "%s", P->context);
        e->context_line = P->context_mark.line + 1;
    }
    e->rc = -EINVAL;
    return e->rc;
}

static int fail_mark(yamlx_error *e, yaml_mark_t m, const char *problem) {
    e->rc = -EINVAL;
    e->line = m.line + 1;
    e->col = m.column + 1;
    snprintf(e->problem, sizeof e->problem, "%s", problem);
    return e->rc;
}

/* The first pass: events only, stopping at the first bound crossed. */
static int check_bounds(const char *buf, size_t len, yamlx_error *e) {
    yaml_parser_t P;
    yaml_event_t ev;
    int depth = 0, aliases = 0, docs = 0, rc = 0;
    if (!yaml_parser_initialize(&P)) {
        e->rc = -ENOMEM;
        snprintf(e->problem, sizeof e->problem, "out of memory");
        return e->rc;
    }
    yaml_parser_set_input_string(&P, (const unsigned char *)buf, len);
    for (;;) {
        if (!yaml_parser_parse(&P, &ev)) {
            rc = parser_error(&P, buf, len, e);
            break;
        }
        yaml_event_type_t t = ev.type;
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            if (++depth > YAMLX_MAX_DEPTH) {
                char why[80];
                snprintf(why, sizeof why, "nested deeper than %d levels", YAMLX_MAX_DEPTH);
                rc = fail_mark(e, ev.start_mark, why);
            }
        } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            depth--;
        } else if (t == YAML_ALIAS_EVENT) {
            if (++aliases > YAMLX_MAX_ALIASES) {
                char why[80];
                snprintf(why, sizeof why, "more than %d aliases", YAMLX_MAX_ALIASES);
                rc = fail_mark(e, ev.start_mark, why);
            }
        } else if (t == YAML_DOCUMENT_START_EVENT) {
            if (++docs > 1) rc = fail_mark(e, ev.start_mark, "only one YAML document is allowed");
        }
        yaml_event_delete(&ev);
        if (rc || t == YAML_STREAM_END_EVENT) break;
    }
    yaml_parser_delete(&P);
    return rc;
}

int yamlx_load(const char *buf, size_t len, yaml_document_t *doc, yamlx_error *e) {
    memset(e, 0, sizeof *e);
    int rc = check_bounds(buf, len, e);
    if (rc) return rc;
    yaml_parser_t P;
    if (!yaml_parser_initialize(&P)) {
        e->rc = -ENOMEM;
        snprintf(e->problem, sizeof e->problem, "out of memory");
        return e->rc;
    }
    yaml_parser_set_input_string(&P, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&P, doc)) rc = parser_error(&P, buf, len, e);
    yaml_parser_delete(&P);
    return rc;
}

int yamlx_null_text(const char *v, size_t len) {
    return len == 0 || (len == 1 && v[0] == '~') ||
           (len == 4 && (!memcmp(v, "null", 4) || !memcmp(v, "Null", 4) || !memcmp(v, "NULL", 4)));
}

int yamlx_is_null(const yaml_node_t *n) {
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           yamlx_null_text((const char *)n->data.scalar.value, n->data.scalar.length);
}

const char *yamlx_kind(const yaml_node_t *n) {
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default: return "a scalar";
    }
}
