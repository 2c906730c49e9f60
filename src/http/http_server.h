/* http_server: the HTTP(S) front of the appliance on libmicrohttpd.
 *
 * The server owns the transport concerns: listening (plain HTTP through libmicrohttpd, or
 * HTTPS terminated with mbedTLS in front of libmicrohttpd — a socketpair per connection
 * handed over with MHD_add_connection, since Debian's libmicrohttpd TLS is GnuTLS-only),
 * request bodies up to a limit (413 beyond), security headers on every response, static
 * assets embedded at build time (ETag, gzip), and the access log. Everything else is the
 * application's dispatch callback, called once per request with the whole body.
 *
 * Threads: libmicrohttpd runs a thread per connection (at most opts.max_conn), so a slow
 * handler (« Tester la connexion » logs in to two IMAP servers) never blocks the others:
 * dispatch must be thread-safe. The TLS front adds one pump thread per connection. */
#ifndef MB_HTTP_SERVER_H
#define MB_HTTP_SERVER_H

#include <stddef.h>

#include "base/buf.h"
#include "base/mb_err.h"

#define HTTP_MAX_CONN_DEFAULT 256
#define HTTP_MAX_HEADERS 8

struct MHD_Connection;

struct http_req {
    const char *method;
    const char *path;                 /* URL path, without the query */
    struct MHD_Connection *conn;
    const char *body;                 /* whole body, NUL-terminated; "" when none */
    size_t body_len;
    int https;
    const char *peer;                 /* client address as text */
};

struct http_resp {
    unsigned status;                  /* default 200 */
    const char *content_type;         /* static string; default application/json */
    struct buf body;                  /* response body (owned by the server) */
    const char *headers[HTTP_MAX_HEADERS][2];   /* extra headers; values are copied */
    char *header_values[HTTP_MAX_HEADERS];      /* owned copies (internal) */
    size_t n_headers;
};

/* Add a response header (value copied). Silently ignored past HTTP_MAX_HEADERS. */
void http_resp_header(struct http_resp *resp, const char *name, const char *value);
/* Query-string argument (borrowed, valid during dispatch) or NULL. */
const char *http_req_arg(const struct http_req *req, const char *name);
/* Request header (borrowed) or NULL. */
const char *http_req_header(const struct http_req *req, const char *name);
/* Cookie value (borrowed) or NULL. */
const char *http_req_cookie(const struct http_req *req, const char *name);

/* Called for every request that is not a static asset. Fill resp; return nothing. */
typedef void http_dispatch_cb(void *app, const struct http_req *req, struct http_resp *resp);

struct http_server_opts {
    const char *listen_host;          /* "127.0.0.1", "::", "0.0.0.0" */
    unsigned listen_port;             /* 0 = pick a free port */
    const char *tls_cert;             /* PEM files; both NULL = plain HTTP */
    const char *tls_key;
    size_t max_body;                  /* request body limit (413 past it) */
    unsigned max_conn;                /* simultaneous connections; 0 = HTTP_MAX_CONN_DEFAULT */
    http_dispatch_cb *dispatch;
    void *app;
};

struct http_server;

int http_server_start(const struct http_server_opts *opts, struct http_server **srv_r,
                      struct mb_err *err);
/* The port actually bound (useful with listen_port = 0). */
unsigned http_server_port(const struct http_server *srv);
void http_server_stop(struct http_server **srv);

/* Create a self-signed certificate and key (ECDSA P-256, 10 years, SAN localhost,
 * 127.0.0.1, ::1 and this host's name) at cert_path / key_path (key mode 0600), unless both
 * files already exist. */
int http_tls_ensure_selfsigned(const char *cert_path, const char *key_path, struct mb_err *err);

#endif
