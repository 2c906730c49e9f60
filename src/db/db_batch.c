/* db_batch: batches table and the passes over a batch's jobs. See db_batch.h. */
#include "db/db_batch.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "db/db_internal.h"

static int batch_missing(struct mb_err *err, int64_t id)
{
    return mb_err_set(err, MB_ENOTFOUND, "batch %lld does not exist", (long long)id);
}

void db_batch_fini(struct db_batch *b)
{
    if (!b)
        return;
    free(b->filename);
    for (size_t i = 0; i < b->n_domains; i++)
        free(b->domains[i]);
    free(b->domains);
    memset(b, 0, sizeof(*b));
}

static int batch_row(struct db *db, int64_t id, struct db_batch *b, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT account_id, created_at, filename, finalized_at, sync_every, "
                        "next_sync_at FROM batches WHERE id = ?1",
                        &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, id);
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW) {
        b->id = id;
        b->account_id = db_col_int64(st, 0);
        b->created_at = db_col_int64(st, 1);
        b->filename = db_col_strdup(st, 2);
        b->finalized_at = db_col_int64(st, 3);
        b->sync_every = db_col_int64(st, 4);
        b->next_sync_at = db_col_int64(st, 5);
    } else if (s == SQLITE_DONE) {
        rc = batch_missing(err, id);
    } else {
        rc = db_fail(db, err, s, "get batch");
    }
    db_finalize(st);
    return rc;
}

static int batch_aggregates(struct db *db, int64_t now, struct db_batch *b, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT state, count(*), sum(folders_total), sum(folders_done), "
                        "sum(messages_total), sum(messages_copied), sum(messages_skipped), "
                        "sum(messages_failed), sum(bytes_total), sum(bytes_copied) "
                        "FROM jobs WHERE batch_id = ?1 GROUP BY state",
                        &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, b->id);
    int s;
    for (s = db_step_first(db, st); s == SQLITE_ROW; s = db_step(st)) {
        enum db_job_state js = db_job_state_parse((const char *)db_col_text(st, 0));
        int64_t n = db_col_int64(st, 1);
        if (js != DB_JOB_ANY)
            b->counts[js] += n;
        b->counts[DB_JOB_ANY] += n;
        struct db_job_counters *p = &b->progress;
        p->folders_total += db_col_int64(st, 2);
        p->folders_done += db_col_int64(st, 3);
        p->messages_total += db_col_int64(st, 4);
        p->messages_copied += db_col_int64(st, 5);
        p->messages_skipped += db_col_int64(st, 6);
        p->messages_failed += db_col_int64(st, 7);
        p->bytes_total += db_col_int64(st, 8);
        p->bytes_copied += db_col_int64(st, 9);
    }
    db_finalize(st);
    if (s != SQLITE_DONE)
        return db_fail(db, err, s, "batch counts");

    rc = db_prepare(db,
                    "SELECT count(*), max(CASE WHEN state IN ('pending', 'running') THEN ?2 "
                    "ELSE finished_at END) FROM jobs WHERE batch_id = ?1 "
                    "AND (source_secret IS NOT NULL OR auth_profile IS NOT NULL)",
                    &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, b->id);
    db_bind_int64(st, 2, now);
    s = db_step_first(db, st);
    if (s == SQLITE_ROW) {
        b->n_credentials = db_col_int64(st, 0);
        b->credentials_since = db_col_int64(st, 1);
    }
    db_finalize(st);
    if (s != SQLITE_ROW)
        return db_fail(db, err, s, "batch credentials");

    rc = db_prepare(db, "SELECT DISTINCT dest_domain FROM jobs WHERE batch_id = ?1", &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, b->id);
    size_t cap = 0;
    for (s = db_step_first(db, st); s == SQLITE_ROW; s = db_step(st)) {
        if (b->n_domains == cap) {
            cap = cap ? 2 * cap : 4;
            b->domains = xrealloc(b->domains, cap * sizeof(*b->domains));
        }
        b->domains[b->n_domains++] = db_col_strdup(st, 0);
    }
    db_finalize(st);
    if (s != SQLITE_DONE)
        return db_fail(db, err, s, "batch domains");
    return 0;
}

int db_batch_get(struct db *db, int64_t id, int64_t now, struct db_batch *b_r, struct mb_err *err)
{
    int opened;
    memset(b_r, 0, sizeof(*b_r));
    int rc = db_read_begin(db, &opened, err);
    if (rc < 0)
        return rc;
    rc = batch_row(db, id, b_r, err);
    if (rc == 0)
        rc = batch_aggregates(db, now, b_r, err);
    db_read_end(db, opened);
    if (rc)
        db_batch_fini(b_r);
    return rc;
}

/* Ids from a one-column SELECT bound with ?1 = a1 (when it has a parameter). */
static int select_ids(struct db *db, const char *sql, int64_t a1, const char *what, int64_t **ids_r,
                      size_t *n_r, struct mb_err *err)
{
    db_stmt *st;
    *ids_r = NULL;
    *n_r = 0;
    int rc = db_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    if (db_bind_count(st) >= 1)
        db_bind_int64(st, 1, a1);
    size_t cap = 0, n = 0;
    int64_t *ids = NULL;
    int s;
    for (s = db_step_first(db, st); s == SQLITE_ROW; s = db_step(st)) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            ids = xrealloc(ids, cap * sizeof(*ids));
        }
        ids[n++] = db_col_int64(st, 0);
    }
    db_finalize(st);
    if (s != SQLITE_DONE) {
        free(ids);
        return db_fail(db, err, s, what);
    }
    *ids_r = ids;
    *n_r = n;
    return 0;
}

int db_batch_ids(struct db *db, int64_t **ids_r, size_t *n_r, struct mb_err *err)
{
    return select_ids(db, "SELECT id FROM batches ORDER BY id DESC LIMIT 1000", 0, "list batches",
                      ids_r, n_r, err);
}

int db_batch_due(struct db *db, int64_t now, int64_t **ids_r, size_t *n_r, struct mb_err *err)
{
    return select_ids(db,
                      "SELECT id FROM batches WHERE sync_every IS NOT NULL "
                      "AND finalized_at IS NULL AND next_sync_at <= ?1 ORDER BY id LIMIT 100",
                      now, "due batches", ids_r, n_r, err);
}

/* *finalized_r for batch id, or MB_ENOTFOUND. */
static int batch_finalized(struct db *db, int64_t id, int *finalized_r, struct mb_err *err)
{
    struct db_batch b;
    memset(&b, 0, sizeof(b));
    int rc = batch_row(db, id, &b, err);
    *finalized_r = b.finalized_at != 0;
    db_batch_fini(&b);
    return rc;
}

int db_batch_pass(struct db *db, int64_t id, int only_failed, int64_t *queued_r,
                  int64_t *no_credentials_r, struct mb_err *err)
{
    int outer, finalized = 0;
    int64_t *ids = NULL;
    size_t n = 0;
    int64_t queued = 0, bare = 0;
    int rc = db_tx_begin(db, &outer, err);
    if (rc < 0)
        return rc;
    rc = batch_finalized(db, id, &finalized, err);
    if (rc == 0 && finalized)
        rc = mb_err_set(err, MB_ECONFIG, "batch %lld is finalized: its credentials were erased",
                        (long long)id);
    if (rc == 0)
        rc = select_ids(db,
                        only_failed ? "SELECT id FROM jobs WHERE batch_id = ?1 "
                                      "AND state = 'failed' ORDER BY id"
                                    : "SELECT id FROM jobs WHERE batch_id = ?1 "
                                      "AND state IN ('done', 'failed') ORDER BY id",
                        id, "batch jobs", &ids, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct mb_err jerr;
        int r = db_job_retry(db, ids[i], NULL, 0, &jerr);
        if (r == 0)
            queued++;
        else if (r == MB_ECONFIG)
            bare++; /* no credentials kept (or finalized alone) */
        else
            rc = mb_err_set(err, r, "%s", jerr.msg);
    }
    free(ids);
    rc = db_tx_end(db, outer, rc, err);
    if (rc == 0) {
        if (queued_r)
            *queued_r = queued;
        if (no_credentials_r)
            *no_credentials_r = bare;
    }
    return rc;
}

int db_batch_cancel(struct db *db, int64_t id, int64_t *n_r, struct mb_err *err)
{
    int outer, finalized;
    int64_t *ids = NULL;
    size_t n = 0;
    int rc = db_tx_begin(db, &outer, err);
    if (rc < 0)
        return rc;
    rc = batch_finalized(db, id, &finalized, err);
    if (rc == 0)
        rc = select_ids(db,
                        "SELECT id FROM jobs WHERE batch_id = ?1 "
                        "AND state IN ('pending', 'running') ORDER BY id",
                        id, "batch jobs", &ids, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = db_job_request_cancel(db, ids[i], NULL, err);
    free(ids);
    rc = db_tx_end(db, outer, rc, err);
    if (rc == 0 && n_r)
        *n_r = (int64_t)n;
    return rc;
}

/* Run sql with ?1 = id and ?2 = now. */
static int batch_exec(struct db *db, const char *sql, int64_t id, int64_t a2, const char *what,
                      struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, id);
    if (db_bind_count(st) >= 2)
        db_bind_int64(st, 2, a2);
    if (db_bind_count(st) >= 3)
        db_bind_int64(st, 3, db_now());
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, what);
    db_finalize(st);
    return rc;
}

int db_batch_finalize(struct db *db, int64_t id, struct mb_err *err)
{
    int outer, finalized;
    int64_t *ids = NULL;
    size_t n = 0;
    int rc = db_tx_begin(db, &outer, err);
    if (rc < 0)
        return rc;
    rc = batch_finalized(db, id, &finalized, err);
    if (rc == 0)
        rc = select_ids(db,
                        "SELECT id FROM jobs WHERE batch_id = ?1 "
                        "AND state IN ('pending', 'running')",
                        id, "batch jobs", &ids, &n, err);
    free(ids);
    if (rc == 0 && n)
        rc = mb_err_set(err, MB_ECONFIG,
                        "batch %lld has %zu job(s) pending or running: cancel them or wait",
                        (long long)id, n);
    if (rc == 0)
        rc = batch_exec(db,
                        "UPDATE jobs SET source_secret = NULL, auth_profile = NULL, "
                        "finalized_at = coalesce(finalized_at, ?2), updated_at = ?2 "
                        "WHERE batch_id = ?1",
                        id, db_now(), "finalize batch jobs", err);
    if (rc == 0)
        rc = batch_exec(db,
                        "UPDATE batches SET finalized_at = coalesce(finalized_at, ?2), "
                        "sync_every = NULL, next_sync_at = NULL WHERE id = ?1",
                        id, db_now(), "finalize batch", err);
    return db_tx_end(db, outer, rc, err);
}

int db_batch_set_sync(struct db *db, int64_t id, int64_t every, int64_t next_at, struct mb_err *err)
{
    int outer, finalized;
    int rc = db_tx_begin(db, &outer, err);
    if (rc < 0)
        return rc;
    rc = batch_finalized(db, id, &finalized, err);
    if (rc == 0 && finalized && every > 0)
        rc = mb_err_set(err, MB_ECONFIG, "batch %lld is finalized", (long long)id);
    if (rc == 0) {
        db_stmt *st;
        rc = db_prepare(db, "UPDATE batches SET sync_every = ?2, next_sync_at = ?3 WHERE id = ?1",
                        &st, err);
        if (rc == 0) {
            db_bind_int64(st, 1, id);
            if (every > 0) {
                db_bind_int64(st, 2, every);
                db_bind_int64(st, 3, next_at);
            }
            int s = db_step_first(db, st);
            if (s != SQLITE_DONE)
                rc = db_fail(db, err, s, "batch sync");
            db_finalize(st);
        }
    }
    return db_tx_end(db, outer, rc, err);
}
