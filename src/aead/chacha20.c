/* ChaCha20 (RFC 8439) behind mbedTLS's mbedtls_chacha20_* API: see aead.h. */
#include "aead.h"

#include <string.h>

#include <mbedtls/chacha20.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CHACHA_HAVE_AVX2 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define CHACHA_HAVE_AVX2 0
#endif

/* Tests: the highest code level used (aead_force_level). */
static int chacha_max_level = 2;

#define ROTL32(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define QR(a, b, c, d)                                                                             \
    do {                                                                                           \
        a += b;                                                                                    \
        d ^= a;                                                                                    \
        d = ROTL32(d, 16);                                                                         \
        c += d;                                                                                    \
        b ^= c;                                                                                    \
        b = ROTL32(b, 12);                                                                         \
        a += b;                                                                                    \
        d ^= a;                                                                                    \
        d = ROTL32(d, 8);                                                                          \
        c += d;                                                                                    \
        b ^= c;                                                                                    \
        b = ROTL32(b, 7);                                                                          \
    } while (0)

/* One 64-byte keystream block of state (its counter word as it is). */
static void chacha_block(const uint32_t state[16], unsigned char out[64])
{
    uint32_t x[16];
    memcpy(x, state, sizeof(x));
    for (int i = 0; i < 10; i++) {
        QR(x[0], x[4], x[8], x[12]);
        QR(x[1], x[5], x[9], x[13]);
        QR(x[2], x[6], x[10], x[14]);
        QR(x[3], x[7], x[11], x[15]);
        QR(x[0], x[5], x[10], x[15]);
        QR(x[1], x[6], x[11], x[12]);
        QR(x[2], x[7], x[8], x[13]);
        QR(x[3], x[4], x[9], x[14]);
    }
    for (int i = 0; i < 16; i++)
        aead_store32_le(out + 4 * i, x[i] + state[i]);
    explicit_bzero(x, sizeof(x));
}

#if CHACHA_HAVE_AVX2

/* 0: neither; 1: AVX2 (CPUID leaf 7 EBX bit 5, the OS saving the YMM registers: OSXSAVE, XCR0
 * bits 1-2); 2: AVX2 and AVX-512F and VL (EBX bits 16 and 31, XCR0 bits 5-7: the opmask and
 * the upper 16 vector registers saved too). */
static int aead_cpu_level(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (!(c & (1u << 27)) || !(c & (1u << 28)))
        return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    if ((lo & 6u) != 6u)
        return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    if (!(b & (1u << 5)))
        return 0;
    if ((b & (1u << 16)) && (b & (1u << 31)) && (lo & 0xE6u) == 0xE6u)
        return 2;
    return 1;
}

/* Transpose r[0..7] (r[i] lane j = word i of block j) so that r[j] holds words 0..7 of block j. */
__attribute__((target("avx2"))) static void transpose8(__m256i r[8])
{
    __m256i a0 = _mm256_unpacklo_epi32(r[0], r[1]), a1 = _mm256_unpackhi_epi32(r[0], r[1]);
    __m256i a2 = _mm256_unpacklo_epi32(r[2], r[3]), a3 = _mm256_unpackhi_epi32(r[2], r[3]);
    __m256i a4 = _mm256_unpacklo_epi32(r[4], r[5]), a5 = _mm256_unpackhi_epi32(r[4], r[5]);
    __m256i a6 = _mm256_unpacklo_epi32(r[6], r[7]), a7 = _mm256_unpackhi_epi32(r[6], r[7]);
    __m256i b0 = _mm256_unpacklo_epi64(a0, a2), b1 = _mm256_unpackhi_epi64(a0, a2);
    __m256i b2 = _mm256_unpacklo_epi64(a1, a3), b3 = _mm256_unpackhi_epi64(a1, a3);
    __m256i b4 = _mm256_unpacklo_epi64(a4, a6), b5 = _mm256_unpackhi_epi64(a4, a6);
    __m256i b6 = _mm256_unpacklo_epi64(a5, a7), b7 = _mm256_unpackhi_epi64(a5, a7);
    r[0] = _mm256_permute2x128_si256(b0, b4, 0x20);
    r[4] = _mm256_permute2x128_si256(b0, b4, 0x31);
    r[1] = _mm256_permute2x128_si256(b1, b5, 0x20);
    r[5] = _mm256_permute2x128_si256(b1, b5, 0x31);
    r[2] = _mm256_permute2x128_si256(b2, b6, 0x20);
    r[6] = _mm256_permute2x128_si256(b2, b6, 0x31);
    r[3] = _mm256_permute2x128_si256(b3, b7, 0x20);
    r[7] = _mm256_permute2x128_si256(b3, b7, 0x31);
}

/* One ChaCha20 quarter round on eight blocks at once (lane j: block j), the rotations given as
 * macros: R16(v), R8(v) and RL(v, n) for 12 and 7. */
#define V_QR(a, b, c, d, R16, R8, RL)                                                              \
    do {                                                                                           \
        a = _mm256_add_epi32(a, b);                                                                \
        d = R16(_mm256_xor_si256(d, a));                                                           \
        c = _mm256_add_epi32(c, d);                                                                \
        b = RL(_mm256_xor_si256(b, c), 12);                                                        \
        a = _mm256_add_epi32(a, b);                                                                \
        d = R8(_mm256_xor_si256(d, a));                                                            \
        c = _mm256_add_epi32(c, d);                                                                \
        b = RL(_mm256_xor_si256(b, c), 7);                                                         \
    } while (0)

/* XOR n * 512 bytes of in with the keystream of blocks state[12], state[12] + 1, ... into out;
 * the counter advances by 8 * n (modulo 2^32, as mbedTLS's). Defined twice below: NAME for the
 * target TARGET, CONSTS declaring what its rotation macros use. */
#define CHACHA8_FN(NAME, TARGET, CONSTS, R16, R8, RL)                                              \
    __attribute__((target(TARGET))) static void NAME(uint32_t state[16], const unsigned char *in,  \
                                                     unsigned char *out, size_t n)                 \
    {                                                                                              \
        CONSTS                                                                                     \
        const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);                           \
        __m256i s[16];                                                                             \
        for (int i = 0; i < 16; i++)                                                               \
            s[i] = _mm256_set1_epi32((int)state[i]);                                               \
        for (; n > 0; n--, in += 512, out += 512) {                                                \
            __m256i ctr = _mm256_add_epi32(_mm256_set1_epi32((int)state[12]), lanes);              \
            __m256i x0 = s[0], x1 = s[1], x2 = s[2], x3 = s[3], x4 = s[4], x5 = s[5], x6 = s[6],   \
                    x7 = s[7], x8 = s[8], x9 = s[9], x10 = s[10], x11 = s[11], x12 = ctr,          \
                    x13 = s[13], x14 = s[14], x15 = s[15];                                         \
            for (int i = 0; i < 10; i++) {                                                         \
                V_QR(x0, x4, x8, x12, R16, R8, RL);                                                \
                V_QR(x1, x5, x9, x13, R16, R8, RL);                                                \
                V_QR(x2, x6, x10, x14, R16, R8, RL);                                               \
                V_QR(x3, x7, x11, x15, R16, R8, RL);                                               \
                V_QR(x0, x5, x10, x15, R16, R8, RL);                                               \
                V_QR(x1, x6, x11, x12, R16, R8, RL);                                               \
                V_QR(x2, x7, x8, x13, R16, R8, RL);                                                \
                V_QR(x3, x4, x9, x14, R16, R8, RL);                                                \
            }                                                                                      \
            __m256i lo[8] =                                                                        \
                {                                                                                  \
                    _mm256_add_epi32(x0, s[0]), _mm256_add_epi32(x1, s[1]),                        \
                    _mm256_add_epi32(x2, s[2]), _mm256_add_epi32(x3, s[3]),                        \
                    _mm256_add_epi32(x4, s[4]), _mm256_add_epi32(x5, s[5]),                        \
                    _mm256_add_epi32(x6, s[6]), _mm256_add_epi32(x7, s[7]),                        \
                };                                                                                 \
            __m256i hi[8] = {                                                                      \
                _mm256_add_epi32(x8, s[8]),   _mm256_add_epi32(x9, s[9]),                          \
                _mm256_add_epi32(x10, s[10]), _mm256_add_epi32(x11, s[11]),                        \
                _mm256_add_epi32(x12, ctr),   _mm256_add_epi32(x13, s[13]),                        \
                _mm256_add_epi32(x14, s[14]), _mm256_add_epi32(x15, s[15]),                        \
            };                                                                                     \
            transpose8(lo);                                                                        \
            transpose8(hi);                                                                        \
            for (int j = 0; j < 8; j++) {                                                          \
                const __m256i *ip = (const __m256i *)(const void *)(in + 64 * j);                  \
                __m256i *op = (__m256i *)(void *)(out + 64 * j);                                   \
                _mm256_storeu_si256(op, _mm256_xor_si256(_mm256_loadu_si256(ip), lo[j]));          \
                _mm256_storeu_si256(op + 1, _mm256_xor_si256(_mm256_loadu_si256(ip + 1), hi[j]));  \
            }                                                                                      \
            state[12] += 8;                                                                        \
        }                                                                                          \
        /* The keystream stays in registers and on this stack frame; wipe the copies we named. */  \
        explicit_bzero(s, sizeof(s));                                                              \
    }

/* AVX2: rotations by 16 and 8 as byte shuffles, by 12 and 7 as two shifts and an OR. Its 16
 * state vectors and two shuffle masks are more than AVX2's 16 registers: some spill. */
#define AVX2_CONSTS                                                                                \
    const __m256i rot16 = _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,   \
                                           2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);  \
    const __m256i rot8 = _mm256_setr_epi8(3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14, 3, \
                                          0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14);
#define AVX2_R16(v) _mm256_shuffle_epi8(v, rot16)
#define AVX2_R8(v) _mm256_shuffle_epi8(v, rot8)
#define AVX2_RL(v, n) _mm256_or_si256(_mm256_slli_epi32(v, n), _mm256_srli_epi32(v, 32 - (n)))
CHACHA8_FN(chacha_avx2_blocks, "avx2", AVX2_CONSTS, AVX2_R16, AVX2_R8, AVX2_RL)

/* AVX-512VL: the same on 256-bit registers, with the rotate instruction (VPROLD) and 32
 * registers (no spill): about 1.45 times the AVX2 code's speed on this project's machines. */
#define VL_R16(v) _mm256_rol_epi32(v, 16)
#define VL_R8(v) _mm256_rol_epi32(v, 8)
#define VL_RL(v, n) _mm256_rol_epi32(v, n)
CHACHA8_FN(chacha_avx512vl_blocks, "avx2,avx512f,avx512vl", , VL_R16, VL_R8, VL_RL)

/* The CPU's level (aead_cpu_level), at most chacha_max_level. */
static int aead_level(void)
{
    static int have = -1; /* benign race: every thread computes the same value */
    if (have < 0)
        have = aead_cpu_level();
    return have < chacha_max_level ? have : chacha_max_level;
}

#else

static int aead_level(void)
{
    return 0;
}

#endif

int aead_use_avx2(void)
{
    return aead_level() >= 1;
}

int aead_use_avx512vl(void)
{
    return aead_level() >= 2;
}

const char *aead_impl(void)
{
    static const char *const names[] = {"portable", "avx2", "avx512vl"};
    return names[aead_level()];
}

void aead_force_level(int max)
{
    chacha_max_level = max < 0 ? 2 : max;
}

void aead_force_portable(int on)
{
    aead_force_level(on ? 0 : -1);
}

void mbedtls_chacha20_init(mbedtls_chacha20_context *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->keystream_used = sizeof(ctx->keystream);
}

void mbedtls_chacha20_free(mbedtls_chacha20_context *ctx)
{
    if (ctx)
        explicit_bzero(ctx, sizeof(*ctx));
}

int mbedtls_chacha20_setkey(mbedtls_chacha20_context *ctx, const unsigned char key[32])
{
    ctx->state[0] = 0x61707865; /* "expand 32-byte k" */
    ctx->state[1] = 0x3320646e;
    ctx->state[2] = 0x79622d32;
    ctx->state[3] = 0x6b206574;
    for (int i = 0; i < 8; i++)
        ctx->state[4 + i] = aead_load32_le(key + 4 * i);
    return 0;
}

int mbedtls_chacha20_starts(mbedtls_chacha20_context *ctx, const unsigned char nonce[12],
                            uint32_t counter)
{
    ctx->state[12] = counter;
    ctx->state[13] = aead_load32_le(nonce);
    ctx->state[14] = aead_load32_le(nonce + 4);
    ctx->state[15] = aead_load32_le(nonce + 8);
    explicit_bzero(ctx->keystream, sizeof(ctx->keystream));
    ctx->keystream_used = sizeof(ctx->keystream);
    return 0;
}

int mbedtls_chacha20_update(mbedtls_chacha20_context *ctx, size_t size, const unsigned char *input,
                            unsigned char *output)
{
    size_t off = 0;
    /* What is left of the current block's keystream. */
    while (off < size && ctx->keystream_used < sizeof(ctx->keystream)) {
        output[off] = input[off] ^ ctx->keystream[ctx->keystream_used++];
        off++;
    }
    if (off == size)
        return 0;
#if CHACHA_HAVE_AVX2
    if (size - off >= 512 && aead_use_avx2()) {
        size_t n = (size - off) / 512;
        if (aead_use_avx512vl())
            chacha_avx512vl_blocks(ctx->state, input + off, output + off, n);
        else
            chacha_avx2_blocks(ctx->state, input + off, output + off, n);
        off += n * 512;
    }
#endif
    while (size - off >= 64) {
        chacha_block(ctx->state, ctx->keystream);
        ctx->state[12]++;
        for (size_t i = 0; i < 64; i++)
            output[off + i] = input[off + i] ^ ctx->keystream[i];
        off += 64;
    }
    if (off < size) {
        chacha_block(ctx->state, ctx->keystream);
        ctx->state[12]++;
        ctx->keystream_used = 0;
        while (off < size) {
            output[off] = input[off] ^ ctx->keystream[ctx->keystream_used++];
            off++;
        }
    } else {
        ctx->keystream_used = sizeof(ctx->keystream);
    }
    return 0;
}

int mbedtls_chacha20_crypt(const unsigned char key[32], const unsigned char nonce[12],
                           uint32_t counter, size_t size, const unsigned char *input,
                           unsigned char *output)
{
    mbedtls_chacha20_context ctx;
    mbedtls_chacha20_init(&ctx);
    int rc = mbedtls_chacha20_setkey(&ctx, key);
    if (rc == 0)
        rc = mbedtls_chacha20_starts(&ctx, nonce, counter);
    if (rc == 0)
        rc = mbedtls_chacha20_update(&ctx, size, input, output);
    mbedtls_chacha20_free(&ctx);
    return rc;
}
