/* The transformer architectures the engine runs, as a table: what each
 * one's GGUF carries and how its forward pass differs from LLaMA's.  The
 * loader and the forward pass read these flags; nothing else names an
 * architecture. */
#ifndef LLMFS_ARCH_H
#define LLMFS_ARCH_H
#include <stddef.h>
#include "engine/gguf.h"

typedef struct {
    const char *name;   /* general.architecture, and the metadata key prefix */
    int rope_neox;      /* RoPE rotates dims i and i + head_dim/2 (GPT-NeoX style);
                           otherwise adjacent pairs 2i, 2i+1 */
    int qkv_bias;       /* attn_q/k/v.bias are required (they are optional elsewhere) */
    int qk_norm;        /* attn_q_norm/attn_k_norm: RMSNorm over each head of Q and K,
                           before RoPE */
    int rope_freqs;     /* rope_freqs.weight, if present, divides the RoPE
                           frequencies (Llama 3.1 and later) */
} arch_info;

/* The entry for an architecture name, or NULL if it is not supported. */
const arch_info *arch_find(gguf_str name);
/* Writes the supported names, comma-separated ("llama, qwen2, qwen3"),
 * into buf (always NUL-terminated when n > 0). */
void arch_names(char *buf, size_t n);
#endif
