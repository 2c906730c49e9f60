/* mig_run: one migration from connection to verdict — folder plan, destination folders and
 * subscriptions, folder-by-folder copy, reconnection with backoff on transient errors,
 * the per-folder report. Also « Tester la connexion » (mig_check). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/clock.h"
#include "base/xalloc.h"
#include "db/db_job.h"
#include "db/db_msgmap.h"
#include "imap/imap_fetch.h"
#include "imap/imap_utf7.h"
#include "json/json_write.h"
#include "mig_dedupe.h"
#include "mig_internal.h"

#define FIRST_DROPS_MAX 4      /* first connections closed at once tried again before failing */
#define RECONNECT_MIN_MS 1000  /* first pause before reconnecting after a transient error */
#define RECONNECT_MAX_MS 60000 /* longest pause (a server's own hint may ask for longer) */
#define REPORT_FAILED_MAX 1000 /* refused messages listed in the report */

static const char *const tls_names[] = {"auto", "implicit", "starttls", "none"};

int mig_tls_parse(const char *s, enum mig_tls *tls_r)
{
    for (int i = 0; i < 4; i++)
        if (s && strcasecmp(s, tls_names[i]) == 0) {
            *tls_r = (enum mig_tls)i;
            return 0;
        }
    return MB_ECONFIG;
}

const char *mig_tls_name(enum mig_tls tls)
{
    return (unsigned)tls < 4 ? tls_names[tls] : "auto";
}

void mig_result_fini(struct mig_result *res)
{
    XFREE(res->report);
}

/* ---- folder plan ---- */

static enum mig_role role_of_flags(unsigned f)
{
    if (f & IMAP_FOLDER_SENT)
        return MIG_ROLE_SENT;
    if (f & IMAP_FOLDER_DRAFTS)
        return MIG_ROLE_DRAFTS;
    if (f & IMAP_FOLDER_TRASH)
        return MIG_ROLE_TRASH;
    if (f & IMAP_FOLDER_JUNK)
        return MIG_ROLE_JUNK;
    if (f & IMAP_FOLDER_ARCHIVE)
        return MIG_ROLE_ARCHIVE;
    if (f & IMAP_FOLDER_ALL)
        return MIG_ROLE_ALL;
    if (f & IMAP_FOLDER_FLAGGED)
        return MIG_ROLE_FLAGGED;
    if (f & IMAP_FOLDER_IMPORTANT)
        return MIG_ROLE_IMPORTANT;
    return MIG_ROLE_NONE;
}

struct side_buf {
    struct mig_folder_in *in;
    char *prefix;
    struct mig_side side;
};

static int side_from(struct imap_client *cli, const struct imap_folders *list, struct side_buf *sb,
                     struct mb_err *err)
{
    struct imap_namespaces ns;
    memset(&ns, 0, sizeof(ns));
    int rc = imap_client_namespace(cli, &ns, err);
    if (rc)
        return rc;
    struct buf pre;
    buf_init(&pre, 4096);
    char delim = 0;
    if (ns.npersonal) {
        if (imap_utf7_decode(ns.personal[0].prefix, strlen(ns.personal[0].prefix), &pre) != 0) {
            buf_reset(&pre);
            buf_puts(&pre, ns.personal[0].prefix);
        }
        delim = ns.personal[0].delim;
    }
    imap_client_namespaces_fini(&ns);
    if (!delim)
        for (size_t i = 0; i < list->n && !delim; i++)
            delim = list->v[i].delim;
    sb->prefix = buf_take(&pre, NULL);
    sb->in = xcalloc(list->n ? list->n : 1, sizeof(*sb->in));
    int special = imap_client_has_cap(cli, "SPECIAL-USE");
    for (size_t i = 0; i < list->n; i++) {
        const struct imap_folder *f = &list->v[i];
        sb->in[i].name = f->name;
        sb->in[i].flags = (f->flags & IMAP_FOLDER_NOSELECT ? MIG_F_NOSELECT : 0)
                          | (f->flags & IMAP_FOLDER_NONEXISTENT ? MIG_F_NONEXISTENT : 0)
                          | (f->subscribed ? MIG_F_SUBSCRIBED : 0);
        sb->in[i].special = role_of_flags(f->flags);
        if (sb->in[i].special != MIG_ROLE_NONE)
            special = 1;
    }
    sb->side = (struct mig_side){sb->prefix, delim, special, sb->in, list->n};
    return 0;
}

static void side_fini(struct side_buf *sb)
{
    free(sb->in);
    free(sb->prefix);
}

static void report_fini(struct mig_ctx *m);

/* The folder plan, learnt once per run: LIST on both sides and the plan. A connection lost
 * half-way leaves nothing behind (the next connection starts it again). */
static int build_plan(struct mig_ctx *m, struct mb_err *err)
{
    /* Where LIST-STATUS is offered the listing carries every folder's STATUS: the plan's
     * sizing (source) and the unchanged folders' check (destination) then cost no round
     * trip of their own. */
    int rc = imap_client_list(m->src, NULL, NULL, IMAP_LIST_STATUS, &m->src_list, err);
    if (!rc)
        rc = imap_client_list(m->dst, NULL, NULL, IMAP_LIST_STATUS, &m->dst_list, err);
    struct side_buf s = {0}, d = {0};
    if (!rc)
        rc = side_from(m->src, &m->src_list, &s, err);
    if (!rc)
        rc = side_from(m->dst, &m->dst_list, &d, err);
    if (!rc)
        rc = mig_plan_build_opts(&s.side, &d.side, m->req->preset, m->req->subscribed_only,
                                 m->req->options, &m->plan, err);
    side_fini(&s);
    side_fini(&d);
    if (rc) {
        report_fini(m);
        return rc;
    }
    m->folders = xcalloc(m->plan.n ? m->plan.n : 1, sizeof(*m->folders));
    for (size_t i = 0; i < m->plan.n; i++) {
        const struct mig_plan_entry *e = &m->plan.entries[i];
        struct mig_folder_report *r = &m->folders[i];
        r->source = xstrdup(e->src_name);
        r->dest = e->dest_name ? xstrdup(e->dest_name) : NULL;
        r->skip_reason = e->action == MIG_PLAN_SKIP ? e->skip_reason : NULL;
        r->skip_msg = e->action == MIG_PLAN_SKIP ? e->skip_msg : 0;
        r->dest_count = -1;
        r->listed = -1;
        struct mb_err line;
        int archive = e->action == MIG_PLAN_ARCHIVE_ORPHANS;
        struct mb_err why;
        if (e->action == MIG_PLAN_SKIP) {
            mig_skip_why(&why, e->skip_msg, e->skip_reason);
            MB_MSG(&line, 0, LOG_FOLDER_SKIPPED, e->src_name, &why);
        } else if (e->renamed && archive)
            MB_MSG(&line, 0, LOG_FOLDER_RENAMED_ARCHIVE, e->src_name, e->dest_name);
        else if (e->renamed)
            MB_MSG(&line, 0, LOG_FOLDER_RENAMED, e->src_name, e->dest_name);
        else if (archive)
            MB_MSG(&line, 0, LOG_FOLDER_ARCHIVE, e->src_name, e->dest_name);
        else
            MB_MSG(&line, 0, LOG_FOLDER_PLANNED, e->src_name, e->dest_name);
        mig_log_msg(m, "info", &line);
    }
    mig_step(m);
    return 0;
}

static void size_plan_apply(void *ctx, size_t k, const struct imap_status_info *st, int rc)
{
    struct mig_ctx *m = ((struct folder_idx *)ctx)->m;
    const size_t *idx = ((struct folder_idx *)ctx)->idx;
    if (rc == 1)
        return; /* not answered: asked again on the next connection */
    struct mig_folder_report *r = &m->folders[idx[k]];
    if (rc == 0 && (st->have & IMAP_STATUS_HAS_MESSAGES))
        r->listed = st->messages;
    if (rc == 0)
        r->plan_st = *st;
    r->status_asked = 1;
    mig_step(m);
}

/* Size the planned folders (STATUS) for the progress totals. Resumable: a folder asked once
 * is not asked again after a reconnection, so a source that drops the connection every few
 * commands still lets the plan advance; a folder the source will not size is sized when its
 * copy opens it. */
static int size_plan(struct mig_ctx *m, struct mb_err *err)
{
    size_t n = 0, *idx = xcalloc(m->plan.n ? m->plan.n : 1, sizeof(*idx));
    const char **names = xcalloc(m->plan.n ? m->plan.n : 1, sizeof(*names));
    for (size_t i = 0; i < m->plan.n; i++) {
        const struct mig_plan_entry *e = &m->plan.entries[i];
        const struct mig_folder_report *r = &m->folders[i];
        if (e->action == MIG_PLAN_SKIP || r->status_asked || r->sized || r->done)
            continue;
        const struct imap_folder *f = &m->src_list.v[e->src_index];
        if (f->st.have & IMAP_STATUS_HAS_MESSAGES) {
            /* given by the listing (LIST-STATUS) */
            struct folder_idx one = {m, &i};
            size_plan_apply(&one, 0, &f->st, 0);
            continue;
        }
        idx[n] = i;
        names[n++] = m->src_list.v[e->src_index].raw;
    }
    /* One pipelined exchange for all: a round trip per 64 folders, not per folder. What was
     * answered before a lost connection stays learnt; a refusal is not a loss (the totals are
     * completed as folders are copied). */
    struct folder_idx ctx = {m, idx};
    int rc = 0;
    if (!mig_should_stop(m))
        rc = mig_status_each(m->src, names, n, size_plan_apply, &ctx, err);
    free(idx);
    free(names);
    return rc;
}

/* One pipelined exchange of CREATE (create = 1) or SUBSCRIBE on the destination folders of plan
 * entries idx[0..n) (raw names): a refusal is logged and left to the copy (the folder may exist
 * already, created by an earlier attempt); a transient answer or a lost connection is returned. */
static int dest_pipeline(struct mig_ctx *m, int create, char **raw, const size_t *idx, size_t n,
                         struct mb_err *err)
{
    const char *verb = create ? "CREATE" : "SUBSCRIBE";
    if (!n)
        return 0;
    struct imap_pipe_cmd *cmds = xcalloc(n, sizeof(*cmds));
    for (size_t k = 0; k < n; k++)
        cmds[k] =
            (struct imap_pipe_cmd){.verb = verb, .mailbox = raw[k], .ctx = IMAP_RESP_CTX_FOLDER};
    int rc = imap_client_pipeline(m->dst, cmds, n, NULL, NULL, err);
    for (size_t k = 0; k < n && !rc; k++) {
        const struct mig_plan_entry *e = &m->plan.entries[idx[k]];
        if (cmds[k].rc == 0 || cmds[k].rc == 1)
            continue;
        if (cmds[k].rc == MB_EFOLDER && cmds[k].code == IMAP_CODE_ALREADYEXISTS)
            continue; /* CREATE: there already */
        if (cmds[k].rc == MB_EFOLDER && !mig_busy_text(cmds[k].text)) {
            struct mb_err line;
            if (create)
                MB_MSG(&line, 0, LOG_CREATE_FAILED, e->dest_name, cmds[k].text);
            else
                MB_MSG(&line, 0, LOG_SUBSCRIBE_FAILED, e->dest_name, cmds[k].text);
            mig_log_msg(m, "warn", &line);
            continue;
        }
        rc = mb_err_set(err, cmds[k].rc == MB_EFOLDER ? MB_ECONN : cmds[k].rc, "%s", cmds[k].text);
    }
    free(cmds);
    return rc;
}

/* The destination's special folders (Sent, Drafts, Trash, Junk, Archive...) opened once, in
 * one pipelined STATUS, before the run's other connections log in: a platform that creates
 * them on first use (Dovecot's "auto = create/subscribe") then does it in this one session.
 * Several sessions of one fresh mailbox creating them at once made Dovecot 2.3 panic on its
 * mailbox list index lock ("Resource deadlock avoided") and lose track of a folder's
 * messages for the next session. Refusals are ignored (best effort). */
static int open_special(struct mig_ctx *m, struct mb_err *err)
{
    size_t n = 0;
    const char **names = xcalloc(m->dst_list.n ? m->dst_list.n : 1, sizeof(*names));
    for (size_t i = 0; i < m->dst_list.n; i++) {
        const struct imap_folder *f = &m->dst_list.v[i];
        if ((f->flags & IMAP_FOLDER_SPECIAL_MASK)
            && !(f->flags & (IMAP_FOLDER_NOSELECT | IMAP_FOLDER_NONEXISTENT)))
            names[n++] = f->raw;
    }
    int rc = mig_status_each(m->dst, names, n, NULL, NULL, err);
    free(names);
    return rc;
}

/* Create the missing destination folders and reproduce subscriptions: all the CREATEs in one
 * pipelined exchange, then all the SUBSCRIBEs (a round trip per 64 folders, not two per
 * folder). */
static int prepare_dest(struct mig_ctx *m, struct mb_err *err)
{
    size_t n = m->plan.n ? m->plan.n : 1;
    char **raw = xcalloc(n, sizeof(*raw)), **craw = xcalloc(n, sizeof(*craw));
    char **sraw = xcalloc(n, sizeof(*sraw));
    size_t *cidx = xcalloc(n, sizeof(*cidx)), *sidx = xcalloc(n, sizeof(*sidx));
    size_t nc = 0, ns = 0;
    for (size_t i = 0; i < m->plan.n; i++) {
        const struct mig_plan_entry *e = &m->plan.entries[i];
        if (!e->dest_name || m->folders[i].done || !(raw[i] = mig_dest_raw(e)))
            continue;
        if (e->create && strcasecmp(e->dest_name, "INBOX") != 0) {
            cidx[nc] = i;
            craw[nc++] = raw[i];
        }
        if (e->subscribe) {
            sidx[ns] = i;
            sraw[ns++] = raw[i];
        }
    }
    int rc = dest_pipeline(m, 1, craw, cidx, nc, err);
    if (!rc)
        rc = dest_pipeline(m, 0, sraw, sidx, ns, err);
    if (!rc)
        rc = open_special(m, err);
    for (size_t i = 0; i < m->plan.n; i++)
        free(raw[i]);
    free(raw);
    free(craw);
    free(sraw);
    free(cidx);
    free(sidx);
    return rc;
}

/* ---- report ---- */

/* A reason's code and parameters (msg/msgcat.def) beside its English "reason": the API and the
 * UI word it in the reader's language. */
static void w_reason_code(struct json_w *w, const char *code, const char *params)
{
    json_w_kv_str(w, "reason_code", code);
    struct json_value *pv = NULL;
    struct mb_err perr;
    json_w_key(w, "reason_params");
    if (params && json_parse(params, strlen(params), NULL, &pv, &perr) == 0)
        json_w_value(w, pv);
    else
        json_w_null(w);
    json_free(&pv);
}

struct failed_ctx {
    struct json_w *w;
    size_t n;
};

static int on_failed_row(void *ctx, const struct db_msgmap_row *row)
{
    struct failed_ctx *fc = ctx;
    if (fc->n++ >= REPORT_FAILED_MAX)
        return 1;
    struct buf name;
    buf_init(&name, 8192);
    if (imap_utf7_decode(row->folder, strlen(row->folder), &name) != 0)
        buf_puts(&name, row->folder);
    json_w_obj_begin(fc->w);
    json_w_kv_str(fc->w, "folder", buf_cstr(&name));
    json_w_kv_int(fc->w, "uid", row->uid);
    json_w_kv_int(fc->w, "size", row->size);
    json_w_kv_str(fc->w, "reason", row->error);
    if (row->error_code)
        w_reason_code(fc->w, row->error_code, row->error_params);
    json_w_obj_end(fc->w);
    buf_fini(&name);
    return 0;
}

static char *build_report(struct mig_ctx *m)
{
    struct buf out;
    buf_init(&out, (size_t)32 << 20);
    struct json_w w;
    json_w_init(&w, &out);
    json_w_obj_begin(&w);
    json_w_key(&w, "folders");
    json_w_arr_begin(&w);
    for (size_t i = 0; m->folders && i < m->plan.n; i++) {
        const struct mig_folder_report *r = &m->folders[i];
        json_w_obj_begin(&w);
        json_w_kv_str(&w, "source", r->source);
        json_w_kv_str(&w, "dest", r->dest);
        json_w_kv_str(&w, "status",
                      r->skip_reason ? "skipped"
                      : r->error     ? "failed"
                      : r->done      ? "done"
                                     : "incomplete");
        json_w_kv_str(&w, "reason", r->skip_reason ? r->skip_reason : r->error);
        if (r->skip_reason && r->skip_msg) {
            struct mb_err why;
            char params[MB_ERR_PARAMS_LEN + 64];
            mig_skip_why(&why, r->skip_msg, r->skip_reason);
            w_reason_code(&w, mb_err_code(&why), mb_err_params(&why, params, sizeof(params)));
        } else if (!r->skip_reason && r->error && r->error_code) {
            w_reason_code(&w, r->error_code, r->error_params);
        }
        json_w_kv_int(&w, "source_count", r->source_count);
        if (r->dest_count >= 0)
            json_w_kv_int(&w, "dest_count", r->dest_count);
        else
            json_w_kv_null(&w, "dest_count");
        json_w_kv_int(&w, "copied", r->copied);
        json_w_kv_int(&w, "skipped", r->skipped);
        json_w_kv_int(&w, "failed", r->failed);
        json_w_kv_int(&w, "vanished", r->vanished);
        json_w_kv_bool(&w, "unchanged", r->unchanged);
        json_w_kv_int(&w, "excluded_by_date", r->excluded_date);
        json_w_kv_int(&w, "excluded_by_size", r->excluded_size);
        json_w_kv_int(&w, "excluded_by_label", r->excluded_label);
        json_w_obj_end(&w);
    }
    json_w_arr_end(&w);
    /* What the job's options left out, with the reason (never failures). */
    int64_t ex_folders = 0, ex_date = 0, ex_size = 0, ex_label = 0;
    for (size_t i = 0; m->folders && i < m->plan.n; i++) {
        const struct mig_folder_report *r = &m->folders[i];
        ex_folders += r->skip_reason && strcmp(r->skip_reason, MIG_PLAN_EXCLUDED) == 0;
        ex_date += r->excluded_date;
        ex_size += r->excluded_size;
        ex_label += r->excluded_label;
    }
    json_w_key(&w, "left_out");
    json_w_obj_begin(&w);
    json_w_kv_int(&w, "folders", ex_folders);
    json_w_kv_int(&w, "messages_by_date", ex_date);
    json_w_kv_int(&w, "messages_by_size", ex_size);
    json_w_kv_int(&w, "messages_by_label", ex_label);
    json_w_obj_end(&w);
    if (m->req->options && !mig_options_empty(m->req->options)) {
        json_w_key(&w, "options");
        json_w_obj_begin(&w);
        mig_options_write_members(&w, m->req->options);
        json_w_obj_end(&w);
    }
    json_w_key(&w, "failed_messages");
    json_w_arr_begin(&w);
    struct failed_ctx fc = {&w, 0};
    struct mb_err err;
    db_msgmap_foreach(m->db, m->job, NULL, 0, DB_MSG_FAILED, on_failed_row, &fc, &err);
    json_w_arr_end(&w);
    json_w_obj_end(&w);
    if (json_w_finish(&w) != 0) {
        buf_fini(&out);
        return xstrdup("{\"folders\":[],\"failed_messages\":[],\"truncated\":true}");
    }
    return buf_take(&out, NULL);
}

static void report_fini(struct mig_ctx *m)
{
    for (size_t i = 0; m->folders && i < m->plan.n; i++) {
        free(m->folders[i].source);
        free(m->folders[i].dest);
        free(m->folders[i].error);
        free(m->folders[i].error_code);
        free(m->folders[i].error_params);
    }
    XFREE(m->folders);
    mig_plan_fini(&m->plan);
    imap_client_folders_fini(&m->src_list);
    imap_client_folders_fini(&m->dst_list);
}

/* ---- the run ---- */

/* Exactly once at any timing (db_msgmap.h step 5): messages sent again after a connection
 * died before its answer stay unsettled until a reconciliation that began once their settle
 * time had come. Wait for it (cancellable) and reconcile each destination folder again. */
static void backoff_sleep(struct mig_ctx *m, long ms);

static int settle_all(struct mig_ctx *m, struct mb_err *err)
{
    for (int round = 0; round < 3 && !mig_should_stop(m); round++) {
        int64_t n = 0, settle_at = 0;
        int rc = db_msgmap_unsettled(m->db, m->job, &n, &settle_at, err);
        if (rc || n == 0)
            return rc;
        int64_t wait = settle_at - (int64_t)time(NULL);
        if (wait > 0) {
            struct mb_err line;
            MB_MSG(&line, 0, LOG_LATE_CHECK, (long long)n, (long long)wait);
            mig_log_msg(m, "info", &line);
            backoff_sleep(m, (long)(wait + 1) * 1000);
            if (mig_should_stop(m))
                return 0;
        }
        for (size_t i = 0; i < m->plan.n && !rc; i++)
            rc = mig_reconcile_folder(m, i, err);
        m->current_folder = NULL;
        if (rc)
            return rc;
    }
    return 0;
}

static int transient(int rc)
{
    return rc == MB_ECONN || rc == MB_EPROTO;
}

void mig_wait(struct mig_ctx *m, int (*done)(void *arg), void *arg, int64_t deadline_ms,
              int slice_ms, int until_stop)
{
    for (;;) {
        /* asked every slice even when it does not end the wait: it is how lane 0 learns of
         * « Annuler » and passes it on to the other lanes */
        int stop = mig_should_stop(m);
        if ((done && done(arg)) || (until_stop && stop))
            return;
        int64_t slice = slice_ms;
        if (deadline_ms > 0) {
            int64_t left = deadline_ms - mb_mono_ms();
            if (left <= 0)
                return;
            if (left < slice)
                slice = left;
        }
        struct timespec ts = {(time_t)(slice / 1000), (long)(slice % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        mig_progress(m, 0);
    }
}

/* Sleep up to ms, waking early on cancellation (asked through the progress hook too). */
static void backoff_sleep(struct mig_ctx *m, long ms)
{
    mig_wait(m, NULL, NULL, mb_mono_ms() + ms, 100, 1);
}

/* The IMAP clients' stop check while they wait for a server: shutdown, or « Annuler » seen
 * by the (rate-limited) progress hook. */
static int stop_waiting(void *ctx)
{
    struct mig_ctx *m = ctx;
    mig_progress(m, 0);
    return mig_should_stop(m);
}

long mig_backoff_hint_ms(const char *msg, long dflt)
{
    const char *p = strcasestr(msg, "Backoff Time");
    if (!p)
        return dflt;
    p += strlen("Backoff Time");
    while (*p && !isdigit((unsigned char)*p))
        p++;
    long v = strtol(p, NULL, 10);
    return v > 0 && v < 600000 ? v : dflt;
}

int mig_limit_text(const char *msg)
{
    /* Gmail: "[ALERT] Account exceeded command or bandwidth limits" once the day's download
     * allowance (about 2.5 GB) is used: hours, not seconds. */
    return msg
           && (strcasestr(msg, "exceeded command or bandwidth limits")
               || strcasestr(msg, "bandwidth limit exceeded"));
}

int mig_busy_text(const char *msg)
{
    /* Not "[OVERQUOTA]": from the destination it means the mailbox is full, which waiting
     * does not cure (the folder is reported instead). */
    static const char *const words[] = {
        "[THROTTLED]",
        "[UNAVAILABLE]",
        "Suggested Backoff Time",
        "Too many simultaneous connections",
        "exceeded command or bandwidth limits",
        "Server Unavailable",
        "try again later",
        NULL,
    };
    for (int i = 0; msg && words[i]; i++)
        if (strcasestr(msg, words[i]))
            return 1;
    return 0;
}

static void set_failed(struct mig_result *res, int is_transient, const struct mb_err *why)
{
    res->state = DB_JOB_FAILED;
    res->transient = is_transient;
    res->error = *why;
}

/* Something moved since stamp was taken: a message copied or refused, a folder done, a plan
 * step learnt. */
static uint64_t progress_stamp(struct mig_ctx *m)
{
    struct db_job_counters c;
    mig_counters(m, &c);
    return (uint64_t)c.messages_copied + (uint64_t)c.bytes_copied + (uint64_t)c.folders_done
           + mig_steps(m);
}

int mig_run(const struct config *cfg, struct db *db, int64_t job_id, const struct mig_request *req,
            const struct mig_hooks *hooks, struct mig_result *res, struct mb_err *errp)
{
    struct mig_ctx m;
    memset(&m, 0, sizeof(m));
    memset(res, 0, sizeof(*res));
    m.cfg = cfg;
    m.db = db;
    m.job = job_id;
    m.req = req;
    m.hooks = hooks;
    m.res = res;
    clock_gettime(CLOCK_MONOTONIC, &m.last_progress);
    mig_shared_init(&m);
    struct mb_err err = {0};
    int rc = 0, local = 0;
    long delay_ms = RECONNECT_MIN_MS;
    /* Transient errors never fail a run that is still moving: it fails only after
     * [sources] give_up_after without any progress. */
    int64_t give_up = cfg->sources.give_up_after > 0 ? cfg->sources.give_up_after : 21600;
    int64_t last_moved = (mb_mono_ms() / 1000);
    uint64_t stamp = progress_stamp(&m);
    int64_t paused = 0;

    /* Exactly once across jobs: what earlier jobs for the same mailbox pair copied counts as
     * copied here (db_msgmap_inherit). */
    int64_t inherited = 0;
    rc = db_msgmap_inherit(db, job_id, &inherited, &err);
    if (rc != 0) {
        mig_shared_fini(&m);
        if (errp)
            *errp = err;
        return rc;
    }
    if (inherited > 0) {
        struct mb_err line;
        MB_MSG(&line, 0, LOG_INHERITED, (long long)inherited);
        mig_log_msg(&m, "info", &line);
    }

    int dropped_first = 0;
    for (int attempt = 1;; attempt++) {
        if (attempt > 1) {
            if (progress_stamp(&m) != stamp) {
                stamp = progress_stamp(&m);
                last_moved = (mb_mono_ms() / 1000);
                delay_ms = mig_backoff_hint_ms(err.msg, RECONNECT_MIN_MS);
            }
            int64_t idle = (mb_mono_ms() / 1000) - last_moved;
            if (idle + delay_ms / 1000 > give_up) {
                struct mb_err line;
                MB_MSG(&line, 0, LOG_GIVING_UP, (long long)idle, &err);
                mig_log_msg(&m, "error", &line);
                break;
            }
            if (delay_ms > 0) {
                struct mb_err line;
                MB_MSG(&line, 0, LOG_RECONNECTING, &err, (long)((delay_ms + 999) / 1000), attempt);
                mig_log_msg(&m, "warn", &line);
                backoff_sleep(&m, delay_ms);
            }
            delay_ms = delay_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS
                       : delay_ms                      ? delay_ms * 2
                                                       : RECONNECT_MIN_MS;
        }
        if (mig_should_stop(&m))
            break;
        int64_t conn_t0 = mb_mono_ms();
        rc = mig_connect_source(&m, &err);
        if (rc && !m.src_connected) {
            /* The very first connection: an unknown host, a refused connection, a TLS failure
             * or a silent port is the job's input, not a passing problem: fail now — unless
             * the server said it is busy or throttling, or accepted the connection and closed
             * it at once (a server at its connection limit; its address is right), a few
             * times (FIRST_DROPS_MAX, with the usual backoff: about 15 s in all). */
            if (transient(rc) && !mig_busy_text(err.msg)
                && !(m.src_dropped && dropped_first++ < FIRST_DROPS_MAX))
                rc = MB_ECONFIG;
        } else if (!rc) {
            m.src_connected = 1;
        }
        if (rc && mig_busy_text(err.msg))
            rc = MB_ECONN; /* "[UNAVAILABLE]", "Too many simultaneous connections"... */
        if (!rc)
            imap_client_set_cancel(m.src, stop_waiting, &m);
        if (!rc)
            rc = mig_connect_dest(cfg, req->dest_login, &m.dst, &err);
        if (!rc) {
            m.conn_ms = mb_mono_ms() - conn_t0;
            imap_client_set_cancel(m.dst, stop_waiting, &m);
            if (!m.folders) {
                char source[300];
                snprintf(source, sizeof(source), "%s:%u", m.src_host, m.src_port);
                struct mb_err line;
                MB_MSG(&line, 0, LOG_CONNECTED, source, req->source_login, req->dest_login);
                mig_log_msg(&m, "info", &line);
            }
        }
        if (!rc && !m.folders)
            rc = build_plan(&m, &err);
        if (!rc)
            rc = size_plan(&m, &err);
        if (!rc)
            rc = prepare_dest(&m, &err);
        if (!rc)
            rc = mig_skip_unchanged(&m, &err);
        if (!rc)
            rc = mig_lanes_copy(&m, &err);
        if (!rc && !mig_should_stop(&m))
            rc = settle_all(&m, &err);
        if (!rc && !mig_should_stop(&m))
            mig_count_dest(&m);
        if (rc && rc != MB_ECANCELED && rc != MB_EIO && mig_busy_text(err.msg))
            rc = MB_ECONN; /* a busy or throttling server, whatever the command refused */
        if (rc == MB_ECONN)
            delay_ms = mig_backoff_hint_ms(err.msg, delay_ms);
        mig_disconnect(&m);
        if (rc == MB_EIO) {
            /* The local database failed: not the job's fault; the caller retries it. */
            local = rc;
            break;
        }
        if (!transient(rc) || mig_should_stop(&m))
            break;
        if (mig_limit_text(err.msg)) {
            /* A long limit: pause (not counted as time without progress), then go on. */
            int64_t resume = (int64_t)time(NULL) + cfg->sources.limit_pause;
            char at[32];
            struct tm tm;
            time_t rt = (time_t)resume;
            strftime(at, sizeof(at), "%H:%M", localtime_r(&rt, &tm));
            struct mb_err line;
            MB_MSG(&line, 0, LOG_LIMIT_PAUSED, &err, at);
            mig_log_msg(&m, "warn", &line);
            if (hooks && hooks->pause_returns) {
                paused = resume;
                break;
            }
            backoff_sleep(&m, (long)cfg->sources.limit_pause * 1000);
            last_moved = (mb_mono_ms() / 1000);
            stamp = progress_stamp(&m);
            delay_ms = 0;
        }
    }
    m.current_folder = NULL;
    mig_progress(&m, 1);

    if (mig_should_stop(&m) || rc == MB_ECANCELED) {
        struct mb_err cancelled;
        MB_MSG0(&cancelled, MB_ECANCELED, JOB_CANCELLED); /* "cancelled" */
        set_failed(res, 0, &cancelled);
    } else if (paused) {
        res->state = DB_JOB_PENDING;
        res->resume_at = paused;
        res->error = err;
    } else if (rc) {
        /* Transient errors reach here only after give_up_after without progress: retrying
         * at once would not help, the job fails (a « Relancer » starts it again). */
        set_failed(res, 0, &err);
    } else {
        res->state = DB_JOB_DONE;
    }
    mig_counters(&m, &res->counters);
    res->report = build_report(&m);
    mig_shared_fini(&m);
    report_fini(&m);
    mig_dedupe_cache_fini(&m);
    if (local) {
        if (errp)
            *errp = err;
        return local;
    }
    return 0;
}

/* ---- « Tester la connexion » ---- */

void mig_check_result_fini(struct mig_check_result *res)
{
    for (size_t i = 0; i < res->n_folders; i++)
        free(res->folders[i].name);
    XFREE(res->folders);
    res->n_folders = 0;
}

struct size_ctx {
    int64_t bytes;
};

static int on_size(void *ctx, const struct imap_msg_meta *mm)
{
    ((struct size_ctx *)ctx)->bytes += (int64_t)mm->size;
    return 0;
}

int mig_check(const struct config *cfg, const struct mig_request *req, struct mig_check_result *res)
{
    memset(res, 0, sizeof(*res));
    struct mig_ctx m;
    memset(&m, 0, sizeof(m));
    m.cfg = cfg;
    m.req = req;
    struct mb_err err = {0};
    int rc = mig_connect_source(&m, &err);
    if (rc) {
        res->source_error = err;
    } else {
        struct imap_folders list;
        memset(&list, 0, sizeof(list));
        rc = imap_client_list(m.src, NULL, NULL,
                              req->subscribed_only ? IMAP_LIST_SUBSCRIBED_ONLY : 0, &list, &err);
        if (!rc) {
            res->folders = xcalloc(list.n ? list.n : 1, sizeof(*res->folders));
            for (size_t i = 0; i < list.n && !rc; i++) {
                const struct imap_folder *f = &list.v[i];
                if (f->flags & (IMAP_FOLDER_NOSELECT | IMAP_FOLDER_NONEXISTENT))
                    continue;
                struct imap_mailbox mb;
                memset(&mb, 0, sizeof(mb));
                rc = imap_client_select(m.src, f->raw, 1, &mb, &err);
                if (rc == MB_EFOLDER) {
                    rc = 0;
                    continue;
                }
                if (rc)
                    break;
                struct size_ctx sc = {0};
                if (mb.exists)
                    rc = imap_fetch_meta(m.src, "1:*", 0, on_size, &sc, &err);
                struct mig_check_folder *cf = &res->folders[res->n_folders++];
                cf->name = xstrdup(f->name);
                cf->messages = mb.exists;
                cf->bytes = sc.bytes;
                res->messages += mb.exists;
                res->bytes += sc.bytes;
                imap_client_mailbox_fini(&mb);
            }
        }
        imap_client_folders_fini(&list);
        if (rc)
            res->source_error = err;
        else
            res->source_ok = 1;
    }
    struct imap_client *dst = NULL;
    rc = mig_connect_dest(cfg, req->dest_login, &dst, &err);
    if (rc) {
        res->dest_error = err;
    } else {
        res->dest_ok = 1;
        int found = 0;
        uint64_t used = 0, limit = 0;
        /* A server that refuses GETQUOTAROOT (or has no quota) simply shows no quota line. */
        if (imap_client_has_cap(dst, "QUOTA")
            && imap_client_quota_storage(dst, "INBOX", &found, &used, &limit, &err) == 0 && found
            && limit <= INT64_MAX && used <= INT64_MAX) {
            res->quota_known = 1;
            res->quota_used = (int64_t)used;
            res->quota_limit = (int64_t)limit;
        }
        imap_client_logout(dst, &err);
        imap_client_free(&dst);
    }
    mig_disconnect(&m);
    return 0;
}
