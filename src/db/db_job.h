/* db_job: migration jobs and CSV batches.
 *
 * Life of a job (states are exactly the spec's four):
 *
 *   insert ──> pending ──claim──> running ──finish──> done | failed
 *                 ^  ^               │  │
 *                 │  └────defer──────┘  └─(cancel requested: the worker sees the flag and
 *                 │   (transient error,      finishes "failed")
 *                 │    retry later)
 *                 └──retry── done | failed           request_cancel on pending: -> failed
 *   requeue_running (at start-up): running -> pending (or -> failed if a cancel was asked)
 *
 * The encrypted source password (a secret_box blob, see base/secret.h) is stored on insert,
 * read by the worker with db_job_get_secret, and kept when the job ends, so that a delta pass
 * (db_job_retry without a password) needs no password again. It is erased, with the job's
 * authentication profile reference, when the job (or its batch, db_batch.h) is finalized
 * (db_job_finalize) or [server] credential_retention after the job last ended
 * (db_job_sweep_credentials). It is never part of struct db_job.
 *
 * Exactly once across jobs: jobs with the same (source host, source login, destination) —
 * the pair key — share what they copied (db_msgmap_inherit), and db_job_claim never starts a
 * job while another of its pair key is running.
 *
 * Times are unix seconds. All strings in the structs filled by this API are heap copies owned
 * by the struct: release with db_job_fini / db_job_list_fini (both accept zeroed structs).
 * Input strings are copied; none is kept. */
#ifndef MB_DB_JOB_H
#define MB_DB_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "base/mb_err.h"
#include "db/db.h"

#define DB_JOB_LIST_DEFAULT 50
#define DB_JOB_LIST_MAX 1000
#define DB_JOB_BATCH_MAX 1000000 /* most jobs in one db_job_insert_many */
#define DB_JOB_SECRET_MAX 16384  /* largest stored secret blob */
#define DB_JOB_FILTER_DOMAINS_MAX 1000
/* error text of a job cancelled by a user (its code: "cancelled", MSG_JOB_CANCELLED) */
#define DB_JOB_ERROR_CANCELLED "cancelled"

enum db_job_state {
    DB_JOB_ANY = 0, /* only in filters */
    DB_JOB_PENDING,
    DB_JOB_RUNNING,
    DB_JOB_FAILED,
    DB_JOB_DONE,
};

/* "pending", "running", "failed", "done" (the API values); NULL for DB_JOB_ANY. */
const char *db_job_state_name(enum db_job_state s);
/* Parse an API value; returns DB_JOB_ANY for anything else. */
enum db_job_state db_job_state_parse(const char *s);

/* What a new job is made of. account_id/batch 0 = none (e.g. the CLI). */
struct db_job_new {
    int64_t account_id;
    const char *source_host;
    int source_port;        /* 1-65535 */
    const char *source_tls; /* "auto", "implicit", "starttls", "none" (not checked here) */
    int insecure;
    const char *source_login;
    const unsigned char *secret; /* encrypted source password; NULL = none */
    size_t secret_len;
    const char *server_type; /* "gmail", "exchange", ... (not checked here) */
    const char *dest_login;  /* full address; its domain feeds the domain filter */
    int subscribed_only;
};

/* Progress counters, written by the worker. */
struct db_job_counters {
    int64_t folders_total, folders_done;
    int64_t messages_total, messages_copied, messages_skipped, messages_failed;
    int64_t bytes_total, bytes_copied;
};

struct db_job {
    int64_t id;
    int64_t batch_id;   /* 0 = none */
    int64_t account_id; /* 0 = none */
    enum db_job_state state;
    char *error; /* NULL unless failed, or pending after a deferred retry: English text */
    /* error's code (msg/msgcat.def) and parameters (JSON object), NULL for a text without a
     * code (an engine text, or stored before codes existed). */
    char *error_code;
    char *error_params;
    char *source_host;
    int source_port;
    char *source_tls;
    int insecure;
    char *source_login;
    int has_secret; /* 1 while the encrypted password is stored */
    char *server_type;
    char *dest_login;
    char *dest_domain; /* lower-case part after the last '@' */
    int subscribed_only;
    int64_t created_at, updated_at;
    int64_t started_at, finished_at; /* 0 = not yet */
    int64_t not_before;              /* a pending job is not claimed before this time */
    int64_t attempts;                /* claims so far (runs started) */
    int cancel_requested;
    char *worker;         /* name given to db_job_claim, NULL if never claimed */
    int64_t heartbeat_at; /* last progress update, 0 = none */
    struct db_job_counters progress;
    char *current_folder;
    char *report;         /* JSON written by the engine; NULL in db_job_list rows */
    int64_t finalized_at; /* 0 = not finalized (its credentials may be kept) */
    int has_credentials;  /* a password or an authentication profile is kept */
};

void db_job_fini(struct db_job *job);

/* Insert one pending job. Returns 0 and *id_r, MB_ECONFIG (missing field, bad port) or
 * MB_ETOOBIG (a string over 4096 bytes, a secret over DB_JOB_SECRET_MAX). */
int db_job_insert(struct db *db, const struct db_job_new *job, int64_t *id_r, struct mb_err *err);

/* Insert a batch row (account_id 0 = none, filename may be NULL) and n jobs, all or nothing,
 * in one transaction. *batch_id_r gets the batch id; ids_r (may be NULL) gets n job ids in
 * input order. On error nothing is stored and err->msg names the failing row ("row 12: ...",
 * 1-based). */
int db_job_insert_many(struct db *db, int64_t account_id, const char *filename,
                       const struct db_job_new *jobs, size_t n, int64_t *batch_id_r, int64_t *ids_r,
                       struct mb_err *err);

/* Add n jobs to an existing batch (its rows count grows), all or nothing, like
 * db_job_insert_many. MB_ENOTFOUND if the batch does not exist or is finalized. */
int db_job_insert_into(struct db *db, int64_t batch_id, int64_t account_id,
                       const struct db_job_new *jobs, size_t n, int64_t *ids_r, struct mb_err *err);

/* Returns 0, or MB_ENOTFOUND. */
int db_job_get(struct db *db, int64_t id, struct db_job *job_r, struct mb_err *err);

struct db_job_filter {
    enum db_job_state state; /* DB_JOB_ANY = every state */
    int64_t batch_id;        /* 0 = any */
    int64_t account_id;      /* 0 = any */
    const char *query;       /* NULL/"" = any; else case-insensitive substring of
                                source_login, source_host or dest_login */
    int restrict_domains;    /* 1: only jobs whose dest_domain is in domains[] (an
                                empty list then matches nothing) */
    const char *const *domains;
    size_t n_domains;
    size_t limit; /* 0 = DB_JOB_LIST_DEFAULT; capped at DB_JOB_LIST_MAX */
    size_t offset;
};

struct db_job_list {
    struct db_job *jobs; /* n rows, newest first (id descending) */
    size_t n;
    int64_t total; /* rows matching the filter, ignoring limit/offset */
};

/* Zero-initialised filter = every job. Both queries see one snapshot. */
int db_job_list(struct db *db, const struct db_job_filter *filter, struct db_job_list *list_r,
                struct mb_err *err);
void db_job_list_fini(struct db_job_list *list);

/* Number of jobs per state, indexed by enum db_job_state (counts_r[DB_JOB_ANY] = total). */
int db_job_count_by_state(struct db *db, int64_t counts_r[5], struct mb_err *err);

/* Atomically move the oldest claimable pending job (lowest id with not_before <= now) to
 * running: one UPDATE ... RETURNING, so two workers never get the same job. Sets worker,
 * started_at, heartbeat_at, attempts + 1, finished_at = NULL. Returns 1 with *job_r filled,
 * 0 when there is nothing to claim, or a negative error. */
/* host_cap > 0: not a job whose source host already has host_cap running jobs in the store
 * (all nodes). The job is claimed for the connection's node (db_set_node). */
int db_job_claim(struct db *db, const char *worker, int host_cap, struct db_job *job_r,
                 struct mb_err *err);
/* The cap of connections to a job's source host for its server type (the type's own cap may be
 * lower than [sources] max_connections_per_host, host_cap). */
typedef int (*db_job_cap_fn)(const char *server_type, int host_cap);
/* db_job_claim with each candidate's cap from cap_fn (NULL: host_cap for all).
 *
 * PostgreSQL (several nodes): no store-wide lock. A candidate is row-locked with
 * SELECT ... FOR UPDATE SKIP LOCKED, and the per-host cap and the pair rule are checked again
 * under a transaction-scoped advisory lock of the source host (lower case), which every
 * claim, db_job_take and db_job_conn_take of that host takes: claims of different hosts run
 * at once on all nodes, those of one host one after the other. The cap counts the host's
 * running jobs plus their extra connections (db_job_conn_take). SQLite: one write
 * transaction, the cap counts running jobs (cap_fn unused: the node's workers apply it). */
int db_job_claim_capped(struct db *db, const char *worker, int host_cap, db_job_cap_fn cap_fn,
                        struct db_job *job_r, struct mb_err *err);
/* PostgreSQL: one more source connection for running job id (an extra lane), if host's
 * connections in use across nodes (running jobs + their extra ones) are below cap (<= 0: no
 * cap), under the host's advisory lock; only for the connection's node's own job (the fence).
 * 1 taken, 0 not (cap reached, or the job is no longer this node's), < 0 error (SQLite:
 * MB_EIO). db_job_conn_release gives one back (SQLite: no-op). A claim sets the count back to
 * 0, and only running jobs count: a node that dies holds no slot after the takeover. */
int db_job_conn_take(struct db *db, int64_t id, const char *host, int cap, struct mb_err *err);
int db_job_conn_release(struct db *db, int64_t id, struct mb_err *err);

/* Take one given job (the foreground `migrabox migrate`): make it running for worker, as
 * db_job_claim does, whatever its state, unless it is running with a heartbeat at or after
 * stale_before (another process is at it), or another job of the same mailbox pair is
 * running with a heartbeat of the last 60 s. Returns 1 with *job_r filled, 0 when it is busy,
 * or a negative error. */
int db_job_take(struct db *db, int64_t id, const char *worker, int64_t stale_before,
                struct db_job *job_r, struct mb_err *err);
/* The newest job with exactly these source host, port, login and destination (the same
 * migration run again): 0 and *id_r, or MB_ENOTFOUND. */
int db_job_find_same(struct db *db, const char *source_host, int source_port,
                     const char *source_login, const char *dest_login, int64_t *id_r,
                     struct mb_err *err);
/* At start-up, before any worker runs: every job left running by a crash goes back to
 * pending (it resumes where it was: its message map is kept), or to failed with
 * DB_JOB_ERROR_CANCELLED if a cancel had been requested. Each gets a log line. *n_r (may be
 * NULL) = jobs put back to pending. */
int db_job_requeue_running(struct db *db, int64_t *n_r, struct mb_err *err);

/* Worker: store counters and current folder (NULL = none), refresh heartbeat_at and
 * updated_at. *cancel_r (may be NULL) gets cancel_requested, so the worker learns of a
 * cancellation at each progress update. MB_ENOTFOUND if the job is not running. */
int db_job_progress_update(struct db *db, int64_t id, const struct db_job_counters *c,
                           const char *current_folder, int *cancel_r, struct mb_err *err);

/* Worker: end a running job as DB_JOB_DONE or DB_JOB_FAILED with error (NULL for done) and
 * report (JSON or NULL); the credentials are kept. MB_ENOTFOUND if not running, MB_ECONFIG for
 * another state. */
int db_job_finish(struct db *db, int64_t id, enum db_job_state state, const char *error,
                  const char *report, struct mb_err *err);
/* Same with a coded message (base/mb_err.h MB_MSG; NULL = none): error gets its English text,
 * error_code and error_params its code and parameters. db_job_finish's plain text has no
 * code (error_code NULL: shown as it is). erase_credentials 1: the password and the profile
 * go in the same update ([server] credential_retention 0), so no reader ever sees the job
 * ended with its credentials still stored. */
int db_job_finish_msg(struct db *db, int64_t id, enum db_job_state state, const struct mb_err *msg,
                      const char *report, int erase_credentials, struct mb_err *err);

/* Worker: a running job goes back to pending, not claimed before not_before, error kept as
 * the reason shown meanwhile (NULL: none). The password is kept. MB_ENOTFOUND if not running.
 * db_job_defer does not count an attempt (the per-host cap deferred it, the service stopped,
 * the source asked for a pause); db_job_retry_later does (the run failed and is retried).
 * `attempts` counts failed runs, nothing else: claiming a job does not change it. */
int db_job_defer(struct db *db, int64_t id, int64_t not_before, const char *error,
                 struct mb_err *err);
int db_job_retry_later(struct db *db, int64_t id, int64_t not_before, const char *error,
                       struct mb_err *err);
/* Same with a coded message (see db_job_finish_msg). */
int db_job_defer_msg(struct db *db, int64_t id, int64_t not_before, const struct mb_err *msg,
                     struct mb_err *err);
int db_job_retry_later_msg(struct db *db, int64_t id, int64_t not_before, const struct mb_err *msg,
                           struct mb_err *err);

/* User: cancel. A pending job becomes failed (DB_JOB_ERROR_CANCELLED) at once; a running job
 * gets cancel_requested = 1 (the worker stops and finishes it failed); a finished job is left
 * as it is. *state_r (may be NULL) = state after the call. MB_ENOTFOUND if no such job. */
int db_job_request_cancel(struct db *db, int64_t id, enum db_job_state *state_r,
                          struct mb_err *err);
/* *flag_r = cancel_requested. MB_ENOTFOUND if no such job. */
int db_job_cancel_requested(struct db *db, int64_t id, int *flag_r, struct mb_err *err);

/* User: run a failed or done job again. It becomes pending with error, report, counters,
 * attempts and times reset; its message map is kept, so the new run copies only what is not
 * already on the destination (a delta). secret: a fresh encrypted password (needed: the old
 * one was erased; NULL keeps a stored one if any, and is refused for a finalized job; a new
 * password lifts the finalization). MB_ENOTFOUND, or MB_ECONFIG if the job is pending/running,
 * finalized (without a password) or no password would be stored. */
int db_job_retry(struct db *db, int64_t id, const unsigned char *secret, size_t secret_len,
                 struct mb_err *err);

/* User: delete a job that is not running, with its message map and log (cascade).
 * MB_ENOTFOUND, or MB_ECONFIG if running (cancel it first). */
int db_job_delete(struct db *db, int64_t id, struct mb_err *err);

/* The stored encrypted password: *blob_r (free() it) and *len_r, or *blob_r = NULL when
 * erased. MB_ENOTFOUND if no such job. */
int db_job_get_secret(struct db *db, int64_t id, unsigned char **blob_r, size_t *len_r,
                      struct mb_err *err);
/* Replace it (NULL erases). MB_ENOTFOUND if no such job. */
int db_job_set_secret(struct db *db, int64_t id, const unsigned char *blob, size_t len,
                      struct mb_err *err);

/* Erase the kept password and profile reference of a job (finalize = 1: mark it finalized
 * too). MB_ENOTFOUND if no such job. */
int db_job_erase_credentials(struct db *db, int64_t id, int finalize, struct mb_err *err);
/* User: the job is over: erase its credentials; a later db_job_retry without a password is
 * refused. MB_ENOTFOUND, or MB_ECONFIG if pending or running. */
int db_job_finalize(struct db *db, int64_t id, struct mb_err *err);
/* Retention: erase the credentials of every ended job that last ended before ended_before.
 * *n_r (may be NULL) = jobs erased. */
int db_job_sweep_credentials(struct db *db, int64_t ended_before, int64_t *n_r, struct mb_err *err);

#endif
