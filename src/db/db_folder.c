/* db_folder: the folder states of delta passes (db_folder.h). */
#include "db/db_folder.h"

#include <string.h>

#include "db/db_internal.h"

int db_folder_get(struct db *db, int64_t job, const char *folder, struct db_folder_state *st,
                  int *found_r, struct mb_err *err)
{
    *found_r = 0;
    memset(st, 0, sizeof(*st));
    db_stmt *q;
    int rc = db_prepare(db,
                        "SELECT uidvalidity, uidnext, messages, highestmodseq, dest_uidvalidity, "
                        "counted, bytes, dest_count, left_date, left_size, left_label "
                        "FROM folder_state "
                        "WHERE job_id = ?1 AND folder = ?2",
                        &q, err);
    if (rc < 0)
        return rc;
    db_bind_int64(q, 1, job);
    db_bind_text(q, 2, folder);
    int s = db_step_first(db, q);
    if (s == SQLITE_ROW) {
        st->uidvalidity = (uint32_t)db_col_int64(q, 0);
        st->uidnext = (uint32_t)db_col_int64(q, 1);
        st->messages = (uint32_t)db_col_int64(q, 2);
        st->highestmodseq = (uint64_t)db_col_int64(q, 3);
        st->dest_uidvalidity = (uint32_t)db_col_int64(q, 4);
        st->counted = db_col_int64(q, 5);
        st->bytes = db_col_int64(q, 6);
        st->dest_count = db_col_int64(q, 7);
        st->left_date = db_col_int64(q, 8);
        st->left_size = db_col_int64(q, 9);
        st->left_label = db_col_int64(q, 10);
        *found_r = 1;
    } else if (s != SQLITE_DONE) {
        rc = db_fail(db, err, s, "read folder state");
    }
    db_finalize(q);
    return rc;
}

int db_folder_put(struct db *db, int64_t job, const char *folder, const struct db_folder_state *st,
                  struct mb_err *err)
{
    db_stmt *q;
    int rc = db_prepare(db,
                        "INSERT INTO folder_state (job_id, folder, uidvalidity, uidnext, "
                        "messages, highestmodseq, dest_uidvalidity, counted, bytes, dest_count, "
                        "at, left_date, left_size, left_label) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) "
                        "ON CONFLICT (job_id, folder) DO UPDATE SET "
                        "uidvalidity = excluded.uidvalidity, uidnext = excluded.uidnext, "
                        "messages = excluded.messages, highestmodseq = excluded.highestmodseq, "
                        "dest_uidvalidity = excluded.dest_uidvalidity, "
                        "counted = excluded.counted, bytes = excluded.bytes, "
                        "dest_count = excluded.dest_count, at = excluded.at, "
                        "left_date = excluded.left_date, left_size = excluded.left_size, "
                        "left_label = excluded.left_label",
                        &q, err);
    if (rc < 0)
        return rc;
    db_bind_int64(q, 1, job);
    db_bind_text(q, 2, folder);
    db_bind_int64(q, 3, st->uidvalidity);
    db_bind_int64(q, 4, st->uidnext);
    db_bind_int64(q, 5, st->messages);
    db_bind_int64(q, 6, (int64_t)st->highestmodseq);
    db_bind_int64(q, 7, st->dest_uidvalidity);
    db_bind_int64(q, 8, st->counted);
    db_bind_int64(q, 9, st->bytes);
    db_bind_int64(q, 10, st->dest_count);
    db_bind_int64(q, 11, db_now());
    db_bind_int64(q, 12, st->left_date);
    db_bind_int64(q, 13, st->left_size);
    db_bind_int64(q, 14, st->left_label);
    int s = db_step_first(db, q);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "record folder state");
    db_finalize(q);
    return rc;
}

int db_folder_forget(struct db *db, int64_t job, const char *folder, struct mb_err *err)
{
    db_stmt *q;
    int rc = db_prepare(db, "DELETE FROM folder_state WHERE job_id = ?1 AND folder = ?2", &q, err);
    if (rc < 0)
        return rc;
    db_bind_int64(q, 1, job);
    db_bind_text(q, 2, folder);
    int s = db_step_first(db, q);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "forget folder state");
    db_finalize(q);
    return rc;
}

int db_folder_open_rows(struct db *db, int64_t job, const char *folder, int64_t *n_r,
                        struct mb_err *err)
{
    *n_r = 0;
    db_stmt *q;
    int rc = db_prepare(db,
                        "SELECT count(*) FROM msgmap WHERE job_id = ?1 AND folder = ?2 "
                        "AND (state <> 1 OR verify = 1)",
                        &q, err);
    if (rc < 0)
        return rc;
    db_bind_int64(q, 1, job);
    db_bind_text(q, 2, folder);
    int s = db_step_first(db, q);
    if (s == SQLITE_ROW)
        *n_r = db_col_int64(q, 0);
    else
        rc = db_fail(db, err, s, "read message map");
    db_finalize(q);
    return rc;
}
