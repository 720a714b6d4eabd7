/* The transformer architectures the engine runs, as a table: what each
 * one's GGUF carries and how its forward pass differs from LLaMA's.  The
 * loader and the forward pass read these flags; nothing else names an
 * architecture.  Every architecture may store Q, K and V as one fused
 * attn_qkv.weight (rows of Q, then K, then V), as llama.cpp allows. */
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
    int fused_gate_up;  /* ffn_up.weight holds the gate rows, then the up rows,
                           and there is no ffn_gate.weight (Phi-3) */
    int gemma;          /* Gemma's block (0, 2 or 3): embeddings scaled by
                           sqrt(dim), RMSNorm of the attention and feed-forward
                           outputs (attn_post_norm, ffn_post_norm) before their
                           residual adds, a GELU(tanh)-gated feed-forward, queries
                           scaled before the scores, the classifier always
                           token_embd (2) or output.weight if present (3) */
    int swa;            /* sliding-window attention (attention.sliding_window):
                           SWA_NONE (the key is ignored), SWA_GEMMA2, SWA_GEMMA3,
                           SWA_ALL (every layer, when the key is set) */
    float attn_softcap; /* attention logits soft-capped at this by default
                           (attn_logit_softcapping overrides); 0: never */
    float final_softcap;/* the same for the classifier's logits
                           (final_logit_softcapping); 0: only if the key says */
    int wide_q_layers;  /* a model of exactly this many layers scales its queries
                           by 1/sqrt(dim / heads) instead of 1/sqrt(head size)
                           (Gemma's 27B models, as llama.cpp tells them apart) */
} arch_info;

enum {
    SWA_NONE,
    SWA_GEMMA2,  /* window 4096 unless set; of each sliding_window_pattern (2)
                    layers, all but the last are local; local layers take
                    rope.freq_base_swa (default the global base) and the
                    global RoPE scaling */
    SWA_GEMMA3,  /* only when the window is set and > 0; pattern 6; local
                    layers take rope.freq_base_swa (default 10000) and no
                    RoPE scaling */
    SWA_ALL,     /* Mistral: every layer local, when the window is set and > 0 */
};

/* The entry for an architecture name, or NULL if it is not supported. */
const arch_info *arch_find(gguf_str name);
/* Writes the supported names, comma-separated ("llama, qwen2, qwen3"),
 * into buf (always NUL-terminated when n > 0). */
void arch_names(char *buf, size_t n);
#endif
