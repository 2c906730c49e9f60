/* libFuzzer target for src/aead (migrabox's ChaCha20 and Poly1305 under mbedTLS's API): a
 * differential check. The input chooses a key, a nonce, a counter, how the stream is split
 * into update() calls and the data; ChaCha20 through the CPU's code in those pieces must equal
 * the portable code in one call and OpenSSL's ChaCha20; Poly1305 likewise (the CPU's code in
 * pieces, the portable code in one call, OpenSSL's). Any difference aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/chacha20.h>
#include <mbedtls/poly1305.h>
#include <openssl/evp.h>

#include "aead/aead.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXN 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 32 + 12 + 4 + 8)
        return 0;
    const unsigned char *key = data, *nonce = data + 32;
    uint32_t ctr = (uint32_t)data[44] | (uint32_t)data[45] << 8 | (uint32_t)data[46] << 16
                   | (uint32_t)data[47] << 24;
    const unsigned char *splits = data + 48; /* 8 piece lengths, cycled */
    const unsigned char *in = data + 56;
    size_t n = size - 56;
    if (n > MAXN)
        n = MAXN;
    /* OpenSSL carries the counter into the nonce; mbedTLS (and RFC 8439) wrap it: stay clear. */
    if ((uint64_t)ctr + n / 64 + 1 > 0xffffffffULL)
        ctr = 0;
    static unsigned char a[MAXN], b[MAXN], o[MAXN];

    mbedtls_chacha20_context c;
    mbedtls_chacha20_init(&c);
    mbedtls_chacha20_setkey(&c, key);
    mbedtls_chacha20_starts(&c, nonce, ctr);
    for (size_t off = 0, i = 0; off < n; i++) {
        size_t k = 1 + (size_t)splits[i % 8] * ((i % 3) == 0 ? 9 : 1);
        if (k > n - off)
            k = n - off;
        mbedtls_chacha20_update(&c, k, in + off, a + off);
        off += k;
    }
    mbedtls_chacha20_free(&c);
    aead_force_portable(1);
    mbedtls_chacha20_crypt(key, nonce, ctr, n, in, b);
    aead_force_portable(0);
    if (memcmp(a, b, n) != 0)
        abort();
    aead_force_level(1); /* AVX2 where the CPU's choice is AVX-512VL */
    mbedtls_chacha20_crypt(key, nonce, ctr, n, in, b);
    aead_force_level(-1);
    if (memcmp(a, b, n) != 0)
        abort();

    unsigned char iv[16] = {(unsigned char)ctr, (unsigned char)(ctr >> 8),
                            (unsigned char)(ctr >> 16), (unsigned char)(ctr >> 24)};
    memcpy(iv + 4, nonce, 12);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int len = 0;
    if (!x || EVP_EncryptInit_ex(x, EVP_chacha20(), NULL, key, iv) != 1
        || (n > 0 && EVP_EncryptUpdate(x, o, &len, in, (int)n) != 1))
        abort();
    EVP_CIPHER_CTX_free(x);
    if (memcmp(a, o, n) != 0)
        abort();

    unsigned char t1[16], t2[16], t3[16];
    mbedtls_poly1305_context p;
    mbedtls_poly1305_init(&p);
    mbedtls_poly1305_starts(&p, key);
    for (size_t off = 0, i = 0; off < n; i++) {
        size_t k = 1 + (size_t)splits[(i + 3) % 8] * ((i % 2) == 0 ? 5 : 1);
        if (k > n - off)
            k = n - off;
        mbedtls_poly1305_update(&p, in + off, k);
        off += k;
    }
    mbedtls_poly1305_finish(&p, t1);
    mbedtls_poly1305_free(&p);
    aead_force_portable(1);
    mbedtls_poly1305_mac(key, in, n, t2);
    aead_force_portable(0);
    unsigned char t4[16];
    aead_force_level(1); /* AVX2 where the CPU's choice is AVX-512VL */
    mbedtls_poly1305_mac(key, in, n, t4);
    aead_force_level(-1);
    if (memcmp(t1, t4, 16) != 0)
        abort();
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);
    EVP_MAC_CTX *m = mac ? EVP_MAC_CTX_new(mac) : NULL;
    size_t tl = 0;
    if (!m || EVP_MAC_init(m, key, 32, NULL) != 1 || EVP_MAC_update(m, in, n) != 1
        || EVP_MAC_final(m, t3, &tl, 16) != 1 || tl != 16)
        abort();
    EVP_MAC_CTX_free(m);
    EVP_MAC_free(mac);
    if (memcmp(t1, t2, 16) != 0 || memcmp(t1, t3, 16) != 0)
        abort();
    return 0;
}
