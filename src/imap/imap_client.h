/* imap_client: a blocking IMAP4rev1 client over net_conn, built for copying mail.
 *
 * One struct imap_client per connection. Every call blocks at most for the configured
 * timeouts and returns 0 or a negative mb_errc, with the server's own words (never a
 * password) in err->msg:
 *   MB_EMSG      this message was refused (APPEND NO, [TOOBIG], [LIMIT])
 *   MB_EFOLDER   NO on SELECT/EXAMINE/CREATE/SUBSCRIBE/STATUS/FETCH/SEARCH, APPEND [TRYCREATE]...
 *   MB_ECONN     connection lost, timeout, BYE, [UNAVAILABLE], [THROTTLED], Office 365
 *                "Request is throttled": transient, reconnect later
 *   MB_EAUTH     NO on LOGIN/AUTHENTICATE, [AUTHENTICATIONFAILED], LOGINDISABLED
 *   MB_ENOTFOUND [AUTHORIZATIONFAILED] on a master-user login: the target mailbox is missing
 *   MB_EPROTO    garbage from the server, BAD, a response the client cannot use
 *   MB_ECONFIG   the caller broke the API contract (bad argument, call out of order)
 * After MB_ECONN or MB_EPROTO (and after a callback aborted a transfer) the connection is
 * broken: every later call fails at once with the same error; free it and reconnect.
 * imap_client_last_code() gives the response code of the last tagged answer.
 *
 * Memory: one fixed read buffer (IMAP_CLIENT_RBUF_SIZE) per connection; message bodies are
 * delivered as borrowed slices of it (fetch) and written straight to the socket (append).
 *
 * Mailbox names in arguments are the wire form (modified UTF-7, as struct imap_folder.raw);
 * use imap_utf7_encode() for a UTF-8 name.
 *
 * Ownership: imap_client_connect returns a client the caller frees with imap_client_free(&c)
 * (which does not send LOGOUT; call imap_client_logout first for a polite close). Options'
 * strings are copied. Result structs (folders, namespaces, mailbox) are filled by the call and
 * released with their _fini function; strings passed to callbacks are borrowed for the
 * duration of the callback. Callbacks must not call back into the same client.
 *
 * Streaming a message from a source to a destination (the migration engine, mig_copy.c):
 *   source:      imap_fetch_bodies(src, "1:500", &cbs, ctx)      (imap_fetch.h)
 *     cbs.begin/chunk/end hand the body over (a bounded queue) to another thread, which
 *     calls imap_append_begin(dst, box, flags, n, date, size), imap_append_write(dst, p, n),
 *     imap_append_end(dst, cookie)                                  (imap_append.h)
 *   then imap_append_flush(dst); completions arrive through the callback set with
 *   imap_append_set_callback(). A client is used by one thread at a time. */
#ifndef MB_IMAP_CLIENT_H
#define MB_IMAP_CLIENT_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#include "base/mb_err.h"
#include "imap/imap_parser.h"
#include "imap/imap_resp.h"

#define IMAP_CLIENT_RBUF_SIZE (64 * 1024)

struct imap_client;

enum imap_security {
    IMAP_SECURITY_TLS = 0, /* implicit TLS (port 993) */
    IMAP_SECURITY_STARTTLS,
    IMAP_SECURITY_NONE,
};

/* Protocol trace: dir is 'C' (sent) or 'S' (received); line has no CRLF. Passwords, SASL
 * data and message bodies never reach it ("<redacted>", "{N bytes}"). */
typedef void imap_trace_cb(void *ctx, char dir, const char *line);

struct imap_client_opts {
    const char *host;
    unsigned port; /* 0 = 993 for TLS, 143 otherwise */
    enum imap_security security;
    const char *ca_file;      /* NULL = system bundle */
    int insecure;             /* 1: accept any certificate */
    int connect_timeout_ms;   /* 0 = net_conn default (30 s) */
    int io_timeout_ms;        /* 0 = net_conn default (120 s): a silent server fails then */
    unsigned append_window;   /* APPENDs in flight with LITERAL+; 0 = 8; max 64 */
    unsigned multiappend_max; /* > 1: up to N messages per APPEND when MULTIAPPEND is
                                 offered (all-or-nothing per command); 0/1 = off */
    int no_literal_plus;      /* 1: never send LITERAL+/LITERAL- (synchronizing only) */
    uint64_t spool_max;       /* FETCH body sent before its UID: spooled to a temp file up
                                 to this size; 0 = 256 MiB */
    const char *spool_dir;    /* NULL = $TMPDIR or /tmp */
    const struct imap_parser_limits *limits; /* NULL = parser defaults */
    imap_trace_cb *trace;                    /* NULL = no trace */
    void *trace_ctx;
};

/* Connect, read the greeting (OK, PREAUTH; BYE → MB_ECONN), learn the capabilities (from the
 * greeting's [CAPABILITY] or with CAPABILITY) and, for IMAP_SECURITY_STARTTLS, run STARTTLS
 * (MB_EPROTO if not offered), the TLS handshake and CAPABILITY again. */
int imap_client_connect(const struct imap_client_opts *opts, struct imap_client **cli_r,
                        struct mb_err *err);
void imap_client_free(struct imap_client **cli);

/* Capabilities, upper-cased, space separated ("IMAP4REV1 LITERAL+ AUTH=PLAIN ..."). Borrowed. */
const char *imap_client_caps(const struct imap_client *cli);
/* 1 if the capability (case-insensitive, e.g. "LITERAL+", "AUTH=PLAIN") is offered. */
int imap_client_has_cap(const struct imap_client *cli, const char *cap);
/* Run CAPABILITY again. */
int imap_client_capability(struct imap_client *cli, struct mb_err *err);
int imap_client_is_authenticated(const struct imap_client *cli);
/* Response code of the last tagged answer; text of the last [ALERT] ("" if none). */
enum imap_code imap_client_last_code(const struct imap_client *cli);
const char *imap_client_alert(const struct imap_client *cli);
/* 1 once the connection is unusable (see above). */
int imap_client_is_broken(const struct imap_client *cli);
/* The quickest round trip seen on the connection, in microseconds: from a command sent (one at
 * a time, not pipelined) to its tagged answer; the link's round trip plus the server's least
 * work. 0 before any such command (or cli NULL). */
int64_t imap_client_rtt_us(const struct imap_client *cli);
/* Give the connection up now (it becomes broken with why; no command is completed): an
 * unfinished command, e.g. a MULTIAPPEND, dies with the connection when it is closed. */
void imap_client_abandon(struct imap_client *cli, const char *why);
/* Commands sent on this connection so far (compare two readings: did anything go out?). */
unsigned imap_client_commands_sent(const struct imap_client *cli);

/* ID (RFC 2971): fields is NULL or a NULL-terminated list name, value, name, value...
 * Sent only when the server offers ID (else returns 0). The server's answer, as
 * "name=Dovecot vendor=..." is kept: imap_client_server_id() (borrowed, "" if none). */
int imap_client_id(struct imap_client *cli, const char *const *fields, struct mb_err *err);
const char *imap_client_server_id(const struct imap_client *cli);

/* LOGIN. user and password go as quoted strings when plain printable ASCII without '"' and
 * '\', else as literals. For a Dovecot-style master login pass "user*master" as user. */
int imap_client_login(struct imap_client *cli, const char *user, const char *password,
                      struct mb_err *err);
/* AUTHENTICATE PLAIN (RFC 4616): authzid (NULL/"" = none) is the user to act as, authcid the
 * one whose password it is. Initial response inline with SASL-IR, else after "+". */
int imap_client_auth_plain(struct imap_client *cli, const char *authzid, const char *authcid,
                           const char *password, struct mb_err *err);
/* AUTHENTICATE XOAUTH2 (Google / Microsoft OAuth 2.0 bearer token). */
int imap_client_auth_xoauth2(struct imap_client *cli, const char *user, const char *token,
                             struct mb_err *err);

/* NAMESPACE (RFC 2342). Without the capability: one personal namespace "" with the
 * delimiter from LIST "" "". */
struct imap_namespace {
    char *prefix; /* raw (modified UTF-7) prefix, e.g. "INBOX." or "" */
    char delim;   /* '\0' when NIL */
};
struct imap_namespaces {
    struct imap_namespace *personal, *other, *shared;
    size_t npersonal, nother, nshared;
};
int imap_client_namespace(struct imap_client *cli, struct imap_namespaces *ns_r,
                          struct mb_err *err);
void imap_client_namespaces_fini(struct imap_namespaces *ns);

/* Folder attributes (LIST mailbox attributes, RFC 3501, 5258 and 6154 special-use). */
#define IMAP_FOLDER_NOSELECT (1u << 0)
#define IMAP_FOLDER_NOINFERIORS (1u << 1)
#define IMAP_FOLDER_HASCHILDREN (1u << 2)
#define IMAP_FOLDER_HASNOCHILDREN (1u << 3)
#define IMAP_FOLDER_MARKED (1u << 4)
#define IMAP_FOLDER_UNMARKED (1u << 5)
#define IMAP_FOLDER_NONEXISTENT (1u << 6)
#define IMAP_FOLDER_REMOTE (1u << 7)
#define IMAP_FOLDER_ALL (1u << 8)
#define IMAP_FOLDER_ARCHIVE (1u << 9)
#define IMAP_FOLDER_DRAFTS (1u << 10)
#define IMAP_FOLDER_FLAGGED (1u << 11)
#define IMAP_FOLDER_JUNK (1u << 12)
#define IMAP_FOLDER_SENT (1u << 13)
#define IMAP_FOLDER_TRASH (1u << 14)
#define IMAP_FOLDER_IMPORTANT (1u << 15) /* RFC 8457, Gmail */
#define IMAP_FOLDER_SPECIAL_MASK (0xffu << 8)

#define IMAP_STATUS_HAS_MESSAGES (1u << 0)
#define IMAP_STATUS_HAS_UIDNEXT (1u << 1)
#define IMAP_STATUS_HAS_UIDVALIDITY (1u << 2)
#define IMAP_STATUS_HAS_UNSEEN (1u << 3)
#define IMAP_STATUS_HAS_HIGHESTMODSEQ (1u << 4)
struct imap_status_info {
    unsigned have; /* IMAP_STATUS_HAS_* */
    uint32_t messages, uidnext, uidvalidity, unseen;
    uint64_t highestmodseq; /* asked when the server offers CONDSTORE (RFC 7162) */
};

struct imap_folder {
    char *raw;      /* the name as on the wire (modified UTF-7) */
    char *name;     /* UTF-8; a copy of raw when raw is not valid modified UTF-7 */
    int name_valid; /* 1 when name was decoded from valid modified UTF-7 */
    char delim;     /* hierarchy delimiter, '\0' when NIL */
    unsigned flags; /* IMAP_FOLDER_* */
    int subscribed;
    struct imap_status_info st; /* IMAP_LIST_STATUS: the folder's STATUS (have 0: none given) */
};
struct imap_folders {
    struct imap_folder *v;
    size_t n;
};

/* Listing limits: a LIST/LSUB answer with more folders, or a longer name, fails with
 * MB_ETOOBIG (the rest of the answer is read and dropped). */
#define IMAP_FOLDERS_MAX 10000
#define IMAP_FOLDER_NAME_MAX 1000
#define IMAP_LIST_SUBSCRIBED_ONLY 1u /* only subscribed folders (LIST (SUBSCRIBED) / LSUB) */
/* Each folder's STATUS in the same answer where the server offers LIST-STATUS (RFC 5819):
 * RETURN (... STATUS (the items of imap_client_status)), one round trip for the listing and
 * every folder's counters; .st.have stays 0 for a folder the server gave none (\Noselect,
 * a server without LIST-STATUS). */
#define IMAP_LIST_STATUS 2u

/* LIST ref pattern ("" and "*" when NULL). Uses LIST-EXTENDED "RETURN (SUBSCRIBED
 * SPECIAL-USE)" when offered, else LIST plus LSUB to fill .subscribed. Folders appear once,
 * in server order. */
int imap_client_list(struct imap_client *cli, const char *ref, const char *pattern, unsigned how,
                     struct imap_folders *r, struct mb_err *err);
/* Plain LSUB (every entry subscribed). */
int imap_client_lsub(struct imap_client *cli, const char *ref, const char *pattern,
                     struct imap_folders *r, struct mb_err *err);
void imap_client_folders_fini(struct imap_folders *f);

/* STATUS mailbox (MESSAGES UIDNEXT UIDVALIDITY UNSEEN [HIGHESTMODSEQ with CONDSTORE]). */
int imap_client_status(struct imap_client *cli, const char *mailbox, struct imap_status_info *r,
                       struct mb_err *err);
/* The same for names[0..n), pipelined (up to 64 commands in flight: a round trip per 64
 * mailboxes, not per mailbox). rcs[i] = 0 when names[i] was answered (out[i] filled), the
 * graded refusal (< 0) when the server refused it, 1 when it was not answered because the
 * connection failed first. Returns 0, or < 0 when the connection failed (err says why; the
 * answers read before stay in out/rcs). */
int imap_client_status_many(struct imap_client *cli, const char *const *names, size_t n,
                            struct imap_status_info *out, int *rcs, struct mb_err *err);

/* Commands pipelined (tag -> completion): up to 64 in flight, a round trip per 64 commands
 * instead of one per command. Each is "VERB [mailbox] [tail]": mailbox goes as a quoted
 * string or a literal (one that needs a synchronizing literal is sent alone), tail is raw
 * IMAP. Each command's answer is its own: cmds[i].rc = 0 (OK), the graded refusal (< 0, in
 * cmds[i].ctx) with its response code and words, or 1 when it was not answered because the
 * connection failed first. Untagged responses go to cb (NULL = dropped) with the range
 * [lo, hi) of the commands in flight. Returns 0, or < 0 when the connection failed (err says
 * why; the answers read before stay in cmds). */
struct imap_pipe_cmd {
    const char *verb;    /* "CREATE", "SUBSCRIBE", "UID STORE"... */
    const char *mailbox; /* wire form; NULL = none */
    const char *tail;    /* raw text after the mailbox (with its leading space); NULL = none */
    enum imap_resp_ctx ctx;
    /* out */
    int rc;
    enum imap_code code;
    char text[MB_ERR_LEN];
};
typedef int imap_pipe_untagged_cb(void *ctx, size_t lo, size_t hi, const struct imap_response *r);
int imap_client_pipeline(struct imap_client *cli, struct imap_pipe_cmd *cmds, size_t n,
                         imap_pipe_untagged_cb *cb, void *cb_ctx, struct mb_err *err);

/* GETQUOTAROOT mailbox (RFC 9208; servers announcing QUOTA): the STORAGE resource of the
 * mailbox's first quota root, in bytes (the protocol counts KiB). *found_r = 0 when no root
 * has a STORAGE limit. NO (no quota, not permitted) → MB_EFOLDER. */
int imap_client_quota_storage(struct imap_client *cli, const char *mailbox, int *found_r,
                              uint64_t *used_r, uint64_t *limit_r, struct mb_err *err);

struct imap_mailbox {
    uint32_t exists;
    uint32_t uidvalidity;
    uint32_t uidnext; /* 0 when the server did not say */
    int read_only;
    char *flags;          /* FLAGS content ("\\Answered \\Seen $Label1"); never NULL */
    char *permanentflags; /* PERMANENTFLAGS content; NULL when not sent */
};
/* SELECT (read_only = 0) or EXAMINE (read_only = 1). NO → MB_EFOLDER. */
int imap_client_select(struct imap_client *cli, const char *mailbox, int read_only,
                       struct imap_mailbox *r, struct mb_err *err);
/* The same in two halves, so that the round trip overlaps work on another connection:
 * _send writes the command; _finish reads its answer. No other command may be sent on cli in
 * between (refused with MB_ECONFIG). */
int imap_client_select_send(struct imap_client *cli, const char *mailbox, int read_only,
                            struct mb_err *err);
int imap_client_select_finish(struct imap_client *cli, struct imap_mailbox *r, struct mb_err *err);
void imap_client_mailbox_fini(struct imap_mailbox *m);

/* UID SEARCH criteria (e.g. "ALL", "UID 100:*", "SINCE 1-Jan-2020"; the caller writes valid
 * IMAP). *uids_r is malloc'ed (free it), ascending as the server sent them. */
int imap_client_uid_search(struct imap_client *cli, const char *criteria, uint32_t **uids_r,
                           size_t *n_r, struct mb_err *err);

/* CREATE (0 also when the server answers [ALREADYEXISTS]); SUBSCRIBE. */
int imap_client_create(struct imap_client *cli, const char *mailbox, struct mb_err *err);
int imap_client_subscribe(struct imap_client *cli, const char *mailbox, struct mb_err *err);
int imap_client_noop(struct imap_client *cli, struct mb_err *err);
/* LOGOUT and wait for the BYE/OK; the connection is then closed (free the client). */
int imap_client_logout(struct imap_client *cli, struct mb_err *err);

/* Cancellation: while waiting for the server, stop(ctx) is called about twice a second; when it
 * returns non-zero the wait ends with MB_ECANCELED (the connection is then unusable). NULL =
 * none. */
typedef int imap_stop_cb(void *ctx);
void imap_client_set_cancel(struct imap_client *cli, imap_stop_cb *stop, void *ctx);
void imap_client_get_cancel(const struct imap_client *cli, imap_stop_cb **stop_r, void **ctx_r);

/* Send a raw command line (tag and CRLF added) and wait for its answer; untagged responses
 * go to cb when not NULL. For tests and one-off commands; arguments must be valid IMAP. */
typedef int imap_untagged_cb(void *ctx, const struct imap_response *r);
int imap_client_command(struct imap_client *cli, const char *line, enum imap_resp_ctx ctx,
                        imap_untagged_cb *cb, void *cb_ctx, struct mb_err *err);

#endif
