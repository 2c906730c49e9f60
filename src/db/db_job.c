/* db_job: jobs table. See db_job.h for the state machine. */
#include "db/db_job.h"
#include "msg/msgcat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "db/db_internal.h"
#include "db/db_profile.h"

#define DB_JOB_REPORT_MAX (32 * 1024 * 1024)
#define DB_JOB_QUERY_MAX 256

static const char *const state_names[] = {NULL, "pending", "running", "failed", "done"};

const char *db_job_state_name(enum db_job_state s)
{
    if ((int)s < 1 || (int)s > 4)
        return NULL;
    return state_names[s];
}

enum db_job_state db_job_state_parse(const char *s)
{
    for (int i = 1; s && i <= 4; i++)
        if (strcmp(s, state_names[i]) == 0)
            return (enum db_job_state)i;
    return DB_JOB_ANY;
}

/* Columns of struct db_job, in job_read() order; the last one is the report. */
#define JOB_COLS                                                                                   \
    "id, batch_id, account_id, state, error, source_host, source_port, source_tls, insecure, "     \
    "source_login, source_secret IS NOT NULL, server_type, dest_login, dest_domain, "              \
    "subscribed_only, created_at, updated_at, started_at, finished_at, not_before, attempts, "     \
    "cancel_requested, worker, heartbeat_at, folders_total, folders_done, messages_total, "        \
    "messages_copied, messages_skipped, messages_failed, bytes_total, bytes_copied, "              \
    "current_folder, finalized_at, (source_secret IS NOT NULL OR auth_profile IS NOT NULL), "      \
    "error_code, error_params"

static void job_read(db_stmt *st, struct db_job *j, int with_report)
{
    memset(j, 0, sizeof(*j));
    int c = 0;
    j->id = db_col_int64(st, c++);
    j->batch_id = db_col_int64(st, c++);
    j->account_id = db_col_int64(st, c++);
    j->state = db_job_state_parse((const char *)db_col_text(st, c++));
    j->error = db_col_strdup(st, c++);
    j->source_host = db_col_strdup(st, c++);
    j->source_port = db_col_int(st, c++);
    j->source_tls = db_col_strdup(st, c++);
    j->insecure = db_col_int(st, c++);
    j->source_login = db_col_strdup(st, c++);
    j->has_secret = db_col_int(st, c++);
    j->server_type = db_col_strdup(st, c++);
    j->dest_login = db_col_strdup(st, c++);
    j->dest_domain = db_col_strdup(st, c++);
    j->subscribed_only = db_col_int(st, c++);
    j->created_at = db_col_int64(st, c++);
    j->updated_at = db_col_int64(st, c++);
    j->started_at = db_col_int64(st, c++);
    j->finished_at = db_col_int64(st, c++);
    j->not_before = db_col_int64(st, c++);
    j->attempts = db_col_int64(st, c++);
    j->cancel_requested = db_col_int(st, c++);
    j->worker = db_col_strdup(st, c++);
    j->heartbeat_at = db_col_int64(st, c++);
    struct db_job_counters *p = &j->progress;
    p->folders_total = db_col_int64(st, c++);
    p->folders_done = db_col_int64(st, c++);
    p->messages_total = db_col_int64(st, c++);
    p->messages_copied = db_col_int64(st, c++);
    p->messages_skipped = db_col_int64(st, c++);
    p->messages_failed = db_col_int64(st, c++);
    p->bytes_total = db_col_int64(st, c++);
    p->bytes_copied = db_col_int64(st, c++);
    j->current_folder = db_col_strdup(st, c++);
    j->finalized_at = db_col_int64(st, c++);
    j->has_credentials = db_col_int(st, c++);
    j->error_code = db_col_strdup(st, c++);
    j->error_params = db_col_strdup(st, c++);
    if (with_report)
        j->report = db_col_strdup(st, c);
}

void db_job_fini(struct db_job *j)
{
    if (!j)
        return;
    free(j->error);
    free(j->error_code);
    free(j->error_params);
    free(j->source_host);
    free(j->source_tls);
    free(j->source_login);
    free(j->server_type);
    free(j->dest_login);
    free(j->dest_domain);
    free(j->worker);
    free(j->current_folder);
    free(j->report);
    memset(j, 0, sizeof(*j));
}

void db_job_list_fini(struct db_job_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->n; i++)
        db_job_fini(&list->jobs[i]);
    free(list->jobs);
    memset(list, 0, sizeof(*list));
}

static int run_update(struct db *db, const char *sql, int64_t id, const char *text, int64_t num,
                      int *changes_r, struct mb_err *err);

static int not_found(struct mb_err *err, int64_t id)
{
    return mb_err_set(err, MB_ENOTFOUND, "job %lld does not exist", (long long)id);
}

/* ---- insert ---- */

static int check_text(const char *what, const char *s, int required, struct mb_err *err)
{
    if (!s || !*s)
        return required ? mb_err_set(err, MB_ECONFIG, "%s is missing", what) : 0;
    if (strlen(s) > DB_TEXT_MAX)
        return mb_err_set(err, MB_ETOOBIG, "%s is longer than %d bytes", what, DB_TEXT_MAX);
    return 0;
}

/* Lower-case domain of an address (after the last '@'), or NULL if there is none. */
static char *address_domain(const char *addr)
{
    const char *at = strrchr(addr, '@');
    if (!at || !at[1])
        return NULL;
    char *d = xstrdup(at + 1);
    for (char *c = d; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return d;
}

static int job_new_check(const struct db_job_new *j, struct mb_err *err)
{
    int rc;
    if ((rc = check_text("source_host", j->source_host, 1, err)) < 0
        || (rc = check_text("source_tls", j->source_tls, 1, err)) < 0
        || (rc = check_text("source_login", j->source_login, 1, err)) < 0
        || (rc = check_text("server_type", j->server_type, 1, err)) < 0
        || (rc = check_text("dest_login", j->dest_login, 1, err)) < 0)
        return rc;
    if (j->source_port < 1 || j->source_port > 65535)
        return mb_err_set(err, MB_ECONFIG, "source_port %d is not a port (1-65535)",
                          j->source_port);
    if (j->secret && j->secret_len > DB_JOB_SECRET_MAX)
        return mb_err_set(err, MB_ETOOBIG, "secret larger than %d bytes", DB_JOB_SECRET_MAX);
    const char *at = strrchr(j->dest_login, '@');
    if (!at || at == j->dest_login || !at[1])
        return mb_err_set(err, MB_ECONFIG, "dest_login is not a full address (user@domain)");
    return 0;
}

static const char insert_sql[] =
    "INSERT INTO jobs (batch_id, account_id, source_host, source_port, source_tls, insecure, "
    "source_login, source_secret, server_type, dest_login, dest_domain, subscribed_only, "
    "created_at, updated_at, pair_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
    "?13, ?13, lower(?3) || '\n' || ?7 || '\n' || lower(?10)) RETURNING id";

static int insert_one(struct db *db, db_stmt *st, int64_t batch_id, const struct db_job_new *j,
                      int64_t *id_r, struct mb_err *err)
{
    int rc = job_new_check(j, err);
    if (rc < 0)
        return rc;
    char *domain = address_domain(j->dest_login);
    db_reset(st);
    db_clear_bindings(st);
    if (batch_id)
        db_bind_int64(st, 1, batch_id);
    if (j->account_id)
        db_bind_int64(st, 2, j->account_id);
    db_bind_text(st, 3, j->source_host);
    db_bind_int(st, 4, j->source_port);
    db_bind_text(st, 5, j->source_tls);
    db_bind_int(st, 6, j->insecure ? 1 : 0);
    db_bind_text(st, 7, j->source_login);
    db_bind_blob(st, 8, j->secret, j->secret_len);
    db_bind_text(st, 9, j->server_type);
    db_bind_text(st, 10, j->dest_login);
    db_bind_text(st, 11, domain);
    db_bind_int(st, 12, j->subscribed_only ? 1 : 0);
    db_bind_int64(st, 13, db_now());
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW) {
        *id_r = db_col_int64(st, 0);
        s = db_step(st);
    }
    if (s == SQLITE_DONE) {
    } else if (s == SQLITE_CONSTRAINT_FOREIGNKEY) {
        rc = mb_err_set(err, MB_ENOTFOUND, "account %lld does not exist", (long long)j->account_id);
    } else {
        rc = db_fail(db, err, s, "insert job");
    }
    db_reset(st);
    free(domain);
    return rc;
}

int db_job_insert(struct db *db, const struct db_job_new *job, int64_t *id_r, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, insert_sql, &st, err);
    if (rc < 0)
        return rc;
    rc = insert_one(db, st, 0, job, id_r, err);
    db_finalize(st);
    return rc;
}

int db_job_insert_many(struct db *db, int64_t account_id, const char *filename,
                       const struct db_job_new *jobs, size_t n, int64_t *batch_id_r, int64_t *ids_r,
                       struct mb_err *err)
{
    if (n > DB_JOB_BATCH_MAX)
        return mb_err_set(err, MB_ETOOBIG, "more than %d jobs in one batch", DB_JOB_BATCH_MAX);
    int rc = check_text("filename", filename, 0, err);
    if (rc < 0)
        return rc;
    db_stmt *bst = NULL, *st = NULL;
    int outer;
    rc = db_tx_begin(db, &outer, err);
    if (rc < 0)
        return rc;
    rc = db_prepare(db,
                    "INSERT INTO batches (account_id, created_at, filename, rows) "
                    "VALUES (?1, ?2, ?3, ?4) RETURNING id",
                    &bst, err);
    if (rc < 0)
        goto out;
    if (account_id)
        db_bind_int64(bst, 1, account_id);
    db_bind_int64(bst, 2, db_now());
    db_bind_text(bst, 3, filename);
    db_bind_int64(bst, 4, (int64_t)n);
    int s = db_step(bst);
    int64_t batch_id = 0;
    if (s == SQLITE_ROW) {
        batch_id = db_col_int64(bst, 0);
        s = db_step(bst);
    }
    if (s == SQLITE_CONSTRAINT_FOREIGNKEY) {
        rc = mb_err_set(err, MB_ENOTFOUND, "account %lld does not exist", (long long)account_id);
        goto out;
    }
    if (s != SQLITE_DONE) {
        rc = db_fail(db, err, s, "insert batch");
        goto out;
    }
    rc = db_prepare(db, insert_sql, &st, err);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct db_job_new j = jobs[i];
        int64_t id;
        j.account_id = account_id;
        rc = insert_one(db, st, batch_id, &j, &id, err);
        if (rc < 0) {
            if (err) {
                char msg[MB_ERR_LEN];
                snprintf(msg, sizeof(msg), "%s", err->msg);
                mb_err_set(err, rc, "row %zu: %s", i + 1, msg);
            }
            goto out;
        }
        if (ids_r)
            ids_r[i] = id;
    }
    *batch_id_r = batch_id;
out:
    db_finalize(bst);
    db_finalize(st);
    return db_tx_end(db, outer, rc, err);
}

int db_job_insert_into(struct db *db, int64_t batch_id, int64_t account_id,
                       const struct db_job_new *jobs, size_t n, int64_t *ids_r, struct mb_err *err)
{
    if (n > DB_JOB_BATCH_MAX)
        return mb_err_set(err, MB_ETOOBIG, "more than %d jobs in one batch", DB_JOB_BATCH_MAX);
    db_stmt *st = NULL;
    int outer;
    int rc = db_tx_begin(db, &outer, err);
    if (rc < 0)
        return rc;
    int changes = 0;
    rc =
        run_update(db, "UPDATE batches SET rows = rows + ?3 WHERE id = ?1 AND finalized_at IS NULL",
                   batch_id, NULL, (int64_t)n, &changes, err);
    if (rc == 0 && changes == 0)
        rc = mb_err_set(err, MB_ENOTFOUND, "batch %lld does not exist or is finalized",
                        (long long)batch_id);
    if (rc == 0)
        rc = db_prepare(db, insert_sql, &st, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct db_job_new j = jobs[i];
        int64_t id;
        j.account_id = account_id;
        rc = insert_one(db, st, batch_id, &j, &id, err);
        if (rc < 0 && err) {
            char msg[MB_ERR_LEN];
            snprintf(msg, sizeof(msg), "%s", err->msg);
            mb_err_set(err, rc, "row %zu: %s", i + 1, msg);
        }
        if (rc == 0 && ids_r)
            ids_r[i] = id;
    }
    db_finalize(st);
    return db_tx_end(db, outer, rc, err);
}

/* ---- read ---- */

int db_job_get(struct db *db, int64_t id, struct db_job *job_r, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, "SELECT " JOB_COLS ", report FROM jobs WHERE id = ?1", &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, id);
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW)
        job_read(st, job_r, 1);
    else if (s == SQLITE_DONE)
        rc = not_found(err, id);
    else
        rc = db_fail(db, err, s, "get job");
    db_finalize(st);
    return rc;
}

/* WHERE clause of a filter; binds are applied by filter_bind in the same order. */
static int filter_where(const struct db_job_filter *f, struct buf *b, struct mb_err *err)
{
    /* ?1 is always the LIKE pattern (NULL = no text search), so plain '?' start at 2. */
    buf_puts(b, " WHERE (CAST(?1 AS TEXT) IS NULL OR source_login LIKE ?1 ESCAPE '\\' "
                "OR source_host LIKE ?1 ESCAPE '\\' OR dest_login LIKE ?1 ESCAPE '\\')");
    if (f->query && strlen(f->query) > DB_JOB_QUERY_MAX)
        return mb_err_set(err, MB_ETOOBIG, "search text longer than %d bytes", DB_JOB_QUERY_MAX);
    if (f->state != DB_JOB_ANY) {
        if (!db_job_state_name(f->state))
            return mb_err_set(err, MB_ECONFIG, "bad state filter %d", (int)f->state);
        buf_puts(b, " AND state = ?");
    }
    if (f->batch_id)
        buf_puts(b, " AND batch_id = ?");
    if (f->account_id)
        buf_puts(b, " AND account_id = ?");
    if (f->restrict_domains) {
        if (f->n_domains > DB_JOB_FILTER_DOMAINS_MAX)
            return mb_err_set(err, MB_ETOOBIG, "more than %d domains", DB_JOB_FILTER_DOMAINS_MAX);
        if (f->n_domains == 0) {
            buf_puts(b, " AND 0");
        } else {
            buf_puts(b, " AND dest_domain IN (");
            for (size_t i = 0; i < f->n_domains; i++)
                buf_puts(b, i ? ", ?" : "?");
            buf_puts(b, ")");
        }
    }
    return 0;
}

static void filter_bind(db_stmt *st, const struct db_job_filter *f, int *i)
{
    int n = 2;
    if (f->query && *f->query) {
        struct buf pat;
        buf_init(&pat, 3 * DB_JOB_QUERY_MAX + 8);
        buf_putc(&pat, '%');
        for (const char *c = f->query; *c; c++) {
            if (*c == '%' || *c == '_' || *c == '\\')
                buf_putc(&pat, '\\');
            buf_putc(&pat, *c);
        }
        buf_putc(&pat, '%');
        db_bind_text(st, 1, buf_cstr(&pat));
        buf_fini(&pat);
    }
    if (f->state != DB_JOB_ANY)
        db_bind_text(st, n++, db_job_state_name(f->state));
    if (f->batch_id)
        db_bind_int64(st, n++, f->batch_id);
    if (f->account_id)
        db_bind_int64(st, n++, f->account_id);
    if (f->restrict_domains) {
        for (size_t k = 0; k < f->n_domains; k++) {
            const char *d = f->domains[k];
            char *low = xstrdup(d ? d : "");
            for (char *c = low; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c - 'A' + 'a');
            db_bind_text(st, n++, low);
            free(low);
        }
    }
    *i = n;
}

int db_job_list(struct db *db, const struct db_job_filter *filter, struct db_job_list *list_r,
                struct mb_err *err)
{
    static const struct db_job_filter all;
    const struct db_job_filter *f = filter ? filter : &all;
    struct buf where, sql;
    db_stmt *cst = NULL, *st = NULL;
    int opened = 0, next;
    struct db_job_list list = {0};
    size_t limit = f->limit ? f->limit : DB_JOB_LIST_DEFAULT, cap = 0;
    if (limit > DB_JOB_LIST_MAX)
        limit = DB_JOB_LIST_MAX;
    buf_init(&where, 64 * 1024);
    buf_init(&sql, 64 * 1024);
    int rc = filter_where(f, &where, err);
    if (rc < 0)
        goto out;
    rc = db_read_begin(db, &opened, err);
    if (rc < 0)
        goto out;

    buf_printf(&sql, "SELECT count(*) FROM jobs%s", buf_cstr(&where));
    rc = db_prepare(db, buf_cstr(&sql), &cst, err);
    if (rc < 0)
        goto out;
    filter_bind(cst, f, &next);
    int s = db_step_first(db, cst);
    if (s != SQLITE_ROW) {
        rc = db_fail(db, err, s, "count jobs");
        goto out;
    }
    list.total = db_col_int64(cst, 0);

    buf_reset(&sql);
    buf_printf(&sql, "SELECT " JOB_COLS ", NULL FROM jobs%s ORDER BY id DESC LIMIT ? OFFSET ?",
               buf_cstr(&where));
    rc = db_prepare(db, buf_cstr(&sql), &st, err);
    if (rc < 0)
        goto out;
    filter_bind(st, f, &next);
    db_bind_int64(st, next, (int64_t)limit);
    db_bind_int64(st, next + 1, (int64_t)(f->offset > INT64_MAX ? INT64_MAX : f->offset));
    for (s = db_step_first(db, st); s == SQLITE_ROW; s = db_step(st)) {
        if (list.n == cap) {
            cap = cap ? cap * 2 : 16;
            list.jobs = xrealloc(list.jobs, cap * sizeof(*list.jobs));
        }
        job_read(st, &list.jobs[list.n++], 0);
    }
    if (s != SQLITE_DONE) {
        rc = db_fail(db, err, s, "list jobs");
        goto out;
    }
    *list_r = list;
    memset(&list, 0, sizeof(list));
out:
    db_finalize(cst);
    db_finalize(st);
    db_read_end(db, opened);
    db_job_list_fini(&list);
    buf_fini(&where);
    buf_fini(&sql);
    return rc;
}

int db_job_count_by_state(struct db *db, int64_t counts_r[5], struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, "SELECT state, count(*) FROM jobs GROUP BY state", &st, err);
    if (rc < 0)
        return rc;
    for (int i = 0; i < 5; i++)
        counts_r[i] = 0;
    int s;
    for (s = db_step_first(db, st); s == SQLITE_ROW; s = db_step(st)) {
        enum db_job_state js = db_job_state_parse((const char *)db_col_text(st, 0));
        int64_t n = db_col_int64(st, 1);
        counts_r[js] += n;
        if (js != DB_JOB_ANY)
            counts_r[DB_JOB_ANY] += n;
    }
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "count jobs");
    db_finalize(st);
    return rc;
}

/* ---- worker side ---- */

/* Make a job running for worker: sql is an UPDATE … RETURNING of at most one job, with ?1 the
 * worker, ?2 now, and ?3 / ?4 the caller's a3 / a4 when it uses them. 1 claimed, 0 none, <0. */
static int claim_one(struct db *db, const char *sql, const char *worker, int64_t a3, int64_t a4,
                     const char *what, struct db_job *job_r, struct mb_err *err)
{
    int rc = check_text("worker", worker, 0, err);
    if (rc < 0)
        return rc;
    db_stmt *st;
    rc = db_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    db_bind_text(st, 1, worker);
    db_bind_int64(st, 2, db_now());
    if (db_bind_count(st) >= 4) {
        db_bind_int64(st, 3, a3);
        db_bind_int64(st, 4, a4);
    }
    if (db_bind_count(st) >= 5)
        db_bind_text(st, 5, db->node);
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW) {
        job_read(st, job_r, 1);
        s = db_step(st);
        rc = 1;
        if (s != SQLITE_DONE) {
            db_job_fini(job_r);
            rc = db_fail(db, err, s, what);
        }
    } else if (s == SQLITE_DONE) {
        rc = 0;
    } else {
        rc = db_fail(db, err, s, what);
    }
    db_finalize(st);
    return rc;
}

/* The UPDATE that makes a job running (both backends; ?3 is the job's id on PostgreSQL's
 * path, the subquery on SQLite's). */
#define CLAIM_SET                                                                                  \
    "UPDATE jobs SET state = 'running', worker = ?1, error = NULL, error_code = NULL, "            \
    "error_params = NULL, node = ?5, "                                                             \
    "started_at = ?2, updated_at = ?2, heartbeat_at = ?2, finished_at = NULL "

/* PostgreSQL: the key space of the per-host advisory locks ("mgrh"; the migration lock is
 * "mgrb", db_pg.c). The key inside it is hashtext(lower(source host)): two hosts may share a
 * lock (a hash collision), which only serializes them. */
#define PG_HOST_LOCK_NS "1835496040"

/* Source connections in use for a host, across nodes: its running jobs (one connection each)
 * and their extra lanes (jobs.extra_conns). ?1 = lower(host). */
#define PG_HOST_CONNS                                                                              \
    "(SELECT count(*) + COALESCE(sum(h.extra_conns), 0) FROM jobs h "                              \
    "WHERE h.state = 'running' AND lower(h.source_host) = ?1)"

/* One statement returning one integer (0 when no row). */
static int pg_scalar(struct db *db, const char *sql, const char *t1, int64_t i2, int64_t i3,
                     int64_t *v_r, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    int np = db_bind_count(st);
    if (np >= 1)
        db_bind_text(st, 1, t1);
    if (np >= 2)
        db_bind_int64(st, 2, i2);
    if (np >= 3)
        db_bind_int64(st, 3, i3);
    int s = db_step(st);
    *v_r = 0;
    if (s == SQLITE_ROW)
        *v_r = db_col_int64(st, 0);
    else if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "claim job");
    db_finalize(st);
    return rc;
}

/* Under the host's lock: may job id (pending, row-locked by us) start? Its pair has no running
 * job, and the host has fewer than cap connections in use (cap <= 0: no cap). */
static int pg_claim_ok(struct db *db, const char *host, int64_t id, int cap, int *ok_r, int *full_r,
                       struct mb_err *err)
{
    int64_t v = 0;
    int rc = pg_scalar(db,
                       "SELECT CASE WHEN NOT (?3 <= 0 OR " PG_HOST_CONNS " < ?3) THEN 2 "
                       "WHEN EXISTS (SELECT 1 FROM jobs p JOIN jobs r "
                       "ON r.pair_key = p.pair_key AND r.state = 'running' WHERE p.id = ?2) "
                       "THEN 0 ELSE 1 END",
                       host, id, cap, &v, err);
    *ok_r = rc == 0 && v == 1;
    if (full_r)
        *full_r = rc == 0 && v == 2;
    return rc;
}

/* Make the row-locked pending job id running. 1 (job_r filled) or < 0. */
static int pg_claim_set(struct db *db, const char *worker, int64_t id, struct db_job *job_r,
                        struct mb_err *err)
{
    int rc = claim_one(db,
                       CLAIM_SET ", extra_conns = 0 WHERE id = ?3 AND state = 'pending' "
                                 "RETURNING " JOB_COLS ", report",
                       worker, id, 0, "claim job", job_r, err);
    return rc == 0 ? mb_err_set(err, MB_EIO, "claim job: job %lld changed under its row lock",
                                (long long)id)
                   : rc;
}

/* The next claimable-looking pending job after id `after`, row-locked (FOR UPDATE SKIP LOCKED:
 * a row another claimer holds is passed over, never waited for). The pair and cap conditions
 * here only narrow the search (read without the host's lock); pg_claim_ok decides. */
static int pg_claim_next(struct db *db, int64_t after, int host_cap, char *const *skip,
                         size_t n_skip, int64_t *id_r, char **host_r, char **type_r,
                         struct mb_err *err)
{
    struct buf sql;
    buf_init(&sql, 64 * 1024);
    buf_puts(&sql,
             "SELECT p.id, lower(p.source_host), p.server_type FROM jobs p WHERE p.state = "
             "'pending' AND p.not_before <= ?1 AND p.id > ?2 AND NOT EXISTS (SELECT 1 FROM jobs r "
             "  WHERE r.pair_key = p.pair_key AND r.state = 'running') "
             "AND (?3 <= 0 OR (SELECT count(*) + COALESCE(sum(h.extra_conns), 0) FROM jobs h "
             "  WHERE h.state = 'running' AND lower(h.source_host) = lower(p.source_host)) < ?3)");
    /* the hosts already found full or being claimed elsewhere: not their other jobs */
    for (size_t i = 0; i < n_skip; i++)
        buf_printf(&sql, " AND lower(p.source_host) <> ?%zu", i + 4);
    buf_puts(&sql, " ORDER BY p.id LIMIT 1 FOR UPDATE OF p SKIP LOCKED");
    db_stmt *st;
    int rc = db_prepare(db, buf_cstr(&sql), &st, err);
    buf_fini(&sql);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, db_now());
    db_bind_int64(st, 2, after);
    db_bind_int64(st, 3, host_cap);
    for (size_t i = 0; i < n_skip; i++)
        db_bind_text(st, (int)i + 4, skip[i]);
    int s = db_step(st);
    *id_r = 0;
    if (s == SQLITE_ROW) {
        *id_r = db_col_int64(st, 0);
        *host_r = db_col_strdup(st, 1);
        *type_r = db_col_strdup(st, 2);
        if (!*host_r)
            *host_r = xstrdup("");
    } else if (s != SQLITE_DONE) {
        rc = db_fail(db, err, s, "claim job");
    }
    db_finalize(st);
    return rc;
}

static int pg_host_lock(struct db *db, const char *host, int wait, int *got_r, struct mb_err *err)
{
    int64_t v = 0;
    int rc = pg_scalar(db,
                       wait ? "SELECT 1 FROM (SELECT pg_advisory_xact_lock(" PG_HOST_LOCK_NS
                              ", hashtext(?1))) x"
                            : "SELECT CASE WHEN pg_try_advisory_xact_lock(" PG_HOST_LOCK_NS
                              ", hashtext(?1)) THEN 1 ELSE 0 END",
                       host, 0, 0, &v, err);
    *got_r = rc == 0 && v == 1;
    return rc;
}

#define PG_CLAIM_SCAN 64 /* candidates looked at per claim, at most */

/* PostgreSQL's claim, without the store's global write lock (db.c): the claims of different
 * hosts run side by side on all nodes. A candidate is row-locked with FOR UPDATE SKIP LOCKED
 * (so each job is claimed once); the aggregate rules — the per-host cap, no two running jobs
 * of one pair (the pair key begins with the host) — are checked again under a
 * transaction-scoped advisory lock of the host, which every claim, db_job_take and
 * db_job_conn_take of that host takes, so that they stay exact across nodes. A claimer only
 * tries the host locks (never waits) while it holds one; when every candidate's host was
 * busy, it waits for the first one in a new transaction holding no other lock: no deadlock. */
static int pg_claim(struct db *db, const char *worker, int host_cap, db_job_cap_fn cap_fn,
                    struct db_job *job_r, struct mb_err *err)
{
    int64_t after = 0, busy_id = 0;
    char *busy_host = NULL, *busy_type = NULL;
    char *skip[PG_CLAIM_SCAN];
    size_t n_skip = 0;
    int rc = db_exec(db, "BEGIN", err), claimed = 0;
    for (int n = 0; rc == 0 && !claimed && n < PG_CLAIM_SCAN; n++) {
        int64_t id = 0;
        char *host = NULL, *type = NULL;
        rc = pg_claim_next(db, after, host_cap, skip, n_skip, &id, &host, &type, err);
        if (rc < 0 || id == 0)
            break;
        after = id;
        int got = 0, ok = 0, full = 0;
        int cap = cap_fn ? cap_fn(type, host_cap) : host_cap;
        rc = pg_host_lock(db, host, 0, &got, err);
        if (rc == 0 && got)
            rc = pg_claim_ok(db, host, id, cap, &ok, &full, err);
        /* A host being claimed elsewhere, or full for this job's cap: its other jobs are
         * passed over for the rest of this claim (so that a host with many pending jobs
         * does not fill the scan while other hosts have room). */
        if (rc == 0 && (!got || full) && n_skip < PG_CLAIM_SCAN)
            skip[n_skip++] = xstrdup(host);
        if (rc == 0 && ok && (rc = pg_claim_set(db, worker, id, job_r, err)) == 1) {
            rc = 0;
            claimed = 1;
        }
        if (rc == 0 && !got && !busy_id) {
            busy_id = id;
            busy_host = host;
            busy_type = type;
            host = type = NULL;
        }
        free(host);
        free(type);
    }
    if (rc == 0 && !claimed && busy_id) {
        /* Every candidate's host was being claimed by another: wait for the first one, holding
         * nothing else (the rows locked above are released). */
        rc = db_exec(db, "COMMIT", err);
        if (rc == 0)
            rc = db_exec(db, "BEGIN", err);
        int got = 0, ok = 0;
        int64_t id = 0;
        if (rc == 0)
            rc = pg_host_lock(db, busy_host, 1, &got, err);
        if (rc == 0)
            rc = pg_scalar(db,
                           "SELECT id FROM jobs WHERE id = ?2 AND state = 'pending' "
                           "FOR UPDATE SKIP LOCKED",
                           NULL, busy_id, 0, &id, err);
        if (rc == 0 && id == busy_id)
            rc = pg_claim_ok(db, busy_host, id, cap_fn ? cap_fn(busy_type, host_cap) : host_cap,
                             &ok, NULL, err);
        if (rc == 0 && ok && (rc = pg_claim_set(db, worker, id, job_r, err)) == 1) {
            rc = 0;
            claimed = 1;
        }
    }
    free(busy_host);
    free(busy_type);
    for (size_t i = 0; i < n_skip; i++)
        free(skip[i]);
    if (rc == 0)
        rc = db_exec(db, "COMMIT", err);
    else
        db_rollback(db);
    if (rc < 0 && claimed)
        db_job_fini(job_r);
    return rc < 0 ? rc : claimed;
}

int db_job_claim_capped(struct db *db, const char *worker, int host_cap, db_job_cap_fn cap_fn,
                        struct db_job *job_r, struct mb_err *err)
{
    if (db->pg) {
        if (db_in_transaction(db))
            return mb_err_set(err, MB_EIO, "claim job: inside a transaction");
        int rc = check_text("worker", worker, 0, err);
        return rc < 0 ? rc : pg_claim(db, worker, host_cap, cap_fn, job_r, err);
    }
    /* SQLite: one writer at a time (BEGIN IMMEDIATE); one node, whose workers also count their
     * connections per host in memory (jobs.c), with the server type's cap. */
    int outer;
    int rc = db_tx_begin(db, &outer, err);
    if (rc < 0)
        return rc;
    rc = claim_one(db,
                   CLAIM_SET
                   "WHERE id = (SELECT p.id FROM jobs p WHERE p.state = 'pending' "
                   "            AND p.not_before <= ?2 AND NOT EXISTS (SELECT 1 FROM jobs r "
                   "              WHERE r.pair_key = p.pair_key AND r.state = 'running') "
                   "            AND (?3 <= 0 OR (SELECT count(*) FROM jobs h "
                   "              WHERE h.state = 'running' "
                   "              AND lower(h.source_host) = lower(p.source_host)) < ?3) "
                   "            ORDER BY p.id LIMIT 1) AND state = 'pending' "
                   "RETURNING " JOB_COLS ", report",
                   worker, host_cap, 0, "claim job", job_r, err);
    int end = db_tx_end(db, outer, rc < 0 ? rc : 0, err);
    if (end < 0) {
        if (rc == 1)
            db_job_fini(job_r);
        return end;
    }
    return rc;
}

int db_job_claim(struct db *db, const char *worker, int host_cap, struct db_job *job_r,
                 struct mb_err *err)
{
    return db_job_claim_capped(db, worker, host_cap, NULL, job_r, err);
}

static int take_one(struct db *db, int64_t id, const char *worker, int64_t stale_before,
                    struct db_job *job_r, struct mb_err *err)
{
    return claim_one(db,
                     "UPDATE jobs SET state = 'running', worker = ?1, error = NULL, error_code = "
                     "NULL, error_params = NULL, node = ?5, "
                     "started_at = ?2, updated_at = ?2, heartbeat_at = ?2, finished_at = NULL, "
                     "cancel_requested = 0 "
                     "WHERE id = ?3 AND (state != 'running' OR COALESCE(heartbeat_at, 0) < ?4) "
                     /* never beside a live job of the same mailbox pair (exactly once across
                      * jobs: the two would each copy what the other has not recorded yet) */
                     "AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.pair_key = jobs.pair_key "
                     "  AND r.id <> jobs.id AND r.state = 'running' "
                     "  AND COALESCE(r.heartbeat_at, 0) >= ?2 - 60) "
                     "RETURNING " JOB_COLS ", report",
                     worker, id, stale_before, "take job", job_r, err);
}

int db_job_take(struct db *db, int64_t id, const char *worker, int64_t stale_before,
                struct db_job *job_r, struct mb_err *err)
{
    if (!db->pg || db_in_transaction(db))
        return take_one(db, id, worker, stale_before, job_r, err);
    /* PostgreSQL: under the host's advisory lock, as the claims (the pair rule). */
    char *host = NULL;
    db_stmt *st;
    int rc = db_exec(db, "BEGIN", err);
    if (rc == 0
        && (rc = db_prepare(db, "SELECT lower(source_host) FROM jobs WHERE id = ?1", &st, err))
               == 0) {
        db_bind_int64(st, 1, id);
        int s = db_step(st);
        if (s == SQLITE_ROW)
            host = db_col_strdup(st, 0);
        else if (s != SQLITE_DONE)
            rc = db_fail(db, err, s, "take job");
        db_finalize(st);
    }
    int got = 0, taken = 0;
    if (rc == 0 && host)
        rc = pg_host_lock(db, host, 1, &got, err);
    if (rc == 0)
        rc = taken = take_one(db, id, worker, stale_before, job_r, err);
    if (rc == 1) {
        int changes = 0;
        rc = run_update(db, "UPDATE jobs SET extra_conns = 0 WHERE id = ?1", id, NULL, 0, &changes,
                        err);
    }
    if (rc == 0)
        rc = db_exec(db, "COMMIT", err);
    else
        db_rollback(db);
    free(host);
    if (rc < 0 && taken == 1)
        db_job_fini(job_r);
    return rc < 0 ? rc : taken;
}

int db_job_conn_take(struct db *db, int64_t id, const char *host, int cap, struct mb_err *err)
{
    if (!db->pg)
        return mb_err_set(err, MB_EIO, "connection slots: PostgreSQL store only");
    char *lhost = xstrdup(host ? host : "");
    for (char *p = lhost; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    int got = 0, changes = 0;
    int64_t used = 0;
    int rc = db_exec(db, "BEGIN", err);
    if (rc == 0)
        rc = pg_host_lock(db, lhost, 1, &got, err);
    if (rc == 0)
        rc = pg_scalar(db, "SELECT " PG_HOST_CONNS, lhost, 0, 0, &used, err);
    if (rc == 0 && (cap <= 0 || used < cap))
        rc = run_update(db,
                        "UPDATE jobs SET extra_conns = extra_conns + 1 WHERE id = ?1 "
                        "AND state = 'running' AND node IS NOT DISTINCT FROM ?5",
                        id, NULL, 0, &changes, err);
    if (rc == 0)
        rc = db_exec(db, "COMMIT", err);
    else
        db_rollback(db);
    free(lhost);
    return rc < 0 ? rc : changes == 1;
}

int db_job_conn_release(struct db *db, int64_t id, struct mb_err *err)
{
    if (!db->pg)
        return 0;
    int changes = 0;
    return run_update(db,
                      "UPDATE jobs SET extra_conns = greatest(extra_conns - 1, 0) WHERE id = ?1 "
                      "AND state = 'running' AND node IS NOT DISTINCT FROM ?5",
                      id, NULL, 0, &changes, err);
}

int db_job_find_same(struct db *db, const char *source_host, int source_port,
                     const char *source_login, const char *dest_login, int64_t *id_r,
                     struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT id FROM jobs WHERE source_host = ?1 AND source_port = ?2 "
                        "AND source_login = ?3 AND dest_login = ?4 ORDER BY id DESC LIMIT 1",
                        &st, err);
    if (rc < 0)
        return rc;
    db_bind_text(st, 1, source_host);
    db_bind_int64(st, 2, source_port);
    db_bind_text(st, 3, source_login);
    db_bind_text(st, 4, dest_login);
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW) {
        *id_r = db_col_int64(st, 0);
        rc = 0;
    } else if (s == SQLITE_DONE) {
        rc = MB_ENOTFOUND;
    } else {
        rc = db_fail(db, err, s, "find job");
    }
    db_finalize(st);
    return rc;
}

/* Run one statement whose parameters are among ?1 id, ?2 text, ?3 num, ?4 now, ?5 the
 * connection's node (unused
 * numbers below the highest one used may be bound freely); *changes_r = rows changed. */
static int run_update(struct db *db, const char *sql, int64_t id, const char *text, int64_t num,
                      int *changes_r, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    int np = db_bind_count(st);
    if (np >= 1)
        db_bind_int64(st, 1, id);
    if (np >= 2)
        db_bind_text(st, 2, text);
    if (np >= 3)
        db_bind_int64(st, 3, num);
    if (np >= 4)
        db_bind_int64(st, 4, db_now());
    if (np >= 5)
        db_bind_text(st, 5, db->node);
    int s = db_step_first(db, st);
    if (s == SQLITE_DONE)
        *changes_r = db_changes(db);
    else
        rc = db_fail(db, err, s, "update job");
    db_finalize(st);
    return rc;
}

/* *state_r = the job's state, or MB_ENOTFOUND. */
static int job_state(struct db *db, int64_t id, enum db_job_state *state_r, int *has_secret_r,
                     struct mb_err *err)
{
    db_stmt *st;
    /* PostgreSQL, in a transaction: the row is locked until its end, so that the state read
     * stays true for the caller's next statements (claims take no store-wide lock there: a
     * claim passes over this row, SKIP LOCKED). */
    int rc = db_prepare(db,
                        db->pg && db_in_transaction(db)
                            ? "SELECT state, source_secret IS NOT NULL FROM jobs WHERE id = ?1 "
                              "FOR UPDATE"
                            : "SELECT state, source_secret IS NOT NULL FROM jobs WHERE id = ?1",
                        &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, id);
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW) {
        *state_r = db_job_state_parse((const char *)db_col_text(st, 0));
        if (has_secret_r)
            *has_secret_r = db_col_int(st, 1);
    } else if (s == SQLITE_DONE) {
        rc = not_found(err, id);
    } else {
        rc = db_fail(db, err, s, "job state");
    }
    db_finalize(st);
    return rc;
}

static int not_running(struct db *db, int64_t id, struct mb_err *err)
{
    enum db_job_state js;
    int rc = job_state(db, id, &js, NULL, err);
    if (rc < 0)
        return rc;
    if (js == DB_JOB_RUNNING) /* by another node: this connection's node was fenced */
        return mb_err_set(err, MB_ECANCELED,
                          "job %lld is run by another node (this node's lease was lost)",
                          (long long)id);
    return mb_err_set(err, MB_ENOTFOUND, "job %lld is not running (%s)", (long long)id,
                      db_job_state_name(js));
}

int db_job_requeue_running(struct db *db, int64_t *n_r, struct mb_err *err)
{
    int outer, changes = 0;
    int rc = db_tx_begin(db, &outer, err);
    if (rc < 0)
        return rc;
    /* The log line: coded (text: its English, for the readers of text alone). */
    char *sql = sqlite3_mprintf(
        "INSERT INTO job_log (job_id, ts, level, text, code) "
        "SELECT id, ?4, 'warn', CASE WHEN cancel_requested <> 0 THEN %Q ELSE %Q END, "
        "CASE WHEN cancel_requested <> 0 THEN %Q ELSE %Q END FROM jobs WHERE state = 'running'",
        msgcat[MSG_LOG_RESTART_CANCELLED].en, msgcat[MSG_LOG_RESTART_REQUEUED].en,
        msgcat[MSG_LOG_RESTART_CANCELLED].code, msgcat[MSG_LOG_RESTART_REQUEUED].code);
    rc = sql ? run_update(db, sql, 0, NULL, 0, &changes, err)
             : mb_err_set(err, MB_EIO, "out of memory");
    sqlite3_free(sql);
    if (rc == 0)
        rc = run_update(db,
                        "UPDATE jobs SET state = 'failed', error = ?2, error_code = 'cancelled', "
                        "error_params = NULL, finished_at = ?4, "
                        "updated_at = ?4, cancel_requested = 0, "
                        "current_folder = NULL WHERE state = 'running' AND cancel_requested <> 0",
                        0, DB_JOB_ERROR_CANCELLED, 0, &changes, err);
    if (rc == 0)
        rc = run_update(db,
                        "UPDATE jobs SET state = 'pending', worker = NULL, heartbeat_at = NULL, "
                        "not_before = 0, updated_at = ?4 WHERE state = 'running'",
                        0, NULL, 0, &changes, err);
    rc = db_tx_end(db, outer, rc, err);
    if (rc == 0 && n_r)
        *n_r = changes;
    return rc;
}

int db_job_progress_update(struct db *db, int64_t id, const struct db_job_counters *c,
                           const char *current_folder, int *cancel_r, struct mb_err *err)
{
    int rc = check_text("current_folder", current_folder, 0, err);
    if (rc < 0)
        return rc;
    db_stmt *st;
    rc = db_prepare(
        db,
        "UPDATE jobs SET folders_total = ?2, folders_done = ?3, messages_total = ?4, "
        "messages_copied = ?5, messages_skipped = ?6, messages_failed = ?7, "
        "bytes_total = ?8, bytes_copied = ?9, current_folder = ?10, "
        "heartbeat_at = ?11, updated_at = ?11 "
        "WHERE id = ?1 AND state = 'running' AND (CAST(?12 AS TEXT) IS NULL OR node = ?12) "
        "RETURNING cancel_requested",
        &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, id);
    db_bind_int64(st, 2, c->folders_total);
    db_bind_int64(st, 3, c->folders_done);
    db_bind_int64(st, 4, c->messages_total);
    db_bind_int64(st, 5, c->messages_copied);
    db_bind_int64(st, 6, c->messages_skipped);
    db_bind_int64(st, 7, c->messages_failed);
    db_bind_int64(st, 8, c->bytes_total);
    db_bind_int64(st, 9, c->bytes_copied);
    db_bind_text(st, 10, current_folder);
    db_bind_int64(st, 11, db_now());
    db_bind_text(st, 12, db->node);
    int s = db_step_first(db, st);
    int found = 0;
    if (s == SQLITE_ROW) {
        found = 1;
        if (cancel_r)
            *cancel_r = db_col_int(st, 0);
        s = db_step(st);
    }
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "progress update");
    db_finalize(st);
    if (rc == 0 && !found)
        rc = not_running(db, id, err);
    return rc;
}

/* msg as the columns error (its English text), error_code and error_params (NULL = none). */
struct job_msg {
    const char *text, *code, *params;
    char params_buf[MB_ERR_PARAMS_LEN + 64];
};

static void job_msg_of(struct job_msg *m, const struct mb_err *msg)
{
    memset(m, 0, sizeof(*m));
    if (!msg)
        return;
    m->text = msg->msg;
    m->code = mb_err_code(msg);
    m->params = mb_err_params(msg, m->params_buf, sizeof(m->params_buf));
}

static void job_msg_text(struct job_msg *m, const char *text)
{
    memset(m, 0, sizeof(*m));
    m->text = text; /* a text without a code: error_code stays NULL */
}

static int finish(struct db *db, int64_t id, enum db_job_state state, const struct job_msg *m,
                  const char *report, int erase_credentials, struct mb_err *err);

int db_job_finish(struct db *db, int64_t id, enum db_job_state state, const char *error,
                  const char *report, struct mb_err *err)
{
    struct job_msg m;
    job_msg_text(&m, error);
    return finish(db, id, state, &m, report, 0, err);
}

int db_job_finish_msg(struct db *db, int64_t id, enum db_job_state state, const struct mb_err *msg,
                      const char *report, int erase_credentials, struct mb_err *err)
{
    struct job_msg m;
    job_msg_of(&m, msg);
    return finish(db, id, state, &m, report, erase_credentials, err);
}

static int finish(struct db *db, int64_t id, enum db_job_state state, const struct job_msg *m,
                  const char *report, int erase_credentials, struct mb_err *err)
{
    const char *error = m->text;
    if (state != DB_JOB_DONE && state != DB_JOB_FAILED)
        return mb_err_set(err, MB_ECONFIG, "a job can only finish done or failed");
    int rc = check_text("error", error, 0, err);
    if (rc < 0)
        return rc;
    if (report && strlen(report) > DB_JOB_REPORT_MAX)
        return mb_err_set(err, MB_ETOOBIG, "report larger than %d bytes", DB_JOB_REPORT_MAX);
    db_stmt *st;
#define FINISH_SET                                                                                 \
    "UPDATE jobs SET state = ?2, error = ?3, report = ?4, finished_at = ?5, "                      \
    "error_code = ?6, error_params = ?7, updated_at = ?5, heartbeat_at = ?5, "                     \
    "current_folder = NULL, cancel_requested = 0"
#define FINISH_WHERE                                                                               \
    " WHERE id = ?1 AND state = 'running' AND (CAST(?8 AS TEXT) IS NULL OR node = ?8)"
    rc = db_prepare(db,
                    erase_credentials ? FINISH_SET
                        ", source_secret = NULL, auth_profile = NULL" FINISH_WHERE
                                      : FINISH_SET FINISH_WHERE,
                    &st, err);
#undef FINISH_SET
#undef FINISH_WHERE
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, id);
    db_bind_text(st, 2, db_job_state_name(state));
    db_bind_text(st, 3, error);
    db_bind_text(st, 4, report);
    db_bind_int64(st, 5, db_now());
    db_bind_text(st, 6, m->code);
    db_bind_text(st, 7, m->params);
    db_bind_text(st, 8, db->node);
    int s = db_step_first(db, st);
    int changes = 0;
    if (s == SQLITE_DONE)
        changes = db_changes(db);
    else
        rc = db_fail(db, err, s, "finish job");
    db_finalize(st);
    if (rc == 0 && changes == 0)
        rc = not_running(db, id, err);
    return rc;
}

static int defer(struct db *db, int64_t id, int64_t not_before, const struct job_msg *m,
                 int attempt, struct mb_err *err);

int db_job_defer(struct db *db, int64_t id, int64_t not_before, const char *error,
                 struct mb_err *err)
{
    struct job_msg m;
    job_msg_text(&m, error);
    return defer(db, id, not_before, &m, 0, err);
}

int db_job_retry_later(struct db *db, int64_t id, int64_t not_before, const char *error,
                       struct mb_err *err)
{
    struct job_msg m;
    job_msg_text(&m, error);
    return defer(db, id, not_before, &m, 1, err);
}

int db_job_defer_msg(struct db *db, int64_t id, int64_t not_before, const struct mb_err *msg,
                     struct mb_err *err)
{
    struct job_msg m;
    job_msg_of(&m, msg);
    return defer(db, id, not_before, &m, 0, err);
}

int db_job_retry_later_msg(struct db *db, int64_t id, int64_t not_before, const struct mb_err *msg,
                           struct mb_err *err)
{
    struct job_msg m;
    job_msg_of(&m, msg);
    return defer(db, id, not_before, &m, 1, err);
}

static int defer(struct db *db, int64_t id, int64_t not_before, const struct job_msg *m,
                 int attempt, struct mb_err *err)
{
    int changes = 0;
    int rc = check_text("error", m->text, 0, err);
    db_stmt *st = NULL;
    if (rc == 0)
        rc = db_prepare(db,
                        attempt ? "UPDATE jobs SET state = 'pending', error = ?2, not_before = ?3, "
                                  "error_code = ?6, error_params = ?7, "
                                  "worker = NULL, heartbeat_at = NULL, current_folder = NULL, "
                                  "attempts = attempts + 1, node = NULL, updated_at = ?4 "
                                  "WHERE id = ?1 AND state = 'running' "
                                  "AND (CAST(?5 AS TEXT) IS NULL OR node = ?5)"
                                : "UPDATE jobs SET state = 'pending', error = ?2, not_before = ?3, "
                                  "error_code = ?6, error_params = ?7, "
                                  "worker = NULL, heartbeat_at = NULL, current_folder = NULL, "
                                  "node = NULL, updated_at = ?4 "
                                  "WHERE id = ?1 AND state = 'running' "
                                  "AND (CAST(?5 AS TEXT) IS NULL OR node = ?5)",
                        &st, err);
    if (rc == 0) {
        db_bind_int64(st, 1, id);
        db_bind_text(st, 2, m->text);
        db_bind_int64(st, 3, not_before);
        db_bind_int64(st, 4, db_now());
        db_bind_text(st, 5, db->node);
        db_bind_text(st, 6, m->code);
        db_bind_text(st, 7, m->params);
        int s = db_step_first(db, st);
        if (s == SQLITE_DONE)
            changes = db_changes(db);
        else
            rc = db_fail(db, err, s, "update job");
    }
    db_finalize(st);
    if (rc == 0 && changes == 0)
        rc = not_running(db, id, err);
    return rc;
}

/* ---- user side ---- */

int db_job_request_cancel(struct db *db, int64_t id, enum db_job_state *state_r, struct mb_err *err)
{
    int outer, changes = 0;
    enum db_job_state js = DB_JOB_ANY;
    int rc = db_tx_begin(db, &outer, err);
    if (rc < 0)
        return rc;
    rc = job_state(db, id, &js, NULL, err);
    if (rc == 0 && js == DB_JOB_PENDING) {
        rc = run_update(db,
                        "UPDATE jobs SET state = 'failed', error = ?2, error_code = 'cancelled', "
                        "error_params = NULL, finished_at = ?4, "
                        "updated_at = ?4, not_before = 0 "
                        "WHERE id = ?1 AND state = 'pending'",
                        id, DB_JOB_ERROR_CANCELLED, 0, &changes, err);
        js = DB_JOB_FAILED;
    } else if (rc == 0 && js == DB_JOB_RUNNING) {
        rc = run_update(db,
                        "UPDATE jobs SET cancel_requested = 1, updated_at = ?4 "
                        "WHERE id = ?1",
                        id, NULL, 0, &changes, err);
    }
    rc = db_tx_end(db, outer, rc, err);
    if (rc == 0 && state_r)
        *state_r = js;
    return rc;
}

int db_job_cancel_requested(struct db *db, int64_t id, int *flag_r, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, "SELECT cancel_requested FROM jobs WHERE id = ?1", &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, id);
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW)
        *flag_r = db_col_int(st, 0);
    else if (s == SQLITE_DONE)
        rc = not_found(err, id);
    else
        rc = db_fail(db, err, s, "cancel flag");
    db_finalize(st);
    return rc;
}

/* 1 if the job is finalized (errors read as 0: the caller's next statement reports them). */
static int job_finalized(struct db *db, int64_t id)
{
    db_stmt *st;
    if (db_prepare(db, "SELECT finalized_at IS NOT NULL FROM jobs WHERE id = ?1", &st, NULL) < 0)
        return 0;
    db_bind_int64(st, 1, id);
    int f = db_step_first(db, st) == SQLITE_ROW && db_col_int(st, 0);
    db_finalize(st);
    return f;
}

int db_job_retry(struct db *db, int64_t id, const unsigned char *secret, size_t secret_len,
                 struct mb_err *err)
{
    if (secret && secret_len > DB_JOB_SECRET_MAX)
        return mb_err_set(err, MB_ETOOBIG, "secret larger than %d bytes", DB_JOB_SECRET_MAX);
    int outer, has_secret = 0;
    enum db_job_state js;
    int rc = db_tx_begin(db, &outer, err);
    if (rc < 0)
        return rc;
    rc = job_state(db, id, &js, &has_secret, err);
    if (rc == 0 && !secret && job_finalized(db, id))
        rc = mb_err_set(err, MB_ECONFIG, "job %lld is finalized: its credentials were erased",
                        (long long)id);
    if (rc == 0 && (js == DB_JOB_PENDING || js == DB_JOB_RUNNING))
        rc = mb_err_set(err, MB_ECONFIG,
                        "job %lld is %s: only a failed or done job can be "
                        "retried",
                        (long long)id, db_job_state_name(js));
    if (rc == 0 && !secret && !has_secret) {
        /* a job of a source authentication profile (db_profile.h) keeps no password */
        char *profile = NULL;
        db_profile_job_get(db, id, &profile, NULL);
        has_secret = profile != NULL;
        free(profile);
    }
    if (rc == 0 && !secret && !has_secret)
        rc = mb_err_set(err, MB_ECONFIG,
                        "job %lld: the source password is needed to retry "
                        "(it was erased when the job ended)",
                        (long long)id);
    db_stmt *st = NULL;
    if (rc == 0)
        rc = db_prepare(db,
                        "UPDATE jobs SET state = 'pending', error = NULL, error_code = NULL, "
                        "error_params = NULL, report = NULL, "
                        "folders_total = 0, folders_done = 0, messages_total = 0, "
                        "messages_copied = 0, messages_skipped = 0, messages_failed = 0, "
                        "bytes_total = 0, bytes_copied = 0, current_folder = NULL, "
                        "attempts = 0, not_before = 0, started_at = NULL, finished_at = NULL, "
                        "cancel_requested = 0, worker = NULL, heartbeat_at = NULL, "
                        "updated_at = ?3, source_secret = coalesce(?2, source_secret), "
                        "finalized_at = CASE WHEN ?2 IS NULL THEN finalized_at END "
                        "WHERE id = ?1",
                        &st, err);
    if (rc == 0) {
        db_bind_int64(st, 1, id);
        db_bind_blob(st, 2, secret, secret_len);
        db_bind_int64(st, 3, db_now());
        int s = db_step(st);
        if (s != SQLITE_DONE)
            rc = db_fail(db, err, s, "retry job");
    }
    db_finalize(st);
    return db_tx_end(db, outer, rc, err);
}

int db_job_delete(struct db *db, int64_t id, struct mb_err *err)
{
    int outer, changes = 0;
    enum db_job_state js;
    int rc = db_tx_begin(db, &outer, err);
    if (rc < 0)
        return rc;
    rc = job_state(db, id, &js, NULL, err);
    if (rc == 0 && js == DB_JOB_RUNNING)
        rc = mb_err_set(err, MB_ECONFIG, "job %lld is running: cancel it first", (long long)id);
    if (rc == 0)
        rc = run_update(db, "DELETE FROM jobs WHERE id = ?1", id, NULL, 0, &changes, err);
    return db_tx_end(db, outer, rc, err);
}

int db_job_get_secret(struct db *db, int64_t id, unsigned char **blob_r, size_t *len_r,
                      struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, "SELECT source_secret FROM jobs WHERE id = ?1", &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, id);
    *blob_r = NULL;
    *len_r = 0;
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW) {
        const void *p = db_col_blob(st, 0);
        size_t n = (size_t)db_col_bytes(st, 0);
        if (p || db_col_type(st, 0) == SQLITE_BLOB) {
            *blob_r = xmalloc(n ? n : 1);
            if (n)
                memcpy(*blob_r, p, n);
            *len_r = n;
        }
    } else if (s == SQLITE_DONE) {
        rc = not_found(err, id);
    } else {
        rc = db_fail(db, err, s, "get secret");
    }
    db_finalize(st);
    return rc;
}

int db_job_set_secret(struct db *db, int64_t id, const unsigned char *blob, size_t len,
                      struct mb_err *err)
{
    if (blob && len > DB_JOB_SECRET_MAX)
        return mb_err_set(err, MB_ETOOBIG, "secret larger than %d bytes", DB_JOB_SECRET_MAX);
    db_stmt *st;
    int rc = db_prepare(db, "UPDATE jobs SET source_secret = ?2, updated_at = ?3 WHERE id = ?1",
                        &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, id);
    db_bind_blob(st, 2, blob, len);
    db_bind_int64(st, 3, db_now());
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "set secret");
    else if (db_changes(db) == 0)
        rc = not_found(err, id);
    db_finalize(st);
    return rc;
}

/* ---- kept credentials ---- */

int db_job_erase_credentials(struct db *db, int64_t id, int finalize, struct mb_err *err)
{
    int changes = 0;
    int rc = run_update(db,
                        finalize ? "UPDATE jobs SET source_secret = NULL, auth_profile = NULL, "
                                   "finalized_at = coalesce(finalized_at, ?4), updated_at = ?4 "
                                   "WHERE id = ?1"
                                 : "UPDATE jobs SET source_secret = NULL, auth_profile = NULL, "
                                   "updated_at = ?4 WHERE id = ?1",
                        id, NULL, 0, &changes, err);
    if (rc == 0 && changes == 0)
        rc = not_found(err, id);
    return rc;
}

int db_job_finalize(struct db *db, int64_t id, struct mb_err *err)
{
    int outer;
    enum db_job_state js;
    int rc = db_tx_begin(db, &outer, err);
    if (rc < 0)
        return rc;
    rc = job_state(db, id, &js, NULL, err);
    if (rc == 0 && (js == DB_JOB_PENDING || js == DB_JOB_RUNNING))
        rc = mb_err_set(err, MB_ECONFIG, "job %lld is %s: cancel it or wait for its end",
                        (long long)id, db_job_state_name(js));
    if (rc == 0)
        rc = db_job_erase_credentials(db, id, 1, err);
    return db_tx_end(db, outer, rc, err);
}

int db_job_sweep_credentials(struct db *db, int64_t ended_before, int64_t *n_r, struct mb_err *err)
{
    int changes = 0;
    int rc = run_update(db,
                        "UPDATE jobs SET source_secret = NULL, auth_profile = NULL, "
                        "updated_at = ?4 WHERE state IN ('done', 'failed') "
                        "AND finished_at < ?3 "
                        "AND (source_secret IS NOT NULL OR auth_profile IS NOT NULL)",
                        0, NULL, ended_before, &changes, err);
    if (rc == 0 && n_r)
        *n_r = changes;
    return rc;
}
