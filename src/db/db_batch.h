/* db_batch: CSV batches as first-class objects (pre-stage, delta passes, cutover).
 *
 * A batch is the set of jobs one CSV import (and later imports into it) created. Its jobs
 * keep their source credentials after they end (db_job.h) so that a delta pass — every ended
 * job queued again, copying only what is new — needs no password. Finalizing a batch erases
 * every credential of its jobs; later passes are refused. sync_every (seconds) asks for
 * automatic delta passes: db_batch_due lists the batches whose next pass is due, and the
 * service (jobs.c) queues them with db_batch_pass.
 *
 * Strings in struct db_batch are heap copies: release with db_batch_fini. */
#ifndef MB_DB_BATCH_H
#define MB_DB_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "base/mb_err.h"
#include "db/db.h"
#include "db/db_job.h"

#define DB_BATCH_LIST_MAX 1000

struct db_batch {
    int64_t id;
    int64_t account_id; /* 0 = none */
    int64_t created_at;
    char *filename;                                 /* NULL = none */
    int64_t finalized_at, sync_every, next_sync_at; /* 0 = not finalized / none */
    int64_t counts[5];               /* jobs per state, indexed by enum db_job_state; [0] = all */
    struct db_job_counters progress; /* sums over the jobs */
    int64_t n_credentials;           /* jobs that keep credentials */
    /* the latest end of those jobs (now for a pending or running one): the credentials are
     * kept until this + [server] credential_retention; 0 when none is kept */
    int64_t credentials_since;
    char **domains; /* destination domains of its jobs (visibility) */
    size_t n_domains;
};

void db_batch_fini(struct db_batch *b);

/* Returns 0, or MB_ENOTFOUND. now: the time used for running jobs in credentials_since. */
int db_batch_get(struct db *db, int64_t id, int64_t now, struct db_batch *b_r, struct mb_err *err);
/* Ids of the newest batches (at most DB_BATCH_LIST_MAX), newest first: *ids_r (free()). */
int db_batch_ids(struct db *db, int64_t **ids_r, size_t *n_r, struct mb_err *err);

/* Queue a pass: every job of the batch that has ended (only_failed: that failed), is not
 * finalized and keeps its credentials goes back to pending (db_job_retry without a password).
 * Pending and running jobs are left alone (a job never runs twice at once). *queued_r and
 * *no_credentials_r (ended jobs left out because their credentials are gone; both may be
 * NULL). MB_ENOTFOUND, or MB_ECONFIG if the batch is finalized. */
int db_batch_pass(struct db *db, int64_t id, int only_failed, int64_t *queued_r,
                  int64_t *no_credentials_r, struct mb_err *err);
/* Cancel every pending or running job of the batch; *n_r = jobs cancelled (may be NULL). */
int db_batch_cancel(struct db *db, int64_t id, int64_t *n_r, struct mb_err *err);
/* The batch is over: its jobs' credentials are erased, automatic passes stop. MB_ENOTFOUND,
 * or MB_ECONFIG if one of its jobs is pending or running (cancel or wait first). Finalizing
 * a finalized batch is fine (and erases nothing new). */
int db_batch_finalize(struct db *db, int64_t id, struct mb_err *err);
/* Automatic passes every `every` seconds (0 = none), the next at next_at. MB_ENOTFOUND, or
 * MB_ECONFIG if finalized. */
int db_batch_set_sync(struct db *db, int64_t id, int64_t every, int64_t next_at,
                      struct mb_err *err);
/* Batches with automatic passes due at now (not finalized): *ids_r (free()), at most 100. */
int db_batch_due(struct db *db, int64_t now, int64_t **ids_r, size_t *n_r, struct mb_err *err);

#endif
