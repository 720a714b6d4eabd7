/* Finding a model the user has already downloaded, by name: --model NAME
 * of llmfs and llmfs-run.  Nothing is downloaded; the places looked in:
 *   - $LLMFS_MODEL: a colon-separated list of GGUF files and directories
 *     of them; a model's name is its file name without ".gguf";
 *   - Ollama ($OLLAMA_MODELS, default ~/.ollama/models): the manifest
 *     manifests/registry.ollama.ai/library/NAME/TAG names "NAME:TAG" (other
 *     namespaces "NS/NAME:TAG", other registries "HOST/NS/NAME:TAG"); its
 *     layer of mediaType application/vnd.ollama.image.model gives the blob,
 *     blobs/sha256-HEX;
 *   - llama.cpp's download cache ($LLAMA_CACHE, default ~/.cache/llama.cpp):
 *     its *.gguf files, by file name without ".gguf";
 *   - Hugging Face's hub cache ($HF_HUB_CACHE, else $HF_HOME/hub, else
 *     ~/.cache/huggingface/hub): models--ORG--NAME/snapshots/REV/FILE.gguf
 *     names "ORG/NAME/FILE" (REV: the one refs/main names, or every one).
 * A name matches exactly; else "NAME" matches Ollama's "NAME:latest"; else
 * it matches the names that end with "/NAME" or begin with "NAME/"; else
 * the same ignoring case.  Several matches with different files are
 * ambiguous. */
#ifndef LLMFS_MODELFIND_H
#define LLMFS_MODELFIND_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *name;
    const char *source;      /* "LLMFS_MODEL", "ollama", "llama.cpp", "huggingface" */
    char *path;
    uint64_t size;           /* bytes */
} mf_model;

typedef struct {
    mf_model *v;
    int n, cap;
} mf_list;

/* Every model found, in the order above (each place sorted by name).
 * Places that do not exist are skipped.  0, or -ENOMEM. */
int mf_scan(mf_list *out);
void mf_free(mf_list *l);

/* The file that --model ARG names: ARG itself when it is an existing
 * file or looks like a path (begins with '/', './', '../' or '~', or ends
 * with ".gguf" or ".bin"); otherwise the model of that name.  *path is
 * malloc'd.  Returns 0; -ENOENT (not found) or -EEXIST (ambiguous) with
 * one line in err naming the candidates; -ENOMEM. */
int mf_resolve(const char *arg, char **path, char *err, size_t errlen);

/* The blob digest (64 lowercase hex digits, into hex[65]) of the model
 * layer of an Ollama manifest of n bytes.  0, or -EINVAL. */
int mf_ollama_digest(const char *json, size_t n, char hex[65]);
#endif
