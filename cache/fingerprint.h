/* Fingerprints of model files: the XXH3-128 of a file's whole content,
 * which the response cache puts in every key so that a rebuilt model file
 * never serves answers of the old one.  Hashing a large model takes a
 * moment, so fingerprints are remembered in DIR/fingerprints by (device,
 * inode, size, mtime): a file that did not change is not read again, and
 * any change of those four is a new fingerprint. */
#ifndef LLMFS_FINGERPRINT_H
#define LLMFS_FINGERPRINT_H
#include <stddef.h>
#include <stdint.h>

#define FINGERPRINT_FILE "fingerprints"

/* The fingerprint of the file at path into out.  dir (may be NULL: no
 * memory) is the directory holding the remembered fingerprints; a
 * missing, foreign or damaged table is ignored (and rewritten whole,
 * atomically, when a new fingerprint is added).  Returns 0, or a negative
 * errno with err = "PATH: reason". */
int fingerprint_file(const char *dir, const char *path, uint8_t out[16], char *err,
                     size_t errlen);
#endif
