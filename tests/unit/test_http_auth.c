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

static void test_throttle_name(void)
{
    T_BEGIN("throttle: 5 failures for one name block it for the rest of the window");
    int64_t t0 = 1000000;
    for (int i = 0; i < HTTP_AUTH_MAX_FAILURES - 1; i++) {
        http_auth_failed(&auth, "alice", NULL, t0 + i);
        T_ASSERT_INT(http_auth_blocked(&auth, "alice", NULL, t0 + i), 0);
    }
    http_auth_failed(&auth, "alice", NULL, t0 + 10);
    T_ASSERT_INT(http_auth_blocked(&auth, "alice", NULL, t0 + 10), HTTP_AUTH_WINDOW - 10);
    T_ASSERT_INT(http_auth_blocked(&auth, "alice", "10.0.0.1", t0 + 100), HTTP_AUTH_WINDOW - 100);
    /* other names are not affected */
    T_ASSERT_INT(http_auth_blocked(&auth, "bob", NULL, t0 + 10), 0);
    T_ASSERT_INT(http_auth_blocked(&auth, "Alice", NULL, t0 + 10), 0);
    /* the window ends */
    T_ASSERT_INT(http_auth_blocked(&auth, "alice", NULL, t0 + HTTP_AUTH_WINDOW), 0);
    http_auth_failed(&auth, "alice", NULL, t0 + HTTP_AUTH_WINDOW);
    T_ASSERT_INT(http_auth_blocked(&auth, "alice", NULL, t0 + HTTP_AUTH_WINDOW), 0);
    T_END();
}

static void test_throttle_addr(void)
{
    T_BEGIN("throttle: 5 failures from one address block every name from it");
    int64_t t0 = 2000000;
    char name[32];
    for (int i = 0; i < HTTP_AUTH_MAX_FAILURES; i++) {
        snprintf(name, sizeof(name), "user%d", i);
        http_auth_failed(&auth, name, "192.0.2.7", t0);
    }
    T_ASSERT(http_auth_blocked(&auth, "someone-else", "192.0.2.7", t0 + 1) > 0);
    T_ASSERT_INT(http_auth_blocked(&auth, "someone-else", "192.0.2.8", t0 + 1), 0);
    /* a success clears the name, not the address */
    http_auth_succeeded(&auth, "user0");
    T_ASSERT(http_auth_blocked(&auth, "user0", "192.0.2.7", t0 + 2) > 0);
    T_ASSERT_INT(http_auth_blocked(&auth, "user0", "192.0.2.9", t0 + 2), 0);
    T_END();
}

static void test_throttle_success_clears_name(void)
{
    T_BEGIN("throttle: a success forgets the name's failures");
    int64_t t0 = 3000000;
    for (int i = 0; i < HTTP_AUTH_MAX_FAILURES - 1; i++)
        http_auth_failed(&auth, "carol", NULL, t0);
    http_auth_succeeded(&auth, "carol");
    http_auth_failed(&auth, "carol", NULL, t0 + 1);
    T_ASSERT_INT(http_auth_blocked(&auth, "carol", NULL, t0 + 1), 0);
    T_END();
}

static void test_throttle_bounded(void)
{
    T_BEGIN("throttle: the table stays bounded; the oldest entries are forgotten first");
    int64_t t0 = 4000000;
    for (int i = 0; i < HTTP_AUTH_MAX_FAILURES; i++)
        http_auth_failed(&auth, "target", NULL, t0);
    T_ASSERT(http_auth_blocked(&auth, "target", NULL, t0 + 1) > 0);
    /* Spray twice the table size of distinct names, later than the target's failures. */
    char name[32];
    for (int i = 0; i < 2 * HTTP_AUTH_SLOTS; i++) {
        snprintf(name, sizeof(name), "spray%d", i);
        http_auth_failed(&auth, name, NULL, t0 + 2);
    }
    /* The oldest entry (target) was reused: memory is bounded, the newest are kept. */
    T_ASSERT_INT(http_auth_blocked(&auth, "target", NULL, t0 + 3), 0);
    for (int i = 0; i < HTTP_AUTH_MAX_FAILURES; i++)
        http_auth_failed(&auth, "spray-last", NULL, t0 + 3);
    T_ASSERT(http_auth_blocked(&auth, "spray-last", NULL, t0 + 3) > 0);
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
    struct mb_err err = { 0 };
    T_ASSERT_INT(db_open(path, &db, &err), 0);
    char hash[PWHASH_MAX_LEN];
    T_ASSERT_INT(pwhash_make_iter("s3cret", 6, 1000, hash, &err), 0);
    const char *doms[] = { "example.com" };
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
    T_ASSERT_INT(http_auth_session_get(db, token, now + 3601 + 3600 + 1, 3600, &s, &touched,
                                       &err), MB_ENOTFOUND);
    /* malformed tokens never reach the database */
    T_ASSERT_INT(http_auth_session_get(db, "short", now, 3600, &s, &touched, &err),
                 MB_ENOTFOUND);
    T_ASSERT_INT(http_auth_session_get(db, csrf, now, 3600, &s, &touched, &err), MB_ENOTFOUND);

    /* logout */
    T_ASSERT_INT(http_auth_session_new(db, uid, now, 3600, token, csrf, &err), 0);
    T_ASSERT_INT(http_auth_session_end(db, token, &err), 0);
    T_ASSERT_INT(http_auth_session_get(db, token, now + 1, 3600, &s, &touched, &err),
                 MB_ENOTFOUND);
    T_ASSERT_INT(http_auth_session_end(db, "not-a-token", &err), 0);
    db_close(&db);
    T_END();
}

int main(void)
{
    struct mb_err err = { 0 };
    if (http_auth_init(&auth, &err) != 0) {
        fprintf(stderr, "http_auth_init: %s\n", err.msg);
        return 1;
    }
    static void (*const fns[])(void) = {
        test_throttle_name,  test_throttle_addr,     test_throttle_success_clears_name,
        test_throttle_bounded, test_csrf_and_cookie, test_verify_and_sessions,
        NULL,
    };
    int rc = t_run(fns);
    http_auth_fini(&auth);
    return rc;
}
