/* db_profile: auth_profiles table. */
#include "db/db_profile.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "db/db_internal.h"

#define PROFILE_COLS                                                                               \
    "id, name, kind, account_id, created_at, tenant, client_id, token_url, source_host, "          \
    "admin_user, method, separator"

int db_profile_add(struct db *db, const struct auth_profile *p, const unsigned char *sealed,
                   size_t n, int64_t *id_r, struct mb_err *err)
{
    if (!p->name || !p->name[0] || p->kind == AUTH_KIND_NONE || !sealed || !n)
        return mb_err_set(err, MB_ECONFIG, "profile: name, kind and secrets are required");
    db_stmt *st;
    int rc = db_prepare(db,
                        "INSERT INTO auth_profiles (name, kind, account_id, created_at, tenant, "
                        "client_id, token_url, source_host, admin_user, method, separator, "
                        "secrets) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
                        "RETURNING id",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, p->name);
    db_bind_text(st, 2, auth_kind_name(p->kind));
    if (p->account_id > 0)
        db_bind_int64(st, 3, p->account_id);
    db_bind_int64(st, 4, p->created_at > 0 ? p->created_at : db_now());
    db_bind_text(st, 5, p->tenant);
    db_bind_text(st, 6, p->client_id);
    db_bind_text(st, 7, p->token_url && p->token_url[0] ? p->token_url : NULL);
    db_bind_text(st, 8, p->source_host && p->source_host[0] ? p->source_host : NULL);
    db_bind_text(st, 9, p->admin_user);
    db_bind_text(st, 10,
                 p->kind == AUTH_KIND_IMAP_ADMIN
                     ? (p->method == AUTH_ADMIN_AUTHZID ? "authzid" : "separator")
                     : NULL);
    db_bind_text(st, 11, p->separator);
    db_bind_blob(st, 12, sealed, n);
    int64_t id = 0;
    int s = db_step_id(db, st, &id);
    if (s == SQLITE_CONSTRAINT_UNIQUE)
        rc = mb_err_set(err, MB_ECONFIG, "profile \"%s\" already exists", p->name);
    else if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "insert profile");
    else if (id_r)
        *id_r = id;
    db_finalize(st);
    return rc;
}

static void fill(db_stmt *st, struct auth_profile *p)
{
    memset(p, 0, sizeof(*p));
    p->id = db_col_int64(st, 0);
    p->name = db_col_strdup(st, 1);
    p->kind = auth_kind_parse((const char *)db_col_text(st, 2));
    p->account_id = db_col_int64(st, 3);
    p->created_at = db_col_int64(st, 4);
    p->tenant = db_col_strdup(st, 5);
    p->client_id = db_col_strdup(st, 6);
    p->token_url = db_col_strdup(st, 7);
    p->source_host = db_col_strdup(st, 8);
    p->admin_user = db_col_strdup(st, 9);
    const char *m = (const char *)db_col_text(st, 10);
    p->method = m && strcmp(m, "authzid") == 0 ? AUTH_ADMIN_AUTHZID : AUTH_ADMIN_SEPARATOR;
    p->separator = db_col_strdup(st, 11);
}

int db_profile_get(struct db *db, const char *name, struct auth_profile *p_r,
                   unsigned char **sealed_r, size_t *n_r, struct mb_err *err)
{
    memset(p_r, 0, sizeof(*p_r));
    db_stmt *st;
    int rc = db_prepare(db, "SELECT " PROFILE_COLS ", secrets FROM auth_profiles WHERE name = ?1",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, name);
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW) {
        fill(st, p_r);
        if (sealed_r) {
            size_t n = (size_t)db_col_bytes(st, 12);
            const void *b = db_col_blob(st, 12);
            *sealed_r = xmalloc(n ? n : 1);
            if (n)
                memcpy(*sealed_r, b, n);
            *n_r = n;
        }
    } else if (s == SQLITE_DONE) {
        rc = mb_err_set(err, MB_ENOTFOUND, "no source authentication profile \"%.64s\"", name);
    } else {
        rc = db_fail(db, err, s, "read profile");
    }
    db_finalize(st);
    return rc;
}

int db_profile_list(struct db *db, int64_t account_id, struct auth_profile **v_r, size_t *n_r,
                    struct mb_err *err)
{
    *v_r = NULL;
    *n_r = 0;
    db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT " PROFILE_COLS " FROM auth_profiles "
                        "WHERE ?1 < 0 OR account_id = ?1 ORDER BY name",
                        &st, err);
    if (rc)
        return rc;
    db_bind_int64(st, 1, account_id);
    size_t cap = 0;
    int s = db_step_first(db, st);
    for (; s == SQLITE_ROW; s = db_step(st)) {
        if (*n_r == cap) {
            cap = cap ? cap * 2 : 8;
            *v_r = xrealloc(*v_r, cap * sizeof(**v_r));
        }
        fill(st, &(*v_r)[(*n_r)++]);
    }
    if (s != SQLITE_DONE) {
        rc = db_fail(db, err, s, "list profiles");
        db_profiles_free(v_r, *n_r);
        *n_r = 0;
    }
    db_finalize(st);
    return rc;
}

void db_profiles_free(struct auth_profile **v, size_t n)
{
    if (!*v)
        return;
    for (size_t i = 0; i < n; i++)
        auth_profile_fini(&(*v)[i]);
    free(*v);
    *v = NULL;
}

int db_profile_delete(struct db *db, const char *name, int64_t *waiting_r, struct mb_err *err)
{
    int outer;
    int rc = db_tx_begin(db, &outer, err);
    if (rc)
        return rc;
    db_stmt *st;
    rc = db_prepare(db, "DELETE FROM auth_profiles WHERE name = ?1", &st, err);
    if (!rc) {
        db_bind_text(st, 1, name);
        int s = db_step(st);
        if (s != SQLITE_DONE)
            rc = db_fail(db, err, s, "delete profile");
        else if (db_changes(db) == 0)
            rc = mb_err_set(err, MB_ENOTFOUND, "no source authentication profile \"%.64s\"", name);
        db_finalize(st);
    }
    if (!rc && waiting_r) {
        *waiting_r = 0;
        rc = db_prepare(db,
                        "SELECT count(*) FROM jobs WHERE auth_profile = ?1 "
                        "AND state IN ('pending', 'running')",
                        &st, err);
        if (!rc) {
            db_bind_text(st, 1, name);
            if (db_step(st) == SQLITE_ROW)
                *waiting_r = db_col_int64(st, 0);
            db_finalize(st);
        }
    }
    return db_tx_end(db, outer, rc, err);
}

int db_profile_job_set(struct db *db, int64_t job_id, const char *name, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, "UPDATE jobs SET auth_profile = ?2 WHERE id = ?1", &st, err);
    if (rc)
        return rc;
    db_bind_int64(st, 1, job_id);
    db_bind_text(st, 2, name);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "set job profile");
    else if (db_changes(db) == 0)
        rc = mb_err_set(err, MB_ENOTFOUND, "no job %lld", (long long)job_id);
    db_finalize(st);
    return rc;
}

int db_profile_job_get(struct db *db, int64_t job_id, char **name_r, struct mb_err *err)
{
    *name_r = NULL;
    db_stmt *st;
    int rc = db_prepare(db, "SELECT auth_profile FROM jobs WHERE id = ?1", &st, err);
    if (rc)
        return rc;
    db_bind_int64(st, 1, job_id);
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW)
        *name_r = db_col_strdup(st, 0);
    else if (s == SQLITE_DONE)
        rc = mb_err_set(err, MB_ENOTFOUND, "no job %lld", (long long)job_id);
    else
        rc = db_fail(db, err, s, "read job profile");
    db_finalize(st);
    return rc;
}
