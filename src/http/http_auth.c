#include "http_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "base/secret.h"
#include "base/xalloc.h"

static const char http_auth_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding of n bytes into out (4 * ceil(n / 3) + 1 bytes at most). */
static void http_auth_b64(const unsigned char *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = http_auth_b64url[(v >> 18) & 63];
        out[o++] = http_auth_b64url[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = http_auth_b64url[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = http_auth_b64url[v & 63];
    }
    out[o] = '\0';
}

static int http_auth_random_token(char out[HTTP_AUTH_TOKEN_LEN + 1], struct mb_err *err)
{
    unsigned char raw[HTTP_AUTH_TOKEN_BYTES];
    int rc = secret_random(raw, sizeof(raw), err);
    if (rc)
        return rc;
    http_auth_b64(raw, sizeof(raw), out);
    secret_wipe(raw, sizeof(raw));
    return 0;
}

static int http_auth_token_valid(const char *t)
{
    if (!t || strlen(t) != HTTP_AUTH_TOKEN_LEN)
        return 0;
    for (const char *p = t; *p; p++) {
        if (!strchr(http_auth_b64url, *p))
            return 0;
    }
    return 1;
}

static void http_auth_token_hash(const char *token, unsigned char out[32])
{
    mbedtls_sha256((const unsigned char *)token, strlen(token), out, 0);
}

/* SHA-256(salt, kind, NUL, s [, NUL, s2]): the salt is random per process, so nobody can pick
 * names that land in the table bucket of a key they want evicted. */
static void http_auth_hash(const struct http_auth *a, char kind, const char *s, const char *s2,
                           unsigned char out[32])
{
    mbedtls_sha256_context ctx;
    unsigned char head[2] = {(unsigned char)kind, 0};
    mbedtls_sha256_init(&ctx);
    mbedtls_sha256_starts(&ctx, 0);
    mbedtls_sha256_update(&ctx, a->salt, sizeof(a->salt));
    mbedtls_sha256_update(&ctx, head, sizeof(head));
    mbedtls_sha256_update(&ctx, (const unsigned char *)s, strlen(s) + (s2 ? 1 : 0));
    if (s2)
        mbedtls_sha256_update(&ctx, (const unsigned char *)s2, strlen(s2));
    mbedtls_sha256_finish(&ctx, out);
    mbedtls_sha256_free(&ctx);
}

int http_auth_init(struct http_auth *a, struct mb_err *err)
{
    memset(a, 0, sizeof(*a));
    char pw[HTTP_AUTH_TOKEN_LEN + 1];
    int rc = http_auth_random_token(pw, err);
    if (!rc)
        rc = secret_random(a->salt, sizeof(a->salt), err);
    if (rc)
        return rc;
    rc = pwhash_make(pw, strlen(pw), a->dummy_hash, err);
    secret_wipe(pw, sizeof(pw));
    if (rc)
        return rc;
    a->slots = xcalloc(HTTP_AUTH_SLOTS, sizeof(*a->slots));
    a->known = xcalloc(HTTP_AUTH_KNOWN_SLOTS, sizeof(*a->known));
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    a->hashers = n < 1 ? 1u : n > 16 ? 16u : (unsigned)n;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->gate_cv, NULL);
    return 0;
}

void http_auth_fini(struct http_auth *a)
{
    if (!a->slots)
        return;
    pthread_cond_destroy(&a->gate_cv);
    pthread_mutex_destroy(&a->mu);
    XFREE(a->slots);
    XFREE(a->known);
}

static int http_auth_expired(const struct http_auth_slot *s, int64_t now, int64_t ttl)
{
    return !s->last || now - s->last >= ttl || now < s->last - 60;
}

/* The tables are set-associative: a key lives in one bucket of HTTP_AUTH_WAYS slots chosen by
 * its (salted) hash, so a lookup or an insertion looks at HTTP_AUTH_WAYS slots only. */
static struct http_auth_slot *http_auth_bucket(struct http_auth_slot *table, size_t n,
                                               const unsigned char key[32])
{
    uint32_t h =
        (uint32_t)key[0] | (uint32_t)key[1] << 8 | (uint32_t)key[2] << 16 | (uint32_t)key[3] << 24;
    return table + (size_t)(h % (n / HTTP_AUTH_WAYS)) * HTTP_AUTH_WAYS;
}

/* Under a->mu. The live slot of key in table (n slots, ttl), or NULL. */
static struct http_auth_slot *http_auth_find(struct http_auth_slot *table, size_t n, int64_t ttl,
                                             const unsigned char key[32], int64_t now)
{
    struct http_auth_slot *b = http_auth_bucket(table, n, key);
    for (size_t i = 0; i < HTTP_AUTH_WAYS; i++) {
        struct http_auth_slot *s = &b[i];
        if (s->last && memcmp(s->key, key, 32) == 0) {
            if (http_auth_expired(s, now, ttl)) {
                s->last = 0;
                s->count = 0;
                return NULL;
            }
            return s;
        }
    }
    return NULL;
}

/* Under a->mu. A slot for the new key in its bucket: a free or expired one, else the one with
 * the fewest attempts, then the oldest. */
static struct http_auth_slot *http_auth_victim(struct http_auth_slot *table, size_t n, int64_t ttl,
                                               const unsigned char key[32], int64_t now)
{
    struct http_auth_slot *b = http_auth_bucket(table, n, key);
    struct http_auth_slot *victim = NULL;
    for (size_t i = 0; i < HTTP_AUTH_WAYS; i++) {
        struct http_auth_slot *c = &b[i];
        if (http_auth_expired(c, now, ttl))
            return c;
        if (!victim || c->count < victim->count
            || (c->count == victim->count && c->last < victim->last))
            victim = c;
    }
    return victim;
}

/* Seconds a key with count attempts, the last at last, must still wait. */
static int64_t http_auth_delay(const struct http_auth_slot *s, int64_t cap, int64_t now)
{
    if (!s || s->count < HTTP_AUTH_FREE_FAILURES)
        return 0;
    unsigned over = s->count - HTTP_AUTH_FREE_FAILURES;
    int64_t d = over >= 20 ? cap : (int64_t)2 << over; /* 2, 4, 8 ... (seconds are whole) */
    if (d > cap)
        d = cap;
    int64_t wait = s->last + d - now;
    return wait > 0 ? wait : 0;
}

static void http_auth_bump(struct http_auth *a, const unsigned char key[32], int64_t now)
{
    struct http_auth_slot *s =
        http_auth_find(a->slots, HTTP_AUTH_SLOTS, HTTP_AUTH_WINDOW, key, now);
    if (!s) {
        s = http_auth_victim(a->slots, HTTP_AUTH_SLOTS, HTTP_AUTH_WINDOW, key, now);
        memcpy(s->key, key, 32);
        s->count = 0;
    }
    if (s->count < 1000000u)
        s->count++;
    s->last = now;
}

int64_t http_auth_begin(struct http_auth *a, const char *name, const char *addr, int64_t now,
                        struct http_auth_ticket *t)
{
    memset(t, 0, sizeof(*t));
    t->has_name = name && *name;
    t->has_addr = addr && *addr;
    if (t->has_name)
        http_auth_hash(a, 'u', name, NULL, t->name_key);
    if (t->has_addr)
        http_auth_hash(a, 'a', addr, NULL, t->addr_key);
    if (t->has_name && t->has_addr)
        http_auth_hash(a, 'k', name, addr, t->pair_key);
    pthread_mutex_lock(&a->mu);
    t->known =
        t->has_name && t->has_addr
        && http_auth_find(a->known, HTTP_AUTH_KNOWN_SLOTS, HTTP_AUTH_KNOWN_TTL, t->pair_key, now)
               != NULL;
    int64_t w1 = 0, w2 = 0;
    if (t->has_name && !t->known)
        w1 = http_auth_delay(
            http_auth_find(a->slots, HTTP_AUTH_SLOTS, HTTP_AUTH_WINDOW, t->name_key, now),
            HTTP_AUTH_NAME_CAP, now);
    if (t->has_addr)
        w2 = http_auth_delay(
            http_auth_find(a->slots, HTTP_AUTH_SLOTS, HTTP_AUTH_WINDOW, t->addr_key, now),
            HTTP_AUTH_ADDR_CAP, now);
    int64_t wait = w1 > w2 ? w1 : w2;
    if (wait == 0) {
        if (t->has_name)
            http_auth_bump(a, t->name_key, now);
        if (t->has_addr)
            http_auth_bump(a, t->addr_key, now);
    }
    pthread_mutex_unlock(&a->mu);
    return wait;
}

static void http_auth_unbump(struct http_auth *a, const unsigned char key[32], int64_t now)
{
    struct http_auth_slot *s =
        http_auth_find(a->slots, HTTP_AUTH_SLOTS, HTTP_AUTH_WINDOW, key, now);
    if (s && s->count > 0 && --s->count == 0)
        s->last = 0;
}

void http_auth_end(struct http_auth *a, const struct http_auth_ticket *t, enum http_auth_outcome o,
                   int64_t now)
{
    pthread_mutex_lock(&a->mu);
    if (o == HTTP_AUTH_FAILED) {
        /* The delay runs from the failure's answer, not from its start: a slow hash cannot
         * use the delay up. */
        for (int k = 0; k < 2; k++) {
            if (!(k ? t->has_addr : t->has_name))
                continue;
            struct http_auth_slot *s = http_auth_find(a->slots, HTTP_AUTH_SLOTS, HTTP_AUTH_WINDOW,
                                                      k ? t->addr_key : t->name_key, now);
            if (s && now > s->last)
                s->last = now;
        }
        pthread_mutex_unlock(&a->mu);
        return;
    }
    if (t->has_addr)
        http_auth_unbump(a, t->addr_key, now);
    if (o == HTTP_AUTH_ABANDONED) {
        if (t->has_name)
            http_auth_unbump(a, t->name_key, now);
    } else {
        if (t->has_name) {
            struct http_auth_slot *s =
                http_auth_find(a->slots, HTTP_AUTH_SLOTS, HTTP_AUTH_WINDOW, t->name_key, now);
            if (s) {
                s->last = 0;
                s->count = 0;
            }
        }
        if (t->has_name && t->has_addr) {
            struct http_auth_slot *k = http_auth_find(a->known, HTTP_AUTH_KNOWN_SLOTS,
                                                      HTTP_AUTH_KNOWN_TTL, t->pair_key, now);
            if (!k) {
                k = http_auth_victim(a->known, HTTP_AUTH_KNOWN_SLOTS, HTTP_AUTH_KNOWN_TTL,
                                     t->pair_key, now);
                memcpy(k->key, t->pair_key, 32);
                k->count = 1;
            }
            k->last = now;
        }
    }
    pthread_mutex_unlock(&a->mu);
}

int http_auth_gate_enter(struct http_auth *a, int prio)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += HTTP_AUTH_QUEUE_WAIT;
    pthread_mutex_lock(&a->mu);
    if (a->running < a->hashers && (prio || a->waiting_prio == 0)) {
        a->running++;
        pthread_mutex_unlock(&a->mu);
        return 0;
    }
    unsigned *waiting = prio ? &a->waiting_prio : &a->waiting;
    if (*waiting >= HTTP_AUTH_QUEUE) {
        pthread_mutex_unlock(&a->mu);
        return -1;
    }
    (*waiting)++;
    int rc = 0;
    while (a->running >= a->hashers || (!prio && a->waiting_prio > 0)) {
        if (pthread_cond_timedwait(&a->gate_cv, &a->mu, &deadline) == ETIMEDOUT) {
            rc = -1;
            break;
        }
    }
    (*waiting)--;
    if (rc == 0)
        a->running++;
    pthread_mutex_unlock(&a->mu);
    if (rc)
        pthread_cond_broadcast(&a->gate_cv);
    return rc;
}

void http_auth_gate_leave(struct http_auth *a)
{
    pthread_mutex_lock(&a->mu);
    a->running--;
    pthread_mutex_unlock(&a->mu);
    pthread_cond_broadcast(&a->gate_cv);
}

int http_auth_verify(struct http_auth *a, struct db *db, const char *name, const char *password,
                     size_t password_len, struct db_user *u_r, struct mb_err *err)
{
    struct db_user u;
    memset(&u, 0, sizeof(u));
    memset(u_r, 0, sizeof(*u_r));
    int rc = db_user_get_by_name(db, name, &u, err);
    if (rc == MB_ENOTFOUND) {
        /* Same work as for a real account, result ignored. */
        pwhash_verify(password, password_len, a->dummy_hash, NULL);
        return 0;
    }
    if (rc)
        return rc;
    rc = pwhash_verify(password, password_len, u.pwhash, err);
    if (rc != 1) {
        db_user_fini(&u);
        return rc;
    }
    *u_r = u;
    return 1;
}

int http_auth_session_new(struct db *db, int64_t account_id, int64_t now, int ttl,
                          char token_r[HTTP_AUTH_TOKEN_LEN + 1],
                          char csrf_r[HTTP_AUTH_TOKEN_LEN + 1], struct mb_err *err)
{
    unsigned char h[32];
    int rc = http_auth_random_token(token_r, err);
    if (!rc)
        rc = http_auth_random_token(csrf_r, err);
    if (rc)
        return rc;
    http_auth_token_hash(token_r, h);
    return db_session_create(db, h, sizeof(h), account_id, csrf_r, now + ttl, err);
}

int http_auth_session_get(struct db *db, const char *token, int64_t now, int ttl,
                          struct db_session *s_r, int *touched_r, struct mb_err *err)
{
    unsigned char h[32];
    *touched_r = 0;
    memset(s_r, 0, sizeof(*s_r));
    if (!http_auth_token_valid(token))
        return mb_err_set(err, MB_ENOTFOUND, "no session");
    http_auth_token_hash(token, h);
    int rc = db_session_lookup(db, h, sizeof(h), now, s_r, err);
    if (rc)
        return rc;
    if (s_r->expires_at - now < (int64_t)ttl - HTTP_AUTH_TOUCH_EVERY) {
        rc = db_session_touch(db, h, sizeof(h), now + ttl, err);
        if (rc) {
            db_session_fini(s_r);
            return rc;
        }
        s_r->expires_at = now + ttl;
        *touched_r = 1;
    }
    return 0;
}

int http_auth_session_end(struct db *db, const char *token, struct mb_err *err)
{
    unsigned char h[32];
    if (!http_auth_token_valid(token))
        return 0;
    http_auth_token_hash(token, h);
    return db_session_delete(db, h, sizeof(h), err);
}

int http_auth_csrf_ok(const char *expected, const char *given)
{
    if (!expected || !given)
        return 0;
    size_t n = strlen(expected);
    if (n == 0 || strlen(given) != n)
        return 0;
    return secret_ct_equal(expected, given, n);
}

void http_auth_cookie(char out[HTTP_AUTH_COOKIE_MAX], const char *token, int ttl, int secure)
{
    snprintf(out, HTTP_AUTH_COOKIE_MAX, "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s",
             HTTP_AUTH_COOKIE, token ? token : "", token ? ttl : 0, secure ? "; Secure" : "");
}
