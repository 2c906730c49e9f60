/* Engine internals shared by mig_*.c. Not a public API. */
#ifndef MB_MIG_INTERNAL_H
#define MB_MIG_INTERNAL_H

#include <stdint.h>
#include <time.h>

#include "base/buf.h"
#include "db/db_msgmap.h"
#include "imap/imap_client.h"
#include "migrate/mig.h"
#include "migrate/mig_plan.h"

/* One folder's line in the report. */
struct mig_folder_report {
    char *source;            /* UTF-8 */
    char *dest;              /* UTF-8, NULL when skipped */
    const char *skip_reason; /* static, NULL when copied */
    int skip_msg;            /* its code (enum msg_id) */
    int64_t source_count;    /* messages the folder had to copy (after view rules) */
    int64_t dest_count;      /* STATUS MESSAGES of the destination folder, -1 unknown */
    int64_t copied, skipped, failed;
    int64_t copied_bytes; /* size of the `copied` messages */
    int64_t vanished;     /* deleted from the source while the migration ran */
    int done;
    int sized;      /* source_count and totals taken (first pass) */
    int passes;     /* times the folder's copy started in this run */
    int64_t listed; /* STATUS MESSAGES of the source folder at plan time, -1 unknown */
    char *error;    /* why the folder could not be copied (owned), NULL if it was */
    char *error_code, *error_params; /* error's code and parameters (owned) */
    int status_asked;                /* STATUS sent for the plan's totals (not again) */
    struct imap_status_info plan_st; /* the source's STATUS at plan time (have = 0: none) */
    int64_t source_bytes;            /* size of the source_count messages */
    int unchanged;                   /* left alone: the same as at the end of the last clean pass */
    int refusals;                    /* times the source refused its FETCH in this run */
    /* left out by the job's options (this run's last look at the folder) */
    int64_t excluded_date;  /* INTERNALDATE outside since/before */
    int64_t excluded_size;  /* over max_message_size */
    int64_t excluded_label; /* gmail_labels first: copied into an earlier label's folder */
};

/* Contents of destination messages already read by a reconciliation in this run, kept across
 * reconnections: a message's content never changes under its UID, so a link cut every few
 * hundred KB still lets each connection read further instead of starting again. */
struct mig_dest_hash {
    uint32_t uid;
    uint64_t size;
    unsigned char hash[32];
};
struct mig_hash_cache {
    char *dest_raw; /* the destination folder these are of (owned) */
    uint32_t uidvalidity;
    struct mig_dest_hash *v; /* in arrival order */
    size_t n, cap;
};

struct mig_shared; /* mig_lanes.c: what the run's connection pairs share */

/* One connection pair of a run ("lane"). mig_run's own is lane 0 (the calling thread: it
 * alone calls the hooks); folder-level concurrency adds lanes 1.. in threads of their own,
 * each a copy of lane 0 with its own connections, database handle and cache, sharing the
 * plan (read-only once built) and the folder reports (through mig_shared's lock). */
struct mig_ctx {
    const struct config *cfg;
    struct db *db;
    int64_t job;
    const struct mig_request *req;
    const struct mig_hooks *hooks;
    struct mig_result *res;

    struct imap_client *src, *dst;
    char src_host[256];
    unsigned src_port;
    int src_connected; /* the source answered at least once in this run */
    int src_dropped;   /* the last source connection was accepted, then closed or reset
                        * before the greeting: a busy server, not a wrong address */

    struct mig_plan plan;
    struct mig_folder_report *folders; /* plan.n entries */
    struct imap_folders src_list, dst_list;
    int src_has_gmail_ext;

    struct mig_shared *sh; /* NULL outside mig_run (mig_check) */
    int lane;              /* 0: the caller's thread; 1..: a helper connection pair */
    /* The folder this lane copies: its working copy of the folder's report, published to
     * folders[rep_index] under the lock (mig_progress) and when the folder ends. */
    struct mig_folder_report *rep_live;
    size_t rep_index;
    /* The source answered NO to a FETCH in a folder it had opened (Exchange's "Server
     * Unavailable. 15"): retried on a new connection before the folder is given up. */
    int src_refused;
    const char *current_folder;
    struct timespec last_progress;
    int cancelled;
    size_t win_limit;             /* messages per window now (halved on lost connections) */
    int64_t conn_ms;              /* what opening this run's connection pair took */
    struct mig_hash_cache hashes; /* destination contents read by reconciliation */
};

/* Messages per MULTIAPPEND command at the destination (when offered). */
#define IMAP_MULTIAPPEND_BATCH 64

/* mig_conn.c */
int mig_connect_source(struct mig_ctx *m, struct mb_err *err);
int mig_connect_dest(const struct config *cfg, const char *dest_login, struct imap_client **cli_r,
                     struct mb_err *err);
void mig_disconnect(struct mig_ctx *m);
/* apply's context when the answers go to plan entries: names[k] is entry idx[k]'s. */
struct folder_idx {
    struct mig_ctx *m;
    const size_t *idx;
};
/* One pipelined STATUS of names[0..n) on c (imap_client_status_many), each answer handed to
 * apply(ctx, k, st, rc) in order (apply may be NULL): rc 0 = st answered, < 0 = refused,
 * 1 = not answered because the connection failed first. Returns 0 while the connection is
 * usable (refusals are apply's business), else < 0 with err saying why the connection was
 * lost (err->code set: MB_ECONN when the client gave none). */
typedef void mig_status_apply(void *ctx, size_t k, const struct imap_status_info *st, int rc);
int mig_status_each(struct imap_client *c, const char *const *names, size_t n,
                    mig_status_apply *apply, void *ctx, struct mb_err *err);
/* A line for the job log, coded (MB_MSG(&line, 0, LOG_..., ...), msg/msgcat.def): the hooks'
 * log_msg, or queued for lane 0 wrapped in log_lane (the connection's number), code kept. */
void mig_log_msg(struct mig_ctx *m, const char *level, const struct mb_err *line);
/* Why a folder is skipped, coded (id: its code, 0 = text only) for a log line. */
static inline void mig_skip_why(struct mb_err *why, int id, const char *text)
{
    if (id)
        mb_err_msg(why, 0, id, NULL, 0);
    else
        mb_err_set(why, 0, "%s", text ? text : "");
}
/* Report progress (rate-limited unless force); sets m->cancelled when asked to stop. */
void mig_progress(struct mig_ctx *m, int force);
int mig_should_stop(struct mig_ctx *m);
/* The same without touching m (any thread): shutdown, a cancellation seen by lane 0. */
int mig_stop_requested(const struct mig_ctx *m);
/* The hooks' deadline (a cluster node's lease) has passed (any thread). */
int mig_deadline_passed(const struct mig_ctx *m);
/* The engine's one cancellable wait: sleep in slices of slice_ms until done(arg) holds (NULL:
 * never), the monotonic deadline_ms passes (<= 0: none) or, when until_stop, the run is asked
 * to stop; each slice asks whether to stop (lane 0: the hooks' « Annuler », passed on to the
 * other lanes) and reports progress. */
void mig_wait(struct mig_ctx *m, int (*done)(void *arg), void *arg, int64_t deadline_ms,
              int slice_ms, int until_stop);
/* The lock of the folder reports (no-op outside mig_run): a lane's working report is updated
 * by its destination thread under it while lane 0 reads the published ones. */
void mig_reports_lock(struct mig_ctx *m);
void mig_reports_unlock(struct mig_ctx *m);

/* 1 if a server's words say it is busy or throttling (retry later, never the job's fault). */
int mig_busy_text(const char *msg);
/* The server's own back-off hint in ms (Office 365's "Suggested Backoff Time: N
 * milliseconds"), or dflt. */
long mig_backoff_hint_ms(const char *msg, long dflt);
/* 1 if they say a long limit is reached (Gmail's daily download limit): pause for hours. */
int mig_limit_text(const char *msg);

/* The raw (modified UTF-7) name of plan entry e's destination folder (xmalloc'ed), or NULL
 * when its UTF-8 name cannot be encoded. */
char *mig_dest_raw(const struct mig_plan_entry *e);
/* mig_copy.c: copy the messages of plan entry i (folders already created), accounting in rep
 * (the lane's working copy of folders[i]). */
int mig_copy_folder(struct mig_ctx *m, size_t i, struct mig_folder_report *rep, struct mb_err *err);
/* Delta passes (db_folder.h): mark the plan's folders that have not changed since the last
 * clean pass as done, counted as already there, without a command to either server but one
 * pipelined STATUS of their destination folders. */
int mig_skip_unchanged(struct mig_ctx *m, struct mb_err *err);
/* The report's destination message counts of the folders done, in one pipelined STATUS
 * (best effort: a count not read stays unknown). */
void mig_count_dest(struct mig_ctx *m);
/* Reconcile the destination folder of plan entry i (db_msgmap.h step 5). */
int mig_reconcile_folder(struct mig_ctx *m, size_t i, struct mb_err *err);

/* mig_lanes.c */
#define MIG_LANES_MAX 16
int mig_shared_init(struct mig_ctx *m);
void mig_shared_fini(struct mig_ctx *m);
/* The job's counters, derived in this one place from the folder reports (the only accounts
 * the engine keeps; each is committed with the message map it summarises). */
void mig_counters(struct mig_ctx *m, struct db_job_counters *c);
/* A plan step learnt (progress that copies nothing). */
void mig_step(struct mig_ctx *m);
uint64_t mig_steps(struct mig_ctx *m);
/* Copy every folder of the plan not done yet, on up to [sources] connections_per_job
 * connection pairs: lane 0 is m (its connections open), the others are opened here and
 * closed before the return. Returns lane 0's error (a transient one leaves the folders not
 * done for the next connection), or MB_EIO when a lane's database failed. */
int mig_lanes_copy(struct mig_ctx *m, struct mb_err *err);
/* Lane 0, while it copies (from mig_progress): open another lane when the folders no lane has
 * taken yet would keep it busy long enough to pay for its connections. */
void mig_lanes_grow(struct mig_ctx *m);
/* For helper lanes: queue a log line for lane 0; publish the lane's working report. */
int mig_lane_relay_msg(struct mig_ctx *m, const char *level, const struct mb_err *line);
void mig_lane_publish(struct mig_ctx *m);
/* Lane 0: hand the queued lines of the other lanes to the log hook. */
void mig_lane_flush(struct mig_ctx *m);
/* Lane 0: a folder some lane is copying (for the progress display), or NULL. */
const char *mig_lane_folder(struct mig_ctx *m);
int mig_lane_cancelled(const struct mig_ctx *m);
void mig_lane_cancel(struct mig_ctx *m);

#endif
