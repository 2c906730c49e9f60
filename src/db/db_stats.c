#include "db/db_stats.h"

#include <string.h>

#include "db/db_internal.h"

int db_stats_jobs(struct db *db, struct db_stats *s_r, struct mb_err *err)
{
    db_stmt *st;
    memset(s_r, 0, sizeof(*s_r));
    int rc = db_prepare(db,
                        "SELECT state, count(*), coalesce(sum(messages_copied), 0), "
                        "coalesce(sum(messages_skipped), 0),"
                        " coalesce(sum(messages_failed), 0), coalesce(sum(bytes_copied), 0) FROM "
                        "jobs GROUP BY state",
                        &st, err);
    if (rc < 0)
        return rc;
    int s;
    for (s = db_step_first(db, st); s == SQLITE_ROW; s = db_step(st)) {
        enum db_job_state js = db_job_state_parse((const char *)db_col_text(st, 0));
        int64_t n = db_col_int64(st, 1);
        s_r->jobs[js] += n;
        if (js != DB_JOB_ANY)
            s_r->jobs[DB_JOB_ANY] += n;
        s_r->messages_copied += db_col_int64(st, 2);
        s_r->messages_skipped += db_col_int64(st, 3);
        s_r->messages_failed += db_col_int64(st, 4);
        s_r->bytes_copied += db_col_int64(st, 5);
    }
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "job statistics");
    db_finalize(st);
    return rc;
}
