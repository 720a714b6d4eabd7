/* The disk tier of the response cache: one record file per entry
 * (record.h) in a directory, bounded in bytes.  Opening takes the
 * directory's lock (one daemon per directory; another one runs without a
 * disk tier) and scans the records into an index: a file that is short or
 * corrupt is dropped, one without our magic (a foreign file) is skipped
 * and never touched.  Writes go to a temporary file that is fsynced and
 * renamed, so a crash at any moment leaves every record whole or absent.
 * The calls do disk I/O and compression: never call them from the
 * scheduler's thread or under a lock that it takes.  Thread-safe. */
#ifndef LLMFS_L2_H
#define LLMFS_L2_H
#include <stddef.h>
#include <stdint.h>

#include "engine/policy.h"
#include "cache/record.h"

typedef struct l2 l2;

typedef struct l2_stats {
    uint64_t lookups, hits, evictions;
    uint64_t entries, bytes;          /* now: files and their bytes */
    uint64_t raw_bytes;               /* now: their payloads before compression */
    uint64_t writes, write_errors;
    uint64_t corrupt;                 /* our records found damaged and dropped */
    uint64_t foreign;                 /* files without our magic, skipped at the scan */
} l2_stats;

/* Opens (creating it 0700 if needed) the directory dir for a disk tier of
 * at most max_bytes, its eviction by the policy called policy_name
 * (policy.h).  Returns 0 and the tier in *out; or 0 with *out NULL
 * and msg = a one-line reason when the daemon must run without a disk
 * tier (the directory cannot be made, or another daemon holds it). */
int  l2_open(const char *dir, size_t max_bytes, const char *policy_name, l2 **out, char *msg,
             size_t msglen);
/* Flushes nothing (writes are synchronous), releases the lock.  NULL ok. */
void l2_close(l2 *d);

/* The record of key, read, checked and decoded into *out: a use of it,
 * which its policy learns from.  *reuse (if not NULL) gets the policy's
 * predicted probability that the record is used again (policy_predict:
 * -1 when the policy has no model).  Returns 0, -ENOENT when there is none
 * (or it was damaged: dropped and counted), -ENOMEM. */
int  l2_get(l2 *d, const uint8_t key[16], record **out, double *reuse);
/* The same without using it: neither counted nor seen by the policy (a
 * prefetch). */
int  l2_peek(l2 *d, const uint8_t key[16], record **out);
/* Up to max keys of records the policy says are due within `within`
 * seconds (policy_due), into keys; how many. */
int  l2_due(l2 *d, double within, uint8_t (*keys)[16], int max);
/* The clock the policy learns time from (NULL: policy_clock_now); tests
 * set their own. */
void l2_set_clock(l2 *d, double (*clock)(void));
/* Stores recs[0..n) (each replacing an older record of its key), then
 * evicts down to the bound.  The batch shares its trip to the disk: every
 * file is written, then all are fsynced, then renamed.  Returns how many
 * failed (the tier keeps working; the failures are counted). */
int  l2_put(l2 *d, const record *const *recs, int n);

void l2_get_stats(l2 *d, l2_stats *out);
#endif
