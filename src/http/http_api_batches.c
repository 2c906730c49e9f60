/* Batches: GET /api/batches, GET|PATCH /api/batches/{id},
 * POST /api/batches/{id}/delta|retry-failed|cancel|finalize (db_batch.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_batch.h"
#include "http_api_internal.h"
#include "jobs/jobs.h"
#include "log/log.h"

/* "24h", "90m", "2d", "45s": the shortest exact form of seconds. */
static void http_api_batches_duration(int64_t s, char *out, size_t n)
{
    if (s % 86400 == 0)
        snprintf(out, n, "%" PRId64 "d", s / 86400);
    else if (s % 3600 == 0)
        snprintf(out, n, "%" PRId64 "h", s / 3600);
    else if (s % 60 == 0)
        snprintf(out, n, "%" PRId64 "m", s / 60);
    else
        snprintf(out, n, "%" PRId64 "s", s);
}

/* "24h" etc. (a number with an optional s, m, h or d) into seconds; -1 if not one. */
static int64_t http_api_batches_parse_duration(const char *s)
{
    int64_t v = 0;
    size_t n = 0;
    for (; *s >= '0' && *s <= '9'; s++, n++) {
        if (n >= 9)
            return -1;
        v = v * 10 + (*s - '0');
    }
    if (n == 0)
        return -1;
    int64_t unit = 1;
    if (*s == 's' || *s == 'm' || *s == 'h' || *s == 'd') {
        unit = *s == 's' ? 1 : *s == 'm' ? 60 : *s == 'h' ? 3600 : 86400;
        s++;
    }
    return *s ? -1 : v * unit;
}

void http_api_batches_write(struct http_api_ctx *c, struct json_w *w, const struct db_batch *b,
                            const char *owner)
{
    const struct db_job_counters *p = &b->progress;
    json_w_obj_begin(w);
    json_w_kv_int(w, "id", b->id);
    http_api_w_time(w, "created_at", b->created_at);
    json_w_kv_str(w, "owner", owner);
    json_w_kv_str(w, "filename", b->filename);
    json_w_key(w, "jobs");
    json_w_obj_begin(w);
    for (int s = DB_JOB_PENDING; s <= DB_JOB_DONE; s++)
        json_w_kv_int(w, db_job_state_name((enum db_job_state)s), b->counts[s]);
    json_w_kv_int(w, "total", b->counts[DB_JOB_ANY]);
    json_w_obj_end(w);
    json_w_key(w, "progress");
    json_w_obj_begin(w);
    http_api_w_progress(w, p);
    json_w_obj_end(w);
    json_w_kv_int(w, "credentials_kept", b->n_credentials);
    http_api_w_time(w, "credentials_kept_until",
                    b->n_credentials && !b->finalized_at
                        ? b->credentials_since + c->api->cfg->server.credential_retention
                        : 0);
    json_w_kv_bool(w, "finalized", b->finalized_at != 0);
    http_api_w_time(w, "finalized_at", b->finalized_at);
    char every[32];
    if (b->sync_every > 0)
        http_api_batches_duration(b->sync_every, every, sizeof(every));
    json_w_kv_str(w, "sync_every", b->sync_every > 0 ? every : NULL);
    http_api_w_time(w, "next_sync_at", b->sync_every > 0 ? b->next_sync_at : 0);
    json_w_obj_end(w);
}

/* 1 if the signed-in account may see batch b: an admin, or every destination domain of its
 * jobs is one of the account's (an empty batch: its owner). */
static int http_api_batches_visible(const struct http_api_ctx *c, const struct db_batch *b)
{
    if (c->user.admin)
        return 1;
    if (b->n_domains == 0)
        return b->account_id == c->user.id;
    for (size_t i = 0; i < b->n_domains; i++)
        if (!http_api_domain_visible(c, b->domains[i]))
            return 0;
    return 1;
}

int http_api_batches_load(struct http_api_ctx *c, int64_t id, struct db_batch *b)
{
    struct mb_err err = {0};
    int rc = db_batch_get(c->db, id, c->now, b, &err);
    if (rc == 0 && !http_api_batches_visible(c, b)) {
        db_batch_fini(b);
        rc = MB_ENOTFOUND;
    }
    if (rc == MB_ENOTFOUND) {
        HTTP_API_ERROR(c, 404, API_NO_SUCH_BATCH);
        return -1;
    }
    if (rc) {
        http_api_internal(c, "batch read", &err);
        return -1;
    }
    return 0;
}

/* Answer status: {extra counters..., "batch": the batch re-read}. */
static void http_api_batches_answer(struct http_api_ctx *c, const char *k1, int64_t v1,
                                    const char *k2, int64_t v2)
{
    struct db_batch b;
    struct mb_err err = {0};
    if (db_batch_get(c->db, c->id, c->now, &b, &err) != 0) {
        http_api_internal(c, "batch read", &err);
        return;
    }
    struct http_api_owner_cache oc = {.n = 0};
    struct json_w w;
    http_api_json_begin(c, 200, &w);
    json_w_obj_begin(&w);
    if (k1)
        json_w_kv_int(&w, k1, v1);
    if (k2)
        json_w_kv_int(&w, k2, v2);
    json_w_key(&w, "batch");
    http_api_batches_write(c, &w, &b, http_api_jobs_owner(c, &oc, b.account_id));
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
    http_api_jobs_owner_fini(&oc);
    db_batch_fini(&b);
}

void http_api_batches_list(struct http_api_ctx *c)
{
    int64_t *ids = NULL;
    size_t n = 0;
    struct mb_err err = {0};
    if (db_batch_ids(c->db, &ids, &n, &err) != 0) {
        http_api_internal(c, "batch list", &err);
        return;
    }
    struct http_api_owner_cache oc = {.n = 0};
    struct json_w w;
    http_api_json_begin(c, 200, &w);
    json_w_obj_begin(&w);
    json_w_key(&w, "batches");
    json_w_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        struct db_batch b;
        if (db_batch_get(c->db, ids[i], c->now, &b, &err) != 0)
            continue; /* deleted meanwhile */
        if (http_api_batches_visible(c, &b))
            http_api_batches_write(c, &w, &b, http_api_jobs_owner(c, &oc, b.account_id));
        db_batch_fini(&b);
    }
    json_w_arr_end(&w);
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
    http_api_jobs_owner_fini(&oc);
    free(ids);
}

void http_api_batches_get(struct http_api_ctx *c)
{
    struct db_batch b;
    if (http_api_batches_load(c, c->id, &b) != 0)
        return;
    struct http_api_owner_cache oc = {.n = 0};
    struct json_w w;
    http_api_json_begin(c, 200, &w);
    http_api_batches_write(c, &w, &b, http_api_jobs_owner(c, &oc, b.account_id));
    http_api_json_end(c, &w);
    http_api_jobs_owner_fini(&oc);
    db_batch_fini(&b);
}

static void http_api_batches_finalized(struct http_api_ctx *c)
{
    HTTP_API_ERROR(c, 409, API_BATCH_FINALIZED_PASS);
}

static void http_api_batches_pass(struct http_api_ctx *c, int only_failed)
{
    struct db_batch b;
    if (http_api_batches_load(c, c->id, &b) != 0)
        return;
    db_batch_fini(&b);
    int64_t queued = 0, bare = 0;
    struct mb_err err = {0};
    int rc = db_batch_pass(c->db, c->id, only_failed, &queued, &bare, &err);
    if (rc == MB_ECONFIG) {
        http_api_batches_finalized(c);
        return;
    }
    if (rc) {
        http_api_internal(c, "batch pass", &err);
        return;
    }
    if (queued && c->api->pool)
        jobs_wake(c->api->pool);
    log_info("api: batch %" PRId64 ": %s of %" PRId64 " job(s) queued by %s", c->id,
             only_failed ? "retry of failed jobs" : "delta pass", queued, c->user.name);
    http_api_batches_answer(c, "queued", queued, "without_credentials", bare);
}

void http_api_batches_delta(struct http_api_ctx *c)
{
    http_api_batches_pass(c, 0);
}

void http_api_batches_retry_failed(struct http_api_ctx *c)
{
    http_api_batches_pass(c, 1);
}

void http_api_batches_cancel(struct http_api_ctx *c)
{
    struct db_batch b;
    if (http_api_batches_load(c, c->id, &b) != 0)
        return;
    db_batch_fini(&b);
    int64_t n = 0;
    struct mb_err err = {0};
    if (db_batch_cancel(c->db, c->id, &n, &err) != 0) {
        http_api_internal(c, "batch cancel", &err);
        return;
    }
    log_info("api: batch %" PRId64 ": %" PRId64 " job(s) cancelled by %s", c->id, n, c->user.name);
    http_api_batches_answer(c, "cancelled", n, NULL, 0);
}

void http_api_batches_finalize(struct http_api_ctx *c)
{
    struct db_batch b;
    if (http_api_batches_load(c, c->id, &b) != 0)
        return;
    db_batch_fini(&b);
    struct mb_err err = {0};
    int rc = db_batch_finalize(c->db, c->id, &err);
    if (rc == MB_ECONFIG) {
        HTTP_API_ERROR(c, 409, API_BATCH_BUSY);
        return;
    }
    if (rc) {
        http_api_internal(c, "batch finalize", &err);
        return;
    }
    log_info("api: batch %" PRId64 " finalized (credentials erased) by %s", c->id, c->user.name);
    http_api_batches_answer(c, NULL, 0, NULL, 0);
}

void http_api_batches_patch(struct http_api_ctx *c)
{
    struct json_value *body = http_api_body_object(c, NULL);
    if (!body)
        return;
    struct db_batch b;
    memset(&b, 0, sizeof(b));
    int64_t every = -1;
    for (size_t i = 0; i < body->n; i++) {
        const struct json_member *m = &body->members[i];
        if (strcmp(m->key, "sync_every") != 0) {
            http_api_field_error(c, NULL, c->fr ? "champ inconnu : %.40s" : "unknown field: %.40s",
                                 m->key);
            continue;
        }
        if (m->value.type == JSON_NULL)
            every = 0;
        else if (m->value.type == JSON_STRING)
            every = http_api_batches_parse_duration(m->value.str);
        if (every < 0) {
            HTTP_API_FIELD(c, "sync_every", API_DURATION_OR_NULL);
            continue;
        }
        int64_t min = c->api->cfg->server.sync_min_interval;
        if (every > 0 && (every < min || every > 3650LL * 86400)) {
            char d[32];
            http_api_batches_duration(min, d, sizeof(d));
            http_api_field_error(c, "sync_every",
                                 c->fr ? "au moins %s ([server] sync_min_interval)"
                                       : "at least %s ([server] sync_min_interval)",
                                 d);
        }
    }
    if (!c->n_ferr && every < 0)
        HTTP_API_FIELD(c, "sync_every", API_MISSING);
    if (c->n_ferr) {
        http_api_field_errors(c);
        goto out;
    }
    if (http_api_batches_load(c, c->id, &b) != 0)
        goto out;
    struct mb_err err = {0};
    int rc = db_batch_set_sync(c->db, c->id, every, c->now + every, &err);
    if (rc == MB_ECONFIG) {
        http_api_batches_finalized(c);
        goto out;
    }
    if (rc) {
        http_api_internal(c, "batch sync", &err);
        goto out;
    }
    log_info("api: batch %" PRId64 ": automatic passes every %" PRId64 " s (0 = none) set by %s",
             c->id, every, c->user.name);
    if (c->api->pool)
        jobs_wake(c->api->pool);
    http_api_batches_answer(c, NULL, 0, NULL, 0);
out:
    db_batch_fini(&b);
    json_free(&body);
}
