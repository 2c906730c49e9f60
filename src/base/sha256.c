#include "sha256.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SHA256_HAVE_NI 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define SHA256_HAVE_NI 0
#endif

static int sha256_forced_portable;

#if SHA256_HAVE_NI

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* CPUID: SHA (leaf 7 EBX bit 29), SSSE3 (leaf 1 ECX bit 9), SSE4.1 (leaf 1 ECX bit 19). */
static int sha256_cpu_has_ni(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (!(c & (1u << 9)) || !(c & (1u << 19)))
        return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    return (b & (1u << 29)) != 0;
}

/* Compress n 64-byte blocks into h with the SHA-NI instructions (the layout of Intel's
 * reference: the state is kept as ABEF / CDGH, four rounds per message vector). */
__attribute__((target("sha,sse4.1,ssse3"))) static void
sha256_ni_blocks(uint32_t h[8], const unsigned char *p, size_t n)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)(const void *)&h[0]);
    __m128i st1 = _mm_loadu_si128((const __m128i *)(const void *)&h[4]);
    tmp = _mm_shuffle_epi32(tmp, 0xB1);         /* CDAB */
    st1 = _mm_shuffle_epi32(st1, 0x1B);         /* EFGH */
    __m128i st0 = _mm_alignr_epi8(tmp, st1, 8); /* ABEF */
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);      /* CDGH */

    for (; n > 0; n--, p += 64) {
        __m128i abef = st0, cdgh = st1, m[4], msg;
        for (int g = 0; g < 16; g++) {
            if (g < 4)
                m[g] = _mm_shuffle_epi8(
                    _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * g)), bswap);
            msg = _mm_add_epi32(m[g & 3],
                                _mm_loadu_si128((const __m128i *)(const void *)&sha256_k[4 * g]));
            st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
            if (g >= 3 && g < 15) { /* W for group g + 1 */
                __m128i t = _mm_alignr_epi8(m[g & 3], m[(g + 3) & 3], 4);
                m[(g + 1) & 3] = _mm_add_epi32(m[(g + 1) & 3], t);
                m[(g + 1) & 3] = _mm_sha256msg2_epu32(m[(g + 1) & 3], m[g & 3]);
            }
            msg = _mm_shuffle_epi32(msg, 0x0E);
            st0 = _mm_sha256rnds2_epu32(st0, st1, msg);
            if (g >= 1 && g < 13)
                m[(g - 1) & 3] = _mm_sha256msg1_epu32(m[(g - 1) & 3], m[g & 3]);
        }
        st0 = _mm_add_epi32(st0, abef);
        st1 = _mm_add_epi32(st1, cdgh);
    }

    tmp = _mm_shuffle_epi32(st0, 0x1B);    /* FEBA */
    st1 = _mm_shuffle_epi32(st1, 0xB1);    /* DCHG */
    st0 = _mm_blend_epi16(tmp, st1, 0xF0); /* DCBA */
    st1 = _mm_alignr_epi8(st1, tmp, 8);    /* HGFE */
    _mm_storeu_si128((__m128i *)(void *)&h[0], st0);
    _mm_storeu_si128((__m128i *)(void *)&h[4], st1);
}

static int sha256_ni_state = -1; /* -1 unknown, 0 no, 1 yes (a benign race: same answer) */

static int sha256_use_ni(void)
{
    if (sha256_forced_portable)
        return 0;
    int s = __atomic_load_n(&sha256_ni_state, __ATOMIC_RELAXED);
    if (s < 0) {
        s = sha256_cpu_has_ni();
        __atomic_store_n(&sha256_ni_state, s, __ATOMIC_RELAXED);
    }
    return s;
}

#else

static int sha256_use_ni(void)
{
    return 0;
}

static void sha256_ni_blocks(uint32_t h[8], const unsigned char *p, size_t n)
{
    (void)h;
    (void)p;
    (void)n;
}

#endif

void sha256_force_portable(int on)
{
    sha256_forced_portable = on;
}

const char *sha256_impl(void)
{
    return sha256_use_ni() ? "sha-ni" : "mbedtls";
}

void sha256_init(struct sha256 *s)
{
    memset(s, 0, sizeof(*s));
    s->ni = sha256_use_ni();
    if (!s->ni) {
        mbedtls_sha256_init(&s->u.mb);
        mbedtls_sha256_starts(&s->u.mb, 0);
        return;
    }
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->u.x.h, iv, sizeof(iv));
}

void sha256_update(struct sha256 *s, const void *data, size_t n)
{
    const unsigned char *p = data;
    if (!s->ni) {
        mbedtls_sha256_update(&s->u.mb, p, n);
        return;
    }
    s->u.x.total += n;
    if (s->u.x.used) {
        size_t take = 64 - s->u.x.used;
        if (take > n)
            take = n;
        memcpy(s->u.x.buf + s->u.x.used, p, take);
        s->u.x.used += take;
        p += take;
        n -= take;
        if (s->u.x.used < 64)
            return;
        sha256_ni_blocks(s->u.x.h, s->u.x.buf, 1);
        s->u.x.used = 0;
    }
    if (n >= 64) {
        sha256_ni_blocks(s->u.x.h, p, n / 64);
        p += n & ~(size_t)63;
        n &= 63;
    }
    if (n) {
        memcpy(s->u.x.buf, p, n);
        s->u.x.used = n;
    }
}

void sha256_final(struct sha256 *s, unsigned char out[32])
{
    if (!s->ni) {
        mbedtls_sha256_finish(&s->u.mb, out);
        mbedtls_sha256_free(&s->u.mb);
        return;
    }
    uint64_t bits = s->u.x.total * 8;
    unsigned char pad[128] = {0x80};
    size_t padlen = (s->u.x.used < 56 ? 56 : 120) - s->u.x.used;
    for (int i = 0; i < 8; i++)
        pad[padlen + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
    uint64_t total = s->u.x.total;
    sha256_update(s, pad, padlen + 8);
    s->u.x.total = total;
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(s->u.x.h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(s->u.x.h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(s->u.x.h[i] >> 8);
        out[4 * i + 3] = (unsigned char)s->u.x.h[i];
    }
    memset(&s->u.x, 0, sizeof(s->u.x));
}

void sha256_free(struct sha256 *s)
{
    if (!s->ni)
        mbedtls_sha256_free(&s->u.mb);
    else
        memset(&s->u.x, 0, sizeof(s->u.x));
}

void sha256(const void *p, size_t n, unsigned char out[32])
{
    struct sha256 s;
    sha256_init(&s);
    sha256_update(&s, p, n);
    sha256_final(&s, out);
}
