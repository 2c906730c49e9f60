/* mig: the migration engine's public face — one mailbox copied from a source IMAP server
 * into the destination platform (through the master credential), exactly once, resumable.
 *
 * Used by `migrabox migrate` (foreground), by the workers of `migrabox serve`
 * (jobs/job_worker.c) and by « Tester la connexion » (mig_check).
 *
 * Threads: every call is self-contained (its own IMAP connections and the caller's own
 * struct db); the config is shared read-only. mig_run may run several connection pairs in
 * threads of its own (folder-level concurrency); each opens its own handle of the caller's
 * database (db_open_again) and all are joined before mig_run returns. */
#ifndef MB_MIG_H
#define MB_MIG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/oauth.h"
#include "base/mb_err.h"
#include "base/secret.h"
#include "config/config.h"
#include "db/db.h"
#include "db/db_job.h"
#include "migrate/mig_options.h"
#include "migrate/mig_preset.h"

enum mig_tls {
    MIG_TLS_AUTO = 0, /* port 993 -> implicit TLS, any other port -> STARTTLS (required) */
    MIG_TLS_IMPLICIT,
    MIG_TLS_STARTTLS,
    MIG_TLS_NONE, /* plaintext: only when asked explicitly */
};

/* "auto" | "implicit" | "starttls" | "none" -> 0 and *tls_r, or MB_ECONFIG. */
int mig_tls_parse(const char *s, enum mig_tls *tls_r);
const char *mig_tls_name(enum mig_tls tls);

struct mig_request {
    const char *source_host; /* empty/NULL: the preset's default host, if any */
    unsigned source_port;    /* 0: 993 */
    enum mig_tls source_tls;
    int insecure; /* do not verify the source's certificate */
    const char *source_login;
    const struct secret *source_password; /* NULL when auth_profile is set */
    /* Log in through a source authentication profile (XOAUTH2 token or administrator
     * login) instead of the password; NULL = password. */
    const struct auth_profile *auth_profile;
    const struct mig_preset *preset;
    const char *dest_login; /* full address of the destination mailbox */
    int subscribed_only;
    /* The job's options (mig_options.h); NULL = none. */
    const struct mig_options *options;
};

/* Progress and control hooks, all optional (NULL). progress and log are called from the
 * thread that called mig_run only (lines of its other connections are relayed to it). */
struct mig_hooks {
    void *ctx;
    /* Counters changed; called at most about once a second, and at the end. Return non-zero
     * to request cancellation (e.g. the user pressed « Annuler »). */
    int (*progress)(void *ctx, const struct db_job_counters *c, const char *current_folder);
    /* A line for the job log (level: "info", "warn", "error"). Never contains a secret. */
    void (*log)(void *ctx, const char *level, const char *text);
    /* The same for a coded line (msg/msgcat.def: code, parameters, line->msg its English);
     * NULL = log(ctx, level, line->msg). */
    void (*log_msg)(void *ctx, const char *level, const struct mb_err *line);
    /* Set to non-zero from any thread to cancel promptly (e.g. SIGINT, shutdown). */
    atomic_int *cancel;
    /* A cluster node's lease (jobs.c): a time (mb_mono_ms) from which the run stops as if
     * cancelled, because another node may take its job over; 0 or NULL = none. Past it, a
     * MULTIAPPEND not yet completed is dropped with its connection, never completed. */
    const atomic_llong *deadline_ms;
    /* When the source's long limit is reached (Gmail's daily download limit): 0 = wait in
     * mig_run until [sources] limit_pause has passed and go on (the CLI); 1 = end the run with
     * state DB_JOB_PENDING and resume_at (a worker frees itself; the job is deferred). */
    int pause_returns;
    /* Folder-level concurrency: a run opens up to [sources] connections_per_job connection
     * pairs (capped by the server type's limit) and copies several folders at once.
     * extra_conn(ctx, 1) asks for one more connection to the source host beyond the run's own
     * (0: refused, e.g. the per-host cap is reached; the run goes on with fewer);
     * extra_conn(ctx, 0) gives one back. May be called from any of the run's threads. NULL =
     * always granted. */
    int (*extra_conn)(void *ctx, int take);
};

struct mig_result {
    enum db_job_state state; /* DB_JOB_DONE or DB_JOB_FAILED */
    int transient;           /* failed for a reason worth retrying later */
    struct mb_err error;     /* why it failed: a coded message (error.msg: its English) */
    struct db_job_counters counters;
    char *report;      /* JSON report (per-folder counts, refused messages) */
    int64_t resume_at; /* state DB_JOB_PENDING: paused until then (unix seconds) */
};
void mig_result_fini(struct mig_result *res);

/* Run (or resume) the migration of job job_id: its message map in db makes a re-run copy
 * only what is missing. Fills res; returns 0 when the run reached a final verdict (res->state
 * says which), or a negative mb_errc for a local failure (database...). */
int mig_run(const struct config *cfg, struct db *db, int64_t job_id, const struct mig_request *req,
            const struct mig_hooks *hooks, struct mig_result *res, struct mb_err *err);

/* « Tester la connexion »: log in to both sides, size the source, queue nothing. */
struct mig_check_folder {
    char *name; /* UTF-8 */
    int64_t messages;
    int64_t bytes; /* -1 when the server cannot tell cheaply */
};
struct mig_check_result {
    int source_ok;
    struct mb_err source_error; /* !source_ok: why (a coded message) */
    struct mig_check_folder *folders;
    size_t n_folders;
    int64_t messages, bytes;
    int dest_ok;
    struct mb_err dest_error; /* !dest_ok: why */
    /* The destination's quota (GETQUOTAROOT INBOX, STORAGE) where the server offers QUOTA. */
    int quota_known;
    int64_t quota_used, quota_limit; /* bytes */
};
int mig_check(const struct config *cfg, const struct mig_request *req,
              struct mig_check_result *res);
/* Only log in to the source as req->source_login (with req's password or profile) and log
 * out: « Tester » of an authentication profile. 0, or the worded error in err. */
int mig_check_source_login(const struct config *cfg, const struct mig_request *req,
                           struct mb_err *err);
void mig_check_result_fini(struct mig_check_result *res);

#endif
