#define T_IMPLEMENTATION
#include "t.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/pwhash.h"
#include "base/xalloc.h"
#include "db/db.h"
#include "db/db_user.h"
#include "http/http_auth.h"

static struct http_auth auth;

/* One attempt that fails: the wait (0 = it was allowed and counted). */
static int64_t try_fail(const char *name, const char *addr, int64_t now)
{
    struct http_auth_ticket t;
    int64_t w = http_auth_begin(&auth, name, addr, now, &t);
    if (w == 0)
        http_auth_end(&auth, &t, HTTP_AUTH_FAILED, now);
    return w;
}

static int64_t try_ok(const char *name, const char *addr, int64_t now)
{
    struct http_auth_ticket t;
    int64_t w = http_auth_begin(&auth, name, addr, now, &t);
    if (w == 0)
        http_auth_end(&auth, &t, HTTP_AUTH_SUCCEEDED, now);
    return w;
}

static void test_throttle_name(void)
{
    T_BEGIN("throttle: after 5 failures a name waits 2, 4, 8 ... s, capped, never a lock");
    int64_t t0 = 1000000;
    for (int i = 0; i < HTTP_AUTH_FREE_FAILURES; i++)
        T_ASSERT_INT(try_fail("alice", NULL, t0), 0);
    T_ASSERT_INT(try_fail("alice", "10.0.0.1", t0), 2);
    T_ASSERT_INT(try_fail("alice", NULL, t0 + 2), 0); /* 6th: after 2 s */
    T_ASSERT_INT(try_fail("alice", NULL, t0 + 3), 3); /* 7th needs 4 s */
    T_ASSERT_INT(try_fail("alice", NULL, t0 + 6), 0);
    /* many more: the delay stops growing at the cap */
    int64_t now = t0 + 6;
    for (int i = 0; i < 20; i++) {
        int64_t w = try_fail("alice", NULL, now);
        T_ASSERT(w <= HTTP_AUTH_NAME_CAP);
        now += w;
        T_ASSERT_INT(try_fail("alice", NULL, now), 0);
    }
    T_ASSERT_INT(try_fail("alice", NULL, now), HTTP_AUTH_NAME_CAP);
    /* other names are not affected */
    T_ASSERT_INT(try_fail("bob", NULL, now), 0);
    T_ASSERT_INT(try_fail("Alice", NULL, now), 0);
    /* forgotten HTTP_AUTH_WINDOW s after the last attempt */
    T_ASSERT_INT(try_fail("alice", NULL, now + HTTP_AUTH_WINDOW), 0);
    T_END();
}

static void test_throttle_inflight(void)
{
    T_BEGIN("throttle: attempts are counted before the hash (a burst sees those in flight)");
    int64_t t0 = 1500000;
    struct http_auth_ticket t[40];
    int allowed = 0;
    for (int i = 0; i < 40; i++) {
        if (http_auth_begin(&auth, "burst", "192.0.2.50", t0, &t[i]) == 0)
            t[allowed++] = t[i];
    }
    T_ASSERT_INT(allowed, HTTP_AUTH_FREE_FAILURES);
    for (int i = 0; i < allowed; i++)
        http_auth_end(&auth, &t[i], HTTP_AUTH_FAILED, t0);
    /* an abandoned attempt (hash queue full) is taken back */
    struct http_auth_ticket a;
    T_ASSERT_INT(http_auth_begin(&auth, "x", "192.0.2.51", t0, &a), 0);
    http_auth_end(&auth, &a, HTTP_AUTH_ABANDONED, t0);
    for (int i = 0; i < HTTP_AUTH_FREE_FAILURES; i++)
        T_ASSERT_INT(try_fail("y", "192.0.2.51", t0), 0);
    T_ASSERT(try_fail("z", "192.0.2.51", t0) > 0);
    T_END();
}

static void test_throttle_delay_from_answer(void)
{
    T_BEGIN("throttle: the delay runs from the failure's answer (a slow hash does not use it up)");
    int64_t t0 = 1700000;
    for (int i = 0; i < HTTP_AUTH_FREE_FAILURES; i++) {
        struct http_auth_ticket t;
        T_ASSERT_INT(http_auth_begin(&auth, "slow", NULL, t0, &t), 0);
        http_auth_end(&auth, &t, HTTP_AUTH_FAILED, t0 + 10); /* answered 10 s later */
    }
    T_ASSERT_INT(try_fail("slow", NULL, t0 + 11), 1);
    T_ASSERT_INT(try_fail("slow", NULL, t0 + 12), 0);
    T_END();
}

static void test_throttle_addr(void)
{
    T_BEGIN("throttle: 5 failures from one address delay every name from it");
    int64_t t0 = 2000000;
    char name[32];
    for (int i = 0; i < HTTP_AUTH_FREE_FAILURES; i++) {
        snprintf(name, sizeof(name), "user%d", i);
        T_ASSERT_INT(try_fail(name, "192.0.2.7", t0), 0);
    }
    T_ASSERT(try_fail("someone-else", "192.0.2.7", t0) > 0);
    T_ASSERT_INT(try_fail("someone-else", "192.0.2.8", t0), 0);
    T_END();
}

static void test_throttle_known_pair(void)
{
    T_BEGIN("throttle: a stranger cannot lock out the owner's known address");
    int64_t t0 = 3000000;
    T_ASSERT_INT(try_ok("admin", "192.0.2.10", t0), 0);
    char addr[32];
    int64_t now = t0;
    for (int i = 0, failed = 0; failed < 30; i++) {
        snprintf(addr, sizeof(addr), "198.51.100.%d", i % 250);
        int64_t w = try_fail("admin", addr, now);
        if (w)
            now += w;
        else
            failed++;
    }
    T_ASSERT(try_fail("admin", "203.0.113.1", now) > 0); /* a new address waits */
    T_ASSERT_INT(try_ok("admin", "192.0.2.10", now), 0); /* the owner does not */
    /* and the success cleared the name */
    T_ASSERT_INT(try_fail("admin", "203.0.113.1", now), 0);
    T_END();
}

static void test_throttle_bounded(void)
{
    T_BEGIN("throttle: a spray of new keys cannot evict a delayed one; memory is bounded");
    int64_t t0 = 4000000;
    for (int i = 0; i < HTTP_AUTH_FREE_FAILURES; i++)
        try_fail("target", NULL, t0);
    T_ASSERT(try_fail("target", NULL, t0) > 0);
    char name[32];
    for (int i = 0; i < 2 * HTTP_AUTH_SLOTS; i++) {
        snprintf(name, sizeof(name), "spray%d", i);
        try_fail(name, NULL, t0);
    }
    T_ASSERT(try_fail("target", NULL, t0) > 0);
    T_END();
}

static void test_csrf_and_cookie(void)
{
    T_BEGIN("csrf compare and cookie attributes");
    T_ASSERT(http_auth_csrf_ok("abc", "abc"));
    T_ASSERT(!http_auth_csrf_ok("abc", "abd"));
    T_ASSERT(!http_auth_csrf_ok("abc", "ab"));
    T_ASSERT(!http_auth_csrf_ok("abc", NULL));
    T_ASSERT(!http_auth_csrf_ok(NULL, "abc"));
    T_ASSERT(!http_auth_csrf_ok("", ""));
    char c[HTTP_AUTH_COOKIE_MAX];
    http_auth_cookie(c, "TOKEN", 3600, 1);
    T_ASSERT_STR(c, "mbx_session=TOKEN; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict; Secure");
    http_auth_cookie(c, NULL, 3600, 0);
    T_ASSERT_STR(c, "mbx_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
    T_END();
}

static void test_verify_and_sessions(void)
{
    T_BEGIN("verify (known, unknown, wrong) and session life with a real database");
    char path[512];
    snprintf(path, sizeof(path), "%s/auth.db", t_tmpdir());
    struct db *db = NULL;
    struct mb_err err = {0};
    T_ASSERT_INT(db_open(path, &db, &err), 0);
    char hash[PWHASH_MAX_LEN];
    T_ASSERT_INT(pwhash_make_iter("s3cret", 6, 1000, hash, &err), 0);
    const char *doms[] = {"example.com"};
    int64_t uid = 0;
    T_ASSERT_INT(db_user_add(db, "dave", hash, 0, doms, 1, &uid, &err), 0);

    struct db_user u;
    T_ASSERT_INT(http_auth_verify(&auth, db, "dave", "s3cret", 6, &u, &err), 1);
    T_ASSERT_STR(u.name, "dave");
    T_ASSERT_INT(u.n_domains, 1);
    db_user_fini(&u);
    T_ASSERT_INT(http_auth_verify(&auth, db, "dave", "s3creT", 6, &u, &err), 0);
    T_ASSERT_INT(http_auth_verify(&auth, db, "nobody", "s3cret", 6, &u, &err), 0);

    char token[HTTP_AUTH_TOKEN_LEN + 1], csrf[HTTP_AUTH_TOKEN_LEN + 1];
    int64_t now = 1700000000;
    T_ASSERT_INT(http_auth_session_new(db, uid, now, 3600, token, csrf, &err), 0);
    T_ASSERT_INT(strlen(token), HTTP_AUTH_TOKEN_LEN);
    T_ASSERT_INT(strlen(csrf), HTTP_AUTH_TOKEN_LEN);
    T_ASSERT(strcmp(token, csrf) != 0);

    struct db_session s;
    int touched = -1;
    T_ASSERT_INT(http_auth_session_get(db, token, now + 10, 3600, &s, &touched, &err), 0);
    T_ASSERT_INT(s.account_id, uid);
    T_ASSERT_STR(s.csrf, csrf);
    T_ASSERT_INT(touched, 0);
    db_session_fini(&s);
    /* after HTTP_AUTH_TOUCH_EVERY the expiry slides */
    T_ASSERT_INT(http_auth_session_get(db, token, now + 3000, 3600, &s, &touched, &err), 0);
    T_ASSERT_INT(touched, 1);
    T_ASSERT_INT(s.expires_at, now + 3000 + 3600);
    db_session_fini(&s);
    /* still alive past the first expiry thanks to the slide (and slid again) */
    T_ASSERT_INT(http_auth_session_get(db, token, now + 3601, 3600, &s, &touched, &err), 0);
    T_ASSERT_INT(touched, 1);
    db_session_fini(&s);
    /* expired */
    T_ASSERT_INT(http_auth_session_get(db, token, now + 3601 + 3600 + 1, 3600, &s, &touched, &err),
                 MB_ENOTFOUND);
    /* malformed tokens never reach the database */
    T_ASSERT_INT(http_auth_session_get(db, "short", now, 3600, &s, &touched, &err), MB_ENOTFOUND);
    T_ASSERT_INT(http_auth_session_get(db, csrf, now, 3600, &s, &touched, &err), MB_ENOTFOUND);

    /* logout */
    T_ASSERT_INT(http_auth_session_new(db, uid, now, 3600, token, csrf, &err), 0);
    T_ASSERT_INT(http_auth_session_end(db, token, &err), 0);
    T_ASSERT_INT(http_auth_session_get(db, token, now + 1, 3600, &s, &touched, &err), MB_ENOTFOUND);
    T_ASSERT_INT(http_auth_session_end(db, "not-a-token", &err), 0);
    db_close(&db);
    T_END();
}

int main(void)
{
    struct mb_err err = {0};
    if (http_auth_init(&auth, &err) != 0) {
        fprintf(stderr, "http_auth_init: %s\n", err.msg);
        return 1;
    }
    static void (*const fns[])(void) = {
        test_throttle_name,   test_throttle_inflight,   test_throttle_delay_from_answer,
        test_throttle_addr,   test_throttle_known_pair, test_throttle_bounded,
        test_csrf_and_cookie, test_verify_and_sessions, NULL,
    };
    int rc = t_run(fns);
    http_auth_fini(&auth);
    return rc;
}
