/* imap_resp: reading parsed IMAP responses: argument helpers, response codes
 * (RFC 3501 §7.1, RFC 5530, RFC 4315 UIDPLUS, RFC 7889 APPENDLIMIT) and the grading of a
 * failed command into an mb_errc, with the server's own words for the job log.
 *
 * Ownership: every returned string is borrowed from the response (see imap_parser.h). */
#ifndef MB_IMAP_RESP_H
#define MB_IMAP_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "imap/imap_parser.h"

enum imap_code {
    IMAP_CODE_NONE = 0,
    IMAP_CODE_OTHER, /* a code we do not know */
    IMAP_CODE_ALERT,
    IMAP_CODE_ALREADYEXISTS,
    IMAP_CODE_APPENDUID,
    IMAP_CODE_AUTHENTICATIONFAILED,
    IMAP_CODE_AUTHORIZATIONFAILED,
    IMAP_CODE_BADCHARSET,
    IMAP_CODE_CANNOT,
    IMAP_CODE_CAPABILITY,
    IMAP_CODE_CLIENTBUG,
    IMAP_CODE_CONTACTADMIN,
    IMAP_CODE_COPYUID,
    IMAP_CODE_CORRUPTION,
    IMAP_CODE_EXPIRED,
    IMAP_CODE_EXPUNGEISSUED,
    IMAP_CODE_HIGHESTMODSEQ,
    IMAP_CODE_INUSE,
    IMAP_CODE_LIMIT,
    IMAP_CODE_NONEXISTENT,
    IMAP_CODE_NOPERM,
    IMAP_CODE_OVERQUOTA,
    IMAP_CODE_PARSE,
    IMAP_CODE_PERMANENTFLAGS,
    IMAP_CODE_PRIVACYREQUIRED,
    IMAP_CODE_READ_ONLY,
    IMAP_CODE_READ_WRITE,
    IMAP_CODE_SERVERBUG,
    IMAP_CODE_THROTTLED,
    IMAP_CODE_TOOBIG,
    IMAP_CODE_TRYCREATE,
    IMAP_CODE_UIDNEXT,
    IMAP_CODE_UIDVALIDITY,
    IMAP_CODE_UNAVAILABLE,
    IMAP_CODE_UNSEEN,
};

/* What the failed command was about, for grading. */
enum imap_resp_ctx {
    IMAP_RESP_CTX_GENERIC, /* CAPABILITY, ID, NAMESPACE, LIST, NOOP...: NO → MB_EPROTO */
    IMAP_RESP_CTX_AUTH,    /* LOGIN, AUTHENTICATE: NO → MB_EAUTH
                              ([AUTHORIZATIONFAILED] → MB_ENOTFOUND) */
    IMAP_RESP_CTX_FOLDER,  /* SELECT, EXAMINE, CREATE, SUBSCRIBE, STATUS, FETCH, SEARCH:
                              NO → MB_EFOLDER */
    IMAP_RESP_CTX_APPEND,  /* APPEND: NO → MB_EMSG unless the folder or account is the problem */
};

/* The code of a status response (IMAP_CODE_NONE if it has none). */
enum imap_code imap_resp_code(const struct imap_response *r);
/* Upper-case name of a code ("TOOBIG"); "" for NONE. */
const char *imap_resp_code_name(enum imap_code code);

/* Grade a tagged NO/BAD or a BYE into an mb_errc (0 for OK/PREAUTH):
 *   BYE, [UNAVAILABLE], [THROTTLED], [INUSE], [SERVERBUG] and Exchange's
 *   "Request is throttled. Suggested Backoff Time: N milliseconds" (NO or BAD) → MB_ECONN;
 *   [AUTHENTICATIONFAILED] [EXPIRED] [PRIVACYREQUIRED] [CONTACTADMIN] → MB_EAUTH;
 *   [AUTHORIZATIONFAILED] in an AUTH context → MB_ENOTFOUND (master login: no such mailbox);
 *   other BAD → MB_EPROTO; other NO by context (see enum imap_resp_ctx); for APPEND
 *   [TRYCREATE] [NONEXISTENT] [NOPERM] [OVERQUOTA] → MB_EFOLDER, else MB_EMSG
 *   ([TOOBIG], [LIMIT], content refused). */
int imap_resp_grade(enum imap_resp_ctx ctx, const struct imap_response *r);
/* Exchange/Office 365 throttling text, with or without a code; the suggested back-off in ms
 * (0 if not given) goes to *backoff_ms_r (may be NULL). */
int imap_resp_is_throttled(const struct imap_response *r, uint64_t *backoff_ms_r);
/* "NO [TOOBIG] Message too large" (status, code with its arguments, text), cut to fit n. */
void imap_resp_describe(const struct imap_response *r, char *out, size_t n);

/* The whole response on one line for a protocol trace: tag, arguments, [code], text;
 * literals shown as "{N}" (never their bytes), non-printable bytes as '?'. Cut to fit n. */
void imap_resp_format(const struct imap_response *r, char *out, size_t n);

/* 1 if a is an atom equal to word (case-insensitive). */
int imap_resp_atom_is(const struct imap_arg *a, const char *word);
/* String value of an atom, quoted string or inline literal; NULL otherwise (NIL too). */
const char *imap_resp_astring(const struct imap_arg *a, size_t *len_r);
/* Unsigned decimal atom (digits only) up to max; returns 0 or -1. */
int imap_resp_number(const struct imap_arg *a, uint64_t max, uint64_t *v_r);
/* In a list of name/value pairs (FETCH, STATUS), the value following the atom name;
 * NULL if absent. */
const struct imap_arg *imap_resp_pair(const struct imap_arg *list, size_t count, const char *name);

#endif
