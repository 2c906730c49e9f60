/* csvimp: the « Migration multiple » CSV importer (see csvimp.h for the rules).
 *
 * Flow: size check → encoding (UTF-8 / UTF-8 BOM / Windows-1252 → UTF-8) → libcsv, fed one
 * physical line at a time so that every row knows the line it starts on → per-row
 * validation as each row ends → all-or-nothing result.
 *
 * Secrets: the decoded copy of the file, libcsv's field buffer and our copies of the current
 * row's fields may hold a password; all are wiped before being freed. libcsv's buffer is
 * allocated once, large enough for the longest acceptable field, and never reallocated (our
 * realloc hook refuses to grow it: libcsv then stops with CSV_ENOMEM, which we report as
 * "field too long"), so no copy of a password is left behind in freed memory. */
#include "csvimport/csvimp.h"

#include <csv.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/mb_err.h"
#include "base/secret.h"
#include "base/xalloc.h"
#include "migrate/mig_preset.h"
#include "net/net_host.h"

static const char *const csvimp_names[CSVIMP_COLUMNS + 1] = {
    "row",
    "login_source",
    "pass_source",
    "host_source",
    "type_messagerie",
    "login_destination",
    "subscribed_only",
};

struct csvimp_field {
    char *p; /* owned, NUL-terminated; may hold a password: wiped on free */
    size_t len;
};

struct csvimp_seen {
    uint64_t hash;
    char *key; /* NULL = free slot */
    size_t key_len;
    unsigned line;
};

struct csvimp_ctx {
    struct csvimp_result *res;
    const struct csvimp_opts *opts;
    size_t max_field;
    unsigned max_rows;
    unsigned max_errors;
    unsigned line;     /* physical line being fed */
    unsigned row_line; /* line where the current row started; 0 = between rows */
    unsigned n_fields; /* fields seen in the current row */
    int row_bad;       /* an error was already reported for the current row */
    struct csvimp_field fields[CSVIMP_COLUMNS];
    int seen_first_row;
    unsigned data_rows; /* rows after the header, valid or not */
    size_t rows_cap;
    size_t errors_cap;
    int stop; /* give up (error cap, row cap) */
    struct csvimp_seen *seen;
    size_t seen_cap; /* power of two */
    size_t seen_n;
};

const char *csvimp_column_name(unsigned column)
{
    return column <= CSVIMP_COLUMNS ? csvimp_names[column] : "extra column";
}

/* ---- errors ---- */

/* A message cut by snprintf may end inside a UTF-8 sequence: drop the incomplete tail. */
static void csvimp_utf8_cut(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80 && n - i < 3)
        i--; /* continuation bytes */
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (want > 1 && n - (i - 1) < want)
        s[i - 1] = '\0';
}

/* Record problem m (a coded message) at line / column: its code and parameters, and the
 * message in the caller's language with its "line N, column C (name): " prefix. */
static void csvimp_msg(struct csvimp_ctx *c, unsigned line, unsigned column, const struct mb_err *m)
{
    struct csvimp_result *res = c->res;
    if (c->stop)
        return;
    if (res->n_errors >= c->max_errors) {
        res->errors_truncated = 1;
        c->stop = 1;
        return;
    }
    if (res->n_errors == c->errors_cap) {
        c->errors_cap = c->errors_cap ? c->errors_cap * 2 : 8;
        if (c->errors_cap > c->max_errors)
            c->errors_cap = c->max_errors;
        res->errors = xrealloc(res->errors, c->errors_cap * sizeof(*res->errors));
    }
    struct csvimp_error *e = &res->errors[res->n_errors++];
    memset(e, 0, sizeof(*e));
    e->line = line;
    e->column = column;
    e->code = mb_err_code(m);
    mb_err_params(m, e->params, sizeof(e->params));
    if (strlen(e->params) + 1 >= sizeof(e->params))
        snprintf(e->params, sizeof(e->params), "{}"); /* cut: the message alone */
    enum msg_lang lang = c->opts->french ? MSG_LANG_FR : MSG_LANG_EN;
    char *text = msg_render_err(lang, m);
    struct mb_err full;
    if (line && column)
        MB_MSG(&full, 0, CSV_AT_CELL, line, column,
               column > CSVIMP_COLUMNS ? msgcat_template(MSG_CSV_EXTRA_COLUMN, lang)
                                       : csvimp_column_name(column),
               text);
    else if (line)
        MB_MSG(&full, 0, CSV_AT_LINE, line, text);
    else
        MB_MSG(&full, 0, TEXT, text);
    char *all = msg_render_err(lang, &full);
    snprintf(e->message, sizeof(e->message), "%s", all);
    csvimp_utf8_cut(e->message);
    size_t ml = strlen(e->message), tl = strlen(text);
    e->text_off = ml >= tl && strcmp(e->message + ml - tl, text) == 0 ? (unsigned)(ml - tl) : 0;
    free(all);
    free(text);
}

/* The problem ID of the current row (or at line / column), with its arguments. */
#define CSVIMP_ROW0(c, col, ID)                                                                    \
    do {                                                                                           \
        struct mb_err m_;                                                                          \
        MB_MSG0(&m_, MB_ECONFIG, ID);                                                              \
        csvimp_row_msg((c), (col), &m_);                                                           \
    } while (0)
#define CSVIMP_ROW(c, col, ID, ...)                                                                \
    do {                                                                                           \
        struct mb_err m_;                                                                          \
        MB_MSG(&m_, MB_ECONFIG, ID, __VA_ARGS__);                                                  \
        csvimp_row_msg((c), (col), &m_);                                                           \
    } while (0)
#define CSVIMP_AT0(c, line, col, ID)                                                               \
    do {                                                                                           \
        struct mb_err m_;                                                                          \
        MB_MSG0(&m_, MB_ECONFIG, ID);                                                              \
        csvimp_msg((c), (line), (col), &m_);                                                       \
    } while (0)
#define CSVIMP_AT(c, line, col, ID, ...)                                                           \
    do {                                                                                           \
        struct mb_err m_;                                                                          \
        MB_MSG(&m_, MB_ECONFIG, ID, __VA_ARGS__);                                                  \
        csvimp_msg((c), (line), (col), &m_);                                                       \
    } while (0)

/* An error about the current row; marks it bad so that it is not stored. */
static void csvimp_row_msg(struct csvimp_ctx *c, unsigned column, const struct mb_err *m)
{
    csvimp_msg(c, c->row_line, column, m);
    c->row_bad = 1;
}

/* ---- encoding ---- */

/* Length (1-4) of the well-formed UTF-8 sequence at p, or 0 (Unicode table 3-7). */
static size_t csvimp_utf8_len(const unsigned char *p, size_t n)
{
    unsigned char b = p[0];
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (b >= 0xE0 && b <= 0xEF) {
        if (n < 3 || (p[2] & 0xC0) != 0x80)
            return 0;
        unsigned char lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
        return p[1] >= lo && p[1] <= hi ? 3 : 0;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        if (n < 4 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        unsigned char lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
        return p[1] >= lo && p[1] <= hi ? 4 : 0;
    }
    return 0;
}

/* Windows-1252 0x80-0x9F → Unicode; 0 = undefined. 0xA0-0xFF map to U+00A0-U+00FF. */
/* clang-format off */
static const uint16_t csvimp_cp1252_hi[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,   /* 0x80 */
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017D, 0,        /* 0x88 */
    0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,   /* 0x90 */
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,   /* 0x98 */
};
/* clang-format on */

/* Unicode code point of a Windows-1252 byte, 0 if undefined. */
static unsigned csvimp_cp1252(unsigned char b)
{
    if (b >= 0x80 && b <= 0x9F)
        return csvimp_cp1252_hi[b - 0x80];
    return b; /* 0x00 is a valid (control) character; callers treat it separately */
}

static size_t csvimp_utf8_put(unsigned cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    out[0] = (unsigned char)(0xE0 | (cp >> 12));
    out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
}

/* Physical line and CSV column of a byte, tracked by a quote-aware scan (for encoding
 * errors, which are found before libcsv runs). */
struct csvimp_pos {
    unsigned line;
    unsigned column;
    int quoted;
};

static void csvimp_pos_step(struct csvimp_pos *ps, const unsigned char *s, size_t i, size_t n)
{
    unsigned char b = s[i];
    if (b == '"') {
        ps->quoted = !ps->quoted;
    } else if (b == ';' && !ps->quoted) {
        ps->column++;
    } else if (b == '\n' || (b == '\r' && !(i + 1 < n && s[i + 1] == '\n'))) {
        ps->line++;
        if (!ps->quoted)
            ps->column = 1;
    }
}

static void csvimp_encoding_error(struct csvimp_ctx *c, const unsigned char *s, size_t n, size_t at,
                                  int what_id)
{
    /* what_id: a message without parameters */
    struct csvimp_pos ps = {1, 1, 0};
    for (size_t i = 0; i < at; i++)
        csvimp_pos_step(&ps, s, i, n);
    unsigned col = ps.column <= CSVIMP_COLUMNS ? ps.column : CSVIMP_COLUMNS + 1;
    struct mb_err what;
    mb_err_msg(&what, MB_ECONFIG, what_id, NULL, 0);
    if (col == CSVIMP_COL_PASS_SOURCE) { /* never disclose a byte of a password */
        csvimp_msg(c, ps.line, col, &what);
    } else {
        char byte[4];
        snprintf(byte, sizeof(byte), "%02X", s[at]);
        CSVIMP_AT(c, ps.line, col, CSV_AT_BYTE, &what, byte);
    }
}

/* Decide the encoding and produce UTF-8 text. On success *text_r is either data (borrowed;
 * *owned_r NULL) or a decoded copy (*owned_r, wipe and free it). Returns 0 or -1 (errors
 * recorded). */
static int csvimp_decode(struct csvimp_ctx *c, const unsigned char *data, size_t len,
                         const unsigned char **text_r, size_t *text_len_r, unsigned char **owned_r)
{
    int bom = len >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF;
    const unsigned char *s = bom ? data + 3 : data;
    size_t n = bom ? len - 3 : len;
    size_t first_bad = n, multibyte = 0;
    *owned_r = NULL;

    for (size_t i = 0; i < n;) {
        size_t k = csvimp_utf8_len(s + i, n - i);
        if (k == 0) {
            first_bad = i;
            break;
        }
        if (k > 1)
            multibyte++;
        i += k;
    }
    if (first_bad == n) {
        c->res->encoding = bom ? "utf-8-bom" : "utf-8";
        *text_r = s;
        *text_len_r = n;
        return 0;
    }
    if (bom) {
        csvimp_encoding_error(c, s, n, first_bad, MSG_CSV_BOM_INVALID);
        return -1;
    }
    if (multibyte) {
        csvimp_encoding_error(c, s, n, first_bad, MSG_CSV_MIXED_ENCODING);
        return -1;
    }

    /* Windows-1252: check every byte first, then size and fill the UTF-8 copy. */
    size_t out_len = 0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned cp = csvimp_cp1252(s[i]);
        if (cp == 0 && s[i] != 0) {
            csvimp_encoding_error(c, s, n, i, MSG_CSV_BAD_BYTE);
            bad = 1;
            if (c->stop)
                break;
        }
        out_len += cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
    }
    if (bad)
        return -1;
    unsigned char *out = xmalloc(out_len + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += csvimp_utf8_put(csvimp_cp1252(s[i]), out + o);
    out[o] = '\0';
    c->res->encoding = "windows-1252";
    *owned_r = out;
    *text_r = out;
    *text_len_r = o;
    return 0;
}

/* ---- small validators ---- */

static unsigned char csvimp_lower(unsigned char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch + 32) : ch;
}

/* 1 if s contains a C0 control character or DEL. */
static int csvimp_has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7F)
            return 1;
    }
    return 0;
}

/* Remove surrounding spaces and tabs in place. */
static void csvimp_trim(struct csvimp_field *f)
{
    size_t a = 0, b = f->len;
    while (a < b && (f->p[a] == ' ' || f->p[a] == '\t'))
        a++;
    while (b > a && (f->p[b - 1] == ' ' || f->p[b - 1] == '\t'))
        b--;
    if (a)
        memmove(f->p, f->p + a, b - a);
    f->len = b - a;
    f->p[f->len] = '\0';
}

static int csvimp_domain_in(const char *d, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] && strcasecmp(d, list[i]) == 0)
            return 1;
    return 0;
}

/* "a.com, b.com" cut to fit out ("" when there is none). */
static void csvimp_domain_list(char *out, size_t size, const char *const *list, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!list[i])
            continue;
        size_t l = strlen(list[i]);
        const char *sep = o ? ", " : "";
        if (o + strlen(sep) + l + 5 >= size) {
            snprintf(out + o, size - o, "%s...", sep);
            return;
        }
        o += (size_t)snprintf(out + o, size - o, "%s%s", sep, list[i]);
    }
}

/* Destination domain d is not one of list (MSG_CSV_NOT_HOSTED or MSG_CSV_NOT_YOURS). */
static void csvimp_domain_error(struct csvimp_ctx *c, int hosted, const char *d,
                                const char *const *list, size_t n)
{
    char names[120], dom[61];
    csvimp_domain_list(names, sizeof(names), list, n);
    snprintf(dom, sizeof(dom), "%s", d);
    struct mb_err none, m;
    MB_MSG0(&none, 0, CSV_NONE_CONFIGURED);
    if (hosted && names[0])
        MB_MSG(&m, MB_ECONFIG, CSV_NOT_HOSTED, dom, names);
    else if (hosted)
        MB_MSG(&m, MB_ECONFIG, CSV_NOT_HOSTED, dom, &none);
    else if (names[0])
        MB_MSG(&m, MB_ECONFIG, CSV_NOT_YOURS, dom, names);
    else
        MB_MSG(&m, MB_ECONFIG, CSV_NOT_YOURS, dom, &none);
    csvimp_row_msg(c, CSVIMP_COL_LOGIN_DESTINATION, &m);
}

/* ---- duplicate detection: open addressing on FNV-1a ---- */

static uint64_t csvimp_hash(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Insert key (taken); returns 0, or the line of an earlier equal key (key then freed). */
static unsigned csvimp_seen_add(struct csvimp_ctx *c, char *key, size_t key_len, unsigned line)
{
    if ((c->seen_n + 1) * 2 > c->seen_cap) {
        size_t ncap = c->seen_cap ? c->seen_cap * 2 : 64;
        struct csvimp_seen *nt = xcalloc(ncap, sizeof(*nt));
        for (size_t i = 0; i < c->seen_cap; i++) {
            if (!c->seen[i].key)
                continue;
            size_t j = (size_t)c->seen[i].hash & (ncap - 1);
            while (nt[j].key)
                j = (j + 1) & (ncap - 1);
            nt[j] = c->seen[i];
        }
        free(c->seen);
        c->seen = nt;
        c->seen_cap = ncap;
    }
    uint64_t h = csvimp_hash(key, key_len);
    size_t j = (size_t)h & (c->seen_cap - 1);
    while (c->seen[j].key) {
        struct csvimp_seen *e = &c->seen[j];
        if (e->hash == h && e->key_len == key_len && memcmp(e->key, key, key_len) == 0) {
            free(key);
            return e->line;
        }
        j = (j + 1) & (c->seen_cap - 1);
    }
    c->seen[j].hash = h;
    c->seen[j].key = key;
    c->seen[j].key_len = key_len;
    c->seen[j].line = line;
    c->seen_n++;
    return 0;
}

static void csvimp_seen_free(struct csvimp_ctx *c)
{
    for (size_t i = 0; i < c->seen_cap; i++)
        free(c->seen[i].key);
    XFREE(c->seen);
    c->seen_cap = c->seen_n = 0;
}

/* ---- rows ---- */

static void csvimp_field_free(struct csvimp_field *f)
{
    if (f->p) {
        secret_wipe(f->p, f->len + 1);
        free(f->p);
    }
    f->p = NULL;
    f->len = 0;
}

static void csvimp_row_clear(struct csvimp_ctx *c)
{
    for (size_t i = 0; i < CSVIMP_COLUMNS; i++)
        csvimp_field_free(&c->fields[i]);
    c->n_fields = 0;
    c->row_line = 0;
    c->row_bad = 0;
}

static void csvimp_row_free(struct csvimp_row *r)
{
    free(r->login_source);
    if (r->pass_source) {
        secret_wipe(r->pass_source, strlen(r->pass_source));
        free(r->pass_source);
    }
    free(r->host);
    free(r->login_destination);
    memset(r, 0, sizeof(*r));
}

/* 1 if the field, without surrounding spaces and tabs, is name (case-insensitive). */
static int csvimp_field_is(const struct csvimp_field *f, const char *name)
{
    size_t a = 0, b = f->len;
    while (a < b && (f->p[a] == ' ' || f->p[a] == '\t'))
        a++;
    while (b > a && (f->p[b - 1] == ' ' || f->p[b - 1] == '\t'))
        b--;
    return b - a == strlen(name) && strncasecmp(f->p + a, name, b - a) == 0;
}

static int csvimp_is_header(const struct csvimp_ctx *c)
{
    if (c->n_fields != CSVIMP_COLUMNS)
        return 0;
    for (unsigned i = 0; i < CSVIMP_COLUMNS; i++)
        if (!c->fields[i].p || !csvimp_field_is(&c->fields[i], csvimp_names[i + 1]))
            return 0;
    return 1;
}

int csvimp_local_part_ok(const char *p, size_t len, const char *separator)
{
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = u[i];
        if (ch <= 0x20 || ch == 0x7F || strchr("\"(),:;<>[\\]@", ch))
            return 0;
        if (ch == 0xC2 && i + 1 < len && u[i + 1] >= 0x80 && u[i + 1] <= 0xA0)
            return 0; /* C1 controls, NBSP */
        if (ch == 0xE1 && i + 2 < len && u[i + 1] == 0x9A && u[i + 2] == 0x80)
            return 0; /* U+1680 */
        if (ch == 0xE2 && i + 2 < len
            && ((u[i + 1] == 0x80 && (u[i + 2] <= 0x8F || (u[i + 2] >= 0xA8 && u[i + 2] <= 0xAF)))
                || (u[i + 1] == 0x81 && u[i + 2] >= 0x9F && u[i + 2] <= 0xAF)))
            return 0; /* U+2000-U+200F, U+2028-U+202F, U+205F-U+206F */
        if (ch == 0xE3 && i + 2 < len && u[i + 1] == 0x80 && u[i + 2] == 0x80)
            return 0; /* U+3000 */
        if (ch == 0xEF && i + 2 < len && u[i + 1] == 0xBB && u[i + 2] == 0xBF)
            return 0; /* U+FEFF */
    }
    if (separator && *separator) {
        size_t sl = strlen(separator);
        for (size_t i = 0; i + sl <= len; i++) {
            if (memcmp(p + i, separator, sl) == 0)
                return 0;
        }
    }
    return 1;
}

/* login_destination: local@domain with a hosted domain. Returns the stored form or NULL. */
static char *csvimp_check_destination(struct csvimp_ctx *c, struct csvimp_field *f)
{
    const unsigned col = CSVIMP_COL_LOGIN_DESTINATION;
    const struct csvimp_opts *o = c->opts;
    csvimp_trim(f);
    if (f->len == 0) {
        CSVIMP_ROW0(c, col, CSV_DEST_EMPTY);
        return NULL;
    }
    char *at = memchr(f->p, '@', f->len);
    if (!at || memchr(at + 1, '@', f->len - (size_t)(at - f->p) - 1)) {
        CSVIMP_ROW0(c, col, CSV_DEST_ADDRESS);
        return NULL;
    }
    size_t local_len = (size_t)(at - f->p);
    const char *dom = at + 1;
    size_t dom_len = f->len - local_len - 1;
    if (local_len == 0 || local_len > 64) {
        CSVIMP_ROW0(c, col, CSV_LOCAL_LENGTH);
        return NULL;
    }
    if (!csvimp_local_part_ok(f->p, local_len, o->separator)) {
        CSVIMP_ROW0(c, col, CSV_LOCAL_CHAR);
        return NULL;
    }
    if (dom_len == 0 || dom[dom_len - 1] == '.' || !net_hostname_valid(dom, dom_len)) {
        CSVIMP_ROW0(c, col, CSV_DEST_DOMAIN);
        return NULL;
    }
    char *out = xstrndup(f->p, f->len);
    for (size_t i = local_len + 1; i < f->len; i++)
        out[i] = (char)csvimp_lower((unsigned char)out[i]);
    const char *d = out + local_len + 1; /* validated: [a-z0-9._-] only, safe to quote */
    if (!csvimp_domain_in(d, o->domains, o->domains ? o->n_domains : 0)) {
        csvimp_domain_error(c, 1, d, o->domains, o->domains ? o->n_domains : 0);
        free(out);
        return NULL;
    }
    if (o->account_domains && !csvimp_domain_in(d, o->account_domains, o->n_account_domains)) {
        csvimp_domain_error(c, 0, d, o->account_domains, o->n_account_domains);
        free(out);
        return NULL;
    }
    return out;
}

static void csvimp_store_row(struct csvimp_ctx *c, struct csvimp_row *r)
{
    struct csvimp_result *res = c->res;
    if (res->n_errors) { /* all or nothing: rows are useless once there is an error */
        csvimp_row_free(r);
        return;
    }
    if (res->n_rows == c->rows_cap) {
        c->rows_cap = c->rows_cap ? c->rows_cap * 2 : 64;
        if (c->rows_cap > c->max_rows)
            c->rows_cap = c->max_rows;
        res->rows = xrealloc(res->rows, c->rows_cap * sizeof(*res->rows));
    }
    res->rows[res->n_rows++] = *r;
}

/* Validate the row just ended (fields in c->fields) and store it. */
static void csvimp_row_finish(struct csvimp_ctx *c)
{
    struct csvimp_row r;
    memset(&r, 0, sizeof(r));
    r.line = c->row_line;

    if (!c->seen_first_row) {
        c->seen_first_row = 1;
        if (csvimp_is_header(c))
            return;
        if (c->fields[0].p && csvimp_field_is(&c->fields[0], csvimp_names[1])) {
            CSVIMP_ROW0(c, 0, CSV_HEADER);
            return;
        }
    }
    if (++c->data_rows > c->max_rows) {
        CSVIMP_ROW(c, 0, CSV_TOO_MANY_ROWS, c->max_rows);
        c->stop = 1;
        return;
    }
    if (c->row_bad)
        return; /* a field was too long: already reported */
    if (c->n_fields != CSVIMP_COLUMNS) {
        CSVIMP_ROW(c, 0, CSV_COLUMNS, CSVIMP_COLUMNS, c->n_fields);
        return;
    }
    int all_empty = 1;
    for (unsigned i = 0; i < CSVIMP_COLUMNS; i++)
        if (c->fields[i].len)
            all_empty = 0;
    if (all_empty) {
        CSVIMP_ROW0(c, 0, CSV_EMPTY_ROW);
        return;
    }

    struct csvimp_field *login = &c->fields[0], *pass = &c->fields[1], *host = &c->fields[2],
                        *type = &c->fields[3], *dest = &c->fields[4], *sub = &c->fields[5];

    if (login->len == 0)
        CSVIMP_ROW0(c, CSVIMP_COL_LOGIN_SOURCE, CSV_LOGIN_EMPTY);
    else if (csvimp_has_ctl(login->p, login->len))
        CSVIMP_ROW0(c, CSVIMP_COL_LOGIN_SOURCE, CSV_LOGIN_CONTROL);

    if (pass->len == 0 && !c->opts->allow_empty_password)
        CSVIMP_ROW0(c, CSVIMP_COL_PASS_SOURCE, CSV_PASS_EMPTY);
    else if (memchr(pass->p, '\r', pass->len) || memchr(pass->p, '\n', pass->len))
        CSVIMP_ROW0(c, CSVIMP_COL_PASS_SOURCE, CSV_PASS_BREAK);

    csvimp_trim(type);
    const struct mig_preset *stype = NULL;
    if (type->len == 0)
        CSVIMP_ROW0(c, CSVIMP_COL_TYPE, CSV_TYPE_EMPTY);
    else if (!(stype = mig_preset_find(type->p)))
        CSVIMP_ROW0(c, CSVIMP_COL_TYPE, CSV_TYPE_UNKNOWN);

    csvimp_trim(host);
    char hbuf[256];
    hbuf[0] = '\0';
    if (host->len == 0) {
        const char *def = stype ? stype->default_host : NULL;
        if (def)
            snprintf(hbuf, sizeof(hbuf), "%s", def);
        else if (stype)
            CSVIMP_ROW0(c, CSVIMP_COL_HOST_SOURCE, CSV_HOST_EMPTY);
    } else {
        int why;
        if (net_host_parse(host->p, hbuf, sizeof(hbuf), &r.port, &why) != 0) {
            struct mb_err m;
            mb_err_msg(&m, MB_ECONFIG, why, NULL, 0);
            csvimp_row_msg(c, CSVIMP_COL_HOST_SOURCE, &m);
        }
    }

    char *dst = csvimp_check_destination(c, dest);

    csvimp_trim(sub);
    if (sub->len == 0 || strcasecmp(sub->p, "false") == 0 || strcmp(sub->p, "0") == 0)
        r.subscribed_only = 0;
    else if (strcasecmp(sub->p, "true") == 0 || strcmp(sub->p, "1") == 0)
        r.subscribed_only = 1;
    else
        CSVIMP_ROW0(c, CSVIMP_COL_SUBSCRIBED_ONLY, CSV_SUBSCRIBED);

    if (c->row_bad) {
        free(dst);
        return;
    }

    /* Duplicates: same source account on the same server into the same box. */
    size_t ll = login->len, hl = strlen(hbuf), dl = strlen(dst);
    size_t key_len = ll + 1 + hl + 7 + dl;
    char *key = xmalloc(key_len + 1);
    int kn = snprintf(key, key_len + 1, "%s%c%s:%u%c%s", login->p, 0, hbuf, r.port ? r.port : 993u,
                      0, dst);
    unsigned first = csvimp_seen_add(c, key, kn > 0 ? (size_t)kn : 0, r.line);
    if (first) {
        CSVIMP_ROW(c, 0, CSV_DUPLICATE, first);
        free(dst);
        return;
    }

    r.login_source = login->p;
    login->p = NULL;
    r.pass_source = pass->p;
    pass->p = NULL;
    r.host = xstrdup(hbuf);
    r.server_type = stype ? stype->name : NULL;
    r.login_destination = dst;
    csvimp_store_row(c, &r);
}

/* ---- libcsv glue ---- */

static void csvimp_on_field(void *p, size_t len, void *data)
{
    struct csvimp_ctx *c = data;
    if (c->stop)
        return;
    if (!c->row_line)
        c->row_line = c->line;
    unsigned idx = c->n_fields;
    if (c->n_fields < UINT_MAX)
        c->n_fields++;
    if (idx >= CSVIMP_COLUMNS)
        return;
    if (len > c->max_field) {
        CSVIMP_ROW(c, idx + 1, CSV_FIELD_TOO_LONG, c->max_field);
        return;
    }
    if (len && memchr(p, '\0', len)) {
        CSVIMP_ROW(c, idx + 1, CSV_NUL, csvimp_names[idx + 1]);
        return;
    }
    struct csvimp_field *f = &c->fields[idx];
    f->p = xmalloc(len + 1);
    if (len)
        memcpy(f->p, p, len);
    f->p[len] = '\0';
    f->len = len;
}

static void csvimp_on_row(int ch, void *data)
{
    struct csvimp_ctx *c = data;
    (void)ch;
    if (!c->stop && c->row_line)
        csvimp_row_finish(c);
    csvimp_row_clear(c);
}

/* libcsv's buffer is allocated once with room for the longest acceptable field; refusing
 * to grow it makes libcsv stop with CSV_ENOMEM on a longer field (and keeps memory bounded,
 * and passwords out of freed blocks). */
static void *csvimp_csv_realloc(void *p, size_t n)
{
    return p ? NULL : xmalloc(n);
}

static int csvimp_no_space(unsigned char ch)
{
    (void)ch;
    return 0; /* no byte is "space": libcsv must not trim fields (passwords) */
}

static void csvimp_parser_init(struct csvimp_ctx *c, struct csv_parser *p)
{
    csv_init(p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL);
    csv_set_delim(p, ';');
    csv_set_quote(p, '"');
    csv_set_space_func(p, csvimp_no_space);
    csv_set_realloc_func(p, csvimp_csv_realloc);
    /* One block holds the longest acceptable field + its closing quote + the NUL (libcsv
     * counts the closing quote before dropping it). */
    csv_set_blk_size(p, c->max_field + 3);
}

static void csvimp_parser_fini(struct csv_parser *p)
{
    if (p->entry_buf)
        secret_wipe(p->entry_buf, p->entry_size);
    csv_free(p);
}

static void csvimp_csv_error(struct csvimp_ctx *c, struct csv_parser *p)
{
    unsigned col = c->n_fields + 1;
    if (col > CSVIMP_COLUMNS)
        col = CSVIMP_COLUMNS + 1;
    if (csv_error(p) == CSV_EPARSE)
        CSVIMP_AT0(c, c->line, col, CSV_MISPLACED_QUOTE);
    else
        CSVIMP_AT(c, c->line, col, CSV_FIELD_TOO_LONG, c->max_field);
}

static void csvimp_run(struct csvimp_ctx *c, const unsigned char *s, size_t n)
{
    struct csv_parser p;
    csvimp_parser_init(c, &p);
    c->line = 1;
    size_t pos = 0;
    while (pos < n && !c->stop) {
        size_t e = pos;
        while (e < n && s[e] != '\r' && s[e] != '\n')
            e++;
        size_t content = e - pos;
        if (e < n)
            e += s[e] == '\r' && e + 1 < n && s[e + 1] == '\n' ? 2 : 1;
        if (!c->row_line && content == 0) { /* empty line between rows */
            c->line++;
            pos = e;
            continue;
        }
        if (!c->row_line)
            c->row_line = c->line;
        size_t got = csv_parse(&p, s + pos, e - pos, csvimp_on_field, csvimp_on_row, c);
        if (got < e - pos && !c->stop) {
            /* Quoting error or field too long: report, drop the row, resume on the next line. */
            csvimp_csv_error(c, &p);
            csvimp_parser_fini(&p);
            csvimp_parser_init(c, &p);
            csvimp_row_clear(c);
        }
        c->line++;
        pos = e;
    }
    if (!c->stop && c->row_line) { /* the last line has no line end */
        if (csv_fini(&p, csvimp_on_field, csvimp_on_row, c) != 0)
            CSVIMP_AT0(c, c->row_line,
                       c->n_fields + 1 <= CSVIMP_COLUMNS ? c->n_fields + 1 : CSVIMP_COLUMNS + 1,
                       CSV_UNCLOSED);
    }
    csvimp_row_clear(c);
    csvimp_parser_fini(&p);
}

/* ---- public ---- */

int csvimp_parse(const void *data, size_t len, const struct csvimp_opts *opts,
                 struct csvimp_result *res)
{
    static const struct csvimp_opts no_opts;
    struct csvimp_ctx c;
    const unsigned char *text = NULL;
    unsigned char *owned = NULL;
    size_t text_len = 0;

    memset(res, 0, sizeof(*res));
    memset(&c, 0, sizeof(c));
    res->encoding = "utf-8";
    c.res = res;
    c.opts = opts ? opts : &no_opts;
    size_t max_bytes = c.opts->max_bytes ? c.opts->max_bytes : CSVIMP_DEFAULT_MAX_BYTES;
    c.max_rows = c.opts->max_rows ? c.opts->max_rows : CSVIMP_DEFAULT_MAX_ROWS;
    c.max_field = c.opts->max_field ? c.opts->max_field : CSVIMP_DEFAULT_MAX_FIELD;
    if (c.max_field > CSVIMP_MAX_FIELD_LIMIT)
        c.max_field = CSVIMP_MAX_FIELD_LIMIT;
    c.max_errors = c.opts->max_errors ? c.opts->max_errors : CSVIMP_DEFAULT_MAX_ERRORS;

    if (len > max_bytes) {
        CSVIMP_AT(&c, 0, 0, CSV_FILE_TOO_LARGE, len, max_bytes);
        return MB_ETOOBIG;
    }
    if (csvimp_decode(&c, data ? data : "", data ? len : 0, &text, &text_len, &owned) == 0)
        csvimp_run(&c, text, text_len);
    if (owned) {
        secret_wipe(owned, text_len);
        free(owned);
    }
    csvimp_seen_free(&c);

    if (res->n_errors == 0 && res->n_rows == 0) {
        if (c.seen_first_row)
            CSVIMP_AT0(&c, 0, 0, CSV_HEADER_ONLY);
        else
            CSVIMP_AT0(&c, 0, 0, CSV_EMPTY_FILE);
    }
    if (res->n_errors) {
        for (size_t i = 0; i < res->n_rows; i++)
            csvimp_row_free(&res->rows[i]);
        XFREE(res->rows);
        res->n_rows = 0;
        return MB_ECONFIG;
    }
    return 0;
}

void csvimp_result_fini(struct csvimp_result *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->n_rows; i++)
        csvimp_row_free(&res->rows[i]);
    free(res->rows);
    free(res->errors);
    memset(res, 0, sizeof(*res));
}

int csvimp_sample(const char *domain, struct buf *out)
{
    /* The spec's example table (§2.b), in its order; the destination domains (secuseve.com and
     * the <votreDomaine> placeholders) become the caller's domain. */
    static const char *const rows[5][CSVIMP_COLUMNS] = {
        {"source@login.com", "myPassword1", "gmail.server", "gmail", "toto", "False"},
        {"my@login.com", "myPass", "exchange.server", "exchange", "tata", "False"},
        {"test@test.com", "pass", "defaut.server", "defaut", "angoulem", "False"},
        {"how@to.com", "passtest", "domino.server", "domino", "didier", "False"},
        {"testoffice@test.com", "passtest", "office.server", "office", "j.renaud", "False"},
    };
    size_t dl = domain ? strlen(domain) : 0;
    if (!dl || domain[dl - 1] == '.' || !net_hostname_valid(domain, dl))
        return MB_ECONFIG;
    int rc = 0;
    for (unsigned i = 1; i <= CSVIMP_COLUMNS && !rc; i++)
        rc = buf_printf(out, "%s%s", csvimp_names[i], i < CSVIMP_COLUMNS ? ";" : "\r\n");
    for (size_t r = 0; r < 5 && !rc; r++)
        rc = buf_printf(out, "%s;%s;%s;%s;%s@%s;%s\r\n", rows[r][0], rows[r][1], rows[r][2],
                        rows[r][3], rows[r][4], domain, rows[r][5]);
    return rc;
}
