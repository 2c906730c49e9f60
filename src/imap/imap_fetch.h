/* imap_fetch: UID FETCH of message metadata and of whole messages, streamed.
 *
 * imap_fetch_bodies sends one "UID FETCH <set> (UID BODY.PEEK[])" for the whole set and
 * delivers each message as begin(uid, size) / chunk(p, n)... / end(uid), where size is the
 * literal size the server announced (the exact byte count that follows) and the chunks are
 * borrowed slices of the connection's fixed read buffer. When a server sends the body before
 * the UID item, the body is spooled to an unlinked temp file (up to opts.spool_max) and
 * delivered once the UID is known. Bodies the server answers with NIL, or that cannot be
 * spooled, are reported to skipped() with the reason coded (msg_body_nil, msg_body_unusable,
 * msg_spool_*: msg/msgcat.def). UIDs of the set the server does not answer for (e.g.
 * expunged) simply produce no callback: compare with what you asked for.
 *
 * Callback return values: 0 continue; IMAP_FETCH_SKIP (begin, chunk) ignore the rest of this
 * message (no end()); a negative mb_errc aborts the transfer: the call returns that code, no
 * further callback is made, and when this happened in the middle of a literal the connection
 * is broken (imap_client_is_broken(); otherwise the rest of the answer was read and dropped). */
#ifndef MB_IMAP_FETCH_H
#define MB_IMAP_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "base/mb_err.h"
#include "imap/imap_client.h"

#define IMAP_FETCH_SKIP 1

struct imap_body_cbs {
    int (*begin)(void *ctx, uint32_t uid, uint64_t size);
    int (*chunk)(void *ctx, const char *p, size_t n);
    int (*end)(void *ctx, uint32_t uid);
    /* optional: a body announced but not delivered (NIL, too big to spool...) */
    void (*skipped)(void *ctx, uint32_t uid, const struct mb_err *why);
};

/* uid_set: digits, ':', ',' and '*' only (e.g. "1:500", "7,9,12:20"). */
int imap_fetch_bodies(struct imap_client *cli, const char *uid_set, const struct imap_body_cbs *cbs,
                      void *ctx, struct mb_err *err);

#define IMAP_FETCH_META_GMAIL 1u /* also X-GM-MSGID X-GM-LABELS (needs X-GM-EXT-1) */

struct imap_msg_meta {
    uint32_t uid;
    uint32_t seq;
    const char *const *flags; /* as sent, e.g. "\\Seen", "$Forwarded" (\Recent included) */
    size_t nflags;
    const char *internaldate; /* "17-Jul-1996 02:44:25 -0700", or NULL */
    uint64_t size;            /* RFC822.SIZE (may be inexact on Exchange) */
    int has_size;
    uint64_t gm_msgid;            /* 0 when not asked / not sent */
    const char *const *gm_labels; /* raw labels (modified UTF-7 names, "\\Inbox", ...) */
    size_t ngm_labels;
};
/* Return 0 to continue, a negative mb_errc to stop (the rest of the answer is read and
 * dropped; the call then returns that code, the connection stays usable). */
typedef int imap_meta_cb(void *ctx, const struct imap_msg_meta *m);

/* UID FETCH <set> (UID FLAGS INTERNALDATE RFC822.SIZE [X-GM-MSGID X-GM-LABELS]). */
int imap_fetch_meta(struct imap_client *cli, const char *uid_set, unsigned what, imap_meta_cb *cb,
                    void *ctx, struct mb_err *err);

#endif
