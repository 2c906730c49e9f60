/* db_profile: the auth_profiles table (source authentication profiles, see auth/oauth.h).
 *
 * The secrets arrive already sealed (secret box, associated data "auth-profile:" + name) and
 * leave sealed: this layer never sees them in clear. Names are unique.
 *
 * Ownership: filled structs own their strings (auth_profile_fini); *sealed_r is xmalloc'ed. */
#ifndef MB_DB_PROFILE_H
#define MB_DB_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "auth/oauth.h"
#include "base/mb_err.h"
#include "db/db.h"

/* Insert p (its public fields, account_id; created_at set to now). MB_ECONFIG "profile
 * \"x\" already exists" on a duplicate name. */
int db_profile_add(struct db *db, const struct auth_profile *p, const unsigned char *sealed,
                   size_t n, int64_t *id_r, struct mb_err *err);
/* The public fields of profile name, and its sealed secrets when sealed_r is not NULL.
 * MB_ENOTFOUND if there is none. */
int db_profile_get(struct db *db, const char *name, struct auth_profile *p_r,
                   unsigned char **sealed_r, size_t *n_r, struct mb_err *err);
/* All profiles by name (no secrets); account_id >= 0 keeps only that owner's. */
int db_profile_list(struct db *db, int64_t account_id, struct auth_profile **v_r, size_t *n_r,
                    struct mb_err *err);
void db_profiles_free(struct auth_profile **v, size_t n);
/* Delete profile name. MB_ENOTFOUND if there is none. *waiting_r (may be NULL): jobs still
 * pending or running with it (they will fail with "profile deleted"). */
int db_profile_delete(struct db *db, const char *name, int64_t *waiting_r, struct mb_err *err);

/* jobs.auth_profile: the profile job id logs in with (a job that has one keeps no password).
 * set: name NULL clears it. get: *name_r is NULL when the job uses a password (xmalloc'ed
 * otherwise). MB_ENOTFOUND if there is no such job. */
int db_profile_job_set(struct db *db, int64_t job_id, const char *name, struct mb_err *err);
int db_profile_job_get(struct db *db, int64_t job_id, char **name_r, struct mb_err *err);

#endif
