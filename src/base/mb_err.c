#include "mb_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void err_vset(struct mb_err *err, int code, int sys, const char *fmt, va_list ap)
{
    err->code = code;
    err->sys = sys;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    err->msg_id = MSG_TEXT;
    err->params[0] = '\0';
}

int mb_err_set(struct mb_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err_vset(err, code, 0, fmt, ap);
        va_end(ap);
    }
    return code;
}

int mb_err_setsys(struct mb_err *err, int code, int sys, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err_vset(err, code, sys, fmt, ap);
        va_end(ap);
    }
    return code;
}

void mb_err_clear(struct mb_err *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}

const char *mb_errc_name(int code)
{
    switch (code) {
    case MB_OK: return "ok";
    case MB_EMSG: return "message";
    case MB_EFOLDER: return "folder";
    case MB_ECONN: return "connection";
    case MB_EAUTH: return "auth";
    case MB_ENOTFOUND: return "notfound";
    case MB_ECONFIG: return "config";
    case MB_ECANCELED: return "canceled";
    case MB_ETOOBIG: return "toobig";
    case MB_EPROTO: return "protocol";
    case MB_EIO: return "io";
    case MB_ECRYPTO: return "crypto";
    }
    return "unknown";
}

/* ---- coded messages ---- */

static int coded(const struct mb_err *e)
{
    return e->msg_id > MSG_TEXT && e->msg_id < MSG_COUNT && e->params[0];
}

const char *mb_err_code(const struct mb_err *err)
{
    return coded(err) ? msgcat[err->msg_id].code : msgcat[MSG_TEXT].code;
}

/* Bounded writer: on overflow, over is set and nothing more is written. */
struct w {
    char *p;
    size_t n, len;
    int over;
};

static void w_put(struct w *w, const char *s, size_t n)
{
    if (w->over || w->len + n >= w->n) {
        w->over = 1;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

static void w_puts(struct w *w, const char *s)
{
    w_put(w, s, strlen(s));
}

/* A JSON string of at most max bytes of s, cut at a UTF-8 boundary; control characters
 * escaped. Bytes that are not UTF-8 are the reader's concern (json_w replaces them). */
static void w_json_str(struct w *w, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    w_put(w, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            w_put(w, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            w_puts(w, esc);
        } else {
            w_put(w, s + i, 1);
        }
    }
    w_put(w, "\"", 1);
}

/* {"code":..., "params":...} of a nested error (a text when nested is 0 or it has none). */
static void w_nested(struct w *w, const struct mb_err *e, size_t max_str, int nested)
{
    w_puts(w, "{\"code\":");
    if (nested && coded(e)) {
        w_json_str(w, msgcat[e->msg_id].code, 64);
        w_puts(w, ",\"params\":");
        w_puts(w, e->params);
    } else {
        w_json_str(w, "text", 8);
        w_puts(w, ",\"params\":{\"text\":");
        w_json_str(w, e->msg, max_str);
        w_puts(w, "}");
    }
    w_puts(w, "}");
}

static void param_text(const struct mb_param *p, char *num, size_t num_size, const char **s_r)
{
    switch (p->kind) {
    case MB_PARAM_STR: *s_r = p->s ? p->s : ""; break;
    case MB_PARAM_INT:
        snprintf(num, num_size, "%lld", p->i);
        *s_r = num;
        break;
    case MB_PARAM_UINT:
        snprintf(num, num_size, "%llu", p->u);
        *s_r = num;
        break;
    case MB_PARAM_ERR: *s_r = p->e ? p->e->msg : ""; break;
    }
}

static int params_json(int id, const struct mb_param *p, size_t n, char *out, size_t size,
                       size_t max_str, int nested)
{
    struct w w = {out, size, 0, 0};
    out[0] = '\0';
    w_puts(&w, "{");
    const char *names = msgcat[id].params;
    for (size_t i = 0; i < n; i++) {
        const char *end = strchr(names, ',');
        size_t nl = end ? (size_t)(end - names) : strlen(names);
        if (i)
            w_puts(&w, ",");
        w_puts(&w, "\"");
        w_put(&w, names, nl);
        w_puts(&w, "\":");
        names = end ? end + 1 : names + nl;
        char num[32];
        const char *s;
        if (p[i].kind == MB_PARAM_ERR && p[i].e) {
            w_nested(&w, p[i].e, max_str, nested);
            continue;
        }
        param_text(&p[i], num, sizeof(num), &s);
        if (p[i].kind == MB_PARAM_STR)
            w_json_str(&w, s, max_str);
        else
            w_puts(&w, s);
    }
    w_puts(&w, "}");
    return w.over ? -1 : 0;
}

int mb_err_msg(struct mb_err *err, int code, int id, const struct mb_param *p, size_t n)
{
    if (!err)
        return code;
    if (id < 0 || id >= MSG_COUNT || n != msgcat[id].n_params)
        id = MSG_TEXT; /* cannot happen through MB_MSG */
    /* Rendered into locals first: a parameter may be err itself (its earlier message). */
    char msg[MB_ERR_LEN], params[MB_ERR_PARAMS_LEN];
    struct w w = {msg, sizeof(msg), 0, 0};
    msg[0] = '\0';
    const char *t = msgcat[id].en;
    while (*t) {
        const char *open = strchr(t, '{');
        const char *close = open ? strchr(open, '}') : NULL;
        if (!open || !close) {
            w_puts(&w, t);
            break;
        }
        w_put(&w, t, (size_t)(open - t));
        int k = msgcat_param_index(id, open + 1, (size_t)(close - open - 1));
        if (k >= 0 && (size_t)k < n) {
            char num[32];
            const char *s;
            param_text(&p[k], num, sizeof(num), &s);
            /* Cut to what still fits, at a UTF-8 boundary. */
            size_t room = w.n - w.len - 1, sl = strlen(s);
            if (sl > room) {
                sl = room;
                while (sl > 0 && ((unsigned char)s[sl] & 0xc0) == 0x80)
                    sl--;
            }
            w_put(&w, s, sl);
        } else {
            w_put(&w, open, (size_t)(close - open + 1));
        }
        t = close + 1;
    }
    /* The parameters: nested coded messages kept when they fit, else their English text,
     * else strings cut shorter; failing that, the message keeps only its English text. */
    int ok = id != MSG_TEXT
             && (params_json(id, p, n, params, sizeof(params), 400, 1) == 0
                 || params_json(id, p, n, params, sizeof(params), 120, 0) == 0);
    err->code = code;
    err->sys = 0;
    memcpy(err->msg, msg, sizeof(msg));
    err->msg_id = ok ? id : MSG_TEXT;
    if (ok)
        memcpy(err->params, params, sizeof(params));
    else
        err->params[0] = '\0';
    return code;
}

const char *mb_err_params(const struct mb_err *err, char *out, size_t size)
{
    if (coded(err)) {
        snprintf(out, size, "%s", err->params);
        return out;
    }
    struct w w = {out, size, 0, 0};
    out[0] = '\0';
    w_puts(&w, "{\"text\":");
    w_json_str(&w, err->msg, MB_ERR_LEN);
    w_puts(&w, "}");
    if (w.over)
        snprintf(out, size, "{}");
    return out;
}
