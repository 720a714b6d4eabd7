/* This file implements the architecture table (arch.h).  Sources of each
 * row: llama.cpp's per-architecture graph builders, which these flags
 * mirror (llama: adjacent-pair RoPE, optional rope_freqs for Llama 3;
 * qwen2: Q/K/V biases, NEOX RoPE; qwen3: per-head Q/K RMSNorm, NEOX RoPE;
 * phi3: fused QKV and gate/up, NEOX RoPE; its sliding window is ignored,
 * as llama.cpp ignores it; gemma2 and gemma3: src/models/gemma2.cpp and
 * gemma3.cpp, NEOX RoPE, the norm weights stored with Gemma's +1 already
 * added by the converter, so plain RMSNorm).  llama with
 * attention.sliding_window set is windowed on every layer, as Mistral 7B
 * was trained and as its reference code runs it; llama.cpp ignores the
 * key for llama.
 * Every architecture may set its head size apart (attention.key_length). */
#include "engine/arch.h"

#include <stdio.h>

static const arch_info archs[] = {
    /* name     neox qkv_bias qk_norm rope_freqs fused gemma swa      attn_cap final_cap wide_q */
    { "llama",  0,   0,       0,      1,         0,    0,    SWA_ALL,    0,       0,        0 },
    { "qwen2",  1,   1,       0,      0,         0,    0,    SWA_NONE,   0,       0,        0 },
    { "qwen3",  1,   0,       1,      0,         0,    0,    SWA_NONE,   0,       0,        0 },
    { "phi3",   1,   0,       0,      0,         1,    0,    SWA_NONE,   0,       0,        0 },
    { "gemma2", 1,   0,       0,      0,         0,    2,    SWA_GEMMA2, 50.0f,   30.0f,    46 },
    { "gemma3", 1,   0,       1,      0,         0,    3,    SWA_GEMMA3, 0,       0,        62 },
};

const arch_info *arch_find(gguf_str name) {
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++)
        if (gguf_str_eq(name, archs[i].name)) return &archs[i];
    return NULL;
}

void arch_names(char *buf, size_t n) {
    size_t used = 0;
    if (!n) return;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++) {
        int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "", archs[i].name);
        if (w < 0 || (size_t)w >= n - used) return;
        used += (size_t)w;
    }
}
