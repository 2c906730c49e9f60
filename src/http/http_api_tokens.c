/* API tokens: GET /api/tokens, POST /api/tokens, DELETE /api/tokens/{id} (db_token.h).
 * A token is shown once, in the 201 answer; only its SHA-256 is stored. Tokens are created
 * from a signed-in session, never with another token. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "auth/jwt.h"
#include "base/secret.h"
#include "base/xalloc.h"
#include "db/db_token.h"
#include "http_api_internal.h"
#include "log/log.h"

static void http_api_tokens_write(struct json_w *w, const struct db_token *t)
{
    json_w_kv_int(w, "id", t->id);
    json_w_kv_str(w, "name", t->name);
    http_api_w_time(w, "created_at", t->created_at);
    http_api_w_time(w, "last_used_at", t->last_used_at);
}

void http_api_tokens_list(struct http_api_ctx *c)
{
    struct db_token *v = NULL;
    size_t n = 0;
    struct mb_err err = {0};
    if (db_token_list(c->db, c->user.id, &v, &n, &err) != 0) {
        http_api_internal(c, "token list", &err);
        return;
    }
    struct json_w w;
    http_api_json_begin(c, 200, &w);
    json_w_obj_begin(&w);
    json_w_key(&w, "tokens");
    json_w_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        json_w_obj_begin(&w);
        http_api_tokens_write(&w, &v[i]);
        json_w_obj_end(&w);
    }
    json_w_arr_end(&w);
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
    db_tokens_free(v, n);
}

void http_api_tokens_create(struct http_api_ctx *c)
{
    if (c->bearer) {
        HTTP_API_ERROR(c, 403, API_TOKEN_NEEDS_SESSION);
        return;
    }
    struct json_value *body = http_api_body_object(c, NULL);
    if (!body)
        return;
    const char *name = NULL;
    for (size_t i = 0; i < body->n; i++)
        if (strcmp(body->members[i].key, "name") != 0)
            http_api_field_error(c, NULL, c->fr ? "champ inconnu : %.40s" : "unknown field: %.40s",
                                 body->members[i].key);
    if (json_get_str(body, "name", &name) != 0 || !*name || strlen(name) > DB_TOKEN_NAME_MAX)
        http_api_field_error(c, "name", c->fr ? "de 1 à %d octets" : "1 to %d bytes",
                             DB_TOKEN_NAME_MAX);
    if (c->n_ferr) {
        http_api_field_errors(c);
        json_free(&body);
        return;
    }
    unsigned char raw[32], hash[32];
    struct mb_err err = {0};
    if (secret_random(raw, sizeof(raw), &err) != 0) {
        http_api_internal(c, "token", &err);
        json_free(&body);
        return;
    }
    char *b64 = jwt_b64url(raw, sizeof(raw));
    secret_wipe(raw, sizeof(raw));
    size_t tl = strlen(b64) + 5;
    char *token = xmalloc(tl);
    memcpy(token, "mbx_", 4);
    memcpy(token + 4, b64, tl - 4);
    secret_wipe(b64, strlen(b64));
    free(b64);
    mbedtls_sha256((const unsigned char *)token, strlen(token), hash, 0);
    int64_t id = 0;
    int rc = db_token_add(c->db, c->user.id, name, hash, &id, &err);
    if (rc == MB_ETOOBIG) {
        HTTP_API_ERROR(c, 409, API_TOKEN_TOO_MANY);
    } else if (rc) {
        http_api_internal(c, "token add", &err);
    } else {
        log_info("api: API token %" PRId64 " (%s) created by %s", id, name, c->user.name);
        struct db_token t = {
            .id = id, .account_id = c->user.id, .name = xstrdup(name), .created_at = c->now};
        struct json_w w;
        http_api_json_begin(c, 201, &w);
        json_w_obj_begin(&w);
        http_api_tokens_write(&w, &t);
        json_w_kv_str(&w, "token", token); /* shown this once */
        json_w_obj_end(&w);
        http_api_json_end(c, &w);
        free(t.name);
    }
    secret_wipe(token, strlen(token));
    free(token);
    json_free(&body);
}

void http_api_tokens_delete(struct http_api_ctx *c)
{
    struct mb_err err = {0};
    int rc = db_token_delete(c->db, c->user.id, c->id, &err);
    if (rc == MB_ENOTFOUND) {
        HTTP_API_ERROR(c, 404, API_NO_SUCH_TOKEN);
        return;
    }
    if (rc) {
        http_api_internal(c, "token revoke", &err);
        return;
    }
    log_info("api: API token %" PRId64 " revoked by %s", c->id, c->user.name);
    buf_reset(&c->resp->body);
    c->resp->status = 204;
}
