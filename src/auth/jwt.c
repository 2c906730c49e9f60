/* jwt: base64url, RS256/PS256 signatures and certificate thumbprints with mbedTLS 3.6. */
#include "auth/jwt.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "base/crypto.h"
#include "base/secret.h"
#include "base/xalloc.h"

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *jwt_b64url(const void *p, size_t n)
{
    const unsigned char *s = p;
    char *out = xmalloc(n / 3 * 4 + 5);
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return out;
}

static int b64url_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int jwt_b64url_decode(const char *s, size_t len, unsigned char **out_r, size_t *n_r)
{
    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return MB_EPROTO;
    unsigned char *out = xmalloc(len / 4 * 3 + 4);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_val((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return MB_EPROTO;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) { /* non-canonical trailing bits */
        free(out);
        return MB_EPROTO;
    }
    out[o] = 0;
    *out_r = out;
    *n_r = o;
    return 0;
}

static int jwt_parse_key(mbedtls_pk_context *pk, const char *pem, struct mb_err *err)
{
    mbedtls_pk_init(pk);
    if (!pem || !strstr(pem, "-----BEGIN"))
        return mb_err_set(err, MB_ECONFIG, "the private key is not a PEM key");
    if (strstr(pem, "ENCRYPTED"))
        return mb_err_set(err, MB_ECONFIG,
                          "the private key is encrypted with a passphrase: "
                          "give it unencrypted (openssl pkey -in K -out K2)");
    int ret = mbedtls_pk_parse_key(pk, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0,
                                   crypto_rng, NULL);
    if (ret != 0) {
        mbedtls_pk_free(pk);
        return mb_err_setsys(err, MB_ECONFIG, ret, "the private key is not a valid PEM key");
    }
    if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_RSA) {
        mbedtls_pk_free(pk);
        return mb_err_set(err, MB_ECONFIG, "the private key is not an RSA key (RS256 needs RSA)");
    }
    if (mbedtls_pk_get_bitlen(pk) < 2048) {
        mbedtls_pk_free(pk);
        return mb_err_set(err, MB_ECONFIG, "the RSA key is shorter than 2048 bits");
    }
    return 0;
}

int jwt_key_check(const char *pem, struct mb_err *err)
{
    mbedtls_pk_context pk;
    int rc = jwt_parse_key(&pk, pem, err);
    if (rc == 0)
        mbedtls_pk_free(&pk);
    return rc;
}

static int jwt_parse_cert(mbedtls_x509_crt *crt, const char *pem, struct mb_err *err)
{
    mbedtls_x509_crt_init(crt);
    if (!pem || !strstr(pem, "-----BEGIN CERTIFICATE-----"))
        return mb_err_set(err, MB_ECONFIG, "the certificate is not a PEM certificate");
    int ret = mbedtls_x509_crt_parse(crt, (const unsigned char *)pem, strlen(pem) + 1);
    if (ret < 0 || crt->raw.len == 0) {
        mbedtls_x509_crt_free(crt);
        return mb_err_setsys(err, MB_ECONFIG, ret, "the certificate is not valid PEM");
    }
    return 0;
}

int jwt_cert_thumbprints(const char *pem, char *x5t, char *x5t_s256, struct mb_err *err)
{
    mbedtls_x509_crt crt;
    int rc = jwt_parse_cert(&crt, pem, err);
    if (rc)
        return rc;
    unsigned char h1[20], h2[32];
    mbedtls_sha1(crt.raw.p, crt.raw.len, h1);
    mbedtls_sha256(crt.raw.p, crt.raw.len, h2, 0);
    mbedtls_x509_crt_free(&crt);
    if (x5t) {
        char *s = jwt_b64url(h1, sizeof(h1));
        snprintf(x5t, 64, "%s", s);
        free(s);
    }
    if (x5t_s256) {
        char *s = jwt_b64url(h2, sizeof(h2));
        snprintf(x5t_s256, 64, "%s", s);
        free(s);
    }
    return 0;
}

int jwt_cert_matches_key(const char *cert_pem, const char *key_pem)
{
    mbedtls_x509_crt crt;
    mbedtls_pk_context pk;
    if (jwt_parse_cert(&crt, cert_pem, NULL))
        return 0;
    if (jwt_parse_key(&pk, key_pem, NULL)) {
        mbedtls_x509_crt_free(&crt);
        return 0;
    }
    int ok = mbedtls_pk_check_pair(&crt.pk, &pk, crypto_rng, NULL) == 0;
    mbedtls_pk_free(&pk);
    mbedtls_x509_crt_free(&crt);
    return ok;
}

int jwt_sign(const char *key_pem, enum jwt_alg alg, const char *header_json,
             const char *claims_json, char **jwt_r, struct mb_err *err)
{
    *jwt_r = NULL;
    mbedtls_pk_context pk;
    int rc = jwt_parse_key(&pk, key_pem, err);
    if (rc)
        return rc;
    char *h = jwt_b64url(header_json, strlen(header_json));
    char *c = jwt_b64url(claims_json, strlen(claims_json));
    char *input = xasprintf("%s.%s", h, c);
    free(h);
    free(c);
    unsigned char hash[32];
    mbedtls_sha256((const unsigned char *)input, strlen(input), hash, 0);

    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    static const char pers[] = "migrabox-jwt";
    int ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                                    (const unsigned char *)pers, sizeof(pers) - 1);
    unsigned char sig[MBEDTLS_MPI_MAX_SIZE];
    size_t siglen = 0;
    if (ret == 0) {
        mbedtls_rsa_context *rsa = mbedtls_pk_rsa(pk);
        if (alg == JWT_PS256) {
            ret = mbedtls_rsa_set_padding(rsa, MBEDTLS_RSA_PKCS_V21, MBEDTLS_MD_SHA256);
            if (ret == 0)
                ret = mbedtls_rsa_rsassa_pss_sign(rsa, mbedtls_ctr_drbg_random, &drbg,
                                                  MBEDTLS_MD_SHA256, 32, hash, sig);
        } else {
            ret = mbedtls_rsa_rsassa_pkcs1_v15_sign(rsa, mbedtls_ctr_drbg_random, &drbg,
                                                    MBEDTLS_MD_SHA256, 32, hash, sig);
        }
        siglen = mbedtls_rsa_get_len(rsa);
    }
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    mbedtls_pk_free(&pk);
    if (ret != 0) {
        free(input);
        return mb_err_setsys(err, MB_ECRYPTO, ret, "signing the JWT failed (mbedTLS -0x%04x)",
                             (unsigned)-ret);
    }
    char *s = jwt_b64url(sig, siglen);
    *jwt_r = xasprintf("%s.%s", input, s);
    free(s);
    free(input);
    return 0;
}
