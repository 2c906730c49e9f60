/* « Tester la connexion »: POST /api/check — logs in to both sides, sizes the source, queues
 * nothing. Runs on the request's own connection thread (it may take seconds). */
#include <string.h>

#include "base/secret.h"
#include "auth/oauth.h"
#include "http_api_internal.h"
#include "log/log.h"
#include "migrate/mig.h"
#include "net/net_conn.h"

static enum mig_tls http_api_check_tls(const char *s)
{
    enum mig_tls t = MIG_TLS_AUTO;
    if (mig_tls_parse(s, &t) != 0)
        t = MIG_TLS_AUTO;
    return t;
}

void http_api_check_post(struct http_api_ctx *c)
{
    struct json_value *body = http_api_body_object(c, NULL);
    if (!body)
        return;
    struct http_api_job_form f;
    struct secret pw = {0};
    struct mig_check_result res;
    memset(&res, 0, sizeof(res));
    if (http_api_jobs_form_parse(c, body, &f) != 0) {
        http_api_field_errors(c);
        goto out;
    }
    struct auth_profile prof;
    memset(&prof, 0, sizeof(prof));
    if (f.auth_profile && http_api_profile_open(c, f.auth_profile, "auth_profile", &prof) != 0)
        goto out;
    if (!f.auth_profile)
        secret_set(&pw, f.password, f.password_len);
    struct mig_request rq = {
        .source_host = f.host,
        .source_port = f.port,
        .source_tls = http_api_check_tls(f.tls),
        .insecure = f.insecure,
        .source_login = f.login,
        .source_password = f.auth_profile ? NULL : &pw,
        .auth_profile = f.auth_profile ? &prof : NULL,
        .preset = f.preset,
        .dest_login = f.dest,
        .subscribed_only = f.subscribed_only,
    };
    net_policy_thread_admin(c->user.admin);
    net_conn_set_thread_deadline(net_conn_monotonic_ms()
                                 + (int64_t)c->api->cfg->sources.check_timeout * 1000);
    mig_check(c->api->cfg, &rq, &res);
    net_conn_set_thread_deadline(0);
    net_policy_thread_admin(0);
    log_info("api: connection test by %s: source %s, destination %s", c->user.name,
             res.source_ok ? "ok" : "failed", res.dest_ok ? "ok" : "failed");

    struct json_w w;
    http_api_json_begin(c, 200, &w);
    json_w_obj_begin(&w);
    json_w_key(&w, "source");
    json_w_obj_begin(&w);
    json_w_kv_bool(&w, "ok", res.source_ok);
    if (res.source_ok)
        json_w_kv_null(&w, "error");
    else
        http_api_w_err_beside(c, &w, &res.source_error, HTTP_API_CHECK_TEXT_MAX);
    json_w_key(&w, "folders");
    json_w_arr_begin(&w);
    for (size_t i = 0; i < res.n_folders; i++) {
        json_w_obj_begin(&w);
        json_w_kv_str(&w, "name", res.folders[i].name);
        json_w_kv_int(&w, "messages", res.folders[i].messages);
        json_w_key(&w, "bytes");
        if (res.folders[i].bytes >= 0)
            json_w_int(&w, res.folders[i].bytes);
        else
            json_w_null(&w);
        json_w_obj_end(&w);
    }
    json_w_arr_end(&w);
    json_w_kv_int(&w, "messages", res.messages);
    json_w_key(&w, "bytes");
    if (res.bytes >= 0)
        json_w_int(&w, res.bytes);
    else
        json_w_null(&w);
    json_w_obj_end(&w);
    json_w_key(&w, "destination");
    json_w_obj_begin(&w);
    json_w_kv_bool(&w, "ok", res.dest_ok);
    if (res.dest_ok)
        json_w_kv_null(&w, "error");
    else
        http_api_w_err_beside(c, &w, &res.dest_error, HTTP_API_CHECK_TEXT_MAX);
    json_w_kv_str(&w, "address", f.dest);
    /* The quota line: used and limit (GETQUOTAROOT), what is free, the estimated size after
     * the migration (used + the source's size) and whether it fits; null when unknown. */
    json_w_key(&w, "quota");
    if (res.dest_ok && res.quota_known) {
        int64_t free_b = res.quota_limit > res.quota_used ? res.quota_limit - res.quota_used : 0;
        json_w_obj_begin(&w);
        json_w_kv_int(&w, "used", res.quota_used);
        json_w_kv_int(&w, "limit", res.quota_limit);
        json_w_kv_int(&w, "free", free_b);
        if (res.source_ok && res.bytes >= 0) {
            json_w_kv_int(&w, "estimated_after", res.quota_used + res.bytes);
            json_w_kv_bool(&w, "fits", res.bytes <= free_b);
        } else {
            json_w_kv_null(&w, "estimated_after");
            json_w_kv_null(&w, "fits");
        }
        json_w_obj_end(&w);
    } else {
        json_w_null(&w);
    }
    json_w_obj_end(&w);
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
    auth_profile_fini(&prof);
out:
    mig_check_result_fini(&res);
    secret_fini(&pw);
    json_free(&body);
}
