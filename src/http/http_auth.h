/* http_auth: web sign-in, sessions and sign-in throttling for the JSON API.
 *
 * Sign-in: http_auth_verify checks a name and password against the account's PBKDF2 hash
 * (base/pwhash, constant-time compare). An unknown name still costs one PBKDF2 run against a
 * dummy hash made at init, so response times do not tell which names exist.
 *
 * Throttling: failures are counted per account name and per client address in one bounded
 * in-memory table (HTTP_AUTH_SLOTS entries, mutex-protected). A key with
 * HTTP_AUTH_MAX_FAILURES failures within HTTP_AUTH_WINDOW seconds of its first failure is
 * blocked until that window ends (the caller answers 429 with Retry-After). A successful
 * sign-in clears the name's counter, not the address's. Keys are SHA-256 digests, so the
 * table holds no names. When full, the slot of the oldest failure is reused: memory stays
 * bounded; an attacker spraying addresses can only make the table forget, never grow.
 * The table is per process: a restart forgets it.
 *
 * Sessions: a session is a random HTTP_AUTH_TOKEN_BYTES-byte token, sent to the browser as the
 * cookie HTTP_AUTH_COOKIE (base64url, HttpOnly, SameSite=Strict, Path=/, Secure over HTTPS).
 * The database keeps only SHA-256(token) and a random CSRF token (db/db_user.h), so a copy of
 * the database gives no live session. Expiry slides: each use pushes it session_ttl seconds
 * ahead (written at most once per HTTP_AUTH_TOUCH_EVERY seconds).
 *
 * Threads: the struct http_auth is shared by every request thread; each call takes the caller's
 * own struct db. Nothing here logs or puts a password or token into an error message. */
#ifndef MB_HTTP_AUTH_H
#define MB_HTTP_AUTH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/mb_err.h"
#include "base/pwhash.h"
#include "db/db.h"
#include "db/db_user.h"

#define HTTP_AUTH_COOKIE "mbx_session"
#define HTTP_AUTH_TOKEN_BYTES 32
#define HTTP_AUTH_TOKEN_LEN 43 /* base64url of 32 bytes, no padding */
#define HTTP_AUTH_MAX_FAILURES 5
#define HTTP_AUTH_WINDOW 900 /* seconds */
#define HTTP_AUTH_SLOTS 4096
#define HTTP_AUTH_TOUCH_EVERY 60
#define HTTP_AUTH_COOKIE_MAX 160 /* longest Set-Cookie value we build, NUL included */

struct http_auth_slot {
    unsigned char key[32]; /* SHA-256("u" NUL name) or SHA-256("a" NUL address) */
    int64_t first;         /* time of the first failure of the window; 0 = free slot */
    unsigned count;
};

struct http_auth {
    pthread_mutex_t mu;
    struct http_auth_slot *slots; /* HTTP_AUTH_SLOTS */
    char dummy_hash[PWHASH_MAX_LEN];
};

/* Make the dummy hash (one PBKDF2 run) and the empty table. Returns 0 or MB_ECRYPTO. */
int http_auth_init(struct http_auth *a, struct mb_err *err);
void http_auth_fini(struct http_auth *a);

/* Seconds the client must wait before trying to sign in as name (may be NULL) from address
 * addr (may be NULL or ""): 0 = not blocked. */
int64_t http_auth_blocked(struct http_auth *a, const char *name, const char *addr, int64_t now);
/* Record a failed sign-in for both keys. */
void http_auth_failed(struct http_auth *a, const char *name, const char *addr, int64_t now);
/* Record a successful sign-in: forget the name's failures. */
void http_auth_succeeded(struct http_auth *a, const char *name);

/* Check name/password. Returns 1 with *u_r filled (db_user_fini it) when they match, 0 when
 * they do not (unknown name or wrong password: indistinguishable, same cost), or a negative
 * mb_errc (database failure, malformed stored hash). */
int http_auth_verify(struct http_auth *a, struct db *db, const char *name, const char *password,
                     size_t password_len, struct db_user *u_r, struct mb_err *err);

/* Create a session for account_id expiring at now + ttl: token_r gets the cookie value and
 * csrf_r the CSRF token (both HTTP_AUTH_TOKEN_LEN + 1 bytes, NUL-terminated). */
int http_auth_session_new(struct db *db, int64_t account_id, int64_t now, int ttl,
                          char token_r[HTTP_AUTH_TOKEN_LEN + 1],
                          char csrf_r[HTTP_AUTH_TOKEN_LEN + 1], struct mb_err *err);
/* The live session of a cookie value: 0 and *s_r (db_session_fini it), MB_ENOTFOUND (absent,
 * malformed, unknown or expired) or MB_EIO. When the session was last pushed more than
 * HTTP_AUTH_TOUCH_EVERY seconds ago, its expiry is slid to now + ttl and *touched_r = 1 (the
 * caller then re-sends the cookie); else *touched_r = 0. */
int http_auth_session_get(struct db *db, const char *token, int64_t now, int ttl,
                          struct db_session *s_r, int *touched_r, struct mb_err *err);
/* Delete the session of a cookie value (no error when there is none). */
int http_auth_session_end(struct db *db, const char *token, struct mb_err *err);

/* 1 if given (may be NULL) equals expected, compared in constant time. */
int http_auth_csrf_ok(const char *expected, const char *given);

/* The Set-Cookie value for token (NULL = clear the cookie) living ttl seconds. */
void http_auth_cookie(char out[HTTP_AUTH_COOKIE_MAX], const char *token, int ttl, int secure);

#endif
