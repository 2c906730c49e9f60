/* imap_append: streamed and pipelined APPEND. See imap_append.h. */
#include "imap/imap_append.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/xalloc.h"
#include "imap/imap_date.h"
#include "imap/imap_internal.h"

#define CCAP ((IMAP_APPEND_WINDOW_MAX + 1) * IMAP_MULTIAPPEND_MAX)

static const struct imap_module append_module;

void imap_append_set_callback(struct imap_client *c, imap_append_done_cb *cb, void *ctx)
{
    c->app.cb = cb;
    c->app.cb_ctx = ctx;
    c->mod = &append_module;
}

static int append_busy(const struct imap_client *c)
{
    return c->app.active;
}

size_t imap_append_pending(const struct imap_client *c)
{
    return c->app.clen;
}

static int atom_char(unsigned char ch)
{
    if (ch <= 0x20 || ch >= 0x7f)
        return 0;
    return !strchr("(){%*\"\\]", ch);
}

int imap_append_flag_ok(const char *f)
{
    if (*f == '\\')
        f++;
    if (!*f || strlen(f) > 200)
        return 0;
    for (; *f; f++) {
        if (!atom_char((unsigned char)*f))
            return 0;
    }
    return 1;
}

static void deliver(struct imap_client *c, void *cookie, int status, enum imap_code code,
                    uint32_t uv, uint32_t uid, const char *text)
{
    struct imap_append_result r = {cookie, status, code, uv, uid, text};
    if (c->app.cb)
        c->app.cb(c->app.cb_ctx, &r);
}

static void *cookie_pop(struct imap_client *c)
{
    void *k = c->app.cookies[c->app.chead];
    c->app.chead = (c->app.chead + 1) % CCAP;
    c->app.clen--;
    return k;
}

/* Expand a UIDPLUS uid-set ("5", "5:7", "5,9:10") into at most max UIDs, in order.
 * Returns the count, or 0 if malformed. */
static size_t uid_set_expand(const char *s, uint32_t *out, size_t max)
{
    size_t n = 0;
    while (*s) {
        char *end;
        unsigned long a = strtoul(s, &end, 10), b;
        if (end == s || a == 0 || a > UINT32_MAX)
            return 0;
        s = end;
        b = a;
        if (*s == ':') {
            s++;
            b = strtoul(s, &end, 10);
            if (end == s || b == 0 || b > UINT32_MAX)
                return 0;
            s = end;
        }
        if (a <= b) {
            for (unsigned long u = a; u <= b; u++) {
                if (n == max)
                    return 0;
                out[n++] = (uint32_t)u;
            }
        } else {
            for (unsigned long u = a; u >= b; u--) {
                if (n == max)
                    return 0;
                out[n++] = (uint32_t)u;
            }
        }
        if (*s == ',')
            s++;
        else if (*s)
            return 0;
    }
    return n;
}

/* The answer to an APPEND of n messages (the client's queue keeps commands in order, and
 * their messages' cookies are in the same order). */
static void complete(struct imap_client *c, const struct imap_response *r, size_t n)
{
    struct imap_append_state *a = &c->app;
    int status = imap_resp_grade(IMAP_RESP_CTX_APPEND, r);
    enum imap_code code = imap_resp_code(r);
    c->last_code = code;
    char text[MB_ERR_LEN];
    imap_resp_describe(r, text, sizeof(text));
    uint32_t uv = 0, uids[IMAP_MULTIAPPEND_MAX];
    size_t nuids = 0;
    if (status == 0 && code == IMAP_CODE_APPENDUID && r->ncode >= 3) {
        uint64_t v;
        const char *set = imap_resp_astring(&r->code[2], NULL);
        if (imap_resp_number(&r->code[1], UINT32_MAX, &v) == 0 && set) {
            uv = (uint32_t)v;
            nuids = uid_set_expand(set, uids, IMAP_MULTIAPPEND_MAX);
        }
        if (nuids != n) {
            uv = 0;
            nuids = 0;
        }
    }
    for (size_t i = 0; i < n && a->clen > 0; i++)
        deliver(c, cookie_pop(c), status, code, nuids ? uv : 0, nuids ? uids[i] : 0, text);
}

/* The message's completions, failed with the outcome unknown. */
static void fail_cookies(struct imap_client *c, size_t n, int code, const char *msg)
{
    char text[MB_ERR_LEN];
    snprintf(text, sizeof(text), "outcome unknown: %s", msg);
    for (size_t i = 0; i < n && c->app.clen > 0; i++)
        deliver(c, cookie_pop(c), code, IMAP_CODE_NONE, 0, 0, text);
}

/* An APPEND of n messages in the client's queue answered (r) or lost with the connection. */
static void append_done(struct imap_client *c, void *ctx, size_t n, const struct imap_response *r,
                        int fail_code, const char *fail_msg)
{
    (void)ctx;
    c->app.inflight--;
    if (r)
        complete(c, r, n);
    else
        fail_cookies(c, n, fail_code, fail_msg);
}

/* The connection broke after the queue was failed: the messages of a MULTIAPPEND not closed
 * yet are lost too; nothing is open any more. */
static void append_broken(struct imap_client *c, const char *msg)
{
    struct imap_append_state *a = &c->app;
    fail_cookies(c, a->clen, MB_ECONN, msg);
    a->inflight = 0;
    a->batch_open = 0;
    a->batch_n = 0;
    a->active = 0;
    XFREE(a->batch_mailbox);
}

static int push_cmd(struct imap_client *c, const char *tag, size_t n, struct mb_err *err)
{
    int rc = imap_client_pending_add(c, tag, append_done, NULL, n, err);
    if (rc == 0)
        c->app.inflight++;
    return rc;
}

static int close_batch(struct imap_client *c, struct mb_err *err)
{
    struct imap_append_state *a = &c->app;
    int rc = imap_client_write(c, "\r\n", 2, err);
    if (rc < 0)
        return rc;
    imap_client_trace(c, 'C', "(end of MULTIAPPEND)");
    rc = push_cmd(c, a->tag, a->batch_n, err);
    if (rc < 0)
        return rc;
    a->batch_open = 0;
    a->batch_n = 0;
    XFREE(a->batch_mailbox);
    return 0;
}

static uint64_t append_limit(const struct imap_client *c)
{
    const char *p = strstr(imap_client_caps(c), " APPENDLIMIT=");
    if (!p)
        return 0;
    return strtoull(p + 13, NULL, 10);
}

int imap_append_begin(struct imap_client *c, const char *mailbox, const char *const *flags,
                      size_t nflags, const char *internaldate, uint64_t size, struct mb_err *err)
{
    struct imap_append_state *a = &c->app;
    struct imap_cmd cmd;
    int rc = imap_client_check(c, err);
    if (rc < 0)
        return rc;
    c->mod = &append_module;
    if (a->active)
        return mb_err_set(err, MB_ECONFIG, "previous APPEND not ended");
    for (size_t i = 0; i < nflags; i++) {
        if (!imap_append_flag_ok(flags[i]))
            return mb_err_set(err, MB_ECONFIG, "flag cannot be sent in APPEND");
    }
    if (internaldate && !imap_date_valid(internaldate))
        return mb_err_set(err, MB_ECONFIG, "invalid INTERNALDATE");
    if (size > UINT32_MAX)
        return MB_MSG(err, MB_EMSG, MSG_TOO_BIG_IMAP, (unsigned long long)size);
    uint64_t lim = append_limit(c);
    if (lim && size > lim)
        return MB_MSG(err, MB_EMSG, MSG_OVER_APPENDLIMIT, (unsigned long long)size,
                      (unsigned long long)lim);

    int multi = c->multiappend_max > 1 && imap_client_has_cap(c, "MULTIAPPEND");
    if (a->batch_open
        && (!multi || strcmp(a->batch_mailbox, mailbox) != 0 || a->batch_n >= c->multiappend_max)) {
        rc = close_batch(c, err);
        if (rc < 0)
            return rc;
    }
    int cont = a->batch_open;
    /* window: a new command waits for room */
    while (!cont && (a->inflight >= c->append_window || c->pend_len >= IMAP_PENDING_MAX)) {
        rc = imap_client_pump(c, err);
        if (rc < 0)
            return rc;
    }

    int plus = imap_client_literal_plus_ok(c, size);
    if (cont) {
        memset(&cmd, 0, sizeof(cmd));
        snprintf(cmd.tag, sizeof(cmd.tag), "%s", a->tag);
        buf_init(&cmd.line, 64 * 1024);
        buf_init(&cmd.trace, 1024);
        imap_client_cmd_raw(&cmd, " (");
    } else {
        imap_client_cmd_begin(c, &cmd, "APPEND");
        rc =
            imap_client_cmd_string(c, &cmd, mailbox, strlen(mailbox), 0, IMAP_RESP_CTX_APPEND, err);
        if (rc < 0)
            goto out;
        imap_client_cmd_raw(&cmd, " (");
    }
    for (size_t i = 0, k = 0; i < nflags; i++) {
        if (strcasecmp(flags[i], "\\Recent") == 0)
            continue;
        if (k++)
            imap_client_cmd_raw(&cmd, " ");
        imap_client_cmd_raw(&cmd, flags[i]);
    }
    imap_client_cmd_raw(&cmd, ")");
    if (internaldate) {
        imap_client_cmd_raw(&cmd, " \"");
        imap_client_cmd_raw(&cmd, internaldate);
        imap_client_cmd_raw(&cmd, "\"");
    }
    buf_printf(&cmd.trace, " {%llu%s}", (unsigned long long)size, plus ? "+" : "");
    buf_printf(&cmd.line, " {%llu%s}\r\n", (unsigned long long)size, plus ? "+" : "");
    imap_client_trace(c, 'C', buf_cstr(&cmd.trace));
    rc = imap_client_write(c, cmd.line.data, cmd.line.len, err);
    if (rc < 0)
        goto out;
    if (!cont)
        snprintf(a->tag, sizeof(a->tag), "%s", cmd.tag);
    if (!plus) {
        rc = imap_client_wait_cont(c, a->tag, IMAP_RESP_CTX_APPEND, err);
        if (rc < 0) {
            if (!c->broken && a->batch_open) {
                /* the whole MULTIAPPEND command was refused */
                char text[MB_ERR_LEN];
                snprintf(text, sizeof(text), "%s", err ? err->msg : "refused");
                for (size_t i = 0; i < a->batch_n && a->clen > 0; i++)
                    deliver(c, cookie_pop(c), rc, c->last_code, 0, 0, text);
                a->batch_open = 0;
                a->batch_n = 0;
                XFREE(a->batch_mailbox);
            }
            goto out;
        }
    }
    if (multi && !cont) {
        free(a->batch_mailbox);
        a->batch_mailbox = xstrdup(mailbox);
    }
    a->active = 1;
    a->left = size;
out:
    imap_client_cmd_fini(&cmd);
    return rc;
}

int imap_append_write(struct imap_client *c, const void *p, size_t n, struct mb_err *err)
{
    struct imap_append_state *a = &c->app;
    int rc = imap_client_check(c, err);
    if (rc < 0)
        return rc;
    if (!a->active)
        return mb_err_set(err, MB_ECONFIG, "no APPEND in progress");
    if (n > a->left)
        return mb_err_set(err, MB_ECONFIG, "more message bytes than announced");
    rc = imap_client_write(c, p, n, err);
    if (rc < 0)
        return rc;
    a->left -= n;
    return 0;
}

/* Handle answers that already arrived, without waiting for more. */
static int drain(struct imap_client *c, struct mb_err *err)
{
    while (c->app.inflight > 0 && !c->broken) {
        if (c->rpos == c->rlen) {
            struct mb_err e;
            int rc = net_conn_wait_readable(c->conn, 0, &e);
            if (rc < 0)
                return imap_client_fail_err(c, rc, err, &e);
            if (rc == 0)
                return 0;
        }
        int rc = imap_client_pump(c, err);
        if (rc < 0)
            return rc;
    }
    return imap_client_check(c, err);
}

int imap_append_end(struct imap_client *c, void *cookie, struct mb_err *err)
{
    struct imap_append_state *a = &c->app;
    int rc = imap_client_check(c, err);
    if (rc < 0)
        return rc;
    if (!a->active)
        return mb_err_set(err, MB_ECONFIG, "no APPEND in progress");
    if (a->left != 0)
        return imap_client_fail(c, MB_ECONFIG, err,
                                "APPEND ended with %llu bytes missing: connection abandoned",
                                (unsigned long long)a->left);
    a->active = 0;
    a->cookies[(a->chead + a->clen) % CCAP] = cookie;
    a->clen++;
    if (a->batch_mailbox) {
        a->batch_open = 1;
        a->batch_n++;
        if (a->batch_n >= c->multiappend_max) {
            rc = close_batch(c, err);
            if (rc < 0)
                return rc;
        }
    } else {
        rc = imap_client_write(c, "\r\n", 2, err);
        if (rc < 0)
            return rc;
        rc = push_cmd(c, a->tag, 1, err);
        if (rc < 0)
            return rc;
    }
    return drain(c, err);
}

int imap_append_multi_active(const struct imap_client *c)
{
    return c->multiappend_max > 1 && imap_client_has_cap(c, "MULTIAPPEND");
}

int imap_append_set_multi(struct imap_client *c, unsigned max, struct mb_err *err)
{
    int rc = imap_append_flush(c, err);
    if (rc < 0)
        return rc;
    c->multiappend_max = max > IMAP_MULTIAPPEND_MAX ? IMAP_MULTIAPPEND_MAX : max;
    return 0;
}

int imap_append_flush(struct imap_client *c, struct mb_err *err)
{
    struct imap_append_state *a = &c->app;
    int rc = imap_client_check(c, err);
    if (rc < 0)
        return rc;
    if (a->active)
        return mb_err_set(err, MB_ECONFIG, "APPEND not ended");
    if (a->batch_open) {
        rc = close_batch(c, err);
        if (rc < 0)
            return rc;
    }
    while (a->inflight > 0) {
        rc = imap_client_pump(c, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int append_settle(struct imap_client *c, struct mb_err *err)
{
    return imap_append_flush(c, err);
}

static const struct imap_module append_module = {append_broken, append_busy, append_settle};
