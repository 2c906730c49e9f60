/* CSV batches: POST /api/imports[?dry_run=1] and the example file GET /api/sample.csv. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/secret.h"
#include "base/xalloc.h"
#include "csvimport/csvimp.h"
#include "auth/oauth.h"
#include "db/db_batch.h"
#include "http_api_internal.h"
#include "jobs/job_import.h"
#include "jobs/jobs.h"
#include "log/log.h"
#include "migrate/mig_options.h"

static void http_api_import_errors(struct http_api_ctx *c, const struct csvimp_result *res)
{
    char count[32];
    snprintf(count, sizeof(count), "%zu%s", res->n_errors, res->errors_truncated ? "+" : "");
    struct mb_err m;
    MB_MSG(&m, MB_ECONFIG, CSV_FILE_ERRORS, count);
    char *summary = http_api_render(c, &m);
    struct json_w w;
    http_api_json_begin(c, 422, &w);
    json_w_obj_begin(&w);
    json_w_kv_str(&w, "error", summary);
    free(summary);
    json_w_kv_str(&w, "code", mb_err_code(&m));
    json_w_key(&w, "params");
    json_w_obj_begin(&w);
    json_w_kv_str(&w, "count", count);
    json_w_obj_end(&w);
    json_w_kv_bool(&w, "truncated", res->errors_truncated);
    json_w_key(&w, "errors");
    json_w_arr_begin(&w);
    for (size_t i = 0; i < res->n_errors; i++) {
        const struct csvimp_error *e = &res->errors[i];
        json_w_obj_begin(&w);
        json_w_kv_int(&w, "line", e->line);
        json_w_kv_int(&w, "column", e->column);
        json_w_kv_str(&w, "column_name", e->column ? csvimp_column_name(e->column) : NULL);
        json_w_kv_str(&w, "message", e->message + e->text_off);
        json_w_kv_str(&w, "code", e->code ? e->code : "text");
        json_w_key(&w, "params");
        struct json_value *pv = NULL;
        struct mb_err perr;
        if (json_parse(e->params, strlen(e->params), NULL, &pv, &perr) == 0) {
            json_w_value(&w, pv);
        } else {
            json_w_obj_begin(&w);
            json_w_obj_end(&w);
        }
        json_free(&pv);
        json_w_obj_end(&w);
    }
    json_w_arr_end(&w);
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
}

/* Source-host policy for the rows: 0, or -1 after answering 422 with one error per refused
 * row (line, column host_source). Results are cached per host:port. */
static int http_api_import_policy(struct http_api_ctx *c, const struct csvimp_result *res)
{
    enum { CACHE = 256, MAX_ERRORS = 100 };
    struct {
        const char *host;
        unsigned port;
        int ok;
        int why;
    } *cache = xcalloc(CACHE, sizeof(*cache));
    size_t n_cache = 0, n_bad = 0;
    struct json_w w;
    for (size_t i = 0; i < res->n_rows; i++) {
        const struct csvimp_row *r = &res->rows[i];
        unsigned port = job_import_port(r);
        size_t k;
        for (k = 0; k < n_cache; k++) {
            if (cache[k].port == port && strcmp(cache[k].host, r->host) == 0)
                break;
        }
        if (k == n_cache) {
            k = n_cache < CACHE ? n_cache++ : (size_t)(i % CACHE);
            cache[k].host = r->host;
            cache[k].port = port;
            cache[k].ok =
                net_policy_host_ok(&c->api->policy, r->host, port, c->user.admin, &cache[k].why);
        }
        if (cache[k].ok)
            continue;
        if (n_bad == 0) {
            http_api_json_begin(c, 422, &w);
            json_w_obj_begin(&w);
            json_w_kv_str(&w, "error", http_api_text(c, MSG_API_IMPORT_HOSTS_REFUSED));
            json_w_kv_str(&w, "code", msgcat[MSG_API_IMPORT_HOSTS_REFUSED].code);
            json_w_key(&w, "params");
            json_w_obj_begin(&w);
            json_w_obj_end(&w);
            json_w_key(&w, "errors");
            json_w_arr_begin(&w);
        }
        if (++n_bad > MAX_ERRORS)
            continue;
        json_w_obj_begin(&w);
        json_w_kv_int(&w, "line", r->line);
        json_w_kv_int(&w, "column", CSVIMP_COL_HOST_SOURCE);
        json_w_kv_str(&w, "column_name", csvimp_column_name(CSVIMP_COL_HOST_SOURCE));
        json_w_kv_str(&w, "message", http_api_text(c, cache[k].why));
        json_w_kv_str(&w, "code", msgcat[cache[k].why].code);
        json_w_obj_end(&w);
    }
    free(cache);
    if (n_bad == 0)
        return 0;
    json_w_arr_end(&w);
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
    return -1;
}

static void http_api_import_preview(struct http_api_ctx *c, const struct csvimp_result *res)
{
    struct json_w w;
    http_api_json_begin(c, 200, &w);
    json_w_obj_begin(&w);
    json_w_kv_null(&w, "batch");
    json_w_kv_bool(&w, "dry_run", 1);
    json_w_kv_str(&w, "encoding", res->encoding);
    json_w_key(&w, "jobs");
    json_w_arr_begin(&w);
    for (size_t i = 0; i < res->n_rows; i++) {
        const struct csvimp_row *r = &res->rows[i];
        json_w_obj_begin(&w);
        json_w_kv_int(&w, "line", r->line);
        json_w_kv_str(&w, "source_host", r->host);
        json_w_kv_int(&w, "source_port", job_import_port(r));
        json_w_kv_str(&w, "source_tls", "auto");
        json_w_kv_str(&w, "source_login", r->login_source);
        json_w_kv_str(&w, "server_type", r->server_type);
        json_w_kv_str(&w, "dest_login", r->login_destination);
        json_w_kv_bool(&w, "subscribed_only", r->subscribed_only);
        json_w_obj_end(&w);
    }
    json_w_arr_end(&w);
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
}

/* 201 {"batch":B,"jobs":[…]} with the batch's jobs as stored. */
/* 201 once the batch is committed: a summary (batch id, number queued) and the first
 * HTTP_API_IMPORT_ANSWER_JOBS jobs; the answer's size does not grow with the file, and a
 * failure to read the jobs back only leaves them out (the batch is queued: answering an
 * error would make a client send it again). */
#define HTTP_API_IMPORT_ANSWER_JOBS 100
static void http_api_import_created(struct http_api_ctx *c, int64_t batch, size_t n)
{
    struct json_w w;
    struct mb_err err = {0};
    struct db_job_list list;
    memset(&list, 0, sizeof(list));
    struct db_job_filter flt = {.batch_id = batch, .limit = HTTP_API_IMPORT_ANSWER_JOBS};
    int have = db_job_list(c->db, &flt, &list, &err) == 0;
    if (!have)
        log_error("api: batch %" PRId64 " queued, but reading it back failed: %s", batch, err.msg);
    http_api_json_begin(c, 201, &w);
    json_w_obj_begin(&w);
    json_w_kv_int(&w, "batch", batch);
    json_w_kv_int(&w, "queued", (int64_t)n);
    json_w_key(&w, "jobs");
    json_w_arr_begin(&w);
    for (size_t i = 0; have && i < list.n; i++)
        http_api_jobs_write(c, &w, &list.jobs[i], c->user.name, 0);
    json_w_arr_end(&w);
    json_w_kv_bool(&w, "jobs_truncated", !have || list.n < n);
    json_w_obj_end(&w);
    if (have)
        db_job_list_fini(&list);
    http_api_json_end(c, &w);
}

/* The migration options of an import, as query parameters: since, before,
 * max_message_size, gmail_labels, exclude_folder (repeatable), map_folder=SRC=DST (repeatable). 0,
 * or -1 after answering 400. */
static int http_api_import_options(struct http_api_ctx *c, struct mig_options *o)
{
    const char *v[MIG_OPT_PATTERNS_MAX + 1];
    struct mb_err err = {0};
    const char *field = NULL;
    int rc = 0;
    const char *s;
    memset(o, 0, sizeof(*o));
    if ((s = http_req_arg(c->req, "since")) && *s && (rc = mig_options_set_since(o, s, &err)))
        field = "since";
    if (!rc && (s = http_req_arg(c->req, "before")) && *s
        && (rc = mig_options_set_before(o, s, &err)))
        field = "before";
    if (!rc && (s = http_req_arg(c->req, "max_message_size")) && *s
        && (rc = mig_options_set_max_size(o, s, &err)))
        field = "max_message_size";
    if (!rc && (s = http_req_arg(c->req, "gmail_labels")) && *s
        && (rc = mig_options_set_gmail_labels(o, s, &err)))
        field = "gmail_labels";
    size_t n = http_req_arg_all(c->req, "exclude_folder", v, MIG_OPT_PATTERNS_MAX + 1);
    for (size_t i = 0; !rc && i < n && i <= MIG_OPT_PATTERNS_MAX; i++)
        if (*v[i] && (rc = mig_options_add_exclude(o, v[i], &err)))
            field = "exclude_folder";
    n = http_req_arg_all(c->req, "map_folder", v, MIG_OPT_MAPS_MAX + 1);
    for (size_t i = 0; !rc && i < n && i <= MIG_OPT_MAPS_MAX; i++)
        if (*v[i] && (rc = mig_options_add_map_arg(o, v[i], &err)))
            field = "map_folder";
    if (!rc && (rc = mig_options_check(o, &err)))
        field = "before";
    if (!rc)
        return 0;
    /* The message names the option ("option since: ..."), coded (in the request's language). */
    log_info("api: import refused: bad %s", field);
    http_api_error_msg(c, 400, &err);
    mig_options_fini(o);
    return -1;
}

void http_api_import_post(struct http_api_ctx *c)
{
    const struct config *cfg = c->api->cfg;
    static const char *const none[1] = {NULL};
    const char *dry = http_req_arg(c->req, "dry_run");
    int dry_run;
    if (!dry || !*dry || strcmp(dry, "0") == 0 || strcmp(dry, "false") == 0) {
        dry_run = 0;
    } else if (strcmp(dry, "1") == 0 || strcmp(dry, "true") == 0) {
        dry_run = 1;
    } else {
        HTTP_API_ERROR(c, 400, API_DRY_RUN_VALUE);
        return;
    }
    /* ?batch=ID: the rows join that batch (not finalized) instead of a new one */
    int64_t into = 0;
    const char *batch_arg = http_req_arg(c->req, "batch");
    if (batch_arg && *batch_arg) {
        char *end = NULL;
        long long v = strtoll(batch_arg, &end, 10);
        if (*end || v < 1 || batch_arg[0] < '1' || batch_arg[0] > '9') {
            HTTP_API_ERROR(c, 400, API_BATCH_ID_EXPECTED);
            return;
        }
        struct db_batch b;
        if (http_api_batches_load(c, v, &b) != 0)
            return;
        int64_t fin = b.finalized_at;
        db_batch_fini(&b);
        if (fin) {
            HTTP_API_ERROR(c, 409, API_BATCH_FINALIZED_IMPORT);
            return;
        }
        into = v;
    }
    const char *ver = http_req_arg(c->req, "verify");
    int verify;
    if (!ver || !*ver || strcmp(ver, "0") == 0 || strcmp(ver, "false") == 0) {
        verify = 0;
    } else if (strcmp(ver, "1") == 0 || strcmp(ver, "true") == 0) {
        verify = 1;
    } else {
        HTTP_API_ERROR(c, 400, API_VERIFY_VALUE);
        return;
    }
    if (c->req->body_len == 0) {
        HTTP_API_ERROR(c, 422, API_FILE_EMPTY);
        return;
    }
    struct mig_options mo;
    if (http_api_import_options(c, &mo) != 0)
        return;
    char *opt_json = mig_options_to_json(&mo);
    mig_options_fini(&mo);
    /* ?auth_profile=NAME: rows without a password log in through that profile */
    const char *profile = http_req_arg(c->req, "auth_profile");
    if (profile && !*profile)
        profile = NULL;
    if (profile) {
        struct auth_profile prof;
        memset(&prof, 0, sizeof(prof));
        if (http_api_profile_open(c, profile, "auth_profile", &prof) != 0) {
            free(opt_json);
            return;
        }
        auth_profile_fini(&prof);
    }

    struct csvimp_opts opts = {
        .max_bytes = (size_t)cfg->server.max_upload_bytes,
        .max_rows = (unsigned)cfg->server.max_import_rows,
        .french = c->fr,
        .allow_empty_password = profile != NULL,
        .separator = cfg->destination.separator,
    };
    /* Hosted domains: the configured list; with none configured ("any domain"), the account's
     * own domains stand in for it (csvimp needs an explicit list). */
    if (cfg->destination.n_domains) {
        opts.domains = (const char *const *)cfg->destination.domains;
        opts.n_domains = cfg->destination.n_domains;
    } else if (c->user.n_domains) {
        opts.domains = (const char *const *)c->user.domains;
        opts.n_domains = c->user.n_domains;
    } else {
        HTTP_API_ERROR(c, 422, API_IMPORT_NO_DOMAIN);
        free(opt_json);
        return;
    }
    if (!c->user.admin) {
        opts.account_domains = c->user.n_domains ? (const char *const *)c->user.domains : none;
        opts.n_account_domains = c->user.n_domains;
    }

    struct csvimp_result res;
    int rc = csvimp_parse(c->req->body, c->req->body_len, &opts, &res);
    if (rc == MB_ETOOBIG) {
        HTTP_API_ERROR(c, 413, API_FILE_TOO_LARGE);
        goto out;
    }
    if (rc == MB_ECONFIG) {
        http_api_import_errors(c, &res);
        goto out;
    }
    if (rc) {
        struct mb_err err = {0};
        mb_err_set(&err, rc, "csv import failed");
        http_api_internal(c, "csv import", &err);
        goto out;
    }
    /* Source-host policy: every row of a non-admin; an admin's rows only against `deny`. */
    if ((!c->user.admin || c->api->cfg->sources.deny.n) && http_api_import_policy(c, &res) != 0)
        goto out;
    if (verify) {
        /* « Vérifier les accès »: every row checked, nothing queued */
        http_api_import_verify(c, &res, profile);
        goto out;
    }
    if (dry_run) {
        http_api_import_preview(c, &res);
        goto out;
    }

    struct mb_err err = {0};
    int64_t batch = 0;
    enum job_import_step step;
    struct job_import ji = {
        .account_id = c->user.id,
        .into = into,
        .profile = profile,
        .options_json = opt_json,
    };
    rc = job_import_queue(c->db, c->api->box, &res, &ji, &batch, &step, &err);
    if (rc)
        http_api_internal(c, step == JOB_IMPORT_SEAL ? "password encryption" : "batch insert",
                          &err);
    if (rc == 0) {
        if (c->api->pool)
            jobs_wake(c->api->pool);
        log_info("api: batch %" PRId64 " of %zu jobs queued by %s", batch, res.n_rows,
                 c->user.name);
        http_api_import_created(c, batch, res.n_rows);
    }
out:
    free(opt_json);
    csvimp_result_fini(&res);
}

void http_api_import_sample(struct http_api_ctx *c)
{
    const struct config *cfg = c->api->cfg;
    const char *domain = "example.com";
    if (c->user.n_domains)
        domain = c->user.domains[0];
    else if (cfg->destination.n_domains)
        domain = cfg->destination.domains[0];
    buf_reset(&c->resp->body);
    if (csvimp_sample(domain, &c->resp->body) != 0) {
        buf_reset(&c->resp->body);
        if (csvimp_sample("example.com", &c->resp->body) != 0) {
            HTTP_API_ERROR(c, 500, API_INTERNAL_ERROR);
            return;
        }
    }
    c->resp->status = 200;
    c->resp->content_type = "text/csv; charset=utf-8";
    http_resp_header(c->resp, "Content-Disposition",
                     "attachment; filename=\"exemple-migration.csv\"");
}
