/* libFuzzer target for fs/modelfind.c's Ollama manifest reader: any bytes
 * either give the model layer's digest, 64 lowercase hex digits (never a
 * path: it names a file blobs/sha256-HEX), or -EINVAL. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/modelfind.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char hex[65];
    memset(hex, 'x', sizeof hex);
    int rc = mf_ollama_digest((const char *)data, size, hex);
    if (rc == 0) {
        if (strlen(hex) != 64) abort();
        for (int i = 0; i < 64; i++)
            if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'))) abort();
    } else if (rc != -EINVAL) {
        abort();
    }
    return 0;
}
