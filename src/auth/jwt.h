/* jwt: the pieces of RFC 7515/7519 that OAuth2 client assertions need: base64url, RS256
 * (RSASSA-PKCS1-v1_5 SHA-256) and PS256 (RSASSA-PSS SHA-256) compact signatures with an RSA
 * private key in PEM (PKCS#1 or PKCS#8), and the x5t / x5t#S256 thumbprints of a certificate.
 *
 * Thread-safe: every call parses its own copy of the key (token requests are rare).
 * Errors: MB_ECONFIG with words ("the private key is not a valid PEM key", "the private key
 * is not RSA", "the certificate is not valid PEM"), MB_ECRYPTO when signing fails. Key
 * material is never put into an error. */
#ifndef MB_JWT_H
#define MB_JWT_H

#include <stddef.h>

#include "base/mb_err.h"

enum jwt_alg { JWT_RS256 = 0, JWT_PS256 };

/* base64url without padding of n bytes: a new NUL-terminated string (xmalloc'ed). */
char *jwt_b64url(const void *p, size_t n);
/* Decode base64url (padding optional, no whitespace). Returns 0 and a new buffer (NUL added
 * after *n_r bytes) or MB_EPROTO. */
int jwt_b64url_decode(const char *s, size_t len, unsigned char **out_r, size_t *n_r);

/* Check that pem holds an RSA private key of at least 2048 bits (pem NUL-terminated). */
int jwt_key_check(const char *pem, struct mb_err *err);

/* x5t (base64url SHA-1 of the DER certificate) and x5t#S256 (SHA-256) of the first
 * certificate in pem. Either output may be NULL; sizes at least 64. */
int jwt_cert_thumbprints(const char *pem, char *x5t, char *x5t_s256, struct mb_err *err);
/* 1 if the certificate's public key is the key's (certificate and key belong together). */
int jwt_cert_matches_key(const char *cert_pem, const char *key_pem);

/* Sign: header_json and claims_json are complete JSON objects (the caller writes "alg").
 * *jwt_r = b64url(header) "." b64url(claims) "." b64url(signature), xmalloc'ed. */
int jwt_sign(const char *key_pem, enum jwt_alg alg, const char *header_json,
             const char *claims_json, char **jwt_r, struct mb_err *err);

#endif
