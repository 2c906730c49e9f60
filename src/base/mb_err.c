#include "mb_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void err_vset(struct mb_err *err, int code, int sys, const char *fmt, va_list ap)
{
    err->code = code;
    err->sys = sys;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int mb_err_set(struct mb_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err_vset(err, code, 0, fmt, ap);
        va_end(ap);
    }
    return code;
}

int mb_err_setsys(struct mb_err *err, int code, int sys, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err_vset(err, code, sys, fmt, ap);
        va_end(ap);
    }
    return code;
}

void mb_err_clear(struct mb_err *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}

const char *mb_errc_name(int code)
{
    switch (code) {
    case MB_OK: return "ok";
    case MB_EMSG: return "message";
    case MB_EFOLDER: return "folder";
    case MB_ECONN: return "connection";
    case MB_EAUTH: return "auth";
    case MB_ENOTFOUND: return "notfound";
    case MB_ECONFIG: return "config";
    case MB_ECANCELED: return "canceled";
    case MB_ETOOBIG: return "toobig";
    case MB_EPROTO: return "protocol";
    case MB_EIO: return "io";
    case MB_ECRYPTO: return "crypto";
    }
    return "unknown";
}
