/* sha256: SHA-256 for the engine's per-message content hashes, using the CPU's SHA extensions
 * (x86-64 SHA-NI) when present and mbedTLS otherwise. Same digests either way.
 *
 * Every copied body is hashed (the exactly-once bookkeeping matches destination messages to
 * source messages by size and SHA-256 after a crash, see docs/ARCHITECTURE.md). mbedTLS 3.6
 * has no x86 SHA-NI code and hashes at about 250 MB/s here: a third of migrabox's CPU on big
 * messages over TLS. With SHA-NI the same digest costs a few percent. */
#ifndef MB_SHA256_H
#define MB_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/sha256.h>

struct sha256 {
    int ni; /* 1: SHA-NI state below; 0: mbedTLS context */
    union {
        mbedtls_sha256_context mb;
        struct {
            uint32_t h[8];
            uint64_t total;        /* bytes hashed so far */
            unsigned char buf[64]; /* partial block */
            size_t used;           /* bytes in buf */
        } x;
    } u;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *p, size_t n);
/* Write the digest and release the state (sha256_init again to reuse). */
void sha256_final(struct sha256 *s, unsigned char out[32]);
/* Wipe the state; safe on a zeroed struct and after sha256_final. */
void sha256_free(struct sha256 *s);
/* One-shot. */
void sha256(const void *p, size_t n, unsigned char out[32]);
/* "sha-ni" or "mbedtls": the implementation sha256_init picks on this CPU. */
const char *sha256_impl(void);
/* Tests: 1 forces mbedTLS for the next sha256_init calls, 0 restores the CPU's choice. */
void sha256_force_portable(int on);

#endif
