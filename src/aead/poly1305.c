/* Poly1305 (RFC 8439) behind mbedTLS's mbedtls_poly1305_* API, in 64-bit limbs: see aead.h.
 *
 * The accumulator h and the key's r are held as three limbs of 44, 44 and 42 bits, so that a
 * block's multiplication is nine 64 x 64 -> 128-bit products and the reduction modulo
 * p = 2^130 - 5 folds what passes 2^130 back with a factor 5 (a limb product landing at 2^132
 * is 4 * 5 = 20 times a lower one: the precomputed 20 * r1 and 20 * r2). */
#include "aead.h"

#include <string.h>

#include <mbedtls/poly1305.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define POLY_HAVE_AVX2 1
#include <immintrin.h>
#else
#define POLY_HAVE_AVX2 0
#endif

typedef unsigned __int128 u128;

#define M44 0xfffffffffffULL
#define M42 0x3ffffffffffULL

/* Absorb n 16-byte blocks; hibit is 2^128 in the top limb's scale (1 << 40) for whole message
 * blocks, 0 for the last, already padded, partial one. */
static void poly_blocks(mbedtls_poly1305_context *ctx, const unsigned char *p, size_t n,
                        uint64_t hibit)
{
    const uint64_t r0 = ctx->r[0], r1 = ctx->r[1], r2 = ctx->r[2];
    const uint64_t s1 = r1 * 20, s2 = r2 * 20;
    uint64_t h0 = ctx->h[0], h1 = ctx->h[1], h2 = ctx->h[2];
    for (; n > 0; n--, p += 16) {
        uint64_t t0 = aead_load64_le(p), t1 = aead_load64_le(p + 8);
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

/* Carry h's limbs along and fold what passes 2^130 back times 5: h0 < 2^44, h2 < 2^42, h1 <
 * 2^44 + 1 after it. */
static void poly_carry(uint64_t h[3])
{
    uint64_t c = h[0] >> 44;
    h[0] &= M44;
    h[1] += c;
    c = h[1] >> 44;
    h[1] &= M44;
    h[2] += c;
    c = h[2] >> 42;
    h[2] &= M42;
    h[0] += c * 5;
    c = h[0] >> 44;
    h[0] &= M44;
    h[1] += c;
}

/* h = h * r mod p (partly reduced: h0, h1 < 2^44, h2 < 2^42 + a little), r in the same limbs
 * with r0, r1 < 2^44 and r2 < 2^42. */
static void poly_mul(uint64_t h[3], const uint64_t r[3])
{
    const uint64_t s1 = r[1] * 20, s2 = r[2] * 20;
    u128 d0 = (u128)h[0] * r[0] + (u128)h[1] * s2 + (u128)h[2] * s1;
    u128 d1 = (u128)h[0] * r[1] + (u128)h[1] * r[0] + (u128)h[2] * s2;
    u128 d2 = (u128)h[0] * r[2] + (u128)h[1] * r[1] + (u128)h[2] * r[0];
    uint64_t c = (uint64_t)(d0 >> 44);
    h[0] = (uint64_t)d0 & M44;
    d1 += c;
    c = (uint64_t)(d1 >> 44);
    h[1] = (uint64_t)d1 & M44;
    d2 += c;
    c = (uint64_t)(d2 >> 42);
    h[2] = (uint64_t)d2 & M42;
    h[0] += c * 5;
    c = h[0] >> 44;
    h[0] &= M44;
    h[1] += c;
    c = h[1] >> 44;
    h[1] &= M44;
    h[2] += c;
}

/* 44/44/42-bit limbs (h0, h1 < 2^44, h2 < 2^42 + a little) to five 26-bit limbs (the top one
 * may exceed 26 bits by what h2 exceeds 42). */
static void limbs_44_to_26(const uint64_t h[3], uint64_t l[5])
{
    const uint64_t m26 = 0x3ffffff;
    l[0] = h[0] & m26;
    l[1] = ((h[0] >> 26) | (h[1] << 18)) & m26;
    l[2] = (h[1] >> 8) & m26;
    l[3] = ((h[1] >> 34) | (h[2] << 10)) & m26;
    l[4] = h[2] >> 16;
}

/* Five 26-bit limbs (each below 2^32) to 44/44/42-bit limbs, h2 possibly a little over. */
static void limbs_26_to_44(const uint64_t l[5], uint64_t h[3])
{
    u128 x = (u128)l[0] + ((u128)l[1] << 26) + ((u128)l[2] << 52);
    h[0] = (uint64_t)x & M44;
    x = (x >> 44) + ((u128)l[3] << 34);
    h[1] = (uint64_t)x & M44;
    x = (x >> 44) + ((u128)l[4] << 16);
    h[2] = (uint64_t)x;
}

#if POLY_HAVE_AVX2

/* One limb of a product in 26-bit limbs: h0 a + h1 b + h2 c + h3 d + h4 e, each term a
 * 32 x 32 -> 64-bit product per lane. */
__attribute__((target("avx2"), always_inline)) static inline __m256i
dot5(__m256i h0, __m256i h1, __m256i h2, __m256i h3, __m256i h4, __m256i a, __m256i b, __m256i c,
     __m256i d, __m256i e)
{
    return _mm256_add_epi64(
        _mm256_add_epi64(_mm256_mul_epu32(h0, a), _mm256_mul_epu32(h1, b)),
        _mm256_add_epi64(_mm256_add_epi64(_mm256_mul_epu32(h2, c), _mm256_mul_epu32(h3, d)),
                         _mm256_mul_epu32(h4, e)));
}

/* Absorb n >= 4 whole blocks, a multiple of 4, four at a time: lane j accumulates blocks j,
 * j + 4, j + 8, ... (each step multiplies the four lanes by r^4 and adds the next four
 * blocks, in 26-bit limbs with vpmuludq), the running h joining lane 0's first block; at the
 * end lane j is multiplied by r^(4-j) and the four are summed:
 * (((h + m0) r + m1) r + m2) r + m3) r = (h + m0) r^4 + m1 r^3 + m2 r^2 + m3 r. */
#define POLY4_FN(NAME, TARGET)                                                                     \
    __attribute__((target(TARGET))) static void NAME(mbedtls_poly1305_context *ctx,                \
                                                     const unsigned char *p, size_t n)             \
    {                                                                                              \
        const __m256i m26 = _mm256_set1_epi64x(0x3ffffff);                                         \
        const __m256i hibit = _mm256_set1_epi64x(1 << 24);                                         \
        const __m256i five = _mm256_set1_epi64x(5);                                                \
        __m256i r0 = _mm256_set1_epi64x(ctx->r4[0]), r1 = _mm256_set1_epi64x(ctx->r4[1]),          \
                r2 = _mm256_set1_epi64x(ctx->r4[2]), r3 = _mm256_set1_epi64x(ctx->r4[3]),          \
                r4 = _mm256_set1_epi64x(ctx->r4[4]);                                               \
        __m256i s1 = _mm256_mul_epu32(r1, five), s2 = _mm256_mul_epu32(r2, five),                  \
                s3 = _mm256_mul_epu32(r3, five), s4 = _mm256_mul_epu32(r4, five);                  \
                                                                                                   \
        /* the running h, in 26-bit limbs, joins lane 0 */                                         \
        uint64_t hc[3] = {ctx->h[0], ctx->h[1], ctx->h[2]}, hl[5];                                 \
        uint64_t c = hc[1] >> 44;                                                                  \
        hc[1] &= M44;                                                                              \
        hc[2] += c;                                                                                \
        limbs_44_to_26(hc, hl);                                                                    \
        __m256i h0 = _mm256_setr_epi64x((long long)hl[0], 0, 0, 0);                                \
        __m256i h1 = _mm256_setr_epi64x((long long)hl[1], 0, 0, 0);                                \
        __m256i h2 = _mm256_setr_epi64x((long long)hl[2], 0, 0, 0);                                \
        __m256i h3 = _mm256_setr_epi64x((long long)hl[3], 0, 0, 0);                                \
        __m256i h4 = _mm256_setr_epi64x((long long)hl[4], 0, 0, 0);                                \
                                                                                                   \
        for (size_t i = 0; i < n; i += 4, p += 64) {                                               \
            /* four blocks: t0 / t1 = their first / second 8 bytes, lane j = block j */            \
            __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)p);                      \
            __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));               \
            __m256i t0 = _mm256_permute4x64_epi64(_mm256_unpacklo_epi64(a, b), 0xD8);              \
            __m256i t1 = _mm256_permute4x64_epi64(_mm256_unpackhi_epi64(a, b), 0xD8);              \
            h0 = _mm256_add_epi64(h0, _mm256_and_si256(t0, m26));                                  \
            h1 = _mm256_add_epi64(h1, _mm256_and_si256(_mm256_srli_epi64(t0, 26), m26));           \
            h2 = _mm256_add_epi64(h2, _mm256_and_si256(_mm256_or_si256(_mm256_srli_epi64(t0, 52),  \
                                                                       _mm256_slli_epi64(t1, 12)), \
                                                       m26));                                      \
            h3 = _mm256_add_epi64(h3, _mm256_and_si256(_mm256_srli_epi64(t1, 14), m26));           \
            h4 = _mm256_add_epi64(h4, _mm256_or_si256(_mm256_srli_epi64(t1, 40), hibit));          \
            if (i + 4 == n)                                                                        \
                break; /* the last four are multiplied by r^4 .. r^1 below */                      \
            /* times r^4; a limb product landing at 2^130 or above comes back times 5 (s = 5 r) */ \
            __m256i d0 = dot5(h0, h1, h2, h3, h4, r0, s4, s3, s2, s1);                             \
            __m256i d1 = dot5(h0, h1, h2, h3, h4, r1, r0, s4, s3, s2);                             \
            __m256i d2 = dot5(h0, h1, h2, h3, h4, r2, r1, r0, s4, s3);                             \
            __m256i d3 = dot5(h0, h1, h2, h3, h4, r3, r2, r1, r0, s4);                             \
            __m256i d4 = dot5(h0, h1, h2, h3, h4, r4, r3, r2, r1, r0);                             \
            __m256i cv = _mm256_srli_epi64(d0, 26);                                                \
            h0 = _mm256_and_si256(d0, m26);                                                        \
            d1 = _mm256_add_epi64(d1, cv);                                                         \
            cv = _mm256_srli_epi64(d1, 26);                                                        \
            h1 = _mm256_and_si256(d1, m26);                                                        \
            d2 = _mm256_add_epi64(d2, cv);                                                         \
            cv = _mm256_srli_epi64(d2, 26);                                                        \
            h2 = _mm256_and_si256(d2, m26);                                                        \
            d3 = _mm256_add_epi64(d3, cv);                                                         \
            cv = _mm256_srli_epi64(d3, 26);                                                        \
            h3 = _mm256_and_si256(d3, m26);                                                        \
            d4 = _mm256_add_epi64(d4, cv);                                                         \
            cv = _mm256_srli_epi64(d4, 26);                                                        \
            h4 = _mm256_and_si256(d4, m26);                                                        \
            h0 = _mm256_add_epi64(h0, _mm256_add_epi64(cv, _mm256_slli_epi64(cv, 2)));             \
            cv = _mm256_srli_epi64(h0, 26);                                                        \
            h0 = _mm256_and_si256(h0, m26);                                                        \
            h1 = _mm256_add_epi64(h1, cv);                                                         \
        }                                                                                          \
                                                                                                   \
        /* lane j times r^(4-j), summed: in the scalar limbs */                                    \
        uint64_t lanes[5][4];                                                                      \
        _mm256_storeu_si256((__m256i *)(void *)lanes[0], h0);                                      \
        _mm256_storeu_si256((__m256i *)(void *)lanes[1], h1);                                      \
        _mm256_storeu_si256((__m256i *)(void *)lanes[2], h2);                                      \
        _mm256_storeu_si256((__m256i *)(void *)lanes[3], h3);                                      \
        _mm256_storeu_si256((__m256i *)(void *)lanes[4], h4);                                      \
        uint64_t sum[3] = {0, 0, 0};                                                               \
        for (int j = 0; j < 4; j++) {                                                              \
            uint64_t l[5] = {lanes[0][j], lanes[1][j], lanes[2][j], lanes[3][j], lanes[4][j]},     \
                     v[3];                                                                         \
            limbs_26_to_44(l, v);                                                                  \
            poly_mul(v, j == 3 ? ctx->r : ctx->rpow[2 - j]); /* r^4, r^3, r^2, r */                \
            sum[0] += v[0];                                                                        \
            sum[1] += v[1];                                                                        \
            sum[2] += v[2];                                                                        \
        }                                                                                          \
        poly_carry(sum);                                                                           \
        ctx->h[0] = sum[0];                                                                        \
        ctx->h[1] = sum[1];                                                                        \
        ctx->h[2] = sum[2];                                                                        \
        explicit_bzero(lanes, sizeof(lanes));                                                      \
    }

/* AVX2 alone: the 17 live vectors of the loop are one more than its 16 registers. */
POLY4_FN(poly_blocks4, "avx2")
/* AVX-512VL: the same code with 32 registers, nothing spilled: 5-15 % faster here. */
POLY4_FN(poly_blocks4_vl, "avx2,avx512f,avx512vl")

#endif

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
    uint64_t t0 = aead_load64_le(key), t1 = aead_load64_le(key + 8);
    /* r &= 0x0ffffffc0ffffffc0ffffffc0fffffff, split into 44 / 44 / 42 bits */
    ctx->r[0] = t0 & 0xffc0fffffffULL;
    ctx->r[1] = ((t0 >> 44) | (t1 << 20)) & 0xfffffc0ffffULL;
    ctx->r[2] = (t1 >> 24) & 0x00ffffffc0fULL;
    ctx->h[0] = ctx->h[1] = ctx->h[2] = 0;
    /* r^2, r^3, r^4 for the 4-way path, and r^4 in 26-bit limbs */
    uint64_t x[3] = {ctx->r[0], ctx->r[1], ctx->r[2]}, l[5];
    for (int k = 0; k < 3; k++) {
        poly_mul(x, ctx->r);
        memcpy(ctx->rpow[k], x, sizeof(x));
    }
    limbs_44_to_26(ctx->rpow[2], l);
    for (int k = 0; k < 5; k++)
        ctx->r4[k] = (uint32_t)l[k];
    explicit_bzero(x, sizeof(x));
    ctx->pad[0] = aead_load64_le(key + 16);
    ctx->pad[1] = aead_load64_le(key + 24);
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
#if POLY_HAVE_AVX2
    if (ilen >= 16 * 8 && aead_use_avx2()) {
        size_t n = ilen / 64 * 4;
        if (aead_use_avx512vl())
            poly_blocks4_vl(ctx, input, n);
        else
            poly_blocks4(ctx, input, n);
        input += 16 * n;
        ilen -= 16 * n;
    }
#endif
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
    /* Carry h fully: h < 2^130 + a little. */
    poly_carry(ctx->h);
    poly_carry(ctx->h);
    uint64_t h0 = ctx->h[0], h1 = ctx->h[1], h2 = ctx->h[2], c;
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
    aead_store64_le(mac, h0 | (h1 << 44));
    aead_store64_le(mac + 8, (h1 >> 20) | (h2 << 24));
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
