/* db_msgmap: msgmap table. The protocol it serves is described in db_msgmap.h. */
#include "db/db_msgmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "db/db_internal.h"

#define ROW_COLS                                                                                   \
    "job_id, folder, uidvalidity, uid, state, dest_folder, dest_uidvalidity, dest_uidnext, "       \
    "dest_uid, size, hash, message_id, internaldate, error, verify, settle_at, first_uidnext, "    \
    "error_code, error_params"

static int check_folder(const char *what, const char *s, struct mb_err *err)
{
    if (!s)
        return mb_err_set(err, MB_ECONFIG, "%s is missing", what);
    if (strlen(s) > DB_TEXT_MAX)
        return mb_err_set(err, MB_ETOOBIG, "%s is longer than %d bytes", what, DB_TEXT_MAX);
    return 0;
}

/* An over-long Message-ID is not stored (it only serves as a matching hint). */
static const char *msgid_or_null(const char *s)
{
    return s && strlen(s) <= DB_TEXT_MAX ? s : NULL;
}

static void bind_key(db_stmt *st, int64_t job, const char *folder, uint32_t uidvalidity)
{
    db_bind_int64(st, 1, job);
    db_bind_text(st, 2, folder);
    db_bind_int64(st, 3, uidvalidity);
}

static void bind_u32_or_null(db_stmt *st, int i, uint32_t v)
{
    if (v)
        db_bind_int64(st, i, v);
    else
        db_bind_null(st, i);
}

static int job_missing(struct mb_err *err, int64_t job)
{
    return mb_err_set(err, MB_ENOTFOUND, "job %lld does not exist", (long long)job);
}

/* ---- writes ---- */

int db_msgmap_mark_inflight(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                            const struct db_msg *msgs, size_t n, const struct db_msgmap_window *w,
                            struct mb_err *err)
{
    int rc;
    if ((rc = check_folder("folder", folder, err)) < 0
        || (rc = check_folder("dest_folder", w ? w->dest_folder : NULL, err)) < 0)
        return rc;
    if (n > DB_MSGMAP_WINDOW_MAX)
        return mb_err_set(err, MB_ETOOBIG, "more than %d messages in one window",
                          DB_MSGMAP_WINDOW_MAX);
    if (n == 0)
        return 0;
    int durable = !db_in_transaction(db) && !db_is_postgresql(db);
    if (durable && (rc = db_exec(db, "PRAGMA synchronous = FULL", err)) < 0)
        return rc;
    int outer;
    db_stmt *st = NULL;
    rc = db_tx_begin_job(db, &outer, err);
    if (rc < 0)
        goto restore;
    rc = db_prepare(
        db,
        "INSERT INTO msgmap (job_id, folder, uidvalidity, uid, state, dest_folder, "
        "dest_uidvalidity, dest_uidnext, size, message_id, internaldate, "
        "first_uidnext, flags) "
        "VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8, ?9, ?10, ?7, ?12) "
        "ON CONFLICT (job_id, folder, uidvalidity, uid) DO UPDATE SET state = 0, "
        /* Re-armed while in flight into the same destination folder instance: the
         * earlier send may still land (verify); settled by a reconciliation that
         * starts at or after ?11. The SET expressions all read the old row. */
        "verify = CASE WHEN msgmap.dest_folder IS NOT DISTINCT FROM excluded.dest_folder "
        "  AND msgmap.dest_uidvalidity IS NOT DISTINCT FROM excluded.dest_uidvalidity "
        "  THEN (CASE WHEN msgmap.verify = 1 OR msgmap.state = 0 THEN 1 ELSE 0 END) "
        "  ELSE 0 END, "
        "settle_at = CASE WHEN msgmap.state = 0 THEN ?11 ELSE msgmap.settle_at END, "
        "first_uidnext = CASE WHEN msgmap.dest_folder IS NOT DISTINCT FROM "
        "  excluded.dest_folder "
        "  AND msgmap.dest_uidvalidity IS NOT DISTINCT FROM excluded.dest_uidvalidity "
        "  THEN min(coalesce(msgmap.first_uidnext, msgmap.dest_uidnext, "
        "excluded.dest_uidnext), coalesce(msgmap.dest_uidnext, excluded.dest_uidnext), "
        "excluded.dest_uidnext) ELSE excluded.dest_uidnext END, "
        "dest_folder = excluded.dest_folder, "
        "dest_uidvalidity = excluded.dest_uidvalidity, "
        "dest_uidnext = excluded.dest_uidnext, dest_uid = NULL, "
        "size = excluded.size, message_id = excluded.message_id, "
        "internaldate = excluded.internaldate, error = NULL, error_code = NULL, "
        "error_params = NULL, flags = excluded.flags "
        "WHERE msgmap.state <> 1",
        &st, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct db_msg *m = &msgs[i];
        db_reset(st);
        bind_key(st, job, folder, uidvalidity);
        db_bind_int64(st, 4, m->uid);
        db_bind_text(st, 5, w->dest_folder);
        bind_u32_or_null(st, 6, w->dest_uidvalidity);
        bind_u32_or_null(st, 7, w->dest_uidnext);
        db_bind_int64(st, 8, m->size);
        db_bind_text(st, 9, msgid_or_null(m->message_id));
        if (m->internaldate)
            db_bind_int64(st, 10, m->internaldate);
        else
            db_bind_null(st, 10);
        db_bind_int64(st, 11, w->settle_at);
        db_bind_text(st, 12, m->flags);
        int s = db_step(st);
        if (s == SQLITE_CONSTRAINT_FOREIGNKEY)
            rc = job_missing(err, job);
        else if (s != SQLITE_DONE)
            rc = db_fail(db, err, s, "mark in flight");
        else if (db_changes(db) == 0)
            rc = mb_err_set(err, MB_ECONFIG, "uid %u of this folder is already copied", m->uid);
    }
    db_finalize(st);
    rc = db_tx_end(db, outer, rc, err);
restore:
    if (durable)
        db_exec(db, "PRAGMA synchronous = NORMAL", NULL);
    return rc;
}

/* Run an UPDATE keyed by ?1 job, ?2 folder, ?3 uidvalidity, ?4 uid, with ?5 = hash (NULL
 * allowed) and ?6 = num (0 binds NULL) when the statement uses them. *changes_r = rows
 * changed. */
static int update_row(struct db *db, const char *sql, int64_t job, const char *folder,
                      uint32_t uidvalidity, uint32_t uid, const unsigned char *hash, uint32_t num,
                      int *changes_r, struct mb_err *err)
{
    int rc = check_folder("folder", folder, err);
    if (rc < 0)
        return rc;
    db_stmt *st;
    rc = db_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    bind_key(st, job, folder, uidvalidity);
    db_bind_int64(st, 4, uid);
    int np = db_bind_count(st);
    if (np >= 5)
        db_bind_blob(st, 5, hash, DB_MSGMAP_HASH_LEN);
    if (np >= 6)
        bind_u32_or_null(st, 6, num);
    int s = db_step_first(db, st);
    if (s == SQLITE_DONE)
        *changes_r = db_changes(db);
    else
        rc = db_fail(db, err, s, "update message map");
    db_finalize(st);
    return rc;
}

static int not_inflight(struct mb_err *err, uint32_t uidvalidity, uint32_t uid)
{
    return mb_err_set(err, MB_ENOTFOUND, "uid %u (uidvalidity %u) is not in flight", uid,
                      uidvalidity);
}

int db_msgmap_set_hash(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                       uint32_t uid, const unsigned char hash[DB_MSGMAP_HASH_LEN],
                       struct mb_err *err)
{
    if (!hash)
        return mb_err_set(err, MB_ECONFIG, "hash is missing");
    int changes = 0;
    int rc = update_row(db,
                        "UPDATE msgmap SET hash = ?5 WHERE job_id = ?1 AND folder = ?2 "
                        "AND uidvalidity = ?3 AND uid = ?4 AND state = 0",
                        job, folder, uidvalidity, uid, hash, 0, &changes, err);
    if (rc == 0 && changes == 0)
        rc = not_inflight(err, uidvalidity, uid);
    return rc;
}

int db_msgmap_mark_copied(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                          uint32_t uid, uint32_t dest_uid,
                          const unsigned char hash[DB_MSGMAP_HASH_LEN], struct mb_err *err)
{
    return db_msgmap_mark_copied_sized(db, job, folder, uidvalidity, uid, dest_uid, hash, 0, err);
}

int db_msgmap_mark_copied_sized(struct db *db, int64_t job, const char *folder,
                                uint32_t uidvalidity, uint32_t uid, uint32_t dest_uid,
                                const unsigned char hash[DB_MSGMAP_HASH_LEN], int64_t size,
                                struct mb_err *err)
{
    int rc = check_folder("folder", folder, err);
    if (rc < 0)
        return rc;
    db_stmt *st;
    rc = db_prepare(db,
                    "UPDATE msgmap SET state = 1, dest_uid = ?6, hash = coalesce(?5, hash), "
                    "size = CASE WHEN ?7 > 0 THEN ?7 ELSE size END, error = NULL, "
                    "error_code = NULL, error_params = NULL "
                    "WHERE job_id = ?1 AND folder = ?2 AND uidvalidity = ?3 AND uid = ?4 "
                    "AND state = 0",
                    &st, err);
    if (rc < 0)
        return rc;
    bind_key(st, job, folder, uidvalidity);
    db_bind_int64(st, 4, uid);
    db_bind_blob(st, 5, hash, DB_MSGMAP_HASH_LEN);
    bind_u32_or_null(st, 6, dest_uid);
    db_bind_int64(st, 7, size);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "update message map");
    else if (db_changes(db) == 0)
        rc = not_inflight(err, uidvalidity, uid);
    db_finalize(st);
    return rc;
}

/* Upsert one row in state 1 or 2. */
static int upsert(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                  const struct db_msg *msg, int state, const char *dest_folder,
                  uint32_t dest_uidvalidity, uint32_t dest_uid, const unsigned char *hash,
                  const char *error, const char *error_code, const char *error_params,
                  struct mb_err *err)
{
    int rc;
    if ((rc = check_folder("folder", folder, err)) < 0)
        return rc;
    if (!msg)
        return mb_err_set(err, MB_ECONFIG, "message is missing");
    if (dest_folder && (rc = check_folder("dest_folder", dest_folder, err)) < 0)
        return rc;
    db_stmt *st;
    /* state 1 overwrites anything; state 2 never overwrites a copied row. */
    rc = db_prepare(db,
                    state == DB_MSG_COPIED
                        ? "INSERT INTO msgmap (job_id, folder, uidvalidity, uid, state, "
                          "dest_folder, dest_uidvalidity, dest_uid, size, hash, message_id, "
                          "internaldate, error, error_code, error_params) VALUES (?1, ?2, ?3, "
                          "?4, 1, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) "
                          "ON CONFLICT (job_id, folder, uidvalidity, uid) DO "
                          "UPDATE SET state = 1, dest_folder = excluded.dest_folder, "
                          "dest_uidvalidity = excluded.dest_uidvalidity, "
                          "dest_uid = excluded.dest_uid, size = excluded.size, "
                          "hash = coalesce(excluded.hash, msgmap.hash), "
                          "message_id = excluded.message_id, "
                          "internaldate = excluded.internaldate, error = NULL, error_code = NULL, "
                          "error_params = NULL"
                        : "INSERT INTO msgmap (job_id, folder, uidvalidity, uid, state, "
                          "dest_folder, dest_uidvalidity, dest_uid, size, hash, message_id, "
                          "internaldate, error, error_code, error_params) VALUES (?1, ?2, ?3, "
                          "?4, 2, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) "
                          "ON CONFLICT (job_id, folder, uidvalidity, uid) DO "
                          "UPDATE SET state = 2, "
                          "dest_folder = coalesce(excluded.dest_folder, msgmap.dest_folder), "
                          "size = excluded.size, message_id = excluded.message_id, "
                          "internaldate = excluded.internaldate, error = excluded.error, "
                          "error_code = excluded.error_code, "
                          "error_params = excluded.error_params "
                          "WHERE msgmap.state <> 1",
                    &st, err);
    if (rc < 0)
        return rc;
    bind_key(st, job, folder, uidvalidity);
    db_bind_int64(st, 4, msg->uid);
    db_bind_text(st, 5, dest_folder);
    bind_u32_or_null(st, 6, dest_uidvalidity);
    bind_u32_or_null(st, 7, dest_uid);
    db_bind_int64(st, 8, msg->size);
    db_bind_blob(st, 9, hash, DB_MSGMAP_HASH_LEN);
    db_bind_text(st, 10, msgid_or_null(msg->message_id));
    if (msg->internaldate)
        db_bind_int64(st, 11, msg->internaldate);
    db_bind_text(st, 12, error);
    db_bind_text(st, 13, error_code);
    db_bind_text(st, 14, error_params);
    int s = db_step_first(db, st);
    if (s == SQLITE_CONSTRAINT_FOREIGNKEY)
        rc = job_missing(err, job);
    else if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "write message map");
    else if (db_changes(db) == 0)
        rc = mb_err_set(err, MB_ECONFIG, "uid %u of this folder is already copied", msg->uid);
    db_finalize(st);
    return rc;
}

int db_msgmap_mark_failed(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                          const struct db_msg *msg, const char *dest_folder, const char *error,
                          struct mb_err *err)
{
    if (!error || !*error)
        return mb_err_set(err, MB_ECONFIG, "error is missing");
    char cut[DB_TEXT_MAX + 1];
    snprintf(cut, sizeof(cut), "%s", error);
    return upsert(db, job, folder, uidvalidity, msg, DB_MSG_FAILED, dest_folder, 0, 0, NULL, cut,
                  NULL, NULL, err);
}

int db_msgmap_mark_failed_msg(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                              const struct db_msg *msg, const char *dest_folder,
                              const struct mb_err *why, struct mb_err *err)
{
    if (!why || !why->msg[0])
        return mb_err_set(err, MB_ECONFIG, "error is missing");
    char params[MB_ERR_PARAMS_LEN + 64];
    return upsert(db, job, folder, uidvalidity, msg, DB_MSG_FAILED, dest_folder, 0, 0, NULL,
                  why->msg, mb_err_code(why), mb_err_params(why, params, sizeof(params)), err);
}

int db_msgmap_record_copied(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                            const struct db_msg *msg, const char *dest_folder,
                            uint32_t dest_uidvalidity, uint32_t dest_uid,
                            const unsigned char hash[DB_MSGMAP_HASH_LEN], struct mb_err *err)
{
    return upsert(db, job, folder, uidvalidity, msg, DB_MSG_COPIED, dest_folder, dest_uidvalidity,
                  dest_uid, hash, NULL, NULL, NULL, err);
}

/* ---- reads ---- */

static void row_read(db_stmt *st, struct db_msgmap_row *r)
{
    memset(r, 0, sizeof(*r));
    r->job_id = db_col_int64(st, 0);
    r->folder = (const char *)db_col_text(st, 1);
    r->uidvalidity = (uint32_t)db_col_int64(st, 2);
    r->uid = (uint32_t)db_col_int64(st, 3);
    r->state = (enum db_msg_state)db_col_int(st, 4);
    r->dest_folder = (const char *)db_col_text(st, 5);
    r->dest_uidvalidity = (uint32_t)db_col_int64(st, 6);
    r->dest_uidnext = (uint32_t)db_col_int64(st, 7);
    r->dest_uid = (uint32_t)db_col_int64(st, 8);
    r->size = db_col_int64(st, 9);
    const void *h = db_col_blob(st, 10);
    if (h && db_col_bytes(st, 10) == DB_MSGMAP_HASH_LEN) {
        memcpy(r->hash, h, DB_MSGMAP_HASH_LEN);
        r->has_hash = 1;
    }
    r->message_id = (const char *)db_col_text(st, 11);
    r->internaldate = db_col_int64(st, 12);
    r->error = (const char *)db_col_text(st, 13);
    r->verify = db_col_int(st, 14);
    r->settle_at = db_col_int64(st, 15);
    r->first_uidnext = (uint32_t)db_col_int64(st, 16);
    r->error_code = (const char *)db_col_text(st, 17);
    r->error_params = (const char *)db_col_text(st, 18);
}

/* An owned copy of a row (inflight buffers rows so that its callback may write). */
struct row_copy {
    struct db_msgmap_row r;
    char *folder, *dest_folder, *message_id, *error, *error_code, *error_params;
};

static void row_copy_take(struct row_copy *c, db_stmt *st)
{
    row_read(st, &c->r);
    c->folder = db_col_strdup(st, 1);
    c->dest_folder = db_col_strdup(st, 5);
    c->message_id = db_col_strdup(st, 11);
    c->error = db_col_strdup(st, 13);
    c->error_code = db_col_strdup(st, 17);
    c->error_params = db_col_strdup(st, 18);
    c->r.folder = c->folder;
    c->r.dest_folder = c->dest_folder;
    c->r.message_id = c->message_id;
    c->r.error = c->error;
    c->r.error_code = c->error_code;
    c->r.error_params = c->error_params;
}

static void row_copy_fini(struct row_copy *c)
{
    free(c->folder);
    free(c->dest_folder);
    free(c->message_id);
    free(c->error);
    free(c->error_code);
    free(c->error_params);
}

/* Step a prepared SELECT of ROW_COLS, calling cb for each row (borrowed); finalizes st. */
static int stream_rows(struct db *db, db_stmt *st, db_msgmap_row_cb *cb, void *ctx,
                       struct mb_err *err)
{
    int rc = 0, s;
    for (s = db_step_first(db, st); s == SQLITE_ROW; s = db_step(st)) {
        struct db_msgmap_row r;
        row_read(st, &r);
        rc = cb(ctx, &r);
        if (rc != 0)
            break;
    }
    if (rc == 0 && s != SQLITE_DONE)
        rc = db_fail(db, err, s, "read message map");
    db_finalize(st);
    return rc;
}

/* SELECT rows with optional filters; see db_msgmap_foreach. buffered: copy all rows before
 * calling cb. */
static int select_rows(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                       int state, const char *order, int buffered, db_msgmap_row_cb *cb, void *ctx,
                       struct mb_err *err)
{
    int rc = folder ? check_folder("folder", folder, err) : 0;
    if (rc < 0)
        return rc;
    struct buf sql;
    buf_init(&sql, 4096);
    buf_puts(&sql, "SELECT " ROW_COLS " FROM msgmap WHERE job_id = ?1");
    if (folder)
        buf_puts(&sql, " AND folder = ?2");
    if (uidvalidity)
        buf_puts(&sql, " AND uidvalidity = ?3");
    if (state >= 0)
        buf_puts(&sql, " AND state = ?4");
    buf_printf(&sql, " ORDER BY %s", order);
    db_stmt *st;
    rc = db_prepare(db, buf_cstr(&sql), &st, err);
    buf_fini(&sql);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, job);
    if (folder)
        db_bind_text(st, 2, folder);
    if (uidvalidity)
        db_bind_int64(st, 3, uidvalidity);
    if (state >= 0)
        db_bind_int(st, 4, state);
    if (!buffered)
        return stream_rows(db, st, cb, ctx, err);
    struct row_copy *rows = NULL;
    size_t n = 0, cap = 0;
    int s;
    for (s = db_step_first(db, st); s == SQLITE_ROW; s = db_step(st)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            rows = xrealloc(rows, cap * sizeof(*rows));
        }
        row_copy_take(&rows[n++], st);
    }
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "read message map");
    db_finalize(st);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = cb(ctx, &rows[i].r);
        row_copy_fini(&rows[i]);
    }
    free(rows);
    return rc;
}

int db_msgmap_inflight(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                       db_msgmap_row_cb *cb, void *ctx, struct mb_err *err)
{
    return select_rows(db, job, folder, uidvalidity, DB_MSG_INFLIGHT,
                       "folder, uidvalidity, dest_folder, dest_uidvalidity, dest_uidnext, uid", 1,
                       cb, ctx, err);
}

int db_msgmap_foreach(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                      int state, db_msgmap_row_cb *cb, void *ctx, struct mb_err *err)
{
    return select_rows(db, job, folder, uidvalidity, state, "folder, uidvalidity, uid", 0, cb, ctx,
                       err);
}

int db_msgmap_known_uids(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                         struct db_uid_state **arr_r, size_t *n_r, struct mb_err *err)
{
    int rc = check_folder("folder", folder, err);
    if (rc < 0)
        return rc;
    db_stmt *st;
    rc = db_prepare(db,
                    "SELECT uid, state FROM msgmap WHERE job_id = ?1 AND folder = ?2 "
                    "AND uidvalidity = ?3 ORDER BY uid",
                    &st, err);
    if (rc < 0)
        return rc;
    bind_key(st, job, folder, uidvalidity);
    struct db_uid_state *v = NULL;
    size_t n = 0, cap = 0;
    int s;
    for (s = db_step_first(db, st); s == SQLITE_ROW; s = db_step(st)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[n].uid = (uint32_t)db_col_int64(st, 0);
        v[n].state = (uint8_t)db_col_int(st, 1);
        n++;
    }
    if (s != SQLITE_DONE) {
        rc = db_fail(db, err, s, "known uids");
        free(v);
    } else {
        *arr_r = v;
        *n_r = n;
    }
    db_finalize(st);
    return rc;
}

/* Collect column 0 (uint32) of a prepared statement. */
static int collect_u32(struct db *db, db_stmt *st, uint32_t **arr_r, size_t *n_r,
                       struct mb_err *err)
{
    uint32_t *v = NULL;
    size_t n = 0, cap = 0;
    int s, rc = 0;
    for (s = db_step_first(db, st); s == SQLITE_ROW; s = db_step(st)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[n++] = (uint32_t)db_col_int64(st, 0);
    }
    if (s != SQLITE_DONE) {
        rc = db_fail(db, err, s, "read message map");
        free(v);
    } else {
        *arr_r = v;
        *n_r = n;
    }
    db_finalize(st);
    return rc;
}

int db_msgmap_dest_uids(struct db *db, int64_t job, const char *dest_folder,
                        uint32_t dest_uidvalidity, uint32_t min_uid, uint32_t **arr_r, size_t *n_r,
                        struct mb_err *err)
{
    int rc = check_folder("dest_folder", dest_folder, err);
    if (rc < 0)
        return rc;
    db_stmt *st;
    rc = db_prepare(db,
                    "SELECT dest_uid FROM msgmap WHERE job_id = ?1 AND dest_folder = ?2 "
                    "AND dest_uidvalidity = ?3 AND state = 1 AND dest_uid >= ?4 "
                    "ORDER BY dest_uid",
                    &st, err);
    if (rc < 0)
        return rc;
    bind_key(st, job, dest_folder, dest_uidvalidity);
    db_bind_int64(st, 4, min_uid);
    return collect_u32(db, st, arr_r, n_r, err);
}

int db_msgmap_uidvalidities(struct db *db, int64_t job, const char *folder, uint32_t **arr_r,
                            size_t *n_r, struct mb_err *err)
{
    int rc = check_folder("folder", folder, err);
    if (rc < 0)
        return rc;
    db_stmt *st;
    rc = db_prepare(db,
                    "SELECT DISTINCT uidvalidity FROM msgmap WHERE job_id = ?1 AND folder = ?2 "
                    "ORDER BY 1",
                    &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, job);
    db_bind_text(st, 2, folder);
    return collect_u32(db, st, arr_r, n_r, err);
}

int db_msgmap_count(struct db *db, int64_t job, const char *folder, int state, int64_t *count_r,
                    int64_t *bytes_r, struct mb_err *err)
{
    int rc = folder ? check_folder("folder", folder, err) : 0;
    if (rc < 0)
        return rc;
    db_stmt *st;
    const char *sql =
        folder
            ? (state >= 0 ? "SELECT count(*), coalesce(sum(size), 0) FROM msgmap WHERE job_id = ?1 "
                            "AND folder = ?2 AND state = ?3"
                          : "SELECT count(*), coalesce(sum(size), 0) FROM msgmap WHERE job_id = ?1 "
                            "AND folder = ?2")
            : (state >= 0
                   ? "SELECT count(*), coalesce(sum(size), 0) FROM msgmap WHERE job_id = ?1 "
                     "AND state = ?3"
                   : "SELECT count(*), coalesce(sum(size), 0) FROM msgmap WHERE job_id = ?1");
    rc = db_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, job);
    if (folder)
        db_bind_text(st, 2, folder);
    if (state >= 0)
        db_bind_int(st, 3, state);
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW) {
        if (count_r)
            *count_r = db_col_int64(st, 0);
        if (bytes_r)
            *bytes_r = (int64_t)db_col_double(st, 1);
    } else {
        rc = db_fail(db, err, s, "count message map");
    }
    db_finalize(st);
    return rc;
}

int db_msgmap_folders(struct db *db, int64_t job, char ***folders_r, size_t *n_r,
                      struct mb_err *err)
{
    db_stmt *st;
    int rc =
        db_prepare(db, "SELECT DISTINCT folder FROM msgmap WHERE job_id = ?1 ORDER BY 1", &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, job);
    char **v = NULL;
    size_t n = 0, cap = 0;
    int s;
    for (s = db_step_first(db, st); s == SQLITE_ROW; s = db_step(st)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[n++] = db_col_strdup(st, 0);
    }
    if (s != SQLITE_DONE) {
        rc = db_fail(db, err, s, "list folders");
        db_msgmap_folders_free(&v, n);
    } else {
        *folders_r = v;
        *n_r = n;
    }
    db_finalize(st);
    return rc;
}

void db_msgmap_folders_free(char ***folders, size_t n)
{
    if (!*folders)
        return;
    for (size_t i = 0; i < n; i++)
        free((*folders)[i]);
    free(*folders);
    *folders = NULL;
}

/* ---- forget ---- */

/* Run a write keyed by ?1 job, ?2 folder (source or destination, per the statement), ?3
 * uidvalidity and ?4 num when the statement uses them; *n_r (may be NULL) = rows changed. */
static int keyed_write(struct db *db, const char *sql, const char *what, int64_t job,
                       const char *folder, uint32_t uidvalidity, int64_t num, int64_t *n_r,
                       struct mb_err *err)
{
    int rc = check_folder("folder", folder, err);
    if (rc < 0)
        return rc;
    db_stmt *st;
    rc = db_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    int np = db_bind_count(st);
    db_bind_int64(st, 1, job);
    db_bind_text(st, 2, folder);
    if (np >= 3)
        db_bind_int64(st, 3, uidvalidity);
    if (np >= 4)
        db_bind_int64(st, 4, num);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, what);
    else if (n_r)
        *n_r = db_changes(db);
    db_finalize(st);
    return rc;
}

static int delete_rows(struct db *db, const char *sql, int64_t job, const char *folder,
                       uint32_t uidvalidity, uint32_t uid, int64_t *n_r, struct mb_err *err)
{
    return keyed_write(db, sql, "forget", job, folder, uidvalidity, uid, n_r, err);
}

int db_msgmap_forget(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                     uint32_t uid, struct mb_err *err)
{
    /* An unsettled row in flight stays: an earlier send of the message (its outcome never
     * known) may still land, and only the row remembers it (first_uidnext, verify) for the
     * reconciliation. */
    return delete_rows(db,
                       "DELETE FROM msgmap WHERE job_id = ?1 AND folder = ?2 "
                       "AND uidvalidity = ?3 AND uid = ?4 AND NOT (state = 0 AND verify = 1)",
                       job, folder, uidvalidity, uid, NULL, err);
}

int db_msgmap_forget_folder_uidvalidity(struct db *db, int64_t job, const char *folder,
                                        uint32_t uidvalidity, int64_t *n_r, struct mb_err *err)
{
    return delete_rows(db,
                       "DELETE FROM msgmap WHERE job_id = ?1 AND folder = ?2 "
                       "AND uidvalidity = ?3",
                       job, folder, uidvalidity, 0, n_r, err);
}

int db_msgmap_forget_copied_elsewhere(struct db *db, int64_t job, const char *folder,
                                      uint32_t uidvalidity, const char *dest_folder,
                                      uint32_t dest_uidvalidity, int64_t *n_r, struct mb_err *err)
{
    int rc = check_folder("folder", folder, err);
    if (rc < 0)
        return rc;
    rc = check_folder("dest_folder", dest_folder, err);
    if (rc < 0)
        return rc;
    db_stmt *st;
    rc = db_prepare(db,
                    "DELETE FROM msgmap WHERE job_id = ?1 AND folder = ?2 AND uidvalidity = ?3 "
                    "AND state = 1 AND dest_folder = ?4 AND dest_uidvalidity IS NOT NULL "
                    "AND dest_uidvalidity != 0 AND dest_uidvalidity != ?5",
                    &st, err);
    if (rc < 0)
        return rc;
    bind_key(st, job, folder, uidvalidity);
    db_bind_text(st, 4, dest_folder);
    db_bind_int64(st, 5, dest_uidvalidity);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "forget copied rows");
    else if (n_r)
        *n_r = db_changes(db);
    db_finalize(st);
    return rc;
}

int db_msgmap_forget_folder(struct db *db, int64_t job, const char *folder, int64_t *n_r,
                            struct mb_err *err)
{
    return delete_rows(db, "DELETE FROM msgmap WHERE job_id = ?1 AND folder = ?2", job, folder, 0,
                       0, n_r, err);
}

/* ---- reconciliation of unsettled rows ---- */

int db_msgmap_copies(struct db *db, int64_t job, const char *dest_folder, uint32_t dest_uidvalidity,
                     db_msgmap_row_cb *cb, void *ctx, struct mb_err *err)
{
    int rc = check_folder("dest_folder", dest_folder, err);
    if (rc < 0)
        return rc;
    db_stmt *st;
    rc = db_prepare(db,
                    "SELECT " ROW_COLS " FROM msgmap WHERE job_id = ?1 AND dest_folder = ?2 "
                    "AND dest_uidvalidity = ?3 AND state = 1 AND hash IS NOT NULL "
                    "AND EXISTS (SELECT 1 FROM msgmap v WHERE v.job_id = ?1 AND v.verify = 1 "
                    "AND v.state = 1 AND v.dest_folder = ?2 AND v.dest_uidvalidity = ?3)",
                    &st, err);
    if (rc < 0)
        return rc;
    bind_key(st, job, dest_folder, dest_uidvalidity);
    return stream_rows(db, st, cb, ctx, err);
}

int db_msgmap_settle(struct db *db, int64_t job, const char *dest_folder, uint32_t dest_uidvalidity,
                     int64_t started_at, int64_t *n_r, struct mb_err *err)
{
    /* Rows never copied (refused by the destination) have no copy of their own to keep:
     * settled as well; rows still in flight wait for their window's recovery. */
    return keyed_write(db,
                       "UPDATE msgmap SET verify = 0 WHERE job_id = ?1 AND dest_folder = ?2 "
                       "AND dest_uidvalidity = ?3 AND verify = 1 AND state <> 0 "
                       "AND settle_at <= ?4",
                       "settle message map", job, dest_folder, dest_uidvalidity, started_at, n_r,
                       err);
}

int db_msgmap_unsettled(struct db *db, int64_t job, int64_t *n_r, int64_t *settle_at_r,
                        struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT count(*), coalesce(max(settle_at), 0) FROM msgmap "
                        "WHERE job_id = ?1 AND verify = 1 AND state <> 0",
                        &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, job);
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW) {
        *n_r = db_col_int64(st, 0);
        *settle_at_r = db_col_int64(st, 1);
    } else {
        rc = db_fail(db, err, s, "read message map");
    }
    db_finalize(st);
    return rc;
}

int db_msgmap_inherit(struct db *db, int64_t job, int64_t *n_r, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(
        db,
        "INSERT INTO msgmap (job_id, folder, uidvalidity, uid, state, dest_folder, "
        "dest_uidvalidity, dest_uidnext, dest_uid, size, hash, message_id, internaldate, error, "
        "verify, settle_at, first_uidnext, flags) "
        "SELECT ?1, m.folder, m.uidvalidity, m.uid, m.state, m.dest_folder, m.dest_uidvalidity, "
        "m.dest_uidnext, m.dest_uid, m.size, m.hash, m.message_id, m.internaldate, m.error, "
        "m.verify, m.settle_at, m.first_uidnext, m.flags "
        "FROM jobs j JOIN jobs o ON o.pair_key = j.pair_key AND o.id <> j.id "
        "JOIN msgmap m ON m.job_id = o.id "
        "WHERE j.id = ?1 AND j.pair_key IS NOT NULL AND m.state = 1 ON CONFLICT DO NOTHING",
        &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, job);
    int s = db_step_first(db, st);
    if (s == SQLITE_DONE) {
        if (n_r)
            *n_r = db_changes(db);
    } else {
        rc = db_fail(db, err, s, "inherit message map");
    }
    db_finalize(st);
    return rc;
}

void db_msgmap_flag_rows_free(struct db_flag_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(rows[i].flags);
    free(rows);
}

int db_msgmap_flag_rows(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                        const char *dest_folder, uint32_t dest_uidvalidity,
                        struct db_flag_row **rows_r, size_t *n_r, struct mb_err *err)
{
    *rows_r = NULL;
    *n_r = 0;
    db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT uid, dest_uid, flags FROM msgmap WHERE job_id = ?1 "
                        "AND folder = ?2 AND uidvalidity = ?3 AND state = 1 "
                        "AND dest_uid IS NOT NULL AND dest_folder = ?4 "
                        "AND dest_uidvalidity = ?5 ORDER BY uid",
                        &st, err);
    if (rc < 0)
        return rc;
    bind_key(st, job, folder, uidvalidity);
    db_bind_text(st, 4, dest_folder);
    db_bind_int64(st, 5, dest_uidvalidity);
    struct db_flag_row *rows = NULL;
    size_t n = 0, cap = 0;
    int s;
    for (s = db_step_first(db, st); s == SQLITE_ROW; s = db_step(st)) {
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            rows = xrealloc(rows, cap * sizeof(*rows));
        }
        rows[n].uid = (uint32_t)db_col_int64(st, 0);
        rows[n].dest_uid = (uint32_t)db_col_int64(st, 1);
        rows[n].flags = db_col_strdup(st, 2);
        n++;
    }
    db_finalize(st);
    if (s != SQLITE_DONE) {
        db_msgmap_flag_rows_free(rows, n);
        return db_fail(db, err, s, "read message flags");
    }
    *rows_r = rows;
    *n_r = n;
    return 0;
}

int db_msgmap_set_flags(struct db *db, int64_t job, const char *folder, uint32_t uidvalidity,
                        uint32_t uid, const char *flags, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db,
                        "UPDATE msgmap SET flags = ?5 WHERE job_id = ?1 AND folder = ?2 "
                        "AND uidvalidity = ?3 AND uid = ?4",
                        &st, err);
    if (rc < 0)
        return rc;
    bind_key(st, job, folder, uidvalidity);
    db_bind_int64(st, 4, uid);
    db_bind_text(st, 5, flags);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "set message flags");
    db_finalize(st);
    return rc;
}
