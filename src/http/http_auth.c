#include "http_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    mbedtls_sha256_ret((const unsigned char *)token, strlen(token), out, 0);
}

static void http_auth_key(char kind, const char *s, unsigned char out[32])
{
    mbedtls_sha256_context ctx;
    unsigned char head[2] = { (unsigned char)kind, 0 };
    mbedtls_sha256_init(&ctx);
    mbedtls_sha256_starts_ret(&ctx, 0);
    mbedtls_sha256_update_ret(&ctx, head, sizeof(head));
    mbedtls_sha256_update_ret(&ctx, (const unsigned char *)s, strlen(s));
    mbedtls_sha256_finish_ret(&ctx, out);
    mbedtls_sha256_free(&ctx);
}

int http_auth_init(struct http_auth *a, struct mb_err *err)
{
    memset(a, 0, sizeof(*a));
    char pw[HTTP_AUTH_TOKEN_LEN + 1];
    int rc = http_auth_random_token(pw, err);
    if (rc)
        return rc;
    rc = pwhash_make(pw, strlen(pw), a->dummy_hash, err);
    secret_wipe(pw, sizeof(pw));
    if (rc)
        return rc;
    a->slots = xcalloc(HTTP_AUTH_SLOTS, sizeof(*a->slots));
    pthread_mutex_init(&a->mu, NULL);
    return 0;
}

void http_auth_fini(struct http_auth *a)
{
    if (!a->slots)
        return;
    pthread_mutex_destroy(&a->mu);
    XFREE(a->slots);
}

/* Under a->mu. The slot of key, or NULL. Slots whose window is over count as free. */
static struct http_auth_slot *http_auth_find(struct http_auth *a, const unsigned char key[32],
                                             int64_t now)
{
    for (size_t i = 0; i < HTTP_AUTH_SLOTS; i++) {
        struct http_auth_slot *s = &a->slots[i];
        if (s->first && memcmp(s->key, key, 32) == 0) {
            if (now - s->first >= HTTP_AUTH_WINDOW || now < s->first) {
                s->first = 0;
                return NULL;
            }
            return s;
        }
    }
    return NULL;
}

static int64_t http_auth_wait(struct http_auth *a, char kind, const char *s, int64_t now)
{
    unsigned char key[32];
    if (!s || !*s)
        return 0;
    http_auth_key(kind, s, key);
    const struct http_auth_slot *slot = http_auth_find(a, key, now);
    if (!slot || slot->count < HTTP_AUTH_MAX_FAILURES)
        return 0;
    return slot->first + HTTP_AUTH_WINDOW - now;
}

int64_t http_auth_blocked(struct http_auth *a, const char *name, const char *addr, int64_t now)
{
    pthread_mutex_lock(&a->mu);
    int64_t w1 = http_auth_wait(a, 'u', name, now);
    int64_t w2 = http_auth_wait(a, 'a', addr, now);
    pthread_mutex_unlock(&a->mu);
    return w1 > w2 ? w1 : w2;
}

static void http_auth_count(struct http_auth *a, char kind, const char *s, int64_t now)
{
    unsigned char key[32];
    if (!s || !*s)
        return;
    http_auth_key(kind, s, key);
    struct http_auth_slot *slot = http_auth_find(a, key, now);
    if (slot) {
        if (slot->count < HTTP_AUTH_MAX_FAILURES * 1000u)
            slot->count++;
        return;
    }
    /* A free (or expired) slot, else the one whose window started first. */
    struct http_auth_slot *victim = NULL;
    for (size_t i = 0; i < HTTP_AUTH_SLOTS; i++) {
        struct http_auth_slot *c = &a->slots[i];
        if (!c->first || now - c->first >= HTTP_AUTH_WINDOW || now < c->first) {
            victim = c;
            break;
        }
        if (!victim || c->first < victim->first)
            victim = c;
    }
    memcpy(victim->key, key, 32);
    victim->first = now;
    victim->count = 1;
}

void http_auth_failed(struct http_auth *a, const char *name, const char *addr, int64_t now)
{
    pthread_mutex_lock(&a->mu);
    http_auth_count(a, 'u', name, now);
    http_auth_count(a, 'a', addr, now);
    pthread_mutex_unlock(&a->mu);
}

void http_auth_succeeded(struct http_auth *a, const char *name)
{
    unsigned char key[32];
    if (!name || !*name)
        return;
    http_auth_key('u', name, key);
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < HTTP_AUTH_SLOTS; i++) {
        if (a->slots[i].first && memcmp(a->slots[i].key, key, 32) == 0)
            a->slots[i].first = 0;
    }
    pthread_mutex_unlock(&a->mu);
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
