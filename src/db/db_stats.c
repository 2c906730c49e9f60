#include "db/db_stats.h"

#include <string.h>

#include "db/db_internal.h"

int db_stats_jobs(struct db *db, struct db_stats *s_r, struct mb_err *err)
{
    sqlite3_stmt *st;
    memset(s_r, 0, sizeof(*s_r));
    int rc = db_prepare(db,
                        "SELECT state, count(*), total(messages_copied), total(messages_skipped),"
                        " total(messages_failed), total(bytes_copied) FROM jobs GROUP BY state",
                        &st, err);
    if (rc < 0)
        return rc;
    int s;
    for (s = db_step_first(db, st); s == SQLITE_ROW; s = sqlite3_step(st)) {
        enum db_job_state js = db_job_state_parse((const char *)sqlite3_column_text(st, 0));
        int64_t n = sqlite3_column_int64(st, 1);
        s_r->jobs[js] += n;
        if (js != DB_JOB_ANY)
            s_r->jobs[DB_JOB_ANY] += n;
        s_r->messages_copied += sqlite3_column_int64(st, 2);
        s_r->messages_skipped += sqlite3_column_int64(st, 3);
        s_r->messages_failed += sqlite3_column_int64(st, 4);
        s_r->bytes_copied += sqlite3_column_int64(st, 5);
    }
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "job statistics");
    sqlite3_finalize(st);
    return rc;
}
