#define T_IMPLEMENTATION
#include "t.h"

#include <stdint.h>

#include "base/mb_err.h"
#include "imap/imap_parser.h"
#include "imap/imap_resp.h"

/* Parse one response line and grade it in ctx. */
static int grade(enum imap_resp_ctx ctx, const char *line, enum imap_code *code_r, char *desc,
                 size_t n)
{
    struct imap_parser *p = imap_parser_new(NULL);
    size_t used;
    int rc = -100;
    if (imap_parser_feed(p, line, strlen(line), &used) == IMAP_PARSE_COMPLETE) {
        const struct imap_response *r = imap_parser_response(p);
        rc = imap_resp_grade(ctx, r);
        if (code_r)
            *code_r = imap_resp_code(r);
        if (desc)
            imap_resp_describe(r, desc, n);
    }
    imap_parser_free(&p);
    return rc;
}

static void test_grading(void)
{
    static const struct {
        enum imap_resp_ctx ctx;
        const char *line;
        int want;
    } cases[] = {
        {IMAP_RESP_CTX_APPEND, "A1 OK [APPENDUID 1 2] done\r\n", 0},
        {IMAP_RESP_CTX_APPEND, "A1 NO [TOOBIG] too large\r\n", MB_EMSG},
        {IMAP_RESP_CTX_APPEND, "A1 NO [LIMIT] too many\r\n", MB_EMSG},
        {IMAP_RESP_CTX_APPEND, "A1 NO Message contains invalid header\r\n", MB_EMSG},
        {IMAP_RESP_CTX_APPEND, "A1 NO [TRYCREATE] no such mailbox\r\n", MB_EFOLDER},
        {IMAP_RESP_CTX_APPEND, "A1 NO [OVERQUOTA] quota exceeded\r\n", MB_EFOLDER},
        {IMAP_RESP_CTX_APPEND, "A1 NO [THROTTLED] slow down\r\n", MB_ECONN},
        {IMAP_RESP_CTX_APPEND, "A1 NO [UNAVAILABLE] backend down\r\n", MB_ECONN},
        {IMAP_RESP_CTX_APPEND, "A1 BAD Invalid arguments\r\n", MB_EPROTO},
        /* Office 365, quoted in imapsync's FAQ (no code, NO or BAD) */
        {IMAP_RESP_CTX_APPEND,
         "1069 NO Request is throttled. Suggested Backoff Time: 299609 milliseconds\r\n", MB_ECONN},
        {IMAP_RESP_CTX_FOLDER,
         "A3 BAD Request is throttled. Suggested Backoff Time: 178755 milliseconds\r\n", MB_ECONN},
        {IMAP_RESP_CTX_FOLDER, "A1 NO Mailbox doesn't exist: X\r\n", MB_EFOLDER},
        {IMAP_RESP_CTX_AUTH, "A1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n", MB_EAUTH},
        {IMAP_RESP_CTX_AUTH, "A1 NO LOGIN failed.\r\n", MB_EAUTH},
        {IMAP_RESP_CTX_AUTH, "A1 NO [AUTHORIZATIONFAILED] Authorization failed\r\n", MB_ENOTFOUND},
        {IMAP_RESP_CTX_AUTH, "A1 NO [UNAVAILABLE] Temporary authentication failure.\r\n", MB_ECONN},
        {IMAP_RESP_CTX_AUTH, "A1 NO [EXPIRED] Password expired\r\n", MB_EAUTH},
        {IMAP_RESP_CTX_GENERIC, "* BYE [UNAVAILABLE] Temporary System Error\r\n", MB_ECONN},
        {IMAP_RESP_CTX_GENERIC, "A1 NO what\r\n", MB_EPROTO},
        {IMAP_RESP_CTX_GENERIC, "* PREAUTH hello\r\n", 0},
    };
    T_BEGIN("resp: NO/BAD/BYE graded into mb_errc by context and code");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = grade(cases[i].ctx, cases[i].line, NULL, NULL, 0);
        if (rc != cases[i].want)
            fprintf(stderr, "  case %zu: %s", i, cases[i].line);
        T_ASSERT_INT(rc, cases[i].want);
    }
    T_END();
}

static void test_codes_and_text(void)
{
    T_BEGIN("resp: codes, description for the job log, throttle back-off");
    enum imap_code code;
    char d[256];
    T_ASSERT_INT(grade(IMAP_RESP_CTX_APPEND, "A1 NO [TOOBIG] Message \x01too large\r\n", &code, d,
                       sizeof(d)),
                 MB_EMSG);
    T_ASSERT_INT(code, IMAP_CODE_TOOBIG);
    T_ASSERT_STR(d, "NO [TOOBIG] Message ?too large");
    grade(IMAP_RESP_CTX_APPEND, "A1 OK [APPENDUID 38505 3955:3957] APPEND completed\r\n", &code, d,
          sizeof(d));
    T_ASSERT_INT(code, IMAP_CODE_APPENDUID);
    T_ASSERT_STR(d, "OK [APPENDUID 38505 3955:3957] APPEND completed");
    grade(IMAP_RESP_CTX_GENERIC, "* OK [X-WHATEVER 1] hi\r\n", &code, d, sizeof(d));
    T_ASSERT_INT(code, IMAP_CODE_OTHER);
    grade(IMAP_RESP_CTX_GENERIC, "* OK [READ-ONLY] hi\r\n", &code, NULL, 0);
    T_ASSERT_INT(code, IMAP_CODE_READ_ONLY);
    T_ASSERT_STR(imap_resp_code_name(IMAP_CODE_AUTHORIZATIONFAILED), "AUTHORIZATIONFAILED");
    /* description is cut to fit */
    grade(IMAP_RESP_CTX_GENERIC, "A1 NO a long text indeed\r\n", NULL, d, 8);
    T_ASSERT_STR(d, "NO a lo");

    struct imap_parser *p = imap_parser_new(NULL);
    size_t used;
    const char *l = "1 NO Request is throttled. Suggested Backoff Time: 299609 milliseconds\r\n";
    T_ASSERT_INT(imap_parser_feed(p, l, strlen(l), &used), IMAP_PARSE_COMPLETE);
    uint64_t ms;
    T_ASSERT(imap_resp_is_throttled(imap_parser_response(p), &ms));
    T_ASSERT_INT(ms, 299609);
    imap_parser_free(&p);
    T_END();
}

static void test_args(void)
{
    T_BEGIN("resp: argument helpers (numbers, pairs, astrings)");
    struct imap_parser *p = imap_parser_new(NULL);
    size_t used;
    const char *l = "* 12 FETCH (UID 4294967295 RFC822.SIZE 18446744073709551615 X 4294967296 "
                    "FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" B NIL)\r\n";
    T_ASSERT_INT(imap_parser_feed(p, l, strlen(l), &used), IMAP_PARSE_COMPLETE);
    const struct imap_response *r = imap_parser_response(p);
    const struct imap_arg *list = r->args[2].list;
    size_t n = r->args[2].count;
    uint64_t v;
    T_ASSERT_INT(imap_resp_number(imap_resp_pair(list, n, "uid"), UINT32_MAX, &v), 0);
    T_ASSERT(v == 4294967295u);
    T_ASSERT_INT(imap_resp_number(imap_resp_pair(list, n, "X"), UINT32_MAX, &v), -1);
    T_ASSERT_INT(imap_resp_number(imap_resp_pair(list, n, "RFC822.SIZE"), UINT64_MAX, &v), 0);
    T_ASSERT(v == UINT64_MAX);
    T_ASSERT_INT(imap_resp_number(imap_resp_pair(list, n, "FLAGS"), UINT64_MAX, &v), -1);
    T_ASSERT(imap_resp_pair(list, n, "MISSING") == NULL);
    T_ASSERT_STR(imap_resp_astring(imap_resp_pair(list, n, "INTERNALDATE"), NULL),
                 "17-Jul-1996 02:44:25 -0700");
    T_ASSERT(imap_resp_astring(imap_resp_pair(list, n, "B"), NULL) == NULL);
    T_ASSERT(imap_resp_atom_is(&r->args[1], "fetch"));
    imap_parser_free(&p);
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {test_grading, test_codes_and_text, test_args, NULL};
    return t_run(fns);
}
