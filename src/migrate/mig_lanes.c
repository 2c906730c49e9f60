/* mig_lanes: folder-level concurrency within one run, and the run's counters.
 *
 * A run copies its folders on up to [sources] connections_per_job connection pairs ("lanes"):
 * lane 0 is mig_run's own (the caller's thread), the others run in threads of their own with
 * their own connections, database handle and reconciliation cache. While one folder's round
 * trips wait (SELECT, EXAMINE, the metadata FETCH, the APPEND completions), another folder's
 * messages flow: at 50 ms of round trip, many small folders cost the round trips of the
 * slowest lane instead of the sum of all.
 *
 * Rules that keep exactly-once intact (docs/ARCHITECTURE.md):
 *  - a folder is copied by one lane at a time (claimed under the lock);
 *  - two folders going to the same destination folder are never copied at once (the
 *    reconciliation of a destination folder must not see another lane's window in flight);
 *  - every lane records its windows in the shared message map, each in its own transaction
 *    on its own database handle; the final settle and reconciliation run on lane 0 after
 *    every other lane has ended.
 * A lane that cannot connect (the server's connection limit, the per-host cap) simply does
 * not start; one that loses its connection gives its folder back and ends: the folder goes
 * to another lane, or to lane 0's next connection. Only lane 0 calls the hooks: the other
 * lanes' log lines are queued for it, and their folder reports are published under the lock
 * from which lane 0 derives the counters. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/xalloc.h"
#include "db/db.h"
#include "mig_dedupe.h"
#include "mig_internal.h"

#define SRC_REFUSALS_MAX 3 /* new connections tried when a source refuses a folder's FETCH */
#define RELAY_MAX 10000    /* queued log lines of the other lanes, at most */

struct relay_line {
    char level[8];
    struct mb_err *msg; /* the line, wrapped in log_lane ("[connection N] ") */
};

struct mig_shared {
    pthread_mutex_t mu;
    struct mig_ctx *main;
    unsigned char *busy; /* plan.n: a lane is copying the folder */
    size_t n_busy_cap;
    struct relay_line *q;
    size_t nq, capq, dropped;
    atomic_int cancelled;
    atomic_llong steps;
    int fatal; /* MB_EIO of a lane's database */
    struct mb_err fatal_err;
    /* A lane met the source's long limit (Gmail's daily download limit, for the whole
     * account): no lane takes another folder, and the run pauses (mig_run). */
    int halt;
    struct mb_err limit_err;
    /* A lane was throttled: no lane takes another folder before this (monotonic ms), the
     * server's back-off hint. */
    int64_t quiet_until;
    /* Messages per window a lane learnt while its link broke in the middle of a folder (0 =
     * none): the next connections start with windows this small. */
    size_t win_hint;
    atomic_int alive; /* helper lanes still running */
};

int mig_shared_init(struct mig_ctx *m)
{
    struct mig_shared *sh = xcalloc(1, sizeof(*sh));
    pthread_mutex_init(&sh->mu, NULL);
    sh->main = m;
    atomic_init(&sh->cancelled, 0);
    atomic_init(&sh->steps, 0);
    atomic_init(&sh->alive, 0);
    m->sh = sh;
    return 0;
}

void mig_shared_fini(struct mig_ctx *m)
{
    struct mig_shared *sh = m->sh;
    if (!sh)
        return;
    mig_lane_flush(m);
    for (size_t i = 0; i < sh->nq; i++)
        free(sh->q[i].msg);
    free(sh->q);
    free(sh->busy);
    pthread_mutex_destroy(&sh->mu);
    free(sh);
    m->sh = NULL;
}

void mig_step(struct mig_ctx *m)
{
    if (m->sh)
        atomic_fetch_add(&m->sh->steps, 1);
}

uint64_t mig_steps(struct mig_ctx *m)
{
    return m->sh ? (uint64_t)atomic_load(&m->sh->steps) : 0;
}

int mig_lane_cancelled(const struct mig_ctx *m)
{
    return m->sh && atomic_load(&m->sh->cancelled);
}

void mig_lane_cancel(struct mig_ctx *m)
{
    if (m->sh)
        atomic_store(&m->sh->cancelled, 1);
}

/* ---- counters: one place ---- */

static void add_report(struct db_job_counters *c, const struct mig_folder_report *r)
{
    c->folders_total++;
    if (r->done && !r->error)
        c->folders_done++;
    /* Until the folder is opened, the plan's STATUS (when the source answered it); then the
     * messages it really has to copy. */
    c->messages_total += r->sized ? r->source_count : (r->listed > 0 ? r->listed : 0);
    c->bytes_total += r->sized ? r->source_bytes : 0;
    c->messages_copied += r->copied;
    c->bytes_copied += r->copied_bytes;
    c->messages_skipped += r->skipped;
    c->messages_failed += r->failed;
}

void mig_counters(struct mig_ctx *m, struct db_job_counters *c)
{
    memset(c, 0, sizeof(*c));
    struct mig_ctx *z = m->sh ? m->sh->main : m;
    if (m->sh)
        pthread_mutex_lock(&m->sh->mu);
    for (size_t i = 0; z->folders && i < z->plan.n; i++)
        if (z->plan.entries[i].action != MIG_PLAN_SKIP)
            add_report(c, &z->folders[i]);
    if (m->sh)
        pthread_mutex_unlock(&m->sh->mu);
}

/* ---- relays ---- */

/* A free slot of the queue (under the lock), or NULL when it is full. */
static struct relay_line *relay_slot(struct mig_shared *sh, const char *level)
{
    if (sh->nq >= RELAY_MAX) {
        sh->dropped++;
        return NULL;
    }
    if (sh->nq == sh->capq) {
        sh->capq = sh->capq ? sh->capq * 2 : 16;
        sh->q = xrealloc(sh->q, sh->capq * sizeof(*sh->q));
    }
    struct relay_line *r = &sh->q[sh->nq++];
    snprintf(r->level, sizeof(r->level), "%s", level);
    r->msg = NULL;
    return r;
}

int mig_lane_relay_msg(struct mig_ctx *m, const char *level, const struct mb_err *line)
{
    struct mig_shared *sh = m->sh;
    if (!sh)
        return 0;
    struct mb_err *w = xmalloc(sizeof(*w));
    MB_MSG(w, 0, LOG_LANE, m->lane + 1, line); /* "[connection N] " and the line, coded */
    pthread_mutex_lock(&sh->mu);
    struct relay_line *r = relay_slot(sh, level);
    if (r) {
        r->msg = w;
        w = NULL;
    }
    pthread_mutex_unlock(&sh->mu);
    free(w);
    return 0;
}

void mig_lane_flush(struct mig_ctx *m)
{
    struct mig_shared *sh = m->sh;
    if (!sh || m->lane)
        return;
    pthread_mutex_lock(&sh->mu);
    struct relay_line *q = sh->q;
    size_t n = sh->nq, dropped = sh->dropped;
    sh->q = NULL;
    sh->nq = sh->capq = sh->dropped = 0;
    pthread_mutex_unlock(&sh->mu);
    const struct mig_hooks *h = m->hooks;
    for (size_t i = 0; i < n; i++) {
        if (h && h->log_msg)
            h->log_msg(h->ctx, q[i].level, q[i].msg);
        else if (h && h->log)
            h->log(h->ctx, q[i].level, q[i].msg->msg);
        free(q[i].msg);
    }
    free(q);
    if (dropped && h && (h->log_msg || h->log)) {
        struct mb_err line;
        MB_MSG(&line, 0, LOG_LANE_DROPPED, dropped);
        if (h->log_msg)
            h->log_msg(h->ctx, "warn", &line);
        else
            h->log(h->ctx, "warn", line.msg);
    }
}

void mig_reports_lock(struct mig_ctx *m)
{
    if (m->sh)
        pthread_mutex_lock(&m->sh->mu);
}

void mig_reports_unlock(struct mig_ctx *m)
{
    if (m->sh)
        pthread_mutex_unlock(&m->sh->mu);
}

void mig_lane_publish(struct mig_ctx *m)
{
    struct mig_shared *sh = m->sh;
    if (!sh || !m->rep_live)
        return;
    pthread_mutex_lock(&sh->mu);
    sh->main->folders[m->rep_index] = *m->rep_live;
    pthread_mutex_unlock(&sh->mu);
}

const char *mig_lane_folder(struct mig_ctx *m)
{
    struct mig_shared *sh = m->sh;
    if (!sh)
        return NULL;
    const char *name = NULL;
    pthread_mutex_lock(&sh->mu);
    for (size_t i = 0; sh->busy && i < sh->main->plan.n && !name; i++)
        if (sh->busy[i])
            name = sh->main->plan.entries[i].src_name;
    pthread_mutex_unlock(&sh->mu);
    return name;
}

/* ---- claiming folders ---- */

static int same_dest(const struct mig_plan_entry *a, const struct mig_plan_entry *b)
{
    return a->dest_name && b->dest_name && strcmp(a->dest_name, b->dest_name) == 0;
}

/* The servers' request to back off is over (sh->quiet_until, which a lane may push back). */
static int quiet_over(void *arg)
{
    struct mig_shared *sh = arg;
    pthread_mutex_lock(&sh->mu);
    int over = sh->quiet_until <= mb_mono_ms();
    pthread_mutex_unlock(&sh->mu);
    return over;
}

static int lanes_ended(void *arg)
{
    struct mig_shared *sh = arg;
    return atomic_load(&sh->alive) == 0;
}

/* Folder i is still to copy (not skipped by the plan, not done): claim()'s and count_free()'s
 * one rule. */
static int folder_to_copy(const struct mig_ctx *z, size_t i)
{
    return z->plan.entries[i].action != MIG_PLAN_SKIP && !z->folders[i].done;
}

/* The next folder to copy (the biggest free one), marked busy: 1, or 0 when none is free. Waits
 * first while the server asked a lane to back off. */
static int claim(struct mig_ctx *m, size_t *i_r)
{
    struct mig_shared *sh = m->sh;
    struct mig_ctx *z = sh->main;
    int found = 0;
    mig_wait(m, quiet_over, sh, 0, 100, 1);
    pthread_mutex_lock(&sh->mu);
    if (sh->n_busy_cap < z->plan.n) {
        sh->busy = xrealloc(sh->busy, z->plan.n);
        memset(sh->busy + sh->n_busy_cap, 0, z->plan.n - sh->n_busy_cap);
        sh->n_busy_cap = z->plan.n;
    }
    /* The biggest folder first (messages at plan time; the plan's order among equals): the
     * largest folder, often INBOX, which the plan lists last, no longer starts after the
     * small ones, and the lanes end together. */
    int64_t best = -1;
    for (size_t i = 0; i < z->plan.n && !sh->halt; i++) {
        const struct mig_plan_entry *e = &z->plan.entries[i];
        if (!folder_to_copy(z, i) || sh->busy[i])
            continue;
        int clash = 0;
        for (size_t j = 0; j < z->plan.n && !clash; j++)
            clash = sh->busy[j] && same_dest(e, &z->plan.entries[j]);
        if (clash)
            continue;
        int64_t size = z->folders[i].listed > 0 ? z->folders[i].listed : 0;
        if (size > best) {
            best = size;
            *i_r = i;
            found = 1;
        }
    }
    if (found)
        sh->busy[*i_r] = 1;
    pthread_mutex_unlock(&sh->mu);
    return found;
}

static size_t count_free(struct mig_ctx *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->plan.n; i++)
        n += folder_to_copy(m, i);
    return n;
}

/* What a folder's copy came to: 0 to go on with the next folder, or the error that ends the
 * lane (the folder is not done: another lane or connection takes it). */
static int folder_outcome(struct mig_ctx *m, size_t i, struct mig_folder_report *r, int rc,
                          struct mb_err *err)
{
    const struct mig_plan_entry *e = &m->plan.entries[i];
    if (rc == MB_EFOLDER && mig_busy_text(err->msg))
        rc = MB_ECONN; /* "NO Server Unavailable", "[THROTTLED]"...: later, not never */
    if (rc == MB_EFOLDER && m->src_refused && r->refusals++ < SRC_REFUSALS_MAX) {
        /* The source opened the folder but refused to send its messages: a busy server
         * (Exchange's "NO Server Unavailable. 15"). Try again on a new connection; what was
         * copied stays copied. */
        char name[104];
        snprintf(name, sizeof(name), "%.100s", e->src_name);
        struct mb_err why = *err;   /* copied: err is rewritten */
        if (why.msg_id == MSG_TEXT) /* the server's words, cut as before */
            mb_err_set(&why, err->code, "%.150s", err->msg);
        return MB_MSG(err, MB_ECONN, SRC_REFUSED_SEND, name, &why);
    }
    if (rc == MB_EFOLDER) {
        struct mb_err line;
        MB_MSG(&line, 0, LOG_FOLDER_FAILED, e->src_name, err);
        mig_log_msg(m, "error", &line);
        r->done = 1;
        free(r->error);
        r->error = xstrdup(err->msg);
        free(r->error_code);
        r->error_code = xstrdup(mb_err_code(err));
        char params[MB_ERR_PARAMS_LEN + 64];
        free(r->error_params);
        r->error_params = xstrdup(mb_err_params(err, params, sizeof(params)));
        /* Every message of the folder not copied (nor there already) is lost to this run:
         * count it, the verdict must not read "0 refused". */
        int64_t total = r->sized ? r->source_count : r->listed;
        int64_t lost = total - r->copied - r->skipped;
        r->failed = lost < 0 ? 0 : lost;
        return 0;
    }
    if (rc == 0) {
        struct mb_err line;
        MB_MSG(&line, 0, LOG_FOLDER_DONE, e->src_name, (long long)r->copied, (long long)r->skipped,
               (long long)r->failed);
        mig_log_msg(m, "info", &line);
    }
    return rc;
}

/* Copy folders until none is free or the lane's connection fails. */
static int lane_loop(struct mig_ctx *m, struct mb_err *err)
{
    struct mig_shared *sh = m->sh;
    size_t i;
    while (!mig_should_stop(m) && claim(m, &i)) {
        struct mig_folder_report rep;
        pthread_mutex_lock(&sh->mu);
        rep = sh->main->folders[i];
        pthread_mutex_unlock(&sh->mu);
        m->rep_live = &rep;
        m->rep_index = i;
        m->src_refused = 0;
        int rc = mig_copy_folder(m, i, &rep, err);
        rc = folder_outcome(m, i, &rep, rc, err);
        if ((rc == MB_ECONN || rc == MB_EPROTO) && m->current_folder && m->win_limit > 1) {
            /* Lost in the middle of a folder: a link that breaks every few hundred KB still
             * lets smaller windows (one MULTIAPPEND each) through. */
            m->win_limit = (m->win_limit + 1) / 2;
            struct mb_err line;
            MB_MSG(&line, 0, LOG_WINDOWS, m->win_limit);
            mig_log_msg(m, "info", &line);
            pthread_mutex_lock(&sh->mu);
            if (!sh->win_hint || m->win_limit < sh->win_hint)
                sh->win_hint = m->win_limit;
            pthread_mutex_unlock(&sh->mu);
        }
        pthread_mutex_lock(&sh->mu);
        sh->main->folders[i] = rep;
        sh->busy[i] = 0;
        pthread_mutex_unlock(&sh->mu);
        m->rep_live = NULL;
        m->current_folder = NULL;
        mig_progress(m, 0);
        if (rc && mig_limit_text(err->msg)) {
            pthread_mutex_lock(&sh->mu);
            if (!sh->halt)
                sh->limit_err = *err;
            sh->halt = 1;
            pthread_mutex_unlock(&sh->mu);
        } else if (rc && mig_busy_text(err->msg)) {
            /* Throttled: this lane ends (fewer connections is often what the server wants)
             * and the others take no new folder before the server's back-off has passed. */
            int64_t until = mb_mono_ms() + mig_backoff_hint_ms(err->msg, 1000);
            pthread_mutex_lock(&sh->mu);
            if (until > sh->quiet_until)
                sh->quiet_until = until;
            pthread_mutex_unlock(&sh->mu);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int lane_stop_waiting(void *ctx)
{
    return mig_should_stop(ctx);
}

static void *lane_main(void *arg)
{
    struct mig_ctx *l = arg;
    struct mig_shared *sh = l->sh;
    struct mb_err err = {0};
    int rc = db_open_again(sh->main->db, &l->db, &err);
    if (!rc)
        rc = mig_connect_source(l, &err);
    if (!rc) {
        imap_client_set_cancel(l->src, lane_stop_waiting, l);
        rc = mig_connect_dest(l->cfg, l->req->dest_login, &l->dst, &err);
    }
    if (!rc) {
        imap_client_set_cancel(l->dst, lane_stop_waiting, l);
        rc = lane_loop(l, &err);
        if (rc && rc != MB_ECANCELED && rc != MB_EIO) {
            struct mb_err line;
            MB_MSG(&line, 0, LOG_LANE_STOPPED, &err);
            mig_log_msg(l, "info", &line);
        }
    } else if (rc != MB_EIO) {
        struct mb_err line;
        MB_MSG(&line, 0, LOG_LANE_NOT_OPENED, &err);
        mig_log_msg(l, "info", &line);
    }
    if (rc == MB_EIO) {
        pthread_mutex_lock(&sh->mu);
        if (!sh->fatal) {
            sh->fatal = rc;
            sh->fatal_err = err;
        }
        pthread_mutex_unlock(&sh->mu);
    }
    mig_disconnect(l);
    mig_dedupe_cache_fini(l);
    db_close(&l->db);
    if (l->hooks && l->hooks->extra_conn)
        l->hooks->extra_conn(l->hooks->ctx, 0);
    atomic_fetch_sub(&sh->alive, 1);
    return NULL;
}

/* Lanes for this run: [sources] connections_per_job, no more than the server type allows
 * (mig_preset max_connections) nor than folders to copy. */
static size_t lanes_wanted(struct mig_ctx *m)
{
    size_t want =
        m->cfg->sources.connections_per_job > 0 ? (size_t)m->cfg->sources.connections_per_job : 1;
    if (m->req->preset && m->req->preset->max_connections && want > m->req->preset->max_connections)
        want = m->req->preset->max_connections;
    if (m->cfg->sources.max_connections_per_host > 0
        && want > (size_t)m->cfg->sources.max_connections_per_host)
        want = (size_t)m->cfg->sources.max_connections_per_host;
    if (want > MIG_LANES_MAX)
        want = MIG_LANES_MAX;
    size_t todo = count_free(m);
    return want < todo ? want : todo;
}

int mig_lanes_copy(struct mig_ctx *m, struct mb_err *err)
{
    struct mig_shared *sh = m->sh;
    pthread_t th[MIG_LANES_MAX];
    struct mig_ctx *lanes[MIG_LANES_MAX];
    size_t n = 0, want = lanes_wanted(m);
    pthread_mutex_lock(&sh->mu);
    if (sh->win_hint && (!m->win_limit || sh->win_hint < m->win_limit))
        m->win_limit = sh->win_hint; /* what a lane learnt before it ended */
    sh->win_hint = 0;
    pthread_mutex_unlock(&sh->mu);
    sh->halt = 0; /* a new connection after a pause */
    for (size_t k = 1; k < want && !mig_should_stop(m); k++) {
        if (m->hooks && m->hooks->extra_conn && !m->hooks->extra_conn(m->hooks->ctx, 1))
            break;
        struct mig_ctx *l = xmalloc(sizeof(*l));
        *l = *m; /* plan, lists, request, hooks, shared state */
        l->lane = (int)k;
        l->src = l->dst = NULL;
        l->db = NULL;
        l->src_connected = 0;
        l->current_folder = NULL;
        l->rep_live = NULL;
        l->cancelled = 0;
        memset(&l->hashes, 0, sizeof(l->hashes));
        atomic_fetch_add(&sh->alive, 1);
        if (pthread_create(&th[n], NULL, lane_main, l) != 0) {
            atomic_fetch_sub(&sh->alive, 1);
            if (m->hooks && m->hooks->extra_conn)
                m->hooks->extra_conn(m->hooks->ctx, 0);
            free(l);
            break;
        }
        lanes[n++] = l;
    }
    if (n) {
        struct mb_err line;
        MB_MSG(&line, 0, LOG_LANES_STARTED, n + 1);
        mig_log_msg(m, "info", &line);
    }
    int rc = lane_loop(m, err);
    /* Lane 0 reports for all while the others finish (their lines, the counters, « Annuler »). */
    mig_wait(m, lanes_ended, sh, 0, 50, 0);
    for (size_t k = 0; k < n; k++) {
        pthread_join(th[k], NULL);
        free(lanes[k]);
    }
    mig_lane_flush(m);
    if (sh->fatal && rc != MB_EIO) {
        *err = sh->fatal_err;
        return sh->fatal;
    }
    if (sh->halt && !rc) {
        /* Another lane met the source's long limit: the run pauses for all. */
        *err = sh->limit_err;
        return MB_ECONN;
    }
    /* Folders given back by lanes that stopped after lane 0 had run out of work. */
    if (!rc && n)
        rc = lane_loop(m, err);
    return rc;
}
