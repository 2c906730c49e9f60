/* db_jobopt: a job's migration options (src/migrate/mig_options.h), stored as one JSON
 * object in jobs.options, read by every run of the job. */
#ifndef MB_DB_JOBOPT_H
#define MB_DB_JOBOPT_H

#include <stdint.h>

#include "base/mb_err.h"
#include "db/db.h"

/* Store json (NULL = no option). MB_ENOTFOUND if no such job. */
int db_jobopt_set(struct db *db, int64_t job_id, const char *json, struct mb_err *err);
/* *json_r = the stored text (free() it) or NULL. MB_ENOTFOUND if no such job. */
int db_jobopt_get(struct db *db, int64_t job_id, char **json_r, struct mb_err *err);
/* Store json on every job of a batch (a CSV import's options). */
int db_jobopt_set_batch(struct db *db, int64_t batch_id, const char *json, struct mb_err *err);

#endif
