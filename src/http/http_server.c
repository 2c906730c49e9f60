#include "http_server.h"

#include <arpa/inet.h>
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "base/secret.h"
#include "base/xalloc.h"
#include "http_assets.h"
#include "http_tls.h"
#include "log/log.h"

static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
                          "object-src 'none'; base-uri 'none'; form-action 'self'; "
                          "frame-ancestors 'none'";

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_server_opts opts;
    unsigned port;
    struct http_tls *tls;     /* NULL for plain HTTP */
};

struct req_state {
    struct buf body;
    int too_big;
    struct timespec start;
};

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
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)n);
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
    return strncmp(url, "/api/", 5) == 0 || strcmp(url, "/api") == 0
           || strcmp(url, "/healthz") == 0 || strcmp(url, "/metrics") == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    struct http_server *srv = cls;
    struct req_state *st = *con_cls;
    if (!st) {
        st = xcalloc(1, sizeof(*st));
        buf_init(&st->body, srv->opts.max_body);
        clock_gettime(CLOCK_MONOTONIC, &st->start);
        *con_cls = st;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            unsigned long long n = strtoull(cl, &end, 10);
            if (*end != '\0' || n > srv->opts.max_body)
                st->too_big = 1;
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!st->too_big && buf_append(&st->body, upload_data, *upload_data_size) != 0)
            st->too_big = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }

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
        buf_printf(&resp.body, "{\"error\":\"request body larger than %zu bytes\"}",
                   srv->opts.max_body);
    } else {
        struct http_req req = {
            .method = method, .path = url, .conn = c, .body = buf_cstr(&st->body),
            .body_len = st->body.len, .https = srv->tls != NULL,
            .peer = peer_text(c, peer, sizeof(peer)),
        };
        srv->opts.dispatch(srv->opts.app, &req, &resp);
    }
    size_t len;
    char *body = buf_take(&resp.body, &len);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", resp.content_type);
    for (size_t i = 0; i < resp.n_headers; i++) {
        MHD_add_response_header(r, resp.headers[i][0], resp.headers[i][1]);
        free(resp.header_values[i]);
    }
    add_common_headers(r, srv->tls != NULL, 1);
    status = resp.status;
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
logit:
    log_info("http: %s %s %u %.1f ms %s", method, url, status, ms_since(&st->start),
             peer_text(c, peer, sizeof(peer)));
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct req_state *st = *con_cls;
    if (st) {
        /* Request bodies carry passwords (sign-in, jobs, CSV files): wipe before freeing. */
        if (st->body.data)
            secret_wipe(st->body.data, st->body.len);
        buf_fini(&st->body);
        free(st);
        *con_cls = NULL;
    }
}

static int resolve_listen(const char *host, unsigned port, struct sockaddr_storage *ss,
                          socklen_t *len_r, struct mb_err *err)
{
    struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_PASSIVE,
                              .ai_socktype = SOCK_STREAM };
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
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    int rc = resolve_listen(opts->listen_host, opts->listen_port, &ss, &sslen, err);
    if (rc)
        goto fail;
    unsigned max_conn = opts->max_conn ? opts->max_conn : HTTP_MAX_CONN_DEFAULT;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION
                     | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (opts->tls_cert || opts->tls_key) {
        rc = http_tls_start(opts->tls_cert, opts->tls_key, (struct sockaddr *)&ss, sslen,
                            max_conn, &srv->tls, err);
        if (rc)
            goto fail;
        flags |= MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
        srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
                                       MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                                       MHD_OPTION_CONNECTION_LIMIT, max_conn,
                                       MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
    } else {
        srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
                                       MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                       MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                                       MHD_OPTION_CONNECTION_LIMIT, max_conn,
                                       MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
    }
    if (!srv->daemon) {
        rc = mb_err_set(err, MB_ECONFIG, "cannot listen on %s port %u (address in use?)",
                        opts->listen_host, opts->listen_port);
        goto fail;
    }
    if (srv->tls) {
        srv->port = http_tls_port(srv->tls);
        http_tls_run(srv->tls, srv->daemon);
    } else {
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon,
                                                             MHD_DAEMON_INFO_BIND_PORT);
        srv->port = di ? di->port : opts->listen_port;
    }
    *srv_r = srv;
    return 0;
fail:
    http_tls_stop(&srv->tls);
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
    free(srv);
    *srvp = NULL;
}
