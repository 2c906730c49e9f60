/* imap_resp: response codes and grading. See imap_resp.h. */
#include "imap/imap_resp.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/mb_err.h"

static const struct {
    const char *name;
    enum imap_code code;
} code_names[] = {
    {"ALERT", IMAP_CODE_ALERT},
    {"ALREADYEXISTS", IMAP_CODE_ALREADYEXISTS},
    {"APPENDUID", IMAP_CODE_APPENDUID},
    {"AUTHENTICATIONFAILED", IMAP_CODE_AUTHENTICATIONFAILED},
    {"AUTHORIZATIONFAILED", IMAP_CODE_AUTHORIZATIONFAILED},
    {"BADCHARSET", IMAP_CODE_BADCHARSET},
    {"CANNOT", IMAP_CODE_CANNOT},
    {"CAPABILITY", IMAP_CODE_CAPABILITY},
    {"CLIENTBUG", IMAP_CODE_CLIENTBUG},
    {"CONTACTADMIN", IMAP_CODE_CONTACTADMIN},
    {"COPYUID", IMAP_CODE_COPYUID},
    {"CORRUPTION", IMAP_CODE_CORRUPTION},
    {"EXPIRED", IMAP_CODE_EXPIRED},
    {"EXPUNGEISSUED", IMAP_CODE_EXPUNGEISSUED},
    {"HIGHESTMODSEQ", IMAP_CODE_HIGHESTMODSEQ},
    {"INUSE", IMAP_CODE_INUSE},
    {"LIMIT", IMAP_CODE_LIMIT},
    {"NONEXISTENT", IMAP_CODE_NONEXISTENT},
    {"NOPERM", IMAP_CODE_NOPERM},
    {"OVERQUOTA", IMAP_CODE_OVERQUOTA},
    {"PARSE", IMAP_CODE_PARSE},
    {"PERMANENTFLAGS", IMAP_CODE_PERMANENTFLAGS},
    {"PRIVACYREQUIRED", IMAP_CODE_PRIVACYREQUIRED},
    {"READ-ONLY", IMAP_CODE_READ_ONLY},
    {"READ-WRITE", IMAP_CODE_READ_WRITE},
    {"SERVERBUG", IMAP_CODE_SERVERBUG},
    {"THROTTLED", IMAP_CODE_THROTTLED},
    {"TOOBIG", IMAP_CODE_TOOBIG},
    {"TRYCREATE", IMAP_CODE_TRYCREATE},
    {"UIDNEXT", IMAP_CODE_UIDNEXT},
    {"UIDVALIDITY", IMAP_CODE_UIDVALIDITY},
    {"UNAVAILABLE", IMAP_CODE_UNAVAILABLE},
    {"UNSEEN", IMAP_CODE_UNSEEN},
};

enum imap_code imap_resp_code(const struct imap_response *r)
{
    if (!r || r->ncode == 0 || r->code[0].type != IMAP_ARG_ATOM)
        return r && r->ncode ? IMAP_CODE_OTHER : IMAP_CODE_NONE;
    for (size_t i = 0; i < sizeof(code_names) / sizeof(code_names[0]); i++) {
        if (strcasecmp(r->code[0].str, code_names[i].name) == 0)
            return code_names[i].code;
    }
    return IMAP_CODE_OTHER;
}

const char *imap_resp_code_name(enum imap_code code)
{
    for (size_t i = 0; i < sizeof(code_names) / sizeof(code_names[0]); i++) {
        if (code_names[i].code == code)
            return code_names[i].name;
    }
    return code == IMAP_CODE_OTHER ? "OTHER" : "";
}

int imap_resp_is_throttled(const struct imap_response *r, uint64_t *backoff_ms_r)
{
    if (backoff_ms_r)
        *backoff_ms_r = 0;
    if (!r)
        return 0;
    int yes = imap_resp_code(r) == IMAP_CODE_THROTTLED;
    /* Office 365: "Request is throttled. Suggested Backoff Time: 299609 milliseconds" */
    if (strcasestr(r->text, "is throttled") || strcasestr(r->text, "Suggested Backoff Time"))
        yes = 1;
    const char *p = strcasestr(r->text, "Backoff Time:");
    if (yes && p && backoff_ms_r) {
        unsigned long long v = 0;
        p += strlen("Backoff Time:");
        while (*p == ' ')
            p++;
        while (*p >= '0' && *p <= '9' && v < 100000000000ull)
            v = v * 10 + (unsigned long long)(*p++ - '0');
        *backoff_ms_r = v;
    }
    return yes;
}

int imap_resp_grade(enum imap_resp_ctx ctx, const struct imap_response *r)
{
    if (r->status == IMAP_STATUS_OK || r->status == IMAP_STATUS_PREAUTH)
        return 0;
    if (r->status == IMAP_STATUS_BYE)
        return MB_ECONN;
    enum imap_code code = imap_resp_code(r);
    switch (code) {
    case IMAP_CODE_UNAVAILABLE:
    case IMAP_CODE_THROTTLED:
    case IMAP_CODE_INUSE:
    case IMAP_CODE_SERVERBUG: return MB_ECONN;
    default: break;
    }
    if (imap_resp_is_throttled(r, NULL))
        return MB_ECONN;
    switch (code) {
    case IMAP_CODE_AUTHENTICATIONFAILED:
    case IMAP_CODE_EXPIRED:
    case IMAP_CODE_PRIVACYREQUIRED:
    case IMAP_CODE_CONTACTADMIN: return MB_EAUTH;
    case IMAP_CODE_AUTHORIZATIONFAILED: return ctx == IMAP_RESP_CTX_AUTH ? MB_ENOTFOUND : MB_EAUTH;
    default: break;
    }
    if (r->status == IMAP_STATUS_BAD)
        return MB_EPROTO;
    switch (ctx) {
    case IMAP_RESP_CTX_AUTH: return MB_EAUTH;
    case IMAP_RESP_CTX_FOLDER: return MB_EFOLDER;
    case IMAP_RESP_CTX_APPEND:
        switch (code) {
        case IMAP_CODE_TRYCREATE:
        case IMAP_CODE_NONEXISTENT:
        case IMAP_CODE_NOPERM:
        case IMAP_CODE_OVERQUOTA: return MB_EFOLDER;
        default: return MB_EMSG;
        }
    case IMAP_RESP_CTX_GENERIC: break;
    }
    return MB_EPROTO;
}

static size_t put(char *out, size_t n, size_t o, const char *s, size_t len)
{
    if (o >= n)
        return o;
    size_t room = n - 1 - o;
    if (len > room)
        len = room;
    memcpy(out + o, s, len);
    out[o + len] = '\0';
    return o + len;
}

static size_t put_arg(char *out, size_t n, size_t o, const struct imap_arg *a)
{
    switch (a->type) {
    case IMAP_ARG_NIL: return put(out, n, o, "NIL", 3);
    case IMAP_ARG_ATOM: return put(out, n, o, a->str, a->len);
    case IMAP_ARG_LITERAL: {
        char tmp[32];
        int k = snprintf(tmp, sizeof(tmp), "{%llu}", (unsigned long long)a->literal_size);
        return put(out, n, o, tmp, (size_t)k);
    }
    case IMAP_ARG_STRING:
        o = put(out, n, o, "\"", 1);
        for (size_t i = 0; i < a->len; i++) {
            char c = a->str[i];
            o = put(out, n, o, (c >= 0x20 && c < 0x7f) ? &c : "?", 1);
        }
        return put(out, n, o, "\"", 1);
    case IMAP_ARG_LITERAL_STREAMED: {
        char tmp[40];
        int k = snprintf(tmp, sizeof(tmp), "{%llu streamed}", (unsigned long long)a->literal_size);
        return put(out, n, o, tmp, (size_t)k);
    }
    case IMAP_ARG_LIST:
        o = put(out, n, o, "(", 1);
        for (size_t i = 0; i < a->count; i++) {
            if (i)
                o = put(out, n, o, " ", 1);
            o = put_arg(out, n, o, &a->list[i]);
        }
        return put(out, n, o, ")", 1);
    }
    return o;
}

void imap_resp_describe(const struct imap_response *r, char *out, size_t n)
{
    static const char *const st[] = {"", "OK", "NO", "BAD", "BYE", "PREAUTH"};
    size_t o = 0;
    if (n == 0)
        return;
    out[0] = '\0';
    o = put(out, n, o, st[r->status], strlen(st[r->status]));
    if (r->ncode) {
        o = put(out, n, o, " [", 2);
        for (size_t i = 0; i < r->ncode; i++) {
            if (i)
                o = put(out, n, o, " ", 1);
            o = put_arg(out, n, o, &r->code[i]);
        }
        o = put(out, n, o, "]", 1);
    }
    if (r->text_len) {
        o = put(out, n, o, " ", 1);
        /* keep the text printable (it goes to logs) */
        for (size_t i = 0; i < r->text_len; i++) {
            char c = r->text[i];
            o = put(out, n, o, ((unsigned char)c >= 0x20 && c != 0x7f) ? &c : "?", 1);
        }
    }
}

void imap_resp_format(const struct imap_response *r, char *out, size_t n)
{
    size_t o = 0;
    if (n == 0)
        return;
    out[0] = '\0';
    o = put(out, n, o, r->tag, strlen(r->tag));
    if (r->status != IMAP_STATUS_NONE) {
        o = put(out, n, o, " ", 1);
        imap_resp_describe(r, out + o, n - o);
        return;
    }
    for (size_t i = 0; i < r->nargs; i++) {
        o = put(out, n, o, " ", 1);
        o = put_arg(out, n, o, &r->args[i]);
    }
    if (r->type == IMAP_RESP_CONTINUATION && r->text_len) {
        o = put(out, n, o, " ", 1);
        put(out, n, o, r->text, r->text_len);
    }
}

int imap_resp_atom_is(const struct imap_arg *a, const char *word)
{
    return a && a->type == IMAP_ARG_ATOM && strcasecmp(a->str, word) == 0;
}

const char *imap_resp_astring(const struct imap_arg *a, size_t *len_r)
{
    if (!a
        || (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_STRING && a->type != IMAP_ARG_LITERAL))
        return NULL;
    if (len_r)
        *len_r = a->len;
    return a->str;
}

int imap_resp_number(const struct imap_arg *a, uint64_t max, uint64_t *v_r)
{
    if (!a || a->type != IMAP_ARG_ATOM || a->len == 0 || a->len > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < a->len; i++) {
        char c = a->str[i];
        if (c < '0' || c > '9')
            return -1;
        uint64_t d = (uint64_t)(c - '0');
        if (d > max || v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *v_r = v;
    return 0;
}

const struct imap_arg *imap_resp_pair(const struct imap_arg *list, size_t count, const char *name)
{
    for (size_t i = 0; i + 1 < count; i += 2) {
        if (imap_resp_atom_is(&list[i], name))
            return &list[i + 1];
    }
    return NULL;
}
