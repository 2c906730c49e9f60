/* json_read: strict RFC 8259 reader (see json_read.h). Recursive descent, depth ≤ 32. */
#include "json/json_read.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/secret.h"
#include "base/xalloc.h"

struct json_parser {
    const unsigned char *s;
    size_t n;
    size_t pos;
    unsigned max_depth;
    size_t max_members;
    size_t max_string;
    size_t max_values;
    size_t values;
    struct mb_err *err;
};

static int json_fail(struct json_parser *p, int code, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int json_fail(struct json_parser *p, int code, size_t at, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return mb_err_set(p->err, code, "invalid JSON at offset %zu: %s", at, what);
}

/* ---- freeing ---- */

static void json_str_free(char *s, size_t len)
{
    if (s) {
        secret_wipe(s, len);
        free(s);
    }
}

static void json_value_fini(struct json_value *v)
{
    switch (v->type) {
    case JSON_STRING:
    case JSON_NUMBER: json_str_free(v->str, v->len); break;
    case JSON_ARRAY:
        for (size_t i = 0; i < v->n; i++)
            json_value_fini(&v->items[i]);
        free(v->items);
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < v->n; i++) {
            json_str_free(v->members[i].key, v->members[i].key_len);
            json_value_fini(&v->members[i].value);
        }
        free(v->members);
        break;
    case JSON_NULL:
    case JSON_BOOL: break;
    }
    memset(v, 0, sizeof(*v));
}

void json_free(struct json_value **v)
{
    if (!v || !*v)
        return;
    json_value_fini(*v);
    free(*v);
    *v = NULL;
}

/* ---- lexical helpers ---- */

static void json_skip_ws(struct json_parser *p)
{
    while (p->pos < p->n) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

size_t json_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char b = s[0];
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (b >= 0xE0 && b <= 0xEF) {
        if (n < 3 || (s[2] & 0xC0) != 0x80)
            return 0;
        unsigned char lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
        return s[1] >= lo && s[1] <= hi ? 3 : 0;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        if (n < 4 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        unsigned char lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
        return s[1] >= lo && s[1] <= hi ? 4 : 0;
    }
    return 0;
}

static int json_hex4(const unsigned char *s, size_t n, unsigned *cp_r)
{
    unsigned v = 0;
    if (n < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return -1;
        v = v * 16 + d;
    }
    *cp_r = v;
    return 0;
}

static size_t json_put_utf8(unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- strings ---- */

/* p->pos is at the opening quote. On success *s_r (xmalloc'ed) and *len_r are set and
 * p->pos is past the closing quote. */
static int json_parse_string(struct json_parser *p, char **s_r, size_t *len_r)
{
    size_t start = p->pos;
    size_t i = start + 1;
    /* Find the closing quote: the decoded string is never longer than the raw one. */
    while (i < p->n && p->s[i] != '"')
        i += p->s[i] == '\\' ? 2 : 1;
    if (i >= p->n)
        return json_fail(p, MB_EPROTO, start, "unterminated string");
    size_t raw_end = i;
    char *out = xmalloc(raw_end - start);
    size_t o = 0;
    int rc = 0;
    for (i = start + 1; i < raw_end;) {
        unsigned char c = p->s[i];
        if (c < 0x20) {
            rc = json_fail(p, MB_EPROTO, i, "control character in a string (escape it)");
            goto out;
        }
        if (c >= 0x80) {
            size_t k = json_utf8_len(p->s + i, raw_end - i);
            if (!k) {
                rc = json_fail(p, MB_EPROTO, i, "invalid UTF-8");
                goto out;
            }
            memcpy(out + o, p->s + i, k);
            o += k;
            i += k;
            continue;
        }
        if (c != '\\') {
            out[o++] = (char)c;
            i++;
            continue;
        }
        unsigned char e = p->s[i + 1]; /* exists: the scan above skipped it */
        static const char simple_in[] = "\"\\/bfnrt", simple_out[] = "\"\\/\b\f\n\r\t";
        const char *q = e ? strchr(simple_in, e) : NULL;
        if (q) {
            out[o++] = simple_out[q - simple_in];
            i += 2;
            continue;
        }
        if (e != 'u') {
            rc = json_fail(p, MB_EPROTO, i, "unknown escape sequence");
            goto out;
        }
        unsigned cp;
        if (json_hex4(p->s + i + 2, raw_end - (i + 2), &cp) != 0) {
            rc = json_fail(p, MB_EPROTO, i, "\\u needs four hexadecimal digits");
            goto out;
        }
        size_t esc_at = i;
        i += 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            rc = json_fail(p, MB_EPROTO, esc_at, "lone low surrogate");
            goto out;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned lo;
            if (i + 1 >= raw_end || p->s[i] != '\\' || p->s[i + 1] != 'u'
                || json_hex4(p->s + i + 2, raw_end - (i + 2), &lo) != 0 || lo < 0xDC00
                || lo > 0xDFFF) {
                rc = json_fail(p, MB_EPROTO, esc_at, "lone high surrogate");
                goto out;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        }
        if (cp == 0) {
            rc = json_fail(p, MB_EPROTO, esc_at, "\\u0000 is not allowed in strings");
            goto out;
        }
        o += json_put_utf8(cp, out + o);
    }
    if (o > p->max_string) {
        rc = json_fail(p, MB_ETOOBIG, start, "string longer than %zu bytes", p->max_string);
        goto out;
    }
    out[o] = '\0';
    p->pos = raw_end + 1;
    *s_r = out;
    *len_r = o;
    out = NULL;
out:
    if (out) {
        secret_wipe(out, raw_end - start);
        free(out);
    }
    return rc;
}

/* ---- numbers ---- */

static int json_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Length of the longest prefix of s that is a JSON number, 0 if none; *frac_r / *lead0_r
 * tell whether it has a fraction or exponent / a leading zero followed by a digit. */
static size_t json_number_scan(const unsigned char *s, size_t n, int *frac_r, int *lead0_r)
{
    size_t i = 0;
    *frac_r = 0;
    *lead0_r = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || !json_is_digit(s[i]))
        return 0;
    if (s[i] == '0') {
        i++;
        if (i < n && json_is_digit(s[i]))
            *lead0_r = 1;
    } else {
        while (i < n && json_is_digit(s[i]))
            i++;
    }
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !json_is_digit(s[i]))
            return 0;
        while (i < n && json_is_digit(s[i]))
            i++;
        *frac_r = 1;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !json_is_digit(s[i]))
            return 0;
        while (i < n && json_is_digit(s[i]))
            i++;
        *frac_r = 1;
    }
    return i;
}

int json_number_valid(const char *s, size_t n)
{
    int frac, lead0;
    return n > 0 && json_number_scan((const unsigned char *)s, n, &frac, &lead0) == n && !lead0;
}

static locale_t json_c_locale;
static pthread_once_t json_locale_once = PTHREAD_ONCE_INIT;

static void json_locale_init(void)
{
    json_c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* Value of a valid JSON number text (NUL-terminated), whatever the process locale. */
static double json_strtod(const char *s)
{
    pthread_once(&json_locale_once, json_locale_init);
    return json_c_locale ? strtod_l(s, NULL, json_c_locale) : strtod(s, NULL);
}

static int json_parse_number(struct json_parser *p, struct json_value *v)
{
    size_t start = p->pos;
    int frac, lead0;
    size_t k = json_number_scan(p->s + start, p->n - start, &frac, &lead0);
    if (lead0)
        return json_fail(p, MB_EPROTO, start, "leading zeros are not allowed in numbers");
    if (k == 0)
        return json_fail(p, MB_EPROTO, start, "invalid number");
    if (k > p->max_string)
        return json_fail(p, MB_ETOOBIG, start, "number longer than %zu bytes", p->max_string);
    char *t = xstrndup((const char *)p->s + start, k);
    double d = json_strtod(t);
    if (isinf(d) || isnan(d)) {
        free(t);
        return json_fail(p, MB_EPROTO, start, "number out of range");
    }
    v->type = JSON_NUMBER;
    v->str = t;
    v->len = k;
    v->num = d;
    if (!frac) {
        int neg = t[0] == '-';
        uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, u = 0;
        int fits = 1;
        for (size_t i = (size_t)neg; i < k; i++) {
            unsigned dgt = (unsigned)(t[i] - '0');
            if (u > (limit - dgt) / 10) {
                fits = 0;
                break;
            }
            u = u * 10 + dgt;
        }
        if (fits) {
            v->is_int = 1;
            v->i = neg ? (u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u) : (int64_t)u;
        }
    }
    p->pos = start + k;
    return 0;
}

/* ---- values ---- */

static int json_parse_value(struct json_parser *p, struct json_value *v, unsigned depth);

static int json_count_value(struct json_parser *p)
{
    if (++p->values > p->max_values)
        return json_fail(p, MB_ETOOBIG, p->pos, "more than %zu values", p->max_values);
    return 0;
}

static int json_parse_array(struct json_parser *p, struct json_value *v, unsigned depth)
{
    size_t cap = 0;
    v->type = JSON_ARRAY;
    p->pos++;
    json_skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == ']') {
        p->pos++;
        return 0;
    }
    for (;;) {
        if (v->n == p->max_members)
            return json_fail(p, MB_ETOOBIG, p->pos, "more than %zu items in an array",
                             p->max_members);
        if (v->n == cap) {
            cap = cap ? cap * 2 : 4;
            if (cap > p->max_members)
                cap = p->max_members;
            v->items = xrealloc(v->items, cap * sizeof(*v->items));
        }
        struct json_value *item = &v->items[v->n++];
        memset(item, 0, sizeof(*item));
        int rc = json_parse_value(p, item, depth + 1);
        if (rc)
            return rc;
        json_skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->n && p->s[p->pos] == ']') {
            p->pos++;
            return 0;
        }
        return json_fail(p, MB_EPROTO, p->pos, "expected ',' or ']'");
    }
}

struct json_keyref {
    const struct json_member *m;
    size_t offset;
};

static int json_keyref_cmp(const void *a, const void *b)
{
    const struct json_keyref *x = a, *y = b;
    size_t n = x->m->key_len < y->m->key_len ? x->m->key_len : y->m->key_len;
    int c = memcmp(x->m->key, y->m->key, n);
    if (c)
        return c;
    if (x->m->key_len != y->m->key_len)
        return x->m->key_len < y->m->key_len ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Duplicate keys: sort (key, offset) pairs and compare neighbours. */
static int json_check_duplicates(struct json_parser *p, const struct json_value *v,
                                 struct json_keyref *refs)
{
    if (v->n < 2)
        return 0;
    for (size_t i = 0; i < v->n; i++)
        refs[i].m = &v->members[i];
    qsort(refs, v->n, sizeof(*refs), json_keyref_cmp);
    for (size_t i = 1; i < v->n; i++) {
        const struct json_member *a = refs[i - 1].m, *b = refs[i].m;
        if (a->key_len != b->key_len || memcmp(a->key, b->key, a->key_len) != 0)
            continue;
        int printable = b->key_len <= 40;
        for (size_t j = 0; j < b->key_len && printable; j++)
            if ((unsigned char)b->key[j] < 0x20 || (unsigned char)b->key[j] >= 0x7F
                || b->key[j] == '"' || b->key[j] == '\\')
                printable = 0;
        if (printable)
            return json_fail(p, MB_EPROTO, refs[i].offset, "duplicate key \"%s\"", b->key);
        return json_fail(p, MB_EPROTO, refs[i].offset, "duplicate key");
    }
    return 0;
}

static int json_parse_object(struct json_parser *p, struct json_value *v, unsigned depth)
{
    size_t cap = 0;
    struct json_keyref *refs = NULL;
    int rc = 0;
    v->type = JSON_OBJECT;
    p->pos++;
    json_skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == '}') {
        p->pos++;
        return 0;
    }
    for (;;) {
        json_skip_ws(p);
        if (p->pos >= p->n || p->s[p->pos] != '"') {
            rc = json_fail(p, MB_EPROTO, p->pos, "expected a string key");
            goto out;
        }
        if (v->n == p->max_members) {
            rc = json_fail(p, MB_ETOOBIG, p->pos, "more than %zu members in an object",
                           p->max_members);
            goto out;
        }
        if (v->n == cap) {
            cap = cap ? cap * 2 : 4;
            if (cap > p->max_members)
                cap = p->max_members;
            v->members = xrealloc(v->members, cap * sizeof(*v->members));
            refs = xrealloc(refs, cap * sizeof(*refs));
        }
        size_t key_at = p->pos;
        struct json_member *m = &v->members[v->n];
        memset(m, 0, sizeof(*m));
        rc = json_parse_string(p, &m->key, &m->key_len);
        if (rc)
            goto out;
        refs[v->n].offset = key_at;
        v->n++;
        json_skip_ws(p);
        if (p->pos >= p->n || p->s[p->pos] != ':') {
            rc = json_fail(p, MB_EPROTO, p->pos, "expected ':' after a key");
            goto out;
        }
        p->pos++;
        rc = json_parse_value(p, &m->value, depth + 1);
        if (rc)
            goto out;
        json_skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->n && p->s[p->pos] == '}') {
            p->pos++;
            rc = json_check_duplicates(p, v, refs);
            goto out;
        }
        rc = json_fail(p, MB_EPROTO, p->pos, "expected ',' or '}'");
        goto out;
    }
out:
    free(refs);
    return rc;
}

static int json_literal(struct json_parser *p, const char *word)
{
    size_t l = strlen(word);
    if (p->n - p->pos >= l && memcmp(p->s + p->pos, word, l) == 0) {
        p->pos += l;
        return 0;
    }
    return json_fail(p, MB_EPROTO, p->pos, "invalid literal (expected true, false or null)");
}

static int json_parse_value(struct json_parser *p, struct json_value *v, unsigned depth)
{
    int rc = json_count_value(p);
    if (rc)
        return rc;
    json_skip_ws(p);
    if (p->pos >= p->n)
        return json_fail(p, MB_EPROTO, p->pos, "unexpected end of input, expected a value");
    unsigned char c = p->s[p->pos];
    switch (c) {
    case '{':
    case '[':
        if (depth > p->max_depth)
            return json_fail(p, MB_ETOOBIG, p->pos, "nesting deeper than %u", p->max_depth);
        return c == '{' ? json_parse_object(p, v, depth) : json_parse_array(p, v, depth);
    case '"':
        rc = json_parse_string(p, &v->str, &v->len);
        if (rc == 0)
            v->type = JSON_STRING;
        return rc;
    case 't':
        v->type = JSON_BOOL;
        v->boolean = 1;
        return json_literal(p, "true");
    case 'f': v->type = JSON_BOOL; return json_literal(p, "false");
    case 'n': return json_literal(p, "null");
    default:
        if (c == '-' || json_is_digit(c))
            return json_parse_number(p, v);
        return json_fail(p, MB_EPROTO, p->pos, "unexpected character, expected a value");
    }
}

int json_parse(const char *data, size_t len, const struct json_limits *limits,
               struct json_value **v_r, struct mb_err *err)
{
    static const struct json_limits none;
    const struct json_limits *l = limits ? limits : &none;
    struct json_parser p;
    memset(&p, 0, sizeof(p));
    p.s = (const unsigned char *)data;
    p.n = data ? len : 0;
    p.err = err;
    p.max_depth = l->max_depth && l->max_depth <= JSON_MAX_DEPTH ? l->max_depth : JSON_MAX_DEPTH;
    p.max_members = l->max_members ? l->max_members : JSON_DEFAULT_MAX_MEMBERS;
    p.max_string = l->max_string ? l->max_string : JSON_DEFAULT_MAX_STRING;
    p.max_values = l->max_values ? l->max_values : JSON_DEFAULT_MAX_VALUES;
    size_t max_bytes = l->max_bytes ? l->max_bytes : JSON_DEFAULT_MAX_BYTES;
    *v_r = NULL;
    if (p.n > max_bytes)
        return mb_err_set(err, MB_ETOOBIG, "JSON body too large: %zu bytes, the limit is %zu", p.n,
                          max_bytes);
    if (p.n >= 3 && p.s[0] == 0xEF && p.s[1] == 0xBB && p.s[2] == 0xBF)
        return json_fail(&p, MB_EPROTO, 0, "byte order mark");
    struct json_value *v = xcalloc(1, sizeof(*v));
    int rc = json_parse_value(&p, v, 1);
    if (rc == 0) {
        json_skip_ws(&p);
        if (p.pos < p.n)
            rc = json_fail(&p, MB_EPROTO, p.pos, "unexpected data after the value");
    }
    if (rc) {
        json_free(&v);
        return rc;
    }
    *v_r = v;
    return 0;
}

/* ---- access ---- */

const struct json_value *json_obj_get(const struct json_value *v, const char *key)
{
    if (!v || v->type != JSON_OBJECT || !key)
        return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->members[i].key, key) == 0)
            return &v->members[i].value;
    return NULL;
}

static const struct json_value *json_get(const struct json_value *obj, const char *key,
                                         enum json_type type, int *rc_r)
{
    const struct json_value *v = json_obj_get(obj, key);
    if (!v || v->type == JSON_NULL) {
        *rc_r = JSON_ENOTFOUND;
        return NULL;
    }
    if (v->type != type) {
        *rc_r = JSON_ETYPE;
        return NULL;
    }
    *rc_r = 0;
    return v;
}

int json_get_str(const struct json_value *obj, const char *key, const char **s_r)
{
    int rc;
    const struct json_value *v = json_get(obj, key, JSON_STRING, &rc);
    if (v)
        *s_r = v->str;
    return rc;
}

int json_get_bool(const struct json_value *obj, const char *key, int *b_r)
{
    int rc;
    const struct json_value *v = json_get(obj, key, JSON_BOOL, &rc);
    if (v)
        *b_r = v->boolean;
    return rc;
}

int json_get_int(const struct json_value *obj, const char *key, int64_t *i_r)
{
    int rc;
    const struct json_value *v = json_get(obj, key, JSON_NUMBER, &rc);
    if (v && !v->is_int)
        return JSON_ETYPE;
    if (v)
        *i_r = v->i;
    return rc;
}

int json_equal(const struct json_value *a, const struct json_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case JSON_NULL: return 1;
    case JSON_BOOL: return a->boolean == b->boolean;
    case JSON_NUMBER:
        if (a->is_int && b->is_int)
            return a->i == b->i;
        return a->num == b->num;
    case JSON_STRING: return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
    case JSON_ARRAY:
        if (a->n != b->n)
            return 0;
        for (size_t i = 0; i < a->n; i++)
            if (!json_equal(&a->items[i], &b->items[i]))
                return 0;
        return 1;
    case JSON_OBJECT:
        if (a->n != b->n)
            return 0;
        for (size_t i = 0; i < a->n; i++) {
            const struct json_member *x = &a->members[i], *y = &b->members[i];
            if (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) != 0
                || !json_equal(&x->value, &y->value))
                return 0;
        }
        return 1;
    }
    return 0;
}
