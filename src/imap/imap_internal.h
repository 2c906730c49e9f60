/* imap_internal: what imap_client.c, imap_fetch.c and imap_append.c share. Not for use
 * outside src/imap. */
#ifndef MB_IMAP_INTERNAL_H
#define MB_IMAP_INTERNAL_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/mb_err.h"
#include "imap/imap_append.h"
#include "imap/imap_client.h"
#include "imap/imap_parser.h"
#include "imap/imap_resp.h"
#include "net/net_conn.h"

#define IMAP_TAG_LEN 16
#define IMAP_APPEND_WINDOW_MAX 64
#define IMAP_MULTIAPPEND_MAX 64

/* What to do with a "+" while waiting for a tagged answer. */
enum imap_cont_action {
    IMAP_CONT_FAIL,   /* unexpected: protocol error */
    IMAP_CONT_CANCEL, /* SASL: answer "*" (cancel) */
    IMAP_CONT_EMPTY,  /* SASL XOAUTH2 error challenge: answer an empty line */
};

/* Where literal bytes go (set by the literal begin hook). */
enum imap_lit_mode {
    IMAP_LIT_NONE,
    IMAP_LIT_DISCARD,
    IMAP_LIT_HOOK,
};

/* A literal begin hook (fetch): return IMAP_LITERAL_INLINE / IMAP_LITERAL_STREAM (then
 * chunk/end hooks get the data), IMAP_LIT_HOOK_DEFAULT for the default handling, or < 0 to
 * abort (after imap_client_abort). */
#define IMAP_LIT_HOOK_DEFAULT 2
struct imap_lit_hooks {
    int (*begin)(struct imap_client *c, struct imap_parser *p, uint64_t size);
    int (*chunk)(struct imap_client *c, const char *d, size_t n);
    int (*end)(struct imap_client *c);
};

/* The command queue: every command sent whose tagged answer has not arrived yet, oldest
 * first, whatever sent it (pipelined commands, streamed APPENDs whose literal the caller
 * produces chunk by chunk). A tagged answer completes its entry: done(c, ctx, arg, r, 0,
 * NULL); a broken connection completes every entry with r = NULL and the failure (the
 * outcome of those commands is then unknown). */
typedef void imap_done_fn(struct imap_client *c, void *ctx, size_t arg,
                          const struct imap_response *r, int fail_code, const char *fail_msg);
struct imap_pending {
    char tag[IMAP_TAG_LEN];
    imap_done_fn *done;
    void *ctx;
    size_t arg;
};
#define IMAP_PENDING_MAX (IMAP_APPEND_WINDOW_MAX + 32)

/* A module that keeps state on the connection beyond its queued commands (imap_append.c: the
 * messages of a MULTIAPPEND not closed yet, a literal half-written). It registers itself on
 * the client, so that the client core calls it without depending on it. */
struct imap_module {
    /* The connection broke: fail what is not in the queue. */
    void (*broken)(struct imap_client *c, const char *msg);
    /* 1 while no other command may be sent (a literal half-written). */
    int (*busy)(const struct imap_client *c);
    /* Before another command: finish what is open (close a MULTIAPPEND). */
    int (*settle)(struct imap_client *c, struct mb_err *err);
};

struct imap_append_state {
    imap_append_done_cb *cb;
    void *cb_ctx;
    int active;             /* between begin and end */
    uint64_t left;          /* literal bytes still to write */
    char tag[IMAP_TAG_LEN]; /* tag of the command being written */
    int batch_open;         /* a MULTIAPPEND command waits for more messages or its CRLF */
    size_t batch_n;
    char *batch_mailbox;
    size_t inflight; /* APPEND commands in the client's queue */
    void *cookies[(IMAP_APPEND_WINDOW_MAX + 1) * IMAP_MULTIAPPEND_MAX];
    size_t chead, clen; /* cookies of the messages of those commands, in order */
};

struct imap_client {
    char *host;
    unsigned port;
    enum imap_security security;
    char *ca_file;
    int insecure;
    int connect_timeout_ms, io_timeout_ms;
    unsigned append_window, multiappend_max;
    int no_literal_plus;
    uint64_t spool_max;
    char *spool_dir;
    struct imap_parser_limits limits;
    imap_trace_cb *trace;
    void *trace_ctx;

    struct net_conn *conn;
    struct imap_parser *parser;
    size_t rpos, rlen;
    unsigned next_tag;
    struct buf caps; /* " CAP1 CAP2 " upper-cased */
    unsigned caps_gen;
    int authenticated;
    int broken;
    struct mb_err broken_err;
    int bye;
    char bye_text[200];
    enum imap_code last_code;
    char alert[200];
    char *server_id;

    enum imap_lit_mode lit_mode;
    const struct imap_lit_hooks *lit_hooks;
    void *hook_ctx;
    int64_t useful_ms;  /* monotonic ms of the last useful byte (or of a command sent) */
    int64_t rtt_min_us; /* the quickest command answered, sent to tagged answer (0: none) */
    char sel_tag[16];   /* a SELECT/EXAMINE sent, not yet answered ("" = none) */
    int sel_read_only;
    imap_stop_cb *stop; /* imap_client_set_cancel */
    void *stop_ctx;
    int abort_code; /* set by a hook that aborts the parse */
    struct mb_err abort_err;

    imap_untagged_cb *untagged;
    void *untagged_ctx;

    struct imap_pending pend[IMAP_PENDING_MAX]; /* the command queue (ring) */
    size_t pend_head, pend_len;
    const struct imap_module *mod; /* NULL until a module registers */

    struct imap_append_state app;

    char rbuf[IMAP_CLIENT_RBUF_SIZE];
};

/* A command being built: the wire text and its trace (secrets redacted). */
struct imap_cmd {
    char tag[IMAP_TAG_LEN];
    struct buf line;
    struct buf trace;
};

/* Broken connection: record, fail in-flight appends (MB_ECONN), fill err. Returns code. */
int imap_client_fail(struct imap_client *c, int code, struct mb_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same with a message of its own (a coded one keeps its code, msg/msgcat.def). */
int imap_client_fail_err(struct imap_client *c, int code, struct mb_err *err,
                         const struct mb_err *why);
/* 0, or the broken error. */
int imap_client_check(struct imap_client *c, struct mb_err *err);
/* Hook-side abort: remember code and message; the parse then fails with them. */
void imap_client_abort(struct imap_client *c, int code, const struct mb_err *why);
int imap_client_write(struct imap_client *c, const void *p, size_t n, struct mb_err *err);
void imap_client_trace(struct imap_client *c, char dir, const char *line);
/* Read one complete response (blocking). Handles CAPABILITY, BYE, ALERT on the way. */
int imap_client_read_resp(struct imap_client *c, const struct imap_response **r_r,
                          struct mb_err *err);
/* Queue a command just sent (MB_ECONFIG when the queue is full: a caller bug). */
int imap_client_pending_add(struct imap_client *c, const char *tag, imap_done_fn *done, void *ctx,
                            size_t arg, struct mb_err *err);
/* Read one response and handle it (a tagged answer completes its queued command). */
int imap_client_pump(struct imap_client *c, struct mb_err *err);
/* Handle a response nobody waits for: a queued command's completion, else the untagged
 * hook. */
int imap_client_dispatch(struct imap_client *c, const struct imap_response *r, struct mb_err *err);
/* Wait for the tagged answer of tag; grade it in ctx (0 on OK) with the server's text in err. */
int imap_client_wait_tagged(struct imap_client *c, const char *tag, enum imap_resp_ctx ctx,
                            enum imap_cont_action cont, struct mb_err *err);
/* Wait for "+" to tag; a tagged answer to tag instead is graded (never 0: MB_EPROTO for OK). */
int imap_client_wait_cont(struct imap_client *c, const char *tag, enum imap_resp_ctx ctx,
                          struct mb_err *err);

void imap_client_cmd_begin(struct imap_client *c, struct imap_cmd *cmd, const char *verb);
void imap_client_cmd_raw(struct imap_cmd *cmd, const char *text);
/* Append " " + s as a quoted string or a literal. secret: redacted in the trace, and sent as
 * a literal rather than an escaped quoted string when it has '"' or '\'. */
int imap_client_cmd_string(struct imap_client *c, struct imap_cmd *cmd, const char *s, size_t len,
                           int secret, enum imap_resp_ctx ctx, struct mb_err *err);
/* CRLF, send, wait for the tagged answer. Frees cmd. */
int imap_client_cmd_run(struct imap_client *c, struct imap_cmd *cmd, enum imap_resp_ctx ctx,
                        struct mb_err *err);
void imap_client_cmd_fini(struct imap_cmd *cmd);
/* 1 if a non-synchronizing literal of len bytes may be sent. */
int imap_client_literal_plus_ok(const struct imap_client *c, uint64_t len);
/* Grade a tagged answer into err (0 for OK). */
int imap_client_grade(struct imap_client *c, const struct imap_response *r, enum imap_resp_ctx ctx,
                      struct mb_err *err);

#endif
