/* Choosing the next token from logits: greedy, temperature, top-k and
 * top-p, driven by a PRNG of our own (splitmix64) and exp_det, so that the
 * same logits and seed give the same token on every machine. */
#ifndef LLMFS_SAMPLER_H
#define LLMFS_SAMPLER_H
#include <stdint.h>
#include "engine/params.h"

typedef struct {
    float temperature;   /* 0: greedy */
    int top_k;           /* 0: off */
    float top_p;         /* 1: off */
    float min_p;         /* 0: off */
    uint64_t rng;        /* splitmix64 state */
    int vocab;
    int *idx;            /* (vocab) candidate ids */
    double *prob;        /* (vocab) candidate probabilities */
} sampler;

/* Takes temperature, top_k, top_p, min_p and seed from p.  0 or -ENOMEM. */
int  sampler_init(sampler *s, const gen_params *p, int vocab);
void sampler_release(sampler *s);
/* Picks a token from logits[0..vocab).  Does not modify logits. */
int  sampler_sample(sampler *s, const float *logits);
/* The PRNG: next 64 random bits. */
uint64_t sampler_rand(uint64_t *state);
/* Index of the largest value, the first one on ties. */
int  sampler_argmax(const float *v, int n);
#endif
