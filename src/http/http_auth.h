/* http_auth: web sign-in, sessions and sign-in throttling for the JSON API.
 *
 * Sign-in: http_auth_verify checks a name and password against the account's PBKDF2 hash
 * (base/pwhash, constant-time compare). An unknown name still costs one PBKDF2 run against a
 * dummy hash made at init, so response times do not tell which names exist.
 *
 * Throttling (docs/OPERATIONS.md, "Security"): every sign-in attempt is counted BEFORE its
 * password is hashed (http_auth_begin), so a burst of concurrent attempts sees the ones still
 * in flight. Two counters per attempt: the account name and the client address. A key's first
 * HTTP_AUTH_FREE_FAILURES attempts within HTTP_AUTH_WINDOW seconds are free; after them, each
 * attempt must wait a growing delay after the previous one (2, 4, 8 ... seconds, capped at
 * HTTP_AUTH_NAME_CAP for a name and HTTP_AUTH_ADDR_CAP for an address), so a stranger cannot
 * lock an account: at worst they slow it down to one attempt per HTTP_AUTH_NAME_CAP seconds.
 * An address that has signed in successfully to an account ("known pair", a separate table
 * that only a right password can fill) skips that account's delay (its own address delay
 * still applies), so the owner signs in while a stranger hammers the name. A success takes
 * back the attempt's address count and clears the name's counter.
 *
 * The table is bounded (HTTP_AUTH_SLOTS, set-associative: a key lives in one bucket of
 * HTTP_AUTH_WAYS slots chosen by its hash, salted with a random per-process secret so that
 * nobody can aim names at a bucket); a slot is forgotten HTTP_AUTH_WINDOW seconds after its
 * last attempt. When a bucket is full, its slot with the fewest attempts (then the oldest) is
 * reused: a key being delayed is only evicted once every slot of its bucket holds as many
 * attempts (each attempt costs a hash through the bounded hash gate). Oversized names and
 * passwords are refused by the caller before http_auth_begin, so they never count.
 *
 * Hash gate: at most one PBKDF2 run per online CPU at once (http_auth_gate_enter); at most
 * HTTP_AUTH_QUEUE attempts wait, plus HTTP_AUTH_QUEUE more from known pairs, which are served
 * first; a waiter gives up after HTTP_AUTH_QUEUE_WAIT seconds. A refused attempt answers 503.
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
#define HTTP_AUTH_FREE_FAILURES 5
#define HTTP_AUTH_WINDOW 900   /* seconds a key is remembered after its last attempt */
#define HTTP_AUTH_NAME_CAP 60  /* longest delay between two attempts on one account name */
#define HTTP_AUTH_ADDR_CAP 900 /* longest delay between two attempts from one address */
#define HTTP_AUTH_SLOTS 16384
#define HTTP_AUTH_WAYS 16 /* slots per bucket (set-associative tables) */
#define HTTP_AUTH_KNOWN_SLOTS 1024
#define HTTP_AUTH_KNOWN_TTL (30 * 86400)
#define HTTP_AUTH_QUEUE 8
#define HTTP_AUTH_QUEUE_WAIT 10 /* seconds */
#define HTTP_AUTH_TOUCH_EVERY 60
#define HTTP_AUTH_COOKIE_MAX 160 /* longest Set-Cookie value we build, NUL included */

struct http_auth_slot {
    unsigned char key[32]; /* SHA-256(salt "u" NUL name), (salt "a" NUL address),
                            * (salt "k" NUL name NUL address) */
    int64_t last;          /* time of the last attempt; 0 = free slot */
    unsigned count;        /* attempts of the window, in-flight ones included */
};

struct http_auth {
    pthread_mutex_t mu;
    struct http_auth_slot *slots; /* HTTP_AUTH_SLOTS */
    struct http_auth_slot *known; /* HTTP_AUTH_KNOWN_SLOTS: pairs that signed in */
    char dummy_hash[PWHASH_MAX_LEN];
    unsigned char salt[32]; /* random per process: keys = SHA-256(salt, ...) */
    /* hash gate */
    pthread_cond_t gate_cv;
    unsigned hashers, running, waiting, waiting_prio;
};

/* One attempt between http_auth_begin and http_auth_end. */
struct http_auth_ticket {
    unsigned char name_key[32], addr_key[32], pair_key[32];
    int has_name, has_addr;
    int known; /* the pair has signed in before */
};

/* Make the dummy hash (one PBKDF2 run) and the empty table. Returns 0 or MB_ECRYPTO. */
int http_auth_init(struct http_auth *a, struct mb_err *err);
void http_auth_fini(struct http_auth *a);

/* Start a sign-in attempt as name (may be NULL) from address addr (may be NULL or ""):
 * returns 0 and counts the attempt for both keys (ticket filled), or the seconds the client
 * must wait (nothing counted). */
int64_t http_auth_begin(struct http_auth *a, const char *name, const char *addr, int64_t now,
                        struct http_auth_ticket *t);
enum http_auth_outcome {
    HTTP_AUTH_FAILED,    /* wrong name or password: the attempt stays counted; the delay
                          * before the next one runs from now (the answer) */
    HTTP_AUTH_SUCCEEDED, /* name's counter cleared, address's attempt taken back, pair known */
    HTTP_AUTH_ABANDONED, /* not checked (queue full, internal error): attempt taken back */
};
void http_auth_end(struct http_auth *a, const struct http_auth_ticket *t, enum http_auth_outcome o,
                   int64_t now);
/* Wait for a hashing slot: 0 (then call http_auth_gate_leave) or -1 when the queue is full or
 * the wait exceeded HTTP_AUTH_QUEUE_WAIT seconds. prio: the attempt is from a known pair. */
int http_auth_gate_enter(struct http_auth *a, int prio);
void http_auth_gate_leave(struct http_auth *a);

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
