/* The namespace: the fixed nodes (/, prompts/, completions/, chats/,
 * stats/, the stats files, config) and, for every prompt name, an entry holding the
 * prompt's bytes and xattrs and its completion: the text of the current
 * generation, which grows as the scheduler produces it.  Reads of a
 * completion that wait for text are parked (their fuse_req_t kept) and
 * answered from the response cache's callbacks; poll handles are passed to the
 * notifier thread.  Functions return 0 (or a count) or a negative errno;
 * the ones that take a fuse_req_t reply to it exactly once. */
#ifndef LLMFS_NS_H
#define LLMFS_NS_H
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>
#include <stddef.h>
#include <sys/stat.h>

#include "cache/rcache.h"
#include "engine/chat.h"
#include "fs/config.h"
#include "fs/notify.h"
#include "fs/stats.h"

/* Inode numbers.  Prompt entry number id is prompts/NAME at
 * NS_INO_DYN + 2 * id; every generation's text (what completions/NAME
 * names, each rewrite a new one) number tid is at NS_INO_DYN + 2 * tid +
 * 1.  Ids are never reused, so a stale kernel inode never names a newer
 * file, and the page cache of one generation never shows through
 * another.  A chat (chats/NAME) is an entry too; its file is its
 * transcript's text, at that text's number, for the chat's whole life. */
enum {
    NS_INO_ROOT = 1, NS_INO_PROMPTS, NS_INO_COMPLETIONS, NS_INO_STATS, NS_INO_CONFIG,
    NS_INO_STATS0,                          /* + enum stats_file */
    NS_INO_CHATS = 63,
    NS_INO_DYN = 64
};

enum ns_kind {
    NS_DIR, NS_CONFIG, NS_STATS, NS_PROMPT, NS_COMPLETION, NS_CHAT, NS_NONE
};

typedef struct ns ns;
typedef struct ns_handle ns_handle;        /* an open prompt or completion */

typedef struct ns_env {
    rcache *c;                  /* where prompts go (not owned) */
    const llmfs_config *cfg;    /* defaults and limits (not owned) */
    stats *st;                  /* not owned */
    notify *nt;                 /* not owned */
    size_t config_size;         /* bytes of the config file's YAML */
    /* The session, for telling the kernel that completions/NAME names a
     * new inode (rewrite, unlink); NULL when the kernel must not keep
     * completion names (a single-threaded loop could not serve a lookup
     * while it waits for the notification). */
    struct fuse_session *se;
    /* Other users may use the mount (-o allow_other): prompts/ is then
     * writable by all and sticky, like /tmp. */
    int shared;
    /* The model's chat format (engine_chat_format), and when it is
     * CHAT_NONE the one-line reason a chat turn is refused with. */
    chat_format chat_fmt;
    const char *chat_error;
    /* chats/ hand their messages to servers that render them in their own
     * templates (remote backends: remote_chat_ids), whatever chat_fmt. */
    int chat_messages;
} ns_env;

/* Who creates a prompt: it and its completion belong to them. */
typedef struct {
    uid_t uid;
    gid_t gid;
    mode_t mode;                /* permission bits, umask applied */
} ns_owner;

/* Whether the kernel may keep the names under completions/. */
int  ns_keeps_completion_names(const ns *n);

int  ns_new(const ns_env *env, ns **out);
/* Refuses new submissions and cuts every running generation: its readers
 * get the bytes so far, then EIO, with the reason in user.llmfs.error. */
void ns_stop_generations(ns *n);
/* How many prompt and completion files are open. */
size_t ns_open_files(ns *n);
/* ns_stop_generations, then answers every parked read with EINTR and
 * drops poll handles.  Call after the FUSE loop has ended and before the
 * session and the scheduler go. */
void ns_shutdown(ns *n);
/* Frees everything, open handles included.  NULL is a no-op. */
void ns_free(ns *n);

/* What kind of node ino is (NS_NONE for a dynamic ino that does not exist
 * as far as the number goes; existence is checked by the calls below).
 * A chat's file is NS_COMPLETION by its number: ns_handle_kind tells an
 * open one apart. */
int  ns_kind(fuse_ino_t ino);
/* NS_PROMPT, NS_COMPLETION or NS_CHAT. */
int  ns_handle_kind(const ns_handle *h);
/* The stats file of a NS_STATS inode (enum stats_file). */
int  ns_stats_file(fuse_ino_t ino);

/* *stable is set to 1 when the attributes can never change (a finished
 * completion), so the kernel may keep them. */
int  ns_lookup(ns *n, fuse_ino_t parent, const char *name, struct stat *st, int *stable);
/* h, if not NULL, is the handle the kernel gave (fstat): an unlinked but
 * open file still has attributes. */
int  ns_getattr(ns *n, fuse_ino_t ino, ns_handle *h, struct stat *st, int *stable);

/* Lists directory ino from offset off: fill(ud, name, st, next_off) for
 * each entry until fill returns nonzero (buffer full). */
typedef int (*ns_fill_fn)(void *ud, const char *name, const struct stat *st, off_t next);
int  ns_readdir(ns *n, fuse_ino_t ino, off_t off, ns_fill_fn fill, void *ud);

/* prompts/NAME: create (or open, if it exists), open, write, read,
 * truncate, flush (submits when there are new bytes), unlink.
 *
 * chats/NAME the same way: the bytes written between an open and the
 * flush of its close (less one trailing newline, after an optional front
 * matter whose system: sets the system prompt) are a user turn; reading
 * gives the transcript, which streams the reply and ends (EOF) when no
 * reply is generating or waiting; truncating (O_TRUNC, ">") starts a new
 * conversation.  A turn written while a reply streams waits for it. */
int  ns_create(ns *n, fuse_ino_t parent, const char *name, int flags, const ns_owner *who,
                struct stat *st,
               ns_handle **out);
/* *cacheable is set to 1 for a finished completion: its bytes never
 * change, so the kernel may keep its pages.  -ESTALE for an inode whose
 * prompt was removed (the kernel then looks the name up again). */
int  ns_open(ns *n, fuse_ino_t ino, int flags, ns_handle **out, int *cacheable);
void ns_release(ns *n, ns_handle *h);
/* The prompt's name (valid while the handle is). */
/* Copies the name of h's prompt (as renamed so far) into buf. */
void ns_handle_name(ns *n, const ns_handle *h, char *buf, size_t cap);
/* rename(2) within prompts/: the prompt, its completion and its
 * generation (running or finished) take the new name; a prompt that had
 * it goes as with rm.  flags: 0 or RENAME_NOREPLACE.  Both completion
 * names must then be forgotten by the kernel (ns_forget_completion). */
int ns_rename(ns *n, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
              const char *newname, unsigned flags);
/* owner: the writing process's lock owner (FUSE's, from its descriptor
 * table), or 0 if unknown. */
ssize_t ns_write(ns *n, ns_handle *h, const char *buf, size_t size, off_t off, uint64_t owner);
/* Copies prompt bytes at off into buf; returns the count. */
ssize_t ns_read_prompt(ns *n, ns_handle *h, char *buf, size_t size, off_t off);
/* chmod and chown of a prompt (the kernel checked the caller's right,
 * default_permissions); to_set: FUSE_SET_ATTR_MODE/UID/GID.  A completion
 * follows its prompt: its mode is the prompt's read bits. */
int  ns_set_owner(ns *n, fuse_ino_t ino, int to_set, const struct stat *attr);
int  ns_truncate(ns *n, fuse_ino_t ino, off_t size);
/* ns_flush submits the prompt if it changed and h was written to by the
 * process whose descriptor is being closed (owner, as in ns_write): not
 * on a reader's close, nor when a child that inherited the writer's
 * descriptor exits.  It sets *moved when completions/NAME now names another inode (a
 * new generation, or a refused prompt's empty text); after ns_unlink of a
 * prompt it names nothing.  Either way the kernel must forget the name
 * (ns_forget_completion) before the operation is answered. */
/* An open of a completion with no bytes yet waits for its first byte or
 * its end (GNU tail -f treats an empty regular file like a pipe): returns
 * 1 when parked, and ready(ud, err) answers it later from another thread
 * (err 0: reply the open; EINTR: interrupted); 0 to answer now. */
int  ns_open_wait(ns *n, ns_handle *h, fuse_req_t req, void (*ready)(void *ud, int err),
                  void *ud);
int  ns_flush(ns *n, ns_handle *h, uint64_t owner, int *moved);
int  ns_unlink(ns *n, fuse_ino_t parent, const char *name);
/* Tells the kernel to forget completions/NAME.  It may wait for the
 * completions/ directory's lock, which a lookup waiting for a FUSE thread
 * can hold: never call it on a FUSE worker thread (ops.c calls it on the
 * notifier's), nor with a namespace lock held.  A no-op when the kernel
 * does not keep completion names. */
void ns_forget_completion(ns *n, const char *name);

/* Reads a completion: replies now when bytes at off exist or generation
 * has ended (EOF), else parks req until one of those happens or the
 * reader is interrupted (EINTR). */
void ns_read_completion(ns *n, ns_handle *h, fuse_req_t req, size_t size, off_t off);
/* Readiness of a completion handle; keeps ph (takes ownership) to notify
 * when it becomes readable. */
unsigned ns_poll(ns *n, ns_handle *h, struct fuse_pollhandle *ph);

/* user.llmfs.* extended attributes of prompts/NAME (and user.llmfs.error of
 * completions/NAME).  get/list return the size (or the needed size when
 * size is 0), -ERANGE when it does not fit. */
int  ns_setxattr(ns *n, fuse_ino_t ino, const char *name, const char *value, size_t size,
                 int flags);
ssize_t ns_getxattr(ns *n, fuse_ino_t ino, const char *name, char *buf, size_t size);
ssize_t ns_listxattr(ns *n, fuse_ino_t ino, char *buf, size_t size);
int  ns_removexattr(ns *n, fuse_ino_t ino, const char *name);

/* Rows for stats/requests of the requests still in flight (caller frees
 * *rows). */
int  ns_active_rows(ns *n, stats_row **rows, size_t *count);
#endif
