/* Poly1305 (RFC 8439) behind mbedTLS's mbedtls_poly1305_* API, in 64-bit limbs: see aead.h.
 *
 * The accumulator h and the key's r are held as three limbs of 44, 44 and 42 bits, so that a
 * block's multiplication is nine 64 x 64 -> 128-bit products and the reduction modulo
 * p = 2^130 - 5 folds what passes 2^130 back with a factor 5 (a limb product landing at 2^132
 * is 4 * 5 = 20 times a lower one: the precomputed 20 * r1 and 20 * r2). */
#include "aead.h"

#include <string.h>

#include <mbedtls/poly1305.h>

typedef unsigned __int128 u128;

#define M44 0xfffffffffffULL
#define M42 0x3ffffffffffULL

static uint64_t load64_le(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static void store64_le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Absorb n 16-byte blocks; hibit is 2^128 in the top limb's scale (1 << 40) for whole message
 * blocks, 0 for the last, already padded, partial one. */
static void poly_blocks(mbedtls_poly1305_context *ctx, const unsigned char *p, size_t n,
                        uint64_t hibit)
{
    const uint64_t r0 = ctx->r[0], r1 = ctx->r[1], r2 = ctx->r[2];
    const uint64_t s1 = r1 * 20, s2 = r2 * 20;
    uint64_t h0 = ctx->h[0], h1 = ctx->h[1], h2 = ctx->h[2];
    for (; n > 0; n--, p += 16) {
        uint64_t t0 = load64_le(p), t1 = load64_le(p + 8);
        h0 += t0 & M44;
        h1 += ((t0 >> 44) | (t1 << 20)) & M44;
        h2 += ((t1 >> 24) & M42) | hibit;
        u128 d0 = (u128)h0 * r0 + (u128)h1 * s2 + (u128)h2 * s1;
        u128 d1 = (u128)h0 * r1 + (u128)h1 * r0 + (u128)h2 * s2;
        u128 d2 = (u128)h0 * r2 + (u128)h1 * r1 + (u128)h2 * r0;
        uint64_t c = (uint64_t)(d0 >> 44);
        h0 = (uint64_t)d0 & M44;
        d1 += c;
        c = (uint64_t)(d1 >> 44);
        h1 = (uint64_t)d1 & M44;
        d2 += c;
        c = (uint64_t)(d2 >> 42);
        h2 = (uint64_t)d2 & M42;
        h0 += c * 5;
        c = h0 >> 44;
        h0 &= M44;
        h1 += c;
    }
    ctx->h[0] = h0;
    ctx->h[1] = h1;
    ctx->h[2] = h2;
}

void mbedtls_poly1305_init(mbedtls_poly1305_context *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
}

void mbedtls_poly1305_free(mbedtls_poly1305_context *ctx)
{
    if (ctx)
        explicit_bzero(ctx, sizeof(*ctx));
}

int mbedtls_poly1305_starts(mbedtls_poly1305_context *ctx, const unsigned char key[32])
{
    uint64_t t0 = load64_le(key), t1 = load64_le(key + 8);
    /* r &= 0x0ffffffc0ffffffc0ffffffc0fffffff, split into 44 / 44 / 42 bits */
    ctx->r[0] = t0 & 0xffc0fffffffULL;
    ctx->r[1] = ((t0 >> 44) | (t1 << 20)) & 0xfffffc0ffffULL;
    ctx->r[2] = (t1 >> 24) & 0x00ffffffc0fULL;
    ctx->h[0] = ctx->h[1] = ctx->h[2] = 0;
    ctx->pad[0] = load64_le(key + 16);
    ctx->pad[1] = load64_le(key + 24);
    explicit_bzero(ctx->queue, sizeof(ctx->queue));
    ctx->queue_len = 0;
    return 0;
}

int mbedtls_poly1305_update(mbedtls_poly1305_context *ctx, const unsigned char *input, size_t ilen)
{
    if (ctx->queue_len > 0) {
        size_t take = 16 - ctx->queue_len;
        if (take > ilen)
            take = ilen;
        memcpy(ctx->queue + ctx->queue_len, input, take);
        ctx->queue_len += take;
        input += take;
        ilen -= take;
        if (ctx->queue_len < 16)
            return 0;
        poly_blocks(ctx, ctx->queue, 1, 1ULL << 40);
        ctx->queue_len = 0;
    }
    if (ilen >= 16) {
        size_t n = ilen / 16;
        poly_blocks(ctx, input, n, 1ULL << 40);
        input += 16 * n;
        ilen -= 16 * n;
    }
    if (ilen > 0) {
        memcpy(ctx->queue, input, ilen);
        ctx->queue_len = ilen;
    }
    return 0;
}

int mbedtls_poly1305_finish(mbedtls_poly1305_context *ctx, unsigned char mac[16])
{
    if (ctx->queue_len > 0) {
        /* the last partial block: a 1 byte after it, then zeros, and no 2^128 bit */
        ctx->queue[ctx->queue_len] = 1;
        memset(ctx->queue + ctx->queue_len + 1, 0, 16 - ctx->queue_len - 1);
        poly_blocks(ctx, ctx->queue, 1, 0);
        ctx->queue_len = 0;
    }
    uint64_t h0 = ctx->h[0], h1 = ctx->h[1], h2 = ctx->h[2], c;
    /* Carry h fully: h < 2^130 + a little. */
    c = h1 >> 44;
    h1 &= M44;
    h2 += c;
    c = h2 >> 42;
    h2 &= M42;
    h0 += c * 5;
    c = h0 >> 44;
    h0 &= M44;
    h1 += c;
    c = h1 >> 44;
    h1 &= M44;
    h2 += c;
    c = h2 >> 42;
    h2 &= M42;
    h0 += c * 5;
    c = h0 >> 44;
    h0 &= M44;
    h1 += c;
    /* g = h + 5 - 2^130; h mod p is g when g does not borrow, h otherwise (in constant time). */
    uint64_t g0 = h0 + 5;
    c = g0 >> 44;
    g0 &= M44;
    uint64_t g1 = h1 + c;
    c = g1 >> 44;
    g1 &= M44;
    uint64_t g2 = h2 + c - (1ULL << 42);
    uint64_t keep_g = (g2 >> 63) - 1; /* all ones when g2 did not go negative */
    h0 = (h0 & ~keep_g) | (g0 & keep_g);
    h1 = (h1 & ~keep_g) | (g1 & keep_g);
    h2 = (h2 & ~keep_g) | (g2 & keep_g & M42);
    /* tag = (h + s) mod 2^128 */
    uint64_t t0 = ctx->pad[0], t1 = ctx->pad[1];
    h0 += t0 & M44;
    c = h0 >> 44;
    h0 &= M44;
    h1 += (((t0 >> 44) | (t1 << 20)) & M44) + c;
    c = h1 >> 44;
    h1 &= M44;
    h2 += ((t1 >> 24) & M42) + c;
    h2 &= M42;
    store64_le(mac, h0 | (h1 << 44));
    store64_le(mac + 8, (h1 >> 20) | (h2 << 24));
    ctx->h[0] = ctx->h[1] = ctx->h[2] = 0;
    return 0;
}

int mbedtls_poly1305_mac(const unsigned char key[32], const unsigned char *input, size_t ilen,
                         unsigned char mac[16])
{
    mbedtls_poly1305_context ctx;
    mbedtls_poly1305_init(&ctx);
    int rc = mbedtls_poly1305_starts(&ctx, key);
    if (rc == 0)
        rc = mbedtls_poly1305_update(&ctx, input, ilen);
    if (rc == 0)
        rc = mbedtls_poly1305_finish(&ctx, mac);
    mbedtls_poly1305_free(&ctx);
    return rc;
}
