/* Tokenizers: SentencePiece-style (GGUF tokenizer.ggml.model "llama", and
 * llama2.c tokenizer.bin files) with scores and byte fallback, and
 * byte-level BPE ("gpt2") with merges and its pre-tokenizers.  Encoding
 * matches llama.cpp's tokenizer id for id; decoding yields the raw bytes
 * of each token (utf8.h cuts a stream at valid UTF-8 boundaries). */
#ifndef LLMFS_TOKENIZER_H
#define LLMFS_TOKENIZER_H
#include <stddef.h>
#include "engine/gguf.h"

typedef struct tokenizer tokenizer;

/* From a GGUF's tokenizer.ggml.* metadata.  Caller frees.  Returns 0 or a
 * negative errno with a one-line reason in err. */
int tokenizer_from_gguf(const gguf *g, tokenizer **out, char *err, size_t errlen);
/* From a llama2.c tokenizer.bin (int32 max_token_length, then per token
 * float32 score, int32 length, bytes) for a vocabulary of n_vocab tokens. */
int tokenizer_from_llama2c(const char *path, int n_vocab, tokenizer **out,
                           char *err, size_t errlen);
int tokenizer_from_llama2c_buf(const void *buf, size_t size, int n_vocab,
                               tokenizer **out, char *err, size_t errlen);
void tokenizer_free(tokenizer *t);

/* Tokenizes text[0..len).  add_bos: put BOS first when the vocabulary
 * has one and starts prompts with it (tokenizer.ggml.add_bos_token;
 * by default SentencePiece vocabularies do, byte-level BPE ones do not).  Special-token text is not parsed (llama.cpp's
 * parse_special = false).  Writes at most cap ids; returns the number of
 * ids the text needs (which may exceed cap: call again with more room),
 * or a negative errno. */
int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int add_bos,
                     int *ids, int cap);
/* The same with special-token text parsed (llama.cpp's parse_special =
 * true): the text of a control token ("<|im_start|>", "</s>") becomes
 * that token, as chat templates need. */
int tokenizer_encode_special(const tokenizer *t, const char *text, size_t len, int add_bos,
                             int *ids, int cap);

/* The bytes that token id contributes to the text when it follows token
 * prev (-1 at the start): SentencePiece's leading space is dropped after
 * BOS, byte tokens <0xXX> become their byte, byte-level BPE maps back to
 * raw bytes, control tokens (BOS/EOS/...) give nothing.  Returns the byte
 * count written to buf (at most cap: a longer piece is cut; pieces are
 * never longer than TOKENIZER_MAX_PIECE, which real vocabularies need:
 * MPT's has a 512-byte token). */
#define TOKENIZER_MAX_PIECE 1024
int tokenizer_decode(const tokenizer *t, int prev, int id, char *buf, size_t cap);

int tokenizer_n_vocab(const tokenizer *t);
int tokenizer_bos(const tokenizer *t);      /* -1 if none */
int tokenizer_eos(const tokenizer *t);      /* -1 if none */
/* Ends generation: EOS, EOT (where the vocabulary has one) or BOS. */
int tokenizer_is_eog(const tokenizer *t, int id);
/* The token's text as stored in the vocabulary (for debugging). */
const char *tokenizer_token_text(const tokenizer *t, int id);
#endif
