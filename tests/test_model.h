/* Loading a test model from the shared data, for the engine tests. */
#ifndef LLMFS_TEST_MODEL_H
#define LLMFS_TEST_MODEL_H
#include "tests/harness.h"
#include "engine/model.h"

/* The model at ../shared/REL, or NULL after printing a failed case. */
static inline model *test_load_model(const char *rel) {
    char path[512], err[256];
    model *m;
    if (model_load(shared_path(path, sizeof path, rel), NULL, &m, err, sizeof err)) {
        printf("not ok - load %s: %s\n", rel, err);
        return NULL;
    }
    return m;
}
#endif
