/* db_stats: aggregate figures over the jobs table for /metrics, in one query (no paging
 * through the jobs). */
#ifndef MB_DB_STATS_H
#define MB_DB_STATS_H

#include <stdint.h>

#include "base/mb_err.h"
#include "db/db.h"
#include "db/db_job.h"

struct db_stats {
    int64_t jobs[5]; /* by enum db_job_state; [DB_JOB_ANY] = all */
    int64_t messages_copied, messages_skipped, messages_failed, bytes_copied;
};

int db_stats_jobs(struct db *db, struct db_stats *s_r, struct mb_err *err);

#endif
