/* auth_store: source authentication profiles in the database, secrets sealed with the
 * secret box (AES-256-GCM, associated data "auth-profile:" + name, so a sealed blob cannot
 * be moved to another profile). */
#ifndef MB_AUTH_STORE_H
#define MB_AUTH_STORE_H

#include "auth/oauth.h"
#include "base/secret.h"
#include "db/db.h"

/* Validate (auth_profile_validate, with the Google JSON key text when given) and store p. */
int auth_profile_save(struct db *db, const struct secret_box *box, struct auth_profile *p,
                      const char *service_account_json, struct mb_err *err);
/* Load profile name with its secrets in clear (auth_profile_fini wipes them). MB_ENOTFOUND
 * if there is none, MB_ECRYPTO if the secrets cannot be opened (secret key changed). */
int auth_profile_open(struct db *db, const struct secret_box *box, const char *name,
                      struct auth_profile *p, struct mb_err *err);

#endif
