/* auth_store: seal and open profile secrets around db_profile. */
#include "auth/auth_store.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "db/db_profile.h"

int auth_profile_save(struct db *db, const struct secret_box *box, struct auth_profile *p,
                      const char *service_account_json, struct mb_err *err)
{
    int rc = auth_profile_validate(p, service_account_json, err);
    if (rc)
        return rc;
    struct secret js = {0};
    if (auth_profile_secrets_json(p, &js) != 0)
        return mb_err_set(err, MB_ETOOBIG, "the profile's secrets are too large");
    char *aad = xasprintf("auth-profile:%s", p->name);
    unsigned char *sealed = NULL;
    size_t n = 0;
    rc = secret_box_seal(box, aad, js.data, js.len, &sealed, &n, err);
    secret_fini(&js);
    free(aad);
    if (rc)
        return rc;
    rc = db_profile_add(db, p, sealed, n, &p->id, err);
    free(sealed);
    if (rc == 0)
        oauth_cache_forget(p->name);
    return rc;
}

int auth_profile_open(struct db *db, const struct secret_box *box, const char *name,
                      struct auth_profile *p, struct mb_err *err)
{
    unsigned char *sealed = NULL;
    size_t n = 0;
    int rc = db_profile_get(db, name, p, &sealed, &n, err);
    if (rc)
        return rc;
    char *aad = xasprintf("auth-profile:%s", name);
    struct secret js = {0};
    rc = secret_box_open(box, aad, sealed, n, &js, err);
    free(aad);
    free(sealed);
    if (rc) {
        auth_profile_fini(p);
        return mb_err_set(err, MB_ECRYPTO,
                          "the secrets of profile \"%.64s\" cannot be decrypted (secret key "
                          "changed?)",
                          name);
    }
    rc = auth_profile_secrets_load(p, js.data, js.len, err);
    secret_fini(&js);
    if (rc)
        auth_profile_fini(p);
    return rc;
}
