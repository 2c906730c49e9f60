/* « Vérifier les accès »: POST /api/imports?verify=1 — every row of a valid CSV checked as
 * « Tester la connexion » checks one job (source login with its password or the import's
 * profile, source size, destination mailbox, destination quota), in parallel under the
 * per-host connection caps; nothing is queued. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/secret.h"
#include "base/xalloc.h"
#include "csvimport/csvimp.h"
#include "http_api_internal.h"
#include "log/log.h"
#include "migrate/mig.h"
#include "net/net_conn.h"
#include "net/net_policy.h"

#define VERIFY_THREADS 16

struct verify_out {
    int ok;
    struct mb_err *error; /* !ok and not over_quota: why (allocated) */
    int sized;
    int64_t messages, bytes;
    int quota_known;
    int64_t quota_free;
    int64_t over_quota; /* > 0: the size after migration, over the quota (error is "") */
    int64_t quota_limit;
};

struct verify_host {
    const char *host;
    int busy;
};

struct verify_ctx {
    const struct config *cfg;
    const struct csvimp_result *res;
    const struct auth_profile *prof; /* rows without a password; NULL = none */
    int admin;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next;
    struct verify_host *hosts; /* one per distinct source host (n_rows at most) */
    size_t n_hosts;
    struct verify_out *out;
};

static unsigned verify_port(const struct csvimp_row *r, const struct mig_preset *p)
{
    if (r->port)
        return r->port;
    return p && p->default_port ? p->default_port : 993;
}

/* The cap of connections to one source host: [sources] max_connections_per_host, lowered by
 * the preset's own limit (Gmail), as for the workers; 0 = none. */
static int verify_cap(const struct config *cfg, const struct mig_preset *p)
{
    int cap = cfg->sources.max_connections_per_host;
    if (p && p->max_connections && (cap <= 0 || (int)p->max_connections < cap))
        cap = (int)p->max_connections;
    return cap;
}

static struct verify_host *verify_host_of(struct verify_ctx *v, const char *host)
{
    for (size_t i = 0; i < v->n_hosts; i++)
        if (strcmp(v->hosts[i].host, host) == 0)
            return &v->hosts[i];
    v->hosts[v->n_hosts].host = host;
    v->hosts[v->n_hosts].busy = 0;
    return &v->hosts[v->n_hosts++];
}

static void verify_row(struct verify_ctx *v, const struct csvimp_row *r, struct verify_out *o)
{
    const struct mig_preset *preset = mig_preset_find(r->server_type);
    struct secret pw = {0};
    int by_profile = !r->pass_source[0] && v->prof;
    if (!by_profile)
        secret_set(&pw, r->pass_source, strlen(r->pass_source));
    struct mig_request rq = {
        .source_host = r->host,
        .source_port = verify_port(r, preset),
        .source_tls = MIG_TLS_AUTO,
        .source_login = r->login_source,
        .source_password = by_profile ? NULL : &pw,
        .auth_profile = by_profile ? v->prof : NULL,
        .preset = preset,
        .dest_login = r->login_destination,
        .subscribed_only = r->subscribed_only,
    };
    struct mig_check_result res;
    memset(&res, 0, sizeof(res));
    net_conn_set_thread_deadline(net_conn_monotonic_ms()
                                 + (int64_t)v->cfg->sources.check_timeout * 1000);
    mig_check(v->cfg, &rq, &res);
    net_conn_set_thread_deadline(0);
    secret_fini(&pw);
    o->sized = res.source_ok && res.bytes >= 0;
    o->messages = res.messages;
    o->bytes = res.bytes;
    o->quota_known = res.dest_ok && res.quota_known;
    o->quota_free = res.quota_limit > res.quota_used ? res.quota_limit - res.quota_used : 0;
    if (!res.source_ok) {
        o->error = xmalloc(sizeof(*o->error));
        *o->error = res.source_error;
    } else if (!res.dest_ok) {
        o->error = xmalloc(sizeof(*o->error));
        *o->error = res.dest_error;
    } else if (o->quota_known && o->sized && res.bytes > o->quota_free) {
        o->over_quota = res.quota_used + res.bytes;
        o->quota_limit = res.quota_limit;
    } else {
        o->ok = 1;
    }
    mig_check_result_fini(&res);
}

static void *verify_thread(void *arg)
{
    struct verify_ctx *v = arg;
    net_policy_thread_admin(v->admin);
    pthread_mutex_lock(&v->mu);
    while (v->next < v->res->n_rows) {
        size_t i = v->next++;
        const struct csvimp_row *r = &v->res->rows[i];
        int cap = verify_cap(v->cfg, mig_preset_find(r->server_type));
        struct verify_host *h = verify_host_of(v, r->host);
        while (cap > 0 && h->busy >= cap)
            pthread_cond_wait(&v->cv, &v->mu);
        h->busy++;
        pthread_mutex_unlock(&v->mu);
        verify_row(v, r, &v->out[i]);
        pthread_mutex_lock(&v->mu);
        h->busy--;
        pthread_cond_broadcast(&v->cv);
    }
    pthread_mutex_unlock(&v->mu);
    net_policy_thread_admin(0);
    return NULL;
}

void http_api_import_verify(struct http_api_ctx *c, const struct csvimp_result *res,
                            const char *profile)
{
    struct auth_profile prof;
    memset(&prof, 0, sizeof(prof));
    if (profile && http_api_profile_open(c, profile, "auth_profile", &prof) != 0)
        return;
    struct verify_ctx v = {
        .cfg = c->api->cfg,
        .res = res,
        .prof = profile ? &prof : NULL,
        .admin = c->user.admin,
    };
    pthread_mutex_init(&v.mu, NULL);
    pthread_cond_init(&v.cv, NULL);
    v.hosts = xcalloc(res->n_rows ? res->n_rows : 1, sizeof(*v.hosts));
    v.out = xcalloc(res->n_rows ? res->n_rows : 1, sizeof(*v.out));
    int64_t t0 = net_conn_monotonic_ms();
    size_t n_threads = res->n_rows < VERIFY_THREADS ? res->n_rows : VERIFY_THREADS;
    pthread_t th[VERIFY_THREADS];
    size_t started = 0;
    for (; started < n_threads; started++)
        if (pthread_create(&th[started], NULL, verify_thread, &v) != 0)
            break;
    if (started == 0 && res->n_rows)
        verify_thread(&v); /* no thread to be had: check them here, one by one */
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    int64_t ms = net_conn_monotonic_ms() - t0;

    size_t n_ok = 0;
    struct json_w w;
    http_api_json_begin(c, 200, &w);
    json_w_obj_begin(&w);
    json_w_kv_bool(&w, "verify", 1);
    json_w_key(&w, "rows");
    json_w_arr_begin(&w);
    for (size_t i = 0; i < res->n_rows; i++) {
        const struct verify_out *o = &v.out[i];
        n_ok += o->ok != 0;
        json_w_obj_begin(&w);
        json_w_kv_int(&w, "line", res->rows[i].line);
        json_w_kv_bool(&w, "ok", o->ok);
        if (o->ok) {
            json_w_kv_null(&w, "error");
        } else if (o->over_quota > 0) {
            /* the error in the request's language; code and params beside it */
            struct mb_err m;
            MB_MSG(&m, MB_ETOOBIG, API_OVER_QUOTA, o->over_quota, o->quota_free, o->quota_limit);
            char *text = http_api_render(c, &m);
            json_w_kv_str(&w, "error", text);
            free(text);
            json_w_kv_str(&w, "code", mb_err_code(&m));
            json_w_key(&w, "params");
            json_w_obj_begin(&w);
            json_w_kv_int(&w, "size", o->over_quota);
            json_w_kv_int(&w, "free", o->quota_free);
            json_w_kv_int(&w, "limit", o->quota_limit);
            json_w_obj_end(&w);
        } else if (o->error) {
            http_api_w_err_beside(c, &w, o->error, MB_ERR_LEN + 79);
        } else {
            json_w_kv_null(&w, "error");
        }
        json_w_kv_str(&w, "source_login", res->rows[i].login_source);
        json_w_kv_str(&w, "dest_login", res->rows[i].login_destination);
        if (o->sized) {
            json_w_kv_int(&w, "messages", o->messages);
            json_w_kv_int(&w, "bytes", o->bytes);
        } else {
            json_w_kv_null(&w, "messages");
            json_w_kv_null(&w, "bytes");
        }
        if (o->quota_known)
            json_w_kv_int(&w, "quota_free", o->quota_free);
        else
            json_w_kv_null(&w, "quota_free");
        json_w_obj_end(&w);
    }
    json_w_arr_end(&w);
    json_w_kv_int(&w, "checked", (int64_t)res->n_rows);
    json_w_kv_int(&w, "ok", (int64_t)n_ok);
    json_w_kv_int(&w, "elapsed_ms", ms);
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
    log_info("api: access check of %zu row(s) by %s: %zu ok, %" PRId64 " ms", res->n_rows,
             c->user.name, n_ok, ms);
    free(v.hosts);
    for (size_t i = 0; i < res->n_rows; i++)
        free(v.out[i].error);
    free(v.out);
    pthread_cond_destroy(&v.cv);
    pthread_mutex_destroy(&v.mu);
    auth_profile_fini(&prof);
}
