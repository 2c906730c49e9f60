#define T_IMPLEMENTATION
#include "t.h"

/* http_client against in-process loopback HTTP servers (Content-Length, chunked, close-
 * delimited answers, limits, a slow drip, an endless body, not HTTP); jwt (base64url, RS256
 * and PS256 signatures verified with mbedTLS, x5t thumbprints); oauth (token requests per
 * kind, answer parsing and the worded errors, profile validation, the renewal margin). The
 * HTTPS path and the token cache are covered by tests/integ/test_oauth.sh. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "auth/auth_store.h"
#include "auth/jwt.h"
#include "auth/oauth.h"
#include "base/buf.h"
#include "base/xalloc.h"
#include "db/db.h"
#include "db/db_profile.h"
#include "json/json_read.h"
#include "json/json_write.h"
#include "net/http_client.h"

/* ---- a scripted HTTP server ---- */

enum srv_mode {
    S_CLEN,
    S_CHUNKED,
    S_EOF,
    S_BIG,
    S_DRIP,
    S_ENDLESS,
    S_GARBAGE,
    S_HUGEHDR,
    S_CLEN_SHORT
};

struct srv {
    int lfd;
    unsigned port;
    enum srv_mode mode;
    pthread_t th;
    char request[8192];
    size_t request_len;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int put(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    /* read the request head and its body */
    size_t n = 0;
    long long want = -1;
    while (n < sizeof(s->request) - 1) {
        ssize_t r = read(fd, s->request + n, sizeof(s->request) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        s->request[n] = 0;
        char *e = strstr(s->request, "\r\n\r\n");
        if (e && want < 0) {
            char *cl = strstr(s->request, "Content-Length: ");
            want = (e + 4 - s->request) + (cl ? atoll(cl + 16) : 0);
        }
        if (want >= 0 && (long long)n >= want)
            break;
    }
    s->request_len = n;
    static const char json[] = "{\"ok\":true}";
    switch (s->mode) {
    case S_CLEN:
        put(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: Application/JSON; "
                "charset=utf-8\r\nContent-Length: 11\r\n\r\n{\"ok\":true}");
        break;
    case S_CLEN_SHORT: put(fd, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{\"ok\":true}"); break;
    case S_CHUNKED:
        put(fd, "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
                "4;ext=1\r\n{\"ok\r\n7\r\n\":true}\r\n0\r\nX-Trailer: 1\r\n\r\n");
        break;
    case S_EOF:
        put(fd, "HTTP/1.0 200 OK\r\n\r\n");
        put(fd, json);
        break;
    case S_BIG: put(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\n\r\n"); break;
    case S_DRIP:
        put(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
        for (int i = 0; i < 100; i++) {
            if (put(fd, "x"))
                break;
            usleep(100000);
        }
        break;
    case S_ENDLESS: {
        put(fd, "HTTP/1.1 200 OK\r\n\r\n");
        char blk[4096];
        memset(blk, 'a', sizeof(blk) - 1);
        blk[sizeof(blk) - 1] = 0;
        for (int i = 0; i < 100000; i++)
            if (put(fd, blk))
                break;
        break;
    }
    case S_GARBAGE: put(fd, "* OK IMAP4rev1 ready\r\n"); break;
    case S_HUGEHDR: {
        put(fd, "HTTP/1.1 200 OK\r\n");
        char blk[1025];
        memset(blk, 'h', 1024);
        blk[1024] = 0;
        put(fd, "X-Big: ");
        for (int i = 0; i < 40; i++)
            if (put(fd, blk))
                break;
        put(fd, "\r\n\r\n");
        break;
    }
    }
    shutdown(fd, SHUT_WR);
    char c[256];
    while (read(fd, c, sizeof(c)) > 0)
        ;
    close(fd);
    return NULL;
}

static int srv_start(struct srv *s, enum srv_mode mode)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (bind(s->lfd, (struct sockaddr *)&a, len) || listen(s->lfd, 4)
        || getsockname(s->lfd, (struct sockaddr *)&a, &len))
        return -1;
    s->port = ntohs(a.sin_port);
    return pthread_create(&s->th, NULL, srv_main, s);
}

static void srv_stop(struct srv *s)
{
    pthread_join(s->th, NULL);
    close(s->lfd);
}

static int post(struct srv *s, int deadline_ms, struct http_response *resp, struct mb_err *err)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/tok/x?y=1", s->port);
    struct http_request rq = {.url = url,
                              .content_type = "application/x-www-form-urlencoded",
                              .body = "a=b",
                              .body_len = 3,
                              .allow_plain = 1,
                              .io_timeout_ms = 2000,
                              .deadline_ms = deadline_ms};
    return http_post(&rq, resp, err);
}

static void test_url(void)
{
    T_BEGIN("http_url_parse: https default port, explicit port, IPv6, refusals");
    struct http_url u;
    T_ASSERT_INT(http_url_parse("https://login.example.com/t/oauth2/v2.0/token", &u, NULL), 0);
    T_ASSERT(u.tls && u.port == 443);
    T_ASSERT_STR(u.host, "login.example.com");
    T_ASSERT_STR(u.path, "/t/oauth2/v2.0/token");
    T_ASSERT_INT(http_url_parse("https://127.0.0.1:8443", &u, NULL), 0);
    T_ASSERT(u.port == 8443);
    T_ASSERT_STR(u.path, "/");
    T_ASSERT_INT(http_url_parse("https://[::1]:99/a?b", &u, NULL), 0);
    T_ASSERT_STR(u.host, "::1");
    T_ASSERT_STR(u.path, "/a?b");
    T_ASSERT_INT(http_url_parse("ftp://x/", &u, NULL), MB_ECONFIG);
    T_ASSERT_INT(http_url_parse("https://user:pw@x/", &u, NULL), MB_ECONFIG);
    T_ASSERT_INT(http_url_parse("https://x:0/", &u, NULL), MB_ECONFIG);
    T_ASSERT_INT(http_url_parse("https://x:99999/", &u, NULL), MB_ECONFIG);
    T_ASSERT_INT(http_url_parse("https://x/a b", &u, NULL), MB_ECONFIG);
    T_ASSERT_INT(http_url_parse("https:///a", &u, NULL), MB_ECONFIG);
    T_ASSERT_INT(http_url_parse("https://x/#frag", &u, NULL), MB_ECONFIG);
    struct http_request rq = {.url = "http://127.0.0.1:1/"};
    struct http_response r;
    struct mb_err e;
    T_ASSERT_INT(http_post(&rq, &r, &e), MB_ECONFIG);
    T_ASSERT(strstr(e.msg, "https://") != NULL);
    T_END();
}

static void test_form(void)
{
    T_BEGIN("http_form_add: form-urlencoding");
    struct buf b;
    buf_init(&b, 1024);
    T_ASSERT_INT(http_form_add(&b, "scope", "https://x.y/.default"), 0);
    T_ASSERT_INT(http_form_add(&b, "s", "a b+c&d=é~"), 0);
    T_ASSERT_STR(buf_cstr(&b), "scope=https%3A%2F%2Fx.y%2F.default&s=a+b%2Bc%26d%3D%C3%A9~");
    buf_fini(&b);
    T_END();
}

static void test_post_ok(void)
{
    T_BEGIN("http_post: Content-Length after 100 Continue, chunked with trailer, EOF-delimited");
    struct srv s;
    struct http_response r;
    struct mb_err e;
    T_ASSERT_INT(srv_start(&s, S_CLEN), 0);
    T_ASSERT_INT(post(&s, 5000, &r, &e), 0);
    srv_stop(&s);
    T_ASSERT_INT(r.status, 200);
    T_ASSERT_STR(r.content_type, "application/json; charset=utf-8");
    T_ASSERT_STR(r.body, "{\"ok\":true}");
    T_ASSERT(strstr(s.request, "POST /tok/x?y=1 HTTP/1.1\r\n") == s.request);
    T_ASSERT(strstr(s.request, "\r\nHost: 127.0.0.1:") != NULL);
    T_ASSERT(strstr(s.request, "\r\nContent-Length: 3\r\n") != NULL);
    T_ASSERT(strstr(s.request, "\r\n\r\na=b") != NULL);
    http_response_fini(&r);

    T_ASSERT_INT(srv_start(&s, S_CHUNKED), 0);
    T_ASSERT_INT(post(&s, 5000, &r, &e), 0);
    srv_stop(&s);
    T_ASSERT_INT(r.status, 400);
    T_ASSERT_STR(r.body, "{\"ok\":true}");
    T_ASSERT_INT(r.body_len, 11);
    http_response_fini(&r);

    T_ASSERT_INT(srv_start(&s, S_EOF), 0);
    T_ASSERT_INT(post(&s, 5000, &r, &e), 0);
    srv_stop(&s);
    T_ASSERT_INT(r.status, 200);
    T_ASSERT_STR(r.body, "{\"ok\":true}");
    http_response_fini(&r);
    T_END();
}

static void test_post_hostile(void)
{
    T_BEGIN("http_post: 10 MB answer, endless body, slow drip, garbage, huge header, short body");
    struct srv s;
    struct http_response r;
    struct mb_err e;
    T_ASSERT_INT(srv_start(&s, S_BIG), 0);
    T_ASSERT_INT(post(&s, 5000, &r, &e), MB_ETOOBIG);
    srv_stop(&s);
    T_ASSERT(strstr(e.msg, "10485760") != NULL);

    T_ASSERT_INT(srv_start(&s, S_ENDLESS), 0);
    T_ASSERT_INT(post(&s, 5000, &r, &e), MB_ETOOBIG);
    srv_stop(&s);
    T_ASSERT(r.body == NULL);

    long long t0 = now_ms();
    T_ASSERT_INT(srv_start(&s, S_DRIP), 0);
    T_ASSERT_INT(post(&s, 1500, &r, &e), MB_ECONN);
    long long took = now_ms() - t0;
    srv_stop(&s);
    T_ASSERT(took >= 1400 && took < 3000);
    T_ASSERT(strstr(e.msg, "did not answer completely within 1 s") != NULL);

    T_ASSERT_INT(srv_start(&s, S_GARBAGE), 0);
    T_ASSERT_INT(post(&s, 5000, &r, &e), MB_EPROTO);
    srv_stop(&s);
    T_ASSERT(strstr(e.msg, "did not answer in HTTP") != NULL);

    T_ASSERT_INT(srv_start(&s, S_HUGEHDR), 0);
    T_ASSERT_INT(post(&s, 5000, &r, &e), MB_ETOOBIG);
    srv_stop(&s);

    T_ASSERT_INT(srv_start(&s, S_CLEN_SHORT), 0);
    T_ASSERT_INT(post(&s, 5000, &r, &e), MB_ECONN);
    srv_stop(&s);
    T_ASSERT(strstr(e.msg, "before the end") != NULL);
    T_END();
}

/* ---- jwt ---- */

static char *key_pem, *cert_pem;

static int rng(void *ctx, unsigned char *p, size_t n)
{
    return mbedtls_ctr_drbg_random(ctx, p, n);
}

/* A 2048-bit RSA key and a self-signed certificate for it, made once. */
static void make_key(void)
{
    if (key_pem)
        return;
    mbedtls_entropy_context ent;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_entropy_init(&ent);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0);
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
    mbedtls_rsa_gen_key(mbedtls_pk_rsa(pk), rng, &drbg, 2048, 65537);
    key_pem = xcalloc(1, 8192);
    mbedtls_pk_write_key_pem(&pk, (unsigned char *)key_pem, 8192);

    mbedtls_x509write_cert w;
    mbedtls_x509write_crt_init(&w);
    mbedtls_x509write_crt_set_subject_key(&w, &pk);
    mbedtls_x509write_crt_set_issuer_key(&w, &pk);
    mbedtls_x509write_crt_set_subject_name(&w, "CN=migrabox test app");
    mbedtls_x509write_crt_set_issuer_name(&w, "CN=migrabox test app");
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    unsigned char serial[1] = {7};
    mbedtls_x509write_crt_set_serial_raw(&w, serial, sizeof(serial));
    mbedtls_x509write_crt_set_validity(&w, "20240101000000", "20341231235959");
    cert_pem = xcalloc(1, 8192);
    mbedtls_x509write_crt_pem(&w, (unsigned char *)cert_pem, 8192, rng, &drbg);
    mbedtls_x509write_crt_free(&w);
    mbedtls_pk_free(&pk);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&ent);
}

static void test_b64url(void)
{
    T_BEGIN("jwt_b64url: RFC 4648 vectors, url alphabet, decode round trip and refusals");
    static const char *const vec[][2] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        char *s = jwt_b64url(vec[i][0], strlen(vec[i][0]));
        T_ASSERT_STR(s, vec[i][1]);
        unsigned char *d;
        size_t n;
        T_ASSERT_INT(jwt_b64url_decode(s, strlen(s), &d, &n), 0);
        T_ASSERT_INT(n, strlen(vec[i][0]));
        T_ASSERT_MEM(d, vec[i][0], n);
        free(d);
        free(s);
    }
    static const unsigned char hi[] = {0xfb, 0xff, 0xbf};
    char *s = jwt_b64url(hi, 3);
    T_ASSERT_STR(s, "-_-_");
    free(s);
    unsigned char *d;
    size_t n;
    T_ASSERT_INT(jwt_b64url_decode("ab+/", 4, &d, &n), MB_EPROTO);
    T_ASSERT_INT(jwt_b64url_decode("a", 1, &d, &n), MB_EPROTO);
    T_ASSERT_INT(jwt_b64url_decode("Zh", 2, &d, &n), MB_EPROTO); /* non-canonical bits */
    T_END();
}

/* Verify a compact JWT's signature with the certificate's public key. */
static int verify(const char *jwt, enum jwt_alg alg, char **header_r, char **claims_r)
{
    const char *dot1 = strchr(jwt, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2)
        return -1;
    unsigned char hash[32], *sig, *h, *c;
    size_t siglen, hn, cn;
    mbedtls_sha256((const unsigned char *)jwt, (size_t)(dot2 - jwt), hash, 0);
    if (jwt_b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig, &siglen))
        return -1;
    jwt_b64url_decode(jwt, (size_t)(dot1 - jwt), &h, &hn);
    jwt_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &c, &cn);
    *header_r = (char *)h;
    *claims_r = (char *)c;
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    mbedtls_x509_crt_parse(&crt, (const unsigned char *)cert_pem, strlen(cert_pem) + 1);
    mbedtls_rsa_context *rsa = mbedtls_pk_rsa(crt.pk);
    int ret;
    if (alg == JWT_PS256) {
        mbedtls_rsa_set_padding(rsa, MBEDTLS_RSA_PKCS_V21, MBEDTLS_MD_SHA256);
        ret = mbedtls_rsa_rsassa_pss_verify(rsa, MBEDTLS_MD_SHA256, 32, hash, sig);
    } else {
        ret = mbedtls_rsa_rsassa_pkcs1_v15_verify(rsa, MBEDTLS_MD_SHA256, 32, hash, sig);
    }
    mbedtls_x509_crt_free(&crt);
    free(sig);
    return ret;
}

static void test_sign(void)
{
    T_BEGIN("jwt_sign: RS256 and PS256 verify with the certificate; tampering is detected");
    make_key();
    char *jwt = NULL, *h, *c;
    T_ASSERT_INT(jwt_sign(key_pem, JWT_RS256, "{\"alg\":\"RS256\"}", "{\"sub\":\"x\"}", &jwt, NULL),
                 0);
    T_ASSERT_INT(verify(jwt, JWT_RS256, &h, &c), 0);
    T_ASSERT_STR(h, "{\"alg\":\"RS256\"}");
    T_ASSERT_STR(c, "{\"sub\":\"x\"}");
    free(h);
    free(c);
    jwt[5] ^= 1; /* change the header */
    T_ASSERT(verify(jwt, JWT_RS256, &h, &c) != 0);
    free(h);
    free(c);
    free(jwt);
    T_ASSERT_INT(jwt_sign(key_pem, JWT_PS256, "{\"alg\":\"PS256\"}", "{}", &jwt, NULL), 0);
    T_ASSERT_INT(verify(jwt, JWT_PS256, &h, &c), 0);
    free(h);
    free(c);
    char *h2, *c2; /* PKCS#1 v1.5 verification must not accept the PSS signature */
    T_ASSERT(verify(jwt, JWT_RS256, &h2, &c2) != 0);
    free(h2);
    free(c2);
    free(jwt);
    struct mb_err e;
    T_ASSERT_INT(jwt_sign("not a key", JWT_RS256, "{}", "{}", &jwt, &e), MB_ECONFIG);
    T_ASSERT(jwt == NULL);
    T_ASSERT_INT(jwt_key_check("-----BEGIN ENCRYPTED PRIVATE KEY-----\n", &e), MB_ECONFIG);
    T_ASSERT(strstr(e.msg, "passphrase") != NULL);
    T_END();
}

static void test_thumb(void)
{
    T_BEGIN("jwt_cert_thumbprints: x5t = SHA-1, x5t#S256 = SHA-256 of the DER; key pairing");
    make_key();
    char x5t[64], x5t256[64];
    T_ASSERT_INT(jwt_cert_thumbprints(cert_pem, x5t, x5t256, NULL), 0);
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    mbedtls_x509_crt_parse(&crt, (const unsigned char *)cert_pem, strlen(cert_pem) + 1);
    unsigned char h1[20], h2[32];
    mbedtls_sha1(crt.raw.p, crt.raw.len, h1);
    mbedtls_sha256(crt.raw.p, crt.raw.len, h2, 0);
    mbedtls_x509_crt_free(&crt);
    char *a = jwt_b64url(h1, 20), *b = jwt_b64url(h2, 32);
    T_ASSERT_STR(x5t, a);
    T_ASSERT_STR(x5t256, b);
    T_ASSERT_INT(strlen(x5t), 27);
    T_ASSERT_INT(strlen(x5t256), 43);
    free(a);
    free(b);
    T_ASSERT_INT(jwt_cert_matches_key(cert_pem, key_pem), 1);
    T_ASSERT_INT(jwt_cert_thumbprints("-----BEGIN CERTIFICATE-----\nAAAA\n-----END "
                                      "CERTIFICATE-----\n",
                                      x5t, NULL, NULL),
                 MB_ECONFIG);
    T_END();
}

/* ---- oauth ---- */

/* Value of form field name in body (decoded only for %XX used here), xmalloc'ed or NULL. */
static char *form_get(const char *body, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = body; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            char *out = xcalloc(1, len);
            size_t o = 0;
            for (size_t i = nl + 1; i < len; i++) {
                if (p[i] == '%' && i + 2 < len) {
                    char hx[3] = {p[i + 1], p[i + 2], 0};
                    out[o++] = (char)strtol(hx, NULL, 16);
                    i += 2;
                } else
                    out[o++] = p[i] == '+' ? ' ' : p[i];
            }
            return out;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static void test_request(void)
{
    T_BEGIN("oauth_build_request: Microsoft secret and certificate, Google JWT-bearer");
    make_key();
    struct auth_profile p = {.kind = AUTH_KIND_MICROSOFT365};
    p.name = xstrdup("contoso");
    p.tenant = xstrdup("contoso.onmicrosoft.com");
    p.client_id = xstrdup("11111111-2222-3333-4444-555555555555");
    secret_set(&p.client_secret, "s3cr=t&x", 8);
    T_ASSERT_INT(auth_profile_validate(&p, NULL, NULL), 0);
    struct buf b;
    buf_init(&b, 65536);
    T_ASSERT_INT(oauth_build_request(&p, "u@contoso.fr", 1700000000, &b, NULL), 0);
    T_ASSERT_STR(buf_cstr(&b), "client_id=11111111-2222-3333-4444-555555555555&scope=https%3A%2F%2F"
                               "outlook.office365.com%2F.default&grant_type=client_credentials&"
                               "client_secret=s3cr%3Dt%26x");
    char *url = oauth_token_url(&p);
    T_ASSERT_STR(url, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/"
                      "token");
    free(url);

    /* certificate */
    secret_fini(&p.client_secret);
    secret_set(&p.certificate, cert_pem, strlen(cert_pem));
    secret_set(&p.private_key, key_pem, strlen(key_pem));
    p.token_url = xstrdup("https://127.0.0.1:9/tok");
    struct mb_err e;
    T_ASSERT_INT(auth_profile_validate(&p, NULL, &e), 0);
    buf_reset(&b);
    T_ASSERT_INT(oauth_build_request(&p, NULL, 1700000000, &b, NULL), 0);
    char *cat = form_get(buf_cstr(&b), "client_assertion_type");
    char *ca = form_get(buf_cstr(&b), "client_assertion");
    T_ASSERT_STR(cat, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    T_ASSERT(form_get(buf_cstr(&b), "client_secret") == NULL);
    char *h = NULL, *c = NULL;
    T_ASSERT_INT(verify(ca, JWT_RS256, &h, &c), 0);
    char x5t[64], x5t256[64];
    jwt_cert_thumbprints(cert_pem, x5t, x5t256, NULL);
    struct json_value *hv = NULL, *cv = NULL;
    T_ASSERT_INT(json_parse(h, strlen(h), NULL, &hv, NULL), 0);
    T_ASSERT_INT(json_parse(c, strlen(c), NULL, &cv, NULL), 0);
    const char *s = NULL;
    int64_t iat = 0, exp = 0;
    json_get_str(hv, "alg", &s);
    T_ASSERT_STR(s, "RS256");
    json_get_str(hv, "x5t", &s);
    T_ASSERT_STR(s, x5t);
    json_get_str(cv, "aud", &s);
    T_ASSERT_STR(s, "https://127.0.0.1:9/tok");
    json_get_str(cv, "iss", &s);
    T_ASSERT_STR(s, p.client_id);
    json_get_str(cv, "sub", &s);
    T_ASSERT_STR(s, p.client_id);
    T_ASSERT_INT(json_get_str(cv, "jti", &s), 0);
    json_get_int(cv, "iat", &iat);
    json_get_int(cv, "exp", &exp);
    T_ASSERT_INT(iat, 1700000000);
    T_ASSERT(exp > iat && exp - iat <= 600);
    json_free(&hv);
    json_free(&cv);
    free(h);
    free(c);
    free(cat);
    free(ca);
    /* a key that is not the certificate's */
    auth_profile_fini(&p);

    /* Google from a service-account JSON */
    struct buf sa;
    buf_init(&sa, 65536);
    struct json_w w;
    json_w_init(&w, &sa);
    json_w_obj_begin(&w);
    json_w_kv_str(&w, "type", "service_account");
    json_w_kv_str(&w, "client_email", "mig@proj.iam.gserviceaccount.com");
    json_w_kv_str(&w, "private_key", key_pem);
    json_w_obj_end(&w);
    struct auth_profile g = {.kind = AUTH_KIND_GOOGLE};
    g.name = xstrdup("gw");
    T_ASSERT_INT(auth_profile_validate(&g, buf_cstr(&sa), &e), 0);
    T_ASSERT_STR(g.client_id, "mig@proj.iam.gserviceaccount.com");
    buf_reset(&b);
    T_ASSERT_INT(oauth_build_request(&g, NULL, 1700000000, &b, &e), MB_ECONFIG);
    buf_reset(&b);
    T_ASSERT_INT(oauth_build_request(&g, "marie@ecole.fr", 1700000000, &b, NULL), 0);
    char *gt = form_get(buf_cstr(&b), "grant_type");
    T_ASSERT_STR(gt, "urn:ietf:params:oauth:grant-type:jwt-bearer");
    char *as = form_get(buf_cstr(&b), "assertion");
    T_ASSERT_INT(verify(as, JWT_RS256, &h, &c), 0);
    T_ASSERT_INT(json_parse(c, strlen(c), NULL, &cv, NULL), 0);
    json_get_str(cv, "sub", &s);
    T_ASSERT_STR(s, "marie@ecole.fr");
    json_get_str(cv, "scope", &s);
    T_ASSERT_STR(s, "https://mail.google.com/");
    json_get_str(cv, "aud", &s);
    T_ASSERT_STR(s, "https://oauth2.googleapis.com/token");
    json_get_int(cv, "exp", &exp);
    T_ASSERT_INT(exp, 1700000000 + 3600);
    json_free(&cv);
    free(h);
    free(c);
    free(gt);
    free(as);
    auth_profile_fini(&g);
    buf_fini(&sa);
    buf_fini(&b);
    T_END();
}

static void test_validate(void)
{
    T_BEGIN("auth_profile_validate: refusals in words");
    struct mb_err e;
    struct auth_profile p = {.kind = AUTH_KIND_MICROSOFT365};
    p.name = xstrdup("bad name");
    T_ASSERT_INT(auth_profile_validate(&p, NULL, &e), MB_ECONFIG);
    free(p.name);
    p.name = xstrdup("ok");
    T_ASSERT_INT(auth_profile_validate(&p, NULL, &e), MB_ECONFIG);
    T_ASSERT(strstr(e.msg, "tenant") != NULL);
    p.tenant = xstrdup("t.onmicrosoft.com");
    p.client_id = xstrdup("c");
    T_ASSERT_INT(auth_profile_validate(&p, NULL, &e), MB_ECONFIG);
    T_ASSERT(strstr(e.msg, "client_secret") != NULL);
    secret_set(&p.client_secret, "x", 1);
    p.token_url = xstrdup("http://127.0.0.1/tok");
    T_ASSERT_INT(auth_profile_validate(&p, NULL, &e), MB_ECONFIG);
    T_ASSERT(strstr(e.msg, "https") != NULL);
    auth_profile_fini(&p);
    struct auth_profile g = {.kind = AUTH_KIND_GOOGLE};
    g.name = xstrdup("g");
    T_ASSERT_INT(auth_profile_validate(&g, "{\"type\":\"authorized_user\"}", &e), MB_ECONFIG);
    T_ASSERT(strstr(e.msg, "service_account") != NULL);
    auth_profile_fini(&g);
    struct auth_profile a = {.kind = AUTH_KIND_IMAP_ADMIN};
    a.name = xstrdup("a");
    a.admin_user = xstrdup("admin");
    T_ASSERT_INT(auth_profile_validate(&a, NULL, &e), MB_ECONFIG);
    secret_set(&a.admin_password, "pw", 2);
    T_ASSERT_INT(auth_profile_validate(&a, NULL, &e), 0);
    struct secret js = {0};
    T_ASSERT_INT(auth_profile_secrets_json(&a, &js), 0);
    T_ASSERT_STR(js.data, "{\"admin_password\":\"pw\"}");
    struct auth_profile b = {0};
    T_ASSERT_INT(auth_profile_secrets_load(&b, js.data, js.len, NULL), 0);
    T_ASSERT_STR(b.admin_password.data, "pw");
    secret_fini(&js);
    auth_profile_fini(&a);
    auth_profile_fini(&b);
    T_ASSERT_INT(auth_kind_parse("google"), AUTH_KIND_GOOGLE);
    T_ASSERT_INT(auth_kind_parse("gmail"), AUTH_KIND_NONE);
    T_END();
}

static int parse(enum auth_kind k, int status, const char *ct, const char *body, struct secret *tok,
                 int64_t *exp, struct mb_err *e)
{
    return oauth_parse_answer(k, status, ct, body, strlen(body), "app-1", "u@x.fr", tok, exp, e);
}

static void test_answer(void)
{
    T_BEGIN("oauth_parse_answer: tokens, each vendor's errors in words, malformed answers");
    struct secret tok = {0};
    int64_t exp = 0;
    struct mb_err e;
    const char *J = "application/json; charset=utf-8";
    T_ASSERT_INT(parse(AUTH_KIND_MICROSOFT365, 200, J,
                       "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"ext_expires_in\":3599,"
                       "\"access_token\":\"eyJ0eXAi.abc-_\"}",
                       &tok, &exp, &e),
                 0);
    T_ASSERT_STR(tok.data, "eyJ0eXAi.abc-_");
    T_ASSERT_INT(exp, 3599);
    secret_fini(&tok);
    T_ASSERT_INT(parse(AUTH_KIND_GOOGLE, 200, "application/json",
                       "{\"access_token\":\"ya29.x\",\"expires_in\":\"3600\",\"token_type\":"
                       "\"Bearer\"}",
                       &tok, &exp, &e),
                 0);
    T_ASSERT_INT(exp, 3600);
    secret_fini(&tok);

    struct {
        enum auth_kind k;
        int status;
        const char *ct, *body;
        int rc;
        const char *words;
    } cases[] = {
        {AUTH_KIND_MICROSOFT365, 401, J,
         "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client "
         "secret provided. Ensure the secret being sent in the request is the client secret "
         "value, not the client secret ID\",\"error_codes\":[7000215]}",
         MB_EAUTH, "not its Secret ID"},
        {AUTH_KIND_MICROSOFT365, 400, J,
         "{\"error\":\"unauthorized_client\",\"error_description\":\"AADSTS700016: Application "
         "with identifier 'x' was not found in the directory 'y'.\",\"error_codes\":[700016]}",
         MB_EAUTH, "admin consent"},
        {AUTH_KIND_MICROSOFT365, 400, J, "{\"error\":\"invalid_request\",\"error_codes\":[90002]}",
         MB_EAUTH, "tenant not found"},
        {AUTH_KIND_MICROSOFT365, 400, J, "{\"error\":\"weird\",\"error_description\":\"odd\"}",
         MB_EAUTH, "HTTP 400, weird): odd"},
        {AUTH_KIND_GOOGLE, 401, J,
         "{\"error\":\"unauthorized_client\",\"error_description\":\"Client is unauthorized to "
         "retrieve access tokens using this method, or client not authorized for any of the "
         "scopes requested.\"}",
         MB_EAUTH, "up to 24 h"},
        {AUTH_KIND_GOOGLE, 400, J,
         "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT Signature.\"}", MB_EAUTH,
         "clock"},
        {AUTH_KIND_GOOGLE, 400, J,
         "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid email or User ID\"}",
         MB_EAUTH, "does not know the mailbox u@x.fr"},
        {AUTH_KIND_GOOGLE, 503, "text/html", "<html>", MB_ECONN, "HTTP 503"},
        {AUTH_KIND_GOOGLE, 429, J, "{}", MB_ECONN, "try again later"},
        {AUTH_KIND_GOOGLE, 200, "text/html", "<html>", MB_EPROTO, "text/html instead of JSON"},
        {AUTH_KIND_GOOGLE, 404, NULL, "", MB_EPROTO, "token_url"},
        {AUTH_KIND_GOOGLE, 200, J, "{\"access_token\":", MB_EPROTO, "malformed"},
        {AUTH_KIND_GOOGLE, 200, J, "[1]", MB_EPROTO, "malformed"},
        {AUTH_KIND_GOOGLE, 200, J, "{\"token_type\":\"Bearer\",\"expires_in\":5}", MB_EPROTO,
         "no access_token"},
        {AUTH_KIND_GOOGLE, 200, J, "{\"access_token\":\"a\",\"expires_in\":5}", MB_EPROTO,
         "not a Bearer"},
        {AUTH_KIND_GOOGLE, 200, J, "{\"access_token\":\"a\",\"token_type\":\"bearer\"}", MB_EPROTO,
         "expires_in"},
        {AUTH_KIND_GOOGLE, 200, J,
         "{\"access_token\":\"a b\",\"token_type\":\"bearer\",\"expires_in\":5}", MB_EPROTO,
         "invalid characters"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = parse(cases[i].k, cases[i].status, cases[i].ct, cases[i].body, &tok, &exp, &e);
        T_ASSERT_INT(rc, cases[i].rc);
        if (!strstr(e.msg, cases[i].words)) {
            fprintf(stderr, "  case %zu: \"%s\" lacks \"%s\"\n", i, e.msg, cases[i].words);
            T_ASSERT(0);
        }
        T_ASSERT(tok.data == NULL);
    }
    T_END();
}

static void test_margin(void)
{
    T_BEGIN("oauth_renew_margin: a fifth of the life, 1 s to 5 min");
    T_ASSERT_INT(oauth_renew_margin(3599), 300);
    T_ASSERT_INT(oauth_renew_margin(600), 120);
    T_ASSERT_INT(oauth_renew_margin(5), 1);
    T_ASSERT_INT(oauth_renew_margin(2), 1);
    T_END();
}

static void test_store(void)
{
    T_BEGIN("auth_store: secrets sealed in the database, opened with the key only, list, delete");
    char *path = xasprintf("%s/profiles.db", t_tmpdir());
    struct db *db = NULL;
    struct mb_err e;
    T_ASSERT_INT(db_open(path, &db, &e), 0);
    unsigned char k1[SECRET_KEY_LEN], k2[SECRET_KEY_LEN];
    memset(k1, 1, sizeof(k1));
    memset(k2, 2, sizeof(k2));
    struct secret_box box, other;
    secret_box_init_key(&box, k1);
    secret_box_init_key(&other, k2);
    struct auth_profile p = {.kind = AUTH_KIND_IMAP_ADMIN, .account_id = 0};
    p.name = xstrdup("adm");
    p.admin_user = xstrdup("admin");
    p.method = AUTH_ADMIN_AUTHZID;
    secret_set(&p.admin_password, "Very-Secret-Admin-Pw", 20);
    T_ASSERT_INT(auth_profile_save(db, &box, &p, NULL, &e), 0);
    T_ASSERT_INT(auth_profile_save(db, &box, &p, NULL, &e), MB_ECONFIG);
    T_ASSERT(strstr(e.msg, "already exists") != NULL);
    struct auth_profile q;
    T_ASSERT_INT(auth_profile_open(db, &box, "adm", &q, &e), 0);
    T_ASSERT_STR(q.admin_password.data, "Very-Secret-Admin-Pw");
    T_ASSERT_STR(q.admin_user, "admin");
    T_ASSERT_INT(q.method, AUTH_ADMIN_AUTHZID);
    auth_profile_fini(&q);
    T_ASSERT_INT(auth_profile_open(db, &other, "adm", &q, &e), MB_ECRYPTO);
    T_ASSERT_INT(auth_profile_open(db, &box, "nope", &q, &e), MB_ENOTFOUND);
    /* the sealed blob is not the secret */
    unsigned char *sealed = NULL;
    size_t n = 0;
    T_ASSERT_INT(db_profile_get(db, "adm", &q, &sealed, &n, &e), 0);
    T_ASSERT(n > SECRET_BOX_OVERHEAD && !memmem(sealed, n, "Very-Secret", 11));
    free(sealed);
    auth_profile_fini(&q);
    struct auth_profile *v = NULL;
    size_t nv = 0;
    T_ASSERT_INT(db_profile_list(db, -1, &v, &nv, &e), 0);
    T_ASSERT_INT(nv, 1);
    T_ASSERT(nv == 1 && v[0].admin_password.data == NULL);
    db_profiles_free(&v, nv);
    T_ASSERT_INT(db_profile_list(db, 5, &v, &nv, &e), 0);
    T_ASSERT_INT(nv, 0);
    db_profiles_free(&v, nv);
    int64_t waiting = -1;
    T_ASSERT_INT(db_profile_delete(db, "adm", &waiting, &e), 0);
    T_ASSERT_INT(waiting, 0);
    T_ASSERT_INT(db_profile_delete(db, "adm", &waiting, &e), MB_ENOTFOUND);
    char *jp = NULL;
    T_ASSERT_INT(db_profile_job_get(db, 99, &jp, &e), MB_ENOTFOUND);
    auth_profile_fini(&p);
    secret_box_fini(&box);
    secret_box_fini(&other);
    db_close(&db);
    free(path);
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {test_url,      test_form,   test_post_ok, test_post_hostile,
                                        test_b64url,   test_sign,   test_thumb,   test_request,
                                        test_validate, test_answer, test_margin,  test_store,
                                        NULL};
    int rc = t_run(fns);
    free(key_pem);
    free(cert_pem);
    oauth_cache_clear();
    return rc;
}
