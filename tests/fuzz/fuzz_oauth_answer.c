/* libFuzzer target for the token endpoint's answer parser (oauth_parse_answer).
 *
 * Byte 0: bit 0 picks the vendor (Microsoft 365 / Google), bits 1-3 the HTTP status among a
 * few, bit 4 the content type (JSON or text/html). The rest is the body. Properties checked
 * (abort otherwise), besides no crash / leak / UB:
 *  - success gives a non-empty Bearer token of printable ASCII without space and a positive
 *    lifetime, and only for HTTP 200 with JSON;
 *  - failure gives no token, a non-empty message of printable ASCII (no control character from
 *    the answer reaches a log line) and a known category;
 *  - the message never quotes the access_token of the answer (its first 16 characters). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/oauth.h"
#include "base/secret.h"

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_oauth_answer: property violated: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const int statuses[] = {200, 400, 401, 403, 404, 429, 500, 503};
    enum auth_kind kind = (data[0] & 1) ? AUTH_KIND_GOOGLE : AUTH_KIND_MICROSOFT365;
    int status = statuses[(data[0] >> 1) & 7];
    const char *ct = (data[0] & 16) ? "text/html" : "application/json; charset=utf-8";
    const char *body = (const char *)data + 1;
    size_t len = size - 1;

    struct secret tok = {0};
    int64_t exp = 0;
    struct mb_err err;
    memset(&err, 0, sizeof(err));
    int rc = oauth_parse_answer(kind, status, ct, body, len, "client-id", "user@example.com", &tok,
                                &exp, &err);
    if (rc == 0) {
        check(status == 200 && !(data[0] & 16), "success only for 200 JSON");
        check(tok.data && tok.len > 0 && tok.len == strlen(tok.data), "token present");
        for (size_t i = 0; i < tok.len; i++)
            check(tok.data[i] > 0x20 && tok.data[i] < 0x7f, "token printable");
        check(exp > 0, "positive lifetime");
    } else {
        check(tok.data == NULL, "no token on error");
        check(rc == MB_EAUTH || rc == MB_ECONN || rc == MB_EPROTO, "known category");
        check(err.msg[0] != '\0', "message present");
        for (const char *p = err.msg; *p; p++)
            check((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f, "message printable");
        const char *at = memmem(body, len, "\"access_token\":\"", 16);
        if (at && at + 16 + 16 <= body + len) {
            char tk[17];
            memcpy(tk, at + 16, 16);
            tk[16] = 0;
            int plain = 1;
            for (int i = 0; i < 16; i++)
                if (tk[i] <= 0x20 || tk[i] >= 0x7f || tk[i] == '"' || tk[i] == '\\')
                    plain = 0;
            if (plain)
                check(strstr(err.msg, tk) == NULL, "token not quoted in the message");
        }
    }
    secret_fini(&tok);
    return 0;
}
