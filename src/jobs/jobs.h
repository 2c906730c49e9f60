/* jobs: the workers of `migrabox serve`.
 *
 * N threads ([server] workers) claim pending jobs from the database (db_job_claim is
 * atomic), decrypt the source password with the secret box, run the migration engine
 * (mig_run; one run of a job is job_run.h, shared with `migrabox migrate`) and record the outcome:
 * done, failed (credentials kept for delta passes), or — on a transient error — deferred with
 * exponential backoff up to [sources] max_attempts. At most [sources] max_connections_per_host
 * migrations (or the preset's lower cap) run against one source host at once. Jobs left running by
 * a crash are put back to pending at start. Cancellation requested through the API is seen within
 * about a second. A scheduler thread queues the automatic delta passes of batches (db_batch.h,
 * sync_every) and erases source credentials kept longer than [server] credential_retention; a
 * webhook thread POSTs the events of [server] webhook_url.
 *
 * Ownership: jobs_start returns a pool stopped and freed by jobs_stop(&pool); cfg and box
 * are borrowed and must outlive the pool. */
#ifndef MB_JOBS_H
#define MB_JOBS_H

#include <stddef.h>

#include "base/mb_err.h"
#include "base/secret.h"
#include "config/config.h"

#define JOBS_SECRET_AAD "job-source-password"

struct jobs;

int jobs_start(const struct config *cfg, const char *db_path, const struct secret_box *box,
               struct jobs **pool_r, struct mb_err *err);
/* A job was queued or retried: wake an idle worker now instead of at its next poll. */
void jobs_wake(struct jobs *pool);
/* Running migrations (for /metrics). */
int jobs_running(struct jobs *pool);
/* Stop: running migrations are interrupted and put back to pending (they resume at the next
 * start); waits for the threads. NULL-safe. */
void jobs_stop(struct jobs **pool);
/* The node id of this process (db_node.h), e.g. "appliance1-3fa9c2d0"; changes after a lost
 * lease. */
void jobs_node_id(struct jobs *pool, char *out, size_t n);

#endif
