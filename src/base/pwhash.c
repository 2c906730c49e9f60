#include "pwhash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>

#include "secret.h"
#include "sha256.h"

#define SALT_LEN 16
#define PREFIX "pbkdf2-sha256$"

/* PBKDF2-HMAC-SHA-256, first 32-byte block (RFC 8018 5.2 with dkLen = hLen), on base/sha256.c:
 * the CPU's SHA extensions where present (mbedTLS's portable SHA-256 took 0.4 s of CPU for
 * PWHASH_ITERATIONS, at every start-up of serve and every sign-in). The key's padded inner and
 * outer states are computed once; each iteration then costs two compressions. */
void pwhash_pbkdf2_sha256(const unsigned char *password, size_t len, const unsigned char *salt,
                          size_t salt_len, unsigned iterations, unsigned char key[PWHASH_KEY_LEN])
{
    unsigned char k[64], pad[64], u[32];
    memset(k, 0, sizeof(k));
    if (len > sizeof(k))
        sha256(password, len, k);
    else if (len)
        memcpy(k, password, len);
    struct sha256 in, out, t;
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = k[i] ^ 0x36;
    sha256_init(&in);
    sha256_update(&in, pad, sizeof(pad));
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = k[i] ^ 0x5c;
    sha256_init(&out);
    sha256_update(&out, pad, sizeof(pad));
    static const unsigned char block1[4] = {0, 0, 0, 1};
    t = in;
    sha256_update(&t, salt, salt_len);
    sha256_update(&t, block1, sizeof(block1));
    sha256_final(&t, u);
    t = out;
    sha256_update(&t, u, sizeof(u));
    sha256_final(&t, u);
    memcpy(key, u, PWHASH_KEY_LEN);
    for (unsigned j = 1; j < iterations; j++) {
        t = in;
        sha256_update(&t, u, sizeof(u));
        sha256_final(&t, u);
        t = out;
        sha256_update(&t, u, sizeof(u));
        sha256_final(&t, u);
        for (size_t i = 0; i < PWHASH_KEY_LEN; i++)
            key[i] ^= u[i];
    }
    sha256_free(&in);
    sha256_free(&out);
    sha256_free(&t);
    secret_wipe(k, sizeof(k));
    secret_wipe(pad, sizeof(pad));
    secret_wipe(u, sizeof(u));
}

int pwhash_make_iter(const char *password, size_t len, unsigned iterations,
                     char out[PWHASH_MAX_LEN], struct mb_err *err)
{
    if (len > PWHASH_MAX_PASSWORD)
        return mb_err_set(err, MB_ETOOBIG, "password longer than %d bytes", PWHASH_MAX_PASSWORD);
    if (iterations < 1000)
        return mb_err_set(err, MB_ECONFIG, "too few PBKDF2 iterations");
    unsigned char salt[SALT_LEN], key[PWHASH_KEY_LEN];
    unsigned char salt64[32], key64[64];
    size_t s64, k64;
    int rc = secret_random(salt, sizeof(salt), err);
    if (rc == 0)
        pwhash_pbkdf2_sha256((const unsigned char *)password, len, salt, sizeof(salt), iterations,
                             key);
    if (rc == 0
        && (mbedtls_base64_encode(salt64, sizeof(salt64), &s64, salt, sizeof(salt)) != 0
            || mbedtls_base64_encode(key64, sizeof(key64), &k64, key, sizeof(key)) != 0))
        rc = mb_err_set(err, MB_ECRYPTO, "base64 encoding failed");
    if (rc == 0) {
        int n = snprintf(out, PWHASH_MAX_LEN, PREFIX "%u$%s$%s", iterations, (char *)salt64,
                         (char *)key64);
        if (n < 0 || n >= PWHASH_MAX_LEN)
            rc = mb_err_set(err, MB_ETOOBIG, "encoded hash too long");
    }
    secret_wipe(key, sizeof(key));
    secret_wipe(key64, sizeof(key64));
    return rc;
}

int pwhash_make(const char *password, size_t len, char out[PWHASH_MAX_LEN], struct mb_err *err)
{
    return pwhash_make_iter(password, len, PWHASH_ITERATIONS, out, err);
}

int pwhash_verify(const char *password, size_t len, const char *encoded, struct mb_err *err)
{
    if (strncmp(encoded, PREFIX, strlen(PREFIX)) != 0)
        return mb_err_set(err, MB_ECONFIG, "unknown password hash scheme");
    const char *p = encoded + strlen(PREFIX);
    char *end;
    unsigned long iterations = strtoul(p, &end, 10);
    if (end == p || *end != '$' || iterations < 1000 || iterations > 100000000UL)
        return mb_err_set(err, MB_ECONFIG, "malformed password hash");
    const char *salt64 = end + 1;
    const char *key64 = strchr(salt64, '$');
    if (!key64)
        return mb_err_set(err, MB_ECONFIG, "malformed password hash");
    unsigned char salt[64], want[64], got[PWHASH_KEY_LEN];
    size_t salt_len, want_len;
    if (mbedtls_base64_decode(salt, sizeof(salt), &salt_len, (const unsigned char *)salt64,
                              (size_t)(key64 - salt64))
            != 0
        || mbedtls_base64_decode(want, sizeof(want), &want_len, (const unsigned char *)key64 + 1,
                                 strlen(key64 + 1))
               != 0
        || want_len != PWHASH_KEY_LEN || salt_len < 8)
        return mb_err_set(err, MB_ECONFIG, "malformed password hash");
    if (len > PWHASH_MAX_PASSWORD)
        return 0;
    pwhash_pbkdf2_sha256((const unsigned char *)password, len, salt, salt_len, (unsigned)iterations,
                         got);
    int same = secret_ct_equal(got, want, PWHASH_KEY_LEN);
    secret_wipe(got, sizeof(got));
    return same;
}
