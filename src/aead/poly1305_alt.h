/* poly1305_alt.h: the Poly1305 context of migrabox's own implementation (src/aead/poly1305.c),
 * which replaces mbedTLS's 32-bit one (MBEDTLS_POLY1305_ALT, set by third_party/mbedtls.sh,
 * which installs this header beside mbedtls/poly1305.h). Included by mbedtls/poly1305.h. */
#ifndef MB_POLY1305_ALT_H
#define MB_POLY1305_ALT_H

#include <stddef.h>
#include <stdint.h>

typedef struct mbedtls_poly1305_context {
    uint64_t r[3];       /* clamped r in 44 + 44 + 42-bit limbs */
    uint64_t h[3];       /* accumulator, same limbs */
    uint64_t pad[2];     /* s, the key's second half, as two little-endian words */
    uint64_t rpow[3][3]; /* r^2, r^3, r^4 in the same limbs (the 4-way AVX2 path) */
    uint32_t r4[5];      /* r^4 in five 26-bit limbs */
    uint8_t queue[16];   /* a partial block */
    size_t queue_len;    /* bytes in queue */
} mbedtls_poly1305_context;

#endif
