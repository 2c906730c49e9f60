/* chacha20_alt.h: the ChaCha20 context of migrabox's own implementation (src/aead/chacha20.c),
 * which replaces mbedTLS's portable one (MBEDTLS_CHACHA20_ALT, set by third_party/mbedtls.sh,
 * which installs this header beside mbedtls/chacha20.h). Included by mbedtls/chacha20.h. */
#ifndef MB_CHACHA20_ALT_H
#define MB_CHACHA20_ALT_H

#include <stddef.h>
#include <stdint.h>

typedef struct mbedtls_chacha20_context {
    uint32_t state[16];    /* constants, key, block counter (word 12), nonce */
    uint8_t keystream[64]; /* the current block's keystream */
    size_t keystream_used; /* bytes of it already used; 64: none left */
} mbedtls_chacha20_context;

#endif
