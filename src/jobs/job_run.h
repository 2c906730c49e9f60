/* job_run: one run of a stored job by the migration engine — the rules shared by the workers of
 * `migrabox serve` (jobs.c) and `migrabox migrate` (cli_migrate.c):
 *  - how a stored job logs in to its source (its source authentication profile, else its
 *    password sealed with JOBS_SECRET_AAD, jobs.h), with the customer-facing reasons when it
 * cannot;
 *  - the job's stored options (db_jobopt) apply to every run of it alike;
 *  - the request handed to mig_run (credentials: the profile, or the password — never both);
 *  - the engine hooks: progress recorded with db_job_progress_update (a cancellation asked
 *    through the API cancels the run), log lines recorded with db_log_add; the caller only
 *    adds its display (stderr for the CLI, the service log for a worker);
 *  - an engine failure (mig_run non-zero) turned into a failed, transient result;
 *  - the outcome recorded with db_job_finish_msg (no error when done, the report kept); the
 *    error is a coded message (msg/msgcat.def), the engine's own words a text without code.
 * What differs stays with the caller: claiming, per-host caps, deferral and retries with
 * backoff, webhooks (jobs.c); finding or creating the job, signals, the JSON summary and the
 * exit status (cli_migrate.c).
 *
 * Ownership: struct job_run_creds is owned by the caller and released by
 * job_run_creds_fini (secrets wiped); everything a struct job_run points to is borrowed. */
#ifndef MB_JOB_RUN_H
#define MB_JOB_RUN_H

#include <stdatomic.h>
#include <stdint.h>

#include "auth/oauth.h"
#include "base/mb_err.h"
#include "base/secret.h"
#include "config/config.h"
#include "db/db.h"
#include "db/db_job.h"
#include "migrate/mig.h"

/* How a run logs in to the source: profile_name set = through the source authentication
 * profile (no password); else the password. */
struct job_run_creds {
    struct secret password;
    char *profile_name; /* owned */
    struct auth_profile profile;
};

/* The stored credentials of job job_id: the profile it names (which must still exist and open
 * with box), else its sealed password opened with box. 0, or non-zero with why set to the
 * coded customer-facing reason for failing the job. */
int job_run_creds_load(struct db *db, const struct secret_box *box, int64_t job_id,
                       struct job_run_creds *c, struct mb_err *why);
/* Wipe and free; c is left zeroed. Idempotent. */
void job_run_creds_fini(struct job_run_creds *c);

/* The job's stored options parsed into opts (zeroed first; all defaults when none stored).
 * json_r (may be NULL) gets the stored JSON text, NULL when none (free it). */
int job_run_options_load(struct db *db, int64_t job_id, struct mig_options *opts, char **json_r,
                         struct mb_err *err);

struct job_run {
    const struct config *cfg;
    struct db *db;
    int64_t job_id;
    /* The request without credentials (source_password, auth_profile: set from creds). */
    struct mig_request req;
    struct job_run_creds *creds;     /* its password is wiped as soon as mig_run returns */
    atomic_int *cancel;              /* mig_hooks.cancel */
    const atomic_llong *deadline_ms; /* mig_hooks.deadline_ms (a cluster node's lease) */
    int pause_returns;               /* mig_hooks.pause_returns */
    /* 1: an engine failure (mig_run non-zero) is reported as internal_error with the
     * engine's error as its parameter; 0: the engine's error as it is. */
    int wrap_internal;
    /* The caller's display, after the database has recorded (both optional). */
    void *ctx;
    void (*progress)(void *ctx, const struct db_job_counters *c, const char *folder);
    void (*log)(void *ctx, const char *level, const char *text);
    int user_cancel; /* out: the run was cancelled through the database (« Annuler ») */
    /* mig_hooks.extra_conn (the workers' per-host cap), called with conn_ctx; NULL = the
     * engine's own limits only (the CLI). */
    int (*extra_conn)(void *conn_ctx, int take);
    void *conn_ctx;
    /* out: why the run did not end done, as a coded message (res->error, the engine's
     * verdict, or internal_error around the engine's failure). */
    struct mb_err error;
};

/* Run the engine for jr (mig_run). res is overwritten and must be released with
 * mig_result_fini; on an engine failure it is a transient DB_JOB_FAILED with its error text.
 * jr->error is set unless res ends done. */
void job_run_engine(struct job_run *jr, struct mig_result *res);

/* Record a finished run of jr: db_job_finish_msg with res's state, jr->error unless done, its
 * report; a failure also ends the job's log with its reason (run_failed). */
int job_run_finish(const struct job_run *jr, const struct mig_result *res, struct mb_err *err);

#endif
