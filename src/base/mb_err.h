/* mb_err: error categories and caller-owned error detail.
 *
 * Functions return 0 on success or a negative enum mb_errc. Detail goes into an
 * optional caller-owned struct mb_err (never a secret in msg). */
#ifndef MB_MB_ERR_H
#define MB_MB_ERR_H

#include <stddef.h>

enum mb_errc {
    MB_OK = 0,
    MB_EMSG = -1,      /* skip and record this message */
    MB_EFOLDER = -2,   /* this folder cannot be processed */
    MB_ECONN = -3,     /* transient: back off, reconnect, resume */
    MB_EAUTH = -4,     /* permanent: authentication refused */
    MB_ENOTFOUND = -5, /* permanent: mailbox / host / file missing */
    MB_ECONFIG = -6,   /* permanent: bad configuration or input */
    MB_ECANCELED = -7,
    MB_ETOOBIG = -8,  /* over a limit */
    MB_EPROTO = -9,   /* peer violated the protocol */
    MB_EIO = -10,     /* local I/O or database failure */
    MB_ECRYPTO = -11, /* authentication tag mismatch, RNG failure */
};

#define MB_ERR_LEN 256

struct mb_err {
    int code;
    int sys; /* errno or library error code, 0 if none */
    char msg[MB_ERR_LEN];
};

/* Fill err (may be NULL) and return code. */
int mb_err_set(struct mb_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, recording a system/library error number. */
int mb_err_setsys(struct mb_err *err, int code, int sys, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void mb_err_clear(struct mb_err *err);
/* Short stable name of a category, e.g. "auth". */
const char *mb_errc_name(int code);

#endif
