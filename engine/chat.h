/* Chat templates: which of the common prompt formats a model's
 * tokenizer.chat_template asks for, recognised by the marks llama.cpp
 * looks for (src/llama-chat.cpp), and the rendering of a conversation in
 * that format, as llama.cpp renders it.  A template is never interpreted
 * as Jinja: a template that is none of these formats is refused.
 *
 * Rendered text carries no leading BOS (the tokenizer adds it, as
 * llama.cpp does); special tokens appear as their text ("<|im_start|>")
 * and are tokenized with tokenizer_encode_special. */
#ifndef LLMFS_CHAT_H
#define LLMFS_CHAT_H
#include <stddef.h>

typedef enum chat_format {
    CHAT_NONE = 0,
    CHAT_CHATML,            /* <|im_start|>role\n...<|im_end|>\n (Qwen, SmolLM) */
    CHAT_LLAMA2,            /* [INST] ... [/INST] reply</s>, no system block */
    CHAT_LLAMA2_SYS,        /* the same with <<SYS>> ... <</SYS>> */
    CHAT_LLAMA2_SYS_BOS,    /* ... and <s> before every later [INST] */
    CHAT_LLAMA2_SYS_STRIP,  /* ... with every message stripped of spaces */
    CHAT_LLAMA3,            /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
    CHAT_GEMMA,             /* <start_of_turn>user|model\n...<end_of_turn>\n */
    CHAT_PHI3,              /* <|role|>\n...<|end|>\n */
    CHAT_MISTRAL_V1,        /* " [INST] ... [/INST] reply</s>" */
    CHAT_MISTRAL_V3,        /* "[INST] ...[/INST] reply</s>" */
    CHAT_MISTRAL_V3_TEKKEN, /* "[INST]...[/INST]reply</s>" */
    CHAT_MISTRAL_V7,        /* [SYSTEM_PROMPT] ...[/SYSTEM_PROMPT][INST] ...[/INST] reply</s> */
    CHAT_NFORMATS
} chat_format;

typedef enum chat_role { CHAT_SYSTEM, CHAT_USER, CHAT_ASSISTANT } chat_role;

typedef struct chat_msg {
    chat_role role;
    const char *text;       /* not owned */
    size_t len;
} chat_msg;

/* The format tmpl[0..len) names: a format's own name (chatml, llama2,
 * llama2-sys, llama2-sys-bos, llama2-sys-strip, llama3, gemma, phi3,
 * mistral-v1, mistral-v3, mistral-v3-tekken, mistral-v7) or a Jinja
 * template recognised by llama.cpp's marks.  Returns the format, or
 * CHAT_NONE with a one-line reason in err (what llama.cpp would have
 * taken it for, when that is a format not rendered here). */
chat_format chat_detect(const char *tmpl, size_t len, char *err, size_t errlen);
/* "chatml", "llama2-sys-bos", ...; "none". */
const char *chat_format_name(chat_format f);

/* Renders m[0..n) in format f, then the assistant's header when add_gen
 * (the formats whose user turn ends with it add nothing).  *out is a new
 * NUL-terminated string of *len bytes (caller frees).  Returns 0, -EINVAL
 * (no such format) or -ENOMEM. */
int chat_render(chat_format f, const chat_msg *m, int n, int add_gen, char **out, size_t *len);

/* What the conversation's kept token ids grow by when the user adds a
 * turn: m[0..n) is the conversation so far (an optional system prompt
 * first, then user and assistant messages in turn).  When it holds no
 * reply yet, the whole rendering of m and the user's turn with the
 * assistant's header.  Otherwise m[n - 1] is the last reply (its text is
 * not read) and the result is what follows that reply: with it, the
 * rendering of m[0..n - 1) with the header (add_gen) becomes the
 * rendering of m and the new turn with the header.  So the ids grow by
 * this text's tokens, then the reply's, turn after turn, and the
 * conversation is never tokenized again.  Returns 0, -EINVAL (no such
 * format, or m does not end with a reply) or -ENOMEM; *out as for
 * chat_render. */
int chat_render_next(chat_format f, const chat_msg *m, int n, const char *user, size_t ulen,
                     char **out, size_t *len);

/* A conversation: its messages and the token ids it has grown by, turn
 * by turn (chat_render_next's texts tokenized, and the replies' ids as
 * they were generated).  The ids of a new turn's prompt are the kept
 * ones plus that turn's, so a KV prefix cache finds every earlier turn.
 * Not thread-safe: its owner serializes calls. */
typedef int (*chat_tokenize_fn)(void *ud, const char *text, size_t len, int first, int **ids);

typedef struct chat_conv {
    chat_format f;
    chat_msg *m;            /* (cap) messages; their texts are owned */
    int n, cap;
    int *ids;               /* (cap_ids) the conversation's token ids */
    int n_ids, cap_ids;
    int undo_n, undo_ids;   /* n and n_ids before the last chat_conv_user */
} chat_conv;

void chat_conv_init(chat_conv *c, chat_format f);
/* Forgets every message (a new conversation in the same format). */
void chat_conv_reset(chat_conv *c);
void chat_conv_release(chat_conv *c);
/* Sets the system prompt, before the first turn (-EBUSY after). */
int  chat_conv_system(chat_conv *c, const char *text, size_t len);
/* Adds the user's turn: the ids grow by its rendering (chat_render_next)
 * as tok tokenizes it (first: the conversation's first tokens).  The
 * prompt for the reply is then c->ids[0..c->n_ids).  Returns 0, -EBUSY
 * when the last message is not a reply (nor the system prompt), or tok's
 * error (-EFBIG: past the context); nothing changes on failure.  tok NULL:
 * the messages only, no ids (for a server that renders them itself; any
 * format, CHAT_NONE too). */
int  chat_conv_user(chat_conv *c, const char *text, size_t len, chat_tokenize_fn tok, void *ud);
/* Takes back the last chat_conv_user (its reply never came). */
void chat_conv_undo(chat_conv *c);
/* Adds the reply to the last user turn: its text and the ids generated
 * (ids may be NULL with n 0).  Returns 0, -EBUSY (no user turn waits for
 * it) or -ENOMEM. */
int  chat_conv_reply(chat_conv *c, const char *text, size_t len, const int *ids, int n);
#endif
