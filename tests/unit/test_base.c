#define T_IMPLEMENTATION
#include "t.h"

#include <stdlib.h>

#include "base/buf.h"
#include "base/mb_err.h"
#include "base/sha256.h"
#include "base/xalloc.h"

#include <stdio.h>
#include <string.h>

static void test_buf_limits(void)
{
    T_BEGIN("buf grows up to its maximum and refuses beyond");
    struct buf b;
    buf_init(&b, 10);
    T_ASSERT_STR(buf_cstr(&b), "");
    T_ASSERT_INT(buf_puts(&b, "hello"), 0);
    T_ASSERT_INT(buf_printf(&b, "%d", 1234), 0);
    T_ASSERT_STR(buf_cstr(&b), "hello1234");
    T_ASSERT_INT(buf_puts(&b, "xy"), MB_ETOOBIG);
    T_ASSERT_STR(buf_cstr(&b), "hello1234");
    T_ASSERT_INT(buf_putc(&b, '!'), 0);
    T_ASSERT_INT(b.len, 10);
    T_ASSERT_INT(buf_putc(&b, '!'), MB_ETOOBIG);
    T_ASSERT_INT(buf_append(&b, "x", (size_t)-1), MB_ETOOBIG);
    size_t n;
    char *p = buf_take(&b, &n);
    T_ASSERT_INT(n, 10);
    T_ASSERT_STR(p, "hello1234!");
    T_ASSERT(b.data == NULL);
    free(p);
    buf_fini(&b);
    T_END();
}

static void test_err(void)
{
    T_BEGIN("mb_err_set formats and returns the code");
    struct mb_err e;
    T_ASSERT_INT(mb_err_set(&e, MB_EAUTH, "login %s refused", "bob"), MB_EAUTH);
    T_ASSERT_STR(e.msg, "login bob refused");
    T_ASSERT_INT(e.code, MB_EAUTH);
    T_ASSERT_INT(mb_err_set(NULL, MB_ECONN, "x"), MB_ECONN);
    T_ASSERT_STR(mb_errc_name(MB_EAUTH), "auth");
    char *s = xasprintf("%s-%d", "a", 7);
    T_ASSERT_STR(s, "a-7");
    XFREE(s);
    T_ASSERT(s == NULL);
    T_END();
}

static void hex32(const unsigned char h[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* Hash buf in chunks of the given sizes (cycled), through struct sha256. */
static void sha_chunked(const unsigned char *buf, size_t n, const size_t *chunks, size_t nchunks,
                        unsigned char out[32])
{
    struct sha256 s;
    sha256_init(&s);
    size_t off = 0;
    for (size_t i = 0; off < n; i++) {
        size_t c = chunks[i % nchunks];
        if (c > n - off)
            c = n - off;
        sha256_update(&s, buf + off, c);
        off += c;
    }
    sha256_final(&s, out);
}

static void test_sha256(void)
{
    static char name[120];
    snprintf(name, sizeof(name),
             "sha256 (%s on this CPU): FIPS 180-2 vectors, and the same digests as mbedTLS for "
             "every length and chunking",
             sha256_impl());
    T_BEGIN(name);
    static const char *const vec[][2] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    unsigned char h[32], want[32];
    char hx[65];
    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        sha256(vec[i][0], strlen(vec[i][0]), h);
        hex32(h, hx);
        T_ASSERT_STR(hx, vec[i][1]);
    }
    size_t big = 1000000;
    unsigned char *buf = xmalloc(big);
    memset(buf, 'a', big);
    static const size_t odd[] = {1, 63, 64, 65, 7, 4096, 129};
    sha_chunked(buf, big, odd, sizeof(odd) / sizeof(odd[0]), h);
    hex32(h, hx);
    T_ASSERT_STR(hx, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    uint32_t x = 2463534242u; /* xorshift: reproducible bytes */
    for (size_t i = 0; i < big; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)x;
    }
    for (int forced = 0; forced < 2; forced++) {
        sha256_force_portable(forced);
        for (size_t n = 0; n <= 300; n++) {
            mbedtls_sha256(buf, n, want, 0);
            static const size_t one[] = {1}, mix[] = {3, 61, 64, 1};
            sha_chunked(buf, n, one, 1, h);
            T_ASSERT_MEM(h, want, 32);
            sha_chunked(buf, n, mix, 4, h);
            T_ASSERT_MEM(h, want, 32);
            sha256(buf, n, h);
            T_ASSERT_MEM(h, want, 32);
        }
        mbedtls_sha256(buf, big, want, 0);
        static const size_t io[] = {65536, 16384, 33, 8192};
        sha_chunked(buf, big, io, 4, h);
        T_ASSERT_MEM(h, want, 32);
    }
    sha256_force_portable(0);
    free(buf);
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {test_buf_limits, test_err, test_sha256, NULL};
    return t_run(fns);
}
