/* imap_client: connection, command machinery and the non-streaming commands.
 * See imap_client.h; fetch and append live in imap_fetch.c and imap_append.c. */
#include "imap/imap_client.h"

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>

#include <mbedtls/base64.h>

#include "base/clock.h"
#include "base/secret.h"
#include "base/xalloc.h"
#include "imap/imap_internal.h"
#include "imap/imap_utf7.h"

#define CAPS_MAX (16 * 1024)
#define CMD_MAX (64 * 1024)
#define SPOOL_MAX_DEFAULT ((uint64_t)256 * 1024 * 1024)

/* ---- errors and I/O ---- */

/* Every queued command completed as failed (outcome unknown), then the module's own state. */
static void fail_pending(struct imap_client *c, const char *msg)
{
    while (c->pend_len > 0) {
        struct imap_pending p = c->pend[c->pend_head];
        c->pend_head = (c->pend_head + 1) % IMAP_PENDING_MAX;
        c->pend_len--;
        p.done(c, p.ctx, p.arg, NULL, MB_ECONN, msg);
    }
    c->pend_head = 0;
    if (c->mod)
        c->mod->broken(c, msg);
}

int imap_client_fail(struct imap_client *c, int code, struct mb_err *err, const char *fmt, ...)
{
    char msg[MB_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!c->broken) {
        c->broken = 1;
        mb_err_set(&c->broken_err, code, "%s", msg);
        fail_pending(c, msg);
    }
    return mb_err_set(err, code, "%s", msg);
}

int imap_client_fail_err(struct imap_client *c, int code, struct mb_err *err,
                         const struct mb_err *why)
{
    struct mb_err m = *why; /* why may be err itself */
    m.code = code;
    if (!c->broken) {
        c->broken = 1;
        c->broken_err = m;
        fail_pending(c, m.msg);
    }
    if (err)
        *err = m;
    return code;
}

void imap_client_abandon(struct imap_client *c, const char *why)
{
    struct mb_err ignored;
    imap_client_fail(c, MB_ECANCELED, &ignored, "%s", why);
}

int imap_client_check(struct imap_client *c, struct mb_err *err)
{
    if (!c->broken)
        return 0;
    if (err)
        *err = c->broken_err;
    return c->broken_err.code;
}

void imap_client_abort(struct imap_client *c, int code, const struct mb_err *why)
{
    c->abort_code = code;
    if (why)
        c->abort_err = *why;
    else
        mb_err_set(&c->abort_err, code, "transfer aborted by the caller");
    c->abort_err.code = code;
}

void imap_client_trace(struct imap_client *c, char dir, const char *line)
{
    if (c->trace)
        c->trace(c->trace_ctx, dir, line);
}

void imap_client_get_cancel(const struct imap_client *c, imap_stop_cb **stop_r, void **ctx_r)
{
    *stop_r = c->stop;
    *ctx_r = c->stop_ctx;
}

void imap_client_set_cancel(struct imap_client *c, imap_stop_cb *stop, void *ctx)
{
    c->stop = stop;
    c->stop_ctx = ctx;
}

int imap_client_write(struct imap_client *c, const void *p, size_t n, struct mb_err *err)
{
    struct mb_err e;
    int rc = imap_client_check(c, err);
    if (rc < 0)
        return rc;
    c->useful_ms = mb_mono_ms();
    rc = net_conn_write(c->conn, p, n, &e);
    if (rc < 0)
        return imap_client_fail_err(c, MB_ECONN, err, &e);
    return 0;
}

static void caps_set(struct imap_client *c, const struct imap_arg *a, size_t n)
{
    buf_reset(&c->caps);
    buf_putc(&c->caps, ' ');
    for (size_t i = 0; i < n; i++) {
        if (a[i].type != IMAP_ARG_ATOM)
            continue;
        for (size_t k = 0; k < a[i].len; k++)
            buf_putc(&c->caps, (char)toupper((unsigned char)a[i].str[k]));
        buf_putc(&c->caps, ' ');
    }
    c->caps_gen++;
}

/* Responses everybody cares about, whatever command runs. */
static void handle_common(struct imap_client *c, const struct imap_response *r)
{
    enum imap_code code = imap_resp_code(r);
    if (r->type == IMAP_RESP_UNTAGGED && r->status == IMAP_STATUS_NONE && r->nargs >= 1
        && imap_resp_atom_is(&r->args[0], "CAPABILITY"))
        caps_set(c, r->args + 1, r->nargs - 1);
    if (code == IMAP_CODE_CAPABILITY)
        caps_set(c, r->code + 1, r->ncode - 1);
    if (code == IMAP_CODE_ALERT)
        snprintf(c->alert, sizeof(c->alert), "%.*s", (int)r->text_len, r->text);
    if (r->type == IMAP_RESP_UNTAGGED && r->status == IMAP_STATUS_BYE) {
        c->bye = 1;
        imap_resp_describe(r, c->bye_text, sizeof(c->bye_text));
    }
}

/* ---- literal routing (parser callbacks) ---- */

static int lit_begin(void *ctx, struct imap_parser *p, uint64_t size)
{
    struct imap_client *c = ctx;
    c->lit_mode = IMAP_LIT_NONE;
    if (c->lit_hooks && c->lit_hooks->begin) {
        int how = c->lit_hooks->begin(c, p, size);
        if (how < 0)
            return how;
        if (how == IMAP_LITERAL_STREAM) {
            c->lit_mode = IMAP_LIT_HOOK;
            return how;
        }
        if (how == IMAP_LITERAL_INLINE)
            return how;
    }
    if (size <= c->limits.max_inline_literal)
        return IMAP_LITERAL_INLINE;
    /* A big literal nobody asked for: read it off the wire and drop it. */
    c->lit_mode = IMAP_LIT_DISCARD;
    return IMAP_LITERAL_STREAM;
}

static int lit_chunk(void *ctx, const char *d, size_t n)
{
    ((struct imap_client *)ctx)->useful_ms = mb_mono_ms();
    struct imap_client *c = ctx;
    if (c->lit_mode == IMAP_LIT_HOOK)
        return c->lit_hooks->chunk(c, d, n);
    return 0;
}

static int lit_end(void *ctx)
{
    struct imap_client *c = ctx;
    enum imap_lit_mode m = c->lit_mode;
    c->lit_mode = IMAP_LIT_NONE;
    if (m == IMAP_LIT_HOOK)
        return c->lit_hooks->end(c);
    return 0;
}

static const struct imap_parser_literal_cbs client_lit_cbs = {lit_begin, lit_chunk, lit_end};

int imap_client_read_resp(struct imap_client *c, const struct imap_response **r_r,
                          struct mb_err *err)
{
    struct mb_err e;
    int rc = imap_client_check(c, err);
    if (rc < 0)
        return rc;
    int limit = net_conn_timeout(c->conn);
    if (limit <= 0)
        limit = 120000;
    if (!c->useful_ms)
        c->useful_ms = mb_mono_ms();
    for (;;) {
        if (c->rpos == c->rlen) {
            /* Wait in slices: cancellation within half a second, and an overall deadline
             * that only useful answers push back — a server sending status lines forever
             * ("* OK still here") does not hold the connection past the I/O timeout. */
            for (;;) {
                if (c->stop && c->stop(c->stop_ctx))
                    return imap_client_fail(c, MB_ECANCELED, err, "cancelled");
                int64_t left = c->useful_ms + limit - mb_mono_ms();
                if (left <= 0 || net_conn_deadline_passed()) {
                    net_conn_read_timed_out(c->conn, limit, &e);
                    return imap_client_fail_err(c, MB_ECONN, err, &e);
                }
                int w = net_conn_wait_readable(c->conn, left < 500 ? (int)left : 500, &e);
                if (w < 0)
                    return imap_client_fail_err(c, w, err, &e);
                if (w > 0)
                    break;
            }
            ssize_t n = net_conn_read(c->conn, c->rbuf, sizeof(c->rbuf), &e);
            if (n < 0)
                return imap_client_fail_err(c, (int)n, err, &e);
            if (n == 0) {
                struct mb_err m;
                if (c->bye)
                    MB_MSG(&m, MB_ECONN, IMAP_CLOSED_BYE, c->bye_text);
                else if (imap_parser_in_progress(c->parser))
                    MB_MSG0(&m, MB_ECONN, IMAP_CLOSED_MID);
                else
                    MB_MSG0(&m, MB_ECONN, IMAP_CLOSED);
                return imap_client_fail_err(c, MB_ECONN, err, &m);
            }
            c->rpos = 0;
            c->rlen = (size_t)n;
        }
        size_t used;
        rc = imap_parser_feed(c->parser, c->rbuf + c->rpos, c->rlen - c->rpos, &used);
        c->rpos += used;
        if (rc == IMAP_PARSE_COMPLETE) {
            const struct imap_response *r = imap_parser_response(c->parser);
            /* Useful: anything but an untagged OK/NO/BAD without a response code. */
            if (!(r->type == IMAP_RESP_UNTAGGED && r->ncode == 0
                  && (r->status == IMAP_STATUS_OK || r->status == IMAP_STATUS_NO
                      || r->status == IMAP_STATUS_BAD)))
                c->useful_ms = mb_mono_ms();
            if (c->trace) {
                char line[512];
                imap_resp_format(r, line, sizeof(line));
                imap_client_trace(c, 'S', line);
            }
            handle_common(c, r);
            *r_r = r;
            return 0;
        }
        if (rc == IMAP_PARSE_ERROR) {
            if (c->abort_code < 0) {
                int code = c->abort_code;
                c->abort_code = 0;
                return imap_client_fail_err(c, code, err, &c->abort_err);
            }
            struct mb_err m;
            MB_MSG(&m, MB_EPROTO, IMAP_PROTOCOL, imap_parser_error(c->parser));
            return imap_client_fail_err(c, MB_EPROTO, err, &m);
        }
    }
}

int imap_client_grade(struct imap_client *c, const struct imap_response *r, enum imap_resp_ctx ctx,
                      struct mb_err *err)
{
    c->last_code = imap_resp_code(r);
    int code = imap_resp_grade(ctx, r);
    if (code == 0)
        return 0;
    char text[MB_ERR_LEN];
    imap_resp_describe(r, text, sizeof(text));
    return mb_err_set(err, code, "%s", text);
}

int imap_client_pending_add(struct imap_client *c, const char *tag, imap_done_fn *done, void *ctx,
                            size_t arg, struct mb_err *err)
{
    if (c->pend_len == IMAP_PENDING_MAX)
        return mb_err_set(err, MB_ECONFIG, "too many commands in flight");
    struct imap_pending *p = &c->pend[(c->pend_head + c->pend_len) % IMAP_PENDING_MAX];
    snprintf(p->tag, sizeof(p->tag), "%s", tag);
    p->done = done;
    p->ctx = ctx;
    p->arg = arg;
    c->pend_len++;
    return 0;
}

/* The queued command a tagged answer completes (servers answer in order, mostly: the oldest
 * is looked at first), taken out of the queue; 0 when none has that tag. */
static int pending_take(struct imap_client *c, const char *tag, struct imap_pending *out)
{
    for (size_t k = 0; k < c->pend_len; k++) {
        size_t at = (c->pend_head + k) % IMAP_PENDING_MAX;
        if (strcmp(c->pend[at].tag, tag) != 0)
            continue;
        *out = c->pend[at];
        for (size_t j = k; j > 0; j--) /* close the gap: older entries move up one */
            c->pend[(c->pend_head + j) % IMAP_PENDING_MAX] =
                c->pend[(c->pend_head + j - 1) % IMAP_PENDING_MAX];
        c->pend_head = (c->pend_head + 1) % IMAP_PENDING_MAX;
        c->pend_len--;
        return 1;
    }
    return 0;
}

static int fail_unexpected_cont(struct imap_client *c, struct mb_err *err)
{
    struct mb_err m;
    MB_MSG0(&m, MB_EPROTO, IMAP_UNEXPECTED_CONT);
    return imap_client_fail_err(c, MB_EPROTO, err, &m);
}

int imap_client_dispatch(struct imap_client *c, const struct imap_response *r, struct mb_err *err)
{
    if (r->type == IMAP_RESP_TAGGED) {
        struct imap_pending p;
        struct mb_err m;
        if (!pending_take(c, r->tag, &p)) {
            MB_MSG(&m, MB_EPROTO, IMAP_UNKNOWN_TAG, r->tag);
            return imap_client_fail_err(c, MB_EPROTO, err, &m);
        }
        if (r->status == IMAP_STATUS_NONE) {
            /* back in the queue so that the failure completes it like the others */
            imap_client_pending_add(c, p.tag, p.done, p.ctx, p.arg, NULL);
            MB_MSG(&m, MB_EPROTO, IMAP_NO_STATUS, r->tag);
            return imap_client_fail_err(c, MB_EPROTO, err, &m);
        }
        p.done(c, p.ctx, p.arg, r, 0, NULL);
        return 0;
    }
    if (r->type == IMAP_RESP_CONTINUATION)
        return fail_unexpected_cont(c, err);
    if (c->untagged) {
        int rc = c->untagged(c->untagged_ctx, r);
        if (rc < 0)
            return mb_err_set(err, rc, "stopped by the caller");
    }
    return 0;
}

int imap_client_pump(struct imap_client *c, struct mb_err *err)
{
    const struct imap_response *r;
    int rc = imap_client_read_resp(c, &r, err);
    if (rc < 0)
        return rc;
    if (r->type == IMAP_RESP_CONTINUATION)
        return fail_unexpected_cont(c, err);
    struct mb_err e;
    rc = imap_client_dispatch(c, r, &e);
    if (rc < 0 && c->broken) {
        if (err)
            *err = e;
        return rc;
    }
    return 0;
}

static int send_cont_answer(struct imap_client *c, enum imap_cont_action cont, struct mb_err *err)
{
    if (cont == IMAP_CONT_CANCEL) {
        imap_client_trace(c, 'C', "*");
        return imap_client_write(c, "*\r\n", 3, err);
    }
    imap_client_trace(c, 'C', "");
    return imap_client_write(c, "\r\n", 2, err);
}

int imap_client_wait_tagged(struct imap_client *c, const char *tag, enum imap_resp_ctx ctx,
                            enum imap_cont_action cont, struct mb_err *err)
{
    const struct imap_response *r;
    int stop = 0; /* a callback asked to stop: finish reading, then report it */
    struct mb_err stop_err;
    for (;;) {
        int rc = imap_client_read_resp(c, &r, err);
        if (rc < 0)
            return rc;
        if (r->type == IMAP_RESP_TAGGED && strcmp(r->tag, tag) == 0) {
            if (r->status == IMAP_STATUS_NONE) {
                struct mb_err m;
                MB_MSG(&m, MB_EPROTO, IMAP_NO_STATUS, tag);
                return imap_client_fail_err(c, MB_EPROTO, err, &m);
            }
            rc = imap_client_grade(c, r, ctx, err);
            if (rc == 0 && stop) {
                if (err)
                    *err = stop_err;
                return stop_err.code;
            }
            return rc;
        }
        if (r->type == IMAP_RESP_CONTINUATION && cont != IMAP_CONT_FAIL) {
            rc = send_cont_answer(c, cont, err);
            if (rc < 0)
                return rc;
            continue;
        }
        rc = imap_client_dispatch(c, r, &stop_err);
        if (rc < 0) {
            if (c->broken) {
                if (err)
                    *err = stop_err;
                return rc;
            }
            if (!stop) {
                stop = 1;
                stop_err.code = rc;
                /* keep reading until the tagged answer; later callbacks are not called */
                c->untagged = NULL;
                c->lit_hooks = NULL;
            }
        }
    }
}

int imap_client_wait_cont(struct imap_client *c, const char *tag, enum imap_resp_ctx ctx,
                          struct mb_err *err)
{
    const struct imap_response *r;
    for (;;) {
        int rc = imap_client_read_resp(c, &r, err);
        if (rc < 0)
            return rc;
        if (r->type == IMAP_RESP_CONTINUATION)
            return 0;
        if (r->type == IMAP_RESP_TAGGED && strcmp(r->tag, tag) == 0) {
            rc = imap_client_grade(c, r, ctx, err);
            if (rc == 0)
                return imap_client_fail(c, MB_EPROTO, err,
                                        "command completed while its literal was not sent");
            return rc;
        }
        rc = imap_client_dispatch(c, r, err);
        if (rc < 0 && c->broken)
            return rc;
    }
}

/* ---- command building ---- */

void imap_client_cmd_begin(struct imap_client *c, struct imap_cmd *cmd, const char *verb)
{
    snprintf(cmd->tag, sizeof(cmd->tag), "A%u", ++c->next_tag);
    buf_init(&cmd->line, CMD_MAX);
    buf_init(&cmd->trace, 1024);
    buf_printf(&cmd->line, "%s %s", cmd->tag, verb);
    buf_printf(&cmd->trace, "%s %s", cmd->tag, verb);
}

void imap_client_cmd_raw(struct imap_cmd *cmd, const char *text)
{
    buf_puts(&cmd->line, text);
    buf_puts(&cmd->trace, text);
}

void imap_client_cmd_fini(struct imap_cmd *cmd)
{
    secret_wipe(cmd->line.data, cmd->line.len);
    buf_fini(&cmd->line);
    buf_fini(&cmd->trace);
}

int imap_client_literal_plus_ok(const struct imap_client *c, uint64_t len)
{
    if (c->no_literal_plus)
        return 0;
    if (imap_client_has_cap(c, "LITERAL+"))
        return 1;
    return imap_client_has_cap(c, "LITERAL-") && len <= 4096;
}

static int quotable(const char *s, size_t len, int strict)
{
    if (len > 1024)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch >= 0x7f)
            return 0;
        if (strict && (ch == '"' || ch == '\\'))
            return 0;
    }
    return 1;
}

static int cmd_flush(struct imap_client *c, struct imap_cmd *cmd, struct mb_err *err)
{
    imap_client_trace(c, 'C', buf_cstr(&cmd->trace));
    int rc = imap_client_write(c, cmd->line.data, cmd->line.len, err);
    secret_wipe(cmd->line.data, cmd->line.len);
    buf_reset(&cmd->line);
    buf_reset(&cmd->trace);
    return rc;
}

int imap_client_cmd_string(struct imap_client *c, struct imap_cmd *cmd, const char *s, size_t len,
                           int secret, enum imap_resp_ctx ctx, struct mb_err *err)
{
    int rc;
    if (memchr(s, '\0', len))
        return mb_err_set(err, MB_ECONFIG, "a command argument contains a NUL byte");
    /* no space right after '(' (ID field lists) */
    const char *sp = cmd->line.len && cmd->line.data[cmd->line.len - 1] == '(' ? "" : " ";
    if (quotable(s, len, secret)) {
        rc = buf_puts(&cmd->line, sp);
        rc |= buf_putc(&cmd->line, '"');
        for (size_t i = 0; i < len && rc == 0; i++) {
            if (s[i] == '"' || s[i] == '\\')
                rc = buf_putc(&cmd->line, '\\');
            if (rc == 0)
                rc = buf_putc(&cmd->line, s[i]);
        }
        if (rc == 0)
            rc = buf_putc(&cmd->line, '"');
        if (rc < 0)
            return mb_err_set(err, MB_ECONFIG, "command too long");
        if (secret) {
            buf_printf(&cmd->trace, "%s<redacted>", sp);
        } else {
            buf_puts(&cmd->trace, sp);
            buf_putc(&cmd->trace, '"');
            buf_append(&cmd->trace, s, len);
            buf_putc(&cmd->trace, '"');
        }
        return 0;
    }
    /* a literal */
    int plus = imap_client_literal_plus_ok(c, len);
    if (buf_printf(&cmd->line, "%s{%zu%s}\r\n", sp, len, plus ? "+" : "") < 0)
        return mb_err_set(err, MB_ECONFIG, "command too long");
    buf_printf(&cmd->trace, "%s{%zu%s}", sp, len, plus ? "+" : "");
    if (!plus) {
        rc = cmd_flush(c, cmd, err);
        if (rc < 0)
            return rc;
        rc = imap_client_wait_cont(c, cmd->tag, ctx, err);
        if (rc < 0)
            return rc;
    } else {
        imap_client_trace(c, 'C', buf_cstr(&cmd->trace));
        buf_reset(&cmd->trace);
    }
    if (buf_append(&cmd->line, s, len) < 0)
        return mb_err_set(err, MB_ECONFIG, "command too long");
    buf_puts(&cmd->trace, secret ? "<redacted>" : "<literal data>");
    return 0;
}

int imap_client_cmd_run(struct imap_client *c, struct imap_cmd *cmd, enum imap_resp_ctx ctx,
                        struct mb_err *err)
{
    int rc = 0;
    if (buf_append(&cmd->line, "\r\n", 2) < 0)
        rc = mb_err_set(err, MB_ECONFIG, "command too long");
    int64_t t0 = mb_mono_us();
    if (rc == 0)
        rc = cmd_flush(c, cmd, err);
    if (rc == 0)
        rc = imap_client_wait_tagged(c, cmd->tag, ctx, IMAP_CONT_FAIL, err);
    if (rc == 0) {
        int64_t t = mb_mono_us() - t0;
        if (t > 0 && (!c->rtt_min_us || t < c->rtt_min_us))
            c->rtt_min_us = t;
    }
    imap_client_cmd_fini(cmd);
    return rc;
}

int64_t imap_client_rtt_us(const struct imap_client *c)
{
    return c ? c->rtt_min_us : 0;
}

/* Every ordinary command starts here: no append half-written, outstanding ones answered. */
static int cmd_ready(struct imap_client *c, struct mb_err *err)
{
    int rc = imap_client_check(c, err);
    if (rc < 0)
        return rc;
    if (c->sel_tag[0])
        return mb_err_set(err, MB_ECONFIG, "a SELECT was sent and not finished");
    if (c->mod && c->mod->busy(c))
        return mb_err_set(err, MB_ECONFIG, "an APPEND literal is being written");
    if (c->mod && (rc = c->mod->settle(c, err)) < 0)
        return rc;
    while (c->pend_len > 0)
        if ((rc = imap_client_pump(c, err)) < 0)
            return rc;
    return 0;
}

static int run_simple(struct imap_client *c, struct imap_cmd *cmd, enum imap_resp_ctx ctx,
                      imap_untagged_cb *cb, void *cb_ctx, struct mb_err *err)
{
    c->untagged = cb;
    c->untagged_ctx = cb_ctx;
    int rc = imap_client_cmd_run(c, cmd, ctx, err);
    c->untagged = NULL;
    c->untagged_ctx = NULL;
    return rc;
}

int imap_client_command(struct imap_client *c, const char *line, enum imap_resp_ctx ctx,
                        imap_untagged_cb *cb, void *cb_ctx, struct mb_err *err)
{
    struct imap_cmd cmd;
    int rc = cmd_ready(c, err);
    if (rc < 0)
        return rc;
    if (strpbrk(line, "\r\n"))
        return mb_err_set(err, MB_ECONFIG, "command line contains CR or LF");
    imap_client_cmd_begin(c, &cmd, line);
    return run_simple(c, &cmd, ctx, cb, cb_ctx, err);
}

/* ---- connection ---- */

const char *imap_client_caps(const struct imap_client *c)
{
    return buf_cstr(&c->caps);
}

int imap_client_has_cap(const struct imap_client *c, const char *cap)
{
    char want[128];
    size_t n = strlen(cap);
    if (n == 0 || n + 3 > sizeof(want))
        return 0;
    want[0] = ' ';
    for (size_t i = 0; i < n; i++)
        want[i + 1] = (char)toupper((unsigned char)cap[i]);
    want[n + 1] = ' ';
    want[n + 2] = '\0';
    return strstr(buf_cstr(&c->caps), want) != NULL;
}

int imap_client_capability(struct imap_client *c, struct mb_err *err)
{
    return imap_client_command(c, "CAPABILITY", IMAP_RESP_CTX_GENERIC, NULL, NULL, err);
}

int imap_client_is_authenticated(const struct imap_client *c)
{
    return c->authenticated;
}

enum imap_code imap_client_last_code(const struct imap_client *c)
{
    return c->last_code;
}

const char *imap_client_alert(const struct imap_client *c)
{
    return c->alert;
}

unsigned imap_client_commands_sent(const struct imap_client *cli)
{
    return cli->next_tag;
}

int imap_client_is_broken(const struct imap_client *c)
{
    return c->broken;
}

static int starttls(struct imap_client *c, struct mb_err *err)
{
    struct mb_err e;
    if (!imap_client_has_cap(c, "STARTTLS"))
        return MB_MSG0(err, MB_EPROTO, IMAP_NO_STARTTLS);
    int rc = imap_client_command(c, "STARTTLS", IMAP_RESP_CTX_GENERIC, NULL, NULL, err);
    if (rc < 0)
        return rc;
    if (c->rpos != c->rlen) {
        struct mb_err m;
        MB_MSG0(&m, MB_EPROTO, IMAP_STARTTLS_DATA);
        return imap_client_fail_err(c, MB_EPROTO, err, &m);
    }
    rc = net_conn_start_tls(c->conn, &e);
    if (rc < 0)
        return imap_client_fail_err(c, rc, err, &e);
    buf_reset(&c->caps);
    return imap_client_capability(c, err);
}

int imap_client_connect(const struct imap_client_opts *o, struct imap_client **cli_r,
                        struct mb_err *err)
{
    struct net_conn_opts no;
    struct imap_client *c;
    const struct imap_response *r;
    int rc;

    *cli_r = NULL;
    if (!o->host || !*o->host)
        return mb_err_set(err, MB_ECONFIG, "no IMAP host");
    c = xcalloc(1, sizeof(*c));
    c->host = xstrdup(o->host);
    c->security = o->security;
    c->port = o->port ? o->port : (o->security == IMAP_SECURITY_TLS ? 993 : 143);
    c->ca_file = o->ca_file ? xstrdup(o->ca_file) : NULL;
    c->insecure = o->insecure;
    c->connect_timeout_ms = o->connect_timeout_ms;
    c->io_timeout_ms = o->io_timeout_ms;
    c->append_window = o->append_window ? o->append_window : 8;
    if (c->append_window > IMAP_APPEND_WINDOW_MAX)
        c->append_window = IMAP_APPEND_WINDOW_MAX;
    c->multiappend_max =
        o->multiappend_max > IMAP_MULTIAPPEND_MAX ? IMAP_MULTIAPPEND_MAX : o->multiappend_max;
    c->no_literal_plus = o->no_literal_plus;
    c->spool_max = o->spool_max ? o->spool_max : SPOOL_MAX_DEFAULT;
    c->spool_dir = o->spool_dir ? xstrdup(o->spool_dir) : NULL;
    if (o->limits)
        c->limits = *o->limits;
    else
        imap_parser_limits_default(&c->limits);
    c->trace = o->trace;
    c->trace_ctx = o->trace_ctx;
    buf_init(&c->caps, CAPS_MAX);
    c->parser = imap_parser_new(&c->limits);
    imap_parser_set_literal_cbs(c->parser, &client_lit_cbs, c);

    memset(&no, 0, sizeof(no));
    no.host = c->host;
    no.port = c->port;
    no.tls = c->security == IMAP_SECURITY_TLS;
    no.ca_file = c->ca_file;
    no.insecure = c->insecure;
    no.connect_timeout_ms = c->connect_timeout_ms;
    no.io_timeout_ms = c->io_timeout_ms;
    rc = net_conn_open(&no, &c->conn, err);
    if (rc < 0)
        goto out;

    /* The greeting is part of connecting: a server that accepts TCP but says nothing (often a
     * TLS port reached without TLS) fails within the connect timeout, not the I/O one. */
    net_conn_set_timeout(c->conn, c->connect_timeout_ms > 0 ? c->connect_timeout_ms : 30000);
    c->useful_ms = mb_mono_ms();
    rc = imap_client_read_resp(c, &r, err);
    net_conn_set_timeout(c->conn, c->io_timeout_ms);
    if (rc < 0) {
        if (rc == MB_ECONN && c->security != IMAP_SECURITY_TLS && strstr(err->msg, "timed out")) {
            struct mb_err why = *err;
            MB_MSG(err, MB_ECONN, IMAP_NO_GREETING, &why);
        }
        goto out;
    }
    if (r->type != IMAP_RESP_UNTAGGED
        || (r->status != IMAP_STATUS_OK && r->status != IMAP_STATUS_PREAUTH
            && r->status != IMAP_STATUS_BYE)) {
        struct mb_err m;
        MB_MSG0(&m, MB_EPROTO, IMAP_NOT_IMAP);
        rc = imap_client_fail_err(c, MB_EPROTO, err, &m);
        goto out;
    }
    if (r->status == IMAP_STATUS_BYE) {
        char text[200];
        imap_resp_describe(r, text, sizeof(text));
        struct mb_err m;
        MB_MSG(&m, MB_ECONN, IMAP_GREETING_BYE, text);
        rc = imap_client_fail_err(c, MB_ECONN, err, &m);
        goto out;
    }
    c->authenticated = r->status == IMAP_STATUS_PREAUTH;
    if (c->caps_gen == 0) {
        rc = imap_client_capability(c, err);
        if (rc < 0)
            goto out;
    }
    if (c->security == IMAP_SECURITY_STARTTLS) {
        rc = starttls(c, err);
        if (rc < 0)
            goto out;
    }
out:
    if (rc < 0) {
        imap_client_free(&c);
        return rc;
    }
    *cli_r = c;
    return 0;
}

void imap_client_free(struct imap_client **cp)
{
    struct imap_client *c = *cp;
    if (!c)
        return;
    if (!c->broken)
        fail_pending(c, "connection closed before the answer");
    net_conn_free(&c->conn);
    imap_parser_free(&c->parser);
    buf_fini(&c->caps);
    free(c->host);
    free(c->ca_file);
    free(c->spool_dir);
    free(c->server_id);
    free(c->app.batch_mailbox);
    free(c);
    *cp = NULL;
}

/* ---- ID ---- */

static int id_cb(void *ctx, const struct imap_response *r)
{
    struct imap_client *c = ctx;
    if (r->nargs < 2 || !imap_resp_atom_is(&r->args[0], "ID") || r->args[1].type != IMAP_ARG_LIST)
        return 0;
    struct buf b;
    buf_init(&b, 1024);
    const struct imap_arg *l = r->args[1].list;
    for (size_t i = 0; i + 1 < r->args[1].count; i += 2) {
        const char *k = imap_resp_astring(&l[i], NULL);
        const char *v = imap_resp_astring(&l[i + 1], NULL);
        if (!k)
            continue;
        buf_printf(&b, "%s%s=%s", b.len ? " " : "", k, v ? v : "NIL");
    }
    free(c->server_id);
    c->server_id = buf_take(&b, NULL);
    if (!c->server_id)
        c->server_id = xstrdup("");
    return 0;
}

int imap_client_id(struct imap_client *c, const char *const *fields, struct mb_err *err)
{
    struct imap_cmd cmd;
    int rc = cmd_ready(c, err);
    if (rc < 0)
        return rc;
    if (!imap_client_has_cap(c, "ID"))
        return 0;
    imap_client_cmd_begin(c, &cmd, "ID");
    if (!fields || !fields[0]) {
        imap_client_cmd_raw(&cmd, " NIL");
    } else {
        imap_client_cmd_raw(&cmd, " (");
        for (size_t i = 0; fields[i] && fields[i + 1]; i += 2) {
            for (int k = 0; k < 2 && rc == 0; k++) {
                const char *s = fields[i + k];
                if (!quotable(s, strlen(s), 0))
                    rc = mb_err_set(err, MB_ECONFIG, "ID field not printable ASCII");
                else
                    rc = imap_client_cmd_string(c, &cmd, s, strlen(s), 0, IMAP_RESP_CTX_GENERIC,
                                                err);
            }
            if (rc < 0) {
                imap_client_cmd_fini(&cmd);
                return rc;
            }
        }
        imap_client_cmd_raw(&cmd, ")");
    }
    return run_simple(c, &cmd, IMAP_RESP_CTX_GENERIC, id_cb, c, err);
}

const char *imap_client_server_id(const struct imap_client *c)
{
    return c->server_id ? c->server_id : "";
}

/* ---- authentication ---- */

static int after_auth(struct imap_client *c, unsigned gen_before, struct mb_err *err)
{
    c->authenticated = 1;
    if (c->caps_gen != gen_before)
        return 0;
    return imap_client_capability(c, err);
}

int imap_client_login(struct imap_client *c, const char *user, const char *password,
                      struct mb_err *err)
{
    struct imap_cmd cmd;
    int rc = cmd_ready(c, err);
    if (rc < 0)
        return rc;
    if (imap_client_has_cap(c, "LOGINDISABLED"))
        return MB_MSG0(err, MB_EAUTH, IMAP_LOGINDISABLED);
    unsigned gen = c->caps_gen;
    imap_client_cmd_begin(c, &cmd, "LOGIN");
    rc = imap_client_cmd_string(c, &cmd, user, strlen(user), 0, IMAP_RESP_CTX_AUTH, err);
    if (rc == 0)
        rc =
            imap_client_cmd_string(c, &cmd, password, strlen(password), 1, IMAP_RESP_CTX_AUTH, err);
    if (rc < 0) {
        imap_client_cmd_fini(&cmd);
        return rc;
    }
    rc = imap_client_cmd_run(c, &cmd, IMAP_RESP_CTX_AUTH, err);
    if (rc < 0)
        return rc;
    return after_auth(c, gen, err);
}

/* AUTHENTICATE mech with the given initial response (raw bytes, base64-encoded here). */
static int sasl(struct imap_client *c, const char *mech, const unsigned char *ir, size_t irlen,
                enum imap_cont_action on_challenge, struct mb_err *err)
{
    unsigned char *b64 = NULL;
    size_t b64len = 0, cap = 4 * ((irlen + 2) / 3) + 4;
    struct imap_cmd cmd;
    int rc = cmd_ready(c, err);
    if (rc < 0)
        return rc;
    unsigned gen = c->caps_gen;
    b64 = xmalloc(cap);
    if (mbedtls_base64_encode(b64, cap, &b64len, ir, irlen) != 0) {
        rc = mb_err_set(err, MB_ECONFIG, "SASL message too long");
        goto out;
    }
    char verb[64];
    snprintf(verb, sizeof(verb), "AUTHENTICATE %s", mech);
    imap_client_cmd_begin(c, &cmd, verb);
    if (imap_client_has_cap(c, "SASL-IR")) {
        buf_putc(&cmd.line, ' ');
        buf_append(&cmd.line, b64, b64len);
        buf_puts(&cmd.trace, " <redacted>");
        buf_append(&cmd.line, "\r\n", 2);
        rc = cmd_flush(c, &cmd, err);
    } else {
        buf_append(&cmd.line, "\r\n", 2);
        rc = cmd_flush(c, &cmd, err);
        if (rc == 0)
            rc = imap_client_wait_cont(c, cmd.tag, IMAP_RESP_CTX_AUTH, err);
        if (rc == 0) {
            buf_append(&cmd.line, b64, b64len);
            buf_append(&cmd.line, "\r\n", 2);
            buf_puts(&cmd.trace, "<redacted>");
            rc = cmd_flush(c, &cmd, err);
        }
    }
    if (rc == 0)
        rc = imap_client_wait_tagged(c, cmd.tag, IMAP_RESP_CTX_AUTH, on_challenge, err);
    imap_client_cmd_fini(&cmd);
    if (rc == 0)
        rc = after_auth(c, gen, err);
out:
    secret_wipe(b64, cap);
    free(b64);
    return rc;
}

int imap_client_auth_plain(struct imap_client *c, const char *authzid, const char *authcid,
                           const char *password, struct mb_err *err)
{
    size_t za = authzid ? strlen(authzid) : 0, ca = strlen(authcid), pa = strlen(password);
    if (za > 1024 || ca > 1024 || pa > 1024)
        return mb_err_set(err, MB_ECONFIG, "user name or password too long");
    size_t n = za + 1 + ca + 1 + pa;
    unsigned char *m = xmalloc(n);
    memcpy(m, authzid ? authzid : "", za);
    m[za] = 0;
    memcpy(m + za + 1, authcid, ca);
    m[za + 1 + ca] = 0;
    memcpy(m + za + 2 + ca, password, pa);
    int rc = sasl(c, "PLAIN", m, n, IMAP_CONT_CANCEL, err);
    secret_wipe(m, n);
    free(m);
    return rc;
}

int imap_client_auth_xoauth2(struct imap_client *c, const char *user, const char *token,
                             struct mb_err *err)
{
    if (strlen(user) > 1024 || strlen(token) > 16384)
        return mb_err_set(err, MB_ECONFIG, "user name or token too long");
    char *m = xasprintf("user=%s\001auth=Bearer %s\001\001", user, token);
    size_t n = strlen(m);
    int rc = sasl(c, "XOAUTH2", (const unsigned char *)m, n, IMAP_CONT_EMPTY, err);
    secret_wipe(m, n);
    free(m);
    return rc;
}

/* ---- NAMESPACE ---- */

static void ns_fill(const struct imap_arg *a, struct imap_namespace **v_r, size_t *n_r)
{
    *v_r = NULL;
    *n_r = 0;
    if (a->type != IMAP_ARG_LIST || a->count == 0)
        return;
    *v_r = xcalloc(a->count, sizeof(**v_r));
    for (size_t i = 0; i < a->count; i++) {
        const struct imap_arg *e = &a->list[i];
        if (e->type != IMAP_ARG_LIST || e->count < 2)
            continue;
        const char *prefix = imap_resp_astring(&e->list[0], NULL);
        const char *d = imap_resp_astring(&e->list[1], NULL);
        if (!prefix)
            continue;
        (*v_r)[*n_r].prefix = xstrdup(prefix);
        (*v_r)[*n_r].delim = d ? d[0] : '\0';
        (*n_r)++;
    }
}

struct ns_ctx {
    struct imap_namespaces *ns;
    int got;
    char delim;
};

static int ns_cb(void *ctx, const struct imap_response *r)
{
    struct ns_ctx *nc = ctx;
    if (r->nargs >= 4 && imap_resp_atom_is(&r->args[0], "NAMESPACE") && !nc->got) {
        ns_fill(&r->args[1], &nc->ns->personal, &nc->ns->npersonal);
        ns_fill(&r->args[2], &nc->ns->other, &nc->ns->nother);
        ns_fill(&r->args[3], &nc->ns->shared, &nc->ns->nshared);
        nc->got = 1;
    } else if (r->nargs >= 3 && imap_resp_atom_is(&r->args[0], "LIST")) {
        const char *d = imap_resp_astring(&r->args[2], NULL);
        nc->delim = d ? d[0] : '\0';
        nc->got = 1;
    }
    return 0;
}

int imap_client_namespace(struct imap_client *c, struct imap_namespaces *ns_r, struct mb_err *err)
{
    struct ns_ctx nc = {ns_r, 0, '\0'};
    memset(ns_r, 0, sizeof(*ns_r));
    int has = imap_client_has_cap(c, "NAMESPACE");
    int rc = imap_client_command(c, has ? "NAMESPACE" : "LIST \"\" \"\"", IMAP_RESP_CTX_GENERIC,
                                 ns_cb, &nc, err);
    if (rc < 0) {
        imap_client_namespaces_fini(ns_r);
        return rc;
    }
    if (!has || !nc.got) {
        imap_client_namespaces_fini(ns_r);
        ns_r->personal = xcalloc(1, sizeof(*ns_r->personal));
        ns_r->personal[0].prefix = xstrdup("");
        ns_r->personal[0].delim = nc.delim;
        ns_r->npersonal = 1;
    }
    return 0;
}

static void ns_free(struct imap_namespace **v, size_t *n)
{
    for (size_t i = 0; *v && i < *n; i++)
        free((*v)[i].prefix);
    XFREE(*v);
    *n = 0;
}

void imap_client_namespaces_fini(struct imap_namespaces *ns)
{
    ns_free(&ns->personal, &ns->npersonal);
    ns_free(&ns->other, &ns->nother);
    ns_free(&ns->shared, &ns->nshared);
}

/* ---- LIST / LSUB ---- */

static const struct {
    const char *name;
    unsigned flag;
} folder_attrs[] = {
    {"\\Noselect", IMAP_FOLDER_NOSELECT},
    {"\\NoInferiors", IMAP_FOLDER_NOINFERIORS},
    {"\\HasChildren", IMAP_FOLDER_HASCHILDREN},
    {"\\HasNoChildren", IMAP_FOLDER_HASNOCHILDREN},
    {"\\Marked", IMAP_FOLDER_MARKED},
    {"\\Unmarked", IMAP_FOLDER_UNMARKED},
    {"\\NonExistent", IMAP_FOLDER_NONEXISTENT | IMAP_FOLDER_NOSELECT},
    {"\\Remote", IMAP_FOLDER_REMOTE},
    {"\\All", IMAP_FOLDER_ALL},
    {"\\Archive", IMAP_FOLDER_ARCHIVE},
    {"\\Drafts", IMAP_FOLDER_DRAFTS},
    {"\\Flagged", IMAP_FOLDER_FLAGGED},
    {"\\Junk", IMAP_FOLDER_JUNK},
    {"\\Sent", IMAP_FOLDER_SENT},
    {"\\Trash", IMAP_FOLDER_TRASH},
    {"\\Important", IMAP_FOLDER_IMPORTANT},
    /* Gmail's older XLIST names */
    {"\\AllMail", IMAP_FOLDER_ALL},
    {"\\Spam", IMAP_FOLDER_JUNK},
    {"\\Starred", IMAP_FOLDER_FLAGGED},
};

struct list_ctx {
    struct imap_folders *f;
    size_t cap;
    int lsub;        /* this pass is LSUB: mark (or add) subscribed */
    int add_missing; /* LSUB pass: add names LIST did not return */
    const char *verb;
    size_t *slots; /* hash index of f->v by raw name: index + 1, 0 = empty */
    size_t nslots; /* a power of two, > 2 * f->n */
    int too_many;  /* more than IMAP_FOLDERS_MAX folders: the rest were ignored */
    int too_long;  /* a name over IMAP_FOLDER_NAME_MAX bytes was ignored */
    int status;    /* RETURN (STATUS ...) asked: "* STATUS" lines fill .st */
};

static size_t folder_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

/* The folder named raw, or NULL: one hash probe sequence (de-duplicating a listing of n
 * names is O(n), not O(n^2)). */
static struct imap_folder *folder_find(struct list_ctx *lc, const char *raw)
{
    if (!lc->nslots)
        return NULL;
    for (size_t i = folder_hash(raw) & (lc->nslots - 1);; i = (i + 1) & (lc->nslots - 1)) {
        size_t k = lc->slots[i];
        if (!k)
            return NULL;
        if (strcmp(lc->f->v[k - 1].raw, raw) == 0)
            return &lc->f->v[k - 1];
    }
}

/* Index f->v[idx] (called after it was appended). */
static void folder_index(struct list_ctx *lc, size_t idx)
{
    if (2 * (lc->f->n + 1) > lc->nslots) {
        size_t n = lc->nslots ? lc->nslots * 2 : 64;
        while (2 * (lc->f->n + 1) > n)
            n *= 2;
        XFREE(lc->slots);
        lc->slots = xcalloc(n, sizeof(*lc->slots));
        lc->nslots = n;
        for (size_t j = 0; j < lc->f->n; j++) {
            size_t i = folder_hash(lc->f->v[j].raw) & (n - 1);
            while (lc->slots[i])
                i = (i + 1) & (n - 1);
            lc->slots[i] = j + 1;
        }
        return; /* idx < f->n: indexed by the rebuild */
    }
    size_t i = folder_hash(lc->f->v[idx].raw) & (lc->nslots - 1);
    while (lc->slots[i])
        i = (i + 1) & (lc->nslots - 1);
    lc->slots[i] = idx + 1;
}

/* After the LIST/LSUB passes: free the index; the limits become errors. */
static int list_end(struct list_ctx *lc, int rc, struct mb_err *err)
{
    XFREE(lc->slots);
    lc->nslots = 0;
    if (rc == 0 && lc->too_many)
        rc = MB_MSG(err, MB_ETOOBIG, IMAP_TOO_MANY_FOLDERS, IMAP_FOLDERS_MAX);
    else if (rc == 0 && lc->too_long)
        rc = MB_MSG(err, MB_ETOOBIG, IMAP_FOLDER_NAME_TOO_LONG, IMAP_FOLDER_NAME_MAX);
    return rc;
}

static int status_cb(void *ctx, const struct imap_response *r);
static const char *status_items(const struct imap_client *c);

/* LIST-STATUS: "* STATUS name (...)" after the folder's LIST line. */
static void list_status(struct list_ctx *lc, const struct imap_response *r)
{
    size_t len;
    const char *name = imap_resp_astring(&r->args[1], &len);
    if (!name || len == 0 || len > IMAP_FOLDER_NAME_MAX || memchr(name, '\0', len))
        return;
    struct imap_folder *f =
        folder_find(lc, len == 5 && strncasecmp(name, "INBOX", 5) == 0 ? "INBOX" : name);
    if (!f)
        return;
    memset(&f->st, 0, sizeof(f->st));
    status_cb(&f->st, r);
}

static int list_cb(void *ctx, const struct imap_response *r)
{
    struct list_ctx *lc = ctx;
    if (lc->status && r->nargs >= 3 && imap_resp_atom_is(&r->args[0], "STATUS")
        && r->args[2].type == IMAP_ARG_LIST) {
        list_status(lc, r);
        return 0;
    }
    if (r->nargs < 4 || !imap_resp_atom_is(&r->args[0], lc->verb)
        || r->args[1].type != IMAP_ARG_LIST)
        return 0;
    size_t len;
    const char *raw = imap_resp_astring(&r->args[3], &len);
    if (!raw || memchr(raw, '\0', len) || len == 0)
        return 0;
    if (len > IMAP_FOLDER_NAME_MAX) {
        lc->too_long = 1;
        return 0;
    }
    const char *d = imap_resp_astring(&r->args[2], NULL);
    unsigned flags = 0;
    int subscribed = lc->lsub;
    for (size_t i = 0; i < r->args[1].count; i++) {
        const struct imap_arg *a = &r->args[1].list[i];
        if (a->type != IMAP_ARG_ATOM)
            continue;
        if (strcasecmp(a->str, "\\Subscribed") == 0)
            subscribed = 1;
        for (size_t k = 0; k < sizeof(folder_attrs) / sizeof(folder_attrs[0]); k++) {
            if (strcasecmp(a->str, folder_attrs[k].name) == 0)
                flags |= folder_attrs[k].flag;
        }
    }
    char *rawc = strcasecmp(raw, "INBOX") == 0 ? xstrdup("INBOX") : xstrdup(raw);
    struct imap_folder *old = folder_find(lc, rawc);
    if (old) {
        old->subscribed |= subscribed;
        if (!lc->lsub)
            old->flags |= flags;
        free(rawc);
        return 0;
    }
    if (lc->lsub && !lc->add_missing) {
        free(rawc);
        return 0;
    }
    if (lc->f->n >= IMAP_FOLDERS_MAX) {
        lc->too_many = 1;
        free(rawc);
        return 0;
    }
    if (lc->f->n == lc->cap) {
        lc->cap = lc->cap ? lc->cap * 2 : 32;
        lc->f->v = xrealloc(lc->f->v, lc->cap * sizeof(*lc->f->v));
    }
    struct imap_folder *nf = &lc->f->v[lc->f->n++];
    memset(nf, 0, sizeof(*nf));
    nf->raw = rawc;
    struct buf u;
    buf_init(&u, 4 * len + 16);
    if (imap_utf7_decode(rawc, strlen(rawc), &u) == 0) {
        nf->name = buf_take(&u, NULL);
        if (!nf->name)
            nf->name = xstrdup("");
        nf->name_valid = 1;
    } else {
        nf->name = xstrdup(rawc);
    }
    buf_fini(&u);
    nf->delim = d ? d[0] : '\0';
    nf->flags = lc->lsub ? (flags | IMAP_FOLDER_NONEXISTENT | IMAP_FOLDER_NOSELECT) : flags;
    nf->subscribed = subscribed;
    folder_index(lc, lc->f->n - 1);
    return 0;
}

static int list_cmd(struct imap_client *c, const char *verb, const char *sel, const char *ref,
                    const char *pattern, const char *ret, struct list_ctx *lc, struct mb_err *err)
{
    struct imap_cmd cmd;
    int rc = cmd_ready(c, err);
    if (rc < 0)
        return rc;
    imap_client_cmd_begin(c, &cmd, verb);
    if (sel)
        imap_client_cmd_raw(&cmd, sel);
    rc = imap_client_cmd_string(c, &cmd, ref, strlen(ref), 0, IMAP_RESP_CTX_GENERIC, err);
    if (rc == 0)
        rc = imap_client_cmd_string(c, &cmd, pattern, strlen(pattern), 0, IMAP_RESP_CTX_GENERIC,
                                    err);
    if (rc < 0) {
        imap_client_cmd_fini(&cmd);
        return rc;
    }
    if (ret)
        imap_client_cmd_raw(&cmd, ret);
    lc->verb = verb;
    return run_simple(c, &cmd, IMAP_RESP_CTX_GENERIC, list_cb, lc, err);
}

int imap_client_list(struct imap_client *c, const char *ref, const char *pattern, unsigned how,
                     struct imap_folders *r, struct mb_err *err)
{
    struct list_ctx lc = {.f = r};
    int rc;
    memset(r, 0, sizeof(*r));
    ref = ref ? ref : "";
    pattern = pattern ? pattern : "*";
    if (imap_client_has_cap(c, "LIST-EXTENDED")) {
        int su = imap_client_has_cap(c, "SPECIAL-USE");
        lc.status = (how & IMAP_LIST_STATUS) && imap_client_has_cap(c, "LIST-STATUS");
        /* RETURN options: SUBSCRIBED (unless the selection already is), SPECIAL-USE, STATUS */
        struct buf ret;
        buf_init(&ret, 256);
        const char *sep = " RETURN (";
        if (!(how & IMAP_LIST_SUBSCRIBED_ONLY)) {
            buf_printf(&ret, "%sSUBSCRIBED", sep);
            sep = " ";
        }
        if (su) {
            buf_printf(&ret, "%sSPECIAL-USE", sep);
            sep = " ";
        }
        if (lc.status)
            buf_printf(&ret, "%sSTATUS%s", sep, status_items(c));
        if (ret.len)
            buf_putc(&ret, ')');
        const char *retp = ret.len ? buf_cstr(&ret) : NULL;
        if (how & IMAP_LIST_SUBSCRIBED_ONLY)
            rc = list_cmd(c, "LIST", " (SUBSCRIBED)", ref, pattern, retp, &lc, err);
        else
            rc = list_cmd(c, "LIST", NULL, ref, pattern, retp, &lc, err);
        buf_fini(&ret);
        if (rc == 0 && (how & IMAP_LIST_SUBSCRIBED_ONLY)) {
            /* LIST (SUBSCRIBED) answers only subscribed names, all flagged \Subscribed */
            for (size_t i = 0; i < r->n; i++)
                r->v[i].subscribed = 1;
        }
    } else {
        rc = list_cmd(c, "LIST", NULL, ref, pattern, NULL, &lc, err);
        if (rc == 0) {
            lc.lsub = 1;
            lc.add_missing = (how & IMAP_LIST_SUBSCRIBED_ONLY) != 0;
            rc = list_cmd(c, "LSUB", NULL, ref, pattern, NULL, &lc, err);
        }
        if (rc == 0 && (how & IMAP_LIST_SUBSCRIBED_ONLY)) {
            size_t k = 0;
            for (size_t i = 0; i < r->n; i++) {
                if (r->v[i].subscribed) {
                    r->v[k++] = r->v[i];
                } else {
                    free(r->v[i].raw);
                    free(r->v[i].name);
                }
            }
            r->n = k;
        }
    }
    rc = list_end(&lc, rc, err);
    if (rc < 0)
        imap_client_folders_fini(r);
    return rc;
}

int imap_client_lsub(struct imap_client *c, const char *ref, const char *pattern,
                     struct imap_folders *r, struct mb_err *err)
{
    struct list_ctx lc = {.f = r};
    memset(r, 0, sizeof(*r));
    int rc = list_cmd(c, "LSUB", NULL, ref ? ref : "", pattern ? pattern : "*", NULL, &lc, err);
    rc = list_end(&lc, rc, err);
    for (size_t i = 0; rc == 0 && i < r->n; i++)
        r->v[i].subscribed = 1;
    if (rc < 0)
        imap_client_folders_fini(r);
    return rc;
}

void imap_client_folders_fini(struct imap_folders *f)
{
    for (size_t i = 0; f->v && i < f->n; i++) {
        free(f->v[i].raw);
        free(f->v[i].name);
    }
    XFREE(f->v);
    f->n = 0;
}

/* ---- STATUS, SELECT, SEARCH ---- */

static uint32_t num32(const struct imap_arg *a, int *ok)
{
    uint64_t v;
    if (imap_resp_number(a, UINT32_MAX, &v) < 0) {
        *ok = 0;
        return 0;
    }
    *ok = 1;
    return (uint32_t)v;
}

static int status_cb(void *ctx, const struct imap_response *r)
{
    struct imap_status_info *si = ctx;
    if (r->nargs < 3 || !imap_resp_atom_is(&r->args[0], "STATUS")
        || r->args[2].type != IMAP_ARG_LIST)
        return 0;
    static const struct {
        const char *name;
        unsigned bit;
        size_t off;
    } items[] = {
        {"MESSAGES", IMAP_STATUS_HAS_MESSAGES, offsetof(struct imap_status_info, messages)},
        {"UIDNEXT", IMAP_STATUS_HAS_UIDNEXT, offsetof(struct imap_status_info, uidnext)},
        {"UIDVALIDITY", IMAP_STATUS_HAS_UIDVALIDITY,
         offsetof(struct imap_status_info, uidvalidity)},
        {"UNSEEN", IMAP_STATUS_HAS_UNSEEN, offsetof(struct imap_status_info, unseen)},
    };
    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        const struct imap_arg *v = imap_resp_pair(r->args[2].list, r->args[2].count, items[i].name);
        int ok;
        uint32_t n = num32(v, &ok);
        if (v && ok) {
            memcpy((char *)si + items[i].off, &n, sizeof(n));
            si->have |= items[i].bit;
        }
    }
    /* RFC 7162: a mod-sequence is 63 bits; 0 is not a valid HIGHESTMODSEQ. */
    const struct imap_arg *hm = imap_resp_pair(r->args[2].list, r->args[2].count, "HIGHESTMODSEQ");
    uint64_t mod;
    if (hm && imap_resp_number(hm, INT64_MAX, &mod) == 0 && mod > 0) {
        si->highestmodseq = mod;
        si->have |= IMAP_STATUS_HAS_HIGHESTMODSEQ;
    }
    return 0;
}

/* The STATUS items asked: HIGHESTMODSEQ too when the server offers CONDSTORE. */
static const char *status_items(const struct imap_client *c)
{
    return imap_client_has_cap(c, "CONDSTORE") || imap_client_has_cap(c, "QRESYNC")
               ? " (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)"
               : " (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)";
}

int imap_client_status(struct imap_client *c, const char *mailbox, struct imap_status_info *r,
                       struct mb_err *err)
{
    struct imap_cmd cmd;
    memset(r, 0, sizeof(*r));
    int rc = cmd_ready(c, err);
    if (rc < 0)
        return rc;
    imap_client_cmd_begin(c, &cmd, "STATUS");
    rc = imap_client_cmd_string(c, &cmd, mailbox, strlen(mailbox), 0, IMAP_RESP_CTX_FOLDER, err);
    if (rc < 0) {
        imap_client_cmd_fini(&cmd);
        return rc;
    }
    imap_client_cmd_raw(&cmd, status_items(c));
    return run_simple(c, &cmd, IMAP_RESP_CTX_FOLDER, status_cb, r, err);
}

/* ---- pipelined commands ---- */

/* Commands in flight at once: the destination's APPEND window's bound (IMAP_APPEND_WINDOW_MAX),
 * which every server type already takes. Their answers are short (a tagged status, a STATUS
 * line), so sending a whole group before reading cannot fill the connection both ways. */
#define PIPE_WINDOW 64

struct pipe_state {
    struct imap_pipe_cmd *cmds;
    size_t left; /* commands of the group in flight not answered yet */
    imap_pipe_untagged_cb *cb;
    void *cb_ctx;
    size_t lo, hi; /* the group in flight */
};

static int pipe_untagged(void *ctx, const struct imap_response *r)
{
    struct pipe_state *ps = ctx;
    return ps->cb(ps->cb_ctx, ps->lo, ps->hi, r);
}

static void pipe_set(struct imap_pipe_cmd *cmd, int rc, enum imap_code code, const char *text)
{
    cmd->rc = rc;
    cmd->code = code;
    snprintf(cmd->text, sizeof(cmd->text), "%s", rc ? text : "");
}

/* A queued command of the pipeline answered (r) or lost (r NULL: stays "not answered"). */
static void pipe_done(struct imap_client *c, void *ctx, size_t i, const struct imap_response *r,
                      int fail_code, const char *fail_msg)
{
    struct pipe_state *ps = ctx;
    (void)fail_code;
    (void)fail_msg;
    ps->left--;
    if (!r)
        return;
    struct mb_err e = {0};
    int g = imap_client_grade(c, r, ps->cmds[i].ctx, &e);
    pipe_set(&ps->cmds[i], g, c->last_code, e.msg);
}

int imap_client_pipeline(struct imap_client *c, struct imap_pipe_cmd *cmds, size_t n,
                         imap_pipe_untagged_cb *cb, void *cb_ctx, struct mb_err *err)
{
    for (size_t i = 0; i < n; i++)
        pipe_set(&cmds[i], 1, IMAP_CODE_NONE, "");
    int rc = cmd_ready(c, err);
    if (rc < 0)
        return rc;
    struct pipe_state ps = {cmds, 0, cb, cb_ctx, 0, 0};
    size_t hi;
    for (size_t lo = 0; lo < n; lo = hi) {
        /* Send a group; a command whose mailbox needs a synchronizing literal goes alone (it
         * waits for the server's "+", which must not be mistaken among other answers). */
        hi = lo;
        ps.left = 0;
        while (hi < n && hi - lo < PIPE_WINDOW) {
            struct imap_pipe_cmd *pc = &cmds[hi];
            size_t len = pc->mailbox ? strlen(pc->mailbox) : 0;
            int sync = pc->mailbox && !quotable(pc->mailbox, len, 0)
                       && !imap_client_literal_plus_ok(c, len);
            if (sync && hi > lo)
                break;
            struct imap_cmd cmd;
            imap_client_cmd_begin(c, &cmd, pc->verb);
            rc = 0;
            if (pc->mailbox)
                rc = imap_client_cmd_string(c, &cmd, pc->mailbox, len, 0, pc->ctx, err);
            if (rc == 0) {
                if (pc->tail)
                    imap_client_cmd_raw(&cmd, pc->tail);
                rc = buf_append(&cmd.line, "\r\n", 2) < 0
                         ? mb_err_set(err, MB_ECONFIG, "command too long")
                         : cmd_flush(c, &cmd, err);
            }
            if (rc == 0) {
                imap_client_pending_add(c, cmd.tag, pipe_done, &ps, hi, NULL);
                ps.left++;
            }
            imap_client_cmd_fini(&cmd);
            if (rc < 0 && !c->broken) {
                /* refused before it was sent (a NUL byte in the name...): this one only */
                pipe_set(pc, rc, IMAP_CODE_NONE, err ? err->msg : "refused");
                hi++;
                rc = 0;
                continue;
            }
            if (rc < 0)
                break;
            hi++;
            if (sync)
                break;
        }
        /* Read until every command of the group is answered: each OK or refusal is its own. */
        ps.lo = lo;
        ps.hi = hi;
        c->untagged = cb ? pipe_untagged : NULL;
        c->untagged_ctx = cb ? &ps : NULL;
        while (rc == 0 && ps.left)
            rc = imap_client_pump(c, err);
        c->untagged = NULL;
        c->untagged_ctx = NULL;
        if (rc < 0) {
            /* ps is about to go: nothing of it may stay queued */
            if (c->pend_len && !c->broken)
                imap_client_fail(c, rc, NULL, "%s", err ? err->msg : "pipeline abandoned");
            return rc;
        }
    }
    return 0;
}

/* ---- STATUS of many mailboxes, pipelined ---- */

struct status_many {
    const char *const *names;
    struct imap_status_info *out;
};

/* "* STATUS name (...)": fill the slot of the group's mailbox of that name. */
static int status_many_cb(void *ctx, size_t lo, size_t hi, const struct imap_response *r)
{
    struct status_many *sm = ctx;
    if (r->nargs < 3 || !imap_resp_atom_is(&r->args[0], "STATUS"))
        return 0;
    size_t len;
    const char *name = imap_resp_astring(&r->args[1], &len);
    if (!name)
        return 0;
    for (size_t i = lo; i < hi; i++) {
        const char *want = sm->names[i];
        if (strlen(want) == len
            && (memcmp(want, name, len) == 0
                || (len == 5 && strncasecmp(name, "INBOX", 5) == 0
                    && strcasecmp(want, "INBOX") == 0)))
            return status_cb(&sm->out[i], r);
    }
    return 0;
}

int imap_client_status_many(struct imap_client *c, const char *const *names, size_t n,
                            struct imap_status_info *out, int *rcs, struct mb_err *err)
{
    struct imap_pipe_cmd *cmds = xcalloc(n ? n : 1, sizeof(*cmds));
    const char *items = status_items(c);
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        cmds[i] = (struct imap_pipe_cmd){
            .verb = "STATUS", .mailbox = names[i], .tail = items, .ctx = IMAP_RESP_CTX_FOLDER};
    }
    struct status_many sm = {names, out};
    int rc = imap_client_pipeline(c, cmds, n, status_many_cb, &sm, err);
    for (size_t i = 0; i < n; i++)
        rcs[i] = cmds[i].rc;
    free(cmds);
    return rc;
}

struct quota_ctx {
    int found;
    uint64_t used, limit;
};

/* "* QUOTA root (STORAGE used limit ...)": the first root with STORAGE wins. */
static int quota_cb(void *ctx, const struct imap_response *r)
{
    struct quota_ctx *q = ctx;
    if (q->found || r->nargs < 3 || !imap_resp_atom_is(&r->args[0], "QUOTA")
        || r->args[2].type != IMAP_ARG_LIST)
        return 0;
    const struct imap_arg *l = r->args[2].list;
    for (size_t i = 0; i + 2 < r->args[2].count; i += 3) {
        uint64_t used, limit;
        if (imap_resp_atom_is(&l[i], "STORAGE")
            && imap_resp_number(&l[i + 1], UINT64_MAX / 1024, &used) == 0
            && imap_resp_number(&l[i + 2], UINT64_MAX / 1024, &limit) == 0) {
            q->found = 1;
            q->used = used * 1024;
            q->limit = limit * 1024;
            break;
        }
    }
    return 0;
}

int imap_client_quota_storage(struct imap_client *c, const char *mailbox, int *found_r,
                              uint64_t *used_r, uint64_t *limit_r, struct mb_err *err)
{
    struct imap_cmd cmd;
    struct quota_ctx q = {0, 0, 0};
    *found_r = 0;
    int rc = cmd_ready(c, err);
    if (rc < 0)
        return rc;
    imap_client_cmd_begin(c, &cmd, "GETQUOTAROOT");
    rc = imap_client_cmd_string(c, &cmd, mailbox, strlen(mailbox), 0, IMAP_RESP_CTX_FOLDER, err);
    if (rc < 0) {
        imap_client_cmd_fini(&cmd);
        return rc;
    }
    rc = run_simple(c, &cmd, IMAP_RESP_CTX_FOLDER, quota_cb, &q, err);
    if (rc == 0 && q.found) {
        *found_r = 1;
        *used_r = q.used;
        *limit_r = q.limit;
    }
    return rc;
}

static char *join_list(const struct imap_arg *a)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    for (size_t i = 0; a->type == IMAP_ARG_LIST && i < a->count; i++) {
        const char *s = imap_resp_astring(&a->list[i], NULL);
        if (s)
            buf_printf(&b, "%s%s", b.len ? " " : "", s);
    }
    char *s = buf_take(&b, NULL);
    return s ? s : xstrdup("");
}

static int select_cb(void *ctx, const struct imap_response *r)
{
    struct imap_mailbox *m = ctx;
    int ok;
    if (r->status == IMAP_STATUS_OK) {
        enum imap_code code = imap_resp_code(r);
        if (code == IMAP_CODE_UIDVALIDITY && r->ncode >= 2) {
            uint32_t v = num32(&r->code[1], &ok);
            if (ok)
                m->uidvalidity = v;
        } else if (code == IMAP_CODE_UIDNEXT && r->ncode >= 2) {
            uint32_t v = num32(&r->code[1], &ok);
            if (ok)
                m->uidnext = v;
        } else if (code == IMAP_CODE_PERMANENTFLAGS && r->ncode >= 2) {
            free(m->permanentflags);
            m->permanentflags = join_list(&r->code[1]);
        }
        return 0;
    }
    if (r->status != IMAP_STATUS_NONE || r->nargs < 2)
        return 0;
    if (imap_resp_atom_is(&r->args[1], "EXISTS")) {
        uint32_t v = num32(&r->args[0], &ok);
        if (ok)
            m->exists = v;
    } else if (imap_resp_atom_is(&r->args[0], "FLAGS")) {
        free(m->flags);
        m->flags = join_list(&r->args[1]);
    }
    return 0;
}

int imap_client_select_send(struct imap_client *c, const char *mailbox, int read_only,
                            struct mb_err *err)
{
    struct imap_cmd cmd;
    int rc = cmd_ready(c, err);
    if (rc < 0)
        return rc;
    imap_client_cmd_begin(c, &cmd, read_only ? "EXAMINE" : "SELECT");
    rc = imap_client_cmd_string(c, &cmd, mailbox, strlen(mailbox), 0, IMAP_RESP_CTX_FOLDER, err);
    if (rc == 0)
        rc = buf_append(&cmd.line, "\r\n", 2) < 0 ? mb_err_set(err, MB_ECONFIG, "command too long")
                                                  : cmd_flush(c, &cmd, err);
    if (rc == 0) {
        snprintf(c->sel_tag, sizeof(c->sel_tag), "%s", cmd.tag);
        c->sel_read_only = read_only;
    }
    imap_client_cmd_fini(&cmd);
    return rc;
}

int imap_client_select_finish(struct imap_client *c, struct imap_mailbox *r, struct mb_err *err)
{
    memset(r, 0, sizeof(*r));
    if (!c->sel_tag[0])
        return mb_err_set(err, MB_ECONFIG, "no SELECT was sent");
    char tag[sizeof(c->sel_tag)];
    snprintf(tag, sizeof(tag), "%s", c->sel_tag);
    c->sel_tag[0] = '\0';
    c->untagged = select_cb;
    c->untagged_ctx = r;
    int rc = imap_client_wait_tagged(c, tag, IMAP_RESP_CTX_FOLDER, IMAP_CONT_FAIL, err);
    c->untagged = NULL;
    c->untagged_ctx = NULL;
    if (rc < 0) {
        imap_client_mailbox_fini(r);
        return rc;
    }
    r->read_only = c->sel_read_only || imap_client_last_code(c) == IMAP_CODE_READ_ONLY;
    if (!r->flags)
        r->flags = xstrdup("");
    return 0;
}

int imap_client_select(struct imap_client *c, const char *mailbox, int read_only,
                       struct imap_mailbox *r, struct mb_err *err)
{
    memset(r, 0, sizeof(*r));
    int rc = imap_client_select_send(c, mailbox, read_only, err);
    return rc < 0 ? rc : imap_client_select_finish(c, r, err);
}

void imap_client_mailbox_fini(struct imap_mailbox *m)
{
    XFREE(m->flags);
    XFREE(m->permanentflags);
}

struct search_ctx {
    uint32_t *v;
    size_t n, cap;
    int bad;
};

static int search_cb(void *ctx, const struct imap_response *r)
{
    struct search_ctx *sc = ctx;
    if (r->nargs < 1 || !imap_resp_atom_is(&r->args[0], "SEARCH"))
        return 0;
    for (size_t i = 1; i < r->nargs; i++) {
        if (r->args[i].type == IMAP_ARG_LIST)
            continue; /* (MODSEQ n) of CONDSTORE */
        int ok;
        uint32_t v = num32(&r->args[i], &ok);
        if (!ok) {
            sc->bad = 1;
            continue;
        }
        if (sc->n == sc->cap) {
            sc->cap = sc->cap ? sc->cap * 2 : 256;
            sc->v = xrealloc(sc->v, sc->cap * sizeof(*sc->v));
        }
        sc->v[sc->n++] = v;
    }
    return 0;
}

int imap_client_uid_search(struct imap_client *c, const char *criteria, uint32_t **uids_r,
                           size_t *n_r, struct mb_err *err)
{
    struct search_ctx sc = {NULL, 0, 0, 0};
    *uids_r = NULL;
    *n_r = 0;
    if (strpbrk(criteria, "\r\n") || strlen(criteria) > 4096)
        return mb_err_set(err, MB_ECONFIG, "invalid search criteria");
    char *line = xasprintf("UID SEARCH %s", criteria);
    int rc = imap_client_command(c, line, IMAP_RESP_CTX_FOLDER, search_cb, &sc, err);
    free(line);
    if (rc == 0 && sc.bad)
        rc = mb_err_set(err, MB_EPROTO, "SEARCH answer with a non-numeric UID");
    if (rc < 0) {
        free(sc.v);
        return rc;
    }
    *uids_r = sc.v;
    *n_r = sc.n;
    return 0;
}

/* ---- CREATE, SUBSCRIBE, NOOP, LOGOUT ---- */

static int mailbox_cmd(struct imap_client *c, const char *verb, const char *mailbox,
                       struct mb_err *err)
{
    struct imap_cmd cmd;
    int rc = cmd_ready(c, err);
    if (rc < 0)
        return rc;
    imap_client_cmd_begin(c, &cmd, verb);
    rc = imap_client_cmd_string(c, &cmd, mailbox, strlen(mailbox), 0, IMAP_RESP_CTX_FOLDER, err);
    if (rc < 0) {
        imap_client_cmd_fini(&cmd);
        return rc;
    }
    return run_simple(c, &cmd, IMAP_RESP_CTX_FOLDER, NULL, NULL, err);
}

int imap_client_create(struct imap_client *c, const char *mailbox, struct mb_err *err)
{
    int rc = mailbox_cmd(c, "CREATE", mailbox, err);
    if (rc == MB_EFOLDER && imap_client_last_code(c) == IMAP_CODE_ALREADYEXISTS) {
        mb_err_clear(err);
        return 0;
    }
    return rc;
}

int imap_client_subscribe(struct imap_client *c, const char *mailbox, struct mb_err *err)
{
    return mailbox_cmd(c, "SUBSCRIBE", mailbox, err);
}

int imap_client_noop(struct imap_client *c, struct mb_err *err)
{
    return imap_client_command(c, "NOOP", IMAP_RESP_CTX_GENERIC, NULL, NULL, err);
}

int imap_client_logout(struct imap_client *c, struct mb_err *err)
{
    int rc = imap_client_command(c, "LOGOUT", IMAP_RESP_CTX_GENERIC, NULL, NULL, err);
    if (rc == MB_ECONN && c->bye) {
        /* BYE then close without the tagged OK: still a clean logout */
        mb_err_clear(err);
        rc = 0;
    }
    if (!c->broken) {
        c->broken = 1;
        mb_err_set(&c->broken_err, MB_ECONN, "logged out");
    }
    return rc;
}
