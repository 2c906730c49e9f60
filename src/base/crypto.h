/* crypto: process-wide set-up of the TLS/crypto library (mbedTLS 3.6) and an RNG callback.
 *
 * mbedTLS 3.6 runs TLS 1.3 (key exchange, HKDF, record keys) through its PSA Crypto API, which
 * must be initialised once per process with psa_crypto_init() before the first handshake.
 * crypto_init() does that once (pthread_once); every TLS entry point (net_conn, http_tls)
 * calls it, so no caller has to remember it. */
#ifndef MB_CRYPTO_H
#define MB_CRYPTO_H

#include <stddef.h>

#include "mb_err.h"

/* Initialise PSA Crypto once per process. Returns 0 or MB_ECRYPTO (the same answer to every
 * caller). Thread-safe. */
int crypto_init(struct mb_err *err);

/* An mbedTLS f_rng callback (ctx unused) drawing from the kernel (getrandom). 0 or a negative
 * mbedTLS error code. For key parsing and pair checks (blinding); TLS sessions keep their own
 * CTR-DRBG. */
int crypto_rng(void *ctx, unsigned char *out, size_t n);

#endif
