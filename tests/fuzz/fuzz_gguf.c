/* libFuzzer harness for the GGUF reader and the GGUF model loader: any
 * input must yield a model or an error, never a crash, leak or overread.
 * Seeds are made at run time, never committed, e.g.:
 *   bin/llmfs-mkmodel -o seeds/q4.gguf --dim 32 --hidden 32 --layers 1 --heads 2 \
 *       --vocab 300 --ctx 16 --type q4_0
 *   head -c 14176 ../shared/models/stories260K.gguf > seeds/hdr.gguf   (its metadata)
 *   build-fuzz/fuzz_gguf -max_total_time=120 corpus seeds */
#include "engine/gguf.h"
#include "engine/model.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    gguf *g = NULL;
    err[0] = 0;
    if (gguf_parse(data, size, &g, err, sizeof err) == 0) gguf_free(g);
    else if (!err[0]) abort();      /* every failure explains itself */
    model *m = NULL;
    err[0] = 0;
    if (model_load_gguf_buf(data, size, &m, err, sizeof err) == 0) model_free(m);
    else if (!err[0]) abort();
    return 0;
}
