/* libFuzzer target for the IMAP response parser.
 *
 * Byte 0 picks the streaming threshold, byte 1 the split seed; the rest is server output.
 * Properties checked: no crash / leak / UB (ASan+UBSan), bounded memory (limits), and the
 * same result whether the input is fed whole or in pieces (abort otherwise). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_parser.h"
#include "imap/imap_resp.h"

struct fz {
    uint64_t stream_over;
    uint64_t hash;
    uint64_t streamed;
};

static void mix(struct fz *f, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        f->hash = (f->hash ^ s[i]) * 1099511628211ull;
}

static void walk(struct fz *f, const struct imap_arg *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned t = a[i].type;
        mix(f, &t, sizeof(t));
        if (a[i].str)
            mix(f, a[i].str, a[i].len + 1);
        mix(f, &a[i].literal_size, sizeof(a[i].literal_size));
        if (a[i].type == IMAP_ARG_LIST)
            walk(f, a[i].list, a[i].count);
    }
}

static void walk_resp(struct fz *f, const struct imap_response *r)
{
    /* the response helpers the client uses on every answer */
    char d[256];
    imap_resp_describe(r, d, sizeof(d));
    mix(f, d, strlen(d));
    imap_resp_format(r, d, sizeof(d));
    mix(f, d, strlen(d));
    int g = imap_resp_grade(IMAP_RESP_CTX_APPEND, r) + (int)imap_resp_code(r);
    uint64_t ms;
    g += imap_resp_is_throttled(r, &ms);
    mix(f, &g, sizeof(g));
    if (r->nargs >= 3 && r->args[2].type == IMAP_ARG_LIST) {
        uint64_t v = 0;
        imap_resp_number(imap_resp_pair(r->args[2].list, r->args[2].count, "UID"), UINT32_MAX, &v);
        mix(f, &v, sizeof(v));
    }
    unsigned v[2] = {r->type, r->status};
    mix(f, v, sizeof(v));
    mix(f, r->tag, strlen(r->tag));
    walk(f, r->args, r->nargs);
    walk(f, r->code, r->ncode);
    mix(f, r->text, r->text_len + 1);
}

static int lbegin(void *ctx, struct imap_parser *p, uint64_t size)
{
    struct fz *f = ctx;
    walk_resp(f, imap_parser_partial(p));
    mix(f, &size, sizeof(size));
    return size > f->stream_over ? IMAP_LITERAL_STREAM : IMAP_LITERAL_INLINE;
}

static int lchunk(void *ctx, const char *d, size_t n)
{
    struct fz *f = ctx;
    mix(f, d, n);
    f->streamed += n;
    return 0;
}

static int lend(void *ctx)
{
    struct fz *f = ctx;
    mix(f, "E", 1);
    return 0;
}

static const struct imap_parser_literal_cbs cbs = {lbegin, lchunk, lend};

static uint64_t run(const uint8_t *data, size_t len, uint64_t stream_over, unsigned seed, int split)
{
    struct imap_parser_limits lim;
    imap_parser_limits_default(&lim);
    lim.max_line = 4096;
    lim.max_items = 500;
    lim.max_depth = 8;
    lim.max_inline_literal = 1024;
    lim.max_inline_total = 2048;
    struct imap_parser *p = imap_parser_new(&lim);
    struct fz f = {stream_over, 14695981039346656037ull, 0};
    imap_parser_set_literal_cbs(p, &cbs, &f);
    size_t off = 0;
    int rc = IMAP_PARSE_MORE;
    while (off < len && rc != IMAP_PARSE_ERROR) {
        size_t n = len - off;
        if (split) {
            seed = seed * 1103515245u + 12345u;
            size_t k = 1 + (seed >> 16) % 17;
            if (k < n)
                n = k;
        }
        size_t pos = 0;
        while (pos < n) {
            size_t used;
            rc = imap_parser_feed(p, (const char *)data + off + pos, n - pos, &used);
            pos += used;
            if (rc == IMAP_PARSE_COMPLETE) {
                walk_resp(&f, imap_parser_response(p));
            } else if (rc == IMAP_PARSE_ERROR) {
                mix(&f, "X", 1);
                if (strlen(imap_parser_error(p)) == 0)
                    abort();
                break;
            } else {
                if (pos != n)
                    abort(); /* MORE must consume everything */
                break;
            }
        }
        off += n;
    }
    unsigned st = imap_parser_in_progress(p);
    mix(&f, &st, sizeof(st));
    imap_parser_free(&p);
    return f.hash;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const uint64_t thresholds[] = {0, 1, 16, 100, UINT64_MAX};
    uint64_t so = thresholds[data[0] % 5];
    unsigned seed = data[1];
    uint64_t a = run(data + 2, size - 2, so, seed, 0);
    uint64_t b = run(data + 2, size - 2, so, seed, 1);
    if (a != b)
        abort(); /* results depend on how the input was split */
    return 0;
}
