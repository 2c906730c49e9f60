/* The copy of one folder: source metadata, exactly-once bookkeeping (db_msgmap.h's protocol),
 * and the copy of each window: one UID FETCH on the source (this thread) whose bodies are
 * handed over through a bounded queue to the pipelined APPENDs on the destination (a thread
 * of the window), then one transaction recording the window's outcome. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/clock.h"
#include "base/sha256.h"
#include "base/xalloc.h"
#include "db/db_msgmap.h"
#include "imap/imap_append.h"
#include "imap/imap_date.h"
#include "imap/imap_fetch.h"
#include "imap/imap_utf7.h"
#include "mig_dedupe.h"
#include "db/db_folder.h"
#include "mig_internal.h"
#include "mig_xo.h"

/* A message's state in its window: mig_xo's outcomes. */
enum msg_state {
    MSG_TODO = MIG_XO_NOT_SENT,
    MSG_SENT = MIG_XO_IN_FLIGHT,
    MSG_COPIED = MIG_XO_COPIED,
    MSG_FAILED = MIG_XO_REFUSED,
};

struct msg {
    uint32_t uid;
    uint64_t size;
    int64_t idate;
    char *idate_str;
    char **flags;
    size_t nflags;
    enum msg_state state;
    uint32_t dest_uid;
    unsigned char hash[32];
    struct mb_err *why; /* MSG_FAILED: why (coded), for the message map and the report */
    char *flags_key;    /* msg_flags_key's cache */
    int bad_date;       /* its INTERNALDATE was not usable: sent without it (logged) */
};

struct folder_run {
    struct mig_ctx *m;
    struct mig_folder_report *rep;
    const char *src_raw;
    char *dest_raw;
    uint32_t uidvalidity;
    uint32_t dest_uidvalidity;
    uint32_t dest_bound;  /* lower bound of the destination's UIDNEXT */
    int keywords_ok;      /* PERMANENTFLAGS has \* */
    char *permanentflags; /* NULL = every flag is permanent */
    struct msg *msgs;     /* sorted by uid */
    size_t n;
    /* window being streamed */
    struct msg *win;
    size_t win_n;
    struct hand *hand; /* its hand-off to the destination */
    int abort_rc;
    struct mb_err abort_err;
    int folder_rc; /* a destination folder-level refusal */
    char folder_err[200];
};

static void msg_fini(struct msg *x)
{
    free(x->idate_str);
    for (size_t i = 0; i < x->nflags; i++)
        free(x->flags[i]);
    free(x->flags);
    free(x->why);
    free(x->flags_key);
}

static int cmp_flag(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

/* The message's flags as the message map keeps them: sorted, blank-separated (\Recent is
 * never in x->flags). */
static const char *msg_flags_key(struct msg *x)
{
    if (x->flags_key)
        return x->flags_key;
    char **v = xcalloc(x->nflags ? x->nflags : 1, sizeof(*v));
    memcpy(v, x->flags, x->nflags * sizeof(*v));
    if (x->nflags > 1)
        qsort(v, x->nflags, sizeof(*v), cmp_flag);
    struct buf b;
    buf_init(&b, 1 << 20);
    for (size_t i = 0; i < x->nflags; i++) {
        if (i)
            buf_putc(&b, ' ');
        buf_puts(&b, v[i]);
    }
    free(v);
    x->flags_key = buf_take(&b, NULL);
    return x->flags_key;
}

static int cmp_msg(const void *a, const void *b)
{
    uint32_t x = ((const struct msg *)a)->uid, y = ((const struct msg *)b)->uid;
    return x < y ? -1 : x > y;
}

static struct msg *find_msg(struct msg *v, size_t n, uint32_t uid)
{
    struct msg key = {.uid = uid};
    return bsearch(&key, v, n, sizeof(*v), cmp_msg);
}

/* Gmail: a message of All Mail is "archived" when it carries no label but the views. */
static int gmail_orphan(const struct imap_msg_meta *mm)
{
    for (size_t i = 0; i < mm->ngm_labels; i++) {
        const char *l = mm->gm_labels[i];
        if (strcasecmp(l, "\\Important") != 0 && strcasecmp(l, "\\Starred") != 0)
            return 0;
    }
    return 1;
}

struct meta_ctx {
    struct folder_run *fr;
    size_t cap;
    int orphans_only;
    int log_left_out;  /* first look at the folder in this run: log what is left out */
    size_t plan_index; /* the folder's entry in the plan */
    int labels_first;  /* gmail_labels first applies to this folder */
};

/* gmail_labels first: the plan entry of the copied folder that holds a Gmail label's messages,
 * or (size_t)-1 (a view, or no such folder copied). */
static size_t label_folder(const struct mig_ctx *m, const char *label)
{
    static const struct {
        const char *label;
        unsigned flag;
    } sys[] = {
        {"\\Sent", IMAP_FOLDER_SENT},     {"\\Draft", IMAP_FOLDER_DRAFTS},
        {"\\Drafts", IMAP_FOLDER_DRAFTS}, {"\\Trash", IMAP_FOLDER_TRASH},
        {"\\Spam", IMAP_FOLDER_JUNK},     {"\\Junk", IMAP_FOLDER_JUNK},
    };
    int inbox = strcasecmp(label, "\\Inbox") == 0;
    unsigned flag = 0;
    for (size_t k = 0; k < sizeof(sys) / sizeof(sys[0]); k++)
        if (strcasecmp(label, sys[k].label) == 0)
            flag = sys[k].flag;
    if (!inbox && !flag && label[0] == '\\')
        return (size_t)-1; /* \Important, \Starred: views */
    for (size_t j = 0; j < m->plan.n; j++) {
        const struct mig_plan_entry *e = &m->plan.entries[j];
        if (e->action != MIG_PLAN_COPY)
            continue;
        const struct imap_folder *f = &m->src_list.v[e->src_index];
        if (inbox  ? strcasecmp(f->name, "INBOX") == 0
            : flag ? (f->flags & flag) != 0
                   : strcmp(f->raw, label) == 0 || strcmp(f->name, label) == 0)
            return j;
    }
    return (size_t)-1;
}

/* The job's options (mig_options.h): 0 to copy the message, or 1 when left out (counted in
 * the folder's report with the reason). */
static int left_out(struct meta_ctx *mc, const struct imap_msg_meta *mm, int64_t idate)
{
    struct mig_ctx *m = mc->fr->m;
    const struct mig_options *o = m->req->options;
    if (!o)
        return 0;
    /* An unreadable INTERNALDATE (0) is never left out by the date range. */
    if (idate && ((o->since && idate < o->since) || (o->before && idate >= o->before))) {
        mc->fr->rep->excluded_date++;
        return 1;
    }
    if (mc->labels_first) {
        /* One copy only: in the first copied folder among the message's labels. */
        for (size_t k = 0; k < mm->ngm_labels; k++) {
            size_t j = label_folder(m, mm->gm_labels[k]);
            if (j != (size_t)-1 && j < mc->plan_index) {
                mc->fr->rep->excluded_label++;
                return 1;
            }
        }
    }
    if (o->max_message_size && mm->size > (uint64_t)o->max_message_size) {
        mc->fr->rep->excluded_size++;
        if (mc->log_left_out) {
            struct mb_err line;
            MB_MSG(&line, 0, LOG_MSG_TOO_LARGE, m->current_folder, mm->uid,
                   (unsigned long long)mm->size, (long long)o->max_message_size);
            mig_log_msg(m, "info", &line);
        }
        return 1;
    }
    return 0;
}

static int on_meta(void *ctx, const struct imap_msg_meta *mm)
{
    struct meta_ctx *mc = ctx;
    struct folder_run *fr = mc->fr;
    if (mc->orphans_only && !gmail_orphan(mm))
        return 0;
    int64_t idate = mm->internaldate ? imap_date_parse(mm->internaldate) : 0;
    if (left_out(mc, mm, idate))
        return 0;
    if (fr->n == mc->cap) {
        mc->cap = mc->cap ? mc->cap * 2 : 256;
        fr->msgs = xrealloc(fr->msgs, mc->cap * sizeof(*fr->msgs));
    }
    struct msg *x = &fr->msgs[fr->n++];
    memset(x, 0, sizeof(*x));
    x->uid = mm->uid;
    x->size = mm->size;
    x->idate_str = mm->internaldate ? xstrdup(mm->internaldate) : NULL;
    x->idate = idate;
    x->flags = xcalloc(mm->nflags ? mm->nflags : 1, sizeof(char *));
    for (size_t i = 0; i < mm->nflags; i++)
        if (strcasecmp(mm->flags[i], "\\Recent") != 0)
            x->flags[x->nflags++] = xstrdup(mm->flags[i]);
    return 0;
}

/* Is flag accepted by the destination folder's PERMANENTFLAGS? */
static int flag_permanent(const struct folder_run *fr, const char *flag)
{
    if (!imap_append_flag_ok(flag) || strcasecmp(flag, "\\Recent") == 0)
        return 0;
    if (!fr->permanentflags)
        return 1;
    if (flag[0] != '\\' && fr->keywords_ok)
        return 1;
    const char *p = fr->permanentflags;
    size_t n = strlen(flag);
    while ((p = strcasestr(p, flag))) {
        char after = p[n];
        int start_ok = p == fr->permanentflags || p[-1] == ' ' || p[-1] == '(';
        if (start_ok && (after == '\0' || after == ' ' || after == ')'))
            return 1;
        p += n;
    }
    return 0;
}

/* A destination completion (the destination's thread, or the lane's after the window): the
 * message's outcome, and the folder's counts under the reports' lock (lane 0 reads them). */
/* x is refused, for why (copied): counted in the folder's report. */
static void msg_failed(struct folder_run *fr, struct msg *x, const struct mb_err *why)
{
    x->state = MSG_FAILED;
    free(x->why);
    x->why = xmalloc(sizeof(*x->why));
    *x->why = *why;
    mig_reports_lock(fr->m);
    fr->rep->failed++;
    mig_reports_unlock(fr->m);
}

static void on_append_done(void *ctx, const struct imap_append_result *r)
{
    struct folder_run *fr = ctx;
    struct msg *x = r->cookie;
    struct mig_ctx *m = fr->m;
    if (!x)
        return;
    uint32_t dest_uid;
    enum mig_xo_outcome o =
        mig_xo_append_outcome(r->status, r->uidvalidity, r->uid, fr->dest_uidvalidity, &dest_uid);
    if (o == MIG_XO_COPIED) {
        x->state = MSG_COPIED;
        x->dest_uid = dest_uid;
        fr->dest_bound = mig_xo_bound(fr->dest_bound, dest_uid);
        mig_reports_lock(m);
        fr->rep->copied++;
        fr->rep->copied_bytes += (int64_t)x->size;
        mig_reports_unlock(m);
    } else if (o == MIG_XO_REFUSED) {
        struct mb_err why;
        if (r->text && *r->text) /* the server's own words, as they are */
            MB_MSG(&why, MB_EMSG, MSG_DEST_REFUSED_SAID, r->text);
        else
            MB_MSG0(&why, MB_EMSG, MSG_DEST_REFUSED);
        msg_failed(fr, x, &why);
        if (r->status == MB_EFOLDER && !fr->folder_rc) {
            fr->folder_rc = MB_EFOLDER;
            snprintf(fr->folder_err, sizeof(fr->folder_err), "%.199s",
                     r->text && *r->text ? r->text : x->why->msg);
        }
    }
    /* MB_ECONN / MB_EPROTO: outcome unknown, the row stays in flight for recovery. */
}

/* ---- the hand-off between the source and the destination ----
 *
 * A window's bodies go from the source's FETCH (the lane's thread: read, TLS, parse) to the
 * destination's APPENDs (a thread of the window: TLS, write, completions) through a bounded
 * queue of records (HAND_SLOTS chunks of at most HAND_CHUNK bytes: 1 MiB): each side works
 * at its own pace, the source waits only when the queue is full, the destination when it is
 * empty, and no callback of one connection calls into the other. The destination's thread
 * alone touches the window's messages while it runs; the lane's thread reads them again
 * once it has ended (copy_window joins it before the flush and the commit). */
#define HAND_SLOTS 16
#define HAND_CHUNK (64 * 1024)

enum hand_kind { HAND_BEGIN, HAND_DATA, HAND_END, HAND_SKIPPED };

struct hand_rec {
    enum hand_kind kind;
    uint32_t uid;
    uint64_t size; /* BEGIN: the literal's size */
    size_t n;      /* DATA, SKIPPED: bytes in data */
};

struct hand {
    pthread_mutex_t mu;
    pthread_cond_t more, room;
    struct hand_rec rec[HAND_SLOTS];
    char *data; /* HAND_SLOTS * HAND_CHUNK */
    size_t head, len;
    int closed;  /* the source has sent everything it will send */
    int aborted; /* ... and stopped in the middle of a message */
    int failed;  /* the destination failed: the source stops (fail_rc, fail_err) */
    int fail_rc;
    struct mb_err fail_err;
    unsigned char *seen; /* window position: a body for it was handed over (source side) */
};

static int hand_push(struct folder_run *fr, enum hand_kind kind, uint32_t uid, uint64_t size,
                     const char *p, size_t n)
{
    struct hand *h = fr->hand;
    pthread_mutex_lock(&h->mu);
    /* Bytes join the last record while it is a body's data with room: the destination's thread
     * is woken once per HAND_CHUNK of a body (or at its end), not for each TLS record. */
    size_t tail = (h->head + h->len + HAND_SLOTS - 1) % HAND_SLOTS;
    if (kind == HAND_DATA && h->len > 0 && !h->failed && h->rec[tail].kind == HAND_DATA
        && h->rec[tail].n + n <= HAND_CHUNK) {
        memcpy(h->data + tail * HAND_CHUNK + h->rec[tail].n, p, n);
        h->rec[tail].n += n;
        if (h->rec[tail].n == HAND_CHUNK)
            pthread_cond_signal(&h->more);
        pthread_mutex_unlock(&h->mu);
        return 0;
    }
    while (h->len == HAND_SLOTS && !h->failed) {
        if (mig_stop_requested(fr->m)) {
            pthread_mutex_unlock(&h->mu);
            return MB_ECANCELED;
        }
        struct timespec ts = mb_realtime_in_ms(100);
        pthread_cond_timedwait(&h->room, &h->mu, &ts);
    }
    if (h->failed) {
        fr->abort_rc = h->fail_rc;
        fr->abort_err = h->fail_err;
        pthread_mutex_unlock(&h->mu);
        return fr->abort_rc;
    }
    size_t at = (h->head + h->len) % HAND_SLOTS;
    h->rec[at] = (struct hand_rec){kind, uid, size, n};
    if (n)
        memcpy(h->data + at * HAND_CHUNK, p, n);
    h->len++;
    /* A record the next bytes may still join is not announced yet (see above); every other
     * record is, and so is any record behind it. */
    if (kind != HAND_DATA || n == HAND_CHUNK || h->len > 1)
        pthread_cond_signal(&h->more);
    pthread_mutex_unlock(&h->mu);
    return 0;
}

static void hand_close(struct hand *h, int aborted)
{
    pthread_mutex_lock(&h->mu);
    h->closed = 1;
    h->aborted = aborted;
    pthread_cond_broadcast(&h->more);
    pthread_mutex_unlock(&h->mu);
}

/* Source side (the lane's thread): the FETCH callbacks hand the bodies over. */
static int body_begin(void *ctx, uint32_t uid, uint64_t size)
{
    struct folder_run *fr = ctx;
    if (mig_should_stop(fr->m))
        return MB_ECANCELED;
    struct msg *x = find_msg(fr->win, fr->win_n, uid);
    if (!x || fr->hand->seen[x - fr->win])
        return IMAP_FETCH_SKIP;
    fr->hand->seen[x - fr->win] = 1;
    /* The literal size is what the source actually sends (RFC822.SIZE may lie). */
    return hand_push(fr, HAND_BEGIN, uid, size, NULL, 0);
}

static int body_chunk(void *ctx, const char *p, size_t n)
{
    struct folder_run *fr = ctx;
    for (size_t off = 0; off < n;) {
        size_t k = n - off < HAND_CHUNK ? n - off : HAND_CHUNK;
        int rc = hand_push(fr, HAND_DATA, 0, 0, p + off, k);
        if (rc)
            return rc;
        off += k;
    }
    return 0;
}

static int body_end(void *ctx, uint32_t uid)
{
    struct folder_run *fr = ctx;
    int rc = hand_push(fr, HAND_END, uid, 0, NULL, 0);
    mig_progress(fr->m, 0);
    return rc;
}

static void body_skipped(void *ctx, uint32_t uid, const struct mb_err *why)
{
    struct folder_run *fr = ctx;
    struct msg *x = find_msg(fr->win, fr->win_n, uid);
    if (!x || fr->hand->seen[x - fr->win])
        return;
    fr->hand->seen[x - fr->win] = 1;
    /* the reason itself (coded), as the record's bytes */
    struct mb_err w;
    if (why)
        w = *why;
    else
        MB_MSG0(&w, MB_EMSG, MSG_NO_BODY);
    hand_push(fr, HAND_SKIPPED, uid, 0, (const char *)&w, sizeof(w));
}

/* Destination side: one record, applied to the window's messages and the APPEND stream. */
struct appender {
    struct folder_run *fr;
    struct msg *cur; /* message whose body is streaming */
    int skipping;    /* its APPEND was refused before anything went: drop its data */
    struct sha256 sha;
};

static int apply_begin(struct appender *a, uint32_t uid, uint64_t size, struct mb_err *err)
{
    struct folder_run *fr = a->fr;
    struct msg *x = find_msg(fr->win, fr->win_n, uid);
    a->skipping = 1;
    if (!x || x->state != MSG_TODO)
        return 0;
    x->size = size;
    const char *flags[64];
    size_t nf = 0;
    for (size_t i = 0; i < x->nflags && nf < 64; i++)
        if (flag_permanent(fr, x->flags[i]))
            flags[nf++] = x->flags[i];
    const char *date = x->idate_str;
    if (date && !imap_date_valid(date)) {
        /* The source sent an INTERNALDATE a server would refuse (a BAD that, with pipelined
         * literals, breaks the connection): keep the message, let the destination date it
         * (logged by the lane once the window is over). */
        x->bad_date = 1;
        date = NULL;
    }
    struct mb_err e = {0};
    int rc = imap_append_begin(fr->m->dst, fr->dest_raw, flags, nf, date, size, &e);
    if (rc == MB_ECONFIG && !imap_client_is_broken(fr->m->dst))
        rc = MB_EMSG; /* refused before anything was sent: this message only */
    if (rc == MB_EMSG) {
        msg_failed(fr, x, &e);
        return 0;
    }
    if (rc) {
        *err = e;
        return rc;
    }
    x->state = MSG_SENT;
    a->cur = x;
    a->skipping = 0;
    sha256_init(&a->sha);
    return 0;
}

/* data: the record's bytes, NUL-terminated (the buffer has room for one more byte). */
static int apply(struct appender *a, const struct hand_rec *r, const char *data, struct mb_err *err)
{
    struct folder_run *fr = a->fr;
    switch (r->kind) {
    case HAND_BEGIN: return apply_begin(a, r->uid, r->size, err);
    case HAND_DATA:
        if (a->skipping)
            return 0;
        sha256_update(&a->sha, data, r->n);
        return imap_append_write(fr->m->dst, data, r->n, err);
    case HAND_END: {
        struct msg *x = a->cur;
        a->cur = NULL;
        if (a->skipping || !x) {
            a->skipping = 0;
            return 0;
        }
        sha256_final(&a->sha, x->hash);
        sha256_free(&a->sha);
        return imap_append_end(fr->m->dst, x, err);
    }
    case HAND_SKIPPED: {
        struct msg *x = find_msg(fr->win, fr->win_n, r->uid);
        if (x && x->state == MSG_TODO) {
            struct mb_err inner, why;
            if (r->n == sizeof(inner))
                memcpy(&inner, data, sizeof(inner));
            else
                MB_MSG0(&inner, MB_EMSG, MSG_NO_BODY);
            MB_MSG(&why, MB_EMSG, MSG_NOT_DELIVERED, &inner);
            msg_failed(fr, x, &why);
        }
        return 0;
    }
    }
    return 0;
}

static void *appender_main(void *arg)
{
    struct appender *a = arg;
    struct hand *h = a->fr->hand;
    char *buf = xmalloc(HAND_CHUNK + 1);
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (h->len == 0 && !h->closed)
            pthread_cond_wait(&h->more, &h->mu);
        if (h->len == 0)
            break; /* closed and drained */
        struct hand_rec r = h->rec[h->head];
        if (r.n)
            memcpy(buf, h->data + h->head * HAND_CHUNK, r.n);
        buf[r.n] = '\0';
        h->head = (h->head + 1) % HAND_SLOTS;
        h->len--;
        pthread_cond_signal(&h->room);
        pthread_mutex_unlock(&h->mu);
        struct mb_err e = {0};
        int rc = apply(a, &r, buf, &e);
        pthread_mutex_lock(&h->mu);
        if (rc) {
            h->failed = 1;
            h->fail_rc = rc;
            h->fail_err = e;
            pthread_cond_broadcast(&h->room);
            break;
        }
    }
    pthread_mutex_unlock(&h->mu);
    if (a->cur)
        sha256_free(&a->sha); /* the source stopped in the middle of this message */
    free(buf);
    return NULL;
}

/* The destination's waits while its thread runs: no hook (lane 0's thread calls them). */
static int appender_stop(void *ctx)
{
    return mig_stop_requested(ctx);
}

/* "1:5,9,12:14" for the uids of v[0..n) (sorted). */
static char *uid_set(const struct msg *v, size_t n)
{
    struct buf b;
    buf_init(&b, (size_t)64 << 20);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && v[j + 1].uid == v[j].uid + 1)
            j++;
        if (b.len)
            buf_putc(&b, ',');
        if (j > i)
            buf_printf(&b, "%u:%u", v[i].uid, v[j].uid);
        else
            buf_printf(&b, "%u", v[i].uid);
        i = j + 1;
    }
    return buf_take(&b, NULL);
}

static void to_dbmsg(struct msg *x, struct db_msg *d)
{
    d->uid = x->uid;
    d->size = (int64_t)x->size;
    d->internaldate = x->idate;
    d->message_id = NULL;
    d->flags = msg_flags_key(x);
}

/* Record the outcome of a window in one short transaction. */
static int commit_window(struct folder_run *fr, struct mb_err *err)
{
    struct mig_ctx *m = fr->m;
    int rc = db_begin_job(m->db, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < fr->win_n && !rc; i++) {
        struct msg *x = &fr->win[i];
        struct db_msg d;
        to_dbmsg(x, &d);
        switch (mig_xo_commit_record((enum mig_xo_outcome)x->state)) {
        case MIG_XO_MARK_COPIED:
            rc = db_msgmap_mark_copied_sized(m->db, m->job, fr->src_raw, fr->uidvalidity, x->uid,
                                             x->dest_uid, x->hash, (int64_t)x->size, err);
            break;
        case MIG_XO_MARK_FAILED: {
            struct mb_err refused;
            if (!x->why)
                MB_MSG0(&refused, MB_EMSG, MSG_DEST_REFUSED);
            rc = db_msgmap_mark_failed_msg(m->db, m->job, fr->src_raw, fr->uidvalidity, &d,
                                           fr->dest_raw, x->why ? x->why : &refused, err);
            break;
        }
        case MIG_XO_FORGET_ROW:
            rc = db_msgmap_forget(m->db, m->job, fr->src_raw, fr->uidvalidity, x->uid, err);
            break;
        case MIG_XO_KEEP_ROW: break;
        }
    }
    if (rc) {
        db_rollback(m->db);
        return rc;
    }
    return db_commit(m->db, err);
}

static int copy_window(struct folder_run *fr, struct msg *win, size_t n, struct mb_err *err)
{
    struct mig_ctx *m = fr->m;
    fr->win = win;
    fr->win_n = n;
    struct db_msg *dm = xcalloc(n, sizeof(*dm));
    for (size_t i = 0; i < n; i++)
        to_dbmsg(&win[i], &dm[i]);
    struct db_msgmap_window w = {fr->dest_raw, fr->dest_uidvalidity, fr->dest_bound,
                                 (int64_t)time(NULL) + m->cfg->destination.settle_time};
    int rc = db_msgmap_mark_inflight(m->db, m->job, fr->src_raw, fr->uidvalidity, dm, n, &w, err);
    free(dm);
    if (rc)
        return rc;

    char *set = uid_set(win, n);
    struct imap_body_cbs cbs = {body_begin, body_chunk, body_end, body_skipped};
    fr->abort_rc = 0;
    struct hand h;
    memset(&h, 0, sizeof(h));
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.more, NULL);
    pthread_cond_init(&h.room, NULL);
    h.data = xmalloc((size_t)HAND_SLOTS * HAND_CHUNK);
    h.seen = xcalloc(n, 1);
    fr->hand = &h;
    struct appender ap = {.fr = fr};
    imap_stop_cb *dst_stop;
    void *dst_stop_ctx;
    imap_client_get_cancel(m->dst, &dst_stop, &dst_stop_ctx);
    imap_client_set_cancel(m->dst, appender_stop, m);
    pthread_t th;
    if (pthread_create(&th, NULL, appender_main, &ap) != 0) {
        rc = mb_err_set(err, MB_EIO, "cannot start a thread");
    } else {
        rc = imap_fetch_bodies(m->src, set, &cbs, fr, err);
        hand_close(&h, rc != 0);
        pthread_join(th, NULL);
    }
    imap_client_set_cancel(m->dst, dst_stop, dst_stop_ctx);
    if (h.failed && !fr->abort_rc) {
        /* The destination failed after the source had sent everything. */
        fr->abort_rc = h.fail_rc;
        fr->abort_err = h.fail_err;
        if (!rc)
            rc = h.fail_rc;
    }
    fr->hand = NULL;
    free(h.seen);
    free(h.data);
    pthread_cond_destroy(&h.more);
    pthread_cond_destroy(&h.room);
    pthread_mutex_destroy(&h.mu);
    free(set);
    for (size_t i = 0; i < n; i++)
        if (win[i].bad_date) {
            win[i].bad_date = 0;
            char date[48];
            snprintf(date, sizeof(date), "%.40s", win[i].idate_str);
            struct mb_err line;
            MB_MSG(&line, 0, LOG_MSG_BAD_DATE, m->current_folder, win[i].uid, date);
            mig_log_msg(m, "warn", &line);
        }
    if (rc && fr->abort_rc) {
        rc = fr->abort_rc;
        *err = fr->abort_err;
    } else if (rc == MB_EFOLDER) {
        m->src_refused = 1;
    }
    int frc = 0;
    if (mig_deadline_passed(m)) {
        /* The node's lease ran out: the job may be another node's by now, which finds this
         * window in flight and checks the destination. What this connection has not
         * completed must never be stored later: the connection is dropped, and with it an
         * unfinished MULTIAPPEND (RFC 3502: none of its messages), never completed. */
        imap_client_abandon(m->dst, "the node's lease ran out");
        if (!rc) {
            rc = MB_ECANCELED;
            MB_MSG0(err, MB_ECANCELED, JOB_CANCELLED);
        }
    } else if (!imap_client_is_broken(m->dst)) {
        frc = imap_append_flush(m->dst, rc ? &fr->abort_err : err);
    }
    if (!rc && frc)
        rc = frc;
    struct mb_err cerr;
    int crc = commit_window(fr, &cerr);
    if (crc && !rc) {
        *err = cerr;
        rc = crc;
    }
    if (rc == MB_ECANCELED)
        mb_err_set(err, MB_ECANCELED, "cancelled");
    return rc;
}

/* Copy again the messages of win[0..n) in state `which`, as a window of their own (sorted,
 * contiguous, as copy_window needs), and hand the outcome back to win. */
static int copy_again(struct folder_run *fr, struct msg *win, size_t n, enum msg_state which,
                      size_t k, struct mb_err *err)
{
    struct msg *again = xcalloc(k, sizeof(*again));
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (win[i].state != which)
            continue;
        again[j] = win[i]; /* takes the strings over; win[i] keeps a stale copy */
        XFREE(again[j].why);
        again[j].state = MSG_TODO;
        j++;
    }
    int rc = copy_window(fr, again, k, err);
    j = 0;
    for (size_t i = 0; i < n && j < k; i++) {
        if (win[i].state != which || win[i].uid != again[j].uid)
            continue;
        win[i] = again[j++];
    }
    free(again);
    return rc;
}

static size_t count_state(const struct msg *win, size_t n, enum msg_state which)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += win[i].state == which;
    return k;
}

/* MULTIAPPEND is all or nothing: one message the destination refuses fails every message of
 * its command. Send the refused messages of the window again one by one, so that only the
 * really refused ones stay refused, each with its own reason. */
static int retry_refused_alone(struct folder_run *fr, struct msg *win, size_t n, struct mb_err *err)
{
    struct mig_ctx *m = fr->m;
    size_t k = count_state(win, n, MSG_FAILED);
    if (k == 0)
        return 0;
    fr->rep->failed -= (int64_t)k;
    struct mb_err line;
    MB_MSG(&line, 0, LOG_MULTIAPPEND_REFUSED, m->current_folder, k);
    mig_log_msg(m, "info", &line);
    int rc = imap_append_set_multi(m->dst, 1, err);
    if (!rc)
        rc = copy_again(fr, win, n, MSG_FAILED, k, err);
    struct mb_err ignore;
    if (!imap_client_is_broken(m->dst))
        imap_append_set_multi(m->dst, IMAP_MULTIAPPEND_BATCH, &ignore);
    return rc;
}

#define MISSING_RETRIES 2

/* Completeness: a source that answers a UID FETCH with OK but leaves messages out. Ask for
 * them again; then tell the ones that vanished from the source (deleted meanwhile: said so,
 * no longer to copy) from the ones it keeps but will not send (refused, with that reason).
 * Never a silent "done". */
static int account_missing(struct folder_run *fr, struct msg *win, size_t n, struct mb_err *err)
{
    struct mig_ctx *m = fr->m;
    int rc = 0;
    size_t k = count_state(win, n, MSG_TODO);
    for (int r = 0; k > 0 && r < MISSING_RETRIES && !rc; r++) {
        struct mb_err line;
        MB_MSG(&line, 0, LOG_LEFT_OUT_AGAIN, m->current_folder, k);
        mig_log_msg(m, "warn", &line);
        rc = copy_again(fr, win, n, MSG_TODO, k, err);
        k = count_state(win, n, MSG_TODO);
    }
    if (rc || k == 0)
        return rc;
    struct msg *left = xcalloc(k, sizeof(*left));
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (win[i].state == MSG_TODO)
            left[j++] = win[i];
    char *set = uid_set(left, k);
    struct buf crit;
    buf_init(&crit, (size_t)64 << 20);
    buf_puts(&crit, "UID ");
    buf_puts(&crit, set);
    free(set);
    uint32_t *present = NULL;
    size_t n_present = 0;
    rc = imap_client_uid_search(m->src, buf_cstr(&crit), &present, &n_present, err);
    buf_fini(&crit);
    if (rc) {
        free(left);
        return rc;
    }
    size_t vanished = 0;
    for (size_t i = 0; i < k; i++) {
        struct msg *x = find_msg(win, n, left[i].uid);
        int there = 0;
        for (size_t p = 0; p < n_present && !there; p++)
            there = present[p] == x->uid;
        if (there) {
            x->state = MSG_FAILED;
            struct mb_err why, line;
            MB_MSG(&why, MB_EMSG, MSG_LEFT_OUT, MISSING_RETRIES + 1);
            free(x->why);
            x->why = xmalloc(sizeof(*x->why));
            *x->why = why;
            fr->rep->failed++;
            MB_MSG(&line, 0, LOG_MSG_FAILED, m->current_folder, x->uid, &why);
            mig_log_msg(m, "error", &line);
            struct db_msg d;
            to_dbmsg(x, &d);
            if (!rc)
                rc = db_msgmap_mark_failed_msg(m->db, m->job, fr->src_raw, fr->uidvalidity, &d,
                                               fr->dest_raw, &why, err);
        } else {
            vanished++;
        }
    }
    free(present);
    free(left);
    if (vanished) {
        /* Deleted from the source while the migration ran: nothing left to copy. */
        fr->rep->vanished += (int64_t)vanished;
        fr->rep->source_count -= (int64_t)vanished;
        struct mb_err line;
        MB_MSG(&line, 0, LOG_VANISHED, m->current_folder, vanished);
        mig_log_msg(m, "warn", &line);
    }
    return rc;
}

/* The destination folder selected (read-write): its UIDVALIDITY, a lower bound of its UIDNEXT,
 * its PERMANENTFLAGS. In two halves (dest_select_send, dest_select_finish) so that the round
 * trip overlaps the source's EXAMINE. */
static int dest_select_finish(struct folder_run *fr, struct mb_err *err)
{
    struct imap_mailbox mb;
    int rc = imap_client_select_finish(fr->m->dst, &mb, err);
    if (rc)
        return rc;
    fr->dest_uidvalidity = mb.uidvalidity;
    if (mb.uidnext > fr->dest_bound)
        fr->dest_bound = mb.uidnext;
    free(fr->permanentflags);
    fr->permanentflags = mb.permanentflags ? xstrdup(mb.permanentflags) : NULL;
    fr->keywords_ok = !fr->permanentflags || strstr(fr->permanentflags, "\\*") != NULL;
    imap_client_mailbox_fini(&mb);
    return 0;
}

static int load_dest_state(struct folder_run *fr, struct mb_err *err)
{
    int rc = imap_client_select_send(fr->m->dst, fr->dest_raw, 0, err);
    return rc ? rc : dest_select_finish(fr, err);
}

/* Is flag one of the blank-separated list (case-insensitive)? */
static int flag_in(const char *list, const char *flag, size_t n)
{
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncasecmp(p, flag, n) == 0)
            return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

/* The flags of list a that are not in list b and that the destination folder keeps, as
 * "f1 f2" (heap). */
static char *flags_minus(const struct folder_run *fr, const char *a, const char *b)
{
    struct buf out;
    buf_init(&out, 1 << 20);
    for (const char *p = a; p && *p;) {
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *flag = xstrndup(p, len);
        if (len && !flag_in(b, p, len) && flag_permanent(fr, flag)) {
            if (out.len)
                buf_putc(&out, ' ');
            buf_puts(&out, flag);
        }
        free(flag);
        p = end ? end + 1 : NULL;
    }
    return buf_take(&out, NULL);
}

struct flag_change {
    uint32_t uid, dest_uid;
    const char *now; /* the source's flags now (msg_flags_key, borrowed) */
    char *add, *rem; /* NULL for a first record (no STORE) */
    int stored;
};

static int cmp_change(const void *a, const void *b)
{
    const struct flag_change *x = a, *y = b;
    int c = strcmp(x->add ? x->add : "", y->add ? y->add : "");
    return c ? c : strcmp(x->rem ? x->rem : "", y->rem ? y->rem : "");
}

/* Delta pass: carry to the destination (UID STORE +FLAGS / -FLAGS) the flags and keywords
 * changed at the source since they were last carried over, for the messages of fr already
 * copied (todo[j] == 0) whose destination UID is known in the folder instance selected now.
 * Flags changed at the destination meanwhile are left alone unless the source changed the
 * same flag. A message without recorded flags (copied by an older version) gets its
 * current source flags recorded. *updated_r = messages whose flags were stored. */
static int update_flags(struct folder_run *fr, const unsigned char *todo, size_t *updated_r,
                        struct mb_err *err)
{
    struct mig_ctx *m = fr->m;
    struct db_flag_row *rows = NULL;
    size_t n_rows = 0;
    *updated_r = 0;
    int rc = db_msgmap_flag_rows(m->db, m->job, fr->src_raw, fr->uidvalidity, fr->dest_raw,
                                 fr->dest_uidvalidity, &rows, &n_rows, err);
    if (rc)
        return rc;
    struct flag_change *ch = xcalloc(n_rows ? n_rows : 1, sizeof(*ch));
    size_t n_ch = 0, k = 0;
    for (size_t j = 0; j < fr->n && k < n_rows; j++) {
        if (todo[j])
            continue;
        struct msg *x = &fr->msgs[j];
        while (k < n_rows && rows[k].uid < x->uid)
            k++;
        if (k == n_rows || rows[k].uid != x->uid)
            continue;
        const char *now = msg_flags_key(x);
        if (rows[k].flags && strcmp(rows[k].flags, now) == 0)
            continue;
        struct flag_change *c = &ch[n_ch++];
        c->uid = x->uid;
        c->dest_uid = rows[k].dest_uid;
        c->now = now;
        if (rows[k].flags) {
            c->add = flags_minus(fr, now, rows[k].flags);
            c->rem = flags_minus(fr, rows[k].flags, now);
        }
    }
    db_msgmap_flag_rows_free(rows, n_rows);
    qsort(ch, n_ch, sizeof(*ch), cmp_change);
    /* One UID STORE per distinct change ("+(\Seen)", "-(\Flagged)"...) over all its UIDs,
     * all of them pipelined. */
    size_t n_groups = 0;
    for (size_t g = 0, e; g < n_ch; g = e, n_groups++)
        for (e = g + 1; e < n_ch && cmp_change(&ch[g], &ch[e]) == 0; e++)
            ;
    struct imap_pipe_cmd *cmds = xcalloc(2 * n_groups + 1, sizeof(*cmds));
    char **lines = xcalloc(2 * n_groups + 1, sizeof(*lines));
    size_t *grp = xcalloc(2 * n_groups + 1, sizeof(*grp)); /* first change of the command */
    size_t n_cmds = 0;
    for (size_t g = 0, e; g < n_ch; g = e) {
        for (e = g + 1; e < n_ch && cmp_change(&ch[g], &ch[e]) == 0; e++)
            ;
        for (int sign = 0; ch[g].add && sign < 2; sign++) {
            const char *what = sign ? ch[g].rem : ch[g].add;
            if (!*what)
                continue;
            struct buf cmd;
            buf_init(&cmd, (size_t)16 << 20);
            for (size_t i = g; i < e; i++)
                buf_printf(&cmd, "%s%u", i > g ? "," : " ", ch[i].dest_uid);
            buf_printf(&cmd, " %cFLAGS.SILENT (%s)", sign ? '-' : '+', what);
            size_t q = n_cmds++;
            lines[q] = buf_take(&cmd, NULL);
            grp[q] = g;
            cmds[q] = (struct imap_pipe_cmd){
                .verb = "UID STORE", .tail = lines[q], .ctx = IMAP_RESP_CTX_FOLDER};
        }
    }
    if (n_cmds) {
        struct mb_err serr = {0};
        int src = imap_client_pipeline(m->dst, cmds, n_cmds, NULL, NULL, &serr);
        if (src) {
            *err = serr;
            rc = src;
        }
    }
    /* A change is stored when every command of its group was answered OK. */
    for (size_t g = 0, e, q = 0; rc == 0 && g < n_ch; g = e) {
        for (e = g + 1; e < n_ch && cmp_change(&ch[g], &ch[e]) == 0; e++)
            ;
        int ok = 1;
        for (; q < n_cmds && grp[q] == g; q++) {
            if (cmds[q].rc == 0)
                continue;
            ok = 0;
            struct mb_err line;
            MB_MSG(&line, 0, LOG_FLAG_UPDATE_REFUSED, lines[q] + strcspn(lines[q], "+-"),
                   cmds[q].text);
            mig_log_msg(m, "warn", &line);
        }
        for (size_t i = g; ok && i < e; i++)
            ch[i].stored = 1;
    }
    for (size_t q = 0; q < n_cmds; q++)
        free(lines[q]);
    free(lines);
    free(grp);
    free(cmds);
    if (rc == 0 && n_ch) {
        rc = db_begin_job(m->db, err);
        for (size_t i = 0; rc == 0 && i < n_ch; i++) {
            if (!ch[i].stored)
                continue;
            rc = db_msgmap_set_flags(m->db, m->job, fr->src_raw, fr->uidvalidity, ch[i].uid,
                                     ch[i].now, err);
            if (rc == 0 && ch[i].add && (*ch[i].add || *ch[i].rem))
                (*updated_r)++;
        }
        if (rc == 0)
            rc = db_commit(m->db, err);
        else
            db_rollback(m->db);
    }
    for (size_t i = 0; i < n_ch; i++) {
        free(ch[i].add);
        free(ch[i].rem);
    }
    free(ch);
    return rc;
}

/* ---- delta passes: folders unchanged since the last clean pass (db_folder.h) ---- */

#define PLAN_ST_FULL                                                                               \
    (IMAP_STATUS_HAS_MESSAGES | IMAP_STATUS_HAS_UIDNEXT | IMAP_STATUS_HAS_UIDVALIDITY              \
     | IMAP_STATUS_HAS_HIGHESTMODSEQ)

/* After a folder's pass: remember its state when every message of it is accounted for (the
 * next pass may then leave it alone), else forget any earlier one. */
static int record_state(struct folder_run *fr, struct mb_err *err)
{
    struct mig_ctx *m = fr->m;
    struct mig_folder_report *rep = fr->rep;
    int64_t open = 0;
    int rc = 0;
    int clean = (rep->plan_st.have & PLAN_ST_FULL) == PLAN_ST_FULL && !rep->skip_reason
                && rep->failed == 0 && rep->vanished == 0
                && rep->plan_st.uidvalidity == fr->uidvalidity;
    if (clean)
        rc = db_folder_open_rows(m->db, m->job, fr->src_raw, &open, err);
    if (rc)
        return rc;
    if (!clean || open)
        return db_folder_forget(m->db, m->job, fr->src_raw, err);
    struct db_folder_state fs = {
        .uidvalidity = rep->plan_st.uidvalidity,
        .uidnext = rep->plan_st.uidnext,
        .messages = rep->plan_st.messages,
        .highestmodseq = rep->plan_st.highestmodseq,
        .dest_uidvalidity = fr->dest_uidvalidity,
        .counted = rep->source_count,
        .bytes = rep->source_bytes,
        .dest_count = rep->dest_count,
        .left_date = rep->excluded_date,
        .left_size = rep->excluded_size,
        .left_label = rep->excluded_label,
    };
    return db_folder_put(m->db, m->job, fr->src_raw, &fs, err);
}

char *mig_dest_raw(const struct mig_plan_entry *e)
{
    struct buf enc;
    buf_init(&enc, 8192);
    if (imap_utf7_encode(e->dest_name, strlen(e->dest_name), &enc) != 0) {
        buf_fini(&enc);
        return NULL;
    }
    return buf_take(&enc, NULL);
}

static void count_dest_apply(void *ctx, size_t k, const struct imap_status_info *st, int rc)
{
    struct mig_ctx *m = ((struct folder_idx *)ctx)->m;
    const size_t *idx = ((struct folder_idx *)ctx)->idx;
    if (rc == 0 && (st->have & IMAP_STATUS_HAS_MESSAGES))
        m->folders[idx[k]].dest_count = st->messages;
}

void mig_count_dest(struct mig_ctx *m)
{
    size_t n = 0, *idx = xcalloc(m->plan.n ? m->plan.n : 1, sizeof(*idx));
    char **dest = xcalloc(m->plan.n ? m->plan.n : 1, sizeof(*dest));
    for (size_t i = 0; i < m->plan.n; i++) {
        const struct mig_plan_entry *e = &m->plan.entries[i];
        const struct mig_folder_report *r = &m->folders[i];
        if (e->action == MIG_PLAN_SKIP || !e->dest_name || !r->done || r->error
            || r->dest_count >= 0)
            continue;
        if (!(dest[n] = mig_dest_raw(e)))
            continue;
        idx[n++] = i;
    }
    if (m->dst) {
        struct folder_idx ctx = {m, idx};
        struct mb_err err;
        mig_status_each(m->dst, (const char *const *)dest, n, count_dest_apply, &ctx, &err);
    }
    for (size_t k = 0; k < n; k++)
        free(dest[k]);
    free(dest);
    free(idx);
}

/* mig_skip_unchanged: what the folders were at the end of the last pass (was[k] for plan entry
 * idx[k]), and how many are left alone. */
struct unchanged_ctx {
    struct mig_ctx *m;
    const size_t *idx;
    const struct db_folder_state *was;
    size_t left_alone;
};

static void unchanged_apply(void *ctx, size_t k, const struct imap_status_info *st, int rc)
{
    struct unchanged_ctx *u = ctx;
    const struct db_folder_state *was = &u->was[k];
    /* The destination folders must be the instances the copies went to. */
    if (rc != 0 || !(st->have & IMAP_STATUS_HAS_UIDVALIDITY)
        || st->uidvalidity != was->dest_uidvalidity)
        return;
    struct mig_folder_report *r = &u->m->folders[u->idx[k]];
    r->unchanged = 1;
    r->sized = 1;
    r->source_count = was->counted;
    r->source_bytes = was->bytes;
    r->skipped = was->counted;
    r->excluded_date = was->left_date;
    r->excluded_size = was->left_size;
    r->excluded_label = was->left_label;
    if (st->have & IMAP_STATUS_HAS_MESSAGES)
        r->dest_count = st->messages;
    r->done = 1;
    u->left_alone++;
}

static int cmp_folder_raw(const void *a, const void *b)
{
    return strcmp((*(const struct imap_folder *const *)a)->raw,
                  (*(const struct imap_folder *const *)b)->raw);
}

static int cmp_raw_folder(const void *key, const void *f)
{
    return strcmp(key, (*(const struct imap_folder *const *)f)->raw);
}

/* The folder of that raw name in a listing sorted by raw name, or NULL (INBOX in any case:
 * the listing spells it "INBOX"). */
static const struct imap_folder *folder_listed(const struct imap_folder *const *sorted, size_t n,
                                               const char *raw)
{
    const char *key = strcasecmp(raw, "INBOX") == 0 ? "INBOX" : raw;
    const struct imap_folder *const *f = bsearch(key, sorted, n, sizeof(*sorted), cmp_raw_folder);
    return f ? *f : NULL;
}

int mig_skip_unchanged(struct mig_ctx *m, struct mb_err *err)
{
    size_t n = 0, *idx = xcalloc(m->plan.n ? m->plan.n : 1, sizeof(*idx));
    struct db_folder_state *was = xcalloc(m->plan.n ? m->plan.n : 1, sizeof(*was));
    char **dest = xcalloc(m->plan.n ? m->plan.n : 1, sizeof(*dest));
    /* The destination's listing by name: its STATUS where LIST-STATUS gave one. */
    const struct imap_folder **listed = xcalloc(m->dst_list.n ? m->dst_list.n : 1, sizeof(*listed));
    for (size_t k = 0; k < m->dst_list.n; k++)
        listed[k] = &m->dst_list.v[k];
    qsort(listed, m->dst_list.n, sizeof(*listed), cmp_folder_raw);
    struct unchanged_ctx u = {.m = m, .idx = idx, .was = was};
    int rc = 0;
    for (size_t i = 0; i < m->plan.n && !rc; i++) {
        const struct mig_plan_entry *e = &m->plan.entries[i];
        struct mig_folder_report *r = &m->folders[i];
        const struct imap_status_info *ps = &r->plan_st;
        if (e->action == MIG_PLAN_SKIP || !e->dest_name || r->done || r->passes
            || (ps->have & PLAN_ST_FULL) != PLAN_ST_FULL)
            continue;
        const char *src_raw = m->src_list.v[e->src_index].raw;
        int found = 0;
        int64_t open = 0;
        rc = db_folder_get(m->db, m->job, src_raw, &was[n], &found, err);
        if (!rc && found)
            rc = db_folder_open_rows(m->db, m->job, src_raw, &open, err);
        if (rc || !found || open || was[n].uidvalidity != ps->uidvalidity
            || was[n].uidnext != ps->uidnext || was[n].messages != ps->messages
            || was[n].highestmodseq != ps->highestmodseq)
            continue;
        if (!(dest[n] = mig_dest_raw(e)))
            continue;
        idx[n] = i;
        const struct imap_folder *f = folder_listed(listed, m->dst_list.n, dest[n]);
        if (f && (f->st.have & IMAP_STATUS_HAS_UIDVALIDITY)) {
            /* its STATUS came with the listing: decided now, the slot is reused */
            unchanged_apply(&u, n, &f->st, 0);
            XFREE(dest[n]);
            continue;
        }
        n++;
    }
    /* The others' destination STATUS in one pipelined exchange; a refusal leaves the folder to
     * be read. */
    if (!rc)
        rc = mig_status_each(m->dst, (const char *const *)dest, n, unchanged_apply, &u, err);
    if (u.left_alone) {
        struct mb_err line;
        MB_MSG(&line, 0, LOG_UNCHANGED, u.left_alone);
        mig_log_msg(m, "info", &line);
    }
    for (size_t k = 0; k < n; k++)
        free(dest[k]);
    free(dest);
    free(listed);
    free(was);
    free(idx);
    return rc;
}

int mig_copy_folder(struct mig_ctx *m, size_t i, struct mig_folder_report *rep, struct mb_err *err)
{
    const struct mig_plan_entry *e = &m->plan.entries[i];
    struct folder_run fr;
    memset(&fr, 0, sizeof(fr));
    fr.m = m;
    fr.rep = rep;
    fr.src_raw = m->src_list.v[e->src_index].raw;
    m->current_folder = e->src_name;
    int rc;

    fr.dest_raw = mig_dest_raw(e);
    if (!fr.dest_raw)
        return MB_MSG(err, MB_EFOLDER, FOLDER_ENCODE, e->dest_name);

    /* SELECT at the destination and EXAMINE at the source in one round trip. */
    rc = imap_client_select_send(m->dst, fr.dest_raw, 0, err);
    if (rc)
        goto out;
    struct imap_mailbox smb;
    struct mb_err serr = {0};
    int src_rc = imap_client_select(m->src, fr.src_raw, 1, &smb, &serr);
    rc = dest_select_finish(&fr, err);
    if (src_rc && !rc) {
        rc = src_rc;
        *err = serr;
    }
    if (src_rc == 0) {
        fr.uidvalidity = smb.uidvalidity;
        imap_client_mailbox_fini(&smb);
    }
    if (rc)
        goto out;
    uint32_t exists = smb.exists;

    int orphans = e->action == MIG_PLAN_ARCHIVE_ORPHANS;
    if (orphans && !m->src_has_gmail_ext) {
        rep->skip_reason = "archived messages cannot be told apart without Gmail's IMAP "
                           "extension (X-GM-EXT-1)";
        rep->skip_msg = MSG_SKIP_GMAIL_EXT;
        struct mb_err line, why;
        mig_skip_why(&why, rep->skip_msg, rep->skip_reason);
        MB_MSG(&line, 0, LOG_SKIPPED_NOW, e->src_name, &why);
        mig_log_msg(m, "warn", &line);
        rep->sized = 1;
        goto verify;
    }
    if (exists > 0) {
        const struct mig_options *o = m->req->options;
        struct meta_ctx mc = {
            .fr = &fr, .orphans_only = orphans, .log_left_out = rep->passes == 0, .plan_index = i};
        mc.labels_first = o && o->gmail_labels_first && m->src_has_gmail_ext && !orphans
                          && e->action == MIG_PLAN_COPY;
        if (o && o->gmail_labels_first && !m->src_has_gmail_ext && rep->passes == 0) {
            struct mb_err line;
            MB_MSG(&line, 0, LOG_GMAIL_LABELS_FIRST, e->src_name);
            mig_log_msg(m, "warn", &line);
        }
        rep->excluded_date = rep->excluded_size = rep->excluded_label = 0;
        rc = imap_fetch_meta(m->src, "1:*", orphans || mc.labels_first ? IMAP_FETCH_META_GMAIL : 0,
                             on_meta, &mc, err);
        if (rc == MB_EFOLDER)
            m->src_refused = 1;
        if (rc)
            goto out;
        if (fr.n) /* none kept (e.g. All Mail without archived messages): msgs is NULL */
            qsort(fr.msgs, fr.n, sizeof(*fr.msgs), cmp_msg);
    }
    if (!rep->sized) {
        /* messages_total counted the plan's STATUS (if the source answered it); now the real
         * number to copy is known. */
        rep->sized = 1;
        rep->source_count = (int64_t)fr.n;
        for (size_t j = 0; j < fr.n; j++)
            rep->source_bytes += (int64_t)fr.msgs[j].size;
    }
    rep->passes++;
    /* A new pass (after a reconnection) retries refused messages: count them again. */
    rep->failed = 0;

    /* Exactly once: re-key after a UIDVALIDITY change, then recover interrupted windows. */
    unsigned dst_sent = imap_client_commands_sent(m->dst);
    rc = mig_dedupe_uidvalidity(m, fr.src_raw, fr.uidvalidity, fr.dest_raw, err);
    if (rc)
        goto out;
    /* Copies recorded into a destination folder that has been recreated since (or that lives
     * on another platform) are gone: send those messages again. */
    int64_t gone = 0;
    rc = db_msgmap_forget_copied_elsewhere(m->db, m->job, fr.src_raw, fr.uidvalidity, fr.dest_raw,
                                           fr.dest_uidvalidity, &gone, err);
    if (rc)
        goto out;
    if (gone) {
        struct mb_err line;
        MB_MSG(&line, 0, LOG_DEST_UIDVALIDITY, e->src_name, e->dest_name, (long long)gone);
        mig_log_msg(m, "warn", &line);
    }
    size_t recovered = 0;
    int64_t recovered_bytes = 0;
    rc = mig_dedupe_recover(m, fr.src_raw, fr.uidvalidity, fr.dest_raw, fr.dest_uidvalidity,
                            &recovered, &recovered_bytes, err);
    if (rc)
        goto out;
    if (rep->passes > 1 && recovered) {
        /* Found again after a reconnection of this same run: this run copied them. */
        rep->copied += (int64_t)recovered;
        rep->copied_bytes += recovered_bytes;
    }
    /* Recovery may have fetched from the destination: select it again for the window (not
     * when it sent nothing there, the usual case: one round trip per folder saved). */
    if (imap_client_commands_sent(m->dst) != dst_sent) {
        rc = load_dest_state(&fr, err);
        if (rc)
            goto out;
    }

    struct db_uid_state *known = NULL;
    size_t n_known = 0;
    rc = db_msgmap_known_uids(m->db, m->job, fr.src_raw, fr.uidvalidity, &known, &n_known, err);
    if (rc)
        goto out;
    /* Keep only what is not copied yet (mig_xo_delta). */
    uint32_t *src_uids = xcalloc(fr.n ? fr.n : 1, sizeof(*src_uids));
    uint32_t *copied = xcalloc(n_known ? n_known : 1, sizeof(*copied));
    unsigned char *todo = xcalloc(fr.n ? fr.n : 1, 1);
    size_t n_copied = 0;
    for (size_t j = 0; j < fr.n; j++)
        src_uids[j] = fr.msgs[j].uid;
    for (size_t j = 0; j < n_known; j++)
        if (known[j].state == DB_MSG_COPIED)
            copied[n_copied++] = known[j].uid;
    free(known);
    int64_t already = (int64_t)mig_xo_delta(src_uids, fr.n, copied, n_copied, todo);
    /* Flags and keywords changed at the source since the last pass, on the messages already
     * copied. */
    size_t flags_updated = 0;
    if (already > 0)
        rc = update_flags(&fr, todo, &flags_updated, err);
    if (rc) {
        free(src_uids);
        free(copied);
        free(todo);
        goto out;
    }
    if (flags_updated) {
        struct mb_err line;
        MB_MSG(&line, 0, LOG_FLAGS_UPDATED, e->src_name, flags_updated);
        mig_log_msg(m, "info", &line);
    }
    size_t n_todo = 0;
    for (size_t j = 0; j < fr.n; j++) {
        if (todo[j])
            fr.msgs[n_todo++] = fr.msgs[j];
        else
            msg_fini(&fr.msgs[j]);
    }
    free(src_uids);
    free(copied);
    free(todo);
    /* Skipped = present from an earlier run, not what this run copied before a reconnection. */
    rep->skipped = mig_xo_skipped(already, rep->copied);
    size_t n_all = fr.n;
    fr.n = n_todo;
    if (n_all != n_todo) {
        struct mb_err line;
        MB_MSG(&line, 0, LOG_ALREADY_COPIED, e->src_name, n_all - n_todo);
        mig_log_msg(m, "info", &line);
    }

    imap_append_set_callback(m->dst, on_append_done, &fr);
    size_t full = m->req->preset->fetch_batch ? m->req->preset->fetch_batch : 100;
    if (!m->win_limit || m->win_limit > full)
        m->win_limit = full;
    for (size_t off = 0, n = 0; off < fr.n; off += n) {
        if (mig_should_stop(m)) {
            rc = mb_err_set(err, MB_ECANCELED, "cancelled");
            break;
        }
        /* Windows shrink after lost connections (mig_run) and grow back as they succeed. */
        size_t win = m->win_limit;
        n = fr.n - off < win ? fr.n - off : win;
        rc = copy_window(&fr, fr.msgs + off, n, err);
        if (!rc && !fr.folder_rc && imap_append_multi_active(m->dst))
            rc = retry_refused_alone(&fr, fr.msgs + off, n, err);
        if (!rc && !fr.folder_rc)
            rc = account_missing(&fr, fr.msgs + off, n, err);
        if (!rc && m->win_limit < full)
            m->win_limit = m->win_limit * 2 < full ? m->win_limit * 2 : full;
        mig_progress(m, 0);
        if (rc)
            break;
        if (fr.folder_rc) {
            rc = MB_MSG(err, MB_EFOLDER, DEST_REFUSED_MSGS, e->dest_name, fr.folder_err);
            break;
        }
    }
    imap_append_set_callback(m->dst, NULL, NULL);
    if (rc)
        goto out;
    /* Exactly once at any timing: copies stored late by connections that died before their
     * answer, after the messages were sent again, are removed (db_msgmap.h step 5). */
    size_t removed = 0;
    rc = mig_dedupe_reconcile(m, fr.dest_raw, fr.dest_uidvalidity, &removed, err);
    if (rc)
        goto out;

verify:
    /* The destination folder's message count is read for all folders at once at the end of
     * the run (mig_count_dest): a round trip per folder saved. */
    rep->done = 1;
    rc = record_state(&fr, err);
out:
    for (size_t j = 0; j < fr.n; j++)
        msg_fini(&fr.msgs[j]);
    free(fr.msgs);
    free(fr.dest_raw);
    free(fr.permanentflags);
    return rc;
}

int mig_reconcile_folder(struct mig_ctx *m, size_t i, struct mb_err *err)
{
    const struct mig_plan_entry *e = &m->plan.entries[i];
    if (!e->dest_name || e->action == MIG_PLAN_SKIP)
        return 0;
    struct folder_run fr;
    memset(&fr, 0, sizeof(fr));
    fr.m = m;
    fr.dest_raw = mig_dest_raw(e);
    if (!fr.dest_raw)
        return 0;
    m->current_folder = e->src_name;
    size_t removed = 0;
    int rc = load_dest_state(&fr, err);
    if (!rc)
        rc = mig_dedupe_reconcile(m, fr.dest_raw, fr.dest_uidvalidity, &removed, err);
    else if (rc == MB_EFOLDER)
        rc = 0; /* gone: nothing of it to reconcile */
    free(fr.dest_raw);
    free(fr.permanentflags);
    return rc;
}
