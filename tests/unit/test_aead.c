/* src/aead: migrabox's ChaCha20 and Poly1305 under mbedTLS's API (MBEDTLS_CHACHA20_ALT,
 * MBEDTLS_POLY1305_ALT). Checked against mbedTLS's own self-tests (the RFC 8439 vectors),
 * against OpenSSL's implementations (linked for libpq) on every length up to a few blocks of
 * eight, on random splits of the stream, and the AVX2 path against the portable one. */
#define T_IMPLEMENTATION
#include "t.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/chacha20.h>
#include <mbedtls/chachapoly.h>
#include <mbedtls/poly1305.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "aead/aead.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static void fill(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)rnd();
}

/* OpenSSL's ChaCha20: the 16-byte IV is the 32-bit counter (little endian) then the nonce. */
static int ossl_chacha(const unsigned char key[32], const unsigned char nonce[12], uint32_t ctr,
                       const unsigned char *in, size_t n, unsigned char *out)
{
    unsigned char iv[16] = {(unsigned char)ctr, (unsigned char)(ctr >> 8),
                            (unsigned char)(ctr >> 16), (unsigned char)(ctr >> 24)};
    memcpy(iv + 4, nonce, 12);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, ok = c && EVP_EncryptInit_ex(c, EVP_chacha20(), NULL, key, iv) == 1
                      && (n == 0 || EVP_EncryptUpdate(c, out, &len, in, (int)n) == 1);
    EVP_CIPHER_CTX_free(c);
    return ok && (size_t)len == n ? 0 : -1;
}

static int ossl_poly(const unsigned char key[32], const unsigned char *in, size_t n,
                     unsigned char tag[16])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);
    EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
    size_t len = 0;
    int ok = c && EVP_MAC_init(c, key, 32, NULL) == 1 && EVP_MAC_update(c, in, n) == 1
             && EVP_MAC_final(c, tag, &len, 16) == 1 && len == 16;
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(mac);
    return ok ? 0 : -1;
}

static int ossl_aead(const unsigned char key[32], const unsigned char nonce[12],
                     const unsigned char *aad, size_t alen, const unsigned char *in, size_t n,
                     unsigned char *out, unsigned char tag[16])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, fin = 0;
    int ok = c && EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(), NULL, key, nonce) == 1
             && (alen == 0 || EVP_EncryptUpdate(c, NULL, &len, aad, (int)alen) == 1)
             && (n == 0 || EVP_EncryptUpdate(c, out, &len, in, (int)n) == 1)
             && EVP_EncryptFinal_ex(c, out + (n ? (size_t)len : 0), &fin) == 1
             && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

static void test_self_tests(void)
{
    T_BEGIN("mbedTLS's own self-tests (RFC 8439 vectors) pass on migrabox's ChaCha20 and "
            "Poly1305, every code path");
    for (int level = 0; level <= 2; level++) {
        aead_force_level(level);
        T_ASSERT_INT(mbedtls_chacha20_self_test(0), 0);
        T_ASSERT_INT(mbedtls_poly1305_self_test(0), 0);
        T_ASSERT_INT(mbedtls_chachapoly_self_test(0), 0);
    }
    aead_force_portable(0);
    T_END();
}

static void test_rfc_vectors(void)
{
    T_BEGIN("RFC 8439 2.4.2 (ChaCha20) and 2.5.2 (Poly1305)");
    unsigned char key[32], nonce[12] = {0, 0, 0, 0, 0, 0, 0, 0x4a, 0, 0, 0, 0};
    for (int i = 0; i < 32; i++)
        key[i] = (unsigned char)i;
    static const char pt[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
                             "only one tip for the future, sunscreen would be it.";
    static const unsigned char ct_start[16] = {0x6e, 0x2e, 0x35, 0x9a, 0x25, 0x68, 0xf9, 0x80,
                                               0x41, 0xba, 0x07, 0x28, 0xdd, 0x0d, 0x69, 0x81};
    static const unsigned char ct_end[2] = {0x87, 0x4d};
    unsigned char out[sizeof(pt)];
    T_ASSERT_INT(sizeof(pt) - 1, 114);
    T_ASSERT_INT(mbedtls_chacha20_crypt(key, nonce, 1, 114, (const unsigned char *)pt, out), 0);
    T_ASSERT(memcmp(out, ct_start, 16) == 0);
    T_ASSERT(memcmp(out + 112, ct_end, 2) == 0);

    static const unsigned char pkey[32] = {0x85, 0xd6, 0xbe, 0x78, 0x57, 0x55, 0x6d, 0x33,
                                           0x7f, 0x44, 0x52, 0xfe, 0x42, 0xd5, 0x06, 0xa8,
                                           0x01, 0x03, 0x80, 0x8a, 0xfb, 0x0d, 0xb2, 0xfd,
                                           0x4a, 0xbf, 0xf6, 0xaf, 0x41, 0x49, 0xf5, 0x1b};
    static const unsigned char ptag[16] = {0xa8, 0x06, 0x1d, 0xc1, 0x30, 0x51, 0x36, 0xc6,
                                           0xc2, 0x2b, 0x8b, 0xaf, 0x0c, 0x01, 0x27, 0xa9};
    static const char msg[] = "Cryptographic Forum Research Group";
    unsigned char tag[16];
    T_ASSERT_INT(mbedtls_poly1305_mac(pkey, (const unsigned char *)msg, sizeof(msg) - 1, tag), 0);
    T_ASSERT(memcmp(tag, ptag, 16) == 0);
    T_END();
}

/* Encrypt n bytes through update() in random pieces. */
static void chacha_split(const unsigned char key[32], const unsigned char nonce[12], uint32_t ctr,
                         const unsigned char *in, size_t n, unsigned char *out)
{
    mbedtls_chacha20_context c;
    mbedtls_chacha20_init(&c);
    mbedtls_chacha20_setkey(&c, key);
    mbedtls_chacha20_starts(&c, nonce, ctr);
    size_t off = 0;
    while (off < n) {
        size_t k = rnd() % 4 == 0 ? rnd() % 1200 : rnd() % 70;
        if (k > n - off)
            k = n - off;
        mbedtls_chacha20_update(&c, k, in + off, out + off);
        off += k;
    }
    mbedtls_chacha20_free(&c);
}

static void test_chacha_against_openssl(void)
{
    T_BEGIN("ChaCha20 equals OpenSSL's on every length 0..1600 and long ones, one call or split, "
            "AVX-512VL, AVX2 and portable (where the CPU has them)");
    size_t maxn = 70000;
    unsigned char *in = malloc(maxn), *a = malloc(maxn), *b = malloc(maxn), *o = malloc(maxn);
    unsigned char key[32], nonce[12];
    int bad = 0, checked = 0;
    for (size_t n = 0; n <= maxn && bad < 5; n = n < 1600 ? n + 1 : n * 2 + 13) {
        size_t len = n > maxn ? maxn : n;
        fill(in, len);
        fill(key, 32);
        fill(nonce, 12);
        uint32_t ctr = rnd() % 1000;
        if (ossl_chacha(key, nonce, ctr, in, len, o) < 0) {
            bad++;
            continue;
        }
        for (int level = 0; level <= 2; level++) {
            aead_force_level(level);
            memset(a, 0, len);
            memset(b, 0, len);
            mbedtls_chacha20_crypt(key, nonce, ctr, len, in, a);
            chacha_split(key, nonce, ctr, in, len, b);
            if (memcmp(a, o, len) != 0 || memcmp(b, o, len) != 0) {
                fprintf(stderr, "  length %zu, %s: differs\n", len, aead_impl());
                bad++;
            }
            checked++;
        }
    }
    aead_force_portable(0);
    T_ASSERT_INT(bad, 0);
    T_ASSERT(checked > 4500);
    free(in);
    free(a);
    free(b);
    free(o);
    T_END();
}

static void test_chacha_counter_wrap(void)
{
    T_BEGIN("ChaCha20's 32-bit block counter wraps the same way on every code path");
    unsigned char key[32], nonce[12], in[2048], a[2048], b[2048];
    fill(key, 32);
    fill(nonce, 12);
    fill(in, sizeof(in));
    aead_force_level(1);
    mbedtls_chacha20_crypt(key, nonce, 0xfffffffeu, sizeof(in), in, a);
    aead_force_portable(1);
    mbedtls_chacha20_crypt(key, nonce, 0xfffffffeu, sizeof(in), in, b);
    T_ASSERT(memcmp(a, b, sizeof(a)) == 0);
    aead_force_level(2);
    mbedtls_chacha20_crypt(key, nonce, 0xfffffffeu, sizeof(in), in, b);
    aead_force_portable(0);
    T_ASSERT(memcmp(a, b, sizeof(a)) == 0);
    /* block 2 of the stream is block 0 of counter 0 */
    mbedtls_chacha20_crypt(key, nonce, 0, 64, in + 128, b);
    T_ASSERT(memcmp(a + 128, b, 64) == 0);
    T_END();
}

static void test_poly_against_openssl(void)
{
    T_BEGIN("Poly1305 equals OpenSSL's on every length 0..1100 and long ones, one call or split, "
            "AVX-512VL, AVX2 and portable (where the CPU has them)");
    size_t maxn = 70000;
    unsigned char *in = malloc(maxn), key[32], t1[16], t2[16], t3[16];
    int bad = 0, checked = 0;
    for (int level = 0; level <= 2; level++) {
        aead_force_level(level);
        for (size_t n = 0; n <= maxn && bad < 5; n = n < 1100 ? n + 1 : n * 2 + 7) {
            fill(in, n);
            fill(key, 32);
            if (n % 97 == 5) { /* all-ones data and key: the carries' worst case */
                memset(in, 0xff, n);
                memset(key, 0xff, 32);
            }
            if (ossl_poly(key, in, n, t1) < 0) {
                bad++;
                continue;
            }
            mbedtls_poly1305_mac(key, in, n, t2);
            mbedtls_poly1305_context c;
            mbedtls_poly1305_init(&c);
            mbedtls_poly1305_starts(&c, key);
            for (size_t off = 0; off < n;) {
                size_t k = rnd() % 4 == 0 ? rnd() % 700 : rnd() % 40;
                if (k > n - off)
                    k = n - off;
                mbedtls_poly1305_update(&c, in + off, k);
                off += k;
            }
            mbedtls_poly1305_finish(&c, t3);
            mbedtls_poly1305_free(&c);
            if (memcmp(t1, t2, 16) != 0 || memcmp(t1, t3, 16) != 0) {
                fprintf(stderr, "  length %zu, %s: tag differs\n", n, aead_impl());
                bad++;
            }
            checked++;
        }
    }
    aead_force_portable(0);
    T_ASSERT_INT(bad, 0);
    T_ASSERT(checked > 3000);
    free(in);
    T_END();
}

static void test_aead_against_openssl(void)
{
    T_BEGIN("ChaCha20-Poly1305 (mbedTLS's chachapoly on these) equals OpenSSL's, and a changed "
            "byte fails authentication");
    unsigned char key[32], nonce[12], aad[40], in[5000], a[5000], o[5000], ta[16], to[16];
    int bad = 0;
    for (int i = 0; i < 300; i++) {
        size_t n = i < 100 ? (size_t)i * 17 % 5000 : rnd() % 5000, alen = rnd() % 40;
        fill(key, 32);
        fill(nonce, 12);
        fill(aad, alen);
        fill(in, n);
        mbedtls_chachapoly_context c;
        mbedtls_chachapoly_init(&c);
        mbedtls_chachapoly_setkey(&c, key);
        int rc = mbedtls_chachapoly_encrypt_and_tag(&c, n, nonce, aad, alen, in, a, ta);
        if (rc != 0 || ossl_aead(key, nonce, aad, alen, in, n, o, to) < 0 || memcmp(a, o, n) != 0
            || memcmp(ta, to, 16) != 0) {
            bad++;
        } else {
            unsigned char back[5000];
            if (mbedtls_chachapoly_auth_decrypt(&c, n, nonce, aad, alen, ta, a, back) != 0
                || memcmp(back, in, n) != 0)
                bad++;
            if (n > 0) {
                a[rnd() % n] ^= (unsigned char)(1u << (rnd() % 8));
                if (mbedtls_chachapoly_auth_decrypt(&c, n, nonce, aad, alen, ta, a, back)
                    != MBEDTLS_ERR_CHACHAPOLY_AUTH_FAILED)
                    bad++;
            }
        }
        mbedtls_chachapoly_free(&c);
    }
    T_ASSERT_INT(bad, 0);
    T_END();
}

static void test_impl_name(void)
{
    T_BEGIN("the AEAD code in use is named, and forcing the portable one shows");
    const char *impl = aead_impl();
    T_ASSERT(strcmp(impl, "avx512vl") == 0 || strcmp(impl, "avx2") == 0
             || strcmp(impl, "portable") == 0);
    aead_force_portable(1);
    T_ASSERT_STR(aead_impl(), "portable");
    aead_force_level(1);
    T_ASSERT_STR(aead_impl(), strcmp(impl, "portable") == 0 ? "portable" : "avx2");
    aead_force_portable(0);
    T_ASSERT_STR(aead_impl(), impl);
    printf("# chacha20/poly1305 implementation on this CPU: %s\n", aead_impl());
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {test_self_tests,
                                        test_rfc_vectors,
                                        test_chacha_against_openssl,
                                        test_chacha_counter_wrap,
                                        test_poly_against_openssl,
                                        test_aead_against_openssl,
                                        test_impl_name,
                                        NULL};
    return t_run(fns);
}
