/* t.h: the in-tree unit test harness (Dovecot lib-test / redis testhelp.h model).
 *
 *   static void test_x(void) { T_BEGIN("x does y"); T_ASSERT(1 + 1 == 2); T_END(); }
 *   int main(void) { static void (*const fns[])(void) = { test_x, NULL }; return t_run(fns); }
 *
 * Each test prints one line ("ok - name" or "FAIL - name" with the failed assertions),
 * and t_run() ends with "N passed, N failed" and returns non-zero on any failure. */
#ifndef MB_T_H
#define MB_T_H

#include <stdio.h>
#include <string.h>

extern const char *t_name_;
extern int t_failed_now_, t_passed_, t_failed_;

#define T_BEGIN(name)                                                                              \
    do {                                                                                           \
        t_name_ = (name);                                                                          \
        t_failed_now_ = 0;                                                                         \
    } while (0)

#define T_ASSERT(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond);         \
            t_failed_now_++;                                                                       \
        }                                                                                          \
    } while (0)

#define T_ASSERT_INT(a, b)                                                                         \
    do {                                                                                           \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                                    \
        if (t_a_ != t_b_) {                                                                        \
            fprintf(stderr, "  %s:%d: %s == %s: %lld != %lld\n", __FILE__, __LINE__, #a, #b, t_a_, \
                    t_b_);                                                                         \
            t_failed_now_++;                                                                       \
        }                                                                                          \
    } while (0)

#define T_ASSERT_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *t_a_ = (a), *t_b_ = (b);                                                       \
        if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0) {                                           \
            fprintf(stderr, "  %s:%d: %s == %s: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a, #b,   \
                    t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");                               \
            t_failed_now_++;                                                                       \
        }                                                                                          \
    } while (0)

#define T_ASSERT_MEM(a, b, n)                                                                      \
    do {                                                                                           \
        if (memcmp((a), (b), (n)) != 0) {                                                          \
            fprintf(stderr, "  %s:%d: memory differs: %s vs %s\n", __FILE__, __LINE__, #a, #b);    \
            t_failed_now_++;                                                                       \
        }                                                                                          \
    } while (0)

#define T_END() t_end_()

void t_end_(void);
int t_run(void (*const fns[])(void));
/* A fresh empty directory for this test binary (removed at exit unless T_KEEP is set). */
const char *t_tmpdir(void);

#ifdef T_IMPLEMENTATION
#include <stdlib.h>
#include <unistd.h>

const char *t_name_ = "?";
int t_failed_now_, t_passed_, t_failed_;
static char t_dir_[256];

static void t_cleanup_(void)
{
    if (t_dir_[0] && !getenv("T_KEEP")) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t_dir_);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", t_dir_);
    }
}

const char *t_tmpdir(void)
{
    if (!t_dir_[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(t_dir_, sizeof(t_dir_), "%s/mbtest.XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(t_dir_)) {
            perror("mkdtemp");
            exit(2);
        }
        atexit(t_cleanup_);
    }
    return t_dir_;
}

void t_end_(void)
{
    if (t_failed_now_) {
        t_failed_++;
        printf("FAIL - %s\n", t_name_);
    } else {
        t_passed_++;
        printf("ok - %s\n", t_name_);
    }
    fflush(stdout);
}

int t_run(void (*const fns[])(void))
{
    for (size_t i = 0; fns[i]; i++)
        fns[i]();
    printf("%d passed, %d failed\n", t_passed_, t_failed_);
    return t_failed_ ? 1 : 0;
}
#endif

#endif
