#define T_IMPLEMENTATION
#include "t.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/buf.h"
#include "base/mb_err.h"
#include "json/json_read.h"
#include "json/json_write.h"

/* ---- writer ---- */

static void test_write_structure(void)
{
    T_BEGIN("writer: nested objects and arrays with automatic commas");
    struct buf b;
    struct json_w w;
    buf_init(&b, 4096);
    json_w_init(&w, &b);
    json_w_obj_begin(&w);
    json_w_kv_int(&w, "id", 5);
    json_w_kv_str(&w, "state", "done");
    json_w_kv_str(&w, "error", NULL);
    json_w_kv_bool(&w, "admin", 0);
    json_w_kv_null(&w, "batch");
    json_w_key(&w, "domains");
    json_w_arr_begin(&w);
    json_w_str(&w, "a.com");
    json_w_str(&w, "b.com");
    json_w_arr_begin(&w);
    json_w_arr_end(&w);
    json_w_obj_begin(&w);
    json_w_obj_end(&w);
    json_w_bool(&w, 1);
    json_w_arr_end(&w);
    json_w_key(&w, "n");
    json_w_uint(&w, UINT64_MAX);
    json_w_kv_int(&w, "min", INT64_MIN);
    json_w_key(&w, "raw");
    json_w_raw_number(&w, "-1.5e+10");
    json_w_key(&w, "d");
    json_w_double(&w, 0.5);
    json_w_obj_end(&w);
    T_ASSERT_INT(json_w_finish(&w), 0);
    T_ASSERT_STR(buf_cstr(&b),
                 "{\"id\":5,\"state\":\"done\",\"error\":null,\"admin\":false,\"batch\":null,"
                 "\"domains\":[\"a.com\",\"b.com\",[],{},true],\"n\":18446744073709551615,"
                 "\"min\":-9223372036854775808,\"raw\":-1.5e+10,\"d\":0.5}");
    buf_fini(&b);

    buf_init(&b, 64); /* a scalar is a whole document too */
    json_w_init(&w, &b);
    json_w_str(&w, "x");
    T_ASSERT_INT(json_w_finish(&w), 0);
    T_ASSERT_STR(buf_cstr(&b), "\"x\"");
    buf_fini(&b);
    T_END();
}

static const char *w_string(struct buf *b, const char *s, size_t n)
{
    struct json_w w;
    buf_reset(b);
    json_w_init(&w, b);
    json_w_strn(&w, s, n);
    return json_w_finish(&w) == 0 ? buf_cstr(b) : "(error)";
}

#define W_STR(b, lit) w_string((b), (lit), sizeof(lit) - 1)

static void test_write_escapes(void)
{
    T_BEGIN("writer: escapes, UTF-8 passed through, invalid bytes become U+FFFD, </ → <\\/");
    struct buf b;
    buf_init(&b, 4096);
    T_ASSERT_STR(W_STR(&b, "plain"), "\"plain\"");
    T_ASSERT_STR(W_STR(&b, "a\"b\\c"), "\"a\\\"b\\\\c\"");
    T_ASSERT_STR(W_STR(&b, "\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
    T_ASSERT_STR(W_STR(&b, "\x01\x1f\x7f"), "\"\\u0001\\u001f\x7f\"");
    T_ASSERT_STR(W_STR(&b, "a\0b"), "\"a\\u0000b\"");
    T_ASSERT_STR(W_STR(&b, "</script><!--"), "\"<\\/script><!--\"");
    T_ASSERT_STR(W_STR(&b, "a/b"), "\"a/b\"");
    T_ASSERT_STR(W_STR(&b, "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
                 "\"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    T_ASSERT_STR(W_STR(&b, "\xe2\x80\xa8\xe2\x80\xa9"), "\"\\u2028\\u2029\"");
    T_ASSERT_STR(W_STR(&b, "a\xff"
                           "b"),
                 "\"a\xef\xbf\xbd"
                 "b\"");
    T_ASSERT_STR(W_STR(&b, "\xc0\xaf"), "\"\xef\xbf\xbd\xef\xbf\xbd\""); /* overlong */
    T_ASSERT_STR(W_STR(&b, "\xed\xa0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    T_ASSERT_STR(W_STR(&b, "\xe2\x82"), "\"\xef\xbf\xbd\xef\xbf\xbd\"");   /* truncated */
    T_ASSERT_STR(W_STR(&b, "\xe9t\xe9"), "\"\xef\xbf\xbdt\xef\xbf\xbd\""); /* latin-1 */
    T_ASSERT_STR(W_STR(&b, ""), "\"\"");

    struct json_w w; /* keys are escaped the same way */
    buf_reset(&b);
    json_w_init(&w, &b);
    json_w_obj_begin(&w);
    json_w_kv_str(&w, "k\"</", "v");
    json_w_obj_end(&w);
    T_ASSERT_INT(json_w_finish(&w), 0);
    T_ASSERT_STR(buf_cstr(&b), "{\"k\\\"<\\/\":\"v\"}");
    buf_fini(&b);
    T_END();
}

static void test_write_misuse(void)
{
    T_BEGIN("writer: misuse and limits are sticky errors");
    struct buf b;
    struct json_w w;
    buf_init(&b, 4096);

    json_w_init(&w, &b);
    json_w_obj_begin(&w);
    T_ASSERT_INT(json_w_int(&w, 1), MB_EPROTO);   /* value without a key */
    T_ASSERT_INT(json_w_key(&w, "a"), MB_EPROTO); /* sticky */
    T_ASSERT_INT(json_w_finish(&w), MB_EPROTO);

    buf_reset(&b);
    json_w_init(&w, &b);
    json_w_arr_begin(&w);
    T_ASSERT_INT(json_w_key(&w, "a"), MB_EPROTO); /* key in an array */

    json_w_init(&w, &b);
    json_w_obj_begin(&w);
    json_w_key(&w, "a");
    T_ASSERT_INT(json_w_key(&w, "b"), MB_EPROTO); /* two keys */

    json_w_init(&w, &b);
    json_w_obj_begin(&w);
    json_w_key(&w, "a");
    T_ASSERT_INT(json_w_obj_end(&w), MB_EPROTO); /* key without value */

    json_w_init(&w, &b);
    json_w_obj_begin(&w);
    T_ASSERT_INT(json_w_arr_end(&w), MB_EPROTO); /* wrong kind */

    json_w_init(&w, &b);
    T_ASSERT_INT(json_w_arr_end(&w), MB_EPROTO); /* nothing open */

    json_w_init(&w, &b);
    json_w_int(&w, 1);
    T_ASSERT_INT(json_w_int(&w, 2), MB_EPROTO); /* second top-level value */

    json_w_init(&w, &b);
    T_ASSERT_INT(json_w_finish(&w), MB_EPROTO); /* nothing written */
    json_w_arr_begin(&w);
    T_ASSERT_INT(json_w_finish(&w), MB_EPROTO); /* unclosed */

    json_w_init(&w, &b);
    T_ASSERT_INT(json_w_double(&w, NAN), MB_EPROTO);
    json_w_init(&w, &b);
    T_ASSERT_INT(json_w_double(&w, INFINITY), MB_EPROTO);
    static const char *const bad_nums[] = {"01", "1.", ".5", "+1", "NaN", "1e", "", "1 ", "0x1"};
    for (size_t i = 0; i < sizeof(bad_nums) / sizeof(bad_nums[0]); i++) {
        json_w_init(&w, &b);
        T_ASSERT_INT(json_w_raw_number(&w, bad_nums[i]), MB_EPROTO);
    }
    json_w_init(&w, &b);
    T_ASSERT_INT(json_w_raw_number(&w, NULL), MB_EPROTO);

    json_w_init(&w, &b); /* depth limit */
    int rc = 0;
    for (int i = 0; i <= JSON_W_MAX_DEPTH && !rc; i++)
        rc = json_w_arr_begin(&w);
    T_ASSERT_INT(rc, MB_EPROTO);
    buf_fini(&b);

    buf_init(&b, 10); /* the buffer's limit */
    json_w_init(&w, &b);
    json_w_arr_begin(&w);
    json_w_str(&w, "0123456789");
    json_w_arr_end(&w);
    T_ASSERT_INT(json_w_finish(&w), MB_ETOOBIG);
    buf_fini(&b);
    T_END();
}

static void test_write_doubles(void)
{
    T_BEGIN("writer: doubles read back exactly");
    static const double vals[] = {0.1, -0.0, 1e300, -2.5e-300, 123456789.125, 1.0 / 3};
    struct buf b;
    buf_init(&b, 256);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        struct json_w w;
        buf_reset(&b);
        json_w_init(&w, &b);
        json_w_double(&w, vals[i]);
        T_ASSERT_INT(json_w_finish(&w), 0);
        struct json_value *v = NULL;
        T_ASSERT_INT(json_parse(b.data, b.len, NULL, &v, NULL), 0);
        T_ASSERT(v && v->type == JSON_NUMBER && v->num == vals[i]);
        json_free(&v);
    }
    buf_fini(&b);
    T_END();
}

/* ---- reader ---- */

static void test_read_values(void)
{
    T_BEGIN("reader: values, nesting, escapes and unicode");
    const char *doc = " {\"source_host\":\"imap.example.com\", \"port\" : 993,\t\"neg\":-42,"
                      "\"subscribed_only\":true,\"insecure\":false,\"batch\":null,"
                      "\"f\":-1.25e2,\"z\":0,\"big\":12345678901234567890,"
                      "\"list\":[1,[2,[]],{},\"x\"],"
                      "\"esc\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC\\ud83d\\ude00\","
                      "\"utf8\":\"\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80\",\"\":\"empty key\"}\r\n";
    struct json_value *v = NULL;
    struct mb_err e;
    T_ASSERT_INT(json_parse(doc, strlen(doc), NULL, &v, &e), 0);
    T_ASSERT(v != NULL);
    if (!v)
        return;
    T_ASSERT_INT(v->type, JSON_OBJECT);
    T_ASSERT_INT(v->n, 13);
    const char *s = NULL;
    int64_t i = 0;
    int bo = -1;
    T_ASSERT_INT(json_get_str(v, "source_host", &s), 0);
    T_ASSERT_STR(s, "imap.example.com");
    T_ASSERT_INT(json_get_int(v, "port", &i), 0);
    T_ASSERT_INT(i, 993);
    T_ASSERT_INT(json_get_int(v, "neg", &i), 0);
    T_ASSERT_INT(i, -42);
    T_ASSERT_INT(json_get_bool(v, "subscribed_only", &bo), 0);
    T_ASSERT_INT(bo, 1);
    T_ASSERT_INT(json_get_bool(v, "insecure", &bo), 0);
    T_ASSERT_INT(bo, 0);
    const struct json_value *f = json_obj_get(v, "f");
    T_ASSERT(f && f->type == JSON_NUMBER && f->num == -125.0 && !f->is_int);
    T_ASSERT(f && strcmp(f->str, "-1.25e2") == 0);
    const struct json_value *big = json_obj_get(v, "big");
    T_ASSERT(big && big->type == JSON_NUMBER && !big->is_int && big->num > 1.2e19);
    const struct json_value *l = json_obj_get(v, "list");
    T_ASSERT(l && l->type == JSON_ARRAY && l->n == 4);
    if (l && l->n == 4) {
        T_ASSERT(l->items[0].type == JSON_NUMBER && l->items[0].i == 1);
        T_ASSERT(l->items[1].type == JSON_ARRAY && l->items[1].n == 2);
        T_ASSERT(l->items[1].n == 2 && l->items[1].items[1].type == JSON_ARRAY);
        T_ASSERT(l->items[2].type == JSON_OBJECT && l->items[2].n == 0);
        T_ASSERT_STR(l->items[3].str, "x");
    }
    T_ASSERT_INT(json_get_str(v, "esc", &s), 0);
    T_ASSERT_STR(s, "\"\\/\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    T_ASSERT_INT(json_get_str(v, "utf8", &s), 0);
    T_ASSERT_STR(s, "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80");
    T_ASSERT_INT(json_get_str(v, "", &s), 0);
    T_ASSERT_STR(s, "empty key");
    json_free(&v);
    T_ASSERT(v == NULL);
    json_free(&v);
    json_free(NULL);

    static const char *const scalars[] = {"0",    "-0",   "1.5", "1E+2", "1e-2",  "true",  "false",
                                          "null", "\"\"", "[]",  "{}",   " [ ] ", "-0.0e0"};
    for (size_t k = 0; k < sizeof(scalars) / sizeof(scalars[0]); k++) {
        int rc = json_parse(scalars[k], strlen(scalars[k]), NULL, &v, &e);
        if (rc)
            fprintf(stderr, "  refused %s: %s\n", scalars[k], e.msg);
        T_ASSERT_INT(rc, 0);
        json_free(&v);
    }
    T_END();
}

struct bad_case {
    const char *doc;
    size_t len; /* 0 = strlen */
    int code;
    const char *msg; /* substring of the error message, with the offset */
};

static void test_read_rejects(void)
{
    T_BEGIN("reader: every kind of invalid JSON is refused with its offset");
    static const struct bad_case bad[] = {
        {"", 0, MB_EPROTO, "offset 0: unexpected end of input"},
        {"   ", 0, MB_EPROTO, "offset 3: unexpected end"},
        {"{", 0, MB_EPROTO, "offset 1: expected a string key"},
        {"[", 0, MB_EPROTO, "offset 1: unexpected end"},
        {"[1,", 0, MB_EPROTO, "offset 3: unexpected end"},
        {"[1 2]", 0, MB_EPROTO, "offset 3: expected ',' or ']'"},
        {"{\"a\"}", 0, MB_EPROTO, "offset 4: expected ':'"},
        {"{\"a\":}", 0, MB_EPROTO, "offset 5: unexpected character"},
        {"{\"a\":1 \"b\":2}", 0, MB_EPROTO, "offset 7: expected ',' or '}'"},
        {"[1,]", 0, MB_EPROTO, "offset 3: unexpected character"},
        {"{\"a\":1,}", 0, MB_EPROTO, "offset 7: expected a string key"},
        {"{a:1}", 0, MB_EPROTO, "offset 1: expected a string key"},
        {"{1:1}", 0, MB_EPROTO, "expected a string key"},
        {"'a'", 0, MB_EPROTO, "offset 0: unexpected character"},
        {"/*c*/1", 0, MB_EPROTO, "offset 0"},
        {"1 // c", 0, MB_EPROTO, "offset 2: unexpected data after the value"},
        {"NaN", 0, MB_EPROTO, "offset 0"},
        {"Infinity", 0, MB_EPROTO, "offset 0"},
        {"-Infinity", 0, MB_EPROTO, "offset 0: invalid number"},
        {"01", 0, MB_EPROTO, "offset 0: leading zeros"},
        {"-01", 0, MB_EPROTO, "leading zeros"},
        {"[00]", 0, MB_EPROTO, "offset 1: leading zeros"},
        {"+1", 0, MB_EPROTO, "offset 0"},
        {".5", 0, MB_EPROTO, "offset 0"},
        {"1.", 0, MB_EPROTO, "invalid number"},
        {"1.e3", 0, MB_EPROTO, "invalid number"},
        {"1e", 0, MB_EPROTO, "invalid number"},
        {"1e+", 0, MB_EPROTO, "invalid number"},
        {"-", 0, MB_EPROTO, "invalid number"},
        {"0x10", 0, MB_EPROTO, "offset 1: unexpected data"},
        {"1e400", 0, MB_EPROTO, "out of range"},
        {"-1e400", 0, MB_EPROTO, "out of range"},
        {"\"abc", 0, MB_EPROTO, "offset 0: unterminated string"},
        {"\"abc\\\"", 0, MB_EPROTO, "unterminated string"},
        {"\"a\nb\"", 0, MB_EPROTO, "offset 2: control character"},
        {"\"a\tb\"", 0, MB_EPROTO, "control character"},
        {"\"\\x\"", 0, MB_EPROTO, "offset 1: unknown escape"},
        {"\"\\'\"", 0, MB_EPROTO, "unknown escape"},
        {"\"\\u12\"", 0, MB_EPROTO, "four hexadecimal digits"},
        {"\"\\u12G4\"", 0, MB_EPROTO, "four hexadecimal digits"},
        {"\"\\ud800\"", 0, MB_EPROTO, "offset 1: lone high surrogate"},
        {"\"\\ud800x\"", 0, MB_EPROTO, "lone high surrogate"},
        {"\"\\ud800\\u0041\"", 0, MB_EPROTO, "lone high surrogate"},
        {"\"\\ud800\\ud800\"", 0, MB_EPROTO, "lone high surrogate"},
        {"\"ab\\udc00\"", 0, MB_EPROTO, "offset 3: lone low surrogate"},
        {"\"\\u0000\"", 0, MB_EPROTO, "\\u0000 is not allowed"},
        {"\"a\0b\"", 5, MB_EPROTO, "offset 2: control character"},
        {"\"\xff\"", 0, MB_EPROTO, "offset 1: invalid UTF-8"},
        {"\"\xc0\xaf\"", 0, MB_EPROTO, "invalid UTF-8"},
        {"\"\xed\xa0\x80\"", 0, MB_EPROTO, "invalid UTF-8"},
        {"\"\xf4\x90\x80\x80\"", 0, MB_EPROTO, "invalid UTF-8"},
        {"\"\xe2\x82\"", 0, MB_EPROTO, "invalid UTF-8"},
        {"\"\x80\"", 0, MB_EPROTO, "invalid UTF-8"},
        {"{\"a\":1,\"b\":2,\"a\":3}", 0, MB_EPROTO, "offset 13: duplicate key \"a\""},
        {"{\"a\":1,\"\\u0061\":2}", 0, MB_EPROTO, "offset 7: duplicate key \"a\""},
        {"{\"\\n\":1,\"\\n\":2}", 0, MB_EPROTO, "duplicate key"},
        {"[{\"x\":{\"k\":1,\"k\":1}}]", 0, MB_EPROTO, "offset 13: duplicate key"},
        {"1 2", 0, MB_EPROTO, "offset 2: unexpected data after the value"},
        {"{}x", 0, MB_EPROTO, "offset 2: unexpected data"},
        {"[]]", 0, MB_EPROTO, "offset 2"},
        {"\xef\xbb\xbf{}", 0, MB_EPROTO, "byte order mark"},
        {"tru", 0, MB_EPROTO, "invalid literal"},
        {"nul", 0, MB_EPROTO, "invalid literal"},
        {"True", 0, MB_EPROTO, "unexpected character"},
        {"truex", 0, MB_EPROTO, "offset 4: unexpected data"},
        {"[\f]", 0, MB_EPROTO, "offset 1"},
        {"\v1", 0, MB_EPROTO, "offset 0"},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        struct json_value *v = (struct json_value *)1;
        struct mb_err e;
        memset(&e, 0, sizeof(e));
        size_t len = bad[k].len ? bad[k].len : strlen(bad[k].doc);
        int rc = json_parse(bad[k].doc, len, NULL, &v, &e);
        if (rc != bad[k].code || !strstr(e.msg, bad[k].msg)) {
            fprintf(stderr, "  case %zu: rc %d, \"%s\" (wanted \"%s\")\n", k, rc, e.msg,
                    bad[k].msg);
            T_ASSERT(0);
        }
        T_ASSERT(v == NULL);
        json_free(&v);
    }
    T_END();
}

static void test_read_limits(void)
{
    T_BEGIN("reader: depth, members, string, values and size limits");
    char deep[200];
    struct json_value *v = NULL;
    struct mb_err e;
    for (int d = 31; d <= 33; d++) {
        memset(deep, '[', (size_t)d);
        memset(deep + d, ']', (size_t)d);
        int rc = json_parse(deep, (size_t)d * 2, NULL, &v, &e);
        T_ASSERT_INT(rc, d <= JSON_MAX_DEPTH ? 0 : MB_ETOOBIG);
        if (d > JSON_MAX_DEPTH)
            T_ASSERT(strstr(e.msg, "offset 32: nesting deeper than 32") != NULL);
        json_free(&v);
    }
    memset(deep, '[', 100); /* unbalanced and too deep: refused without recursion blowup */
    T_ASSERT_INT(json_parse(deep, 100, NULL, &v, &e), MB_ETOOBIG);

    struct json_limits lim;
    memset(&lim, 0, sizeof(lim));
    lim.max_depth = 2;
    T_ASSERT_INT(json_parse("[[1]]", 5, &lim, &v, &e), 0);
    json_free(&v);
    T_ASSERT_INT(json_parse("[[[1]]]", 7, &lim, &v, &e), MB_ETOOBIG);
    T_ASSERT_INT(json_parse("{\"a\":{\"b\":{}}}", 14, &lim, &v, &e), MB_ETOOBIG);

    memset(&lim, 0, sizeof(lim));
    lim.max_members = 3;
    T_ASSERT_INT(json_parse("[1,2,3]", 7, &lim, &v, &e), 0);
    json_free(&v);
    T_ASSERT_INT(json_parse("[1,2,3,4]", 9, &lim, &v, &e), MB_ETOOBIG);
    T_ASSERT(strstr(e.msg, "more than 3 items") != NULL);
    T_ASSERT_INT(json_parse("{\"a\":1,\"b\":2,\"c\":3,\"d\":4}", 25, &lim, &v, &e), MB_ETOOBIG);
    T_ASSERT(strstr(e.msg, "offset 19: more than 3 members") != NULL);

    memset(&lim, 0, sizeof(lim));
    lim.max_string = 4;
    T_ASSERT_INT(json_parse("\"abcd\"", 6, &lim, &v, &e), 0);
    json_free(&v);
    T_ASSERT_INT(json_parse("\"\\u00e9\\u00e9\"", 14, &lim, &v, &e), 0); /* 4 bytes */
    json_free(&v);
    T_ASSERT_INT(json_parse("\"abcde\"", 7, &lim, &v, &e), MB_ETOOBIG);
    T_ASSERT_INT(json_parse("{\"abcde\":1}", 11, &lim, &v, &e), MB_ETOOBIG);
    T_ASSERT_INT(json_parse("12345", 5, &lim, &v, &e), MB_ETOOBIG);

    memset(&lim, 0, sizeof(lim));
    lim.max_values = 3;
    T_ASSERT_INT(json_parse("[1,2]", 5, &lim, &v, &e), 0);
    json_free(&v);
    T_ASSERT_INT(json_parse("[1,[2]]", 7, &lim, &v, &e), MB_ETOOBIG);

    memset(&lim, 0, sizeof(lim));
    lim.max_bytes = 4;
    T_ASSERT_INT(json_parse("[1,2]", 5, &lim, &v, &e), MB_ETOOBIG);
    T_ASSERT(strstr(e.msg, "too large") != NULL);
    T_ASSERT_INT(json_parse(NULL, 0, NULL, &v, &e), MB_EPROTO);
    T_END();
}

static void test_read_no_secret_in_errors(void)
{
    T_BEGIN("reader: error messages never quote string values");
    static const char *const docs[] = {
        "{\"source_password\":\"hunter2-secret\" \"x\":1}",
        "{\"source_password\":\"hunter2-secret\\q\"}",
        "{\"source_password\":\"hunter2-secret",
        "{\"source_password\":\"hunter2-secret\xff\"}",
        "{\"hunter2-secret\":1,\"hunter2-secret\":2}", /* a key name may be quoted */
    };
    for (size_t k = 0; k < sizeof(docs) / sizeof(docs[0]); k++) {
        struct json_value *v = NULL;
        struct mb_err e;
        T_ASSERT(json_parse(docs[k], strlen(docs[k]), NULL, &v, &e) != 0);
        if (k < 4)
            T_ASSERT(strstr(e.msg, "hunter2") == NULL);
    }
    T_END();
}

static void test_getters(void)
{
    T_BEGIN("getters: found, missing, null and wrong types");
    const char *doc = "{\"s\":\"x\",\"b\":true,\"i\":-7,\"f\":1.5,\"e\":1e2,\"n\":null,"
                      "\"max\":9223372036854775807,\"min\":-9223372036854775808,"
                      "\"over\":9223372036854775808,\"under\":-9223372036854775809}";
    struct json_value *v = NULL;
    T_ASSERT_INT(json_parse(doc, strlen(doc), NULL, &v, NULL), 0);
    if (!v)
        return;
    const char *s = "untouched";
    int b = 5;
    int64_t i = 3;
    T_ASSERT_INT(json_get_str(v, "missing", &s), JSON_ENOTFOUND);
    T_ASSERT_INT(json_get_str(v, "n", &s), JSON_ENOTFOUND);
    T_ASSERT_STR(s, "untouched");
    T_ASSERT_INT(json_get_str(v, "b", &s), JSON_ETYPE);
    T_ASSERT_INT(json_get_bool(v, "s", &b), JSON_ETYPE);
    T_ASSERT_INT(json_get_bool(v, "i", &b), JSON_ETYPE);
    T_ASSERT_INT(b, 5);
    T_ASSERT_INT(json_get_int(v, "f", &i), JSON_ETYPE);
    T_ASSERT_INT(json_get_int(v, "e", &i), JSON_ETYPE);
    T_ASSERT_INT(json_get_int(v, "s", &i), JSON_ETYPE);
    T_ASSERT_INT(json_get_int(v, "over", &i), JSON_ETYPE);
    T_ASSERT_INT(json_get_int(v, "under", &i), JSON_ETYPE);
    T_ASSERT_INT(i, 3);
    T_ASSERT_INT(json_get_int(v, "max", &i), 0);
    T_ASSERT(i == INT64_MAX);
    T_ASSERT_INT(json_get_int(v, "min", &i), 0);
    T_ASSERT(i == INT64_MIN);
    T_ASSERT_INT(json_get_str(v, "s", &s), 0);
    T_ASSERT_STR(s, "x");
    T_ASSERT_INT(json_get_bool(v, "b", &b), 0);
    T_ASSERT_INT(b, 1);
    T_ASSERT(json_obj_get(v, "n") != NULL && json_obj_get(v, "n")->type == JSON_NULL);
    T_ASSERT(json_obj_get(json_obj_get(v, "s"), "x") == NULL); /* not an object */
    T_ASSERT(json_obj_get(NULL, "x") == NULL);
    T_ASSERT_INT(json_get_str(json_obj_get(v, "i"), "x", &s), JSON_ENOTFOUND);
    json_free(&v);
    T_END();
}

static void test_round_trip(void)
{
    T_BEGIN("round trip: writer → reader → writer gives the same bytes and data");
    struct buf b1, b2;
    struct json_w w;
    buf_init(&b1, 1 << 16);
    buf_init(&b2, 1 << 16);
    json_w_init(&w, &b1);
    json_w_obj_begin(&w);
    json_w_kv_str(&w, "ctl", "\x01\x02\b\f\n\r\t\x1f\x7f");
    json_w_kv_str(&w, "quotes", "\"'\\/</script>");
    json_w_kv_str(&w, "utf8",
                  "Fr\xc3\xa9\x64\xc3\xa9ric \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8");
    json_w_kv_str(&w, "bad", "\xff\xfe\xc3");
    json_w_kv_str(&w, "none", NULL);
    json_w_kv_int(&w, "min", INT64_MIN);
    json_w_kv_int(&w, "max", INT64_MAX);
    json_w_key(&w, "d");
    json_w_double(&w, -1234.5e-7);
    json_w_key(&w, "arr");
    json_w_arr_begin(&w);
    for (int i = 0; i < 5; i++) {
        json_w_obj_begin(&w);
        json_w_kv_int(&w, "i", i);
        json_w_kv_bool(&w, "odd", i % 2);
        json_w_obj_end(&w);
    }
    json_w_arr_end(&w);
    json_w_obj_end(&w);
    T_ASSERT_INT(json_w_finish(&w), 0);

    struct json_value *v1 = NULL, *v2 = NULL;
    struct mb_err e;
    T_ASSERT_INT(json_parse(b1.data, b1.len, NULL, &v1, &e), 0);
    if (v1) {
        const char *s;
        T_ASSERT_INT(json_get_str(v1, "ctl", &s), 0);
        T_ASSERT_STR(s, "\x01\x02\b\f\n\r\t\x1f\x7f");
        T_ASSERT_INT(json_get_str(v1, "quotes", &s), 0);
        T_ASSERT_STR(s, "\"'\\/</script>");
        T_ASSERT_INT(json_get_str(v1, "bad", &s), 0);
        T_ASSERT_STR(s, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
        json_w_init(&w, &b2);
        json_w_value(&w, v1);
        T_ASSERT_INT(json_w_finish(&w), 0);
        T_ASSERT_STR(buf_cstr(&b2), buf_cstr(&b1));
        T_ASSERT_INT(json_parse(b2.data, b2.len, NULL, &v2, &e), 0);
        T_ASSERT(v2 && json_equal(v1, v2));
        const struct json_value *arr = json_obj_get(v1, "arr");
        T_ASSERT(arr && arr->n == 5);
    }
    json_free(&v1);
    json_free(&v2);
    T_ASSERT_INT(json_parse("[1,{\"a\":2}]", 11, NULL, &v1, NULL), 0);
    T_ASSERT_INT(json_parse("[1,{\"a\":3}]", 11, NULL, &v2, NULL), 0);
    T_ASSERT(v1 && v2 && !json_equal(v1, v2));
    json_free(&v1);
    json_free(&v2);
    buf_fini(&b1);
    buf_fini(&b2);
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {
        test_write_structure,
        test_write_escapes,
        test_write_misuse,
        test_write_doubles,
        test_read_values,
        test_read_rejects,
        test_read_limits,
        test_read_no_secret_in_errors,
        test_getters,
        test_round_trip,
        NULL,
    };
    return t_run(fns);
}
