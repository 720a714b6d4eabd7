/* Loading YAML with bounds, for every YAML the project reads (the config,
 * prompts' front matter, benchmark scenarios).  libyaml's time grows with
 * the square of the nesting depth, and aliases let a small text stand for
 * a large tree, so a first pass over the events refuses a text nested
 * deeper than YAMLX_MAX_DEPTH or with more than YAMLX_MAX_ALIASES aliases
 * before the document is built, and refuses a second document; then the
 * one document is loaded.  Plus the node helpers the loaders share. */
#ifndef LLMFS_YAMLX_H
#define LLMFS_YAMLX_H
#include <stddef.h>
#include <yaml.h>

#define YAMLX_MAX_DEPTH 32
#define YAMLX_MAX_ALIASES 32

/* Why a load failed: rc is -EINVAL (problem at line:col, 1-based, in
 * characters of the text) or -ENOMEM. */
typedef struct {
    int rc;
    size_t line, col;
    char problem[128];
    char context[64];           /* what was being parsed, or "" */
    size_t context_line;
} yamlx_error;

/* Loads the one document of buf into doc (an empty text gives a document
 * without a root).  0, or the error in *e and nothing to delete. */
int yamlx_load(const char *buf, size_t len, yaml_document_t *doc, yamlx_error *e);

/* A plain scalar that YAML reads as null: empty, ~, null, Null, NULL. */
int yamlx_null_text(const char *v, size_t len);
int yamlx_is_null(const yaml_node_t *n);
/* "a mapping", "a list" or "a scalar", for messages. */
const char *yamlx_kind(const yaml_node_t *n);
#endif
