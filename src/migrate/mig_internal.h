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
    int64_t source_count;    /* messages the folder had to copy (after view rules) */
    int64_t dest_count;      /* STATUS MESSAGES of the destination folder, -1 unknown */
    int64_t copied, skipped, failed;
    int64_t vanished; /* deleted from the source while the migration ran */
    int done;
    int sized;        /* source_count and totals taken (first pass) */
    int passes;       /* times the folder's copy started in this run */
    int64_t listed;   /* STATUS MESSAGES of the source folder at plan time, -1 unknown */
    char *error;      /* why the folder could not be copied (owned), NULL if it was */
    int status_asked; /* STATUS sent for the plan's totals (not again) */
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
    /* destination namespace */
    char dst_delim;
    char *dst_prefix;

    struct mig_plan plan;
    struct mig_folder_report *folders; /* plan.n entries */
    struct imap_folders src_list, dst_list;
    int src_has_gmail_ext;

    struct db_job_counters c;
    /* The source answered NO to a FETCH in a folder it had opened (Exchange's "Server
     * Unavailable. 15"): retried on a new connection before the folder is given up. */
    int src_refused;
    const char *current_folder;
    struct timespec last_progress;
    int cancelled;
    int64_t progress_steps;       /* plan steps learnt (progress that copies nothing) */
    size_t win_limit;             /* messages per window now (halved on lost connections) */
    struct mig_hash_cache hashes; /* destination contents read by reconciliation */
};

/* Messages per MULTIAPPEND command at the destination (when offered). */
#define IMAP_MULTIAPPEND_BATCH 64

/* mig_conn.c */
int mig_connect_source(struct mig_ctx *m, struct mb_err *err);
int mig_connect_dest(const struct config *cfg, const char *dest_login, struct imap_client **cli_r,
                     struct mb_err *err);
void mig_disconnect(struct mig_ctx *m);
void mig_log(struct mig_ctx *m, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Report progress (rate-limited unless force); sets m->cancelled when asked to stop. */
void mig_progress(struct mig_ctx *m, int force);
int mig_should_stop(struct mig_ctx *m);

/* 1 if a server's words say it is busy or throttling (retry later, never the job's fault). */
int mig_busy_text(const char *msg);
/* 1 if they say a long limit is reached (Gmail's daily download limit): pause for hours. */
int mig_limit_text(const char *msg);

/* The raw (modified UTF-7) name of plan entry e's destination folder (xmalloc'ed), or NULL
 * when its UTF-8 name cannot be encoded. */
char *mig_dest_raw(const struct mig_plan_entry *e);
/* mig_copy.c: copy the messages of plan entry i (folders already created). */
int mig_copy_folder(struct mig_ctx *m, size_t i, struct mb_err *err);
/* Delta passes (db_folder.h): mark the plan's folders that have not changed since the last
 * clean pass as done, counted as already there, without a command to either server but one
 * pipelined STATUS of their destination folders. */
int mig_skip_unchanged(struct mig_ctx *m, struct mb_err *err);
/* The report's destination message counts of the folders done, in one pipelined STATUS
 * (best effort: a count not read stays unknown). */
void mig_count_dest(struct mig_ctx *m);
/* Reconcile the destination folder of plan entry i (db_msgmap.h step 5). */
int mig_reconcile_folder(struct mig_ctx *m, size_t i, struct mb_err *err);

#endif
