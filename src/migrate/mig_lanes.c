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
/* Round trips one folder costs at least on a connection pair, however small: the
 * destination's SELECT, the source's EXAMINE, its metadata FETCH, the last APPEND's answer. */
#define FOLDER_ROUND_TRIPS 4
#define GROW_EVERY_MS 10 /* lane 0 weighs another connection at most this often */

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
    atomic_int alive;   /* helper lanes still running */
    pthread_cond_t end; /* signalled (under mu) when a helper lane ends */

    /* Starting lanes: lane 0's business only (mig_lanes_copy, mig_lanes_grow). A helper
     * lane pays for itself only when the folders left for it would keep it busy much
     * longer than opening its connection pair takes: that costs a TLS handshake and a
     * login on each server, which on a fast link is more than copying a small mailbox. */
    struct mig_ctx tmpl; /* what a helper lane starts from */
    pthread_t th[MIG_LANES_MAX];
    struct mig_ctx *lanes[MIG_LANES_MAX];
    size_t n_lanes;     /* helpers started */
    size_t grow_to;     /* lanes the run may still grow to, lane 0 included (0: no more) */
    int64_t conn_ms;    /* what opening a connection pair took (lane 0's, then averaged) */
    int64_t rtt_us;     /* the slower side's quickest round trip */
    int64_t copy_start; /* monotonic ms the copy began */
    int64_t done_base;  /* messages done before it */
    int64_t next_grow;  /* monotonic ms of the next weighing */
};

int mig_shared_init(struct mig_ctx *m)
{
    struct mig_shared *sh = xcalloc(1, sizeof(*sh));
    pthread_mutex_init(&sh->mu, NULL);
    sh->main = m;
    atomic_init(&sh->cancelled, 0);
    atomic_init(&sh->steps, 0);
    atomic_init(&sh->alive, 0);
    pthread_cond_init(&sh->end, NULL);
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
    pthread_cond_destroy(&sh->end);
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
    int64_t t0 = mb_mono_ms();
    if (!rc)
        rc = mig_connect_source(l, &err);
    if (!rc) {
        imap_client_set_cancel(l->src, lane_stop_waiting, l);
        rc = mig_connect_dest(l->cfg, l->req->dest_login, &l->dst, &err);
    }
    if (!rc) {
        /* what a connection pair costs now (the servers' load included), for lane 0's next
         * weighing */
        int64_t took = mb_mono_ms() - t0;
        pthread_mutex_lock(&sh->mu);
        sh->conn_ms = (sh->conn_ms + (took > 0 ? took : 1) + 1) / 2;
        pthread_mutex_unlock(&sh->mu);
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
    pthread_mutex_lock(&sh->mu);
    atomic_fetch_sub(&sh->alive, 1);
    pthread_cond_broadcast(&sh->end);
    pthread_mutex_unlock(&sh->mu);
    return NULL;
}

/* Lanes for this run at most: [sources] connections_per_job, no more than the server type
 * allows (mig_preset max_connections) nor than folders to copy. */
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

/* Start one helper lane (lane 0's thread): 1, or 0 when the host's cap or the system refused. */
static int lane_start(struct mig_ctx *m)
{
    struct mig_shared *sh = m->sh;
    if (sh->n_lanes + 1 >= MIG_LANES_MAX)
        return 0;
    if (m->hooks && m->hooks->extra_conn && !m->hooks->extra_conn(m->hooks->ctx, 1))
        return 0;
    struct mig_ctx *l = xmalloc(sizeof(*l));
    *l = sh->tmpl; /* plan, lists, request, hooks, shared state; no connection */
    l->lane = (int)sh->n_lanes + 1;
    pthread_mutex_lock(&sh->mu);
    if (sh->win_hint && (!l->win_limit || sh->win_hint < l->win_limit))
        l->win_limit = sh->win_hint;
    pthread_mutex_unlock(&sh->mu);
    atomic_fetch_add(&sh->alive, 1);
    if (pthread_create(&sh->th[sh->n_lanes], NULL, lane_main, l) != 0) {
        atomic_fetch_sub(&sh->alive, 1);
        if (m->hooks && m->hooks->extra_conn)
            m->hooks->extra_conn(m->hooks->ctx, 0);
        free(l);
        return 0;
    }
    sh->lanes[sh->n_lanes++] = l;
    return 1;
}

/* The folders no lane has taken yet, and their messages (plan time). */
static size_t free_work(struct mig_shared *sh, int64_t *msgs_r, int64_t *done_r)
{
    struct mig_ctx *z = sh->main;
    size_t n = 0;
    int64_t msgs = 0, done = 0;
    pthread_mutex_lock(&sh->mu);
    for (size_t i = 0; i < z->plan.n; i++) {
        const struct mig_folder_report *r = &z->folders[i];
        if (z->plan.entries[i].action != MIG_PLAN_SKIP)
            done += r->copied + r->skipped + r->failed;
        if (!folder_to_copy(z, i) || (sh->busy && i < sh->n_busy_cap && sh->busy[i]))
            continue;
        n++;
        msgs += r->listed > 0 ? r->listed : 0;
    }
    pthread_mutex_unlock(&sh->mu);
    *msgs_r = msgs;
    *done_r = done;
    return n;
}

/* How long the free folders would keep the lanes now open busy, in ms: at least their round
 * trips (FOLDER_ROUND_TRIPS each at the slower side's round trip, one lane after the other),
 * and, once messages have been copied, at the rate seen so far. */
static int64_t free_work_ms(struct mig_shared *sh, size_t *n_free_r)
{
    int64_t msgs, done;
    size_t n_free = free_work(sh, &msgs, &done);
    int64_t est = (int64_t)n_free * FOLDER_ROUND_TRIPS * sh->rtt_us / 1000;
    int64_t elapsed = mb_mono_ms() - sh->copy_start;
    done -= sh->done_base;
    if (done > 0 && elapsed > 0 && msgs * elapsed / done > est)
        est = msgs * elapsed / done;
    *n_free_r = n_free;
    return est;
}

/* Another lane pays when the share of the free work it would take, est / (lanes + 1), is more
 * than twice what opening its connections takes. */
static int grow_pays(struct mig_shared *sh, int64_t est, size_t lanes)
{
    pthread_mutex_lock(&sh->mu);
    int64_t conn = sh->conn_ms > 0 ? sh->conn_ms : 1;
    pthread_mutex_unlock(&sh->mu);
    return est / (int64_t)(lanes + 1) > 2 * conn;
}

/* Open helper lanes, at most max of them, while another one pays for the free work est (or
 * whatever it is, all), up to sh->grow_to; a refusal (the host's cap) ends the growing: the
 * lanes open are the run's. Says how many run now when it opened any. */
static void open_lanes(struct mig_ctx *m, int64_t est, int all, size_t max)
{
    struct mig_shared *sh = m->sh;
    size_t opened = 0;
    while (opened < max && 1 + sh->n_lanes < sh->grow_to
           && (all || grow_pays(sh, est, 1 + sh->n_lanes)) && !mig_should_stop(m)) {
        if (!lane_start(m)) {
            sh->grow_to = 0;
            break;
        }
        opened++;
    }
    if (opened) {
        struct mb_err line;
        MB_MSG(&line, 0, LOG_LANES_STARTED, sh->n_lanes + 1);
        mig_log_msg(m, "info", &line);
    }
}

void mig_lanes_grow(struct mig_ctx *m)
{
    struct mig_shared *sh = m->sh;
    if (!sh || m->lane || !sh->grow_to || 1 + sh->n_lanes >= sh->grow_to)
        return;
    int64_t now = mb_mono_ms();
    if (now < sh->next_grow)
        return;
    sh->next_grow = now + GROW_EVERY_MS;
    size_t n_free;
    int64_t est = free_work_ms(sh, &n_free);
    if (n_free)
        open_lanes(m, est, 0, 1);
}

/* Lane 0 waits for the helper lanes to end, woken by each end; it still reports progress and
 * passes « Annuler » on every 50 ms. */
static void lanes_wait(struct mig_ctx *m)
{
    struct mig_shared *sh = m->sh;
    for (;;) {
        (void)mig_should_stop(m); /* how lane 0 learns of « Annuler » and passes it on */
        pthread_mutex_lock(&sh->mu);
        if (atomic_load(&sh->alive) == 0) {
            pthread_mutex_unlock(&sh->mu);
            return;
        }
        struct timespec ts = mb_realtime_in_ms(50);
        pthread_cond_timedwait(&sh->end, &sh->mu, &ts);
        pthread_mutex_unlock(&sh->mu);
        mig_progress(m, 0);
    }
}

int mig_lanes_copy(struct mig_ctx *m, struct mb_err *err)
{
    struct mig_shared *sh = m->sh;
    pthread_mutex_lock(&sh->mu);
    if (sh->win_hint && (!m->win_limit || sh->win_hint < m->win_limit))
        m->win_limit = sh->win_hint; /* what a lane learnt before it ended */
    sh->win_hint = 0;
    pthread_mutex_unlock(&sh->mu);
    sh->halt = 0; /* a new connection after a pause */

    /* A helper lane starts from lane 0's context without its connections and folder. */
    sh->tmpl = *m;
    sh->tmpl.src = sh->tmpl.dst = NULL;
    sh->tmpl.db = NULL;
    sh->tmpl.src_connected = 0;
    sh->tmpl.current_folder = NULL;
    sh->tmpl.rep_live = NULL;
    sh->tmpl.cancelled = 0;
    memset(&sh->tmpl.hashes, 0, sizeof(sh->tmpl.hashes));
    sh->n_lanes = 0;
    sh->conn_ms = m->conn_ms > 0 ? m->conn_ms : 1;
    int64_t rs = imap_client_rtt_us(m->src), rd = imap_client_rtt_us(m->dst);
    sh->rtt_us = rs > rd ? rs : rd;
    sh->copy_start = sh->next_grow = mb_mono_ms();
    int64_t msgs;
    free_work(sh, &msgs, &sh->done_base);
    sh->grow_to = lanes_wanted(m);

    /* The lanes that pay from the start: nothing is copied yet, so the free folders' round
     * trips alone (a link of tens of ms) must keep them busy; lane 0 weighs more as the copy
     * shows its pace (mig_lanes_grow, from mig_progress). */
    size_t n_free;
    int64_t est = free_work_ms(sh, &n_free);
    open_lanes(m, est, m->cfg->sources.open_connections == CONFIG_OPEN_AT_ONCE, MIG_LANES_MAX);
    int rc = lane_loop(m, err);
    sh->grow_to = 0;
    /* Lane 0 reports for all while the others finish (their lines, the counters, « Annuler »). */
    lanes_wait(m);
    size_t n = sh->n_lanes;
    for (size_t k = 0; k < n; k++) {
        pthread_join(sh->th[k], NULL);
        free(sh->lanes[k]);
    }
    sh->n_lanes = 0;
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
