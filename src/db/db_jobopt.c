#include "db/db_jobopt.h"

#include "db/db_internal.h"

int db_jobopt_set(struct db *db, int64_t job_id, const char *json, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, "UPDATE jobs SET options = ?2 WHERE id = ?1", &st, err);
    if (rc)
        return rc;
    db_bind_int64(st, 1, job_id);
    db_bind_text(st, 2, json);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "set job options");
    else if (db_changes(db) == 0)
        rc = mb_err_set(err, MB_ENOTFOUND, "no job %lld", (long long)job_id);
    db_finalize(st);
    return rc;
}

int db_jobopt_set_batch(struct db *db, int64_t batch_id, const char *json, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, "UPDATE jobs SET options = ?2 WHERE batch_id = ?1", &st, err);
    if (rc)
        return rc;
    db_bind_int64(st, 1, batch_id);
    db_bind_text(st, 2, json);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "set batch options");
    db_finalize(st);
    return rc;
}

int db_jobopt_get(struct db *db, int64_t job_id, char **json_r, struct mb_err *err)
{
    *json_r = NULL;
    db_stmt *st;
    int rc = db_prepare(db, "SELECT options FROM jobs WHERE id = ?1", &st, err);
    if (rc)
        return rc;
    db_bind_int64(st, 1, job_id);
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW)
        *json_r = db_col_strdup(st, 0);
    else if (s == SQLITE_DONE)
        rc = mb_err_set(err, MB_ENOTFOUND, "no job %lld", (long long)job_id);
    else
        rc = db_fail(db, err, s, "read job options");
    db_finalize(st);
    return rc;
}
