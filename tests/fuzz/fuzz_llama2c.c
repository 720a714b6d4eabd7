/* libFuzzer harness for the llama2.c checkpoint loader (a header of seven
 * int32, then float32 weights): any input must yield a model or an error,
 * never a crash, leak or overread.  Seeds are made at run time (a header
 * of a tiny shape, e.g. dim 8, hidden 16, 1 layer, 2 heads, 1 KV head,
 * vocab 8, seq_len 4, then its floats), never committed:
 *   build-fuzz/fuzz_llama2c -max_total_time=120 corpus seeds */
#include "engine/model.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    model *m = NULL;
    err[0] = 0;
    if (model_load_llama2c_buf(data, size, &m, err, sizeof err) == 0) model_free(m);
    else if (!err[0]) abort();      /* every failure explains itself */
    return 0;
}
