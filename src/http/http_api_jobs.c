/* Jobs: /api/jobs, /api/jobs/{id}, /api/jobs/{id}/log|cancel|retry, and the job object. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>

#include "base/secret.h"
#include "base/xalloc.h"
#include "csvimport/csvimp.h"
#include "db/db_log.h"
#include "auth/oauth.h"
#include "db/db_jobopt.h"
#include "db/db_profile.h"
#include "http_api_internal.h"
#include "jobs/jobs.h"
#include "log/log.h"
#include "migrate/mig.h"
#include "net/net_host.h"

#define HTTP_API_REPORT_MAX (64u << 20) /* a stored report larger than this is not embedded */
#define HTTP_API_QUERY_MAX 200
#define HTTP_API_LOG_DEFAULT 1000
#define HTTP_API_OFFSET_MAX 1000000000LL

/* ---- the job object ---- */

/* The reasons of a report's entries (folders[], failed_messages[]) that carry a code
 * (reason_code, reason_params: msg/msgcat.def) worded in the request's language; a reason
 * without a code (a report written before codes) stays as it is. */
static void http_api_jobs_word_reasons(struct http_api_ctx *c, struct json_value *arr)
{
    if (!arr || arr->type != JSON_ARRAY)
        return;
    for (size_t i = 0; i < arr->n; i++) {
        struct json_value *e = &arr->items[i];
        const char *code = NULL;
        if (e->type != JSON_OBJECT || json_get_str(e, "reason_code", &code) != 0
            || msgcat_find(code) < 0)
            continue;
        struct json_value *reason = NULL;
        const struct json_value *pv = NULL;
        for (size_t k = 0; k < e->n; k++) {
            if (strcmp(e->members[k].key, "reason") == 0)
                reason = &e->members[k].value;
            else if (strcmp(e->members[k].key, "reason_params") == 0)
                pv = &e->members[k].value;
        }
        if (!reason || reason->type != JSON_STRING)
            continue;
        struct buf params;
        buf_init(&params, (size_t)1 << 20);
        if (pv && pv->type == JSON_OBJECT) {
            struct json_w pw;
            json_w_init(&pw, &params);
            json_w_value(&pw, pv);
        }
        char *text = msg_render_alloc(c->fr ? MSG_LANG_FR : MSG_LANG_EN, code, buf_cstr(&params),
                                      reason->str);
        buf_fini(&params);
        free(reason->str);
        reason->str = text;
        reason->len = strlen(text);
    }
}

static void http_api_jobs_write_report(struct http_api_ctx *c, struct json_w *w,
                                       const struct db_job *job)
{
    json_w_key(w, "report");
    size_t len = job->report ? strlen(job->report) : 0;
    if (len == 0 || len > HTTP_API_REPORT_MAX) {
        json_w_null(w);
        return;
    }
    struct json_limits lim = {
        .max_bytes = len,
        .max_members = 1u << 22,
        .max_string = 1u << 20,
        .max_values = 1u << 24,
    };
    struct json_value *v = NULL;
    struct mb_err err = {0};
    if (json_parse(job->report, len, &lim, &v, &err) != 0) {
        log_warn("api: %s %s: job %" PRId64 ": stored report is not valid JSON: %s", c->req->method,
                 c->req->path, job->id, err.msg);
        json_w_null(w);
        return;
    }
    for (size_t k = 0; v->type == JSON_OBJECT && k < v->n; k++)
        if (strcmp(v->members[k].key, "folders") == 0
            || strcmp(v->members[k].key, "failed_messages") == 0)
            http_api_jobs_word_reasons(c, &v->members[k].value);
    json_w_value(w, v);
    json_free(&v);
}

void http_api_jobs_write(struct http_api_ctx *c, struct json_w *w, const struct db_job *job,
                         const char *owner, int with_report)
{
    const struct db_job_counters *p = &job->progress;
    json_w_obj_begin(w);
    json_w_kv_int(w, "id", job->id);
    json_w_key(w, "batch");
    if (job->batch_id > 0)
        json_w_int(w, job->batch_id);
    else
        json_w_null(w);
    json_w_kv_str(w, "state", db_job_state_name(job->state));
    http_api_w_msg(c, w, "error", job->error_code, job->error_params, job->error);
    json_w_kv_str(w, "source_host", job->source_host);
    json_w_kv_int(w, "source_port", job->source_port);
    json_w_kv_str(w, "source_tls", job->source_tls);
    json_w_kv_bool(w, "insecure", job->insecure);
    json_w_kv_str(w, "source_login", job->source_login);
    json_w_kv_str(w, "server_type", job->server_type);
    json_w_kv_str(w, "dest_login", job->dest_login);
    json_w_kv_bool(w, "subscribed_only", job->subscribed_only);
    json_w_kv_str(w, "owner", owner);
    http_api_w_time(w, "created_at", job->created_at);
    http_api_w_time(w, "started_at", job->started_at);
    http_api_w_time(w, "finished_at", job->finished_at);
    http_api_w_time(w, "updated_at", job->updated_at);
    json_w_kv_int(w, "attempts", job->attempts);
    /* A pending job deferred to later (paused by the source's limit, retried after a
     * failure, waiting for the per-host cap): when it will be taken again. */
    http_api_w_time(w, "resume_at",
                    job->state == DB_JOB_PENDING && job->not_before > (int64_t)time(NULL)
                        ? job->not_before
                        : 0);
    json_w_kv_bool(w, "cancel_requested", job->cancel_requested);
    json_w_kv_bool(w, "password_stored", job->has_secret);
    /* Credentials (password or profile) kept for delta passes until finalized or
     * [server] credential_retention after the job's last end. */
    int64_t since =
        job->state == DB_JOB_DONE || job->state == DB_JOB_FAILED ? job->finished_at : c->now;
    http_api_w_time(w, "credentials_kept_until",
                    job->has_credentials && !job->finalized_at
                        ? since + c->api->cfg->server.credential_retention
                        : 0);
    json_w_kv_bool(w, "finalized", job->finalized_at != 0);
    char *profile = NULL;
    struct mb_err perr;
    db_profile_job_get(c->db, job->id, &profile, &perr);
    json_w_kv_str(w, "auth_profile", profile);
    free(profile);
    /* The job's migration options ({} when none), as POST /api/jobs takes them. */
    char *opt_json = NULL;
    struct mig_options mo;
    json_w_key(w, "options");
    json_w_obj_begin(w);
    if (db_jobopt_get(c->db, job->id, &opt_json, &perr) == 0
        && mig_options_parse(opt_json, &mo, &perr) == 0) {
        mig_options_write_members(w, &mo);
        mig_options_fini(&mo);
    }
    json_w_obj_end(w);
    free(opt_json);
    json_w_key(w, "progress");
    json_w_obj_begin(w);
    http_api_w_progress(w, p);
    json_w_kv_str(w, "current_folder", job->current_folder);
    json_w_obj_end(w);
    if (with_report)
        http_api_jobs_write_report(c, w, job);
    json_w_obj_end(w);
}

const char *http_api_jobs_owner(struct http_api_ctx *c, struct http_api_owner_cache *oc, int64_t id)
{
    if (id <= 0)
        return NULL;
    for (size_t i = 0; i < oc->n; i++) {
        if (oc->ids[i] == id)
            return oc->names[i];
    }
    if (c->authed && id == c->user.id)
        return c->user.name;
    struct db_user u;
    char *name = NULL;
    if (db_user_get(c->db, id, &u, NULL) == 0) {
        name = xstrdup(u.name);
        db_user_fini(&u);
    }
    if (oc->n == sizeof(oc->ids) / sizeof(oc->ids[0])) {
        /* Full: drop the oldest entry. */
        free(oc->names[0]);
        memmove(&oc->ids[0], &oc->ids[1], (oc->n - 1) * sizeof(oc->ids[0]));
        memmove(&oc->names[0], &oc->names[1], (oc->n - 1) * sizeof(oc->names[0]));
        oc->n--;
    }
    oc->ids[oc->n] = id;
    oc->names[oc->n] = name;
    oc->n++;
    return name;
}

void http_api_jobs_owner_fini(struct http_api_owner_cache *oc)
{
    for (size_t i = 0; i < oc->n; i++)
        free(oc->names[i]);
    oc->n = 0;
}

/* ---- query-string helpers ---- */

/* Strict decimal in [min, max]; absent or "" gives def. Returns 0 or -1. */
static int http_api_jobs_arg_int(const struct http_req *req, const char *name, int64_t min,
                                 int64_t max, int64_t def, int64_t *v_r)
{
    const char *s = http_req_arg(req, name);
    if (!s || !*s) {
        *v_r = def;
        return 0;
    }
    int64_t v = 0;
    size_t n = 0;
    for (const char *p = s; *p; p++, n++) {
        if (*p < '0' || *p > '9' || n >= 18)
            return -1;
        v = v * 10 + (*p - '0');
    }
    if ((n > 1 && s[0] == '0') || v < min || v > max)
        return -1;
    *v_r = v;
    return 0;
}

static void http_api_jobs_bad_arg(struct http_api_ctx *c, const char *name)
{
    struct mb_err m;
    MB_MSG(&m, MB_ECONFIG, API_INVALID_QUERY_PARAMETER, name);
    http_api_error_msg(c, 400, &m);
}

/* ---- the job form (POST /api/jobs, POST /api/check) ---- */

static const char *const http_api_jobs_form_keys[] = {
    "source_host", "source_login",     "source_password",
    "server_type", "dest_login",       "subscribed_only",
    "source_tls",  "insecure",         "auth_profile",
    "since",       "before",           "exclude_folders",
    "folder_map",  "max_message_size", "gmail_labels",
    NULL,
};

/* A string member: returns it, or NULL after recording an error (wrong type) or when absent
 * (*absent_r = 1). */
static const char *http_api_jobs_str(struct http_api_ctx *c, const struct json_value *obj,
                                     const char *key, int *absent_r)
{
    const char *s = NULL;
    int rc = json_get_str(obj, key, &s);
    *absent_r = 0;
    if (rc == JSON_ENOTFOUND || (rc == 0 && !*s)) {
        *absent_r = 1;
        return NULL;
    }
    if (rc != 0) {
        HTTP_API_FIELD(c, key, API_MUST_STRING);
        return NULL;
    }
    return s;
}

static int http_api_jobs_bool(struct http_api_ctx *c, const struct json_value *obj, const char *key)
{
    int b = 0;
    int rc = json_get_bool(obj, key, &b);
    if (rc == JSON_ETYPE)
        HTTP_API_FIELD(c, key, API_MUST_TRUE_FALSE);
    return rc == 0 ? b : 0;
}

static int http_api_jobs_has_ctl(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7F)
            return 1;
    }
    return 0;
}

static int http_api_jobs_in(const char *d, char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(list[i], d) == 0)
            return 1;
    }
    return 0;
}

/* dest_login: a full address, or a local part completed with the account's only domain. */
static void http_api_jobs_dest(struct http_api_ctx *c, const char *s, struct http_api_job_form *f)
{
    const struct config *cfg = c->api->cfg;
    const char *field = "dest_login";
    const char *at = strrchr(s, '@');
    size_t local_len = at ? (size_t)(at - s) : strlen(s);
    const char *dom = NULL;
    char domain[256];
    if (at) {
        dom = at + 1;
    } else if (c->user.n_domains == 1) {
        dom = c->user.domains[0];
    } else if (c->user.n_domains == 0 && c->user.admin && cfg->destination.n_domains == 1) {
        dom = cfg->destination.domains[0];
    } else {
        HTTP_API_FIELD(c, field, API_FULL_ADDRESS_REQUIRED);
        return;
    }
    if (local_len == 0 || local_len > 64) {
        HTTP_API_FIELD(c, field, API_LOCAL_PART_LENGTH);
        return;
    }
    if (!csvimp_local_part_ok(s, local_len, cfg->destination.separator)) {
        HTTP_API_FIELD(c, field, API_LOCAL_PART_BAD_CHAR);
        return;
    }
    size_t dlen = strlen(dom);
    if (dlen == 0 || dlen >= sizeof(domain) || dom[dlen - 1] == '.'
        || !net_hostname_valid(dom, dlen)) {
        HTTP_API_FIELD(c, field, API_INVALID_DOMAIN);
        return;
    }
    for (size_t i = 0; i <= dlen; i++)
        domain[i] = (char)((dom[i] >= 'A' && dom[i] <= 'Z') ? dom[i] + 32 : dom[i]);
    if (!config_domain_allowed(cfg, domain)) {
        http_api_field_error(
            c, field,
            c->fr ? "le domaine %s n'est pas hébergé ici" : "domain %s is not hosted here", domain);
        return;
    }
    if (!c->user.admin && !http_api_jobs_in(domain, c->user.domains, c->user.n_domains)) {
        http_api_field_error(c, field,
                             c->fr ? "le domaine %s n'est pas l'un de vos domaines"
                                   : "domain %s is not one of your domains",
                             domain);
        return;
    }
    if (local_len + 1 + dlen > HTTP_API_ADDRESS_MAX) {
        HTTP_API_FIELD(c, field, API_ADDRESS_TOO_LONG);
        return;
    }
    snprintf(f->dest, sizeof(f->dest), "%.*s@%s", (int)local_len, s, domain);
}

int http_api_jobs_form_parse(struct http_api_ctx *c, const struct json_value *obj,
                             struct http_api_job_form *f)
{
    memset(f, 0, sizeof(*f));
    int absent;
    size_t before = c->n_ferr;

    for (size_t i = 0; i < obj->n; i++) {
        const char *k = obj->members[i].key;
        size_t j;
        for (j = 0; http_api_jobs_form_keys[j]; j++) {
            if (strcmp(k, http_api_jobs_form_keys[j]) == 0)
                break;
        }
        if (!http_api_jobs_form_keys[j]) {
            http_api_field_error(c, NULL, c->fr ? "champ inconnu : %.40s" : "unknown field: %.40s",
                                 k);
        }
    }

    /* server_type first: it decides whether the host may be empty. */
    const char *type = http_api_jobs_str(c, obj, "server_type", &absent);
    if (type) {
        f->preset = mig_preset_find(type);
        if (!f->preset)
            HTTP_API_FIELD(c, "server_type", API_UNKNOWN_SERVER_TYPE);
        else
            f->server_type = f->preset->name;
    } else if (absent) {
        HTTP_API_FIELD(c, "server_type", API_TYPE_REQUIRED);
    }

    f->tls = "auto";
    const char *tls = http_api_jobs_str(c, obj, "source_tls", &absent);
    if (tls) {
        enum mig_tls t;
        if (mig_tls_parse(tls, &t) == 0)
            f->tls = mig_tls_name(t);
        else
            HTTP_API_FIELD(c, "source_tls", API_TLS_MODE_EXPECTED);
    }
    f->insecure = http_api_jobs_bool(c, obj, "insecure");
    f->subscribed_only = http_api_jobs_bool(c, obj, "subscribed_only");

    const char *host = http_api_jobs_str(c, obj, "source_host", &absent);
    if (host) {
        int why = -1;
        if (net_host_parse(host, f->host, sizeof(f->host), &f->port, &why) != 0)
            http_api_field_id(c, "source_host", why >= 0 ? why : MSG_API_INVALID_HOST);
    } else if (absent) {
        if (f->preset && f->preset->default_host) {
            snprintf(f->host, sizeof(f->host), "%s", f->preset->default_host);
        } else if (f->preset || !type) {
            HTTP_API_FIELD(c, "source_host", API_SOURCE_HOST_REQUIRED);
        }
    }
    if (f->port == 0) {
        if (strcmp(f->tls, "starttls") == 0 || strcmp(f->tls, "none") == 0)
            f->port = 143;
        else
            f->port = f->preset && f->preset->default_port ? f->preset->default_port : 993;
    }
    int pwhy = -1;
    if (f->host[0] && !net_policy_host_ok(&c->api->policy, f->host, f->port, c->user.admin, &pwhy))
        http_api_field_id(c, "source_host", pwhy);

    f->login = http_api_jobs_str(c, obj, "source_login", &absent);
    if (f->login) {
        if (strlen(f->login) > HTTP_API_LOGIN_MAX)
            HTTP_API_FIELD(c, "source_login", API_TOO_LONG);
        else if (http_api_jobs_has_ctl(f->login))
            HTTP_API_FIELD(c, "source_login", API_CONTROL_CHARACTER);
    } else if (absent) {
        HTTP_API_FIELD(c, "source_login", API_SOURCE_LOGIN_REQUIRED);
    }

    int no_profile = 0;
    f->auth_profile = http_api_jobs_str(c, obj, "auth_profile", &no_profile);
    f->password = http_api_jobs_str(c, obj, "source_password", &absent);
    if (f->password && f->auth_profile) {
        HTTP_API_FIELD(c, "source_password", API_PASSWORD_OR_PROFILE);
    } else if (f->auth_profile) {
        /* checked (existence, owner) by the handler */
    } else if (f->password) {
        f->password_len = strlen(f->password);
        if (f->password_len > HTTP_API_PASSWORD_MAX)
            HTTP_API_FIELD(c, "source_password", API_TOO_LONG);
        else if (strpbrk(f->password, "\r\n"))
            HTTP_API_FIELD(c, "source_password", API_CONTAINS_LINE_BREAK);
    } else if (absent) {
        HTTP_API_FIELD(c, "source_password", API_SOURCE_PASSWORD_REQUIRED);
    }

    const char *dest = http_api_jobs_str(c, obj, "dest_login", &absent);
    if (dest)
        http_api_jobs_dest(c, dest, f);
    else if (absent)
        HTTP_API_FIELD(c, "dest_login", API_DESTINATION_MAILBOX_REQUIRED);
    return c->n_ferr > before ? -1 : 0;
}

/* ---- handlers ---- */

/* The job of the route's {id}, visible to the account: 0, or the answer (404/500) is
 * written. */
static int http_api_jobs_load(struct http_api_ctx *c, struct db_job *job)
{
    struct mb_err err = {0};
    memset(job, 0, sizeof(*job));
    int rc = db_job_get(c->db, c->id, job, &err);
    if (rc == MB_ENOTFOUND) {
        HTTP_API_ERROR(c, 404, API_NO_SUCH_JOB);
        return -1;
    }
    if (rc) {
        http_api_internal(c, "job read", &err);
        return -1;
    }
    if (!http_api_domain_visible(c, job->dest_domain)) {
        /* The same answer as a missing job: ids of other tenants' jobs are not revealed. */
        db_job_fini(job);
        HTTP_API_ERROR(c, 404, API_NO_SUCH_JOB);
        return -1;
    }
    return 0;
}

/* Answer status with the job id (re-read from the database). */
static void http_api_jobs_answer(struct http_api_ctx *c, unsigned status, int64_t id)
{
    struct db_job job;
    struct mb_err err = {0};
    memset(&job, 0, sizeof(job));
    if (db_job_get(c->db, id, &job, &err) != 0) {
        http_api_internal(c, "job read", &err);
        return;
    }
    struct http_api_owner_cache oc = {.n = 0};
    struct json_w w;
    http_api_json_begin(c, status, &w);
    http_api_jobs_write(c, &w, &job, http_api_jobs_owner(c, &oc, job.account_id), 1);
    http_api_json_end(c, &w);
    http_api_jobs_owner_fini(&oc);
    db_job_fini(&job);
}

void http_api_jobs_list(struct http_api_ctx *c)
{
    const struct http_req *req = c->req;
    struct db_job_filter flt;
    memset(&flt, 0, sizeof(flt));
    const char *state = http_req_arg(req, "state");
    if (state && *state) {
        flt.state = db_job_state_parse(state);
        if (flt.state == DB_JOB_ANY) {
            http_api_jobs_bad_arg(c, "state");
            return;
        }
    }
    int64_t batch, limit, offset;
    if (http_api_jobs_arg_int(req, "batch", 1, INT64_MAX, 0, &batch) != 0) {
        http_api_jobs_bad_arg(c, "batch");
        return;
    }
    if (http_api_jobs_arg_int(req, "limit", 1, DB_JOB_LIST_MAX, DB_JOB_LIST_DEFAULT, &limit) != 0) {
        http_api_jobs_bad_arg(c, "limit");
        return;
    }
    if (http_api_jobs_arg_int(req, "offset", 0, HTTP_API_OFFSET_MAX, 0, &offset) != 0) {
        http_api_jobs_bad_arg(c, "offset");
        return;
    }
    const char *q = http_req_arg(req, "q");
    if (q && strlen(q) > HTTP_API_QUERY_MAX) {
        http_api_jobs_bad_arg(c, "q");
        return;
    }
    flt.batch_id = batch;
    flt.query = q;
    flt.limit = (size_t)limit;
    flt.offset = (size_t)offset;
    if (!c->user.admin) {
        flt.restrict_domains = 1;
        flt.domains = (const char *const *)c->user.domains;
        flt.n_domains = c->user.n_domains;
    }
    struct db_job_list list;
    struct mb_err err = {0};
    if (db_job_list(c->db, &flt, &list, &err) != 0) {
        http_api_internal(c, "job list", &err);
        return;
    }
    struct http_api_owner_cache oc = {.n = 0};
    struct json_w w;
    http_api_json_begin(c, 200, &w);
    json_w_obj_begin(&w);
    json_w_key(&w, "jobs");
    json_w_arr_begin(&w);
    for (size_t i = 0; i < list.n; i++)
        http_api_jobs_write(c, &w, &list.jobs[i],
                            http_api_jobs_owner(c, &oc, list.jobs[i].account_id), 0);
    json_w_arr_end(&w);
    json_w_kv_int(&w, "total", list.total);
    json_w_kv_int(&w, "limit", limit);
    json_w_kv_int(&w, "offset", offset);
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
    http_api_jobs_owner_fini(&oc);
    db_job_list_fini(&list);
}

/* The migration options of a request body (POST /api/jobs fields) or of a CSV import's query
 * parameters: 0, or -1 after recording a field error (400 with the field named). */
int http_api_options_parse(struct http_api_ctx *c, const struct json_value *obj,
                           struct mig_options *o)
{
    static const char *const fields[] = {"since",      "before",           "exclude_folders",
                                         "folder_map", "max_message_size", "gmail_labels"};
    struct mb_err err = {0};
    memset(o, 0, sizeof(*o));
    if (mig_options_from_json(obj, o, &err) == 0)
        return 0;
    const char *field = "before"; /* the cross-field check (since before before) */
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        size_t n = strlen(fields[i]);
        if (strncmp(err.msg, "option ", 7) == 0 && strncmp(err.msg + 7, fields[i], n) == 0
            && err.msg[7 + n] == ':') {
            field = fields[i];
            break;
        }
    }
    http_api_field_msg(c, field, &err);
    mig_options_fini(o);
    return -1;
}

void http_api_jobs_create(struct http_api_ctx *c)
{
    struct json_value *body = http_api_body_object(c, NULL);
    if (!body)
        return;
    struct http_api_job_form f;
    unsigned char *blob = NULL;
    size_t blob_len = 0;
    struct mb_err err = {0};
    struct mig_options mo;
    memset(&mo, 0, sizeof(mo));
    char *opt_json = NULL;
    int form_bad = http_api_jobs_form_parse(c, body, &f) != 0;
    if (http_api_options_parse(c, body, &mo) != 0)
        form_bad = 1;
    if (form_bad) {
        http_api_field_errors(c);
        goto out;
    }
    opt_json = mig_options_to_json(&mo);
    if (f.auth_profile) {
        /* the job keeps no password: it logs in through the profile (checked here) */
        struct auth_profile prof;
        memset(&prof, 0, sizeof(prof));
        if (http_api_profile_open(c, f.auth_profile, "auth_profile", &prof) != 0)
            goto out;
        auth_profile_fini(&prof);
    } else if (secret_box_seal(c->api->box, JOBS_SECRET_AAD, f.password, f.password_len, &blob,
                               &blob_len, &err)
               != 0) {
        http_api_internal(c, "password encryption", &err);
        goto out;
    }
    struct db_job_new jn = {
        .account_id = c->user.id,
        .source_host = f.host,
        .source_port = (int)f.port,
        .source_tls = f.tls,
        .insecure = f.insecure,
        .source_login = f.login,
        .secret = blob,
        .secret_len = blob_len,
        .server_type = f.server_type,
        .dest_login = f.dest,
        .subscribed_only = f.subscribed_only,
    };
    int64_t id = 0;
    /* one transaction: a worker never sees the job without its profile */
    int rc = db_begin_immediate(c->db, &err);
    if (!rc)
        rc = db_job_insert(c->db, &jn, &id, &err);
    if (!rc && f.auth_profile)
        rc = db_profile_job_set(c->db, id, f.auth_profile, &err);
    if (!rc && opt_json)
        rc = db_jobopt_set(c->db, id, opt_json, &err);
    if (!rc)
        rc = db_commit(c->db, &err);
    else
        db_rollback(c->db);
    if (rc) {
        http_api_internal(c, "job insert", &err);
        goto out;
    }
    if (c->api->pool)
        jobs_wake(c->api->pool);
    log_info("api: job %" PRId64 " queued by %s", id, c->user.name);
    char loc[64];
    snprintf(loc, sizeof(loc), "/api/jobs/%" PRId64, id);
    http_resp_header(c->resp, "Location", loc);
    http_api_jobs_answer(c, 201, id);
out:
    if (blob) {
        secret_wipe(blob, blob_len);
        free(blob);
    }
    mig_options_fini(&mo);
    free(opt_json);
    json_free(&body);
}

void http_api_jobs_get(struct http_api_ctx *c)
{
    struct db_job job;
    if (http_api_jobs_load(c, &job) != 0)
        return;
    struct http_api_owner_cache oc = {.n = 0};
    struct json_w w;
    http_api_json_begin(c, 200, &w);
    http_api_jobs_write(c, &w, &job, http_api_jobs_owner(c, &oc, job.account_id), 1);
    http_api_json_end(c, &w);
    http_api_jobs_owner_fini(&oc);
    db_job_fini(&job);
}

void http_api_jobs_delete(struct http_api_ctx *c)
{
    struct db_job job;
    if (http_api_jobs_load(c, &job) != 0)
        return;
    db_job_fini(&job);
    struct mb_err err = {0};
    int rc = db_job_delete(c->db, c->id, &err);
    if (rc == MB_ENOTFOUND) {
        HTTP_API_ERROR(c, 404, API_NO_SUCH_JOB);
        return;
    }
    if (rc == MB_ECONFIG) {
        HTTP_API_ERROR(c, 409, API_JOB_RUNNING_CANCEL);
        return;
    }
    if (rc) {
        http_api_internal(c, "job delete", &err);
        return;
    }
    log_info("api: job %" PRId64 " deleted by %s", c->id, c->user.name);
    buf_reset(&c->resp->body);
    c->resp->status = 204;
}

void http_api_jobs_log(struct http_api_ctx *c)
{
    int64_t after, limit;
    if (http_api_jobs_arg_int(c->req, "after", 0, INT64_MAX, 0, &after) != 0) {
        http_api_jobs_bad_arg(c, "after");
        return;
    }
    if (http_api_jobs_arg_int(c->req, "limit", 1, DB_LOG_LIST_MAX, HTTP_API_LOG_DEFAULT, &limit)
        != 0) {
        http_api_jobs_bad_arg(c, "limit");
        return;
    }
    struct db_job job;
    if (http_api_jobs_load(c, &job) != 0)
        return;
    db_job_fini(&job);
    struct db_log_entry *e = NULL;
    size_t n = 0;
    struct mb_err err = {0};
    if (db_log_list(c->db, c->id, after, (size_t)limit, &e, &n, &err) != 0) {
        http_api_internal(c, "log read", &err);
        return;
    }
    struct json_w w;
    http_api_json_begin(c, 200, &w);
    json_w_obj_begin(&w);
    json_w_key(&w, "lines");
    json_w_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        json_w_obj_begin(&w);
        json_w_kv_int(&w, "id", e[i].id);
        http_api_w_time(&w, "ts", e[i].ts);
        http_api_w_time(&w, "time", e[i].ts); /* PRODUCT.md's name; ts kept for older clients */
        json_w_kv_str(&w, "level", db_log_level_name(e[i].level));
        http_api_w_msg_members(c, &w, e[i].code, e[i].params, e[i].text);
        json_w_obj_end(&w);
    }
    json_w_arr_end(&w);
    json_w_kv_int(&w, "last", n ? e[n - 1].id : after);
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
    db_log_entries_free(&e, n);
}

void http_api_jobs_cancel(struct http_api_ctx *c)
{
    struct db_job job;
    if (http_api_jobs_load(c, &job) != 0)
        return;
    enum db_job_state st = job.state;
    db_job_fini(&job);
    if (st == DB_JOB_DONE || st == DB_JOB_FAILED) {
        HTTP_API_ERROR(c, 409, API_JOB_ENDED);
        return;
    }
    struct mb_err err = {0};
    int rc = db_job_request_cancel(c->db, c->id, NULL, &err);
    if (rc == MB_ENOTFOUND) {
        HTTP_API_ERROR(c, 404, API_NO_SUCH_JOB);
        return;
    }
    if (rc) {
        http_api_internal(c, "job cancel", &err);
        return;
    }
    log_info("api: job %" PRId64 " cancelled by %s", c->id, c->user.name);
    http_api_jobs_answer(c, 200, c->id);
}

void http_api_jobs_retry(struct http_api_ctx *c)
{
    int empty = 0;
    struct json_value *body = http_api_body_object(c, &empty);
    if (!body && !empty)
        return;
    struct db_job job;
    unsigned char *blob = NULL;
    size_t blob_len = 0;
    struct mb_err err = {0};
    const char *password = NULL;
    if (body) {
        for (size_t i = 0; i < body->n; i++) {
            if (strcmp(body->members[i].key, "source_password") != 0)
                http_api_field_error(c, NULL,
                                     c->fr ? "champ inconnu : %.40s" : "unknown field: %.40s",
                                     body->members[i].key);
        }
        int absent;
        password = http_api_jobs_str(c, body, "source_password", &absent);
        if (password && strlen(password) > HTTP_API_PASSWORD_MAX)
            HTTP_API_FIELD(c, "source_password", API_TOO_LONG);
        else if (password && strpbrk(password, "\r\n"))
            HTTP_API_FIELD(c, "source_password", API_CONTAINS_LINE_BREAK);
        if (c->n_ferr) {
            http_api_field_errors(c);
            goto out;
        }
    }
    if (http_api_jobs_load(c, &job) != 0)
        goto out;
    enum db_job_state st = job.state;
    int has_secret = job.has_secret;
    db_job_fini(&job);
    /* A job of an authentication profile needs no password (a given one replaces it). */
    char *job_profile = NULL;
    struct mb_err perr;
    db_profile_job_get(c->db, c->id, &job_profile, &perr);
    if (job_profile && !password)
        has_secret = 1;
    free(job_profile);
    if (st == DB_JOB_PENDING || st == DB_JOB_RUNNING) {
        HTTP_API_ERROR(c, 409, API_JOB_NOT_ENDED);
        goto out;
    }
    if (!password && !has_secret) {
        /* The password is erased when a job ends: the client must ask for it again. */
        HTTP_API_FIELD(c, "source_password", API_PASSWORD_REQUIRED);
        struct json_w w;
        http_api_json_begin(c, 422, &w);
        json_w_obj_begin(&w);
        json_w_kv_str(&w, "error", "password required");
        json_w_key(&w, "errors");
        json_w_arr_begin(&w);
        json_w_obj_begin(&w);
        json_w_kv_str(&w, "field", "source_password");
        json_w_kv_str(&w, "message", c->ferr[c->n_ferr - 1].message);
        json_w_obj_end(&w);
        json_w_arr_end(&w);
        json_w_obj_end(&w);
        http_api_json_end(c, &w);
        goto out;
    }
    if (password
        && secret_box_seal(c->api->box, JOBS_SECRET_AAD, password, strlen(password), &blob,
                           &blob_len, &err)
               != 0) {
        http_api_internal(c, "password encryption", &err);
        goto out;
    }
    int rc = db_job_retry(c->db, c->id, blob, blob_len, &err);
    if (rc == MB_ENOTFOUND) {
        HTTP_API_ERROR(c, 404, API_NO_SUCH_JOB);
        goto out;
    }
    if (rc == MB_ECONFIG) {
        HTTP_API_ERROR(c, 409, API_JOB_RETRY_REFUSED);
        goto out;
    }
    if (rc) {
        http_api_internal(c, "job retry", &err);
        goto out;
    }
    if (password) /* a password given for a profile's job: it now logs in with it */
        db_profile_job_set(c->db, c->id, NULL, &err);
    if (c->api->pool)
        jobs_wake(c->api->pool);
    log_info("api: job %" PRId64 " retried by %s", c->id, c->user.name);
    http_api_jobs_answer(c, 200, c->id);
out:
    if (blob) {
        secret_wipe(blob, blob_len);
        free(blob);
    }
    json_free(&body);
}

void http_api_jobs_delta(struct http_api_ctx *c)
{
    struct db_job job;
    if (http_api_jobs_load(c, &job) != 0)
        return;
    enum db_job_state st = job.state;
    int64_t finalized = job.finalized_at;
    int has_credentials = job.has_credentials;
    db_job_fini(&job);
    if (st == DB_JOB_PENDING || st == DB_JOB_RUNNING) {
        HTTP_API_ERROR(c, 409, API_JOB_NOT_ENDED);
        return;
    }
    if (finalized) {
        HTTP_API_ERROR(c, 409, API_JOB_FINALIZED_RETRY);
        return;
    }
    if (!has_credentials) {
        HTTP_API_ERROR(c, 409, API_JOB_PASSWORD_EXPIRED);
        return;
    }
    struct mb_err err = {0};
    int rc = db_job_retry(c->db, c->id, NULL, 0, &err);
    if (rc == MB_ECONFIG) {
        HTTP_API_ERROR(c, 409, API_JOB_RETRY_REFUSED);
        return;
    }
    if (rc) {
        http_api_internal(c, "job delta", &err);
        return;
    }
    if (c->api->pool)
        jobs_wake(c->api->pool);
    log_info("api: job %" PRId64 ": delta pass queued by %s", c->id, c->user.name);
    http_api_jobs_answer(c, 200, c->id);
}

void http_api_jobs_finalize(struct http_api_ctx *c)
{
    struct db_job job;
    if (http_api_jobs_load(c, &job) != 0)
        return;
    db_job_fini(&job);
    struct mb_err err = {0};
    int rc = db_job_finalize(c->db, c->id, &err);
    if (rc == MB_ECONFIG) {
        HTTP_API_ERROR(c, 409, API_JOB_NOT_ENDED_CANCEL);
        return;
    }
    if (rc) {
        http_api_internal(c, "job finalize", &err);
        return;
    }
    log_info("api: job %" PRId64 " finalized (credentials erased) by %s", c->id, c->user.name);
    http_api_jobs_answer(c, 200, c->id);
}
