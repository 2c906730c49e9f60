/* json_write: JSON writer with automatic separators (see json_write.h). */
#include "json/json_write.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/mb_err.h"
#include "json/json_read.h"

#define JSON_W_OBJ 1u /* the container is an object */
#define JSON_W_HAS 2u /* it already holds a member / item */
#define JSON_W_KEY 4u /* object: a key was written, its value is due */

void json_w_init(struct json_w *w, struct buf *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
}

int json_w_finish(const struct json_w *w)
{
    if (w->err)
        return w->err;
    return w->depth == 0 && w->done ? 0 : MB_EPROTO;
}

static int json_w_fail(struct json_w *w, int code)
{
    if (!w->err)
        w->err = code;
    return w->err;
}

static int json_w_put(struct json_w *w, const void *p, size_t n)
{
    if (w->err)
        return w->err;
    int rc = buf_append(w->out, p, n);
    return rc ? json_w_fail(w, rc) : 0;
}

static int json_w_puts(struct json_w *w, const char *s)
{
    return json_w_put(w, s, strlen(s));
}

/* Separator and state checks before a value. */
static int json_w_pre_value(struct json_w *w)
{
    if (w->err)
        return w->err;
    if (w->depth == 0)
        return w->done ? json_w_fail(w, MB_EPROTO) : 0;
    unsigned char *st = &w->stack[w->depth - 1];
    if (*st & JSON_W_OBJ) {
        if (!(*st & JSON_W_KEY))
            return json_w_fail(w, MB_EPROTO); /* a value where a key is due */
        *st &= (unsigned char)~JSON_W_KEY;
        return 0;
    }
    if (*st & JSON_W_HAS)
        json_w_put(w, ",", 1);
    *st |= JSON_W_HAS;
    return w->err;
}

static int json_w_post_value(struct json_w *w)
{
    if (w->depth == 0 && !w->err)
        w->done = 1;
    return w->err;
}

/* The escaped, quoted form of n bytes. */
static int json_w_string(struct json_w *w, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0, i = 0;
    json_w_put(w, "\"", 1);
    while (i < n && !w->err) {
        unsigned char c = p[i];
        const char *esc;
        char ubuf[8];
        size_t adv = 1;
        if (c >= 0x80) {
            size_t k = json_utf8_len(p + i, n - i);
            if (k == 0) {
                esc = "\xEF\xBF\xBD"; /* U+FFFD for a byte that is not UTF-8 */
            } else if (k == 3 && c == 0xE2 && p[i + 1] == 0x80
                       && (p[i + 2] == 0xA8 || p[i + 2] == 0xA9)) {
                esc = p[i + 2] == 0xA8 ? "\\u2028" : "\\u2029"; /* JS line terminators */
                adv = 3;
            } else {
                i += k;
                continue;
            }
        } else if (c == '"') {
            esc = "\\\"";
        } else if (c == '\\') {
            esc = "\\\\";
        } else if (c < 0x20) {
            switch (c) {
            case '\b': esc = "\\b"; break;
            case '\f': esc = "\\f"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            case '\t': esc = "\\t"; break;
            default:
                snprintf(ubuf, sizeof(ubuf), "\\u%04x", c);
                esc = ubuf;
                break;
            }
        } else if (c == '/' && i > 0 && p[i - 1] == '<') {
            esc = "\\/"; /* "</" → "<\/": safe inside <script> */
        } else {
            i++;
            continue;
        }
        if (i > run)
            json_w_put(w, p + run, i - run);
        json_w_puts(w, esc);
        i += adv;
        run = i;
    }
    if (n > run)
        json_w_put(w, p + run, n - run);
    return json_w_put(w, "\"", 1);
}

static int json_w_begin(struct json_w *w, int obj)
{
    if (json_w_pre_value(w))
        return w->err;
    if (w->depth == JSON_W_MAX_DEPTH)
        return json_w_fail(w, MB_EPROTO);
    w->stack[w->depth++] = obj ? JSON_W_OBJ : 0;
    return json_w_put(w, obj ? "{" : "[", 1);
}

static int json_w_end(struct json_w *w, int obj)
{
    if (w->err)
        return w->err;
    if (w->depth == 0)
        return json_w_fail(w, MB_EPROTO);
    unsigned char st = w->stack[w->depth - 1];
    if (!(st & JSON_W_OBJ) != !obj || (st & JSON_W_KEY))
        return json_w_fail(w, MB_EPROTO); /* wrong kind, or a key without its value */
    w->depth--;
    json_w_put(w, obj ? "}" : "]", 1);
    return json_w_post_value(w);
}

int json_w_obj_begin(struct json_w *w)
{
    return json_w_begin(w, 1);
}

int json_w_obj_end(struct json_w *w)
{
    return json_w_end(w, 1);
}

int json_w_arr_begin(struct json_w *w)
{
    return json_w_begin(w, 0);
}

int json_w_arr_end(struct json_w *w)
{
    return json_w_end(w, 0);
}

int json_w_keyn(struct json_w *w, const char *key, size_t n)
{
    if (w->err)
        return w->err;
    if (w->depth == 0 || !key)
        return json_w_fail(w, MB_EPROTO);
    unsigned char *st = &w->stack[w->depth - 1];
    if (!(*st & JSON_W_OBJ) || (*st & JSON_W_KEY))
        return json_w_fail(w, MB_EPROTO); /* a key in an array, or two keys in a row */
    if (*st & JSON_W_HAS)
        json_w_put(w, ",", 1);
    *st |= JSON_W_HAS | JSON_W_KEY;
    json_w_string(w, key, n);
    return json_w_put(w, ":", 1);
}

int json_w_key(struct json_w *w, const char *key)
{
    return json_w_keyn(w, key, key ? strlen(key) : 0);
}

int json_w_strn(struct json_w *w, const char *s, size_t n)
{
    if (!s)
        return json_w_null(w);
    if (json_w_pre_value(w))
        return w->err;
    json_w_string(w, s, n);
    return json_w_post_value(w);
}

int json_w_str(struct json_w *w, const char *s)
{
    return json_w_strn(w, s, s ? strlen(s) : 0);
}

static int json_w_scalar(struct json_w *w, const char *text)
{
    if (json_w_pre_value(w))
        return w->err;
    json_w_puts(w, text);
    return json_w_post_value(w);
}

int json_w_int(struct json_w *w, int64_t v)
{
    char t[32];
    snprintf(t, sizeof(t), "%" PRId64, v);
    return json_w_scalar(w, t);
}

int json_w_uint(struct json_w *w, uint64_t v)
{
    char t[32];
    snprintf(t, sizeof(t), "%" PRIu64, v);
    return json_w_scalar(w, t);
}

int json_w_double(struct json_w *w, double v)
{
    char t[40];
    if (w->err)
        return w->err;
    if (!isfinite(v))
        return json_w_fail(w, MB_EPROTO);
    snprintf(t, sizeof(t), "%.17g", v);
    for (char *q = t; *q; q++)
        if (*q == ',')
            *q = '.'; /* whatever LC_NUMERIC says */
    if (!json_number_valid(t, strlen(t)))
        return json_w_fail(w, MB_EPROTO);
    return json_w_scalar(w, t);
}

int json_w_raw_number(struct json_w *w, const char *num)
{
    if (w->err)
        return w->err;
    if (!num || !json_number_valid(num, strlen(num)))
        return json_w_fail(w, MB_EPROTO);
    return json_w_scalar(w, num);
}

int json_w_bool(struct json_w *w, int b)
{
    return json_w_scalar(w, b ? "true" : "false");
}

int json_w_null(struct json_w *w)
{
    return json_w_scalar(w, "null");
}

int json_w_value(struct json_w *w, const struct json_value *v)
{
    switch (v->type) {
    case JSON_NULL: return json_w_null(w);
    case JSON_BOOL: return json_w_bool(w, v->boolean);
    case JSON_NUMBER: return json_w_raw_number(w, v->str);
    case JSON_STRING: return json_w_strn(w, v->str, v->len);
    case JSON_ARRAY:
        json_w_arr_begin(w);
        for (size_t i = 0; i < v->n && !w->err; i++)
            json_w_value(w, &v->items[i]);
        return json_w_arr_end(w);
    case JSON_OBJECT:
        json_w_obj_begin(w);
        for (size_t i = 0; i < v->n && !w->err; i++) {
            json_w_keyn(w, v->members[i].key, v->members[i].key_len);
            json_w_value(w, &v->members[i].value);
        }
        return json_w_obj_end(w);
    }
    return json_w_fail(w, MB_EPROTO);
}

int json_w_kv_str(struct json_w *w, const char *key, const char *s)
{
    json_w_key(w, key);
    return json_w_str(w, s);
}

int json_w_kv_int(struct json_w *w, const char *key, int64_t v)
{
    json_w_key(w, key);
    return json_w_int(w, v);
}

int json_w_kv_bool(struct json_w *w, const char *key, int b)
{
    json_w_key(w, key);
    return json_w_bool(w, b);
}

int json_w_kv_null(struct json_w *w, const char *key)
{
    json_w_key(w, key);
    return json_w_null(w);
}
