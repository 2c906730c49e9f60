#include "db/db_jobopt.h"

#include "db/db_internal.h"

int db_jobopt_set(struct db *db, int64_t job_id, const char *json, struct mb_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(db, "UPDATE jobs SET options = ?2 WHERE id = ?1", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, job_id);
    db_bind_text(st, 2, json);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "set job options");
    else if (sqlite3_changes(db->h) == 0)
        rc = mb_err_set(err, MB_ENOTFOUND, "no job %lld", (long long)job_id);
    sqlite3_finalize(st);
    return rc;
}

int db_jobopt_set_batch(struct db *db, int64_t batch_id, const char *json, struct mb_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(db, "UPDATE jobs SET options = ?2 WHERE batch_id = ?1", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, batch_id);
    db_bind_text(st, 2, json);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "set batch options");
    sqlite3_finalize(st);
    return rc;
}

int db_jobopt_get(struct db *db, int64_t job_id, char **json_r, struct mb_err *err)
{
    *json_r = NULL;
    sqlite3_stmt *st;
    int rc = db_prepare(db, "SELECT options FROM jobs WHERE id = ?1", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, job_id);
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW)
        *json_r = db_col_strdup(st, 0);
    else if (s == SQLITE_DONE)
        rc = mb_err_set(err, MB_ENOTFOUND, "no job %lld", (long long)job_id);
    else
        rc = db_fail(db, err, s, "read job options");
    sqlite3_finalize(st);
    return rc;
}
