#define T_IMPLEMENTATION
#include "t.h"

#include <stdlib.h>

#include "base/buf.h"
#include "base/mb_err.h"
#include "base/xalloc.h"

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

int main(void)
{
    static void (*const fns[])(void) = { test_buf_limits, test_err, NULL };
    return t_run(fns);
}
