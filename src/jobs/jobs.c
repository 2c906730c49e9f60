#include "jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/secret.h"
#include "base/xalloc.h"
#include "db/db.h"
#include "db/db_node.h"
#include "db/db_batch.h"
#include "db/db_job.h"
#include "db/db_log.h"
#include "db/db_webhook.h"
#include "jobs/host_slots.h"
#include "jobs/job_run.h"
#include "json/json_read.h"
#include "json/json_write.h"
#include "log/log.h"
#include "net/http_client.h"
#include "net/net_policy.h"

#include <mbedtls/md.h>
#include "migrate/mig.h"
#include "version.h"

#define IDLE_POLL_MS 2000
#define HOST_BUSY_DELAY_S 5
#define SCHED_TICK_S 1          /* the scheduler looks for due automatic passes this often */
#define SWEEP_EVERY_S 5         /* and erases expired credentials this often */
#define WEBHOOK_BATCH 10        /* webhook events POSTed per scheduler tick at most */
#define WEBHOOK_MAX_ATTEMPTS 12 /* then the event is dropped (logged) */
#define WEBHOOK_MAX_DELAY_S 600 /* retries back off 2, 4, 8... s up to this */

struct worker {
    struct jobs *pool;
    pthread_t thread;
    int index;
    int started;
    atomic_int cancel; /* set by jobs_stop, and when the node lost its lease */
    unsigned node_gen; /* pool->node_gen its database connection writes for */
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
    struct host_slots slots; /* connections per source host: jobs and their extra ones */
    struct worker *workers;
    int n_workers;
    pthread_t sched;
    int sched_started;
    pthread_t hooks;
    int hooks_started;
    /* The node (db_node.h): its id (under lock; a new one after a lost lease), its generation,
     * fenced while it has lost its lease and has not registered again. */
    char node_id[DB_NODE_ID_MAX + 1];
    unsigned node_gen;
    int fenced;
    /* PostgreSQL: until when (mb_mono_ms) this node's lease surely holds — the start of its
     * last renewal + lease - a margin. From then on its runs stop by themselves
     * (mig_hooks.deadline_ms), even while the node's thread still waits for a store that does
     * not answer: another node may take their jobs over once the lease has run out. It is
     * never pushed back once passed (the node comes back as a new one). 0 = none (SQLite). */
    atomic_llong lease_until_ms;
    pthread_t node; /* lease_main */
    int node_started;
    pthread_t takeover; /* takeover_main */
    int takeover_started;
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static int pool_stopping(struct jobs *pool);

/* The runs stop this long before the lease runs out: lease / 5, 1-10 s. Other nodes take a job
 * over only once the lease has run out by the store's clock, which a renewal set from a
 * moment after the one it started at here. */
static int64_t lease_margin_ms(int lease)
{
    int64_t m = (int64_t)lease * 1000 / 5;
    return m < 1000 ? 1000 : m > 10000 ? 10000 : m;
}

/* A renewal (or a registration) that started at started_ms succeeded. */
static void lease_renewed(struct jobs *pool, int64_t started_ms)
{
    if (pool->cfg->store.backend != CONFIG_STORE_POSTGRESQL)
        return;
    int lease = pool->cfg->store.lease;
    atomic_store(&pool->lease_until_ms,
                 started_ms + (int64_t)lease * 1000 - lease_margin_ms(lease));
}

static int lease_passed(struct jobs *pool)
{
    long long until = atomic_load(&pool->lease_until_ms);
    return until > 0 && mb_mono_ms() >= until;
}

/* A job's connections beyond its own (mig_hooks.extra_conn): from the same per-host cap as
 * the workers' jobs. On the PostgreSQL store the cap holds across nodes: a slot is also taken
 * in the store (db_job_conn_take: the host's running jobs and their extra connections, on all
 * nodes, under the host's lock), on a connection of its own (the hook is called from the
 * run's lanes, each in its thread). */
struct host_claim {
    struct jobs *pool;
    const char *host;
    int cap;
    int64_t job_id;
    struct db *job_db; /* the worker's connection: db_open_again's model (node, path) */
    pthread_mutex_t mu;
    struct db *db; /* opened at the first extra connection, closed by host_claim_fini */
};

static int extra_conn(void *ctx, int take)
{
    struct host_claim *hc = ctx;
    int pg = hc->pool->cfg->store.backend == CONFIG_STORE_POSTGRESQL;
    if (!take) {
        if (pg) {
            struct mb_err err = {0};
            pthread_mutex_lock(&hc->mu);
            if (hc->db && db_job_conn_release(hc->db, hc->job_id, &err) != 0)
                log_warn("job %lld: cannot give back a connection slot: %s", (long long)hc->job_id,
                         err.msg);
            pthread_mutex_unlock(&hc->mu);
        }
        host_slots_give(&hc->pool->slots, hc->host, 1);
        return 1;
    }
    if (!host_slots_take(&hc->pool->slots, hc->host, hc->cap, 1))
        return 0;
    if (!pg)
        return 1;
    struct mb_err err = {0};
    pthread_mutex_lock(&hc->mu);
    int r = hc->db ? 0 : db_open_again(hc->job_db, &hc->db, &err);
    if (r == 0)
        r = db_job_conn_take(hc->db, hc->job_id, hc->host, hc->cap, &err);
    pthread_mutex_unlock(&hc->mu);
    if (r < 0)
        log_warn("job %lld: no extra connection: %s", (long long)hc->job_id, err.msg);
    if (r != 1)
        host_slots_give(&hc->pool->slots, hc->host, 1);
    return r == 1;
}

static void host_claim_fini(struct host_claim *hc)
{
    db_close(&hc->db);
    pthread_mutex_destroy(&hc->mu);
}

/* The cap of connections to a source host for a server type: [sources]
 * max_connections_per_host, lowered by the type's own (mig_preset max_connections). */
static int type_cap(const char *server_type, int host_cap)
{
    const struct mig_preset *p = mig_preset_find(server_type ? server_type : "");
    if (p && p->max_connections && (host_cap <= 0 || (int)p->max_connections < host_cap))
        return (int)p->max_connections;
    return host_cap;
}

/* The worker's display of a job's log lines (job_run records them in the database). */
static void on_log(void *ctx, const char *level, const char *text)
{
    const int64_t *job_id = ctx;
    (void)level;
    log_info("job %lld: %s", (long long)*job_id, text);
}

/* ---- webhook events (db_webhook.h): never a password or a secret in a payload ---- */

static void webhook_begin(struct json_w *w, struct buf *b, const char *event)
{
    buf_init(b, 1 << 20);
    json_w_init(w, b);
    json_w_obj_begin(w);
    json_w_kv_str(w, "event", event);
    json_w_kv_int(w, "time", now_s());
}

static void webhook_queue(struct db *db, struct json_w *w, struct buf *b)
{
    struct mb_err err = {0};
    json_w_obj_end(w);
    if (json_w_finish(w) != 0 || db_webhook_add(db, buf_cstr(b), &err) != 0)
        log_error("webhook: cannot queue an event: %s", err.msg[0] ? err.msg : "JSON");
    buf_fini(b);
}

/* After a job ended: "job.failed" when it failed, "batch.pass_done" when it was the last job
 * of its batch's pass still pending or running. */
static void webhook_after_job(struct db *db, const struct db_job *job, enum db_job_state state,
                              const struct mb_err *error)
{
    struct json_w w;
    struct buf b;
    if (state == DB_JOB_FAILED) {
        webhook_begin(&w, &b, "job.failed");
        json_w_key(&w, "job");
        json_w_obj_begin(&w);
        json_w_kv_int(&w, "id", job->id);
        json_w_key(&w, "batch");
        if (job->batch_id)
            json_w_int(&w, job->batch_id);
        else
            json_w_null(&w);
        json_w_kv_str(&w, "source_host", job->source_host);
        json_w_kv_str(&w, "source_login", job->source_login);
        json_w_kv_str(&w, "dest_login", job->dest_login);
        /* error: the English text; error_code, error_params: the coded message */
        json_w_kv_str(&w, "error", error ? error->msg : NULL);
        json_w_kv_str(&w, "error_code", error ? mb_err_code(error) : NULL);
        json_w_key(&w, "error_params");
        char params[MB_ERR_PARAMS_LEN + 64] = "";
        struct json_value *pv = NULL;
        struct mb_err perr;
        if (error)
            mb_err_params(error, params, sizeof(params));
        if (error && json_parse(params, strlen(params), NULL, &pv, &perr) == 0)
            json_w_value(&w, pv);
        else
            json_w_null(&w);
        json_free(&pv);
        json_w_obj_end(&w);
        webhook_queue(db, &w, &b);
    }
    if (!job->batch_id)
        return;
    struct db_batch bt;
    struct mb_err err = {0};
    if (db_batch_get(db, job->batch_id, now_s(), &bt, &err) != 0)
        return;
    if (bt.counts[DB_JOB_PENDING] == 0 && bt.counts[DB_JOB_RUNNING] == 0) {
        webhook_begin(&w, &b, "batch.pass_done");
        json_w_key(&w, "batch");
        json_w_obj_begin(&w);
        json_w_kv_int(&w, "id", bt.id);
        json_w_key(&w, "jobs");
        json_w_obj_begin(&w);
        for (int s = DB_JOB_PENDING; s <= DB_JOB_DONE; s++)
            json_w_kv_int(&w, db_job_state_name((enum db_job_state)s), bt.counts[s]);
        json_w_kv_int(&w, "total", bt.counts[DB_JOB_ANY]);
        json_w_obj_end(&w);
        json_w_key(&w, "progress");
        json_w_obj_begin(&w);
        json_w_kv_int(&w, "messages_copied", bt.progress.messages_copied);
        json_w_kv_int(&w, "messages_skipped", bt.progress.messages_skipped);
        json_w_kv_int(&w, "messages_failed", bt.progress.messages_failed);
        json_w_kv_int(&w, "bytes_copied", bt.progress.bytes_copied);
        json_w_obj_end(&w);
        json_w_kv_bool(&w, "finalized", bt.finalized_at != 0);
        json_w_obj_end(&w);
        webhook_queue(db, &w, &b);
    }
    db_batch_fini(&bt);
}

/* POST the due events; 2xx = delivered. Headers: X-Migrabox-Event-Id, and with
 * webhook_secret_file X-Migrabox-Signature: sha256=HEX(HMAC-SHA256(secret, body)). */
static void webhook_deliver(struct jobs *pool, struct db *db)
{
    const struct config_server *s = &pool->cfg->server;
    struct db_webhook *ev = NULL;
    size_t n = 0;
    struct mb_err err = {0};
    if (!s->webhook_url || db_webhook_due(db, now_s(), WEBHOOK_BATCH, &ev, &n, &err) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        const char *body = ev[i].payload;
        size_t len = strlen(body);
        char headers[200];
        int o = snprintf(headers, sizeof(headers), "X-Migrabox-Event-Id: %lld\r\n",
                         (long long)ev[i].id);
        if (s->webhook_secret.data) {
            unsigned char mac[32];
            mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                            (const unsigned char *)s->webhook_secret.data, s->webhook_secret.len,
                            (const unsigned char *)body, len, mac);
            o +=
                snprintf(headers + o, sizeof(headers) - (size_t)o, "X-Migrabox-Signature: sha256=");
            for (int k = 0; k < 32; k++)
                o += snprintf(headers + o, sizeof(headers) - (size_t)o, "%02x", mac[k]);
            snprintf(headers + o, sizeof(headers) - (size_t)o, "\r\n");
        }
        struct http_request rq = {
            .url = s->webhook_url,
            .content_type = "application/json",
            .body = body,
            .body_len = len,
            .allow_plain = 1,
            .connect_timeout_ms = 3000,
            .io_timeout_ms = 5000,
            .deadline_ms = 5000,
            .max_body = 64 * 1024,
            .extra_headers = headers,
        };
        struct http_response resp;
        memset(&resp, 0, sizeof(resp));
        int rc = http_post(&rq, &resp, &err);
        int status = rc == 0 ? resp.status : 0;
        http_response_fini(&resp);
        if (status >= 200 && status < 300) {
            if (db_webhook_done(db, ev[i].id, &err) != 0)
                log_error("webhook: %s", err.msg);
            continue;
        }
        int64_t attempts = ev[i].attempts + 1;
        if (status)
            log_warn("webhook: event %lld answered HTTP %d (attempt %lld)", (long long)ev[i].id,
                     status, (long long)attempts);
        else
            log_warn("webhook: event %lld not delivered (attempt %lld): %s", (long long)ev[i].id,
                     (long long)attempts, err.msg);
        if (attempts >= WEBHOOK_MAX_ATTEMPTS) {
            log_error("webhook: event %lld dropped after %d attempts", (long long)ev[i].id,
                      WEBHOOK_MAX_ATTEMPTS);
            db_webhook_done(db, ev[i].id, &err);
            continue;
        }
        int64_t delay = 1;
        for (int64_t k = 0; k < attempts && delay < WEBHOOK_MAX_DELAY_S; k++)
            delay *= 2;
        if (delay > WEBHOOK_MAX_DELAY_S)
            delay = WEBHOOK_MAX_DELAY_S;
        if (db_webhook_retry(db, ev[i].id, now_s() + delay, &err) != 0)
            log_error("webhook: %s", err.msg);
        break; /* the endpoint is failing: later events wait for this one's next try */
    }
    db_webhook_free(ev, n);
}

/* A job that cannot start: failed with why, which also ends its log (as job_run_finish);
 * its credentials erased in the same update when [server] credential_retention is 0. */
static void fail_before_run(const struct config *cfg, struct db *db, int64_t id,
                            const struct mb_err *why)
{
    struct mb_err line, err;
    MB_MSG(&line, 0, LOG_RUN_FAILED, why);
    db_log_add_msg(db, id, DB_LOG_ERROR, &line);
    if (db_job_finish_msg(db, id, DB_JOB_FAILED, why, NULL, cfg->server.credential_retention == 0,
                          &err)
        != 0)
        log_error("job %lld: cannot record the failure: %s", (long long)id, err.msg);
}

/* The store could not record a run's outcome (PostgreSQL out of reach): 1 = write it again
 * (after 1 s) while this node keeps its lease, else the job would stay "running" on a live
 * node; 0 = stop trying (recorded, another error, stopping, or the lease is lost: the job is
 * taken over). */
static int record_again(struct jobs *pool, int rc, const struct mb_err *err, int64_t job_id)
{
    if (rc == 0 || err->code != MB_EIO)
        return 0;
    pthread_mutex_lock(&pool->lock);
    int give_up = pool->stopping || pool->fenced;
    pthread_mutex_unlock(&pool->lock);
    if (give_up)
        return 0;
    log_warn("job %lld: cannot record the outcome (%s); trying again in 1 s", (long long)job_id,
             err->msg);
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    return 1;
}

static void run_job(struct worker *w, struct db *db, struct db_job *job)
{
    struct jobs *pool = w->pool;
    const struct config *cfg = pool->cfg;
    struct mb_err err = {0};
    struct mig_result res;
    memset(&res, 0, sizeof(res));
    const struct mig_preset *preset = mig_preset_find(job->server_type);
    enum mig_tls tls = MIG_TLS_AUTO;
    const char *host = job->source_host && job->source_host[0]
                           ? job->source_host
                           : (preset && preset->default_host ? preset->default_host : "");

    struct mb_err why = {0};
    if (!preset || mig_tls_parse(job->source_tls ? job->source_tls : "auto", &tls) != 0) {
        MB_MSG0(&why, MB_ECONFIG, JOB_INVALID);
        fail_before_run(cfg, db, job->id, &why);
        return;
    }
    int cap = type_cap(job->server_type, cfg->sources.max_connections_per_host);
    if (!host_slots_take(&pool->slots, host, cap, 0)) {
        MB_MSG0(&why, MB_ECONN, JOB_WAITING_HOST);
        db_job_defer_msg(db, job->id, now_s() + HOST_BUSY_DELAY_S, &why, &err);
        return;
    }

    struct host_claim claim = {
        .pool = pool, .host = host, .cap = cap, .job_id = job->id, .job_db = db};
    pthread_mutex_init(&claim.mu, NULL);
    struct job_run_creds creds;
    memset(&creds, 0, sizeof(creds));
    struct mig_options opts;
    memset(&opts, 0, sizeof(opts));
    if (job_run_creds_load(db, pool->box, job->id, &creds, &why) != 0) {
        fail_before_run(cfg, db, job->id, &why);
        goto out;
    }
    /* The job's options apply to every run of it alike. */
    if (job_run_options_load(db, job->id, &opts, NULL, &err) != 0) {
        MB_MSG(&why, MB_ECONFIG, JOB_OPTIONS, &err);
        fail_before_run(cfg, db, job->id, &why);
        goto out;
    }

    struct job_run jr = {
        .cfg = cfg,
        .db = db,
        .job_id = job->id,
        .req =
            {
                .source_host = host,
                .source_port = (unsigned)job->source_port,
                .source_tls = tls,
                .insecure = job->insecure,
                .source_login = job->source_login,
                .preset = preset,
                .dest_login = job->dest_login,
                .subscribed_only = job->subscribed_only,
                .options = &opts,
            },
        .creds = &creds,
        .cancel = &w->cancel,
        .deadline_ms = &pool->lease_until_ms,
        .pause_returns = 1,
        .wrap_internal = 1,
        .ctx = &job->id,
        .log = on_log,
        .extra_conn = extra_conn,
        .conn_ctx = &claim,
    };
    atomic_fetch_add(&pool->running, 1);
    log_info("job %lld: started (attempt %lld) %s -> %s", (long long)job->id,
             (long long)job->attempts + 1, job->source_login, job->dest_login);
    job_run_engine(&jr, &res);
    /* Read before the run counts as ended: the node registers again (a new lease) only once
     * no run is left. */
    int lost = lease_passed(pool);
    atomic_fetch_sub(&pool->running, 1);

    if ((atomic_load(&w->cancel) || lost) && !jr.user_cancel) {
        /* Shutdown: resume at the next start. */
        MB_MSG0(&why, MB_ECANCELED, JOB_RESTART);
        int dr = db_job_defer_msg(db, job->id, now_s(), &why, &err);
        pthread_mutex_lock(&pool->lock);
        int fenced = pool->fenced;
        pthread_mutex_unlock(&pool->lock);
        if (fenced || lost) /* the job may be another node's: the store refuses this write */
            log_info("job %lld: stopped, this node lost its lease: %s", (long long)job->id,
                     dr == 0 ? "back to pending" : err.msg);
        else
            log_info("job %lld: interrupted by shutdown, back to pending", (long long)job->id);
        goto out;
    }
    if (res.state == DB_JOB_PENDING) {
        /* The source's long limit: the job waits without a worker, spending no attempt. */
        int r;
        while ((r = db_job_defer_msg(db, job->id, res.resume_at, &jr.error, &err)) != 0
               && record_again(pool, r, &err, job->id) == 1)
            ;
        if (r != 0)
            log_error("job %lld: cannot pause: %s", (long long)job->id, err.msg);
        goto out;
    }
    if (res.state == DB_JOB_FAILED && res.transient && !jr.user_cancel
        && job->attempts + 1 < cfg->sources.max_attempts) {
        int64_t delay = cfg->sources.retry_delay;
        for (int64_t i = 0; i < job->attempts && delay < 3600; i++)
            delay *= 2;
        struct mb_err line;
        MB_MSG(&line, 0, LOG_ATTEMPT_FAILED, job->attempts + 1, &jr.error, delay);
        db_log_add_msg(db, job->id, DB_LOG_WARN, &line);
        int r;
        while ((r = db_job_retry_later_msg(db, job->id, now_s() + delay, &jr.error, &err)) != 0
               && record_again(pool, r, &err, job->id) == 1)
            ;
        if (r != 0)
            log_error("job %lld: cannot defer: %s", (long long)job->id, err.msg);
        goto out;
    }
    int fr;
    while ((fr = job_run_finish(&jr, &res, &err)) != 0
           && record_again(pool, fr, &err, job->id) == 1)
        ;
    if (fr != 0)
        log_error("job %lld: cannot record the result: %s", (long long)job->id, err.msg);
    if (cfg->server.webhook_url)
        webhook_after_job(db, job, res.state, res.state == DB_JOB_DONE ? NULL : &jr.error);
    log_info("job %lld: %s%s%s", (long long)job->id, db_job_state_name(res.state),
             res.state == DB_JOB_DONE ? "" : ": ", res.state == DB_JOB_DONE ? "" : res.error.msg);
out:
    job_run_creds_fini(&creds);
    mig_options_fini(&opts);
    mig_result_fini(&res);
    host_claim_fini(&claim);
    host_slots_give(&pool->slots, host, 0);
}

/* A worker's thread runs at a lower priority than the HTTP threads ([server] worker_nice, added
 * to the nice value serve was started with, at most 19): on a busy machine a page or an API
 * request is then answered before the copies' next slice. Linux keeps a nice value per thread
 * (setpriority on the thread id), and the threads a worker starts (its extra connections, the
 * appender) inherit it. Raising the nice value needs no privilege; a failure only costs the
 * API's latency, so it is logged and the worker goes on. The thread is also named (top -H). */
static void worker_thread_setup(const char *name, int worker_nice)
{
    pthread_setname_np(pthread_self(), name);
    if (worker_nice <= 0)
        return;
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, tid);
    if (cur == -1 && errno != 0)
        cur = 0;
    int want = cur + worker_nice > 19 ? 19 : cur + worker_nice;
    if (want != cur && setpriority(PRIO_PROCESS, tid, want) != 0)
        log_warn("%s: cannot lower the thread's priority to nice %d: %s", name, want,
                 strerror(errno));
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct jobs *pool = w->pool;
    struct db *db = NULL;
    struct mb_err err;
    char name[32];
    snprintf(name, sizeof(name), "worker-%d", w->index);
    worker_thread_setup(name, pool->cfg->server.worker_nice);
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
        pthread_mutex_lock(&pool->lock);
        int fenced = pool->fenced;
        char node_id[sizeof(pool->node_id)];
        unsigned gen = pool->node_gen;
        memcpy(node_id, pool->node_id, sizeof(node_id));
        pthread_mutex_unlock(&pool->lock);
        if (!fenced && gen != w->node_gen) {
            if (db_set_node(db, node_id, &err) == 0)
                w->node_gen = gen;
            else
                fenced = 1;
        }
        struct db_job job;
        memset(&job, 0, sizeof(job));
        int r = fenced || lease_passed(pool)
                    ? 0
                    : db_job_claim_capped(db, name, pool->cfg->sources.max_connections_per_host,
                                          type_cap, &job, &err);
        if (r == 1) {
            run_job(w, db, &job);
            db_job_fini(&job);
            if (!pool_stopping(pool))
                atomic_store(&w->cancel, 0); /* a lost lease stopped the run: go on */
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
    struct mb_err err = {0};
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

static int pool_stopping(struct jobs *pool)
{
    pthread_mutex_lock(&pool->lock);
    int stop = pool->stopping;
    pthread_mutex_unlock(&pool->lock);
    return stop;
}

/* Wait ms milliseconds, or until the pool stops. */
static void pool_wait_ms(struct jobs *pool, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&pool->lock);
    while (!pool->stopping) {
        if (pthread_cond_timedwait(&pool->cond, &pool->lock, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&pool->lock);
}

/* Wait one tick of the scheduler, webhook and takeover threads (SCHED_TICK_S), or until the
 * pool stops. */
static void tick_wait(struct jobs *pool)
{
    pool_wait_ms(pool, SCHED_TICK_S * 1000);
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
    while (!pool_stopping(pool)) {
        sched_tick(pool, db, &next_sweep);
        tick_wait(pool);
    }
    db_close(&db);
    return NULL;
}

/* The webhook thread: POSTs the outbox (its own thread, so that a slow endpoint never delays
 * the scheduler). */
static void *hooks_main(void *arg)
{
    struct jobs *pool = arg;
    struct db *db = NULL;
    struct mb_err err;
    /* The webhook URL is the operator's ([server] webhook_url), not a source: the source-host
     * policy does not apply to it. */
    net_policy_thread_admin(1);
    if (db_open(pool->db_path, &db, &err) != 0) {
        log_error("webhook: cannot open the database: %s", err.msg);
        return NULL;
    }
    while (!pool_stopping(pool)) {
        webhook_deliver(pool, db);
        tick_wait(pool);
    }
    db_close(&db);
    return NULL;
}

/* ---- the node: id, lease, takeover (db_node.h) ---- */

/* A new node id: host name and 8 random hex digits (a restarted process is a new node). */
static void node_new_id(char *out, size_t n)
{
    char host[64] = "node";
    gethostname(host, sizeof(host) - 1);
    host[strcspn(host, ".")] = '\0';
    unsigned char r[4] = {0};
    secret_random(r, sizeof(r), NULL);
    snprintf(out, n, "%s-%02x%02x%02x%02x", host, r[0], r[1], r[2], r[3]);
}

static int node_register(struct jobs *pool, struct db *db, struct mb_err *err)
{
    char id[DB_NODE_ID_MAX + 1], host[256] = "";
    node_new_id(id, sizeof(id));
    gethostname(host, sizeof(host) - 1);
    char *listen = xasprintf("%s:%d", pool->cfg->server.listen_host, pool->cfg->server.listen_port);
    int64_t started = mb_mono_ms();
    struct db_node n = {
        .id = id,
        .hostname = host,
        .pid = (int64_t)getpid(),
        .version = (char *)MIGRABOX_VERSION,
        .listen = listen,
        .workers = pool->n_workers,
    };
    int rc = db_node_register(db, &n, pool->cfg->store.lease, err);
    free(listen);
    if (rc == 0) {
        pthread_mutex_lock(&pool->lock);
        snprintf(pool->node_id, sizeof(pool->node_id), "%s", id);
        pool->node_gen++;
        lease_renewed(pool, started);
        if (pool->fenced && !pool->stopping)
            for (int i = 0; i < pool->n_workers; i++)
                atomic_store(&pool->workers[i].cancel, 0);
        pool->fenced = 0;
        pthread_cond_broadcast(&pool->cond);
        pthread_mutex_unlock(&pool->lock);
    }
    return rc;
}

/* This node's id now (a new one after a lost lease) into id; 1 while it is fenced. */
static int node_state(struct jobs *pool, char id[DB_NODE_ID_MAX + 1])
{
    pthread_mutex_lock(&pool->lock);
    int fenced = pool->fenced;
    memcpy(id, pool->node_id, sizeof(pool->node_id));
    pthread_mutex_unlock(&pool->lock);
    return fenced;
}

/* The node's lease, renewed every lease/4 (1-10 s) on a connection and in a thread that do
 * nothing else: a renewal never waits behind the takeover's lock waits (takeover_main) nor
 * behind anything of the workers. Once a store-wide write lock held by a node cut in the
 * middle of a transaction made the live nodes' takeover checks wait, and with them their
 * renewals, until they lost their leases. A node that learns it lost its lease (or could not
 * renew it in time) stops its runs at once (their writes are fenced anyway), waits for them
 * to end, and comes back as a new node. */
static void *lease_main(void *arg)
{
    struct jobs *pool = arg;
    const int lease = pool->cfg->store.lease;
    int64_t every = (int64_t)lease * 1000 / 4;
    every = every < 1000 ? 1000 : every > 10000 ? 10000 : every;
    struct db *db = NULL;
    struct mb_err err = {0};
    int64_t last_ok = mb_mono_ms(), next = 0;
    while (!pool_stopping(pool)) {
        if (!db && db_open(pool->db_path, &db, &err) != 0) {
            log_error("node: cannot open the store: %s", err.msg);
            db = NULL;
        }
        int64_t now = mb_mono_ms();
        char id[DB_NODE_ID_MAX + 1];
        int fenced = node_state(pool, id);
        int rc = 0;
        if (db && !fenced && now >= next) {
            next = now + every;
            rc = db_node_heartbeat(db, id, lease, atomic_load(&pool->running), &err);
            if (rc == 0) {
                last_ok = now;
                if (!lease_passed(pool))
                    lease_renewed(pool, now);
            } else if (rc != MB_ECANCELED) {
                log_warn("node %s: cannot renew the lease: %s", id, err.msg);
            }
        }
        if (db && !fenced
            && (rc == MB_ECANCELED || (rc < 0 && mb_mono_ms() - last_ok >= lease * 1000LL)
                || lease_passed(pool))) {
            log_error("node %s: lease lost (%s): stopping its runs; its jobs are taken over by "
                      "the other nodes",
                      id,
                      rc == MB_ECANCELED ? "taken over"
                      : rc < 0           ? "store unreachable"
                                         : "not renewed in time");
            pthread_mutex_lock(&pool->lock);
            pool->fenced = 1;
            pthread_mutex_unlock(&pool->lock);
            for (int i = 0; i < pool->n_workers; i++)
                atomic_store(&pool->workers[i].cancel, 1);
            fenced = 1;
        }
        if (db && fenced && atomic_load(&pool->running) > 0 && now >= next) {
            next = now + every;
            log_info("node %s: waiting for %d run(s) to stop", id, atomic_load(&pool->running));
        }
        if (db && fenced && atomic_load(&pool->running) == 0 && now >= next) {
            next = now + every;
            if (node_register(pool, db, &err) == 0) {
                last_ok = mb_mono_ms();
                pthread_mutex_lock(&pool->lock);
                log_info("node %s: registered again after a lost lease", pool->node_id);
                pthread_mutex_unlock(&pool->lock);
            } else {
                log_warn("node %s: cannot register again yet: %s", id, err.msg);
            }
        }
        int64_t left = next - mb_mono_ms();
        pool_wait_ms(pool, !db || fenced ? 1000 : left < 10 ? 10 : left > 1000 ? 1000 : left);
    }
    if (db) {
        char id[DB_NODE_ID_MAX + 1];
        jobs_node_id(pool, id, sizeof(id));
        db_node_remove(db, id, &err);
    }
    db_close(&db);
    return NULL;
}

/* Take over the jobs of dead nodes, every tick, while this node holds its lease. Its
 * transaction waits for the store-wide write lock (up to [store] timeout), in a thread of its
 * own (lease_main). */
static void *takeover_main(void *arg)
{
    struct jobs *pool = arg;
    struct db *db = NULL;
    struct mb_err err = {0};
    while (!pool_stopping(pool)) {
        if (!db && db_open(pool->db_path, &db, &err) != 0) {
            log_error("node: takeover: cannot open the store: %s", err.msg);
            db = NULL;
        }
        char id[DB_NODE_ID_MAX + 1];
        int fenced = node_state(pool, id);
        int64_t taken = 0, now = 0;
        if (db && !fenced && !lease_passed(pool)
            && (db_store_now(db, &now, &err) != 0 || db_node_reap(db, now, &taken, &err) != 0))
            log_warn("node %s: takeover check failed: %s", id, err.msg);
        else if (taken) {
            log_warn("node %s: took over %lld job(s) of node(s) whose lease ran out", id,
                     (long long)taken);
            jobs_wake(pool);
        }
        tick_wait(pool);
    }
    db_close(&db);
    return NULL;
}

void jobs_node_id(struct jobs *pool, char *out, size_t n)
{
    pthread_mutex_lock(&pool->lock);
    snprintf(out, n, "%s", pool->node_id);
    pthread_mutex_unlock(&pool->lock);
}

int jobs_start(const struct config *cfg, const char *db_path, const struct secret_box *box,
               struct jobs **pool_r, struct mb_err *err)
{
    struct db *db = NULL;
    int rc = db_open(db_path, &db, err);
    if (rc)
        return rc;
    int64_t n = 0;
    /* SQLite: this process is the only node; what ran before it was interrupted. PostgreSQL:
     * other nodes may be running their jobs: only the jobs of dead nodes are taken over. */
    int64_t now = 0;
    if (db_is_postgresql(db)) {
        rc = db_store_now(db, &now, err);
        if (rc == 0)
            rc = db_node_reap(db, now, &n, err);
    } else {
        rc = db_job_requeue_running(db, &n, err);
    }
    if (rc) {
        db_close(&db);
        return rc;
    }
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
    host_slots_init(&pool->slots, pool->n_workers);
    rc = node_register(pool, db, err);
    db_close(&db);
    if (rc) {
        host_slots_fini(&pool->slots);
        pthread_mutex_destroy(&pool->lock);
        pthread_cond_destroy(&pool->cond);
        free(pool->workers);
        free(pool->db_path);
        free(pool);
        return rc;
    }
    if (pthread_create(&pool->node, NULL, lease_main, pool) != 0) {
        mb_err_setsys(err, MB_EIO, errno, "cannot start the node thread");
        jobs_stop(&pool);
        return MB_EIO;
    }
    pool->node_started = 1;
    if (pthread_create(&pool->takeover, NULL, takeover_main, pool) != 0) {
        mb_err_setsys(err, MB_EIO, errno, "cannot start the takeover thread");
        jobs_stop(&pool);
        return MB_EIO;
    }
    pool->takeover_started = 1;
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
    if (cfg->server.webhook_url) {
        if (pthread_create(&pool->hooks, NULL, hooks_main, pool) != 0) {
            mb_err_setsys(err, MB_EIO, errno, "cannot start worker threads");
            jobs_stop(&pool);
            return MB_EIO;
        }
        pool->hooks_started = 1;
    }
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
    if (pool->hooks_started)
        pthread_join(pool->hooks, NULL);
    if (pool->takeover_started)
        pthread_join(pool->takeover, NULL);
    if (pool->node_started)
        pthread_join(pool->node, NULL);
    host_slots_fini(&pool->slots);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->cond);
    free(pool->workers);
    free(pool->db_path);
    free(pool);
    *poolp = NULL;
}
