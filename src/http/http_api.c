#include "http_api.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/xalloc.h"
#include "net/net_conn.h"
#include "http_api_internal.h"
#include "msg/msgcat.h"
#include "log/log.h"
#include "db/db_token.h"

#include <mbedtls/sha256.h>

/* Route flags. */
enum {
    HTTP_API_AUTH = 1 << 0,     /* a session is required (401 otherwise) */
    HTTP_API_CSRF = 1 << 1,     /* X-CSRF-Token must match the session's (403 otherwise) */
    HTTP_API_ADMIN = 1 << 2,    /* admin accounts only (403 otherwise) */
    HTTP_API_JSON = 1 << 3,     /* body: application/json, required */
    HTTP_API_JSON_OPT = 1 << 4, /* body: application/json when there is one */
    HTTP_API_CSV = 1 << 5,      /* body: a CSV file (text/csv ...) */
};

typedef void http_api_handler(struct http_api_ctx *c);

struct http_api_route {
    const char *method;
    const char *pattern; /* "/api/jobs/{id}/log": {id} = a decimal id 1..2^63-1 */
    http_api_handler *handler;
    unsigned flags;
};

#define HTTP_API_MUTATE (HTTP_API_AUTH | HTTP_API_CSRF)

static const struct http_api_route http_api_routes[] = {
    {"GET", "/api/session", http_api_session_get, HTTP_API_AUTH},
    {"POST", "/api/session", http_api_session_post, HTTP_API_JSON},
    {"DELETE", "/api/session", http_api_session_delete, HTTP_API_MUTATE},
    {"GET", "/api/jobs", http_api_jobs_list, HTTP_API_AUTH},
    {"POST", "/api/jobs", http_api_jobs_create, HTTP_API_MUTATE | HTTP_API_JSON},
    {"GET", "/api/jobs/{id}", http_api_jobs_get, HTTP_API_AUTH},
    {"DELETE", "/api/jobs/{id}", http_api_jobs_delete, HTTP_API_MUTATE},
    {"GET", "/api/jobs/{id}/log", http_api_jobs_log, HTTP_API_AUTH},
    {"POST", "/api/jobs/{id}/cancel", http_api_jobs_cancel, HTTP_API_MUTATE | HTTP_API_JSON_OPT},
    {"POST", "/api/jobs/{id}/retry", http_api_jobs_retry, HTTP_API_MUTATE | HTTP_API_JSON_OPT},
    {"POST", "/api/jobs/{id}/delta", http_api_jobs_delta, HTTP_API_MUTATE | HTTP_API_JSON_OPT},
    {"POST", "/api/jobs/{id}/finalize", http_api_jobs_finalize,
     HTTP_API_MUTATE | HTTP_API_JSON_OPT},
    {"GET", "/api/batches", http_api_batches_list, HTTP_API_AUTH},
    {"GET", "/api/nodes", http_api_nodes_list, HTTP_API_AUTH | HTTP_API_ADMIN},
    {"GET", "/api/tokens", http_api_tokens_list, HTTP_API_AUTH},
    {"POST", "/api/tokens", http_api_tokens_create, HTTP_API_MUTATE | HTTP_API_JSON},
    {"DELETE", "/api/tokens/{id}", http_api_tokens_delete, HTTP_API_MUTATE},
    {"GET", "/api/batches/{id}", http_api_batches_get, HTTP_API_AUTH},
    {"PATCH", "/api/batches/{id}", http_api_batches_patch, HTTP_API_MUTATE | HTTP_API_JSON},
    {"POST", "/api/batches/{id}/delta", http_api_batches_delta,
     HTTP_API_MUTATE | HTTP_API_JSON_OPT},
    {"POST", "/api/batches/{id}/retry-failed", http_api_batches_retry_failed,
     HTTP_API_MUTATE | HTTP_API_JSON_OPT},
    {"POST", "/api/batches/{id}/cancel", http_api_batches_cancel,
     HTTP_API_MUTATE | HTTP_API_JSON_OPT},
    {"POST", "/api/batches/{id}/finalize", http_api_batches_finalize,
     HTTP_API_MUTATE | HTTP_API_JSON_OPT},
    {"POST", "/api/imports", http_api_import_post, HTTP_API_MUTATE | HTTP_API_CSV},
    {"GET", "/api/sample.csv", http_api_import_sample, HTTP_API_AUTH},
    {"POST", "/api/check", http_api_check_post, HTTP_API_MUTATE | HTTP_API_JSON},
    {"GET", "/api/profiles", http_api_profiles_list, HTTP_API_AUTH},
    {"POST", "/api/profiles", http_api_profiles_create, HTTP_API_MUTATE | HTTP_API_JSON},
    {"DELETE", "/api/profiles/{name}", http_api_profiles_delete, HTTP_API_MUTATE},
    {"POST", "/api/profiles/{name}/check", http_api_profiles_check,
     HTTP_API_MUTATE | HTTP_API_JSON},
    {"GET", "/api/messages", http_api_messages, 0},
    {"GET", "/healthz", http_api_metrics_healthz, 0},
    {"GET", "/metrics", http_api_metrics_get, 0},
};

#define HTTP_API_N_ROUTES (sizeof(http_api_routes) / sizeof(http_api_routes[0]))

/* Content types accepted for a CSV upload (the UI sends text/csv). */
static const char *const http_api_csv_types[] = {
    "text/csv", "application/csv", "text/plain", "application/octet-stream", NULL,
};

/* ---- per-thread database handle ----
 * A connection thread uses its own handle. When the thread ends (a client without keep-alive
 * ends it after each request), the handle is kept for the next thread: opening one costs
 * SQLite's schema parse and the settings of db_open, and a kept handle still holds its
 * prepared statements. A handle moves between threads only while no thread uses it, which
 * SQLite's multi-thread mode allows. */

struct http_api_tdb {
    struct http_api *api;
    struct db *db;
};

static void http_api_db_release(void *p)
{
    struct http_api_tdb *t = p;
    struct http_api *api = t->api;
    struct db *db = t->db;
    free(t);
    if (db_in_transaction(db))
        db_rollback(db);
    pthread_mutex_lock(&api->db_lock);
    if (api->n_db_idle < HTTP_API_DB_IDLE) {
        api->db_idle[api->n_db_idle++] = db;
        db = NULL;
    }
    pthread_mutex_unlock(&api->db_lock);
    db_close(&db);
}

static struct db *http_api_db(struct http_api *api, struct mb_err *err)
{
    struct http_api_tdb *t = pthread_getspecific(api->db_key);
    if (t)
        return t->db;
    struct db *db = NULL;
    pthread_mutex_lock(&api->db_lock);
    if (api->n_db_idle > 0)
        db = api->db_idle[--api->n_db_idle];
    pthread_mutex_unlock(&api->db_lock);
    if (!db && db_open(api->db_path, &db, err) != 0)
        return NULL;
    t = xmalloc(sizeof(*t));
    t->api = api;
    t->db = db;
    if (pthread_setspecific(api->db_key, t) != 0) {
        free(t);
        db_close(&db);
        mb_err_set(err, MB_EIO, "cannot keep the database handle of this thread");
        return NULL;
    }
    return db;
}

int http_api_new(const struct config *cfg, const char *db_path, const struct secret_box *box,
                 struct jobs *pool, struct http_api **api_r, struct mb_err *err)
{
    struct http_api *api = xcalloc(1, sizeof(*api));
    api->cfg = cfg;
    api->db_path = xstrdup(db_path);
    api->box = box;
    api->pool = pool;
    api->started = time(NULL);
    int rc = http_auth_init(&api->auth, err);
    if (rc) {
        free(api->db_path);
        free(api);
        return rc;
    }
    net_policy_init(&api->policy, cfg, db_path);
    net_conn_set_filter(net_policy_connect_ok, &api->policy);
    pthread_mutex_init(&api->db_lock, NULL);
    if (pthread_key_create(&api->db_key, http_api_db_release) != 0) {
        pthread_mutex_destroy(&api->db_lock);
        net_conn_set_filter(NULL, NULL);
        net_policy_fini(&api->policy);
        http_auth_fini(&api->auth);
        free(api->db_path);
        free(api);
        return mb_err_set(err, MB_EIO, "pthread_key_create failed");
    }
    *api_r = api;
    return 0;
}

void http_api_free(struct http_api **apip)
{
    struct http_api *api = *apip;
    if (!api)
        return;
    /* Connection threads are gone (the server is stopped first); this thread may hold one. */
    struct http_api_tdb *t = pthread_getspecific(api->db_key);
    if (t) {
        pthread_setspecific(api->db_key, NULL);
        db_close(&t->db);
        free(t);
    }
    pthread_key_delete(api->db_key);
    for (int i = 0; i < api->n_db_idle; i++)
        db_close(&api->db_idle[i]);
    pthread_mutex_destroy(&api->db_lock);
    net_conn_set_filter(NULL, NULL);
    net_policy_fini(&api->policy);
    http_auth_fini(&api->auth);
    free(api->db_path);
    free(api);
    *apip = NULL;
}

void http_api_sanitize(const char *in, char *out, size_t max)
{
    size_t o = 0, n = strlen(in);
    if (max < 8) {
        out[0] = '\0';
        return;
    }
    for (size_t i = 0; i < n && o < max - 1; i++) {
        unsigned char ch = (unsigned char)in[i];
        out[o++] = (ch < 0x20 || ch == 0x7F) ? ' ' : (char)ch;
    }
    out[o] = '\0';
    if (o < n) {
        /* cut: back to a UTF-8 boundary, then "..." */
        size_t cut = max - 4 < o ? max - 4 : o;
        while (cut > 0 && ((unsigned char)out[cut] & 0xC0) == 0x80)
            cut--;
        memcpy(out + cut, "...", 4);
    }
}

/* ---- answers ---- */

void http_api_json_begin(struct http_api_ctx *c, unsigned status, struct json_w *w)
{
    buf_reset(&c->resp->body);
    c->resp->status = status;
    c->resp->content_type = "application/json";
    json_w_init(w, &c->resp->body);
}

void http_api_json_end(struct http_api_ctx *c, struct json_w *w)
{
    int rc = json_w_finish(w);
    if (rc == 0)
        return;
    log_error("api: %s %s: cannot write the JSON answer (%s)", c->req->method, c->req->path,
              mb_errc_name(rc));
    buf_reset(&c->resp->body);
    c->resp->status = 500;
    c->resp->content_type = "application/json";
    buf_puts(&c->resp->body, "{\"error\":\"internal error\"}");
}

/* {"error": text, "code": code, "params": params (JSON object text)} */
static void http_api_error_answer(struct http_api_ctx *c, unsigned status, const char *text,
                                  const char *code, const char *params)
{
    struct json_w w;
    struct json_value *pv = NULL;
    struct mb_err err;
    if (params && json_parse(params, strlen(params), NULL, &pv, &err) != 0)
        pv = NULL;
    http_api_json_begin(c, status, &w);
    json_w_obj_begin(&w);
    json_w_kv_str(&w, "error", text);
    json_w_kv_str(&w, "code", code);
    json_w_key(&w, "params");
    if (pv) {
        json_w_value(&w, pv);
    } else {
        json_w_obj_begin(&w);
        json_w_obj_end(&w);
    }
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
    json_free(&pv);
}

void http_api_error(struct http_api_ctx *c, unsigned status, const char *message)
{
    struct mb_err m;
    mb_err_set(&m, 0, "%s", message);
    char params[MB_ERR_LEN + 64];
    http_api_error_answer(c, status, message, mb_err_code(&m),
                          mb_err_params(&m, params, sizeof(params)));
}

char *http_api_render(const struct http_api_ctx *c, const struct mb_err *m)
{
    return msg_render_err(c->fr ? MSG_LANG_FR : MSG_LANG_EN, m);
}

const char *http_api_text(const struct http_api_ctx *c, int id)
{
    return msgcat_template(id, c->fr ? MSG_LANG_FR : MSG_LANG_EN);
}

void http_api_error_msg(struct http_api_ctx *c, unsigned status, const struct mb_err *m)
{
    char *text = http_api_render(c, m);
    char params[MB_ERR_PARAMS_LEN + 64];
    http_api_error_answer(c, status, text, mb_err_code(m),
                          mb_err_params(m, params, sizeof(params)));
    free(text);
}

void http_api_error_id(struct http_api_ctx *c, unsigned status, int id)
{
    struct mb_err m;
    mb_err_msg(&m, 0, id, NULL, 0);
    http_api_error_msg(c, status, &m);
}

void http_api_w_msg(struct http_api_ctx *c, struct json_w *w, const char *key, const char *code,
                    const char *params, const char *text)
{
    json_w_key(w, key);
    if (!code && !text) {
        json_w_null(w);
        return;
    }
    json_w_obj_begin(w);
    http_api_w_msg_members(c, w, code, params, text);
    json_w_obj_end(w);
}

void http_api_w_err_beside(struct http_api_ctx *c, struct json_w *w, const struct mb_err *e,
                           size_t max)
{
    char params[MB_ERR_PARAMS_LEN + 64];
    mb_err_params(e, params, sizeof(params));
    char *text = http_api_render(c, e);
    char clean[HTTP_API_MSG_TEXT_MAX + 1];
    http_api_sanitize(text, clean, max < sizeof(clean) ? max + 1 : sizeof(clean));
    free(text);
    json_w_kv_str(w, "error", clean);
    json_w_kv_str(w, "code", mb_err_code(e));
    json_w_key(w, "params");
    struct json_value *pv = NULL;
    struct mb_err perr;
    if (json_parse(params, strlen(params), NULL, &pv, &perr) == 0 && pv->type == JSON_OBJECT) {
        json_w_value(w, pv);
    } else {
        json_w_obj_begin(w);
        json_w_obj_end(w);
    }
    json_free(&pv);
}

void http_api_w_msg_members(struct http_api_ctx *c, struct json_w *w, const char *code,
                            const char *params, const char *text)
{
    struct json_value *pv = NULL;
    struct mb_err err;
    if (code && params && *params
        && (json_parse(params, strlen(params), NULL, &pv, &err) != 0 || pv->type != JSON_OBJECT))
        json_free(&pv);
    if (code && msgcat_find(code) < 0)
        code = NULL; /* a code of a later version: its stored text */
    char *rendered =
        code ? msg_render_alloc(c->fr ? MSG_LANG_FR : MSG_LANG_EN, code, params, text) : NULL;
    char clean[HTTP_API_MSG_TEXT_MAX + 1];
    http_api_sanitize(rendered ? rendered : text ? text : "", clean, sizeof(clean));
    json_w_kv_str(w, "code", code ? code : msgcat[MSG_TEXT].code);
    json_w_key(w, "params");
    if (!code) {
        json_w_obj_begin(w);
        json_w_kv_str(w, "text", text ? text : "");
        json_w_obj_end(w);
    } else if (pv) {
        json_w_value(w, pv);
    } else {
        json_w_obj_begin(w);
        json_w_obj_end(w);
    }
    json_w_kv_str(w, "text", clean);
    free(rendered);
    json_free(&pv);
}

void http_api_messages(struct http_api_ctx *c)
{
    buf_reset(&c->resp->body);
    c->resp->status = 200;
    c->resp->content_type = "application/json";
    msgcat_write_json(&c->resp->body);
}

void http_api_internal(struct http_api_ctx *c, const char *what, const struct mb_err *err)
{
    log_error("api: %s %s: %s: %s", c->req->method, c->req->path, what,
              err && err->msg[0] ? err->msg : "failed");
    HTTP_API_ERROR(c, 500, API_INTERNAL_ERROR);
}

/* The slot for field's error, or NULL (full, or the field has one already: the first one
 * found is kept). */
static struct http_api_field_error *http_api_field_slot(struct http_api_ctx *c, const char *field)
{
    if (c->n_ferr >= HTTP_API_MAX_FIELD_ERRORS)
        return NULL;
    for (size_t i = 0; i < c->n_ferr; i++) {
        if (c->ferr[i].field && field && strcmp(c->ferr[i].field, field) == 0)
            return NULL;
    }
    struct http_api_field_error *e = &c->ferr[c->n_ferr++];
    memset(e, 0, sizeof(*e));
    e->field = field;
    return e;
}

void http_api_field_error(struct http_api_ctx *c, const char *field, const char *fmt, ...)
{
    struct http_api_field_error *e = http_api_field_slot(c, field);
    if (!e)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    struct mb_err m;
    mb_err_set(&m, 0, "%s", e->message);
    e->code = mb_err_code(&m);
    mb_err_params(&m, e->params, sizeof(e->params));
}

void http_api_field_msg(struct http_api_ctx *c, const char *field, const struct mb_err *m)
{
    struct http_api_field_error *e = http_api_field_slot(c, field);
    if (!e)
        return;
    char *text = http_api_render(c, m);
    http_api_sanitize(text, e->message, sizeof(e->message));
    free(text);
    e->code = mb_err_code(m);
    mb_err_params(m, e->params, sizeof(e->params));
    if (strlen(e->params) + 1 >= sizeof(e->params)) /* cut: keep the text alone */
        snprintf(e->params, sizeof(e->params), "{}");
}

void http_api_field_id(struct http_api_ctx *c, const char *field, int id)
{
    struct mb_err m;
    mb_err_msg(&m, 0, id, NULL, 0);
    http_api_field_msg(c, field, &m);
}

static void http_api_w_params(struct json_w *w, const char *params)
{
    struct json_value *pv = NULL;
    struct mb_err err;
    json_w_key(w, "params");
    if (params && *params && json_parse(params, strlen(params), NULL, &pv, &err) == 0) {
        json_w_value(w, pv);
    } else {
        json_w_obj_begin(w);
        json_w_obj_end(w);
    }
    json_free(&pv);
}

void http_api_field_errors(struct http_api_ctx *c)
{
    struct json_w w;
    http_api_json_begin(c, 422, &w);
    json_w_obj_begin(&w);
    json_w_kv_str(&w, "error", c->n_ferr ? c->ferr[0].message : "invalid request");
    json_w_kv_str(&w, "code", c->n_ferr && c->ferr[0].code ? c->ferr[0].code : "text");
    http_api_w_params(&w, c->n_ferr ? c->ferr[0].params : NULL);
    json_w_key(&w, "errors");
    json_w_arr_begin(&w);
    for (size_t i = 0; i < c->n_ferr; i++) {
        json_w_obj_begin(&w);
        if (c->ferr[i].field)
            json_w_kv_str(&w, "field", c->ferr[i].field);
        json_w_kv_str(&w, "message", c->ferr[i].message);
        json_w_kv_str(&w, "code", c->ferr[i].code ? c->ferr[i].code : "text");
        http_api_w_params(&w, c->ferr[i].params);
        json_w_obj_end(&w);
    }
    json_w_arr_end(&w);
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
}

void http_api_w_progress(struct json_w *w, const struct db_job_counters *p)
{
    json_w_kv_int(w, "folders_done", p->folders_done);
    json_w_kv_int(w, "folders_total", p->folders_total);
    json_w_kv_int(w, "messages_total", p->messages_total);
    json_w_kv_int(w, "messages_copied", p->messages_copied);
    json_w_kv_int(w, "messages_skipped", p->messages_skipped);
    json_w_kv_int(w, "messages_failed", p->messages_failed);
    json_w_kv_int(w, "bytes_total", p->bytes_total);
    json_w_kv_int(w, "bytes_copied", p->bytes_copied);
}

void http_api_w_time(struct json_w *w, const char *key, int64_t t)
{
    json_w_key(w, key);
    if (t <= 0) {
        json_w_null(w);
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    char s[40];
    if (!gmtime_r(&tt, &tm) || strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        json_w_null(w);
        return;
    }
    json_w_str(w, s);
}

int http_api_domain_visible(const struct http_api_ctx *c, const char *domain)
{
    if (!c->authed)
        return 0;
    if (c->user.admin)
        return 1;
    if (!domain)
        return 0;
    for (size_t i = 0; i < c->user.n_domains; i++) {
        if (strcasecmp(c->user.domains[i], domain) == 0)
            return 1;
    }
    return 0;
}

/* ---- request helpers ---- */

/* The media type of the request without parameters, lower-cased, into out. */
static void http_api_media_type(const struct http_req *req, char *out, size_t n)
{
    const char *ct = http_req_header(req, "Content-Type");
    size_t o = 0;
    out[0] = '\0';
    if (!ct)
        return;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    for (; *ct && *ct != ';' && o + 1 < n; ct++)
        out[o++] = (char)tolower((unsigned char)*ct);
    while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
        o--;
    out[o] = '\0';
}

struct json_value *http_api_body_object(struct http_api_ctx *c, int *empty_r)
{
    if (empty_r)
        *empty_r = 0;
    if (c->req->body_len == 0) {
        if (empty_r) {
            *empty_r = 1;
            return NULL;
        }
        HTTP_API_ERROR(c, 400, API_JSON_OBJECT_REQUIRED);
        return NULL;
    }
    struct json_value *v = NULL;
    struct mb_err err = {0};
    struct json_limits lim = {.max_bytes = c->req->body_len};
    if (json_parse(c->req->body, c->req->body_len, &lim, &v, &err) != 0) {
        struct mb_err m;
        MB_MSG(&m, MB_EPROTO, API_INVALID_JSON, &err);
        http_api_error_msg(c, 400, &m);
        return NULL;
    }
    if (v->type != JSON_OBJECT) {
        json_free(&v);
        HTTP_API_ERROR(c, 400, API_JSON_BODY_NOT_OBJECT);
        return NULL;
    }
    return v;
}

/* Match path against pattern; a {id} segment sets *id_r. */
static int http_api_match(const char *pattern, const char *path, int64_t *id_r, char *name_r)
{
    const char *p = pattern, *s = path;
    while (*p) {
        if (strncmp(p, "{name}", 6) == 0) {
            /* a profile name: letters, digits, '-', '_', '.' (1..HTTP_API_NAME_MAX) */
            size_t n = 0;
            while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')
                   || *s == '-' || *s == '_' || *s == '.') {
                if (n >= HTTP_API_NAME_MAX)
                    return 0;
                name_r[n++] = *s++;
            }
            if (n == 0)
                return 0;
            name_r[n] = '\0';
            p += 6;
            continue;
        }
        if (strncmp(p, "{id}", 4) == 0) {
            int64_t v = 0;
            size_t digits = 0;
            /* Any number matches, so that sign-in and CSRF are checked before a job id is
             * looked up (an id that exists nowhere, 0 included, is then a 404 job). */
            if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
                return 0;
            while (*s >= '0' && *s <= '9') {
                if (++digits > 18)
                    return 0;
                v = v * 10 + (*s - '0');
                s++;
            }
            *id_r = v;
            p += 4;
            continue;
        }
        if (*p != *s)
            return 0;
        p++;
        s++;
    }
    return *s == '\0';
}

static int http_api_lang_fr(const struct http_req *req)
{
    return msg_lang_from_accept(http_req_header(req, "Accept-Language")) == MSG_LANG_FR;
}

/* The client address: the TCP peer, unless the peer is a trusted proxy and sent the
 * configured header, whose last (rightmost) item is then used when it is an IP address. */
static void http_api_client_addr(struct http_api_ctx *c)
{
    const struct config_server *s = &c->api->cfg->server;
    snprintf(c->client, sizeof(c->client), "%s", c->req->peer ? c->req->peer : "");
    if (!s->proxy_header || !net_acl_match_text(&s->trusted_proxies, c->req->peer))
        return;
    const char *h = http_req_header(c->req, s->proxy_header);
    if (!h)
        return;
    const char *last = strrchr(h, ',');
    last = last ? last + 1 : h;
    while (*last == ' ' || *last == '\t')
        last++;
    char item[64];
    size_t n = strcspn(last, " \t");
    if (n == 0 || n >= sizeof(item))
        return;
    memcpy(item, last, n);
    item[n] = '\0';
    unsigned char bin[16];
    if (inet_pton(AF_INET, item, bin) == 1 || inet_pton(AF_INET6, item, bin) == 1)
        snprintf(c->client, sizeof(c->client), "%s", item);
}

/* 1 if the client address is a loopback one (127.0.0.0/8, ::1, ::ffff:127.x.y.z). */
static int http_api_loopback(const char *addr)
{
    unsigned char a[16];
    static const unsigned char v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (inet_pton(AF_INET, addr, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, addr, a) == 1)
        return memcmp(a, v6lo, 16) == 0 || (memcmp(a, mapped, 12) == 0 && a[12] == 127);
    return 0;
}

/* Session from the cookie: 0 with c->authed = 1, or the answer (401/500) is written. */
/* Authorization: Bearer TOKEN (db_token.h): 0 with c->user, or answered (401/500) and -1. */
static int http_api_authenticate_bearer(struct http_api_ctx *c, const char *tok)
{
    struct mb_err err = {0};
    while (*tok == ' ')
        tok++;
    unsigned char hash[32];
    mbedtls_sha256((const unsigned char *)tok, strlen(tok), hash, 0);
    int64_t account = 0;
    int rc =
        strlen(tok) > 200 ? MB_ENOTFOUND : db_token_lookup(c->db, hash, c->now, &account, &err);
    if (rc == 0)
        rc = db_user_get(c->db, account, &c->user, &err);
    if (rc == MB_ENOTFOUND) {
        http_resp_header(c->resp, "WWW-Authenticate", "Bearer");
        HTTP_API_ERROR(c, 401, API_TOKEN_INVALID);
        return -1;
    }
    if (rc != 0) {
        http_api_internal(c, "token lookup", &err);
        return -1;
    }
    c->authed = 1;
    c->bearer = 1;
    return 0;
}

static int http_api_authenticate(struct http_api_ctx *c)
{
    const struct config *cfg = c->api->cfg;
    const char *authz = http_req_header(c->req, "Authorization");
    if (authz && strncasecmp(authz, "Bearer ", 7) == 0)
        return http_api_authenticate_bearer(c, authz + 7);
    const char *token = http_req_cookie(c->req, HTTP_AUTH_COOKIE);
    struct mb_err err = {0};
    int touched = 0;
    int rc = token ? http_auth_session_get(c->db, token, c->now, cfg->server.session_ttl,
                                           &c->session, &touched, &err)
                   : MB_ENOTFOUND;
    if (rc == 0) {
        rc = db_user_get(c->db, c->session.account_id, &c->user, &err);
        if (rc != 0)
            db_session_fini(&c->session);
    }
    if (rc == MB_ENOTFOUND) {
        if (token) {
            char cookie[HTTP_AUTH_COOKIE_MAX];
            http_auth_cookie(cookie, NULL, 0, c->req->https);
            http_resp_header(c->resp, "Set-Cookie", cookie);
        }
        HTTP_API_ERROR(c, 401, API_NOT_SIGNED_IN);
        return -1;
    }
    if (rc != 0) {
        http_api_internal(c, "session lookup", &err);
        return -1;
    }
    c->authed = 1;
    c->token = token;
    if (touched) {
        char cookie[HTTP_AUTH_COOKIE_MAX];
        http_auth_cookie(cookie, token, cfg->server.session_ttl, c->req->https);
        http_resp_header(c->resp, "Set-Cookie", cookie);
    }
    return 0;
}

static int http_api_type_ok(const struct http_api_route *r, const struct http_req *req)
{
    char mt[64];
    http_api_media_type(req, mt, sizeof(mt));
    if (r->flags & HTTP_API_JSON)
        return strcmp(mt, "application/json") == 0;
    if (r->flags & HTTP_API_JSON_OPT)
        return req->body_len == 0 || strcmp(mt, "application/json") == 0;
    if (r->flags & HTTP_API_CSV) {
        for (size_t i = 0; http_api_csv_types[i]; i++) {
            if (strcmp(mt, http_api_csv_types[i]) == 0)
                return 1;
        }
        return 0;
    }
    return 1;
}

static void http_api_not_allowed(struct http_api_ctx *c, const char *path)
{
    char allow[80] = "";
    size_t o = 0;
    int64_t id;
    for (size_t i = 0; i < HTTP_API_N_ROUTES; i++) {
        const struct http_api_route *r = &http_api_routes[i];
        char name[HTTP_API_NAME_MAX + 1];
        if (!http_api_match(r->pattern, path, &id, name))
            continue;
        o += (size_t)snprintf(allow + o, sizeof(allow) - o, "%s%s", o ? ", " : "", r->method);
        if (strcmp(r->method, "GET") == 0 && o < sizeof(allow))
            o += (size_t)snprintf(allow + o, sizeof(allow) - o, ", HEAD");
        if (o >= sizeof(allow))
            break;
    }
    http_resp_header(c->resp, "Allow", allow);
    HTTP_API_ERROR(c, 405, API_METHOD_NOT_ALLOWED);
}

/* Set up c for req and find its route (c->id and c->name set from the path); without one,
 * the 404 or 405 answer is written and NULL returned. */
static const struct http_api_route *http_api_route_of(struct http_api_ctx *c, void *app,
                                                      const struct http_req *req,
                                                      struct http_resp *resp)
{
    memset(c, 0, sizeof(*c));
    c->api = app;
    c->req = req;
    c->resp = resp;
    c->now = (int64_t)time(NULL);
    c->fr = http_api_lang_fr(req);
    http_api_client_addr(c);
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    int path_known = 0;
    for (size_t i = 0; i < HTTP_API_N_ROUTES; i++) {
        const struct http_api_route *r = &http_api_routes[i];
        int64_t id = 0;
        if (!http_api_match(r->pattern, req->path, &id, c->name))
            continue;
        path_known = 1;
        if (strcmp(r->method, method) == 0) {
            c->id = id;
            return r;
        }
    }
    if (path_known)
        http_api_not_allowed(c, req->path);
    else
        HTTP_API_ERROR(c, 404, API_NO_SUCH_ENDPOINT);
    return NULL;
}

long http_api_admit(void *app, const struct http_req *req, struct http_resp *resp)
{
    struct http_api_ctx c;
    const struct http_api_route *route = http_api_route_of(&c, app, req, resp);
    if (!route)
        return -1;
    long limit = 0;
    if (route->flags & HTTP_API_CSV)
        limit = (long)c.api->cfg->server.max_upload_bytes;
    else if (route->handler == http_api_session_post)
        limit = HTTP_API_SIGNIN_BODY_MAX;
    else if (route->flags & (HTTP_API_JSON | HTTP_API_JSON_OPT))
        limit = HTTP_API_JSON_BODY_MAX;
    if (!(route->flags & HTTP_API_AUTH) || limit == 0)
        return limit; /* no body to protect: checked by the dispatch */
    /* Session and CSRF before any byte of the body is read. */
    struct mb_err err = {0};
    c.db = http_api_db(c.api, &err);
    if (!c.db) {
        HTTP_API_ERROR(&c, 503, API_DATABASE_UNAVAILABLE);
        return -1;
    }
    long rc = limit;
    if (http_api_authenticate(&c) != 0) {
        rc = -1;
    } else if ((route->flags & HTTP_API_CSRF) && !c.bearer
               && !http_auth_csrf_ok(c.session.csrf, http_req_header(req, "X-CSRF-Token"))) {
        HTTP_API_ERROR(&c, 403, API_CSRF_TOKEN);
        rc = -1;
    } else {
        /* resp may hold the touched session's Set-Cookie: the server adds it to the answer.
         * A signed-in client's oversized upload is drained so that it sees the 413. */
        resp->drain = 1;
    }
    db_user_fini(&c.user);
    db_session_fini(&c.session);
    return rc;
}

void http_api_dispatch(void *app, const struct http_req *req, struct http_resp *resp)
{
    struct http_api_ctx c;
    const struct http_api_route *route = http_api_route_of(&c, app, req, resp);
    if (!route)
        return;

    struct mb_err err = {0};
    c.db = http_api_db(c.api, &err);
    if (!c.db) {
        log_error("api: cannot open the database: %s", err.msg);
        if (route->handler == http_api_metrics_healthz) {
            struct json_w w;
            http_api_json_begin(&c, 503, &w);
            json_w_obj_begin(&w);
            json_w_kv_str(&w, "status", "error");
            json_w_kv_str(&w, "error", "database unavailable");
            json_w_obj_end(&w);
            http_api_json_end(&c, &w);
        } else {
            HTTP_API_ERROR(&c, 503, API_DATABASE_UNAVAILABLE);
        }
        return;
    }
    int need_auth = (route->flags & HTTP_API_AUTH) != 0;
    if (route->handler == http_api_metrics_get) {
        enum config_metrics m = c.api->cfg->server.metrics;
        if (m == CONFIG_METRICS_OFF) {
            HTTP_API_ERROR(&c, 404, API_NO_SUCH_ENDPOINT);
            goto out;
        }
        need_auth = m == CONFIG_METRICS_SESSION
                    || (m == CONFIG_METRICS_LOOPBACK && !http_api_loopback(c.client));
    }
    if (need_auth && http_api_authenticate(&c) != 0)
        goto out;
    if ((route->flags & HTTP_API_CSRF) && !c.bearer
        && !http_auth_csrf_ok(c.session.csrf, http_req_header(req, "X-CSRF-Token"))) {
        HTTP_API_ERROR(&c, 403, API_CSRF_TOKEN);
        goto out;
    }
    if ((route->flags & HTTP_API_ADMIN) && !c.user.admin) {
        HTTP_API_ERROR(&c, 403, API_ADMINISTRATORS_ONLY);
        goto out;
    }
    if (!http_api_type_ok(route, req)) {
        if (route->flags & HTTP_API_CSV)
            HTTP_API_ERROR(&c, 415, API_SEND_CSV);
        else
            HTTP_API_ERROR(&c, 415, API_SEND_JSON);
        goto out;
    }
    route->handler(&c);
out:
    db_user_fini(&c.user);
    db_session_fini(&c.session);
}
