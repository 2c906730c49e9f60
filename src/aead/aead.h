/* aead: migrabox's ChaCha20 and Poly1305, the primitives of TLS's ChaCha20-Poly1305 AEAD, in
 * place of mbedTLS's portable C (MBEDTLS_CHACHA20_ALT and MBEDTLS_POLY1305_ALT: mbedTLS's own
 * chachapoly, cipher and PSA layers call these through the mbedtls_chacha20_* and
 * mbedtls_poly1305_* functions of its API, which chacha20.c and poly1305.c define).
 *
 * Why: every byte migrabox copies over TLS is decrypted once (source) and encrypted once
 * (destination), and mbedTLS's ChaCha20 computes one 64-byte block at a time in 32-bit C
 * (about 300 MB/s here), its Poly1305 in 32-bit limbs: together 80 % of the CPU of a big
 * message's copy. With AVX2 (a CPUID check at the first use) chacha20.c computes eight blocks
 * at once and poly1305.c absorbs four blocks at once (26-bit limbs, r^4); both are compiled a
 * second time for AVX-512VL where the CPU has it (32 registers, nothing spilled; ChaCha20's
 * rotations with VPROLD). The portable code (one ChaCha20 block at a time, Poly1305 in 64-bit
 * limbs with 128-bit products) runs on other CPUs and for the tails. Same output as mbedTLS's
 * (RFC 8439): tests/unit/test_aead.c checks the RFC's vectors, mbedTLS's own self-tests and
 * every code path against OpenSSL and the others on every length and split;
 * tests/fuzz/fuzz_aead.c likewise. */
#ifndef MB_AEAD_H
#define MB_AEAD_H

/* "avx512vl", "avx2" or "portable": the ChaCha20 and Poly1305 code used on this CPU. */
const char *aead_impl(void);
/* Tests: 1 forces the portable code of both, 0 restores the CPU's choice. */
void aead_force_portable(int on);
/* Tests: use at most level max (0 portable, 1 AVX2, 2 AVX-512VL; -1: the CPU's choice). */
void aead_force_level(int max);
/* Internal to src/aead: use the AVX2 code (the CPU has AVX2, the OS saves its registers, and
 * the portable code is not forced). */
int aead_use_avx2(void);
/* Internal to src/aead: use the AVX-512VL code (AVX2's, with 32 registers and VPROLD). */
int aead_use_avx512vl(void);

/* Little-endian words in and out of bytes (internal). */
#include <stdint.h>
#include <string.h>

static inline uint32_t aead_load32_le(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline void aead_store32_le(unsigned char *p, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    memcpy(p, &v, sizeof(v));
}

static inline uint64_t aead_load64_le(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void aead_store64_le(unsigned char *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, sizeof(v));
}

#endif
