#include "http_server.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "base/secret.h"
#include "base/xalloc.h"
#include "http_assets.h"
#include "http_tls.h"
#include "log/log.h"
#include "net/net_acl.h"

/* libmicrohttpd 1.0's parsing strictness: 1 = "more strict, within the limits the RFCs set
 * for servers" (refuses Transfer-Encoding with Content-Length, bare CR/LF, obsolete line
 * folding, requests without Host...). */
#define HTTP_CLIENT_DISCIPLINE 1

static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
                          "object-src 'none'; base-uri 'none'; form-action 'self'; "
                          "frame-ancestors 'none'";

/* One open connection, for the deadlines and the per-address cap. */
struct conn_rec {
    int fd;              /* dup of the connection's socket: shutdown() it to end it */
    int64_t start_ms;    /* when the current request began (accept, or end of the last) */
    int64_t deadline_ms; /* 0 = none */
    int killed;
    int counted; /* counts against the per-address cap */
    char addr[64];
    struct conn_rec *prev, *next;
};

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_server_opts opts;
    unsigned port;
    struct http_tls *tls; /* NULL for plain HTTP */
    pthread_mutex_t mu;   /* conns */
    struct conn_rec *conns;
    pthread_t watchdog;
    int watchdog_running;
    atomic_int stopping;
    atomic_size_t buffered; /* bytes of request bodies held now */
    size_t budget;
};

struct req_state {
    struct buf body;
    int too_big;
    int answered; /* a response was queued before the body was read */
    int over_budget;
    size_t limit;    /* largest body accepted */
    size_t reserved; /* bytes counted in srv->buffered */
    struct timespec start;
    struct http_resp early; /* headers the admit callback set (e.g. Set-Cookie), kept */
};

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t n)
{
    out[0] = '\0';
    if (!sa)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)n);
}

void http_resp_header(struct http_resp *resp, const char *name, const char *value)
{
    if (resp->n_headers >= HTTP_MAX_HEADERS)
        return;
    resp->header_values[resp->n_headers] = xstrdup(value);
    resp->headers[resp->n_headers][0] = name;
    resp->headers[resp->n_headers][1] = resp->header_values[resp->n_headers];
    resp->n_headers++;
}

const char *http_req_arg(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct arg_all_ctx {
    const char *name;
    const char **out;
    size_t max, n;
};

static enum MHD_Result arg_all_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct arg_all_ctx *a = cls;
    (void)kind;
    if (key && strcmp(key, a->name) == 0) {
        if (a->n < a->max)
            a->out[a->n] = value ? value : "";
        a->n++;
    }
    return MHD_YES;
}

size_t http_req_arg_all(const struct http_req *req, const char *name, const char **out, size_t max)
{
    struct arg_all_ctx a = {name, out, max, 0};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, arg_all_cb, &a);
    return a.n;
}

const char *http_req_header(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_cookie(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

static void add_common_headers(struct MHD_Response *r, int https, int is_api)
{
    MHD_add_response_header(r, "Content-Security-Policy", csp);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(r, "Permissions-Policy", "camera=(), microphone=(), geolocation=()");
    if (https)
        MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
    if (is_api)
        MHD_add_response_header(r, "Cache-Control", "no-store");
}

static const char *peer_text(struct MHD_Connection *c, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (!ci || !ci->client_addr)
        return out;
    addr_text(ci->client_addr, out, n);
    return out;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Static assets: "/" is the UI page; unknown non-API paths are 404. */
static enum MHD_Result serve_asset(struct http_server *srv, struct MHD_Connection *c,
                                   const char *url, const char *method, unsigned *status_r)
{
    const struct http_asset *a = http_assets_find(strcmp(url, "/") == 0 ? "/index.html" : url);
    struct MHD_Response *r;
    unsigned status;
    if (!a) {
        static const char nf[] = "not found\n";
        r = MHD_create_response_from_buffer(sizeof(nf) - 1, (void *)(uintptr_t)nf,
                                            MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
        status = MHD_HTTP_NOT_FOUND;
    } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Allow", "GET, HEAD");
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    } else {
        const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
        const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding");
        int gz = a->gz && ae && strstr(ae, "gzip");
        if (inm && strstr(inm, a->etag)) {
            r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
            status = MHD_HTTP_NOT_MODIFIED;
        } else {
            r = MHD_create_response_from_buffer(gz ? a->gz_len : a->len,
                                                (void *)(uintptr_t)(gz ? a->gz : a->data),
                                                MHD_RESPMEM_PERSISTENT);
            if (gz)
                MHD_add_response_header(r, "Content-Encoding", "gzip");
            MHD_add_response_header(r, "Content-Type", a->mime);
            status = MHD_HTTP_OK;
        }
        MHD_add_response_header(r, "ETag", a->etag);
        MHD_add_response_header(r, "Vary", "Accept-Encoding");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
    }
    add_common_headers(r, srv->tls != NULL, 0);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    *status_r = status;
    return ret;
}

static int is_dynamic(const char *url)
{
    return strncmp(url, "/api/", 5) == 0 || strcmp(url, "/api") == 0 || strcmp(url, "/healthz") == 0
           || strcmp(url, "/metrics") == 0;
}

static struct conn_rec *conn_rec_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void set_deadline(struct http_server *srv, struct MHD_Connection *c, int64_t deadline)
{
    struct conn_rec *rec = conn_rec_of(c);
    if (!rec)
        return;
    pthread_mutex_lock(&srv->mu);
    rec->deadline_ms = deadline;
    pthread_mutex_unlock(&srv->mu);
}

/* The request declares a body (Content-Length > 0 or any Transfer-Encoding). *len_r = the
 * declared length, or -1 when unknown (chunked) or malformed. */
static int declares_body(struct MHD_Connection *c, long long *len_r)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
    *len_r = 0;
    if (te) {
        *len_r = -1;
        return 1;
    }
    if (!cl)
        return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    if (end == cl || *end != '\0' || errno || n > (unsigned long long)LLONG_MAX) {
        *len_r = -1;
        return 1;
    }
    *len_r = (long long)n;
    return n > 0;
}

struct framing {
    unsigned n_length, n_te;
    int bad_length;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct framing *f = cls;
    if (strcasecmp(key, "Content-Length") == 0) {
        f->n_length++;
        if (!value || !*value || strspn(value, "0123456789") != strlen(value))
            f->bad_length = 1;
    } else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        f->n_te++;
    }
    return MHD_YES;
}

/* 1 if the request's body framing is ambiguous: several Content-Length headers, one that is
 * not a plain number, or Transfer-Encoding together with Content-Length (request smuggling
 * shapes; RFC 9112 §6.3). Answered 400 before any body is read. */
static int framing_ambiguous(struct MHD_Connection *c)
{
    struct framing f = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
    return f.n_length > 1 || f.bad_length || (f.n_te && f.n_length) || f.n_te > 1;
}

/* Queue resp now (status and JSON/text body), common headers added. */
static enum MHD_Result queue_now(struct http_server *srv, struct MHD_Connection *c,
                                 struct http_resp *resp, int is_api)
{
    size_t len;
    char *body = buf_take(&resp->body, &len);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", resp->content_type);
    for (size_t i = 0; i < resp->n_headers; i++) {
        MHD_add_response_header(r, resp->headers[i][0], resp->headers[i][1]);
        free(resp->header_values[i]);
        resp->header_values[i] = NULL;
    }
    resp->n_headers = 0;
    add_common_headers(r, srv->tls != NULL, is_api);
    enum MHD_Result ret = MHD_queue_response(c, resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static void resp_error(struct http_resp *resp, unsigned status, const char *msg)
{
    resp->status = status;
    resp->content_type = "application/json";
    buf_reset(&resp->body);
    buf_printf(&resp->body, "{\"error\":\"%s\"}", msg);
}

static void release_budget(struct http_server *srv, struct req_state *st)
{
    if (st->reserved) {
        atomic_fetch_sub(&srv->buffered, st->reserved);
        st->reserved = 0;
    }
}

static int reserve_budget(struct http_server *srv, struct req_state *st, size_t n)
{
    size_t cur = atomic_load(&srv->buffered);
    do {
        if (cur + n > srv->budget)
            return -1;
    } while (!atomic_compare_exchange_weak(&srv->buffered, &cur, cur + n));
    st->reserved += n;
    return 0;
}

/* First call of a request (line and headers in): decide about the body before reading it.
 * Returns 1 when an answer was queued. */
static int on_headers(struct http_server *srv, struct MHD_Connection *c, const char *url,
                      const char *method, struct req_state *st, enum MHD_Result *ret)
{
    long long declared = 0;
    int has_body = declares_body(c, &declared);
    int dynamic = is_dynamic(url);
    char peer[64];
    struct http_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.status = 200;
    resp.content_type = "application/json";
    buf_init(&resp.body, 1 << 20);
    int answer = 0;
    st->limit = srv->opts.max_body;
    if (framing_ambiguous(c)) {
        resp_error(&resp, 400, "ambiguous request framing (Content-Length / Transfer-Encoding)");
        answer = 1;
    } else if (!dynamic) {
        if (has_body) {
            resp_error(&resp, 413, "this path takes no request body");
            answer = 1;
        }
    } else if (srv->opts.admit) {
        struct http_req req = {
            .method = method,
            .path = url,
            .conn = c,
            .body = "",
            .body_len = 0,
            .https = srv->tls != NULL,
            .peer = peer_text(c, peer, sizeof(peer)),
        };
        long lim = srv->opts.admit(srv->opts.app, &req, &resp);
        if (lim < 0)
            answer = 1;
        else if ((size_t)lim < st->limit)
            st->limit = (size_t)lim;
    }
    if (!answer && has_body) {
        if (declared > 0 && (unsigned long long)declared > st->limit && resp.drain) {
            st->too_big = 1; /* read and dropped, 413 at the end (within request_timeout) */
        } else if (declared > 0 && (unsigned long long)declared > st->limit) {
            resp_error(&resp, 413, "request body too large");
            buf_reset(&resp.body);
            buf_printf(&resp.body, "{\"error\":\"request body larger than %zu bytes\"}", st->limit);
            answer = 1;
        } else if (declared > 0 && reserve_budget(srv, st, (size_t)declared) != 0) {
            resp_error(&resp, 503, "server busy, try again");
            http_resp_header(&resp, "Retry-After", "5");
            answer = 1;
        }
    }
    if (!answer) {
        buf_fini(&resp.body);
        st->early = resp; /* its headers only */
        memset(&st->early.body, 0, sizeof(st->early.body));
        return 0;
    }
    st->answered = 1;
    *ret = queue_now(srv, c, &resp, dynamic);
    log_info("http: %s %s %u (before the body) %s", method, url, resp.status,
             peer_text(c, peer, sizeof(peer)));
    return 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct http_server *srv = cls;
    struct req_state *st = *con_cls;
    if (!st) {
        st = xcalloc(1, sizeof(*st));
        buf_init(&st->body, srv->opts.max_body);
        clock_gettime(CLOCK_MONOTONIC, &st->start);
        *con_cls = st;
        /* Headers are in: the body (if any) must come within request_timeout of the
         * request's start. */
        struct conn_rec *rec = conn_rec_of(c);
        if (rec && srv->opts.request_timeout) {
            int64_t now = now_ms(), begun = rec->start_ms < now ? rec->start_ms : now;
            set_deadline(srv, c, begun + (int64_t)srv->opts.request_timeout * 1000);
        } else
            set_deadline(srv, c, 0);
        enum MHD_Result ret = MHD_YES;
        if (on_headers(srv, c, url, method, st, &ret))
            return ret;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (st->answered || st->too_big || st->over_budget)
            return MHD_YES;
        if (st->body.len + n > st->limit) {
            st->too_big = 1;
            return MHD_YES;
        }
        if (st->body.len + n > st->reserved
            && reserve_budget(srv, st, st->body.len + n - st->reserved) != 0) {
            st->over_budget = 1;
            return MHD_YES;
        }
        if (buf_append(&st->body, upload_data, n) != 0)
            st->too_big = 1;
        return MHD_YES;
    }
    if (st->answered)
        return MHD_YES;
    set_deadline(srv, c, 0);

    char peer[64];
    unsigned status;
    enum MHD_Result ret;
    if (!is_dynamic(url)) {
        ret = serve_asset(srv, c, url, method, &status);
        goto logit;
    }

    struct http_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.status = 200;
    resp.content_type = "application/json";
    buf_init(&resp.body, (size_t)256 << 20);
    if (st->too_big) {
        resp.status = 413;
        buf_printf(&resp.body, "{\"error\":\"request body larger than %zu bytes\"}", st->limit);
    } else if (st->over_budget) {
        resp_error(&resp, 503, "server busy, try again");
        http_resp_header(&resp, "Retry-After", "5");
    } else {
        struct http_req req = {
            .method = method,
            .path = url,
            .conn = c,
            .body = buf_cstr(&st->body),
            .body_len = st->body.len,
            .https = srv->tls != NULL,
            .peer = peer_text(c, peer, sizeof(peer)),
        };
        srv->opts.dispatch(srv->opts.app, &req, &resp);
    }
    for (size_t i = 0; i < st->early.n_headers; i++) {
        int dup = 0;
        for (size_t j = 0; j < resp.n_headers; j++)
            dup |= strcmp(resp.headers[j][0], st->early.headers[i][0]) == 0;
        if (!dup)
            http_resp_header(&resp, st->early.headers[i][0], st->early.headers[i][1]);
    }
    status = resp.status;
    ret = queue_now(srv, c, &resp, 1);
logit:
    log_info("http: %s %s %u %.1f ms %s", method, url, status, ms_since(&st->start),
             peer_text(c, peer, sizeof(peer)));
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    struct http_server *srv = cls;
    struct req_state *st = *con_cls;
    /* The next request of a keep-alive connection: its headers within the idle allowance
     * plus header_timeout. */
    struct conn_rec *rec = conn_rec_of(c);
    if (rec) {
        int64_t now = now_ms();
        pthread_mutex_lock(&srv->mu);
        rec->start_ms = now + HTTP_KEEPALIVE_IDLE * 1000;
        rec->deadline_ms =
            srv->opts.header_timeout ? rec->start_ms + (int64_t)srv->opts.header_timeout * 1000 : 0;
        pthread_mutex_unlock(&srv->mu);
    }
    if (st) {
        release_budget(srv, st);
        for (size_t i = 0; i < st->early.n_headers; i++)
            free(st->early.header_values[i]);
        /* Request bodies carry passwords (sign-in, jobs, CSV files): wipe before freeing. */
        if (st->body.data)
            secret_wipe(st->body.data, st->body.len);
        buf_fini(&st->body);
        free(st);
        *con_cls = NULL;
    }
}

static int addr_trusted(const struct http_server *srv, const struct sockaddr *sa)
{
    return srv->opts.trusted && net_acl_match_addr(srv->opts.trusted, sa);
}

/* Accept policy: the per-address cap (before libmicrohttpd takes the connection). */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addrlen;
    struct http_server *srv = cls;
    if (!srv->opts.max_conn_per_addr || addr_trusted(srv, addr))
        return MHD_YES;
    char a[64];
    addr_text(addr, a, sizeof(a));
    unsigned n = 0;
    pthread_mutex_lock(&srv->mu);
    for (const struct conn_rec *r = srv->conns; r; r = r->next)
        n += r->counted && strcmp(r->addr, a) == 0;
    pthread_mutex_unlock(&srv->mu);
    if (n >= srv->opts.max_conn_per_addr) {
        log_warn("http: connection from %s refused: %u open from that address", a, n);
        return MHD_NO;
    }
    return MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn_rec *rec = xcalloc(1, sizeof(*rec));
        /* Each MHD_get_connection_info answer may share one buffer: use it at once. */
        const union MHD_ConnectionInfo *fi =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        rec->fd = fi ? fcntl(fi->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
        const union MHD_ConnectionInfo *ai =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ai && ai->client_addr) {
            addr_text(ai->client_addr, rec->addr, sizeof(rec->addr));
            rec->counted = !addr_trusted(srv, ai->client_addr);
        }
        rec->start_ms = now_ms();
        rec->deadline_ms =
            srv->opts.header_timeout ? rec->start_ms + (int64_t)srv->opts.header_timeout * 1000 : 0;
        pthread_mutex_lock(&srv->mu);
        rec->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = rec;
        srv->conns = rec;
        pthread_mutex_unlock(&srv->mu);
        *socket_context = rec;
        return;
    }
    struct conn_rec *rec = *socket_context;
    if (!rec)
        return;
    pthread_mutex_lock(&srv->mu);
    if (rec->prev)
        rec->prev->next = rec->next;
    else
        srv->conns = rec->next;
    if (rec->next)
        rec->next->prev = rec->prev;
    pthread_mutex_unlock(&srv->mu);
    if (rec->fd >= 0)
        close(rec->fd);
    free(rec);
    *socket_context = NULL;
}

/* Ends connections past their deadline (slow headers, slow bodies). */
static void *watchdog_main(void *arg)
{
    struct http_server *srv = arg;
    while (!atomic_load(&srv->stopping)) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        int64_t now = now_ms();
        pthread_mutex_lock(&srv->mu);
        for (struct conn_rec *r = srv->conns; r; r = r->next) {
            if (!r->killed && r->deadline_ms && now > r->deadline_ms && r->fd >= 0) {
                r->killed = 1;
                shutdown(r->fd, SHUT_RDWR);
                log_info("http: connection from %s closed: request not received in time", r->addr);
            }
        }
        pthread_mutex_unlock(&srv->mu);
    }
    return NULL;
}

static int resolve_listen(const char *host, unsigned port, struct sockaddr_storage *ss,
                          socklen_t *len_r, struct mb_err *err)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%u", port);
    int r = getaddrinfo(host, portstr, &hints, &ai);
    if (r != 0 || !ai)
        return mb_err_set(err, MB_ECONFIG, "listen address %s is not an IP address", host);
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len_r = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

int http_server_start(const struct http_server_opts *opts, struct http_server **srv_r,
                      struct mb_err *err)
{
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    srv->opts = *opts;
    pthread_mutex_init(&srv->mu, NULL);
    srv->budget = opts->body_budget;
    if (!srv->budget) {
        srv->budget = (size_t)64 << 20;
        if (opts->max_body <= SIZE_MAX / 4 && 4 * opts->max_body > srv->budget)
            srv->budget = 4 * opts->max_body;
    }
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    int rc = resolve_listen(opts->listen_host, opts->listen_port, &ss, &sslen, err);
    if (rc)
        goto fail;
    unsigned max_conn = opts->max_conn ? opts->max_conn : HTTP_MAX_CONN_DEFAULT;
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (opts->tls_cert || opts->tls_key) {
        rc = http_tls_start(opts->tls_cert, opts->tls_key, (struct sockaddr *)&ss, sslen, max_conn,
                            opts->max_conn_per_addr, opts->trusted,
                            opts->header_timeout ? opts->header_timeout : 10, &srv->tls, err);
        if (rc)
            goto fail;
        flags |= MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
        srv->daemon = MHD_start_daemon(
            flags, 0, on_accept, srv, on_request, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
            srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_CONNECTION_LIMIT,
            max_conn, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
            MHD_OPTION_CLIENT_DISCIPLINE_LVL, HTTP_CLIENT_DISCIPLINE, MHD_OPTION_CONNECTION_TIMEOUT,
            60u, MHD_OPTION_END);
    } else {
        srv->daemon = MHD_start_daemon(
            flags, 0, on_accept, srv, on_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION,
            on_connection, srv, MHD_OPTION_CONNECTION_LIMIT, max_conn,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768, MHD_OPTION_CLIENT_DISCIPLINE_LVL,
            HTTP_CLIENT_DISCIPLINE, MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
    }
    if (!srv->daemon) {
        rc = mb_err_set(err, MB_ECONFIG, "cannot listen on %s port %u (address in use?)",
                        opts->listen_host, opts->listen_port);
        goto fail;
    }
    if (pthread_create(&srv->watchdog, NULL, watchdog_main, srv) == 0)
        srv->watchdog_running = 1;
    if (srv->tls) {
        srv->port = http_tls_port(srv->tls);
        http_tls_run(srv->tls, srv->daemon);
    } else {
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
        srv->port = di ? di->port : opts->listen_port;
    }
    *srv_r = srv;
    return 0;
fail:
    http_tls_stop(&srv->tls);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
    return rc;
}

unsigned http_server_port(const struct http_server *srv)
{
    return srv->port;
}

void http_server_stop(struct http_server **srvp)
{
    struct http_server *srv = *srvp;
    if (!srv)
        return;
    http_tls_stop(&srv->tls);
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    atomic_store(&srv->stopping, 1);
    if (srv->watchdog_running)
        pthread_join(srv->watchdog, NULL);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
    *srvp = NULL;
}
