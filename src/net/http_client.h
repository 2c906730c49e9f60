/* http_client: a small, bounded HTTP/1.1 client for one request per connection (OAuth2
 * token endpoints today, webhooks later), over net_conn (so TLS verification, timeouts and
 * error words are the transport's).
 *
 * Bounds: connect timeout, a per-read timeout, an overall deadline for the whole exchange
 * (a server dripping one byte a second is cut off), a cap on the header block
 * (HTTP_CLIENT_MAX_HEADER) and on the body (max_body). Answers may use Content-Length,
 * chunked transfer coding, or end at connection close. No redirects, no keep-alive, no
 * compression (the request says "Accept-Encoding: identity").
 *
 * Errors (negative mb_errc, words in err->msg, never the request body):
 *   MB_ECONFIG   bad URL, plain http:// when not allowed, bad CA file
 *   MB_ENOTFOUND the host name does not resolve
 *   MB_ECONN     refused, reset, timeout, overall deadline passed, closed before the end
 *   MB_EPROTO    TLS failure (certificate not trusted, host name mismatch), not HTTP,
 *                bad chunked framing
 *   MB_ETOOBIG   header block or body over its limit
 * Any HTTP status is a success of http_post (the caller reads resp->status).
 *
 * Ownership: http_response_fini() wipes and frees the body (it may carry a token). */
#ifndef MB_HTTP_CLIENT_H
#define MB_HTTP_CLIENT_H

#include <stddef.h>

#include "base/mb_err.h"

#define HTTP_CLIENT_MAX_HEADER (16u * 1024)
#define HTTP_CLIENT_DEFAULT_MAX_BODY (256u * 1024)

struct http_url {
    int tls;        /* https */
    char host[256]; /* IPv6 without brackets */
    unsigned port;
    char path[2048]; /* with query; "/" when empty */
};

/* Parse "https://host[:port][/path]" (or http:// ). MB_ECONFIG with words otherwise.
 * User info, fragments, spaces and control characters are refused. */
int http_url_parse(const char *url, struct http_url *u, struct mb_err *err);

struct http_request {
    const char *url;
    const char *content_type; /* e.g. "application/x-www-form-urlencoded" */
    const char *body;
    size_t body_len;
    const char *accept;        /* NULL = "application/json" */
    const char *ca_file;       /* NULL = system bundle */
    int allow_plain;           /* accept http:// (tests and loopback only) */
    int connect_timeout_ms;    /* 0 = 10000 */
    int io_timeout_ms;         /* 0 = 15000 */
    int deadline_ms;           /* whole exchange; 0 = 30000 */
    size_t max_body;           /* 0 = HTTP_CLIENT_DEFAULT_MAX_BODY */
    const char *extra_headers; /* "Name: value\r\n"..., written as given; NULL = none */
};

struct http_response {
    int status;
    char content_type[128]; /* lower-cased, parameters kept; "" if none */
    char *body;             /* NUL-terminated (the count is body_len) */
    size_t body_len;
};

/* POST the body and read the answer. Returns 0 (any status) or a negative mb_errc. */
int http_post(const struct http_request *req, struct http_response *resp, struct mb_err *err);
void http_response_fini(struct http_response *resp);

/* Append s to a form-urlencoded body: "name=value" with '&' between pairs (RFC 1866 / WHATWG:
 * unreserved characters kept, space as "+", the rest %XX). */
struct buf;
int http_form_add(struct buf *b, const char *name, const char *value);

#endif
