/* A hash table of objects by 16-byte key (an XXH3-128 cache key): the
 * objects embed a km_node, the table only links them.  Grows by doubling;
 * never allocates on lookup or removal.  Not thread-safe. */
#ifndef LLMFS_KEYMAP_H
#define LLMFS_KEYMAP_H
#include <stddef.h>
#include <stdint.h>

typedef struct km_node {
    uint8_t key[16];
    struct km_node *next;
} km_node;

typedef struct keymap {
    km_node **b;             /* (nb) bucket chains */
    size_t nb, n;
} keymap;

/* 0 or -ENOMEM. */
int  keymap_init(keymap *m);
void keymap_release(keymap *m);       /* the objects are the caller's */
km_node *keymap_get(const keymap *m, const uint8_t key[16]);
/* Links n (its key set; not already in m).  Never fails: when growing
 * is impossible the chains just get longer. */
void keymap_put(keymap *m, km_node *n);
void keymap_del(keymap *m, km_node *n);   /* n must be in m */

#define KM_CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#endif
