/* db_user: accounts, account_domains and sessions tables. */
#include "db/db_user.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "db/db_internal.h"

#define DB_PWHASH_MAX 1024
#define DB_CSRF_MAX 256

void db_user_fini(struct db_user *u)
{
    if (!u)
        return;
    free(u->name);
    free(u->pwhash);
    for (size_t i = 0; i < u->n_domains; i++)
        free(u->domains[i]);
    free(u->domains);
    memset(u, 0, sizeof(*u));
}

void db_users_free(struct db_user **users, size_t n)
{
    if (!*users)
        return;
    for (size_t i = 0; i < n; i++)
        db_user_fini(&(*users)[i]);
    free(*users);
    *users = NULL;
}

void db_session_fini(struct db_session *s)
{
    if (!s)
        return;
    free(s->csrf);
    memset(s, 0, sizeof(*s));
}

static int check_name(const char *name, struct mb_err *err)
{
    if (!name || !*name)
        return mb_err_set(err, MB_ECONFIG, "account name is missing");
    size_t n = strlen(name);
    if (n > DB_USER_NAME_MAX)
        return mb_err_set(err, MB_ECONFIG, "account name longer than %d bytes", DB_USER_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return mb_err_set(err, MB_ECONFIG, "account name has a control character");
    return 0;
}

static int check_pwhash(const char *h, struct mb_err *err)
{
    if (!h || !*h)
        return mb_err_set(err, MB_ECONFIG, "password hash is missing");
    if (strlen(h) > DB_PWHASH_MAX)
        return mb_err_set(err, MB_ECONFIG, "password hash longer than %d bytes", DB_PWHASH_MAX);
    return 0;
}

static int check_domain(const char *d, struct mb_err *err)
{
    size_t n = d ? strlen(d) : 0;
    if (n == 0 || n > 253)
        return mb_err_set(err, MB_ECONFIG, "bad domain (1-253 bytes)");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c <= 0x20 || c == 0x7f || c == '@' || c == '"')
            return mb_err_set(err, MB_ECONFIG, "domain \"%.64s\" has a forbidden character", d);
    }
    return 0;
}

/* Replace the domains of account id (inside the caller's transaction). */
static int write_domains(struct db *db, int64_t id, const char *const *domains, size_t n,
                         struct mb_err *err)
{
    if (n > DB_USER_DOMAINS_MAX)
        return mb_err_set(err, MB_ECONFIG, "more than %d domains", DB_USER_DOMAINS_MAX);
    db_stmt *st;
    int rc = db_prepare(db, "DELETE FROM account_domains WHERE account_id = ?1", &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, id);
    int s = db_step(st);
    db_finalize(st);
    if (s != SQLITE_DONE)
        return db_fail(db, err, s, "delete domains");
    rc = db_prepare(db,
                    "INSERT INTO account_domains (account_id, domain) "
                    "VALUES (?1, lower(?2)) ON CONFLICT DO NOTHING",
                    &st, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = check_domain(domains[i], err);
        if (rc < 0)
            break;
        db_reset(st);
        db_bind_int64(st, 1, id);
        db_bind_text(st, 2, domains[i]);
        s = db_step(st);
        if (s != SQLITE_DONE)
            rc = db_fail(db, err, s, "insert domain");
    }
    db_finalize(st);
    return rc;
}

int db_user_add(struct db *db, const char *name, const char *pwhash, int admin,
                const char *const *domains, size_t n_domains, int64_t *id_r, struct mb_err *err)
{
    int rc;
    if ((rc = check_name(name, err)) < 0 || (rc = check_pwhash(pwhash, err)) < 0)
        return rc;
    int outer;
    rc = db_tx_begin(db, &outer, err);
    if (rc < 0)
        return rc;
    db_stmt *st;
    int64_t id = 0;
    rc = db_prepare(db,
                    "INSERT INTO accounts (name, pwhash, admin, created_at) "
                    "VALUES (?1, ?2, ?3, ?4) RETURNING id",
                    &st, err);
    if (rc == 0) {
        db_bind_text(st, 1, name);
        db_bind_text(st, 2, pwhash);
        db_bind_int(st, 3, admin ? 1 : 0);
        db_bind_int64(st, 4, db_now());
        int s = db_step_id(db, st, &id);
        if (s == SQLITE_CONSTRAINT_UNIQUE)
            rc = mb_err_set(err, MB_ECONFIG, "account \"%s\" already exists", name);
        else if (s != SQLITE_DONE)
            rc = db_fail(db, err, s, "insert account");
        db_finalize(st);
    }
    if (rc == 0)
        rc = write_domains(db, id, domains, n_domains, err);
    rc = db_tx_end(db, outer, rc, err);
    if (rc == 0 && id_r)
        *id_r = id;
    return rc;
}

static int read_domains(struct db *db, struct db_user *u, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT domain FROM account_domains WHERE account_id = ?1 "
                        "ORDER BY domain",
                        &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, u->id);
    size_t cap = 0;
    int s;
    for (s = db_step(st); s == SQLITE_ROW; s = db_step(st)) {
        if (u->n_domains == cap) {
            cap = cap ? cap * 2 : 4;
            u->domains = xrealloc(u->domains, cap * sizeof(*u->domains));
        }
        u->domains[u->n_domains++] = db_col_strdup(st, 0);
    }
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "read domains");
    db_finalize(st);
    return rc;
}

/* SELECT accounts by a WHERE clause with ?1 bound to key_text or key_id. */
static int get_users(struct db *db, const char *where, const char *key_text, int64_t key_id,
                     struct db_user **users_r, size_t *n_r, struct mb_err *err)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT id, name, pwhash, admin, created_at FROM accounts %s ORDER BY name", where);
    int opened;
    int rc = db_read_begin(db, &opened, err);
    if (rc < 0)
        return rc;
    db_stmt *st;
    rc = db_prepare(db, sql, &st, err);
    if (rc < 0) {
        db_read_end(db, opened);
        return rc;
    }
    if (key_text)
        db_bind_text(st, 1, key_text);
    else if (key_id)
        db_bind_int64(st, 1, key_id);
    struct db_user *v = NULL;
    size_t n = 0, cap = 0;
    int s;
    for (s = db_step(st); s == SQLITE_ROW; s = db_step(st)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            v = xrealloc(v, cap * sizeof(*v));
        }
        struct db_user *u = &v[n++];
        memset(u, 0, sizeof(*u));
        u->id = db_col_int64(st, 0);
        u->name = db_col_strdup(st, 1);
        u->pwhash = db_col_strdup(st, 2);
        u->admin = db_col_int(st, 3);
        u->created_at = db_col_int64(st, 4);
    }
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "read accounts");
    db_finalize(st);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = read_domains(db, &v[i], err);
    db_read_end(db, opened);
    if (rc < 0) {
        db_users_free(&v, n);
        return rc;
    }
    *users_r = v;
    *n_r = n;
    return 0;
}

static int get_one(struct db *db, const char *where, const char *key_text, int64_t key_id,
                   struct db_user *u_r, struct mb_err *err)
{
    struct db_user *v = NULL;
    size_t n = 0;
    int rc = get_users(db, where, key_text, key_id, &v, &n, err);
    if (rc < 0)
        return rc;
    if (n == 0) {
        if (key_text)
            return mb_err_set(err, MB_ENOTFOUND, "account \"%s\" does not exist", key_text);
        return mb_err_set(err, MB_ENOTFOUND, "account %lld does not exist", (long long)key_id);
    }
    *u_r = v[0];
    for (size_t i = 1; i < n; i++)
        db_user_fini(&v[i]);
    free(v);
    return 0;
}

int db_user_get_by_name(struct db *db, const char *name, struct db_user *u_r, struct mb_err *err)
{
    int rc = check_name(name, err);
    if (rc < 0)
        return rc == MB_ECONFIG ? mb_err_set(err, MB_ENOTFOUND, "no such account") : rc;
    return get_one(db, "WHERE name = ?1", name, 0, u_r, err);
}

int db_user_get(struct db *db, int64_t id, struct db_user *u_r, struct mb_err *err)
{
    return get_one(db, "WHERE id = ?1", NULL, id, u_r, err);
}

int db_user_list(struct db *db, struct db_user **users_r, size_t *n_r, struct mb_err *err)
{
    return get_users(db, "", NULL, 0, users_r, n_r, err);
}

int db_user_count(struct db *db, int64_t *n_r, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, "SELECT count(*) FROM accounts", &st, err);
    if (rc < 0)
        return rc;
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW)
        *n_r = db_col_int64(st, 0);
    else
        rc = db_fail(db, err, s, "count accounts");
    db_finalize(st);
    return rc;
}

/* One-statement update of account ?1 with ?2 = text or int. */
static int update_account(struct db *db, const char *sql, int64_t id, const char *text, int num,
                          struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, id);
    if (text)
        db_bind_text(st, 2, text);
    else
        db_bind_int(st, 2, num);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "update account");
    else if (db_changes(db) == 0)
        rc = mb_err_set(err, MB_ENOTFOUND, "account %lld does not exist", (long long)id);
    db_finalize(st);
    return rc;
}

int db_user_set_password(struct db *db, int64_t id, const char *pwhash, struct mb_err *err)
{
    int rc = check_pwhash(pwhash, err);
    if (rc < 0)
        return rc;
    return update_account(db, "UPDATE accounts SET pwhash = ?2 WHERE id = ?1", id, pwhash, 0, err);
}

int db_user_set_admin(struct db *db, int64_t id, int admin, struct mb_err *err)
{
    return update_account(db, "UPDATE accounts SET admin = ?2 WHERE id = ?1", id, NULL,
                          admin ? 1 : 0, err);
}

int db_user_set_domains(struct db *db, int64_t id, const char *const *domains, size_t n,
                        struct mb_err *err)
{
    int outer;
    int rc = db_tx_begin(db, &outer, err);
    if (rc < 0)
        return rc;
    rc = update_account(db, "UPDATE accounts SET admin = admin WHERE id = ?1", id, NULL, 0, err);
    if (rc == 0)
        rc = write_domains(db, id, domains, n, err);
    return db_tx_end(db, outer, rc, err);
}

int db_user_delete(struct db *db, int64_t id, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, "DELETE FROM accounts WHERE id = ?1", &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, id);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "delete account");
    else if (db_changes(db) == 0)
        rc = mb_err_set(err, MB_ENOTFOUND, "account %lld does not exist", (long long)id);
    db_finalize(st);
    return rc;
}

/* ---- sessions ---- */

static int check_hash(const unsigned char *h, size_t n, struct mb_err *err)
{
    if (!h || n < 16 || n > DB_SESSION_HASH_MAX)
        return mb_err_set(err, MB_ECONFIG, "session token hash must be 16-%d bytes",
                          DB_SESSION_HASH_MAX);
    return 0;
}

int db_session_create(struct db *db, const unsigned char *token_hash, size_t hash_len,
                      int64_t account_id, const char *csrf, int64_t expires_at, struct mb_err *err)
{
    int rc = check_hash(token_hash, hash_len, err);
    if (rc < 0)
        return rc;
    if (!csrf || !*csrf || strlen(csrf) > DB_CSRF_MAX)
        return mb_err_set(err, MB_ECONFIG, "CSRF token must be 1-%d bytes", DB_CSRF_MAX);
    db_stmt *st;
    rc = db_prepare(db,
                    "INSERT INTO sessions (token_hash, account_id, csrf, created_at, "
                    "expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    &st, err);
    if (rc < 0)
        return rc;
    db_bind_blob(st, 1, token_hash, hash_len);
    db_bind_int64(st, 2, account_id);
    db_bind_text(st, 3, csrf);
    db_bind_int64(st, 4, db_now());
    db_bind_int64(st, 5, expires_at);
    int s = db_step_first(db, st);
    if (s == SQLITE_CONSTRAINT_FOREIGNKEY)
        rc = mb_err_set(err, MB_ENOTFOUND, "account %lld does not exist", (long long)account_id);
    else if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "create session");
    db_finalize(st);
    return rc;
}

static int session_delete_hash(struct db *db, const unsigned char *h, size_t n, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, "DELETE FROM sessions WHERE token_hash = ?1", &st, err);
    if (rc < 0)
        return rc;
    db_bind_blob(st, 1, h, n);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "delete session");
    db_finalize(st);
    return rc;
}

int db_session_lookup(struct db *db, const unsigned char *token_hash, size_t hash_len, int64_t now,
                      struct db_session *s_r, struct mb_err *err)
{
    int rc = check_hash(token_hash, hash_len, err);
    if (rc < 0)
        return rc;
    db_stmt *st;
    rc = db_prepare(db,
                    "SELECT account_id, csrf, created_at, expires_at FROM sessions "
                    "WHERE token_hash = ?1",
                    &st, err);
    if (rc < 0)
        return rc;
    db_bind_blob(st, 1, token_hash, hash_len);
    int s = db_step_first(db, st), expired = 0;
    if (s == SQLITE_ROW) {
        int64_t exp = db_col_int64(st, 3);
        if (exp <= now) {
            expired = 1;
            rc = mb_err_set(err, MB_ENOTFOUND, "session expired");
        } else {
            s_r->account_id = db_col_int64(st, 0);
            s_r->csrf = db_col_strdup(st, 1);
            s_r->created_at = db_col_int64(st, 2);
            s_r->expires_at = exp;
        }
    } else if (s == SQLITE_DONE) {
        rc = mb_err_set(err, MB_ENOTFOUND, "no such session");
    } else {
        rc = db_fail(db, err, s, "lookup session");
    }
    db_finalize(st);
    if (expired)
        session_delete_hash(db, token_hash, hash_len, NULL);
    return rc;
}

int db_session_touch(struct db *db, const unsigned char *token_hash, size_t hash_len,
                     int64_t expires_at, struct mb_err *err)
{
    int rc = check_hash(token_hash, hash_len, err);
    if (rc < 0)
        return rc;
    db_stmt *st;
    rc = db_prepare(db, "UPDATE sessions SET expires_at = ?2 WHERE token_hash = ?1", &st, err);
    if (rc < 0)
        return rc;
    db_bind_blob(st, 1, token_hash, hash_len);
    db_bind_int64(st, 2, expires_at);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "touch session");
    else if (db_changes(db) == 0)
        rc = mb_err_set(err, MB_ENOTFOUND, "no such session");
    db_finalize(st);
    return rc;
}

int db_session_delete(struct db *db, const unsigned char *token_hash, size_t hash_len,
                      struct mb_err *err)
{
    int rc = check_hash(token_hash, hash_len, err);
    if (rc < 0)
        return rc;
    return session_delete_hash(db, token_hash, hash_len, err);
}

static int delete_count(struct db *db, const char *sql, int64_t arg, int64_t *n_r,
                        struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, arg);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "delete sessions");
    else if (n_r)
        *n_r = db_changes(db);
    db_finalize(st);
    return rc;
}

int db_session_delete_account(struct db *db, int64_t account_id, int64_t *n_r, struct mb_err *err)
{
    return delete_count(db, "DELETE FROM sessions WHERE account_id = ?1", account_id, n_r, err);
}

int db_session_expire(struct db *db, int64_t now, int64_t *n_r, struct mb_err *err)
{
    return delete_count(db, "DELETE FROM sessions WHERE expires_at <= ?1", now, n_r, err);
}

int db_user_admin_job_host(struct db *db, const char *host, unsigned port, int *found_r,
                           struct mb_err *err)
{
    db_stmt *st;
    *found_r = 0;
    int rc = db_prepare(db,
                        "SELECT 1 FROM jobs j LEFT JOIN accounts a ON a.id = j.account_id"
                        " WHERE lower(j.source_host) = lower(?1) AND j.source_port = ?2"
                        " AND j.state IN ('pending', 'running')"
                        " AND (j.account_id IS NULL OR a.admin = 1) LIMIT 1",
                        &st, err);
    if (rc < 0)
        return rc;
    db_bind_text(st, 1, host);
    db_bind_int64(st, 2, (int64_t)port);
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW)
        *found_r = 1;
    else if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "look up the source host");
    db_finalize(st);
    return rc;
}
