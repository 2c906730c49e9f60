/* http_client: bounded HTTP/1.1 POST over net_conn (see http_client.h). */
#include "net/http_client.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/clock.h"
#include "base/buf.h"
#include "base/secret.h"
#include "base/xalloc.h"
#include "net/net_conn.h"

int http_url_parse(const char *url, struct http_url *u, struct mb_err *err)
{
    memset(u, 0, sizeof(*u));
    if (!url || !url[0])
        return mb_err_set(err, MB_ECONFIG, "empty URL");
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return mb_err_set(err, MB_ECONFIG, "URL has a space or a non-ASCII character");
    const char *p;
    if (strncasecmp(url, "https://", 8) == 0) {
        u->tls = 1;
        u->port = 443;
        p = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        u->port = 80;
        p = url + 7;
    } else {
        return mb_err_set(err, MB_ECONFIG, "URL must start with https://");
    }
    size_t auth_len = strcspn(p, "/?#");
    const char *rest = p + auth_len;
    if (memchr(p, '@', auth_len))
        return mb_err_set(err, MB_ECONFIG, "URL must not carry a user name or password");
    if (strchr(rest, '#'))
        return mb_err_set(err, MB_ECONFIG, "URL must not have a #fragment");
    const char *host = p, *host_end, *port = NULL;
    if (*p == '[') {
        host = p + 1;
        host_end = memchr(p, ']', auth_len);
        if (!host_end)
            return mb_err_set(err, MB_ECONFIG, "URL has an unclosed [IPv6] host");
        if (host_end + 1 < rest) {
            if (host_end[1] != ':')
                return mb_err_set(err, MB_ECONFIG, "URL has garbage after its [IPv6] host");
            port = host_end + 2;
        }
    } else {
        host_end = memchr(p, ':', auth_len);
        if (host_end)
            port = host_end + 1;
        else
            host_end = rest;
    }
    size_t hl = (size_t)(host_end - host);
    if (hl == 0 || hl >= sizeof(u->host))
        return mb_err_set(err, MB_ECONFIG, "URL has no host or a too long one");
    memcpy(u->host, host, hl);
    if (port) {
        if (port >= rest)
            return mb_err_set(err, MB_ECONFIG, "URL has an empty port");
        unsigned v = 0;
        for (const char *q = port; q < rest; q++) {
            if (!isdigit((unsigned char)*q) || v > 65535)
                return mb_err_set(err, MB_ECONFIG, "URL has a bad port");
            v = v * 10 + (unsigned)(*q - '0');
        }
        if (v == 0 || v > 65535)
            return mb_err_set(err, MB_ECONFIG, "URL has a bad port");
        u->port = v;
    }
    if (strlen(rest) + 2 > sizeof(u->path))
        return mb_err_set(err, MB_ECONFIG, "URL path too long");
    snprintf(u->path, sizeof(u->path), "%s%s", rest[0] == '/' ? "" : "/", rest);
    return 0;
}

int http_form_add(struct buf *b, const char *name, const char *value)
{
    const char *parts[2] = {name, value};
    if (b->len && buf_putc(b, '&'))
        return MB_ETOOBIG;
    for (int k = 0; k < 2; k++) {
        if (k == 1 && buf_putc(b, '='))
            return MB_ETOOBIG;
        for (const unsigned char *p = (const unsigned char *)parts[k]; *p; p++) {
            int rc;
            if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~' || *p == '*')
                rc = buf_putc(b, (char)*p);
            else if (*p == ' ')
                rc = buf_putc(b, '+');
            else
                rc = buf_printf(b, "%%%02X", *p);
            if (rc)
                return MB_ETOOBIG;
        }
    }
    return 0;
}

/* ---- reading the answer ---- */

struct hc_reader {
    struct net_conn *c;
    const char *where;
    int io_ms;
    int deadline_total_ms;
    int64_t deadline;
    char buf[8192];
    size_t pos, len;
    int eof;
};

/* Read more bytes into the (compacted) buffer. 0: got some or EOF (r->eof). */
static int hc_fill(struct hc_reader *r, struct mb_err *err)
{
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->len == sizeof(r->buf)) /* only a line can fill it: hc_body drains it first */
        return mb_err_set(err, MB_ETOOBIG, "%s sent a header line over %zu bytes", r->where,
                          sizeof(r->buf));
    int64_t left = r->deadline - mb_mono_ms();
    if (left <= 0)
        return mb_err_set(err, MB_ECONN, "%s did not answer completely within %d s", r->where,
                          r->deadline_total_ms / 1000);
    net_conn_set_timeout(r->c, (int)(left < r->io_ms ? left : r->io_ms));
    ssize_t n = net_conn_read(r->c, r->buf + r->len, sizeof(r->buf) - r->len, err);
    if (n < 0) {
        if (mb_mono_ms() >= r->deadline)
            return mb_err_set(err, MB_ECONN, "%s did not answer completely within %d s", r->where,
                              r->deadline_total_ms / 1000);
        return (int)n;
    }
    if (n == 0)
        r->eof = 1;
    r->len += (size_t)n;
    return 0;
}

/* One CRLF-terminated line (CR optional) of at most max bytes into line (NUL-terminated). */
static int hc_line(struct hc_reader *r, char *line, size_t max, size_t *total, size_t cap,
                   struct mb_err *err)
{
    for (;;) {
        char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
        if (nl) {
            size_t n = (size_t)(nl - (r->buf + r->pos));
            *total += n + 1;
            if (n >= max || *total > cap)
                return mb_err_set(err, MB_ETOOBIG, "%s sent a header block over %zu bytes",
                                  r->where, cap);
            memcpy(line, r->buf + r->pos, n);
            if (n && line[n - 1] == '\r')
                n--;
            line[n] = '\0';
            r->pos += (size_t)(nl - (r->buf + r->pos)) + 1;
            return 0;
        }
        if (r->len - r->pos >= max || *total + (r->len - r->pos) > cap)
            return mb_err_set(err, MB_ETOOBIG, "%s sent a header block over %zu bytes", r->where,
                              cap);
        if (r->eof)
            return mb_err_set(err, MB_ECONN,
                              "%s closed the connection in the middle of its "
                              "answer headers",
                              r->where);
        int rc = hc_fill(r, err);
        if (rc)
            return rc;
    }
}

/* Copy up to want bytes of body into out (bounded by max). want = SIZE_MAX: until EOF. */
static int hc_body(struct hc_reader *r, struct buf *out, size_t want, struct mb_err *err)
{
    while (want > 0) {
        if (r->pos == r->len) {
            if (r->eof) {
                if (want == SIZE_MAX)
                    return 0;
                return mb_err_set(err, MB_ECONN,
                                  "%s closed the connection before the end "
                                  "of its answer",
                                  r->where);
            }
            int rc = hc_fill(r, err);
            if (rc)
                return rc;
            continue;
        }
        size_t n = r->len - r->pos;
        if (n > want)
            n = want;
        if (buf_append(out, r->buf + r->pos, n))
            return mb_err_set(err, MB_ETOOBIG, "%s sent an answer over %zu bytes", r->where,
                              out->max);
        r->pos += n;
        if (want != SIZE_MAX)
            want -= n;
    }
    return 0;
}

static int hc_chunked(struct hc_reader *r, struct buf *out, struct mb_err *err)
{
    char line[256];
    size_t total = 0;
    for (;;) {
        total = 0;
        int rc = hc_line(r, line, sizeof(line), &total, sizeof(line), err);
        if (rc)
            return rc == MB_ETOOBIG
                       ? mb_err_set(err, MB_EPROTO, "%s sent a bad chunk size line", r->where)
                       : rc;
        char *end;
        if (!isxdigit((unsigned char)line[0]))
            return mb_err_set(err, MB_EPROTO, "%s sent a bad chunk size", r->where);
        unsigned long long sz = strtoull(line, &end, 16);
        if (*end && *end != ';' && *end != ' ' && *end != '\t')
            return mb_err_set(err, MB_EPROTO, "%s sent a bad chunk size", r->where);
        if (sz > out->max - out->len)
            return mb_err_set(err, MB_ETOOBIG, "%s sent an answer over %zu bytes", r->where,
                              out->max);
        if (sz == 0)
            break;
        rc = hc_body(r, out, (size_t)sz, err);
        if (rc)
            return rc;
        total = 0;
        rc = hc_line(r, line, sizeof(line), &total, sizeof(line), err);
        if (rc)
            return rc;
        if (line[0])
            return mb_err_set(err, MB_EPROTO, "%s sent a chunk longer than announced", r->where);
    }
    /* Trailer fields up to the empty line. */
    total = 0;
    for (int i = 0; i < 64; i++) {
        int rc = hc_line(r, line, sizeof(line), &total, HTTP_CLIENT_MAX_HEADER, err);
        if (rc)
            return rc;
        if (!line[0])
            return 0;
    }
    return mb_err_set(err, MB_EPROTO, "%s sent too many trailer fields", r->where);
}

static int hc_read_answer(struct hc_reader *r, size_t max_body, struct http_response *resp,
                          struct mb_err *err)
{
    char line[HTTP_CLIENT_MAX_HEADER];
    size_t total = 0;
    int rc;
    /* Status line; 1xx interim answers are skipped. */
    for (int round = 0;; round++) {
        rc = hc_line(r, line, sizeof(line), &total, HTTP_CLIENT_MAX_HEADER, err);
        if (rc)
            return rc;
        int status = 0;
        if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) || line[8] != ' '
            || !isdigit((unsigned char)line[9]) || !isdigit((unsigned char)line[10])
            || !isdigit((unsigned char)line[11]) || (line[12] && line[12] != ' '))
            return mb_err_set(err, MB_EPROTO, "%s did not answer in HTTP", r->where);
        status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
        if (status < 100)
            return mb_err_set(err, MB_EPROTO, "%s answered a bad HTTP status", r->where);
        resp->status = status;
        if (status >= 200 || round > 4)
            break;
        do { /* skip the interim answer's fields */
            rc = hc_line(r, line, sizeof(line), &total, HTTP_CLIENT_MAX_HEADER, err);
            if (rc)
                return rc;
        } while (line[0]);
    }
    int chunked = 0;
    long long clen = -1;
    for (;;) {
        rc = hc_line(r, line, sizeof(line), &total, HTTP_CLIENT_MAX_HEADER, err);
        if (rc)
            return rc;
        if (!line[0])
            break;
        char *colon = strchr(line, ':');
        if (!colon || colon == line)
            return mb_err_set(err, MB_EPROTO, "%s sent a malformed header line", r->where);
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            v[--vl] = '\0';
        if (strcasecmp(line, "Content-Length") == 0) {
            if (!vl || vl > 18 || strspn(v, "0123456789") != vl)
                return mb_err_set(err, MB_EPROTO, "%s sent a bad Content-Length", r->where);
            long long n = atoll(v);
            if (clen >= 0 && n != clen)
                return mb_err_set(err, MB_EPROTO, "%s sent two different Content-Length", r->where);
            clen = n;
        } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
            if (strcasecmp(v, "chunked") != 0)
                return mb_err_set(err, MB_EPROTO, "%s used transfer coding \"%.40s\"", r->where, v);
            chunked = 1;
        } else if (strcasecmp(line, "Content-Type") == 0) {
            size_t i;
            for (i = 0; v[i] && i + 1 < sizeof(resp->content_type); i++)
                resp->content_type[i] = (char)tolower((unsigned char)v[i]);
            resp->content_type[i] = '\0';
        }
    }
    struct buf out;
    buf_init(&out, max_body);
    if (resp->status == 204 || resp->status == 304)
        rc = 0;
    else if (chunked)
        rc = hc_chunked(r, &out, err);
    else if (clen >= 0) {
        if ((unsigned long long)clen > max_body)
            rc = mb_err_set(err, MB_ETOOBIG, "%s announced an answer of %lld bytes (limit %zu)",
                            r->where, clen, max_body);
        else
            rc = hc_body(r, &out, (size_t)clen, err);
    } else
        rc = hc_body(r, &out, SIZE_MAX, err);
    if (rc) {
        if (out.data)
            secret_wipe(out.data, out.len);
        buf_fini(&out);
        return rc;
    }
    if (!out.data)
        buf_puts(&out, "");
    resp->body = buf_take(&out, &resp->body_len);
    return 0;
}

int http_post(const struct http_request *req, struct http_response *resp, struct mb_err *err)
{
    memset(resp, 0, sizeof(*resp));
    struct http_url u;
    int rc = http_url_parse(req->url, &u, err);
    if (rc)
        return rc;
    if (!u.tls && !req->allow_plain)
        return mb_err_set(err, MB_ECONFIG, "URL must start with https://");
    int connect_ms = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 10000;
    int io_ms = req->io_timeout_ms > 0 ? req->io_timeout_ms : 15000;
    int total_ms = req->deadline_ms > 0 ? req->deadline_ms : 30000;
    if (connect_ms > total_ms)
        connect_ms = total_ms;
    if (io_ms > total_ms)
        io_ms = total_ms;
    int64_t deadline = mb_mono_ms() + total_ms;
    char where[300];
    snprintf(where, sizeof(where), strchr(u.host, ':') ? "[%s]:%u" : "%s:%u", u.host, u.port);

    struct net_conn_opts o = {
        .host = u.host,
        .port = u.port,
        .tls = u.tls,
        .ca_file = req->ca_file,
        .connect_timeout_ms = connect_ms,
        .io_timeout_ms = io_ms,
    };
    struct net_conn *c = NULL;
    rc = net_conn_open(&o, &c, err);
    if (rc)
        return rc;
    struct buf head;
    buf_init(&head, HTTP_CLIENT_MAX_HEADER);
    int hostv6 = strchr(u.host, ':') != NULL;
    int defport = u.port == (u.tls ? 443u : 80u);
    char portbuf[8] = "";
    if (!defport)
        snprintf(portbuf, sizeof(portbuf), ":%u", u.port);
    rc = buf_printf(&head,
                    "POST %s HTTP/1.1\r\nHost: %s%s%s%s\r\nUser-Agent: migrabox\r\n"
                    "Accept: %s\r\nAccept-Encoding: identity\r\nConnection: close\r\n"
                    "Content-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
                    u.path, hostv6 ? "[" : "", u.host, hostv6 ? "]" : "", portbuf,
                    req->accept ? req->accept : "application/json",
                    req->content_type ? req->content_type : "application/octet-stream",
                    req->body_len, req->extra_headers ? req->extra_headers : "");
    if (rc)
        rc = mb_err_set(err, MB_ECONFIG, "request head too long");
    if (!rc)
        rc = net_conn_write(c, head.data, head.len, err);
    buf_fini(&head);
    if (!rc && req->body_len)
        rc = net_conn_write(c, req->body, req->body_len, err);
    if (!rc) {
        struct hc_reader *r = xcalloc(1, sizeof(*r));
        r->c = c;
        r->where = where;
        r->io_ms = io_ms;
        r->deadline_total_ms = total_ms;
        r->deadline = deadline;
        rc = hc_read_answer(r, req->max_body ? req->max_body : HTTP_CLIENT_DEFAULT_MAX_BODY, resp,
                            err);
        secret_wipe(r->buf, sizeof(r->buf));
        free(r);
    }
    net_conn_free(&c);
    if (rc)
        http_response_fini(resp);
    return rc;
}

void http_response_fini(struct http_response *resp)
{
    if (resp->body) {
        secret_wipe(resp->body, resp->body_len);
        free(resp->body);
    }
    memset(resp, 0, sizeof(*resp));
}
