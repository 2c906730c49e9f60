/* db_user: web accounts (name, password hash, admin flag, allowed destination domains) and
 * their sessions.
 *
 * Passwords are never stored: the caller passes a hash string (base/pwhash). Session tokens
 * are never stored either: the caller passes a hash of the cookie's token (e.g. SHA-256), so a
 * copy of the database does not give live sessions. A session row carries its CSRF token.
 *
 * Account names are compared byte for byte (the caller normalises if it wants to); domains
 * are stored lower-case. Deleting an account deletes its sessions and domains; its jobs and
 * batches stay, with account_id set to NULL.
 *
 * Ownership: structs filled here own their strings; release with db_user_fini /
 * db_users_free / db_session_fini (all accept zeroed structs). Inputs are copied. */
#ifndef MB_DB_USER_H
#define MB_DB_USER_H

#include <stddef.h>
#include <stdint.h>

#include "base/mb_err.h"
#include "db/db.h"

#define DB_USER_NAME_MAX 128
#define DB_USER_DOMAINS_MAX 1000
#define DB_SESSION_HASH_MAX 64

struct db_user {
    int64_t id;
    char *name;
    char *pwhash;
    int admin;
    int64_t created_at;
    char **domains; /* n_domains lower-case domains, sorted */
    size_t n_domains;
};

void db_user_fini(struct db_user *u);

/* Create an account. name: 1..DB_USER_NAME_MAX bytes, no control characters; pwhash
 * required; domains may be NULL when n_domains is 0. Returns 0 and *id_r (may be NULL),
 * MB_ECONFIG for a duplicate name ("account \"bob\" already exists") or a bad argument. */
int db_user_add(struct db *db, const char *name, const char *pwhash, int admin,
                const char *const *domains, size_t n_domains, int64_t *id_r, struct mb_err *err);
/* MB_ENOTFOUND if there is no such account. */
int db_user_get_by_name(struct db *db, const char *name, struct db_user *u_r, struct mb_err *err);
int db_user_get(struct db *db, int64_t id, struct db_user *u_r, struct mb_err *err);
/* All accounts, by name. */
int db_user_list(struct db *db, struct db_user **users_r, size_t *n_r, struct mb_err *err);
void db_users_free(struct db_user **users, size_t n);
int db_user_count(struct db *db, int64_t *n_r, struct mb_err *err);
/* Replace the password hash / admin flag / domain list. MB_ENOTFOUND if no such account. */
int db_user_set_password(struct db *db, int64_t id, const char *pwhash, struct mb_err *err);
int db_user_set_admin(struct db *db, int64_t id, int admin, struct mb_err *err);
int db_user_set_domains(struct db *db, int64_t id, const char *const *domains, size_t n,
                        struct mb_err *err);
/* Delete an account (its sessions and domains go with it). MB_ENOTFOUND if none. */
int db_user_delete(struct db *db, int64_t id, struct mb_err *err);

struct db_session {
    int64_t account_id;
    char *csrf;
    int64_t created_at;
    int64_t expires_at;
};

void db_session_fini(struct db_session *s);

/* Store a session: token_hash is 16..DB_SESSION_HASH_MAX bytes, csrf required. */
int db_session_create(struct db *db, const unsigned char *token_hash, size_t hash_len,
                      int64_t account_id, const char *csrf, int64_t expires_at, struct mb_err *err);
/* The session whose token hashes to token_hash, if it expires after now. MB_ENOTFOUND if
 * unknown or expired (an expired one is deleted on the way). */
int db_session_lookup(struct db *db, const unsigned char *token_hash, size_t hash_len, int64_t now,
                      struct db_session *s_r, struct mb_err *err);
/* Slide the expiry of a live session. MB_ENOTFOUND if unknown. */
int db_session_touch(struct db *db, const unsigned char *token_hash, size_t hash_len,
                     int64_t expires_at, struct mb_err *err);
/* Log out: delete one session (no error if it does not exist). */
int db_session_delete(struct db *db, const unsigned char *token_hash, size_t hash_len,
                      struct mb_err *err);
/* Delete every session of an account (e.g. after a password change). */
int db_session_delete_account(struct db *db, int64_t account_id, int64_t *n_r, struct mb_err *err);
/* Delete sessions with expires_at <= now; *n_r (may be NULL) = how many. */
int db_session_expire(struct db *db, int64_t now, int64_t *n_r, struct mb_err *err);

/* *found_r = 1 if a pending or running job for source host:port (host compared
 * case-insensitively) was queued by an administrator account or by the operator (no account:
 * `migrabox import`). The source-host policy (net/net_policy.h) allows such hosts at connect
 * time. */
int db_user_admin_job_host(struct db *db, const char *host, unsigned port, int *found_r,
                           struct mb_err *err);

#endif
