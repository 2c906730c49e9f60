/* libFuzzer target for the JSON reader and writer.
 *
 * Byte 0 picks small limits or the defaults; the rest is a request body. Properties checked
 * (abort otherwise), besides no crash / leak / UB:
 *  - a parsed tree holds only NUL-free, well-formed UTF-8 strings;
 *  - parse → write (json_w_value) → parse gives equal data, and writing again gives the
 *    same bytes;
 *  - the writer's string escaping: any bytes without NUL, written with json_w_strn, read
 *    back as the same bytes when they were UTF-8 (U+FFFD per bad byte otherwise). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "json/json_read.h"
#include "json/json_write.h"

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_json: property violated: %s\n", what);
        abort();
    }
}

static int utf8_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = json_utf8_len((const unsigned char *)s + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

static void walk(const struct json_value *v, unsigned depth)
{
    check(depth <= JSON_MAX_DEPTH, "depth");
    switch (v->type) {
    case JSON_STRING:
        check(strlen(v->str) == v->len && utf8_ok(v->str, v->len), "clean string");
        break;
    case JSON_NUMBER: check(json_number_valid(v->str, v->len), "number text"); break;
    case JSON_ARRAY:
        for (size_t i = 0; i < v->n; i++)
            walk(&v->items[i], depth + 1);
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < v->n; i++) {
            const struct json_member *m = &v->members[i];
            check(strlen(m->key) == m->key_len && utf8_ok(m->key, m->key_len), "clean key");
            for (size_t j = 0; j < i; j++)
                check(m->key_len != v->members[j].key_len
                          || memcmp(m->key, v->members[j].key, m->key_len) != 0,
                      "no duplicate key");
            walk(&m->value, depth + 1);
        }
        break;
    case JSON_NULL:
    case JSON_BOOL: break;
    }
}

static void write_value(const struct json_value *v, struct buf *out)
{
    struct json_w w;
    json_w_init(&w, out);
    json_w_value(&w, v);
    check(json_w_finish(&w) == 0, "writer accepts a parsed tree");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct json_limits lim;
    memset(&lim, 0, sizeof(lim));
    if (data[0] & 1) {
        lim.max_depth = 4;
        lim.max_members = 4;
        lim.max_string = 16;
        lim.max_values = 32;
    }
    const char *doc = (const char *)data + 1;
    size_t len = size - 1;

    struct json_value *v1 = NULL, *v2 = NULL;
    struct mb_err err;
    if (json_parse(doc, len, &lim, &v1, &err) == 0) {
        walk(v1, 1);
        struct buf b1, b2;
        buf_init(&b1, (size_t)16 << 20);
        buf_init(&b2, (size_t)16 << 20);
        write_value(v1, &b1);
        /* strings never grow on re-escaping beyond 6x; limits: defaults for the re-read */
        int rc = json_parse(b1.data, b1.len, NULL, &v2, &err);
        if (rc)
            fprintf(stderr, "re-parse: %s\n", err.msg);
        check(rc == 0, "writer output parses");
        check(json_equal(v1, v2), "round trip keeps the data");
        write_value(v2, &b2);
        check(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0, "stable output");
        json_free(&v1);
        json_free(&v2);
        buf_fini(&b1);
        buf_fini(&b2);
    } else {
        check(v1 == NULL, "no tree on error");
        check(strstr(err.msg, "offset") != NULL || strstr(err.msg, "too large") != NULL,
              "error names the offset");
    }

    /* Writer escaping of arbitrary bytes. */
    if (!memchr(doc, '\0', len)) {
        struct buf b;
        struct json_w w;
        buf_init(&b, (size_t)16 << 20);
        json_w_init(&w, &b);
        json_w_strn(&w, doc, len);
        check(json_w_finish(&w) == 0, "writer takes any bytes");
        check(strstr(b.data, "</") == NULL, "no </ in output");
        struct json_value *s = NULL;
        struct json_limits big;
        memset(&big, 0, sizeof(big));
        big.max_string = (size_t)16 << 20;
        big.max_bytes = (size_t)16 << 20;
        int rc = json_parse(b.data, b.len, &big, &s, &err);
        check(rc == 0 && s->type == JSON_STRING, "escaped string parses");
        if (utf8_ok(doc, len))
            check(s->len == len && memcmp(s->str, doc, len) == 0, "UTF-8 kept byte for byte");
        else
            check(utf8_ok(s->str, s->len), "bad bytes replaced");
        json_free(&s);
        buf_fini(&b);
    }
    return 0;
}
