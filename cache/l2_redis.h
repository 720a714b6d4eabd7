/* The shared tier of the response cache: the L2 records (record.h, the
 * same checksummed encoding as the disk tier's files) kept in Redis or
 * Valkey under "llmfs:rec:" + the key in hex, so that mounts on several
 * machines share answers.  Eviction is the server's maxmemory policy.
 *
 * Trust: anyone who can write to that Redis can plant answers.  With a
 * key file shared by the mounts, every value carries an HMAC-SHA-256 of
 * the record under that key, and a value whose HMAC does not verify is
 * never served (counted as forged).
 *
 * A Redis that is down or slow never holds a read up for long: commands
 * time out after L2R_TIMEOUT_MS, the first failure marks the tier down,
 * lookups while it is down answer "none" at once (L1 only), and a thread
 * of its own reconnects in the background.  Thread-safe. */
#ifndef LLMFS_L2_REDIS_H
#define LLMFS_L2_REDIS_H
#include <stddef.h>
#include <stdint.h>

#include "cache/l2.h"
#include "cache/record.h"

#define L2R_TIMEOUT_MS 200       /* per command and per connection attempt */
#define L2R_RETRY_MS 500         /* between reconnection attempts */
#define L2R_HMAC_BYTES 32

typedef struct l2r l2r;

typedef struct l2r_stats {
    l2_stats l2;             /* lookups, hits, writes, write_errors, corrupt (values that
                                did not decode); the rest 0: Redis keeps its own */
    uint64_t errors;         /* commands or connections that failed */
    uint64_t forged;         /* values whose HMAC did not verify */
    uint64_t skipped;        /* lookups and writes skipped while it was down */
    int up;                  /* connected now */
} l2r_stats;

/* Parses url (redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]) and reads the
 * HMAC key file (NULL: no HMAC; its bytes are the key, at least 16).
 * Tries one connection; a Redis that is not there yet is not an error
 * (the tier starts down).  Returns 0, or -EINVAL/-ENOENT/-ENOMEM with
 * msg = why (never quoting the password or the key). */
int  l2r_open(const char *url, const char *hmac_key_file, l2r **out, char *msg, size_t msglen);
/* Starts the reconnecting thread (after any fork). */
int  l2r_start(l2r *r);
/* Stops the thread, closes, frees.  NULL is a no-op. */
void l2r_close(l2r *r);

/* The record of key: 0, -ENOENT (none, damaged, forged, or the tier is
 * down), -ENOMEM. */
int  l2r_get(l2r *r, const uint8_t key[16], record **out);
/* Stores recs[0, n) in one round trip.  Returns how many failed. */
int  l2r_put(l2r *r, const record *const *recs, int n);

void l2r_get_stats(l2r *r, l2r_stats *out);
/* The URL as it may be shown (no password). */
const char *l2r_show(const l2r *r);
#endif
