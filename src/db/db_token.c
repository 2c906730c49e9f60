/* db_token: api_tokens table. See db_token.h. */
#include "db/db_token.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "db/db_internal.h"

void db_tokens_free(struct db_token *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

int db_token_add(struct db *db, int64_t account_id, const char *name, const unsigned char hash[32],
                 int64_t *id_r, struct mb_err *err)
{
    if (!name || !*name || strlen(name) > DB_TOKEN_NAME_MAX)
        return mb_err_set(err, MB_ECONFIG, "token name: 1 to %d bytes", DB_TOKEN_NAME_MAX);
    int outer;
    db_stmt *st = NULL;
    int rc = db_tx_begin(db, &outer, err);
    if (rc < 0)
        return rc;
    rc = db_prepare(db, "SELECT count(*) FROM api_tokens WHERE account_id = ?1", &st, err);
    if (rc == 0) {
        db_bind_int64(st, 1, account_id);
        int s = db_step_first(db, st);
        if (s != SQLITE_ROW)
            rc = db_fail(db, err, s, "count tokens");
        else if (db_col_int64(st, 0) >= DB_TOKENS_MAX)
            rc = mb_err_set(err, MB_ETOOBIG, "at most %d tokens per account", DB_TOKENS_MAX);
        db_finalize(st);
        st = NULL;
    }
    if (rc == 0)
        rc = db_prepare(db,
                        "INSERT INTO api_tokens (account_id, name, token_hash, created_at) "
                        "VALUES (?1, ?2, ?3, ?4) RETURNING id",
                        &st, err);
    if (rc == 0) {
        db_bind_int64(st, 1, account_id);
        db_bind_text(st, 2, name);
        db_bind_blob(st, 3, hash, 32);
        db_bind_int64(st, 4, db_now());
        int s = db_step_id(db, st, id_r);
        if (s != SQLITE_DONE)
            rc = db_fail(db, err, s, "add token");
    }
    db_finalize(st);
    return db_tx_end(db, outer, rc, err);
}

int db_token_list(struct db *db, int64_t account_id, struct db_token **v_r, size_t *n_r,
                  struct mb_err *err)
{
    *v_r = NULL;
    *n_r = 0;
    db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT id, name, created_at, last_used_at FROM api_tokens "
                        "WHERE account_id = ?1 ORDER BY id",
                        &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, account_id);
    struct db_token *v = NULL;
    size_t n = 0, cap = 0;
    int s;
    for (s = db_step_first(db, st); s == SQLITE_ROW; s = db_step(st)) {
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[n].id = db_col_int64(st, 0);
        v[n].account_id = account_id;
        v[n].name = db_col_strdup(st, 1);
        v[n].created_at = db_col_int64(st, 2);
        v[n].last_used_at = db_col_int64(st, 3);
        n++;
    }
    db_finalize(st);
    if (s != SQLITE_DONE) {
        db_tokens_free(v, n);
        return db_fail(db, err, s, "list tokens");
    }
    *v_r = v;
    *n_r = n;
    return 0;
}

int db_token_delete(struct db *db, int64_t account_id, int64_t id, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, "DELETE FROM api_tokens WHERE id = ?1 AND account_id = ?2", &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, id);
    db_bind_int64(st, 2, account_id);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "revoke token");
    else if (db_changes(db) == 0)
        rc = mb_err_set(err, MB_ENOTFOUND, "no such token");
    db_finalize(st);
    return rc;
}

int db_token_lookup(struct db *db, const unsigned char hash[32], int64_t now, int64_t *account_id_r,
                    struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT id, account_id, coalesce(last_used_at, 0) FROM api_tokens "
                        "WHERE token_hash = ?1",
                        &st, err);
    if (rc < 0)
        return rc;
    db_bind_blob(st, 1, hash, 32);
    int64_t id = 0, used = 0;
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW) {
        id = db_col_int64(st, 0);
        *account_id_r = db_col_int64(st, 1);
        used = db_col_int64(st, 2);
    } else if (s == SQLITE_DONE) {
        rc = MB_ENOTFOUND;
    } else {
        rc = db_fail(db, err, s, "token lookup");
    }
    db_finalize(st);
    if (rc == 0 && now - used >= 60) {
        rc = db_prepare(db, "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1", &st, err);
        if (rc == 0) {
            db_bind_int64(st, 1, id);
            db_bind_int64(st, 2, now);
            db_step_first(db, st); /* best effort: a busy database does not refuse the request */
            db_finalize(st);
        }
        rc = 0;
    }
    return rc;
}
