#define T_IMPLEMENTATION
#include "t.h"

#include <stdlib.h>

#include "base/buf.h"
#include "base/mb_err.h"
#include "imap/imap_utf7.h"

/* UTF-8 / modified UTF-7 pairs. Expected encodings computed independently (UTF-16BE +
 * BASE64 with ',' for '/', as RFC 3501 §5.1.3 defines) and checked by hand. */
static const struct {
    const char *utf8, *mutf7;
} pairs[] = {
    {"INBOX", "INBOX"},
    {"", ""},
    {"\xc3\x89l\xc3\xa9ments envoy\xc3\xa9s", "&AMk-l&AOk-ments envoy&AOk-s"},
    {"Bo\xc3\xaete d'envoi", "Bo&AO4-te d'envoi"},
    {"\xc3\x89t\xc3\xa9 2018", "&AMk-t&AOk- 2018"},
    {"&", "&-"},
    {"R&D", "R&-D"},
    {"&&", "&-&-"},
    {"\xc3\xa9&", "&AOk-&-"},
    /* RFC 3501 §5.1.3 example */
    {"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
     "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
    /* U+1F600 needs a surrogate pair */
    {"\xf0\x9f\x98\x80", "&2D3eAA-"},
    {"\xe6\xbc\xa2\xe5\xad\x97\xf0\x9f\x98\x80x", "&byJbV9g93gA-x"},
    {"\xc3\x89l\xc3\xa9ments", "&AMk-l&AOk-ments"},
    {"\xc3\x89\xc3\xa9", "&AMkA6Q-"},
    {"a\tb", "a&AAk-b"},
    {"\x7f", "&AH8-"},
    {"~/.,-+", "~/.,-+"},
};

static void test_roundtrip(void)
{
    T_BEGIN("utf7 round trips (French, RFC example, CJK, emoji, ampersand)");
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        struct buf b;
        buf_init(&b, 1024);
        T_ASSERT_INT(imap_utf7_encode(pairs[i].utf8, strlen(pairs[i].utf8), &b), 0);
        T_ASSERT_STR(buf_cstr(&b), pairs[i].mutf7);
        buf_reset(&b);
        T_ASSERT_INT(imap_utf7_decode(pairs[i].mutf7, strlen(pairs[i].mutf7), &b), 0);
        T_ASSERT_STR(buf_cstr(&b), pairs[i].utf8);
        T_ASSERT(imap_utf7_is_valid(pairs[i].mutf7, strlen(pairs[i].mutf7)));
        buf_fini(&b);
    }
    T_END();
}

static void test_decode_invalid(void)
{
    static const char *const bad[] = {
        "&",                 /* unterminated */
        "&AMk",              /* unterminated run */
        "abc&AOk",           /* unterminated run at the end */
        "&Jjo!-",            /* '!' is not modified BASE64 */
        "&AMk/-",            /* '/' is standard BASE64, not modified */
        "&AMk=-",            /* padding is not allowed */
        "&AGE-",             /* encodes 'a', which must stand for itself */
        "&ACY-",             /* encodes '&' itself */
        "&AMk-&AOk-",        /* two adjacent runs instead of one */
        "&2D0-",             /* lone high surrogate */
        "&2D3YPQ-",          /* high surrogate followed by a high surrogate */
        "&3gA-",             /* lone low surrogate */
        "&AMl-",             /* non-zero leftover bits */
        "&AMkA-",            /* too many leftover bits */
        "&A-",               /* not even one UTF-16 unit */
        "&AAA-",             /* encodes NUL */
        "\xc3\xa9t\xc3\xa9", /* raw 8-bit */
        "a\tb",              /* raw control */
        "a\x7f",
        "-&",
    };
    T_BEGIN("utf7 decode refuses invalid encodings and leaves the output unchanged");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf b;
        buf_init(&b, 1024);
        buf_puts(&b, "keep");
        int rc = imap_utf7_decode(bad[i], strlen(bad[i]), &b);
        if (rc != MB_EPROTO)
            fprintf(stderr, "  accepted: %s\n", bad[i]);
        T_ASSERT_INT(rc, MB_EPROTO);
        T_ASSERT_STR(buf_cstr(&b), "keep");
        T_ASSERT(!imap_utf7_is_valid(bad[i], strlen(bad[i])));
        buf_fini(&b);
    }
    T_END();
}

static void test_encode_invalid(void)
{
    static const char *const bad[] = {
        "\xc3",             /* truncated */
        "a\xc3(",           /* bad continuation */
        "\xc0\x80",         /* overlong NUL */
        "\xe0\x80\xaf",     /* overlong '/' */
        "\xed\xa0\x80",     /* UTF-16 surrogate encoded in UTF-8 */
        "\xf4\x90\x80\x80", /* > U+10FFFF */
        "\xff",
        "\x80",
    };
    T_BEGIN("utf7 encode refuses invalid UTF-8 and NUL");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf b;
        buf_init(&b, 1024);
        T_ASSERT_INT(imap_utf7_encode(bad[i], strlen(bad[i]), &b), MB_ECONFIG);
        T_ASSERT_INT(b.len, 0);
        buf_fini(&b);
    }
    struct buf b;
    buf_init(&b, 1024);
    T_ASSERT_INT(imap_utf7_encode("a\0b", 3, &b), MB_ECONFIG);
    buf_fini(&b);
    T_END();
}

static void test_limits(void)
{
    T_BEGIN("utf7 respects the output buffer maximum");
    struct buf b;
    buf_init(&b, 8);
    const char *s = "\xc3\x89l\xc3\xa9ments";
    T_ASSERT_INT(imap_utf7_encode(s, strlen(s), &b), MB_ETOOBIG);
    T_ASSERT_INT(b.len, 0);
    T_ASSERT_INT(imap_utf7_decode("&AMk-l&AOk-ments", 16, &b), MB_ETOOBIG);
    T_ASSERT_INT(b.len, 0);
    buf_fini(&b);
    T_END();
}

/* Every BMP code point except printable ASCII and surrogates, and a sample above it,
 * survives encode → decode. */
static void test_all_codepoints(void)
{
    T_BEGIN("utf7 round trips every BMP code point and supplementary samples");
    int failures = 0;
    struct buf u, m, d;
    buf_init(&u, 64);
    buf_init(&m, 64);
    buf_init(&d, 64);
    for (unsigned cp = 1; cp <= 0x10ffff; cp += (cp < 0x10000 ? 1 : 97)) {
        if (cp >= 0xd800 && cp <= 0xdfff)
            continue;
        char s[5];
        size_t n = 0;
        if (cp < 0x80) {
            s[n++] = (char)cp;
        } else if (cp < 0x800) {
            s[n++] = (char)(0xc0 | (cp >> 6));
            s[n++] = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            s[n++] = (char)(0xe0 | (cp >> 12));
            s[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            s[n++] = (char)(0x80 | (cp & 0x3f));
        } else {
            s[n++] = (char)(0xf0 | (cp >> 18));
            s[n++] = (char)(0x80 | ((cp >> 12) & 0x3f));
            s[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            s[n++] = (char)(0x80 | (cp & 0x3f));
        }
        s[n++] = 'x';
        buf_reset(&u);
        buf_reset(&m);
        buf_reset(&d);
        if (imap_utf7_encode(s, n, &m) != 0 || imap_utf7_decode(m.data, m.len, &d) != 0
            || d.len != n || memcmp(d.data, s, n) != 0)
            failures++;
    }
    T_ASSERT_INT(failures, 0);
    buf_fini(&u);
    buf_fini(&m);
    buf_fini(&d);
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {test_roundtrip, test_decode_invalid, test_encode_invalid,
                                        test_limits,    test_all_codepoints, NULL};
    return t_run(fns);
}
