/* db_msgmap: per-job map (source folder, source UIDVALIDITY, source UID) -> what became of
 * that message on the destination. It is what makes a migration exactly-once across crashes
 * (kill -9, power loss) and what makes a re-run a delta.
 *
 * Row states:
 *   DB_MSG_INFLIGHT  an APPEND of this message may have been sent; outcome unknown
 *   DB_MSG_COPIED    on the destination (dest_uid when known: APPENDUID or matched)
 *   DB_MSG_FAILED    the destination refused it (error says why); counted, not retried by
 *                    the same run; a later run may try again
 * A message absent from the map has never been sent.
 *
 * THE PROTOCOL (engine side), per source folder F with UIDVALIDITY V mapped to destination
 * folder D:
 *
 *  1. UIDVALIDITY check. db_msgmap_uidvalidities(F). If rows exist only under other values,
 *     the source folder was rebuilt and its UIDs mean nothing any more: match the source
 *     messages against the destination by Message-ID + INTERNALDATE where that pair is unique
 *     on both sides, else by content hash (the size RFC822.SIZE reports is never trusted),
 *     then, in one transaction, record each match under V with db_msgmap_record_copied and
 *     db_msgmap_forget_folder_uidvalidity(F, old) (mig_dedupe.c).
 *     Destination recreated: when D's UIDVALIDITY differs from the one copied rows recorded,
 *     db_msgmap_forget_copied_elsewhere drops those rows and their messages are sent again.
 *
 *  2. Recovery of an interrupted run. db_msgmap_inflight(F, V) lists the rows of windows
 *     whose outcome is unknown, ordered by window (dest_folder, dest_uidvalidity,
 *     dest_uidnext) then uid. For the windows whose D still has dest_uidvalidity:
 *     UID FETCH D dest_uidnext:*, minus the destination UIDs already owned by copied rows
 *     (db_msgmap_dest_uids(D, dest_uidvalidity, dest_uidnext)); match each in-flight row by
 *     content hash (SHA-256, with the real size; the hash stored by db_msgmap_set_hash, else
 *     the source message read again) and db_msgmap_mark_copied the matches — they are NOT
 *     appended again. Rows of windows into a recreated D, and rows left unmatched, were not
 *     stored: they simply go into the next window (db_msgmap_mark_inflight re-arms in-flight
 *     and failed rows).
 *
 *  3. Delta. db_msgmap_known_uids(F, V) (sorted by uid) against the source's UID list:
 *     copied -> skip (count as skipped); failed -> try again or skip, engine's choice;
 *     absent -> copy.
 *
 *  4. Copy, window by window:
 *       a. read D's UIDVALIDITY and UIDNEXT (STATUS or SELECT);
 *       b. db_msgmap_mark_inflight(F, V, window msgs, {D, uidvalidity, uidnext}) — one
 *          transaction committed with synchronous=FULL, so the intent is on disk BEFORE the
 *          first APPEND leaves (an APPEND cannot be undone; a lost intent would mean a
 *          duplicate after a power cut);
 *       c. send the APPENDs; while streaming a body compute its SHA-256 and, optionally,
 *          db_msgmap_set_hash once the source literal has been read completely;
 *       d. on each tagged OK: db_msgmap_mark_copied(uid, APPENDUID uid or 0, hash); on NO:
 *          db_msgmap_mark_failed. These need not be durable: losing them leaves the row in
 *          flight and step 2 finds the message again. Several may share one transaction
 *          (db_begin_immediate / db_commit) to save commits.
 *
 *  5. Reconciliation (exactly once at any restart timing; docs/ARCHITECTURE.md). A row
 *     re-armed by 4b while still in flight into the same destination folder instance was
 *     sent on a connection that died before its answer: that copy may still be committed by
 *     the server after step 2 looked. Such rows are unsettled (verify = 1, settle_at = when
 *     4b re-armed them + the settle time, first_uidnext = their lowest window UIDNEXT). After
 *     the folder's windows, db_msgmap_copies gives every copied row of D; the engine reads D's
 *     messages from the lowest first_uidnext up, removes the extra copies mig_xo_reconcile
 *     names, then db_msgmap_settle(D, started_at) clears the rows whose settle_at had passed
 *     when that reconciliation began. A run does not end while db_msgmap_unsettled finds
 *     rows: it waits for their settle_at and reconciles again.
 *
 * Without UIDPLUS (dest_uid = 0) step 2 cannot exclude destination messages that belong to
 * other copied rows of the same window; match greedily in UID order (APPENDs of one
 * connection are stored in order) and never match one destination message twice.
 *
 * Folder names are the source's raw (wire) names, compared byte for byte. UIDs and
 * UIDVALIDITY are IMAP nz-numbers (1..2^32-1); 0 means "unknown"/"any" where stated.
 *
 * Ownership: arrays returned by db_msgmap_known_uids, db_msgmap_uidvalidities,
 * db_msgmap_dest_uids and db_msgmap_folders belong to the caller (free(); for folders use
 * db_msgmap_folders_free). Rows passed to a db_msgmap_row_cb are borrowed for the duration
 * of the call. All input strings are copied. */
#ifndef MB_DB_MSGMAP_H
#define MB_DB_MSGMAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/mb_err.h"
#include "db/db.h"

#define DB_MSGMAP_HASH_LEN 32       /* SHA-256 */
#define DB_MSGMAP_WINDOW_MAX 100000 /* most messages in one db_msgmap_mark_inflight */

enum db_msg_state {
    DB_MSG_INFLIGHT = 0,
    DB_MSG_COPIED = 1,
    DB_MSG_FAILED = 2,
};

/* A source message, as listed by the engine before copying. */
struct db_msg {
    uint32_t uid;
    int64_t size;           /* literal size {N} announced by the source */
    int64_t internaldate;   /* unix seconds (UTC), 0 = unknown */
    const char *message_id; /* NULL = none */
    const char *flags;      /* source flags as sent (sorted, blank-separated); NULL = unknown */
};

/* The destination side of a window, read just before its first APPEND. */
struct db_msgmap_window {
    const char *dest_folder; /* destination folder name (wire form) */
    uint32_t dest_uidvalidity;
    uint32_t dest_uidnext;
    /* Rows re-armed while still in flight (their earlier send may land later) become
     * unsettled: a reconciliation starting at or after settle_at (unix seconds) settles them. */
    int64_t settle_at;
};

/* One row, as read back. */
struct db_msgmap_row {
    int64_t job_id;
    const char *folder;
    uint32_t uidvalidity;
    uint32_t uid;
    enum db_msg_state state;
    const char *dest_folder;   /* NULL if never in a window */
    uint32_t dest_uidvalidity; /* 0 = unknown */
    uint32_t dest_uidnext;     /* 0 = unknown */
    uint32_t dest_uid;         /* 0 = unknown */
    int64_t size;
    int has_hash;
    unsigned char hash[DB_MSGMAP_HASH_LEN];
    const char *message_id;   /* NULL = none */
    int64_t internaldate;     /* 0 = unknown */
    const char *error;        /* NULL unless failed: the reason's English text */
    const char *error_code;   /* its code (msg/msgcat.def), NULL = a text without one (a row
                               * written before codes, or by db_msgmap_mark_failed) */
    const char *error_params; /* its parameters, a JSON object (NULL with error_code) */
    int verify;               /* unsettled: an earlier send may still land (step 5) */
    int64_t settle_at;        /* when it may be settled (unix seconds) */
    uint32_t first_uidnext;   /* lowest dest_uidnext of its windows into this folder instance */
};

/* Return 0 to go on; any other value stops the iteration and is returned by the caller. */
typedef int db_msgmap_row_cb(void *ctx, const struct db_msgmap_row *row);

struct db_uid_state {
    uint32_t uid;
    uint8_t state; /* enum db_msg_state */
};

/* Step 4b. Mark msgs[0..n) of (job, folder, uidvalidity) in flight in window w, in one
 * transaction made durable (synchronous=FULL) when called outside a transaction. A message
 * already in flight or failed is re-armed (new window); one already copied makes the whole
 * call fail with MB_ECONFIG ("uid N is already copied") and nothing is written. */
int db_msgmap_mark_inflight(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                            const struct db_msg *msgs, size_t n, const struct db_msgmap_window *w,
                            struct mb_err *err);

/* Step 4c (optional). Record the SHA-256 of an in-flight message's content once the source
 * literal has been read, so that recovery need not fetch it from the source again.
 * MB_ENOTFOUND if the row is not in flight. */
int db_msgmap_set_hash(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                       uint32_t uid, const unsigned char hash[DB_MSGMAP_HASH_LEN],
                       struct mb_err *err);

/* Steps 2 and 4d. In flight -> copied, with the destination UID (0 = unknown) and the content
 * hash (NULL keeps a hash set earlier). MB_ENOTFOUND if the row is not in flight. */
int db_msgmap_mark_copied(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                          uint32_t uid, uint32_t dest_uid,
                          const unsigned char hash[DB_MSGMAP_HASH_LEN], struct mb_err *err);
/* The same, also recording the real size of what was sent (the source's literal, size > 0):
 * step 5 compares it with the destination's RFC822.SIZE before reading contents. */
int db_msgmap_mark_copied_sized(struct db *db, int64_t job, const char *folder,
                                uint32_t uidvalidity, uint32_t uid, uint32_t dest_uid,
                                const unsigned char hash[DB_MSGMAP_HASH_LEN], int64_t size,
                                struct mb_err *err);

/* Step 4d, or before any APPEND (message over the destination's size limit...): the message
 * is refused, with error (required, no secret). Creates the row if needed (msg gives its
 * metadata; dest_folder may be NULL). MB_ECONFIG if it is already copied. */
int db_msgmap_mark_failed(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                          const struct db_msg *msg, const char *dest_folder, const char *error,
                          struct mb_err *err);
/* The same with the reason as a coded message (MB_MSG): its English text in error, its code
 * and parameters in error_code / error_params (the report's reason_code / reason_params). A
 * reason without a code (mb_err_set) is stored as code "text". */
int db_msgmap_mark_failed_msg(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                              const struct db_msg *msg, const char *dest_folder,
                              const struct mb_err *why, struct mb_err *err);

/* Steps 1 and 2. The message was found already present on the destination (matched by
 * content or Message-ID) without appending it: create or overwrite its row as copied. */
int db_msgmap_record_copied(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                            const struct db_msg *msg, const char *dest_folder,
                            uint32_t dest_uidvalidity, uint32_t dest_uid,
                            const unsigned char hash[DB_MSGMAP_HASH_LEN], struct mb_err *err);

/* Step 3. (uid, state) of every row of (job, folder, uidvalidity), sorted by uid.
 * *arr_r = NULL when there is none. */
int db_msgmap_known_uids(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                         struct db_uid_state **arr_r, size_t *n_r, struct mb_err *err);

/* Step 2. In-flight rows of (job, folder, uidvalidity), ordered by dest_folder,
 * dest_uidvalidity, dest_uidnext, uid. folder NULL = every folder of the job (ordered by
 * folder first), uidvalidity 0 = any. */
int db_msgmap_inflight(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                       db_msgmap_row_cb *cb, void *ctx, struct mb_err *err);

/* Every row matching the filter, ordered by folder, uidvalidity, uid: folder NULL = all,
 * uidvalidity 0 = any, state -1 = any. For reports (failed messages) and step 1. */
int db_msgmap_foreach(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                      int state, db_msgmap_row_cb *cb, void *ctx, struct mb_err *err);

/* Step 2. Destination UIDs >= min_uid of dest_folder (under dest_uidvalidity) already owned by
 * copied rows of this job, sorted ascending. (Scans the job's rows: recovery only.) */
int db_msgmap_dest_uids(struct db *db, int64_t job, const char *dest_folder,
                        uint32_t dest_uidvalidity, uint32_t min_uid, uint32_t **arr_r, size_t *n_r,
                        struct mb_err *err);

/* Rows (and their total size) of the job, folder NULL = all, state -1 = any. Either output
 * pointer may be NULL. */
int db_msgmap_count(struct db *db, int64_t job, const char *folder, int state, int64_t *count_r,
                    int64_t *bytes_r, struct mb_err *err);

/* Step 1. Distinct UIDVALIDITY values recorded for (job, folder), ascending. */
int db_msgmap_uidvalidities(struct db *db, int64_t job, const char *folder, uint32_t **arr_r,
                            size_t *n_r, struct mb_err *err);

/* Distinct source folders of the job, sorted (e.g. to notice folders gone from the source). */
int db_msgmap_folders(struct db *db, int64_t job, char ***folders_r, size_t *n_r,
                      struct mb_err *err);
void db_msgmap_folders_free(char ***folders, size_t n);

/* Forget rows so that their messages count as never sent: one message (not sent by its
 * window; kept when unsettled and in flight: an earlier send of it, whose outcome was never
 * known, may still land and only the row remembers it for step 5); every row of a folder
 * under one UIDVALIDITY (step 1, after re-keying); or a whole folder. *n_r (may be NULL) =
 * rows deleted. */
int db_msgmap_forget(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                     uint32_t uid, struct mb_err *err);
int db_msgmap_forget_folder_uidvalidity(struct db *db, int64_t job, const char *folder,
                                        uint32_t uidvalidity, int64_t *n_r, struct mb_err *err);
/* The destination folder dest_folder now has UIDVALIDITY dest_uidvalidity: rows recorded
 * copied into it under another (known) UIDVALIDITY describe a folder that no longer exists
 * (recreated, or another destination platform): forget them so their messages are sent again.
 * *n_r (may be NULL) = rows deleted. */
int db_msgmap_forget_copied_elsewhere(struct db *db, int64_t job, const char *folder,
                                      uint32_t uidvalidity, const char *dest_folder,
                                      uint32_t dest_uidvalidity, int64_t *n_r, struct mb_err *err);
int db_msgmap_forget_folder(struct db *db, int64_t job, const char *folder, int64_t *n_r,
                            struct mb_err *err);

/* Step 5. Every copied row with a hash of (dest_folder, dest_uidvalidity), when at least one
 * of them is unsettled (nothing otherwise). */
int db_msgmap_copies(struct db *db, int64_t job, const char *dest_folder, uint32_t dest_uidvalidity,
                     db_msgmap_row_cb *cb, void *ctx, struct mb_err *err);
/* Step 5. Settle the unsettled rows of (dest_folder, dest_uidvalidity) that are no longer in
 * flight and whose settle_at <= started_at (the start of the reconciliation that checked
 * them). *n_r (may be NULL) = rows settled. */
int db_msgmap_settle(struct db *db, int64_t job, const char *dest_folder, uint32_t dest_uidvalidity,
                     int64_t started_at, int64_t *n_r, struct mb_err *err);
/* Step 5. Unsettled rows of the job and the latest settle_at among them. */
int db_msgmap_unsettled(struct db *db, int64_t job, int64_t *n_r, int64_t *settle_at_r,
                        struct mb_err *err);

/* Exactly once across jobs: copy into job's map every copied row of the other jobs with the
 * same pair key (source host, source login, destination; db_job.h), keeping rows job already
 * has. Run before a job's pass (mig_run), so a re-imported row or a new job for the same
 * mailbox copies only what earlier jobs did not. *n_r (may be NULL) = rows added. */
int db_msgmap_inherit(struct db *db, int64_t job, int64_t *n_r, struct mb_err *err);

/* Flag updates of a delta pass: the copied rows of (folder, uidvalidity) whose destination
 * UID is known in dest_folder instance dest_uidvalidity, by uid: their destination UID and
 * the source flags last carried over (NULL = unknown). *rows_r: free with
 * db_msgmap_flag_rows_free. */
struct db_flag_row {
    uint32_t uid, dest_uid;
    char *flags;
};
int db_msgmap_flag_rows(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                        const char *dest_folder, uint32_t dest_uidvalidity,
                        struct db_flag_row **rows_r, size_t *n_r, struct mb_err *err);
void db_msgmap_flag_rows_free(struct db_flag_row *rows, size_t n);
/* Record the source flags now carried over for one message. */
int db_msgmap_set_flags(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                        uint32_t uid, const char *flags, struct mb_err *err);

#endif
