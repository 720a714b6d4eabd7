/* A response record: one finished generation as the response cache keeps
 * it (in memory for L1, as one file for L2), and its on-disk encoding.
 *
 * File layout (little-endian):
 *
 *   0   magic    "LLMFSRC\0"                     8 bytes
 *   8   version  RECORD_VERSION                  u32
 *   12  hlen     RECORD_HEADER_BYTES             u32
 *   16  key      the cache key (XXH3-128)        16 bytes
 *   32  rawlen   payload bytes before zstd       u64
 *   40  zlen     payload bytes as stored         u64
 *   48  sum      XXH3-64 of bytes [0, 48) and of the stored payload
 *   56  zero                                     u64
 *   64  payload  zstd frame of zlen bytes
 *
 * The payload, once decompressed (rawlen bytes):
 *
 *   u32 finish, u32 n_gen, u32 prompt_tokens, u32 zero,
 *   u64 gen_us, i64 created (Unix seconds), u64 text_len,
 *   u32 cuts[n_gen], text[text_len]
 *
 * A file is valid only if every length agrees with the file size and the
 * checksum matches: anything else is refused, never half-read. */
#ifndef LLMFS_RECORD_H
#define LLMFS_RECORD_H
#include <stddef.h>
#include <stdint.h>

#define RECORD_MAGIC "LLMFSRC"          /* 8 bytes with its NUL */
#define RECORD_VERSION 1u
#define RECORD_HEADER_BYTES 64
#define RECORD_NO_CUT UINT32_MAX
/* Limits a decoder accepts: far above anything a generation produces. */
#define RECORD_MAX_TEXT   (64u << 20)
#define RECORD_MAX_TOKENS (16u << 20)

typedef struct record {
    uint8_t key[16];
    int finish;              /* enum seq_finish: FINISH_EOS, _STOP, _LENGTH or _CONTEXT */
    int n_gen;               /* generated tokens (an end-of-sequence token not counted) */
    int prompt_tokens;
    uint64_t gen_us;         /* what generating it took, submit to done */
    int64_t created;         /* Unix seconds */
    /* cuts[k] is the length of the text the generation would have ended
     * with had max_tokens been k + 1, when that text is text[0, cuts[k]);
     * RECORD_NO_CUT when it is not a prefix of text (a character split
     * across tokens, or a stop string that later cut into it). */
    uint32_t *cuts;          /* (n_gen) */
    char *text;              /* (text_len) valid UTF-8, not NUL-terminated */
    size_t text_len;
} record;

/* Frees the arrays of r and r itself.  NULL is a no-op. */
void record_free(record *r);

/* Bytes r occupies in memory (what L1 counts against its bound). */
size_t record_mem_bytes(const record *r);

/* Encodes r into a new buffer *out of *len bytes (caller frees) with zstd
 * at level `level`.  Returns 0, -ENOMEM or -EINVAL for a record that the
 * decoder would refuse (out of limits, cuts out of order or past the
 * text, text not UTF-8, an unknown finish), so that whatever is written
 * reads back. */
int record_encode(const record *r, int level, uint8_t **out, size_t *len);

/* Checks the header at buf[0, len) against a file of file_size bytes:
 * magic, version, header length, the zero field, rawlen within the
 * limits, zlen <= ZSTD_compressBound(rawlen) and 64 + zlen == file_size.
 * On success copies the key to key (if not NULL) and returns 0; -ENOENT
 * when the first 8 bytes are not our magic (a foreign file, or len < 8),
 * -EINVAL when they are but the rest is wrong (short, another version). */
int record_check_header(const uint8_t *buf, size_t len, uint64_t file_size, uint8_t key[16]);

/* Decodes a whole file image.  want_key, if not NULL, must equal the
 * record's key.  Returns 0 and a new record in *out (its cuts and text
 * never NULL, even when empty); -ENOENT for a foreign file, -EINVAL for a
 * corrupt, truncated or mismatched one, -ENOMEM.  Never reads outside
 * buf[0, len). */
int record_decode(const uint8_t *buf, size_t len, const uint8_t want_key[16], record **out);
#endif
