#include "mig_options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/xalloc.h"

void mig_options_fini(struct mig_options *o)
{
    for (size_t i = 0; i < o->n_exclude; i++)
        free(o->exclude[i]);
    free(o->exclude);
    for (size_t i = 0; i < o->n_map; i++) {
        free(o->map[i].src);
        free(o->map[i].dst);
    }
    free(o->map);
    memset(o, 0, sizeof(*o));
}

int mig_options_empty(const struct mig_options *o)
{
    return !o->since && !o->before && !o->n_exclude && !o->n_map && !o->max_message_size
           && !o->gmail_labels_first;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

#define MAP_OBJECT_EXAMPLE "{\"source\": \"destination\"}"

/* A value quoted in an error, cut to n bytes (as "%.40s" did). */
static const char *cut(char *buf, size_t size, const char *s, int n)
{
    snprintf(buf, size, "%.*s", n, s ? s : "");
    return buf;
}

int mig_options_parse_date(const char *s, int64_t *t_r, struct mb_err *err)
{
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int ok = s && strlen(s) == 10 && s[4] == '-' && s[7] == '-';
    for (int i = 0; ok && i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            ok = 0;
    if (ok) {
        int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
        int m = (s[5] - '0') * 10 + (s[6] - '0');
        int d = (s[8] - '0') * 10 + (s[9] - '0');
        ok = y >= 1970 && m >= 1 && m <= 12 && d >= 1 && d <= mdays[m - 1] + (m == 2 && leap(y));
        if (ok) {
            *t_r = days_from_civil(y, (unsigned)m, (unsigned)d) * 86400;
            return 0;
        }
    }
    char v[48];
    return MB_MSG(err, MB_ECONFIG, OPT_NOT_DATE, cut(v, sizeof(v), s, 40));
}

int mig_options_set_since(struct mig_options *o, const char *date, struct mb_err *err)
{
    char v[48];
    int rc = mig_options_parse_date(date, &o->since, err);
    if (rc)
        return MB_MSG(err, MB_ECONFIG, OPT_DATE, "since", cut(v, sizeof(v), date, 40));
    return 0;
}

int mig_options_set_before(struct mig_options *o, const char *date, struct mb_err *err)
{
    char v[48];
    int rc = mig_options_parse_date(date, &o->before, err);
    if (rc)
        return MB_MSG(err, MB_ECONFIG, OPT_DATE, "before", cut(v, sizeof(v), date, 40));
    return 0;
}

/* A folder name or pattern: 1-MIG_OPT_NAME_MAX bytes, no control character, no empty level
 * (leading, trailing or doubled '/'). */
static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MIG_OPT_NAME_MAX || s[0] == '/' || s[n - 1] == '/' || strstr(s, "//"))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

static enum mig_role role_token(const char *p)
{
    if (p[0] != '\\')
        return MIG_ROLE_NONE;
    enum mig_role r = mig_names_role_of_flag(p);
    switch (r) {
    case MIG_ROLE_SENT:
    case MIG_ROLE_DRAFTS:
    case MIG_ROLE_TRASH:
    case MIG_ROLE_JUNK:
    case MIG_ROLE_ARCHIVE: return r;
    default: return MIG_ROLE_NONE;
    }
}

int mig_options_add_exclude(struct mig_options *o, const char *pattern, struct mb_err *err)
{
    char v[88];
    if (!pattern || !name_ok(pattern))
        return MB_MSG(err, MB_ECONFIG, OPT_PATTERN, cut(v, sizeof(v), pattern, 80));
    if (pattern[0] == '\\' && role_token(pattern) == MIG_ROLE_NONE)
        return MB_MSG(err, MB_ECONFIG, OPT_SPECIAL, cut(v, sizeof(v), pattern, 40));
    if (o->n_exclude >= MIG_OPT_PATTERNS_MAX)
        return MB_MSG(err, MB_ECONFIG, OPT_PATTERNS, MIG_OPT_PATTERNS_MAX);
    for (size_t i = 0; i < o->n_exclude; i++)
        if (strcmp(o->exclude[i], pattern) == 0)
            return 0;
    o->exclude = xrealloc(o->exclude, (o->n_exclude + 1) * sizeof(*o->exclude));
    o->exclude[o->n_exclude++] = xstrdup(pattern);
    return 0;
}

int mig_options_add_map(struct mig_options *o, const char *src, const char *dst, struct mb_err *err)
{
    char v[88], w[88];
    if (!src || !dst || !name_ok(src) || !name_ok(dst) || strchr(src, '*') || strchr(dst, '*')
        || src[0] == '\\' || dst[0] == '\\')
        return MB_MSG(err, MB_ECONFIG, OPT_MAPPING, cut(v, sizeof(v), src, 80),
                      cut(w, sizeof(w), dst, 80));
    if (o->n_map >= MIG_OPT_MAPS_MAX)
        return MB_MSG(err, MB_ECONFIG, OPT_MAPS, MIG_OPT_MAPS_MAX);
    for (size_t i = 0; i < o->n_map; i++)
        if (strcmp(o->map[i].src, src) == 0)
            return MB_MSG(err, MB_ECONFIG, OPT_TWICE, cut(v, sizeof(v), src, 80));
    o->map = xrealloc(o->map, (o->n_map + 1) * sizeof(*o->map));
    o->map[o->n_map].src = xstrdup(src);
    o->map[o->n_map].dst = xstrdup(dst);
    o->n_map++;
    return 0;
}

int mig_options_add_map_arg(struct mig_options *o, const char *arg, struct mb_err *err)
{
    char v[88];
    const char *eq = arg ? strchr(arg, '=') : NULL;
    if (!eq)
        return MB_MSG(err, MB_ECONFIG, OPT_MAP_ARG, cut(v, sizeof(v), arg, 80));
    char *src = xstrndup(arg, (size_t)(eq - arg));
    int rc = mig_options_add_map(o, src, eq + 1, err);
    free(src);
    return rc;
}

int mig_options_set_max_size(struct mig_options *o, const char *s, struct mb_err *err)
{
    char q[48];
    char *end = NULL;
    errno = 0;
    long long v = s && *s >= '0' && *s <= '9' ? strtoll(s, &end, 10) : 0;
    if (!end || *end || errno || v < 1)
        return MB_MSG(err, MB_ECONFIG, OPT_SIZE, cut(q, sizeof(q), s, 40));
    o->max_message_size = v;
    return 0;
}

int mig_options_set_gmail_labels(struct mig_options *o, const char *s, struct mb_err *err)
{
    char q[48];
    if (s && strcmp(s, "each") == 0)
        o->gmail_labels_first = 0;
    else if (s && strcmp(s, "first") == 0)
        o->gmail_labels_first = 1;
    else
        return MB_MSG(err, MB_ECONFIG, OPT_GMAIL, cut(q, sizeof(q), s, 40));
    return 0;
}

int mig_options_check(const struct mig_options *o, struct mb_err *err)
{
    if (o->since && o->before && o->since >= o->before)
        return MB_MSG0(err, MB_ECONFIG, OPT_RANGE);
    return 0;
}

static void fmt_date(int64_t t, char out[16])
{
    /* civil_from_days (H. Hinnant) */
    int64_t z = t / 86400 + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    snprintf(out, 16, "%04d-%02u-%02u", (int)(y % 10000), m % 100, d % 100);
}

int mig_options_from_json(const struct json_value *obj, struct mig_options *o, struct mb_err *err)
{
    char q[48];
    const char *s;
    int rc = json_get_str(obj, "since", &s);
    if (rc == JSON_ETYPE)
        return MB_MSG(err, MB_ECONFIG, OPT_DATE, "since", "(not a string)");
    if (rc == 0 && (rc = mig_options_set_since(o, s, err)) != 0)
        return rc;
    rc = json_get_str(obj, "before", &s);
    if (rc == JSON_ETYPE)
        return MB_MSG(err, MB_ECONFIG, OPT_DATE, "before", "(not a string)");
    if (rc == 0 && (rc = mig_options_set_before(o, s, err)) != 0)
        return rc;

    const struct json_value *v = json_obj_get(obj, "exclude_folders");
    if (v && v->type != JSON_NULL) {
        if (v->type != JSON_ARRAY)
            return MB_MSG0(err, MB_ECONFIG, OPT_LIST);
        for (size_t i = 0; i < v->n; i++) {
            if (v->items[i].type != JSON_STRING)
                return MB_MSG0(err, MB_ECONFIG, OPT_LIST);
            if ((rc = mig_options_add_exclude(o, v->items[i].str, err)) != 0)
                return rc;
        }
    }
    v = json_obj_get(obj, "folder_map");
    if (v && v->type != JSON_NULL) {
        if (v->type != JSON_OBJECT)
            return MB_MSG(err, MB_ECONFIG, OPT_MAP_OBJECT, MAP_OBJECT_EXAMPLE);
        for (size_t i = 0; i < v->n; i++) {
            if (v->members[i].value.type != JSON_STRING)
                return MB_MSG(err, MB_ECONFIG, OPT_MAP_OBJECT, MAP_OBJECT_EXAMPLE);
            if ((rc = mig_options_add_map(o, v->members[i].key, v->members[i].value.str, err)))
                return rc;
        }
    }
    v = json_obj_get(obj, "max_message_size");
    if (v && v->type != JSON_NULL) {
        if (v->type != JSON_NUMBER || !v->is_int || v->i < 1)
            return MB_MSG(err, MB_ECONFIG, OPT_SIZE, "(not an integer)");
        o->max_message_size = v->i;
    }
    rc = json_get_str(obj, "gmail_labels", &s);
    if (rc == JSON_ETYPE || (rc == 0 && mig_options_set_gmail_labels(o, s, err) != 0))
        return MB_MSG(err, MB_ECONFIG, OPT_GMAIL,
                      rc == 0 ? cut(q, sizeof(q), s, 40) : "(not a string)");
    return mig_options_check(o, err);
}

int mig_options_parse(const char *json, struct mig_options *o, struct mb_err *err)
{
    memset(o, 0, sizeof(*o));
    if (!json || !*json)
        return 0;
    struct json_value *v = NULL;
    int rc = json_parse(json, strlen(json), NULL, &v, err);
    if (!rc && v->type != JSON_OBJECT)
        rc = MB_MSG0(err, MB_ECONFIG, OPT_STORED);
    if (!rc)
        rc = mig_options_from_json(v, o, err);
    json_free(&v);
    if (rc)
        mig_options_fini(o);
    return rc;
}

void mig_options_write_members(struct json_w *w, const struct mig_options *o)
{
    char d[16];
    if (o->since) {
        fmt_date(o->since, d);
        json_w_kv_str(w, "since", d);
    }
    if (o->before) {
        fmt_date(o->before, d);
        json_w_kv_str(w, "before", d);
    }
    if (o->n_exclude) {
        json_w_key(w, "exclude_folders");
        json_w_arr_begin(w);
        for (size_t i = 0; i < o->n_exclude; i++)
            json_w_str(w, o->exclude[i]);
        json_w_arr_end(w);
    }
    if (o->n_map) {
        json_w_key(w, "folder_map");
        json_w_obj_begin(w);
        for (size_t i = 0; i < o->n_map; i++)
            json_w_kv_str(w, o->map[i].src, o->map[i].dst);
        json_w_obj_end(w);
    }
    if (o->max_message_size)
        json_w_kv_int(w, "max_message_size", o->max_message_size);
    if (o->gmail_labels_first)
        json_w_kv_str(w, "gmail_labels", "first");
}

char *mig_options_to_json(const struct mig_options *o)
{
    if (mig_options_empty(o))
        return NULL;
    struct buf out;
    buf_init(&out, (size_t)1 << 20);
    struct json_w w;
    json_w_init(&w, &out);
    json_w_obj_begin(&w);
    mig_options_write_members(&w, o);
    json_w_obj_end(&w);
    if (json_w_finish(&w) != 0) {
        buf_fini(&out);
        return NULL;
    }
    return buf_take(&out, NULL);
}

/* INBOX (the first level) compares in any case. */
static int glob_at(const char *p, const char *s)
{
    for (;;) {
        if (*p == '*') {
            while (*p == '*')
                p++;
            if (!*p)
                return 1;
            for (; *s; s++)
                if (glob_at(p, s))
                    return 1;
            return 0;
        }
        if (!*p)
            return !*s;
        if (*p != *s)
            return 0;
        p++;
        s++;
    }
}

static int inbox_prefix(const char *s)
{
    return strncasecmp(s, "INBOX", 5) == 0 && (s[5] == '\0' || s[5] == '/');
}

int mig_options_glob(const char *pattern, const char *name)
{
    if (inbox_prefix(pattern) && inbox_prefix(name))
        return glob_at(pattern + 5, name + 5);
    return glob_at(pattern, name);
}

const char *mig_options_excluded(const struct mig_options *o, const char *rel, enum mig_role role,
                                 unsigned parent_roles)
{
    for (size_t i = 0; o && i < o->n_exclude; i++) {
        const char *p = o->exclude[i];
        enum mig_role r = role_token(p);
        if (r != MIG_ROLE_NONE) {
            if (role == r || (parent_roles & (1u << r)))
                return p;
        } else if (mig_options_glob(p, rel)) {
            return p;
        }
    }
    return NULL;
}

int mig_options_map(const struct mig_options *o, const char *rel, struct buf *out)
{
    const struct mig_folder_map *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; o && i < o->n_map; i++) {
        const char *src = o->map[i].src;
        size_t n = strlen(src);
        int match;
        if (inbox_prefix(src) && inbox_prefix(rel))
            match = strncmp(src + 5, rel + 5, n - 5) == 0 && (rel[n] == '\0' || rel[n] == '/');
        else
            match = strncmp(src, rel, n) == 0 && (rel[n] == '\0' || rel[n] == '/');
        if (match && n > best_len) {
            best = &o->map[i];
            best_len = n;
        }
    }
    if (!best)
        return 0;
    buf_reset(out);
    if (buf_puts(out, best->dst) || buf_puts(out, rel + best_len))
        return 0;
    return 1;
}
