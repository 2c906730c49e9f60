/* pwhash: password hashing for web accounts: PBKDF2-HMAC-SHA256 (on base/sha256.c), random 16-byte
 * salt, PWHASH_ITERATIONS iterations, 32-byte key. Encoded as
 *   pbkdf2-sha256$<iterations>$<base64 salt>$<base64 key>
 * Verification recomputes with the stored parameters and compares in constant time. */
#ifndef MB_PWHASH_H
#define MB_PWHASH_H

#include <stddef.h>

#include "mb_err.h"

#define PWHASH_ITERATIONS 210000
#define PWHASH_MAX_LEN 128 /* longest encoded hash, NUL included */
#define PWHASH_MAX_PASSWORD 1024
#define PWHASH_KEY_LEN 32

/* Hash password (len bytes) into out (PWHASH_MAX_LEN bytes). Returns 0 or negative mb_errc. */
int pwhash_make(const char *password, size_t len, char out[PWHASH_MAX_LEN], struct mb_err *err);
/* Same with explicit iterations (tests; the minimum accepted is 1000). */
int pwhash_make_iter(const char *password, size_t len, unsigned iterations,
                     char out[PWHASH_MAX_LEN], struct mb_err *err);
/* 1 = matches, 0 = does not match, negative mb_errc = malformed stored hash. */
int pwhash_verify(const char *password, size_t len, const char *encoded, struct mb_err *err);

/* PBKDF2-HMAC-SHA-256 (RFC 8018), the first PWHASH_KEY_LEN bytes of the derived key. */
void pwhash_pbkdf2_sha256(const unsigned char *password, size_t len, const unsigned char *salt,
                          size_t salt_len, unsigned iterations, unsigned char key[PWHASH_KEY_LEN]);

#endif
