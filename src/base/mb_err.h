/* mb_err: error categories and caller-owned error detail.
 *
 * Functions return 0 on success or a negative enum mb_errc. Detail goes into an
 * optional caller-owned struct mb_err (never a secret in msg).
 *
 * Coded messages. An error (or a log line) that a user reads is set with MB_MSG: a code of the
 * catalogue (msg/msgcat.def) and its parameters, e.g.
 *
 *     return MB_MSG(err, MB_ECONN, NET_REFUSED, hostport);
 *     MB_MSG(&line, 0, LOG_FOLDER_DONE, name, copied, already, refused);
 *
 * The compiler checks the number of arguments against the catalogue and their types (strings,
 * integers, or a struct mb_err * whose own coded message becomes a nested parameter).
 * err->msg gets the English text (so every reader of msg keeps working), err->msg_id the code
 * and err->params the parameters as a JSON object, rendered in French or English later
 * (msg_render_err, msg/msgcat.h). mb_err_set gives a text without a code (msg_id MSG_TEXT). */
#ifndef MB_MB_ERR_H
#define MB_MB_ERR_H

#include <stddef.h>

#include "msg/msgcat.h"

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
#define MB_ERR_PARAMS_LEN 1024

struct mb_err {
    int code;
    int sys; /* errno or library error code, 0 if none */
    char msg[MB_ERR_LEN];
    int msg_id;                     /* enum msg_id; MSG_TEXT (0): msg has no code */
    char params[MB_ERR_PARAMS_LEN]; /* JSON object; "" when msg_id is MSG_TEXT */
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
/* The code of err's message ("text" when it has none). */
const char *mb_err_code(const struct mb_err *err);
/* err's parameters as a JSON object (for MSG_TEXT: {"text": msg}) into out (size bytes);
 * returns out. */
const char *mb_err_params(const struct mb_err *err, char *out, size_t size);

/* ---- coded messages ---- */

enum mb_param_kind { MB_PARAM_STR, MB_PARAM_INT, MB_PARAM_UINT, MB_PARAM_ERR };

struct mb_param {
    enum mb_param_kind kind;
    const char *s;
    long long i;
    unsigned long long u;
    const struct mb_err *e;
};

static inline struct mb_param mb_param_str(const char *s)
{
    return (struct mb_param){.kind = MB_PARAM_STR, .s = s};
}
static inline struct mb_param mb_param_int(long long i)
{
    return (struct mb_param){.kind = MB_PARAM_INT, .i = i};
}
static inline struct mb_param mb_param_uint(unsigned long long u)
{
    return (struct mb_param){.kind = MB_PARAM_UINT, .u = u};
}
static inline struct mb_param mb_param_err(const struct mb_err *e)
{
    return (struct mb_param){.kind = MB_PARAM_ERR, .e = e};
}

/* Any other argument type is a compile error. */
#define MB_PARAM(x)                                                                                \
    _Generic((x),                                                                                  \
        char *: mb_param_str,                                                                      \
        const char *: mb_param_str,                                                                \
        int: mb_param_int,                                                                         \
        long: mb_param_int,                                                                        \
        long long: mb_param_int,                                                                   \
        unsigned: mb_param_uint,                                                                   \
        unsigned long: mb_param_uint,                                                              \
        unsigned long long: mb_param_uint,                                                         \
        struct mb_err *: mb_param_err,                                                             \
        const struct mb_err *: mb_param_err)(x)

/* Fill err (may be NULL) with message id and its n parameters; returns code. Use MB_MSG. */
int mb_err_msg(struct mb_err *err, int code, int id, const struct mb_param *p, size_t n);

#define MB_NARGS_(a1, a2, a3, a4, a5, a6, a7, a8, n, ...) n
#define MB_NARGS(...) MB_NARGS_(__VA_ARGS__, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define MB_CAT_(a, b) a##b
#define MB_CAT(a, b) MB_CAT_(a, b)
#define MB_MAP1(f, x) f(x)
#define MB_MAP2(f, x, ...) f(x), MB_MAP1(f, __VA_ARGS__)
#define MB_MAP3(f, x, ...) f(x), MB_MAP2(f, __VA_ARGS__)
#define MB_MAP4(f, x, ...) f(x), MB_MAP3(f, __VA_ARGS__)
#define MB_MAP5(f, x, ...) f(x), MB_MAP4(f, __VA_ARGS__)
#define MB_MAP6(f, x, ...) f(x), MB_MAP5(f, __VA_ARGS__)
#define MB_MAP7(f, x, ...) f(x), MB_MAP6(f, __VA_ARGS__)
#define MB_MAP8(f, x, ...) f(x), MB_MAP7(f, __VA_ARGS__)
#define MB_MAP(f, ...) MB_CAT(MB_MAP, MB_NARGS(__VA_ARGS__))(f, __VA_ARGS__)
/* A negative array size (compile error) when a call site's argument count n is not the
 * catalogue's (want, MSGN_<ID>). ID is pasted where it is named, never expanded: an ID that is
 * also a macro name elsewhere (CSV_QUOTE of libcsv) still means the catalogue entry. */
#define MB_MSG_CHECK(want, n) ((void)sizeof(char[(n) == (want) ? 1 : -1]))

/* MB_MSG(err, category, ID, args...): message MSG_<ID> with 1 to 8 arguments. */
#define MB_MSG(err, errc, ID, ...)                                                                 \
    (MB_MSG_CHECK(MSGN_##ID, MB_NARGS(__VA_ARGS__)),                                               \
     mb_err_msg((err), (errc), MSG_##ID, (const struct mb_param[]){MB_MAP(MB_PARAM, __VA_ARGS__)}, \
                MB_NARGS(__VA_ARGS__)))
/* MB_MSG0(err, category, ID): message MSG_<ID> without parameters. */
#define MB_MSG0(err, errc, ID)                                                                     \
    (MB_MSG_CHECK(MSGN_##ID, 0), mb_err_msg((err), (errc), MSG_##ID, NULL, 0))

#endif
