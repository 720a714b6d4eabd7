/* Weight types (GGML numbering, as stored in GGUF), their block layouts,
 * conversion of rows to float32, and the reference quantizers used by
 * llmfs-mkmodel.  Dequantization is exact: it produces the very floats
 * llama.cpp's dequantize_row_* produce. */
#ifndef LLMFS_QUANT_H
#define LLMFS_QUANT_H
#include <stddef.h>
#include <stdint.h>

enum {
    TYPE_F32  = 0,
    TYPE_F16  = 1,
    TYPE_Q4_0 = 2,
    TYPE_Q4_1 = 3,
    TYPE_Q5_0 = 6,
    TYPE_Q5_1 = 7,
    TYPE_Q8_0 = 8,
    TYPE_Q3_K = 11,
    TYPE_Q4_K = 12,
    TYPE_Q5_K = 13,
    TYPE_Q6_K = 14,
    TYPE_BF16 = 30,
};

/* Elements per block (1 for F32/F16/BF16, 32 for Q4_0, Q4_1, Q5_0, Q5_1
 * and Q8_0, 256 for the K types); 0 for a type llmfs does not read. */
int quant_block_elems(int type);
/* Bytes per block; 0 for an unsupported type. */
size_t quant_block_bytes(int type);
/* Bytes of a row of n elements, or 0 if the type is unsupported or n is
 * not a multiple of its block size. */
size_t quant_row_bytes(int type, int64_t n);
/* "F32", "Q4_K", ...: GGML's name of any type it defines, read by llmfs
 * or not (so that a refusal can name it); "?" when unknown. */
const char *quant_name(int type);
/* The types llmfs reads, as "F32, F16, ...", for messages. */
const char *quant_supported_list(void);
/* Type id for a name as accepted by llmfs-mkmodel ("f32", "q8_0", ...); -1. */
int quant_from_name(const char *name);

/* dst[0..n) = the n values of the row at src.  n is a multiple of the
 * block size. */
void quant_dequant_row(int type, const void *src, float *dst, int64_t n);
/* Writes quant_row_bytes(type, n) bytes at dst, for every type llmfs
 * reads: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 with llama.cpp's
 * reference rounding, the K types (Q3_K, Q4_K, Q5_K, Q6_K) with plain
 * per-sub-block min/max or absmax quantizers, not llama.cpp's searches;
 * returns -EINVAL otherwise. */
int quant_quantize_row(int type, const float *src, void *dst, int64_t n);

float    fp16_to_f32(uint16_t h);
uint16_t f32_to_fp16(float f);   /* round to nearest even, like F16C */
float    bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);   /* round to nearest even; NaN stays NaN (quiet) */
#endif
