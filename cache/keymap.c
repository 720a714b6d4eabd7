/* This file implements the key table of keymap.h.  The keys are hashes
 * already, so their first eight bytes pick the bucket. */
#include "cache/keymap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t bucket(const uint8_t key[16], size_t nb) {
    uint64_t h;
    memcpy(&h, key, sizeof h);
    return (size_t)(h & (nb - 1));
}

int keymap_init(keymap *m) {
    m->nb = 64;
    m->n = 0;
    m->b = calloc(m->nb, sizeof *m->b);
    return m->b ? 0 : -ENOMEM;
}

void keymap_release(keymap *m) {
    free(m->b);
    memset(m, 0, sizeof *m);
}

km_node *keymap_get(const keymap *m, const uint8_t key[16]) {
    for (km_node *n = m->b[bucket(key, m->nb)]; n; n = n->next)
        if (!memcmp(n->key, key, 16)) return n;
    return NULL;
}

void keymap_put(keymap *m, km_node *n) {
    if (m->n >= m->nb) {
        size_t nb = m->nb * 2;
        km_node **b = calloc(nb, sizeof *b);
        if (b) {
            for (size_t i = 0; i < m->nb; i++)
                for (km_node *x = m->b[i], *nx; x; x = nx) {
                    nx = x->next;
                    size_t k = bucket(x->key, nb);
                    x->next = b[k];
                    b[k] = x;
                }
            free(m->b);
            m->b = b;
            m->nb = nb;
        }
    }
    size_t k = bucket(n->key, m->nb);
    n->next = m->b[k];
    m->b[k] = n;
    m->n++;
}

void keymap_del(keymap *m, km_node *n) {
    km_node **pp = &m->b[bucket(n->key, m->nb)];
    while (*pp && *pp != n) pp = &(*pp)->next;
    if (*pp) { *pp = n->next; m->n--; }
    n->next = NULL;
}
