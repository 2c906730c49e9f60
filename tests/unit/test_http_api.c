#define T_IMPLEMENTATION
#include "t.h"

/* The JSON API end to end: a real http_server on 127.0.0.1 with http_api as dispatch (no
 * workers: jobs stay pending), driven by a small HTTP/1.1 client. */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/pwhash.h"
#include "base/secret.h"
#include "base/xalloc.h"
#include "config/config.h"
#include "db/db.h"
#include "db/db_job.h"
#include "db/db_log.h"
#include "db/db_user.h"
#include "http/http_api.h"
#include "http/http_server.h"
#include "json/json_read.h"
#include "log/log.h"

#define SRC_PASSWORD "Src-Pass;word-42"
#define SRC_PASSWORD2 "Other-Secret-77"

static unsigned port;
static struct config *cfg;
static struct db *tdb;  /* the test's own handle */
static struct buf seen; /* every response, to look for passwords */

struct resp {
    int status;
    char *head; /* status line + headers */
    char *body;
    size_t len;
    struct json_value *json;
};

static void resp_fini(struct resp *r)
{
    free(r->head);
    free(r->body);
    json_free(&r->json);
    memset(r, 0, sizeof(*r));
}

/* Header value (first match, case-insensitive name) into out; 0 if absent. */
static int resp_header(const struct resp *r, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    for (const char *p = r->head; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, n, "%.*s", (int)(eol - v), v);
            return 1;
        }
        p = eol + 2;
    }
    return 0;
}

struct session {
    char cookie[128]; /* "mbx_session=..." */
    char csrf[64];
};

/* One request on a fresh connection. extra: more header lines ("A: b\r\n"), may be NULL. */
static int http(const char *method, const char *path, const struct session *s, int with_csrf,
                const char *ctype, const char *body, size_t blen, const char *extra, struct resp *r)
{
    memset(r, 0, sizeof(*r));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    struct buf req;
    buf_init(&req, (size_t)16 << 20);
    buf_printf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", method, path);
    if (s && s->cookie[0])
        buf_printf(&req, "Cookie: %s\r\n", s->cookie);
    if (s && with_csrf)
        buf_printf(&req, "X-CSRF-Token: %s\r\n", s->csrf);
    if (ctype)
        buf_printf(&req, "Content-Type: %s\r\n", ctype);
    if (extra)
        buf_puts(&req, extra);
    if (body)
        buf_printf(&req, "Content-Length: %zu\r\n", blen);
    buf_puts(&req, "\r\n");
    if (body)
        buf_append(&req, body, blen);
    size_t off = 0;
    while (off < req.len) {
        ssize_t n = send(fd, req.data + off, req.len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    buf_fini(&req);
    struct buf in;
    buf_init(&in, (size_t)64 << 20);
    char tmp[65536];
    ssize_t n;
    while ((n = recv(fd, tmp, sizeof(tmp), 0)) > 0)
        buf_append(&in, tmp, (size_t)n);
    close(fd);
    buf_append(&seen, in.data ? in.data : "", in.len);
    const char *all = buf_cstr(&in);
    const char *sep = strstr(all, "\r\n\r\n");
    if (!sep || sscanf(all, "HTTP/1.1 %d", &r->status) != 1) {
        buf_fini(&in);
        return -1;
    }
    r->head = xstrndup(all, (size_t)(sep - all) + 2);
    r->len = in.len - (size_t)(sep + 4 - all);
    r->body = xstrndup(sep + 4, r->len);
    buf_fini(&in);
    char ct[128];
    if (resp_header(r, "Content-Type", ct, sizeof(ct)) && strstr(ct, "json") && r->len) {
        struct json_limits lim = {
            .max_bytes = r->len, .max_members = 1u << 20, .max_values = 1u << 24};
        struct mb_err err;
        json_parse(r->body, r->len, &lim, &r->json, &err);
    }
    return 0;
}

static int get(const char *path, const struct session *s, struct resp *r)
{
    return http("GET", path, s, 0, NULL, NULL, 0, NULL, r);
}

static int post_json(const char *path, const struct session *s, const char *json, struct resp *r)
{
    return http("POST", path, s, 1, "application/json", json, strlen(json), NULL, r);
}

static const char *jstr(const struct json_value *o, const char *key)
{
    const char *s = NULL;
    return json_get_str(o, key, &s) == 0 ? s : NULL;
}

static int64_t jint(const struct json_value *o, const char *key)
{
    int64_t v = -1;
    json_get_int(o, key, &v);
    return v;
}

static int sign_in(const char *user, const char *password, struct session *s)
{
    char body[256];
    struct resp r;
    snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}", user, password);
    memset(s, 0, sizeof(*s));
    if (http("POST", "/api/session", NULL, 0, "application/json", body, strlen(body), NULL, &r))
        return -1;
    char sc[256];
    int ok = r.status == 200 && resp_header(&r, "Set-Cookie", sc, sizeof(sc)) && r.json
             && jstr(r.json, "csrf");
    if (ok) {
        snprintf(s->cookie, sizeof(s->cookie), "%.*s", (int)strcspn(sc, ";"), sc);
        snprintf(s->csrf, sizeof(s->csrf), "%s", jstr(r.json, "csrf"));
    }
    int status = r.status;
    resp_fini(&r);
    return ok ? 0 : status;
}

static struct session root, org, nodom;

static void test_routing(void)
{
    T_BEGIN("routing: 404 JSON for unknown paths and malformed ids, 405 with Allow");
    struct resp r;
    T_ASSERT_INT(get("/api/nope", &root, &r), 0);
    T_ASSERT_INT(r.status, 404);
    T_ASSERT(r.json && jstr(r.json, "error"));
    resp_fini(&r);
    const char *bad[] = {"/api/jobs/0",
                         "/api/jobs/01",
                         "/api/jobs/1x",
                         "/api/jobs/-1",
                         "/api/jobs/1234567890123456789",
                         "/api/jobs/",
                         "/api/jobs/1/",
                         "/api/jobs/1/nope",
                         "/api",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        T_ASSERT_INT(get(bad[i], &root, &r), 0);
        if (r.status != 404)
            fprintf(stderr, "  %s -> %d\n", bad[i], r.status);
        T_ASSERT_INT(r.status, 404);
        resp_fini(&r);
    }
    char allow[64];
    T_ASSERT_INT(http("PUT", "/api/jobs", &root, 1, NULL, NULL, 0, NULL, &r), 0);
    T_ASSERT_INT(r.status, 405);
    T_ASSERT(resp_header(&r, "Allow", allow, sizeof(allow)));
    T_ASSERT_STR(allow, "GET, HEAD, POST");
    resp_fini(&r);
    T_ASSERT_INT(http("POST", "/api/jobs/5", &root, 1, NULL, NULL, 0, NULL, &r), 0);
    T_ASSERT_INT(r.status, 405);
    T_ASSERT(resp_header(&r, "Allow", allow, sizeof(allow)));
    T_ASSERT_STR(allow, "GET, HEAD, DELETE");
    resp_fini(&r);
    T_END();
}

static void test_auth(void)
{
    T_BEGIN("sessions: 401 without, 415/400/422 bad sign-in bodies, cookie attributes, logout");
    struct resp r;
    T_ASSERT_INT(get("/api/jobs", NULL, &r), 0);
    T_ASSERT_INT(r.status, 401);
    resp_fini(&r);
    T_ASSERT_INT(get("/api/session", NULL, &r), 0);
    T_ASSERT_INT(r.status, 401);
    resp_fini(&r);
    struct session fake = {.cookie = "mbx_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    T_ASSERT_INT(get("/api/jobs", &fake, &r), 0);
    T_ASSERT_INT(r.status, 401);
    resp_fini(&r);

    const char *b = "{\"username\":\"root\",\"password\":\"rootpw\"}";
    T_ASSERT_INT(http("POST", "/api/session", NULL, 0, "text/plain", b, strlen(b), NULL, &r), 0);
    T_ASSERT_INT(r.status, 415);
    resp_fini(&r);
    T_ASSERT_INT(
        http("POST", "/api/session", NULL, 0, "application/json", "{\"username\":", 12, NULL, &r),
        0);
    T_ASSERT_INT(r.status, 400);
    resp_fini(&r);
    T_ASSERT_INT(http("POST", "/api/session", NULL, 0, "application/json; charset=utf-8",
                      "{\"username\":\"root\"}", 19, NULL, &r),
                 0);
    T_ASSERT_INT(r.status, 422);
    resp_fini(&r);
    /* one wrong password (the address' counter: 1 of 5) */
    struct session s;
    T_ASSERT_INT(sign_in("root", "wrong", &s), 401);

    b = "{\"username\":\"root\",\"password\":\"rootpw\"}";
    T_ASSERT_INT(http("POST", "/api/session", NULL, 0, "application/json", b, strlen(b), NULL, &r),
                 0);
    T_ASSERT_INT(r.status, 200);
    char sc[256];
    T_ASSERT(resp_header(&r, "Set-Cookie", sc, sizeof(sc)));
    T_ASSERT(strncmp(sc, "mbx_session=", 12) == 0);
    T_ASSERT(strstr(sc, "HttpOnly") && strstr(sc, "SameSite=Strict") && strstr(sc, "Path=/"));
    T_ASSERT(strstr(sc, "Max-Age=3600"));
    T_ASSERT(!strstr(sc, "Secure")); /* plain HTTP */
    T_ASSERT(r.json && jstr(r.json, "username") && strcmp(jstr(r.json, "username"), "root") == 0);
    int admin = 0;
    T_ASSERT(json_get_bool(r.json, "admin", &admin) == 0 && admin == 1);
    const struct json_value *d = json_obj_get(r.json, "domains");
    T_ASSERT(d && d->type == JSON_ARRAY && d->n == 0);
    resp_fini(&r);

    T_ASSERT_INT(get("/api/session", &org, &r), 0);
    T_ASSERT_INT(r.status, 200);
    T_ASSERT(r.json && jstr(r.json, "csrf") && strcmp(jstr(r.json, "csrf"), org.csrf) == 0);
    d = r.json ? json_obj_get(r.json, "domains") : NULL;
    T_ASSERT(d && d->n == 1 && strcmp(d->items[0].str, "example.org") == 0);
    resp_fini(&r);

    /* logout needs the CSRF token, then the session is gone */
    struct session tmp;
    T_ASSERT_INT(sign_in("nodom", "nodompw", &tmp), 0);
    T_ASSERT_INT(http("DELETE", "/api/session", &tmp, 0, NULL, NULL, 0, NULL, &r), 0);
    T_ASSERT_INT(r.status, 403);
    resp_fini(&r);
    T_ASSERT_INT(http("DELETE", "/api/session", &tmp, 1, NULL, NULL, 0, NULL, &r), 0);
    T_ASSERT_INT(r.status, 204);
    T_ASSERT(resp_header(&r, "Set-Cookie", sc, sizeof(sc)) && strstr(sc, "Max-Age=0"));
    resp_fini(&r);
    T_ASSERT_INT(get("/api/session", &tmp, &r), 0);
    T_ASSERT_INT(r.status, 401);
    resp_fini(&r);
    T_END();
}

static void test_csrf(void)
{
    T_BEGIN("CSRF: mutating requests need the session's X-CSRF-Token; 415 for a wrong type");
    const char *b = "{\"source_host\":\"imap.example.net\",\"source_login\":\"a@b\","
                    "\"source_password\":\"" SRC_PASSWORD "\",\"server_type\":\"defaut\","
                    "\"dest_login\":\"x@example.com\"}";
    struct resp r;
    T_ASSERT_INT(http("POST", "/api/jobs", &root, 0, "application/json", b, strlen(b), NULL, &r),
                 0);
    T_ASSERT_INT(r.status, 403);
    resp_fini(&r);
    struct session wrong = root;
    wrong.csrf[0] = wrong.csrf[0] == 'A' ? 'B' : 'A';
    T_ASSERT_INT(http("POST", "/api/jobs", &wrong, 1, "application/json", b, strlen(b), NULL, &r),
                 0);
    T_ASSERT_INT(r.status, 403);
    resp_fini(&r);
    /* another session's token does not do either */
    struct session mixed = root;
    memcpy(mixed.csrf, org.csrf, sizeof(mixed.csrf));
    T_ASSERT_INT(http("POST", "/api/jobs", &mixed, 1, "application/json", b, strlen(b), NULL, &r),
                 0);
    T_ASSERT_INT(r.status, 403);
    resp_fini(&r);
    T_ASSERT_INT(http("POST", "/api/jobs", &root, 1, "text/plain", b, strlen(b), NULL, &r), 0);
    T_ASSERT_INT(r.status, 415);
    resp_fini(&r);
    T_ASSERT_INT(http("POST", "/api/jobs", &root, 1, "application/x-www-form-urlencoded", b,
                      strlen(b), NULL, &r),
                 0);
    T_ASSERT_INT(r.status, 415);
    resp_fini(&r);
    T_END();
}

static int64_t created_root, created_org;

static void test_jobs_create(void)
{
    T_BEGIN("POST /api/jobs: 201 with the job, field errors 422, domains per account");
    struct resp r;
    const char *b = "{\"source_host\":\"IMAP.Example.net:1143\",\"source_login\":\"User@Src\","
                    "\"source_password\":\"" SRC_PASSWORD "\",\"server_type\":\"Exchange\","
                    "\"dest_login\":\"Joe@Example.COM\",\"subscribed_only\":true,"
                    "\"source_tls\":\"starttls\",\"insecure\":true}";
    T_ASSERT_INT(post_json("/api/jobs", &root, b, &r), 0);
    T_ASSERT_INT(r.status, 201);
    T_ASSERT(r.json);
    if (r.json) {
        created_root = jint(r.json, "id");
        T_ASSERT(created_root > 0);
        T_ASSERT_STR(jstr(r.json, "state"), "pending");
        T_ASSERT_STR(jstr(r.json, "source_host"), "imap.example.net");
        T_ASSERT_INT(jint(r.json, "source_port"), 1143);
        T_ASSERT_STR(jstr(r.json, "source_tls"), "starttls");
        T_ASSERT_STR(jstr(r.json, "source_login"), "User@Src");
        T_ASSERT_STR(jstr(r.json, "server_type"), "exchange");
        T_ASSERT_STR(jstr(r.json, "dest_login"), "Joe@example.com");
        T_ASSERT_STR(jstr(r.json, "owner"), "root");
        int b1 = 0, b2 = 0;
        T_ASSERT(json_get_bool(r.json, "subscribed_only", &b1) == 0 && b1);
        T_ASSERT(json_get_bool(r.json, "insecure", &b2) == 0 && b2);
        T_ASSERT(jstr(r.json, "created_at") && strlen(jstr(r.json, "created_at")) == 20);
        T_ASSERT(json_obj_get(r.json, "started_at")->type == JSON_NULL);
        T_ASSERT(json_obj_get(r.json, "batch")->type == JSON_NULL);
        const struct json_value *p = json_obj_get(r.json, "progress");
        T_ASSERT(p && p->type == JSON_OBJECT && jint(p, "messages_total") == 0);
        char loc[64], want[64];
        snprintf(want, sizeof(want), "/api/jobs/%lld", (long long)created_root);
        T_ASSERT(resp_header(&r, "Location", loc, sizeof(loc)));
        T_ASSERT_STR(loc, want);
    }
    resp_fini(&r);
    /* the password is stored sealed, never in clear */
    unsigned char *blob = NULL;
    size_t blen = 0;
    struct mb_err err;
    T_ASSERT_INT(db_job_get_secret(tdb, created_root, &blob, &blen, &err), 0);
    T_ASSERT(blob && blen == strlen(SRC_PASSWORD) + SECRET_BOX_OVERHEAD);
    T_ASSERT(blob && !memmem(blob, blen, SRC_PASSWORD, strlen(SRC_PASSWORD)));
    free(blob);

    /* gmail: empty host = the preset's host, port 993 */
    b = "{\"source_login\":\"g@gmail.com\",\"source_password\":\"" SRC_PASSWORD "\","
        "\"server_type\":\"gmail\",\"dest_login\":\"g@example.org\"}";
    T_ASSERT_INT(post_json("/api/jobs", &root, b, &r), 0);
    T_ASSERT_INT(r.status, 201);
    T_ASSERT(r.json && strcmp(jstr(r.json, "source_host"), "imap.gmail.com") == 0
             && jint(r.json, "source_port") == 993);
    resp_fini(&r);

    /* field errors, all reported at once */
    b = "{\"source_host\":\"bad host!\",\"source_login\":\"\",\"server_type\":\"lotus\","
        "\"dest_login\":\"a@elsewhere.net\",\"subscribed_only\":\"yes\",\"colour\":1}";
    T_ASSERT_INT(post_json("/api/jobs", &root, b, &r), 0);
    T_ASSERT_INT(r.status, 422);
    const struct json_value *e = r.json ? json_obj_get(r.json, "errors") : NULL;
    T_ASSERT(e && e->type == JSON_ARRAY);
    const char *want_fields[] = {"source_host", "source_login", "source_password",
                                 "server_type", "dest_login",   "subscribed_only",
                                 NULL};
    for (int i = 0; e && want_fields[i]; i++) {
        int found = 0;
        for (size_t j = 0; j < e->n; j++) {
            const char *f = jstr(&e->items[j], "field");
            if (f && strcmp(f, want_fields[i]) == 0 && jstr(&e->items[j], "message"))
                found = 1;
        }
        if (!found)
            fprintf(stderr, "  no error for %s\n", want_fields[i]);
        T_ASSERT(found);
    }
    resp_fini(&r);
    /* a host is required for exchange */
    b = "{\"source_login\":\"a\",\"source_password\":\"p\",\"server_type\":\"exchange\","
        "\"dest_login\":\"a@example.com\"}";
    T_ASSERT_INT(post_json("/api/jobs", &root, b, &r), 0);
    T_ASSERT_INT(r.status, 422);
    T_ASSERT(r.body && strstr(r.body, "\"field\":\"source_host\""));
    resp_fini(&r);
    /* a local part needs exactly one domain: root has none and two are hosted */
    b = "{\"source_host\":\"h.example\",\"source_login\":\"a\",\"source_password\":\"p\","
        "\"server_type\":\"defaut\",\"dest_login\":\"joe\"}";
    T_ASSERT_INT(post_json("/api/jobs", &root, b, &r), 0);
    T_ASSERT_INT(r.status, 422);
    T_ASSERT(r.body && strstr(r.body, "\"field\":\"dest_login\""));
    resp_fini(&r);
    /* French messages on demand */
    T_ASSERT_INT(http("POST", "/api/jobs", &root, 1, "application/json", b, strlen(b),
                      "Accept-Language: fr-FR,fr;q=0.9\r\n", &r),
                 0);
    T_ASSERT(r.body && strstr(r.body, "adresse compl"));
    /* each field error with its code and parameters, and the first one's at the top */
    T_ASSERT(r.body
             && strstr(r.body, "\"field\":\"dest_login\",\"message\":\"indiquez l'adresse "
                               "complète (nom@domaine)\",\"code\":\"api_full_address_"
                               "required\",\"params\":{}"));
    T_ASSERT(r.json && jstr(r.json, "code") && strncmp(jstr(r.json, "code"), "api_", 4) == 0);
    resp_fini(&r);

    /* the example.org account: a local part gets its domain; example.com is refused */
    b = "{\"source_host\":\"h.example\",\"source_login\":\"o@src\",\"source_password\":"
        "\"" SRC_PASSWORD2 "\",\"server_type\":\"defaut\",\"dest_login\":\"bob\"}";
    T_ASSERT_INT(post_json("/api/jobs", &org, b, &r), 0);
    T_ASSERT_INT(r.status, 201);
    T_ASSERT(r.json && strcmp(jstr(r.json, "dest_login"), "bob@example.org") == 0);
    created_org = r.json ? jint(r.json, "id") : 0;
    resp_fini(&r);
    b = "{\"source_host\":\"h.example\",\"source_login\":\"o@src\",\"source_password\":\"p\","
        "\"server_type\":\"defaut\",\"dest_login\":\"bob@example.com\"}";
    T_ASSERT_INT(post_json("/api/jobs", &org, b, &r), 0);
    T_ASSERT_INT(r.status, 422);
    T_ASSERT(r.body && strstr(r.body, "not one of your domains"));
    resp_fini(&r);
    /* an account without domains may not create anything */
    T_ASSERT_INT(post_json("/api/jobs", &nodom, b, &r), 0);
    T_ASSERT_INT(r.status, 422);
    resp_fini(&r);
    T_END();
}

static void test_jobs_visibility(void)
{
    T_BEGIN("domains: lists filtered, 404 on another domain's job, filters and paging");
    struct resp r;
    char path[128];
    T_ASSERT_INT(get("/api/jobs", &org, &r), 0);
    T_ASSERT_INT(r.status, 200);
    const struct json_value *jobs = r.json ? json_obj_get(r.json, "jobs") : NULL;
    T_ASSERT(jobs && jobs->type == JSON_ARRAY);
    /* org sees its own job and root's gmail job (both example.org), not the example.com one */
    T_ASSERT_INT(r.json ? jint(r.json, "total") : -1, 2);
    for (size_t i = 0; jobs && i < jobs->n; i++)
        T_ASSERT(strstr(jstr(&jobs->items[i], "dest_login"), "@example.org") != NULL);
    resp_fini(&r);
    T_ASSERT_INT(get("/api/jobs", &nodom, &r), 0);
    T_ASSERT_INT(r.json ? jint(r.json, "total") : -1, 0);
    resp_fini(&r);
    T_ASSERT_INT(get("/api/jobs?limit=1&offset=1", &root, &r), 0);
    T_ASSERT_INT(r.status, 200);
    T_ASSERT_INT(r.json ? jint(r.json, "total") : -1, 3);
    jobs = r.json ? json_obj_get(r.json, "jobs") : NULL;
    T_ASSERT(jobs && jobs->n == 1);
    resp_fini(&r);
    T_ASSERT_INT(get("/api/jobs?q=USER%40src&state=pending", &root, &r), 0);
    T_ASSERT_INT(r.json ? jint(r.json, "total") : -1, 1);
    resp_fini(&r);
    const char *bad[] = {"/api/jobs?state=done2",
                         "/api/jobs?limit=0",
                         "/api/jobs?limit=1001",
                         "/api/jobs?offset=-1",
                         "/api/jobs?batch=x",
                         "/api/jobs?limit=01",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        T_ASSERT_INT(get(bad[i], &root, &r), 0);
        T_ASSERT_INT(r.status, 400);
        resp_fini(&r);
    }

    snprintf(path, sizeof(path), "/api/jobs/%lld", (long long)created_root);
    T_ASSERT_INT(get(path, &org, &r), 0);
    T_ASSERT_INT(r.status, 404);
    resp_fini(&r);
    T_ASSERT_INT(http("DELETE", path, &org, 1, NULL, NULL, 0, NULL, &r), 0);
    T_ASSERT_INT(r.status, 404);
    resp_fini(&r);
    snprintf(path, sizeof(path), "/api/jobs/%lld/cancel", (long long)created_root);
    T_ASSERT_INT(http("POST", path, &org, 1, NULL, NULL, 0, NULL, &r), 0);
    T_ASSERT_INT(r.status, 404);
    resp_fini(&r);
    snprintf(path, sizeof(path), "/api/jobs/%lld/log", (long long)created_root);
    T_ASSERT_INT(get(path, &org, &r), 0);
    T_ASSERT_INT(r.status, 404);
    resp_fini(&r);
    /* the admin sees every job */
    snprintf(path, sizeof(path), "/api/jobs/%lld", (long long)created_org);
    T_ASSERT_INT(get(path, &root, &r), 0);
    T_ASSERT_INT(r.status, 200);
    T_ASSERT(r.json && json_obj_get(r.json, "report"));
    resp_fini(&r);
    T_ASSERT_INT(get("/api/jobs/999999", &root, &r), 0);
    T_ASSERT_INT(r.status, 404);
    resp_fini(&r);
    T_END();
}

static void test_jobs_actions(void)
{
    T_BEGIN("cancel, finalize, delta, retry (password required once erased), delete, log");
    struct resp r;
    char path[128];
    struct mb_err err;
    T_ASSERT_INT(db_log_add(tdb, created_org, DB_LOG_INFO, "first line"), 0);
    T_ASSERT_INT(db_log_add(tdb, created_org, DB_LOG_WARN, "second line"), 0);
    snprintf(path, sizeof(path), "/api/jobs/%lld/log", (long long)created_org);
    T_ASSERT_INT(get(path, &org, &r), 0);
    T_ASSERT_INT(r.status, 200);
    const struct json_value *lines = r.json ? json_obj_get(r.json, "lines") : NULL;
    T_ASSERT(lines && lines->n == 2);
    int64_t first_id = lines && lines->n ? jint(&lines->items[0], "id") : 0;
    if (lines && lines->n == 2) {
        T_ASSERT_STR(jstr(&lines->items[0], "text"), "first line");
        T_ASSERT_STR(jstr(&lines->items[1], "level"), "warn");
        T_ASSERT(jstr(&lines->items[1], "ts") && strlen(jstr(&lines->items[1], "ts")) == 20);
        T_ASSERT(jstr(&lines->items[1], "time")
                 && strcmp(jstr(&lines->items[1], "time"), jstr(&lines->items[1], "ts")) == 0);
    }
    resp_fini(&r);
    snprintf(path, sizeof(path), "/api/jobs/%lld/log?after=%lld", (long long)created_org,
             (long long)first_id);
    T_ASSERT_INT(get(path, &org, &r), 0);
    lines = r.json ? json_obj_get(r.json, "lines") : NULL;
    T_ASSERT(lines && lines->n == 1);
    resp_fini(&r);

    snprintf(path, sizeof(path), "/api/jobs/%lld/cancel", (long long)created_org);
    T_ASSERT_INT(http("POST", path, &org, 1, NULL, NULL, 0, NULL, &r), 0);
    T_ASSERT_INT(r.status, 200);
    T_ASSERT(r.json && strcmp(jstr(r.json, "state"), "failed") == 0);
    const struct json_value *je = r.json ? json_obj_get(r.json, "error") : NULL;
    T_ASSERT(je && jstr(je, "code") && strcmp(jstr(je, "code"), "cancelled") == 0);
    T_ASSERT(je && jstr(je, "text") && strcmp(jstr(je, "text"), "cancelled") == 0);
    T_ASSERT(je && json_obj_get(je, "params") && json_obj_get(je, "params")->type == JSON_OBJECT);
    int stored = 0;
    /* kept after the end (delta passes) until finalized */
    T_ASSERT(r.json && json_get_bool(r.json, "password_stored", &stored) == 0 && stored);
    T_ASSERT(r.json && jstr(r.json, "credentials_kept_until") != NULL);
    resp_fini(&r);
    /* the error and the log in the request's language (Accept-Language) */
    snprintf(path, sizeof(path), "/api/jobs/%lld", (long long)created_org);
    T_ASSERT_INT(
        http("GET", path, &org, 0, NULL, NULL, 0, "Accept-Language: fr-FR,fr;q=0.9\r\n", &r), 0);
    je = r.json ? json_obj_get(r.json, "error") : NULL;
    T_ASSERT(je && strcmp(jstr(je, "code"), "cancelled") == 0
             && strcmp(jstr(je, "text"), "tâche annulée") == 0);
    resp_fini(&r);
    struct mb_err line;
    MB_MSG(&line, 0, LOG_FOLDER_DONE, "INBOX", 3, 0, 1);
    T_ASSERT_INT(db_log_add_msg(tdb, created_org, DB_LOG_INFO, &line), 0);
    snprintf(path, sizeof(path), "/api/jobs/%lld/log?after=%lld", (long long)created_org,
             (long long)first_id);
    T_ASSERT_INT(http("GET", path, &org, 0, NULL, NULL, 0, "Accept-Language: fr\r\n", &r), 0);
    lines = r.json ? json_obj_get(r.json, "lines") : NULL;
    T_ASSERT(lines && lines->n == 2);
    if (lines && lines->n == 2) {
        T_ASSERT_STR(jstr(&lines->items[0], "code"), "text");
        T_ASSERT_STR(jstr(&lines->items[0], "text"), "second line");
        T_ASSERT_STR(jstr(&lines->items[1], "code"), "log_folder_done");
        T_ASSERT_STR(jstr(&lines->items[1], "text"),
                     "dossier INBOX : 3 copié(s), 0 déjà présent(s), 1 refusé(s)");
        const struct json_value *pp = json_obj_get(&lines->items[1], "params");
        T_ASSERT(pp && jstr(pp, "folder") && strcmp(jstr(pp, "folder"), "INBOX") == 0);
    }
    resp_fini(&r);
    T_ASSERT_INT(http("GET", path, &org, 0, NULL, NULL, 0, NULL, &r), 0);
    lines = r.json ? json_obj_get(r.json, "lines") : NULL;
    T_ASSERT(lines && lines->n == 2
             && strcmp(jstr(&lines->items[1], "text"),
                       "folder INBOX: 3 copied, 0 already there, 1 refused")
                    == 0);
    resp_fini(&r);
    /* the catalogue, without signing in */
    T_ASSERT_INT(http("GET", "/api/messages", NULL, 0, NULL, NULL, 0, NULL, &r), 0);
    T_ASSERT_INT(r.status, 200);
    const struct json_value *cat = r.json ? json_obj_get(r.json, "cancelled") : NULL;
    T_ASSERT(cat && jstr(cat, "fr") && strcmp(jstr(cat, "fr"), "tâche annulée") == 0);
    resp_fini(&r);
    snprintf(path, sizeof(path), "/api/jobs/%lld/cancel", (long long)created_org);

    T_ASSERT_INT(http("POST", path, &org, 1, NULL, NULL, 0, NULL, &r), 0);
    T_ASSERT_INT(r.status, 409);
    resp_fini(&r);
    snprintf(path, sizeof(path), "/api/jobs/%lld/finalize", (long long)created_org);
    T_ASSERT_INT(http("POST", path, &org, 0, NULL, NULL, 0, NULL, &r), 0);
    T_ASSERT_INT(r.status, 403); /* CSRF */
    resp_fini(&r);
    T_ASSERT_INT(http("POST", path, &org, 1, NULL, NULL, 0, NULL, &r), 0);
    T_ASSERT_INT(r.status, 200);
    stored = 1;
    T_ASSERT(r.json && json_get_bool(r.json, "password_stored", &stored) == 0 && !stored);
    int fin = 0;
    T_ASSERT(r.json && json_get_bool(r.json, "finalized", &fin) == 0 && fin);
    resp_fini(&r);
    snprintf(path, sizeof(path), "/api/jobs/%lld/delta", (long long)created_org);
    T_ASSERT_INT(http("POST", path, &org, 1, NULL, NULL, 0, NULL, &r), 0);
    T_ASSERT_INT(r.status, 409);
    T_ASSERT(r.json && jstr(r.json, "error") && strstr(jstr(r.json, "error"), "finalized"));
    resp_fini(&r);

    snprintf(path, sizeof(path), "/api/jobs/%lld/retry", (long long)created_org);
    T_ASSERT_INT(http("POST", path, &org, 1, NULL, NULL, 0, NULL, &r), 0);
    T_ASSERT_INT(r.status, 422);
    T_ASSERT(r.json && strcmp(jstr(r.json, "error"), "password required") == 0);
    resp_fini(&r);
    T_ASSERT_INT(http("POST", path, &org, 1, "text/plain", "x", 1, NULL, &r), 0);
    T_ASSERT_INT(r.status, 415);
    resp_fini(&r);
    T_ASSERT_INT(post_json(path, &org, "{\"source_password\":\"" SRC_PASSWORD2 "\"}", &r), 0);
    T_ASSERT_INT(r.status, 200);
    T_ASSERT(r.json && strcmp(jstr(r.json, "state"), "pending") == 0);
    T_ASSERT(r.json && json_get_bool(r.json, "password_stored", &stored) == 0 && stored);
    resp_fini(&r);
    T_ASSERT_INT(post_json(path, &org, "{\"source_password\":\"x\"}", &r), 0);
    T_ASSERT_INT(r.status, 409);
    resp_fini(&r);
    struct secret_box *box = NULL;
    (void)box;

    snprintf(path, sizeof(path), "/api/jobs/%lld", (long long)created_org);
    T_ASSERT_INT(http("DELETE", path, &org, 0, NULL, NULL, 0, NULL, &r), 0);
    T_ASSERT_INT(r.status, 403);
    resp_fini(&r);
    T_ASSERT_INT(http("DELETE", path, &org, 1, NULL, NULL, 0, NULL, &r), 0);
    T_ASSERT_INT(r.status, 204);
    resp_fini(&r);
    T_ASSERT_INT(get(path, &org, &r), 0);
    T_ASSERT_INT(r.status, 404);
    resp_fini(&r);
    unsigned char *blob = NULL;
    size_t blen = 0;
    T_ASSERT_INT(db_job_get_secret(tdb, created_org, &blob, &blen, &err), MB_ENOTFOUND);
    free(blob);
    T_END();
}

static const char sample_ok[] =
    "login_source;pass_source;host_source;type_messagerie;login_destination;subscribed_only\r\n"
    "a@src.net;\"" SRC_PASSWORD "\";imap.src.net;defaut;a@example.com;False\r\n"
    "b@src.net;\"pa;ss\";imap.src.net:143;exchange;b@example.org;True\r\n"
    "c@gmail.com;" SRC_PASSWORD2 ";;gmail;c@example.com;\r\n";

static void test_imports(void)
{
    T_BEGIN("POST /api/imports: dry run, 422 errors with nothing queued, 201 batch, 413, 415");
    struct resp r;
    T_ASSERT_INT(http("POST", "/api/imports?dry_run=1", &root, 1, "text/csv", sample_ok,
                      strlen(sample_ok), NULL, &r),
                 0);
    T_ASSERT_INT(r.status, 200);
    const struct json_value *bv = r.json ? json_obj_get(r.json, "batch") : NULL;
    T_ASSERT(bv && bv->type == JSON_NULL);
    const struct json_value *jobs = r.json ? json_obj_get(r.json, "jobs") : NULL;
    T_ASSERT(jobs && jobs->n == 3);
    if (jobs && jobs->n == 3) {
        T_ASSERT_INT(jint(&jobs->items[0], "line"), 2);
        T_ASSERT_INT(jint(&jobs->items[1], "source_port"), 143);
        T_ASSERT_STR(jstr(&jobs->items[2], "source_host"), "imap.gmail.com");
        T_ASSERT(!json_obj_get(&jobs->items[0], "source_password"));
    }
    resp_fini(&r);

    int64_t before[5], after[5];
    struct mb_err err;
    db_job_count_by_state(tdb, before, &err);
    const char *bad = "a@src.net;;imap.src.net;defaut;a@example.com;False\n"
                      "b@src.net;p;imap.src.net;lotus;b@example.com;False\n";
    T_ASSERT_INT(http("POST", "/api/imports", &root, 1, "text/csv", bad, strlen(bad), NULL, &r), 0);
    T_ASSERT_INT(r.status, 422);
    const struct json_value *e = r.json ? json_obj_get(r.json, "errors") : NULL;
    T_ASSERT(e && e->n == 2);
    if (e && e->n == 2) {
        T_ASSERT_INT(jint(&e->items[0], "line"), 1);
        T_ASSERT_INT(jint(&e->items[0], "column"), 2);
        T_ASSERT_STR(jstr(&e->items[0], "message"), "pass_source is empty");
        T_ASSERT_INT(jint(&e->items[1], "line"), 2);
        T_ASSERT_INT(jint(&e->items[1], "column"), 4);
    }
    resp_fini(&r);
    /* The same file for a French page: French messages, same lines and columns. */
    T_ASSERT_INT(http("POST", "/api/imports", &root, 1, "text/csv", bad, strlen(bad),
                      "Accept-Language: fr\r\n", &r),
                 0);
    T_ASSERT_INT(r.status, 422);
    e = r.json ? json_obj_get(r.json, "errors") : NULL;
    T_ASSERT(e && e->n == 2);
    if (e && e->n == 2) {
        T_ASSERT_INT(jint(&e->items[0], "line"), 1);
        T_ASSERT_INT(jint(&e->items[0], "column"), 2);
        T_ASSERT_STR(jstr(&e->items[0], "message"), "pass_source est vide");
        T_ASSERT_INT(jint(&e->items[1], "column"), 4);
        T_ASSERT_STR(jstr(&e->items[1], "message"),
                     "type_messagerie inconnu (attendu : gmail, exchange, office, domino ou "
                     "defaut)");
    }
    const char *summary = r.json ? jstr(r.json, "error") : NULL;
    T_ASSERT(summary && strstr(summary, "aucune migration"));
    resp_fini(&r);
    db_job_count_by_state(tdb, after, &err);
    T_ASSERT_INT(after[0], before[0]);

    /* a domain account may only import into its domains */
    T_ASSERT_INT(
        http("POST", "/api/imports", &org, 1, "text/csv", sample_ok, strlen(sample_ok), NULL, &r),
        0);
    T_ASSERT_INT(r.status, 422);
    T_ASSERT(r.body && strstr(r.body, "not one of your domains"));
    resp_fini(&r);

    T_ASSERT_INT(http("POST", "/api/imports", &root, 1, "text/csv; charset=utf-8", sample_ok,
                      strlen(sample_ok), NULL, &r),
                 0);
    T_ASSERT_INT(r.status, 201);
    int64_t batch = r.json ? jint(r.json, "batch") : -1;
    T_ASSERT(batch > 0);
    jobs = r.json ? json_obj_get(r.json, "jobs") : NULL;
    T_ASSERT(jobs && jobs->n == 3);
    resp_fini(&r);
    char path[64];
    snprintf(path, sizeof(path), "/api/jobs?batch=%lld", (long long)batch);
    T_ASSERT_INT(get(path, &root, &r), 0);
    T_ASSERT_INT(r.json ? jint(r.json, "total") : -1, 3);
    jobs = r.json ? json_obj_get(r.json, "jobs") : NULL;
    T_ASSERT(jobs && jobs->n == 3 && jint(&jobs->items[0], "batch") == batch);
    resp_fini(&r);

    T_ASSERT_INT(http("POST", "/api/imports", &root, 1, "application/json", sample_ok,
                      strlen(sample_ok), NULL, &r),
                 0);
    T_ASSERT_INT(r.status, 415);
    resp_fini(&r);
    T_ASSERT_INT(http("POST", "/api/imports?dry_run=yes", &root, 1, "text/csv", sample_ok,
                      strlen(sample_ok), NULL, &r),
                 0);
    T_ASSERT_INT(r.status, 400);
    resp_fini(&r);
    size_t big = 70 * 1024;
    char *huge = xmalloc(big);
    memset(huge, 'a', big);
    T_ASSERT_INT(http("POST", "/api/imports", &root, 1, "text/csv", huge, big, NULL, &r), 0);
    T_ASSERT_INT(r.status, 413);
    resp_fini(&r);
    free(huge);
    T_END();
}

static void test_sample(void)
{
    T_BEGIN("GET /api/sample.csv: attachment with the account's (or the first hosted) domain");
    struct resp r;
    char v[128];
    T_ASSERT_INT(get("/api/sample.csv", &org, &r), 0);
    T_ASSERT_INT(r.status, 200);
    T_ASSERT(resp_header(&r, "Content-Type", v, sizeof(v)) && strncmp(v, "text/csv", 8) == 0);
    T_ASSERT(resp_header(&r, "Content-Disposition", v, sizeof(v))
             && strcmp(v, "attachment; filename=\"exemple-migration.csv\"") == 0);
    T_ASSERT(r.body && strncmp(r.body, "login_source;pass_source;", 25) == 0);
    T_ASSERT(r.body && strstr(r.body, "@example.org") && !strstr(r.body, "votreDomaine"));
    resp_fini(&r);
    T_ASSERT_INT(get("/api/sample.csv", &root, &r), 0);
    T_ASSERT(r.body && strstr(r.body, "@example.com"));
    resp_fini(&r);
    T_ASSERT_INT(get("/api/sample.csv", NULL, &r), 0);
    T_ASSERT_INT(r.status, 401);
    resp_fini(&r);
    T_END();
}

static void test_check(void)
{
    T_BEGIN("POST /api/check: validation, then both sides reported (nothing listens here)");
    struct resp r;
    T_ASSERT_INT(post_json("/api/check", &root, "{\"server_type\":\"defaut\"}", &r), 0);
    T_ASSERT_INT(r.status, 422);
    resp_fini(&r);
    const char *b = "{\"source_host\":\"127.0.0.1:1\",\"source_login\":\"a\",\"source_password\":"
                    "\"" SRC_PASSWORD "\",\"server_type\":\"defaut\",\"source_tls\":\"none\","
                    "\"dest_login\":\"a@example.com\"}";
    T_ASSERT_INT(post_json("/api/check", &root, b, &r), 0);
    T_ASSERT_INT(r.status, 200);
    const struct json_value *s = r.json ? json_obj_get(r.json, "source") : NULL;
    const struct json_value *d = r.json ? json_obj_get(r.json, "destination") : NULL;
    int ok = 1;
    T_ASSERT(s && json_get_bool(s, "ok", &ok) == 0 && ok == 0 && jstr(s, "error"));
    T_ASSERT(s && json_obj_get(s, "folders") && json_obj_get(s, "folders")->type == JSON_ARRAY);
    T_ASSERT(d && json_get_bool(d, "ok", &ok) == 0 && ok == 0 && jstr(d, "error"));
    resp_fini(&r);
    T_END();
}

static void test_health_metrics(void)
{
    T_BEGIN("GET /healthz and /metrics without a session");
    struct resp r;
    T_ASSERT_INT(get("/healthz", NULL, &r), 0);
    T_ASSERT_INT(r.status, 200);
    T_ASSERT(r.json && strcmp(jstr(r.json, "status"), "ok") == 0);
    resp_fini(&r);
    T_ASSERT_INT(get("/metrics", NULL, &r), 0);
    T_ASSERT_INT(r.status, 200);
    char v[128];
    T_ASSERT(resp_header(&r, "Content-Type", v, sizeof(v)) && strstr(v, "text/plain"));
    T_ASSERT(r.body && strstr(r.body, "\nmigrabox_jobs{state=\"pending\"} 5\n"));
    T_ASSERT(r.body && strstr(r.body, "\nmigrabox_jobs{state=\"failed\"} 0\n"));
    T_ASSERT(r.body && strstr(r.body, "# TYPE migrabox_messages_copied_total "));
    T_ASSERT(r.body && strstr(r.body, "\nmigrabox_workers_busy 0\n"));
    T_ASSERT(r.body && strstr(r.body, "migrabox_build_info{version=\""));
    resp_fini(&r);
    T_ASSERT_INT(http("POST", "/healthz", NULL, 0, NULL, NULL, 0, NULL, &r), 0);
    T_ASSERT_INT(r.status, 405);
    resp_fini(&r);
    T_END();
}

static void test_throttle(void)
{
    T_BEGIN("sign-in throttling: 429 with Retry-After after 5 failures");
    struct session s;
    struct resp r;
    /* one failure happened in test_auth; four more reach the limit for this address */
    for (int i = 0; i < HTTP_MAX_CONN_DEFAULT && i < 4; i++)
        T_ASSERT_INT(sign_in("victim", "guess", &s), 401);
    const char *b = "{\"username\":\"root\",\"password\":\"rootpw\"}";
    T_ASSERT_INT(http("POST", "/api/session", NULL, 0, "application/json", b, strlen(b), NULL, &r),
                 0);
    T_ASSERT_INT(r.status, 429);
    char v[32];
    T_ASSERT(resp_header(&r, "Retry-After", v, sizeof(v)) && atoi(v) > 0 && atoi(v) <= 900);
    T_ASSERT(r.json && jint(r.json, "retry_after") > 0);
    resp_fini(&r);
    T_END();
}

static void test_no_password(void)
{
    T_BEGIN("no password in any response");
    T_ASSERT(!memmem(seen.data, seen.len, SRC_PASSWORD, strlen(SRC_PASSWORD)));
    T_ASSERT(!memmem(seen.data, seen.len, SRC_PASSWORD2, strlen(SRC_PASSWORD2)));
    T_ASSERT(!memmem(seen.data, seen.len, "rootpw", 6));
    T_ASSERT(seen.len > 10000);
    T_END();
}

static int add_user(const char *name, const char *pw, int admin, const char *dom)
{
    char hash[PWHASH_MAX_LEN];
    struct mb_err err;
    const char *doms[1] = {dom};
    if (pwhash_make_iter(pw, strlen(pw), 1000, hash, &err) != 0)
        return -1;
    return db_user_add(tdb, name, hash, admin, dom ? doms : NULL, dom ? 1 : 0, NULL, &err);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const char *dir = t_tmpdir();
    char path[512], dbpath[512], keypath[512];
    snprintf(path, sizeof(path), "%s/m.conf", dir);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "[server]\nlisten = 127.0.0.1:0\ndata_dir = %s\nmax_upload_bytes = 64K\n"
            "session_ttl = 1h\n[destination]\nhost = 127.0.0.1\nport = 1\ntls = none\n"
            "master_password = mpw\ndomains = example.com, example.org\nconnect_timeout = 5\n",
            dir);
    fclose(f);
    struct mb_err err = {0};
    if (config_load(path, &cfg, &err) != 0) {
        fprintf(stderr, "config: %s\n", err.msg);
        return 1;
    }
    snprintf(dbpath, sizeof(dbpath), "%s/migrabox.db", dir);
    snprintf(keypath, sizeof(keypath), "%s/secret.key", dir);
    struct secret_box box;
    if (secret_box_load(&box, keypath, &err) != 0 || db_open(dbpath, &tdb, &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    if (add_user("root", "rootpw", 1, NULL) || add_user("orgadmin", "orgpw", 0, "example.org")
        || add_user("nodom", "nodompw", 0, NULL)) {
        fprintf(stderr, "cannot add users\n");
        return 1;
    }
    struct http_api *api = NULL;
    struct http_server *srv = NULL;
    if (http_api_new(cfg, dbpath, &box, NULL, &api, &err) != 0) {
        fprintf(stderr, "api: %s\n", err.msg);
        return 1;
    }
    struct http_server_opts o = {.listen_host = "127.0.0.1",
                                 .listen_port = 0,
                                 .max_body = (size_t)cfg->server.max_upload_bytes,
                                 .dispatch = http_api_dispatch,
                                 .app = api};
    if (http_server_start(&o, &srv, &err) != 0) {
        fprintf(stderr, "server: %s\n", err.msg);
        return 1;
    }
    port = http_server_port(srv);
    buf_init(&seen, (size_t)256 << 20);
    if (sign_in("root", "rootpw", &root) || sign_in("orgadmin", "orgpw", &org)
        || sign_in("nodom", "nodompw", &nodom)) {
        fprintf(stderr, "cannot sign in\n");
        return 1;
    }
    static void (*const fns[])(void) = {
        test_routing,      test_auth,        test_csrf,   test_jobs_create, test_jobs_visibility,
        test_jobs_actions, test_imports,     test_sample, test_check,       test_health_metrics,
        test_throttle,     test_no_password, NULL,
    };
    int rc = t_run(fns);
    http_server_stop(&srv);
    http_api_free(&api);
    buf_fini(&seen);
    db_close(&tdb);
    secret_box_fini(&box);
    config_free(&cfg);
    return rc;
}
