/* Source authentication profiles in the API (« Accès administrateur »):
 *   GET /api/profiles, POST /api/profiles, DELETE /api/profiles/{name},
 *   POST /api/profiles/{name}/check {"source_login"}.
 * A profile belongs to the account that created it (admins see and use all, like jobs); its
 * secrets are write-only: accepted in POST, sealed with the secret box, never answered. */
#include <stdio.h>
#include <string.h>

#include "auth/auth_store.h"
#include "auth/oauth.h"
#include "base/xalloc.h"
#include "db/db_profile.h"
#include "http_api_internal.h"
#include "log/log.h"
#include "migrate/mig.h"
#include "net/net_host.h"
#include "migrate/mig_preset.h"

static void profile_write(struct json_w *w, const struct auth_profile *p, const char *owner)
{
    json_w_obj_begin(w);
    json_w_kv_str(w, "name", p->name);
    json_w_kv_str(w, "kind", auth_kind_name(p->kind));
    json_w_kv_str(w, "owner", owner);
    http_api_w_time(w, "created_at", p->created_at);
    if (p->kind == AUTH_KIND_MICROSOFT365) {
        json_w_kv_str(w, "tenant", p->tenant);
        json_w_kv_str(w, "client_id", p->client_id);
    } else if (p->kind == AUTH_KIND_GOOGLE) {
        json_w_kv_str(w, "client_email", p->client_id);
    } else {
        json_w_kv_str(w, "admin_user", p->admin_user);
        json_w_kv_str(w, "method", p->method == AUTH_ADMIN_AUTHZID ? "authzid" : "separator");
        json_w_kv_str(w, "separator",
                      p->method == AUTH_ADMIN_AUTHZID
                          ? NULL
                          : (p->separator && p->separator[0] ? p->separator : "*"));
    }
    json_w_kv_str(w, "token_url", p->token_url);
    json_w_kv_str(w, "source_host", p->source_host);
    json_w_obj_end(w);
}

void http_api_profiles_list(struct http_api_ctx *c)
{
    struct auth_profile *v = NULL;
    size_t n = 0;
    struct mb_err err = {0};
    if (db_profile_list(c->db, c->user.admin ? -1 : c->user.id, &v, &n, &err) != 0) {
        http_api_internal(c, "list profiles", &err);
        return;
    }
    struct http_api_owner_cache oc;
    memset(&oc, 0, sizeof(oc));
    struct json_w w;
    http_api_json_begin(c, 200, &w);
    json_w_obj_begin(&w);
    json_w_key(&w, "profiles");
    json_w_arr_begin(&w);
    for (size_t i = 0; i < n; i++)
        profile_write(&w, &v[i], http_api_jobs_owner(c, &oc, v[i].account_id));
    json_w_arr_end(&w);
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
    http_api_jobs_owner_fini(&oc);
    db_profiles_free(&v, n);
}

/* A string member, or NULL; a present non-string records a field error. */
static const char *str_field(struct http_api_ctx *c, const struct json_value *o, const char *k)
{
    const char *s = NULL;
    int rc = json_get_str(o, k, &s);
    if (rc == JSON_ETYPE)
        HTTP_API_FIELD(c, k, API_MUST_STRING);
    return rc == 0 ? s : NULL;
}

static void set_secret(struct secret *dst, const char *s)
{
    if (s && s[0])
        secret_set(dst, s, strlen(s));
}

void http_api_profiles_create(struct http_api_ctx *c)
{
    static const char *const known[] = {
        "name",        "kind",        "tenant",          "client_id",   "client_secret",
        "certificate", "private_key", "service_account", "admin_user",  "admin_password",
        "method",      "separator",   "token_url",       "source_host",
    };
    struct json_value *body = http_api_body_object(c, NULL);
    if (!body)
        return;
    struct auth_profile p;
    memset(&p, 0, sizeof(p));
    for (size_t i = 0; i < body->n; i++) {
        size_t k;
        for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            if (strcmp(body->members[i].key, known[k]) == 0)
                break;
        if (k == sizeof(known) / sizeof(known[0]) && c->n_ferr < HTTP_API_MAX_FIELD_ERRORS) {
            char key[41];
            snprintf(key, sizeof(key), "%s", body->members[i].key);
            struct mb_err m;
            MB_MSG(&m, MB_ECONFIG, API_UNKNOWN_FIELD, key);
            http_api_field_msg(c, "body", &m);
        }
    }
    const char *name = str_field(c, body, "name"), *kind = str_field(c, body, "kind");
    const char *method = str_field(c, body, "method");
    const char *sa = str_field(c, body, "service_account");
    const char *fields[] = {"tenant",    "client_id", "admin_user",
                            "separator", "token_url", "source_host"};
    char **dst[] = {&p.tenant,    &p.client_id, &p.admin_user,
                    &p.separator, &p.token_url, &p.source_host};
    for (size_t i = 0; i < 6; i++) {
        const char *s = str_field(c, body, fields[i]);
        if (s && s[0])
            *dst[i] = xstrdup(s);
    }
    set_secret(&p.client_secret, str_field(c, body, "client_secret"));
    set_secret(&p.certificate, str_field(c, body, "certificate"));
    set_secret(&p.private_key, str_field(c, body, "private_key"));
    set_secret(&p.admin_password, str_field(c, body, "admin_password"));
    p.name = xstrdup(name ? name : "");
    p.kind = auth_kind_parse(kind);
    p.account_id = c->user.id;
    if (!kind || p.kind == AUTH_KIND_NONE)
        HTTP_API_FIELD(c, "kind", API_PROFILE_KIND_EXPECTED);
    if (method && strcmp(method, "authzid") == 0)
        p.method = AUTH_ADMIN_AUTHZID;
    else if (method && strcmp(method, "separator") != 0)
        http_api_field_error(c, "method", "%s", "separator | authzid");
    if (p.kind == AUTH_KIND_GOOGLE && !(sa && sa[0]))
        HTTP_API_FIELD(c, "service_account", API_PROFILE_KEY_REQUIRED);
    if (c->n_ferr) {
        http_api_field_errors(c);
        goto out;
    }
    struct mb_err err = {0};
    int rc = auth_profile_save(c->db, c->api->box, &p, sa, &err);
    if (rc == MB_ECONFIG) {
        /* validation messages start with the field they are about: "tenant: required" */
        char field[32] = "profile";
        size_t fl = strcspn(err.msg, ":");
        if (err.msg[fl] == ':' && fl < sizeof(field)
            && strspn(err.msg, "abcdefghijklmnopqrstuvwxyz_") == fl)
            snprintf(field, sizeof(field), "%.*s", (int)fl, err.msg);
        if (strstr(err.msg, "already exists"))
            snprintf(field, sizeof(field), "name");
        http_api_field_error(c, field, "%s", err.msg);
        http_api_field_errors(c);
        goto out;
    }
    if (rc) {
        http_api_internal(c, "store profile", &err);
        goto out;
    }
    log_info("api: profile %s (%s) added by %s", p.name, auth_kind_name(p.kind), c->user.name);
    struct auth_profile shown;
    if (db_profile_get(c->db, p.name, &shown, NULL, NULL, &err) != 0) {
        http_api_internal(c, "read profile", &err);
        goto out;
    }
    struct json_w w;
    http_api_json_begin(c, 201, &w);
    profile_write(&w, &shown, c->user.name);
    http_api_json_end(c, &w);
    auth_profile_fini(&shown);
out:
    auth_profile_fini(&p);
    json_free(&body);
}

/* 1 if the signed-in account may use / delete profile p. */
static int may_use(const struct http_api_ctx *c, const struct auth_profile *p)
{
    return c->user.admin || p->account_id == c->user.id;
}

int http_api_profile_open(struct http_api_ctx *c, const char *name, const char *field,
                          struct auth_profile *p)
{
    struct mb_err err = {0};
    struct auth_profile pub;
    int rc = db_profile_get(c->db, name, &pub, NULL, NULL, &err);
    if (rc == 0 && !may_use(c, &pub))
        rc = MB_ENOTFOUND;
    auth_profile_fini(&pub);
    if (rc == 0)
        rc = auth_profile_open(c->db, c->api->box, name, p, &err);
    if (rc == MB_ENOTFOUND) {
        if (field) {
            char pname[65];
            snprintf(pname, sizeof(pname), "%s", name ? name : "");
            struct mb_err m;
            MB_MSG(&m, MB_ENOTFOUND, API_NO_PROFILE_NAMED, pname);
            http_api_field_msg(c, field, &m);
            http_api_field_errors(c);
        } else {
            HTTP_API_ERROR(c, 404, API_NO_SUCH_PROFILE);
        }
        return -1;
    }
    if (rc) {
        http_api_internal(c, "open profile", &err);
        return -1;
    }
    return 0;
}

void http_api_profiles_delete(struct http_api_ctx *c)
{
    struct mb_err err = {0};
    struct auth_profile pub;
    int rc = db_profile_get(c->db, c->name, &pub, NULL, NULL, &err);
    if (rc == 0 && !may_use(c, &pub))
        rc = MB_ENOTFOUND;
    auth_profile_fini(&pub);
    int64_t waiting = 0;
    if (rc == 0)
        rc = db_profile_delete(c->db, c->name, &waiting, &err);
    if (rc == MB_ENOTFOUND) {
        HTTP_API_ERROR(c, 404, API_NO_SUCH_PROFILE);
        return;
    }
    if (rc) {
        http_api_internal(c, "delete profile", &err);
        return;
    }
    oauth_cache_forget(c->name);
    log_info("api: profile %s deleted by %s (%lld waiting job(s) will fail)", c->name, c->user.name,
             (long long)waiting);
    struct json_w w;
    http_api_json_begin(c, 200, &w);
    json_w_obj_begin(&w);
    json_w_kv_str(&w, "deleted", c->name);
    json_w_kv_int(&w, "waiting_jobs", waiting);
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
}

/* The preset a profile logs in to when no server type is given. */
const struct mig_preset *http_api_profile_preset(const struct auth_profile *p)
{
    if (p->kind == AUTH_KIND_MICROSOFT365)
        return mig_preset_find("office");
    if (p->kind == AUTH_KIND_GOOGLE)
        return mig_preset_find("gmail");
    return mig_preset_find("defaut");
}

void http_api_profiles_check(struct http_api_ctx *c)
{
    struct json_value *body = http_api_body_object(c, NULL);
    if (!body)
        return;
    struct auth_profile p;
    memset(&p, 0, sizeof(p));
    const char *login = str_field(c, body, "source_login");
    const char *host_arg = str_field(c, body, "source_host");
    const char *tls_arg = str_field(c, body, "source_tls");
    if (!login || !login[0] || strlen(login) > HTTP_API_LOGIN_MAX)
        HTTP_API_FIELD(c, "source_login", API_PROFILE_LOGIN_REQUIRED);
    enum mig_tls tls = MIG_TLS_AUTO;
    if (tls_arg && mig_tls_parse(tls_arg, &tls) != 0)
        http_api_field_error(c, "source_tls", "%s", "auto | implicit | starttls | none");
    if (c->n_ferr) {
        http_api_field_errors(c);
        goto out;
    }
    if (http_api_profile_open(c, c->name, NULL, &p) != 0)
        goto out;
    const struct mig_preset *preset = http_api_profile_preset(&p);
    const char *hp = host_arg && host_arg[0] ? host_arg : p.source_host;
    char host[256] = "";
    unsigned port = 0;
    int why = -1;
    if (hp && hp[0] && net_host_parse(hp, host, sizeof(host), &port, &why) != 0) {
        http_api_field_id(c, "source_host", why);
        http_api_field_errors(c);
        goto out;
    }
    struct mig_request rq = {
        .source_host = host,
        .source_port = port,
        .source_tls = tls,
        .source_login = login,
        .auth_profile = &p,
        .preset = preset,
    };
    struct mb_err err = {0};
    int rc = mig_check_source_login(c->api->cfg, &rq, &err);
    log_info("api: profile %s tested by %s: %s", p.name, c->user.name, rc ? "failed" : "ok");
    struct json_w w;
    http_api_json_begin(c, 200, &w);
    json_w_obj_begin(&w);
    json_w_kv_bool(&w, "ok", rc == 0);
    if (rc)
        http_api_w_err_beside(c, &w, &err, MB_ERR_LEN - 1);
    else
        json_w_kv_null(&w, "error");
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
out:
    auth_profile_fini(&p);
    json_free(&body);
}
