/* Sign-in, session probe and sign-out: /api/session. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/secret.h"
#include "http_api_internal.h"
#include "log/log.h"

static void http_api_session_write(struct http_api_ctx *c, const struct db_user *u,
                                   const char *csrf)
{
    struct json_w w;
    http_api_json_begin(c, 200, &w);
    json_w_obj_begin(&w);
    json_w_kv_str(&w, "username", u->name);
    json_w_kv_bool(&w, "admin", u->admin);
    json_w_key(&w, "domains");
    json_w_arr_begin(&w);
    for (size_t i = 0; i < u->n_domains; i++)
        json_w_str(&w, u->domains[i]);
    json_w_arr_end(&w);
    json_w_kv_str(&w, "csrf", csrf);
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
}

void http_api_session_get(struct http_api_ctx *c)
{
    http_api_session_write(c, &c->user, c->session.csrf);
}

static void http_api_session_throttled(struct http_api_ctx *c, int64_t wait)
{
    char n[24];
    snprintf(n, sizeof(n), "%" PRId64, wait);
    http_resp_header(c->resp, "Retry-After", n);
    struct json_w w;
    http_api_json_begin(c, 429, &w);
    json_w_obj_begin(&w);
    json_w_kv_str(&w, "error", http_api_text(c, MSG_API_SIGNIN_THROTTLED));
    json_w_kv_str(&w, "code", msgcat[MSG_API_SIGNIN_THROTTLED].code);
    json_w_key(&w, "params");
    json_w_obj_begin(&w);
    json_w_obj_end(&w);
    json_w_kv_int(&w, "retry_after", wait);
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
}

void http_api_session_post(struct http_api_ctx *c)
{
    struct http_api *api = c->api;
    struct json_value *body = http_api_body_object(c, NULL);
    if (!body)
        return;
    const char *name = NULL, *password = NULL;
    if (json_get_str(body, "username", &name) != 0 || !*name)
        HTTP_API_FIELD(c, "username", API_USER_NAME_REQUIRED);
    if (json_get_str(body, "password", &password) != 0 || !*password)
        HTTP_API_FIELD(c, "password", API_PASSWORD_REQUIRED);
    if (c->n_ferr) {
        http_api_field_errors(c);
        goto out;
    }
    /* Oversized fields are refused before anything is counted or hashed: junk cannot fill
     * the throttling table. */
    if (strlen(name) > DB_USER_NAME_MAX)
        HTTP_API_FIELD(c, "username", API_USER_NAME_TOO_LONG);
    if (strlen(password) > PWHASH_MAX_PASSWORD)
        HTTP_API_FIELD(c, "password", API_PASSWORD_TOO_LONG);
    if (c->n_ferr) {
        http_api_field_errors(c);
        goto out;
    }
    const char *peer = c->client;
    struct http_auth_ticket ticket;
    int64_t wait = http_auth_begin(&api->auth, name, peer, c->now, &ticket);
    if (wait > 0) {
        log_warn("api: sign-in refused (throttled) from %s", *peer ? peer : "?");
        http_api_session_throttled(c, wait);
        goto out;
    }
    if (http_auth_gate_enter(&api->auth, ticket.known) != 0) {
        http_auth_end(&api->auth, &ticket, HTTP_AUTH_ABANDONED, c->now);
        log_warn("api: sign-in refused (too many at once) from %s", *peer ? peer : "?");
        http_resp_header(c->resp, "Retry-After", "1");
        HTTP_API_ERROR(c, 503, API_SIGNIN_BUSY);
        goto out;
    }
    struct db_user u;
    struct mb_err err = {0};
    size_t plen = strlen(password);
    int ok = http_auth_verify(&api->auth, c->db, name, password, plen, &u, &err);
    http_auth_gate_leave(&api->auth);
    if (ok < 0) {
        http_auth_end(&api->auth, &ticket, HTTP_AUTH_ABANDONED, c->now);
        http_api_internal(c, "sign-in", &err);
        goto out;
    }
    if (!ok) {
        http_auth_end(&api->auth, &ticket, HTTP_AUTH_FAILED, (int64_t)time(NULL));
        log_warn("api: sign-in failed from %s", *peer ? peer : "?");
        HTTP_API_ERROR(c, 401, API_SIGNIN_REFUSED);
        goto out;
    }
    http_auth_end(&api->auth, &ticket, HTTP_AUTH_SUCCEEDED, c->now);
    char token[HTTP_AUTH_TOKEN_LEN + 1], csrf[HTTP_AUTH_TOKEN_LEN + 1];
    int ttl = api->cfg->server.session_ttl;
    db_session_expire(c->db, c->now, NULL, NULL);
    int rc = http_auth_session_new(c->db, u.id, c->now, ttl, token, csrf, &err);
    if (rc) {
        db_user_fini(&u);
        http_api_internal(c, "session create", &err);
        goto out;
    }
    char cookie[HTTP_AUTH_COOKIE_MAX];
    http_auth_cookie(cookie, token, ttl, c->req->https);
    http_resp_header(c->resp, "Set-Cookie", cookie);
    secret_wipe(token, sizeof(token));
    secret_wipe(cookie, sizeof(cookie));
    log_info("api: %s signed in from %s", u.name, *peer ? peer : "?");
    http_api_session_write(c, &u, csrf);
    db_user_fini(&u);
out:
    json_free(&body);
}

void http_api_session_delete(struct http_api_ctx *c)
{
    struct mb_err err = {0};
    if (c->bearer) { /* an API token has no session: revoke it with DELETE /api/tokens/{id} */
        buf_reset(&c->resp->body);
        c->resp->status = 204;
        return;
    }
    if (http_auth_session_end(c->db, c->token, &err) != 0) {
        http_api_internal(c, "sign-out", &err);
        return;
    }
    char cookie[HTTP_AUTH_COOKIE_MAX];
    http_auth_cookie(cookie, NULL, 0, c->req->https);
    http_resp_header(c->resp, "Set-Cookie", cookie);
    buf_reset(&c->resp->body);
    c->resp->status = 204;
}
