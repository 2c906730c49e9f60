#include "jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/auth_store.h"
#include "base/xalloc.h"
#include "db/db.h"
#include "db/db_batch.h"
#include "db/db_profile.h"
#include "db/db_job.h"
#include "db/db_log.h"
#include "log/log.h"
#include "migrate/mig.h"

#define IDLE_POLL_MS 2000
#define HOST_BUSY_DELAY_S 5
#define MAX_HOSTS 1024
#define SCHED_TICK_S 1   /* the scheduler looks for due automatic passes this often */
#define SWEEP_EVERY_S 5  /* and erases expired credentials this often */

struct host_slot {
    char host[256];
    int running;
};

struct worker {
    struct jobs *pool;
    pthread_t thread;
    int index;
    int started;
    atomic_int cancel;      /* set by jobs_stop */
};

struct jobs {
    const struct config *cfg;
    char *db_path;
    const struct secret_box *box;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopping;
    unsigned wake_seq;
    atomic_int running;
    struct host_slot hosts[MAX_HOSTS];
    struct worker *workers;
    int n_workers;
    pthread_t sched;
    int sched_started;
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* Take a slot for host; 0 when the cap is reached. */
static int host_acquire(struct jobs *pool, const char *host, int cap)
{
    int ok = 0;
    pthread_mutex_lock(&pool->lock);
    struct host_slot *free_slot = NULL, *slot = NULL;
    for (int i = 0; i < MAX_HOSTS; i++) {
        if (pool->hosts[i].running > 0 && strcasecmp(pool->hosts[i].host, host) == 0)
            slot = &pool->hosts[i];
        else if (!free_slot && pool->hosts[i].running == 0)
            free_slot = &pool->hosts[i];
    }
    if (!slot && free_slot) {
        slot = free_slot;
        snprintf(slot->host, sizeof(slot->host), "%s", host);
    }
    if (slot && (cap <= 0 || slot->running < cap)) {
        slot->running++;
        ok = 1;
    }
    pthread_mutex_unlock(&pool->lock);
    return ok;
}

static void host_release(struct jobs *pool, const char *host)
{
    pthread_mutex_lock(&pool->lock);
    for (int i = 0; i < MAX_HOSTS; i++)
        if (pool->hosts[i].running > 0 && strcasecmp(pool->hosts[i].host, host) == 0) {
            pool->hosts[i].running--;
            break;
        }
    pthread_mutex_unlock(&pool->lock);
}

struct run_ctx {
    struct worker *w;
    struct db *db;
    int64_t job_id;
    int user_cancel;
};

static int on_progress(void *ctx, const struct db_job_counters *c, const char *folder)
{
    struct run_ctx *rc = ctx;
    int cancel = 0;
    struct mb_err err;
    if (db_job_progress_update(rc->db, rc->job_id, c, folder, &cancel, &err) != 0)
        log_warn("job %lld: progress update failed: %s", (long long)rc->job_id, err.msg);
    if (cancel)
        rc->user_cancel = 1;
    return cancel;
}

static void on_log(void *ctx, const char *level, const char *text)
{
    struct run_ctx *rc = ctx;
    db_log_add(rc->db, rc->job_id, db_log_level_parse(level), "%s", text);
    log_info("job %lld: %s", (long long)rc->job_id, text);
}

static void run_job(struct worker *w, struct db *db, struct db_job *job)
{
    struct jobs *pool = w->pool;
    const struct config *cfg = pool->cfg;
    struct mb_err err = { 0 };
    struct secret password = { 0 };
    struct mig_result res;
    memset(&res, 0, sizeof(res));
    const struct mig_preset *preset = mig_preset_find(job->server_type);
    enum mig_tls tls = MIG_TLS_AUTO;
    const char *host = job->source_host && job->source_host[0]
                           ? job->source_host
                           : (preset && preset->default_host ? preset->default_host : "");

    if (!preset || mig_tls_parse(job->source_tls ? job->source_tls : "auto", &tls) != 0) {
        db_job_finish(db, job->id, DB_JOB_FAILED, "invalid job (server type or TLS mode)", NULL,
                      &err);
        return;
    }
    int cap = cfg->sources.max_connections_per_host;
    if (preset->max_connections && (cap <= 0 || (int)preset->max_connections < cap))
        cap = (int)preset->max_connections;
    if (!host_acquire(pool, host, cap)) {
        db_job_defer(db, job->id, now_s() + HOST_BUSY_DELAY_S,
                     "waiting: too many migrations from this source host", &err);
        return;
    }

    unsigned char *blob = NULL;
    size_t blob_len = 0;
    /* A job of a source authentication profile keeps no password: it logs in through the
     * profile, which must still exist. */
    char *profile_name = NULL;
    struct auth_profile profile;
    memset(&profile, 0, sizeof(profile));
    db_profile_job_get(db, job->id, &profile_name, &err);
    if (profile_name) {
        int prc = auth_profile_open(db, pool->box, profile_name, &profile, &err);
        if (prc) {
            char *why = prc == MB_ENOTFOUND
                            ? xasprintf("the source authentication profile \"%.64s\" was "
                                        "deleted: choose another one and retry",
                                        profile_name)
                            : xasprintf("the source authentication profile \"%.64s\" cannot be "
                                        "read (secret key changed?)",
                                        profile_name);
            db_job_finish(db, job->id, DB_JOB_FAILED, why, NULL, &err);
            free(why);
            goto out;
        }
    } else if (db_job_get_secret(db, job->id, &blob, &blob_len, &err) != 0 || !blob) {
        db_job_finish(db, job->id, DB_JOB_FAILED,
                      "the source password is no longer stored: retry with the password", NULL,
                      &err);
        goto out;
    }
    if (!profile_name
        && secret_box_open(pool->box, JOBS_SECRET_AAD, blob, blob_len, &password, &err) != 0) {
        db_job_finish(db, job->id, DB_JOB_FAILED,
                      "the stored source password cannot be decrypted (secret key changed?)",
                      NULL, &err);
        goto out;
    }

    struct mig_request req = {
        .source_host = host,
        .source_port = (unsigned)job->source_port,
        .source_tls = tls,
        .insecure = job->insecure,
        .source_login = job->source_login,
        .source_password = profile_name ? NULL : &password,
        .auth_profile = profile_name ? &profile : NULL,
        .preset = preset,
        .dest_login = job->dest_login,
        .subscribed_only = job->subscribed_only,
    };
    struct run_ctx rc = { .w = w, .db = db, .job_id = job->id };
    struct mig_hooks hooks = { .ctx = &rc, .progress = on_progress, .log = on_log,
                               .cancel = &w->cancel, .pause_returns = 1 };
    atomic_fetch_add(&pool->running, 1);
    log_info("job %lld: started (attempt %lld) %s -> %s", (long long)job->id,
             (long long)job->attempts + 1, job->source_login, job->dest_login);
    int r = mig_run(cfg, db, job->id, &req, &hooks, &res, &err);
    atomic_fetch_sub(&pool->running, 1);
    secret_fini(&password);

    if (atomic_load(&w->cancel) && !rc.user_cancel) {
        /* Shutdown: resume at the next start. */
        db_job_defer(db, job->id, now_s(), "interrupted by a restart of the service", &err);
        log_info("job %lld: interrupted by shutdown, back to pending", (long long)job->id);
        goto out;
    }
    if (r == 0 && res.state == DB_JOB_PENDING) {
        /* The source's long limit: the job waits without a worker, spending no attempt. */
        if (db_job_defer(db, job->id, res.resume_at, res.error, &err) != 0)
            log_error("job %lld: cannot pause: %s", (long long)job->id, err.msg);
        goto out;
    }
    if (r != 0) {
        res.state = DB_JOB_FAILED;
        res.transient = 1;
        snprintf(res.error, sizeof(res.error), "internal error: %.200s", err.msg);
    }
    if (res.state == DB_JOB_FAILED && res.transient && !rc.user_cancel
        && job->attempts + 1 < cfg->sources.max_attempts) {
        int64_t delay = cfg->sources.retry_delay;
        for (int64_t i = 0; i < job->attempts && delay < 3600; i++)
            delay *= 2;
        db_log_add(db, job->id, DB_LOG_WARN, "attempt %lld failed (%s); next attempt in %lld s",
                   (long long)job->attempts + 1, res.error, (long long)delay);
        if (db_job_retry_later(db, job->id, now_s() + delay, res.error, &err) != 0)
            log_error("job %lld: cannot defer: %s", (long long)job->id, err.msg);
        goto out;
    }
    if (db_job_finish(db, job->id, res.state, res.state == DB_JOB_DONE ? NULL : res.error,
                      res.report, &err) != 0)
        log_error("job %lld: cannot record the result: %s", (long long)job->id, err.msg);
    else if (cfg->server.credential_retention == 0
             && db_job_erase_credentials(db, job->id, 0, &err) != 0)
        log_error("job %lld: cannot erase the credentials: %s", (long long)job->id, err.msg);
    log_info("job %lld: %s%s%s", (long long)job->id, db_job_state_name(res.state),
             res.state == DB_JOB_DONE ? "" : ": ", res.state == DB_JOB_DONE ? "" : res.error);
out:
    if (blob) {
        secret_wipe(blob, blob_len);
        free(blob);
    }
    secret_fini(&password);
    auth_profile_fini(&profile);
    free(profile_name);
    mig_result_fini(&res);
    host_release(pool, host);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct jobs *pool = w->pool;
    struct db *db = NULL;
    struct mb_err err;
    char name[32];
    snprintf(name, sizeof(name), "worker-%d", w->index);
    if (db_open(pool->db_path, &db, &err) != 0) {
        log_error("%s: cannot open the database: %s", name, err.msg);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        int stop = pool->stopping;
        unsigned seq = pool->wake_seq;
        pthread_mutex_unlock(&pool->lock);
        if (stop)
            break;
        struct db_job job;
        memset(&job, 0, sizeof(job));
        int r = db_job_claim(db, name, &job, &err);
        if (r == 1) {
            run_job(w, db, &job);
            db_job_fini(&job);
            continue;
        }
        if (r < 0)
            log_error("%s: claim failed: %s", name, err.msg);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += IDLE_POLL_MS / 1000;
        pthread_mutex_lock(&pool->lock);
        while (!pool->stopping && pool->wake_seq == seq) {
            if (pthread_cond_timedwait(&pool->cond, &pool->lock, &until) == ETIMEDOUT)
                break;
        }
        pthread_mutex_unlock(&pool->lock);
    }
    db_close(&db);
    return NULL;
}

/* The scheduler: automatic delta passes of batches (sync_every) and the erasure of
 * credentials kept longer than [server] credential_retention. */
static void sched_tick(struct jobs *pool, struct db *db, int64_t *next_sweep)
{
    struct mb_err err = { 0 };
    int64_t now = now_s();
    if (now >= *next_sweep) {
        int64_t n = 0;
        if (db_job_sweep_credentials(db, now - pool->cfg->server.credential_retention, &n, &err)
            != 0)
            log_error("scheduler: credential erasure failed: %s", err.msg);
        else if (n > 0)
            log_info("scheduler: credentials of %lld job(s) erased (credential_retention "
                     "passed)",
                     (long long)n);
        *next_sweep = now + SWEEP_EVERY_S;
    }
    int64_t *ids = NULL;
    size_t n_ids = 0;
    if (db_batch_due(db, now, &ids, &n_ids, &err) != 0) {
        log_error("scheduler: %s", err.msg);
        return;
    }
    int woke = 0;
    for (size_t i = 0; i < n_ids; i++) {
        struct db_batch b;
        int64_t queued = 0;
        if (db_batch_get(db, ids[i], now, &b, &err) != 0) {
            log_error("scheduler: batch %lld: %s", (long long)ids[i], err.msg);
            continue;
        }
        int64_t every = b.sync_every;
        db_batch_fini(&b);
        if (db_batch_pass(db, ids[i], 0, &queued, NULL, &err) != 0)
            log_error("scheduler: batch %lld: automatic pass: %s", (long long)ids[i], err.msg);
        else if (queued > 0)
            log_info("scheduler: batch %lld: automatic delta pass of %lld job(s) queued",
                     (long long)ids[i], (long long)queued);
        if (every > 0 && db_batch_set_sync(db, ids[i], every, now + every, &err) != 0)
            log_error("scheduler: batch %lld: %s", (long long)ids[i], err.msg);
        woke |= queued > 0;
    }
    free(ids);
    if (woke)
        jobs_wake(pool);
}

static void *sched_main(void *arg)
{
    struct jobs *pool = arg;
    struct db *db = NULL;
    struct mb_err err;
    if (db_open(pool->db_path, &db, &err) != 0) {
        log_error("scheduler: cannot open the database: %s", err.msg);
        return NULL;
    }
    int64_t next_sweep = 0;
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        int stop = pool->stopping;
        pthread_mutex_unlock(&pool->lock);
        if (stop)
            break;
        sched_tick(pool, db, &next_sweep);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += SCHED_TICK_S;
        pthread_mutex_lock(&pool->lock);
        while (!pool->stopping) {
            if (pthread_cond_timedwait(&pool->cond, &pool->lock, &until) == ETIMEDOUT)
                break;
        }
        pthread_mutex_unlock(&pool->lock);
    }
    db_close(&db);
    return NULL;
}

int jobs_start(const struct config *cfg, const char *db_path, const struct secret_box *box,
               struct jobs **pool_r, struct mb_err *err)
{
    struct db *db = NULL;
    int rc = db_open(db_path, &db, err);
    if (rc)
        return rc;
    int64_t n = 0;
    rc = db_job_requeue_running(db, &n, err);
    db_close(&db);
    if (rc)
        return rc;
    if (n)
        log_info("jobs: %lld interrupted job(s) put back in the queue", (long long)n);

    struct jobs *pool = xcalloc(1, sizeof(*pool));
    pool->cfg = cfg;
    pool->db_path = xstrdup(db_path);
    pool->box = box;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pool->n_workers = cfg->server.workers > 0 ? cfg->server.workers : 1;
    pool->workers = xcalloc((size_t)pool->n_workers, sizeof(*pool->workers));
    for (int i = 0; i < pool->n_workers; i++) {
        struct worker *w = &pool->workers[i];
        w->pool = pool;
        w->index = i + 1;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            mb_err_setsys(err, MB_EIO, errno, "cannot start worker threads");
            jobs_stop(&pool);
            return MB_EIO;
        }
        w->started = 1;
    }
    if (pthread_create(&pool->sched, NULL, sched_main, pool) != 0) {
        mb_err_setsys(err, MB_EIO, errno, "cannot start worker threads");
        jobs_stop(&pool);
        return MB_EIO;
    }
    pool->sched_started = 1;
    *pool_r = pool;
    return 0;
}

void jobs_wake(struct jobs *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->wake_seq++;
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
}

int jobs_running(struct jobs *pool)
{
    return pool ? atomic_load(&pool->running) : 0;
}

void jobs_stop(struct jobs **poolp)
{
    struct jobs *pool = *poolp;
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->n_workers; i++)
        atomic_store(&pool->workers[i].cancel, 1);
    for (int i = 0; i < pool->n_workers; i++)
        if (pool->workers[i].started)
            pthread_join(pool->workers[i].thread, NULL);
    if (pool->sched_started)
        pthread_join(pool->sched, NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->cond);
    free(pool->workers);
    free(pool->db_path);
    free(pool);
    *poolp = NULL;
}
