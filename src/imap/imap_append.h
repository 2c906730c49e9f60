/* imap_append: streamed, pipelined APPEND.
 *
 *   imap_append_begin(cli, box, flags, nflags, date, size)   sends the command up to the literal
 *   imap_append_write(cli, p, n)    any number of times; the bytes must total size exactly
 *   imap_append_end(cli, cookie)    ends the message
 *   imap_append_flush(cli)          waits for every outstanding answer
 *
 * With LITERAL+ (or LITERAL- and size <= 4096), the literal is non-synchronizing and the next
 * APPEND may start before the previous one is answered: up to opts.append_window commands in
 * flight; imap_append_begin blocks only when the window is full, imap_append_end only reads
 * answers already there. Without it the client sends "{size}" and waits for "+": a tagged NO
 * instead (e.g. [TOOBIG]) makes imap_append_begin return MB_EMSG, and the caller must not
 * write. With opts.multiappend_max > 1 and MULTIAPPEND, consecutive messages to the same
 * mailbox share one command (the server accepts or refuses them together).
 *
 * Every message ended with imap_append_end gets exactly one completion through the callback,
 * in order: status 0 with the APPENDUID values when the server sent them, or the graded
 * failure (MB_EMSG refused message, MB_EFOLDER [TRYCREATE]/[OVERQUOTA]..., MB_ECONN throttled
 * or connection lost — then the outcome is unknown — MB_EPROTO BAD), with the server's text.
 * Completions are delivered from inside begin/end/flush (and any other command, which
 * flushes first). The size given to begin is what is sent: pass the source's literal size. */
#ifndef MB_IMAP_APPEND_H
#define MB_IMAP_APPEND_H

#include <stddef.h>
#include <stdint.h>

#include "base/mb_err.h"
#include "imap/imap_client.h"

struct imap_append_result {
    void *cookie;         /* as given to imap_append_end */
    int status;           /* 0 or a negative mb_errc */
    enum imap_code code;  /* response code of the answer (APPENDUID, TOOBIG, ...) */
    uint32_t uidvalidity; /* APPENDUID, 0 if not sent */
    uint32_t uid;
    const char *text; /* "OK [APPENDUID 1 5] Append completed" style; borrowed */
};
typedef void imap_append_done_cb(void *ctx, const struct imap_append_result *r);

void imap_append_set_callback(struct imap_client *cli, imap_append_done_cb *cb, void *ctx);

/* flags: system flags ("\\Seen") and keywords; "\\Recent" is dropped (it cannot be set);
 * an invalid one is MB_ECONFIG (check with imap_append_flag_ok). internaldate: NULL or
 * "dd-Mon-yyyy hh:mm:ss +zzzz" as FETCH INTERNALDATE gives it. A size over the server's
 * APPENDLIMIT is refused here with MB_EMSG. */
int imap_append_begin(struct imap_client *cli, const char *mailbox, const char *const *flags,
                      size_t nflags, const char *internaldate, uint64_t size, struct mb_err *err);
int imap_append_write(struct imap_client *cli, const void *p, size_t n, struct mb_err *err);
int imap_append_end(struct imap_client *cli, void *cookie, struct mb_err *err);
/* Change opts.multiappend_max on an open client (0/1 = one message per APPEND); flushes
 * first. Used to send messages one by one again after a MULTIAPPEND was refused as a whole. */
int imap_append_set_multi(struct imap_client *cli, unsigned max, struct mb_err *err);
/* 1 when MULTIAPPEND is offered and enabled (messages may share one command). */
int imap_append_multi_active(const struct imap_client *cli);
/* Wait for all answers (completions delivered). */
int imap_append_flush(struct imap_client *cli, struct mb_err *err);
/* Messages sent whose completion has not been delivered yet. */
size_t imap_append_pending(const struct imap_client *cli);
/* 1 if flag can be sent in an APPEND flag list. */
int imap_append_flag_ok(const char *flag);

#endif
