/* http_server: the HTTP(S) front of the appliance on libmicrohttpd.
 *
 * The server owns the transport concerns: listening (plain HTTP through libmicrohttpd, or
 * HTTPS terminated with mbedTLS in front of libmicrohttpd — a socketpair per connection
 * handed over with MHD_add_connection, since Debian's libmicrohttpd TLS is GnuTLS-only),
 * request bodies up to a limit (413 beyond), security headers on every response, static
 * assets embedded at build time (ETag, gzip), and the access log. Everything else is the
 * application's dispatch callback, called once per request with the whole body.
 *
 * Hostile clients (docs/OPERATIONS.md, "Security"): no request body is read before the admit
 * callback has accepted it (route and session known); a static path with a body gets 413 at
 * once; bodies count against a global budget (503 beyond); a watchdog thread shuts down
 * connections that take longer than header_timeout to send their line and headers (plus
 * HTTP_KEEPALIVE_IDLE between two requests of a keep-alive connection) or longer than
 * request_timeout to send a whole request; at most max_conn_per_addr connections come from
 * one address (trusted proxies excepted), checked before the connection is taken.
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
#define HTTP_KEEPALIVE_IDLE 30 /* s a keep-alive connection may stay idle between requests */

struct MHD_Connection;
struct net_acl;

struct http_req {
    const char *method;
    const char *path; /* URL path, without the query */
    struct MHD_Connection *conn;
    const char *body; /* whole body, NUL-terminated; "" when none */
    size_t body_len;
    int https;
    const char *peer; /* client address as text */
};

struct http_resp {
    unsigned status;                          /* default 200 */
    const char *content_type;                 /* static string; default application/json */
    struct buf body;                          /* response body (owned by the server) */
    const char *headers[HTTP_MAX_HEADERS][2]; /* extra headers; values are copied */
    char *header_values[HTTP_MAX_HEADERS];    /* owned copies (internal) */
    size_t n_headers;
    int drain; /* admit: the client is authenticated; an oversized
                * body is read and dropped (then 413) rather than the
                * connection closed at once */
};

/* Add a response header (value copied). Silently ignored past HTTP_MAX_HEADERS. */
void http_resp_header(struct http_resp *resp, const char *name, const char *value);
/* Query-string argument (borrowed, valid during dispatch) or NULL. */
const char *http_req_arg(const struct http_req *req, const char *name);
/* Every value of a repeated query-string argument (?a=1&a=2), in order: the first max go to
 * out (borrowed); returns how many there are (may exceed max). */
size_t http_req_arg_all(const struct http_req *req, const char *name, const char **out, size_t max);
/* Request header (borrowed) or NULL. */
const char *http_req_header(const struct http_req *req, const char *name);
/* Cookie value (borrowed) or NULL. */
const char *http_req_cookie(const struct http_req *req, const char *name);

/* Called for every request that is not a static asset. Fill resp; return nothing. */
typedef void http_dispatch_cb(void *app, const struct http_req *req, struct http_resp *resp);
/* Called when a dynamic request's line and headers are in, before any byte of its body is
 * read (req->body is "" then): the largest body to accept (>= 0; a bigger one gets 413 at
 * once), or -1 after filling resp, which is then answered without reading the body. */
typedef long http_admit_cb(void *app, const struct http_req *req, struct http_resp *resp);

struct http_server_opts {
    const char *listen_host; /* "127.0.0.1", "::", "0.0.0.0" */
    unsigned listen_port;    /* 0 = pick a free port */
    const char *tls_cert;    /* PEM files; both NULL = plain HTTP */
    const char *tls_key;
    size_t max_body;               /* request body limit (413 past it) */
    unsigned max_conn;             /* simultaneous connections; 0 = HTTP_MAX_CONN_DEFAULT */
    unsigned max_conn_per_addr;    /* from one client address; 0 = no cap */
    const struct net_acl *trusted; /* peers exempt from that cap (reverse proxies) */
    int header_timeout;            /* s to send a request line + headers; 0 = none */
    int request_timeout;           /* s to send a whole request (+ body); 0 = none */
    size_t body_budget;            /* bytes of request bodies buffered at once, all
                                    * connections; 0 = max(64 MiB, 4 * max_body) */
    http_admit_cb *admit;          /* NULL = admit every body up to max_body */
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
