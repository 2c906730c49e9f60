/* oauth: profiles, token requests, answer parsing with worded errors, token cache. */
#include "auth/oauth.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/jwt.h"
#include "base/xalloc.h"
#include "json/json_read.h"
#include "json/json_write.h"
#include "net/http_client.h"
#include "net/net_host.h"

enum auth_kind auth_kind_parse(const char *s)
{
    if (!s)
        return AUTH_KIND_NONE;
    if (strcmp(s, "microsoft365") == 0)
        return AUTH_KIND_MICROSOFT365;
    if (strcmp(s, "google") == 0)
        return AUTH_KIND_GOOGLE;
    if (strcmp(s, "imap-admin") == 0)
        return AUTH_KIND_IMAP_ADMIN;
    return AUTH_KIND_NONE;
}

const char *auth_kind_name(enum auth_kind k)
{
    switch (k) {
    case AUTH_KIND_MICROSOFT365: return "microsoft365";
    case AUTH_KIND_GOOGLE: return "google";
    case AUTH_KIND_IMAP_ADMIN: return "imap-admin";
    default: return "none";
    }
}

void auth_profile_fini(struct auth_profile *p)
{
    XFREE(p->name);
    XFREE(p->tenant);
    XFREE(p->client_id);
    XFREE(p->token_url);
    XFREE(p->source_host);
    XFREE(p->admin_user);
    XFREE(p->separator);
    secret_fini(&p->client_secret);
    secret_fini(&p->certificate);
    secret_fini(&p->private_key);
    secret_fini(&p->admin_password);
    memset(p, 0, sizeof(*p));
}

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static int set(const char *s)
{
    return s && s[0];
}

int auth_profile_validate(struct auth_profile *p, const char *sa_json, struct mb_err *err)
{
    if (!set(p->name) || strlen(p->name) > AUTH_PROFILE_NAME_MAX)
        return mb_err_set(err, MB_ECONFIG, "name: 1 to %d characters", AUTH_PROFILE_NAME_MAX);
    for (const char *q = p->name; *q; q++)
        if (!isalnum((unsigned char)*q) && !strchr("-_.", *q))
            return mb_err_set(err, MB_ECONFIG,
                              "name: only letters, digits, '-', '_' and '.' are allowed");
    const char *fields[] = {p->tenant,      p->client_id,  p->token_url,
                            p->source_host, p->admin_user, p->separator};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (fields[i] && (has_ctl(fields[i]) || strlen(fields[i]) > 1024))
            return mb_err_set(err, MB_ECONFIG, "a field has a control character or is too long");
    if (set(p->token_url)) {
        struct http_url u;
        if (http_url_parse(p->token_url, &u, err) || !u.tls)
            return mb_err_set(err, MB_ECONFIG, "token_url: an https:// URL is required");
    }
    if (set(p->source_host)) {
        char host[256];
        unsigned port;
        int why;
        if (net_host_parse(p->source_host, host, sizeof(host), &port, &why) != 0)
            return mb_err_set(err, MB_ECONFIG, "source_host: %s", msgcat[why].en);
    }
    switch (p->kind) {
    case AUTH_KIND_MICROSOFT365:
        if (!set(p->tenant))
            return mb_err_set(err, MB_ECONFIG,
                              "tenant: required (the directory's GUID or its "
                              "domain, e.g. contoso.onmicrosoft.com)");
        for (const char *q = p->tenant; *q; q++)
            if (!isalnum((unsigned char)*q) && !strchr("-.", *q))
                return mb_err_set(err, MB_ECONFIG, "tenant: a GUID or a domain name");
        if (!set(p->client_id))
            return mb_err_set(err, MB_ECONFIG,
                              "client_id: required (the application (client) "
                              "ID of the app registration)");
        if (p->client_secret.len && (p->certificate.len || p->private_key.len))
            return mb_err_set(err, MB_ECONFIG,
                              "give either client_secret or certificate + private_key, not both");
        if (!p->client_secret.len) {
            if (!p->certificate.len || !p->private_key.len)
                return mb_err_set(err, MB_ECONFIG,
                                  "client_secret, or certificate and private_key, required");
            char x5t[64];
            int rc = jwt_cert_thumbprints(p->certificate.data, x5t, NULL, err);
            if (rc)
                return mb_err_set(err, rc, "certificate: %s", err->msg);
            rc = jwt_key_check(p->private_key.data, err);
            if (rc)
                return mb_err_set(err, rc, "private_key: %s", err->msg);
            if (!jwt_cert_matches_key(p->certificate.data, p->private_key.data))
                return mb_err_set(err, MB_ECONFIG,
                                  "private_key: it is not the key of this certificate");
        } else if (has_ctl(p->client_secret.data) || p->client_secret.len > 1024) {
            return mb_err_set(err, MB_ECONFIG, "client_secret: not a valid secret value");
        }
        break;
    case AUTH_KIND_GOOGLE: {
        if (!sa_json && !p->private_key.len)
            return mb_err_set(err, MB_ECONFIG, "service_account: the JSON key file is required");
        if (sa_json) {
            struct json_value *v = NULL;
            struct mb_err je;
            if (json_parse(sa_json, strlen(sa_json), NULL, &v, &je) || v->type != JSON_OBJECT) {
                json_free(&v);
                return mb_err_set(err, MB_ECONFIG, "service_account: not a JSON key file");
            }
            const char *type = NULL, *email = NULL, *key = NULL;
            json_get_str(v, "type", &type);
            json_get_str(v, "client_email", &email);
            json_get_str(v, "private_key", &key);
            if (!type || strcmp(type, "service_account") != 0 || !email || !key) {
                json_free(&v);
                return mb_err_set(err, MB_ECONFIG,
                                  "service_account: not a service-account key (\"type\": "
                                  "\"service_account\" with client_email and private_key)");
            }
            XFREE(p->client_id);
            p->client_id = xstrdup(email);
            secret_fini(&p->private_key);
            secret_set(&p->private_key, key, strlen(key));
            json_free(&v);
        }
        if (!set(p->client_id) || has_ctl(p->client_id))
            return mb_err_set(err, MB_ECONFIG, "service_account: client_email is missing");
        int rc = jwt_key_check(p->private_key.data, err);
        if (rc)
            return mb_err_set(err, rc, "service_account: %s", err->msg);
        break;
    }
    case AUTH_KIND_IMAP_ADMIN:
        if (!set(p->admin_user))
            return mb_err_set(err, MB_ECONFIG, "admin_user: required");
        if (!p->admin_password.len)
            return mb_err_set(err, MB_ECONFIG, "admin_password: required");
        if (has_ctl(p->admin_password.data))
            return mb_err_set(err, MB_ECONFIG, "admin_password: no control characters");
        if (p->method == AUTH_ADMIN_SEPARATOR && set(p->separator) && strlen(p->separator) > 8)
            return mb_err_set(err, MB_ECONFIG, "separator: at most 8 characters");
        break;
    default: return mb_err_set(err, MB_ECONFIG, "kind: microsoft365, google or imap-admin");
    }
    return 0;
}

int auth_profile_secrets_json(const struct auth_profile *p, struct secret *out)
{
    struct buf b;
    buf_init(&b, 1u << 20);
    struct json_w w;
    json_w_init(&w, &b);
    json_w_obj_begin(&w);
    if (p->client_secret.len)
        json_w_kv_str(&w, "client_secret", p->client_secret.data);
    if (p->certificate.len)
        json_w_kv_str(&w, "certificate", p->certificate.data);
    if (p->private_key.len)
        json_w_kv_str(&w, "private_key", p->private_key.data);
    if (p->admin_password.len)
        json_w_kv_str(&w, "admin_password", p->admin_password.data);
    json_w_obj_end(&w);
    int rc = json_w_finish(&w);
    if (rc == 0)
        secret_set(out, b.data, b.len);
    if (b.data)
        secret_wipe(b.data, b.len);
    buf_fini(&b);
    return rc;
}

int auth_profile_secrets_load(struct auth_profile *p, const char *json, size_t len,
                              struct mb_err *err)
{
    struct json_value *v = NULL;
    if (json_parse(json, len, NULL, &v, NULL) || v->type != JSON_OBJECT) {
        json_free(&v);
        return mb_err_set(err, MB_ECRYPTO, "the profile's secrets are unreadable");
    }
    static const char *const keys[] = {"client_secret", "certificate", "private_key",
                                       "admin_password"};
    struct secret *dst[] = {&p->client_secret, &p->certificate, &p->private_key,
                            &p->admin_password};
    for (size_t i = 0; i < 4; i++) {
        const char *s = NULL;
        if (json_get_str(v, keys[i], &s) == 0) {
            secret_fini(dst[i]);
            secret_set(dst[i], s, strlen(s));
        }
    }
    json_free(&v);
    return 0;
}

char *oauth_token_url(const struct auth_profile *p)
{
    if (set(p->token_url))
        return xstrdup(p->token_url);
    if (p->kind == AUTH_KIND_MICROSOFT365)
        return xasprintf(OAUTH_MS_TOKEN_URL, p->tenant ? p->tenant : "");
    return xstrdup(OAUTH_GOOGLE_TOKEN_URL);
}

/* ---- request ---- */

static int oauth_jwt(const struct auth_profile *p, const char *mailbox, int64_t now, char **jwt_r,
                     struct mb_err *err)
{
    struct buf hb, cb;
    buf_init(&hb, 4096);
    buf_init(&cb, 8192);
    struct json_w w;
    char *aud = oauth_token_url(p);
    json_w_init(&w, &hb);
    json_w_obj_begin(&w);
    json_w_kv_str(&w, "alg", "RS256");
    json_w_kv_str(&w, "typ", "JWT");
    int rc = 0;
    if (p->kind == AUTH_KIND_MICROSOFT365) {
        char x5t[64], x5t256[64];
        rc = jwt_cert_thumbprints(p->certificate.data, x5t, x5t256, err);
        if (!rc) {
            json_w_kv_str(&w, "x5t", x5t);
            json_w_kv_str(&w, "x5t#S256", x5t256);
        }
    }
    json_w_obj_end(&w);
    unsigned char rnd[16];
    if (!rc)
        rc = secret_random(rnd, sizeof(rnd), err);
    if (!rc) {
        char *jti = jwt_b64url(rnd, sizeof(rnd));
        json_w_init(&w, &cb);
        json_w_obj_begin(&w);
        if (p->kind == AUTH_KIND_MICROSOFT365) {
            json_w_kv_str(&w, "aud", aud);
            json_w_kv_str(&w, "iss", p->client_id);
            json_w_kv_str(&w, "sub", p->client_id);
            json_w_kv_str(&w, "jti", jti);
            json_w_kv_int(&w, "nbf", now - 60);
            json_w_kv_int(&w, "iat", now);
            json_w_kv_int(&w, "exp", now + 600);
        } else {
            json_w_kv_str(&w, "iss", p->client_id);
            json_w_kv_str(&w, "sub", mailbox);
            json_w_kv_str(&w, "scope", OAUTH_GOOGLE_SCOPE);
            json_w_kv_str(&w, "aud", aud);
            json_w_kv_int(&w, "iat", now);
            json_w_kv_int(&w, "exp", now + 3600);
        }
        json_w_obj_end(&w);
        free(jti);
        if (json_w_finish(&w))
            rc = mb_err_set(err, MB_ECONFIG, "JWT claims too long");
    }
    if (!rc)
        rc = jwt_sign(p->private_key.data, JWT_RS256, buf_cstr(&hb), buf_cstr(&cb), jwt_r, err);
    free(aud);
    buf_fini(&hb);
    buf_fini(&cb);
    return rc;
}

int oauth_build_request(const struct auth_profile *p, const char *mailbox, int64_t now,
                        struct buf *body, struct mb_err *err)
{
    int rc = 0;
    char *jwt = NULL;
    if (p->kind == AUTH_KIND_MICROSOFT365) {
        rc = http_form_add(body, "client_id", p->client_id)
             || http_form_add(body, "scope", OAUTH_MS_SCOPE)
             || http_form_add(body, "grant_type", "client_credentials");
        if (!rc && p->client_secret.len) {
            rc = http_form_add(body, "client_secret", p->client_secret.data);
        } else if (!rc) {
            rc = oauth_jwt(p, NULL, now, &jwt, err);
            if (rc)
                return rc;
            rc = http_form_add(body, "client_assertion_type",
                               "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                 || http_form_add(body, "client_assertion", jwt);
        }
    } else if (p->kind == AUTH_KIND_GOOGLE) {
        if (!set(mailbox))
            return mb_err_set(err, MB_ECONFIG, "a Google token needs the mailbox address");
        rc = oauth_jwt(p, mailbox, now, &jwt, err);
        if (rc)
            return rc;
        rc = http_form_add(body, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
             || http_form_add(body, "assertion", jwt);
    } else {
        return mb_err_set(err, MB_ECONFIG, "profile kind %s has no token", auth_kind_name(p->kind));
    }
    if (jwt) {
        secret_wipe(jwt, strlen(jwt));
        free(jwt);
    }
    if (rc)
        return mb_err_set(err, MB_ETOOBIG, "token request too long");
    return 0;
}

/* ---- answer ---- */

/* Copy at most n printable ASCII characters of s (first line only) into out. */
static void clean_copy(char *out, size_t outsz, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; s && s[i] && i < n && o + 1 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n')
            break;
        out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[o] = '\0';
}

/* The AADSTS number at the start of a Microsoft error description (0 if none). */
static long aadsts_code(const char *desc, const struct json_value *obj)
{
    if (desc) {
        const char *q = strstr(desc, "AADSTS");
        if (q && isdigit((unsigned char)q[6]))
            return strtol(q + 6, NULL, 10);
    }
    const struct json_value *codes = json_obj_get(obj, "error_codes");
    if (codes && codes->type == JSON_ARRAY && codes->n > 0 && codes->items[0].type == JSON_NUMBER
        && codes->items[0].is_int && codes->items[0].i > 0 && codes->items[0].i < 100000000)
        return (long)codes->items[0].i;
    return 0;
}

static int ms_error(int status, const char *error, const char *desc, long code,
                    const char *client_id, struct mb_err *err)
{
    char d[120];
    clean_copy(d, sizeof(d), desc, 110);
    const char *cid = client_id ? client_id : "?";
    switch (code) {
    case 7000215: return MB_MSG0(err, MB_EAUTH, OAUTH_MS_SECRET_ID);
    case 7000222: return MB_MSG0(err, MB_EAUTH, OAUTH_MS_SECRET_EXPIRED);
    case 700016: {
        char app[61];
        snprintf(app, sizeof(app), "%s", cid);
        return MB_MSG(err, MB_EAUTH, OAUTH_MS_UNKNOWN_APP, app);
    }
    case 90002:
    case 900023: return MB_MSG(err, MB_EAUTH, OAUTH_MS_TENANT, code);
    case 700027:
    case 700024:
    case 7000274: return MB_MSG(err, MB_EAUTH, OAUTH_MS_ASSERTION, code);
    case 65001:
    case 7000112: return MB_MSG(err, MB_EAUTH, OAUTH_MS_CONSENT, code);
    case 70011:
    case 1002012: return MB_MSG(err, MB_EAUTH, OAUTH_MS_SCOPE_REFUSED, code);
    default: break;
    }
    if (error && strcmp(error, "invalid_client") == 0)
        return MB_MSG(err, MB_EAUTH, OAUTH_MS_INVALID_CLIENT, d);
    char e[48];
    clean_copy(e, sizeof(e), error ? error : "?", 40);
    return MB_MSG(err, MB_EAUTH, OAUTH_MS_REFUSED, status, e, d);
}

static int google_error(int status, const char *error, const char *desc, const char *client_id,
                        const char *mailbox, struct mb_err *err)
{
    char d[120];
    clean_copy(d, sizeof(d), desc, 110);
    const char *mb = mailbox ? mailbox : "?";
    if (error && strcmp(error, "unauthorized_client") == 0)
        return MB_MSG0(err, MB_EAUTH, OAUTH_GOOGLE_DELEGATION);
    if (error && strcmp(error, "invalid_grant") == 0) {
        if (desc && (strstr(desc, "Invalid email") || strstr(desc, "User ID"))) {
            char login[101];
            snprintf(login, sizeof(login), "%s", mb);
            return MB_MSG(err, MB_EAUTH, OAUTH_GOOGLE_NO_MAILBOX, login, d);
        }
        return MB_MSG(err, MB_EAUTH, OAUTH_GOOGLE_INVALID_GRANT, d);
    }
    if (error && strcmp(error, "invalid_client") == 0) {
        char account[81];
        snprintf(account, sizeof(account), "%s", client_id ? client_id : "?");
        return MB_MSG(err, MB_EAUTH, OAUTH_GOOGLE_INVALID_CLIENT, account, d);
    }
    char e[48];
    clean_copy(e, sizeof(e), error ? error : "?", 40);
    return MB_MSG(err, MB_EAUTH, OAUTH_GOOGLE_REFUSED, status, e, d);
}

int oauth_parse_answer(enum auth_kind kind, int status, const char *content_type, const char *body,
                       size_t len, const char *client_id, const char *mailbox,
                       struct secret *token_r, int64_t *expires_in_r, struct mb_err *err)
{
    const char *who = kind == AUTH_KIND_GOOGLE ? "Google" : "Microsoft 365";
    if (status >= 500 || status == 429)
        return MB_MSG(err, MB_ECONN, OAUTH_UNAVAILABLE, who, status);
    int is_json =
        content_type
        && (strncmp(content_type, "application/json", 16) == 0 || strstr(content_type, "+json"));
    if (!is_json) {
        char ct[48];
        clean_copy(ct, sizeof(ct), content_type && content_type[0] ? content_type : "none", 40);
        return MB_MSG(err, MB_EPROTO, OAUTH_NOT_JSON, who, status, ct);
    }
    struct json_limits lim = {.max_bytes = 256u * 1024, .max_depth = 8, .max_values = 4096};
    struct json_value *v = NULL;
    struct mb_err je;
    if (json_parse(body, len, &lim, &v, &je) || v->type != JSON_OBJECT) {
        json_free(&v);
        return MB_MSG(err, MB_EPROTO, OAUTH_MALFORMED, who, status);
    }
    int rc;
    const char *error = NULL, *desc = NULL;
    json_get_str(v, "error", &error);
    json_get_str(v, "error_description", &desc);
    if (status != 200 || error) {
        if (!error && status >= 200 && status < 300)
            rc = MB_MSG(err, MB_EPROTO, OAUTH_HTTP, who, status);
        else if (kind == AUTH_KIND_GOOGLE)
            rc = google_error(status, error, desc, client_id, mailbox, err);
        else
            rc = ms_error(status, error, desc, aadsts_code(desc, v), client_id, err);
        json_free(&v);
        return rc;
    }
    const char *tok = NULL, *type = NULL;
    int64_t exp = 0;
    int erc = json_get_int(v, "expires_in", &exp);
    if (erc == JSON_ETYPE) { /* some endpoints send "3599" */
        const char *es = NULL;
        if (json_get_str(v, "expires_in", &es) == 0 && es[0] && strlen(es) < 10
            && strspn(es, "0123456789") == strlen(es))
            exp = atoll(es), erc = 0;
    }
    if (json_get_str(v, "access_token", &tok) != 0 || !tok[0] || strlen(tok) > 16384)
        rc = mb_err_set(err, MB_EPROTO, "the %s token endpoint's answer has no access_token", who);
    else if (json_get_str(v, "token_type", &type) != 0 || strcasecmp(type, "Bearer") != 0)
        rc =
            mb_err_set(err, MB_EPROTO, "the %s token endpoint's answer is not a Bearer token", who);
    else if (erc != 0 || exp <= 0 || exp > 86400 * 30)
        rc = mb_err_set(err, MB_EPROTO, "the %s token endpoint's answer has no valid expires_in",
                        who);
    else {
        rc = 0;
        for (const char *q = tok; *q; q++)
            if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
                rc = mb_err_set(err, MB_EPROTO,
                                "the %s token endpoint's access_token has invalid characters", who);
    }
    if (rc == 0) {
        secret_set(token_r, tok, strlen(tok));
        *expires_in_r = exp;
    }
    json_free(&v);
    return rc;
}

/* ---- cache ---- */

struct oauth_entry {
    struct oauth_entry *next;
    char *key; /* name \n created_at \n tenant-or-mailbox */
    char *name;
    pthread_mutex_t lock; /* held while fetching */
    struct secret token;
    int64_t expires; /* unix seconds */
    int64_t lifetime;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct oauth_entry *cache_head;

int64_t oauth_renew_margin(int64_t lifetime)
{
    int64_t m = lifetime / 5;
    if (m > 300)
        m = 300;
    if (m < 1)
        m = 1;
    return m;
}

static struct oauth_entry *cache_entry(const char *key, const char *name)
{
    pthread_mutex_lock(&cache_lock);
    struct oauth_entry *e;
    for (e = cache_head; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            break;
    if (!e) {
        e = xcalloc(1, sizeof(*e));
        e->key = xstrdup(key);
        e->name = xstrdup(name);
        pthread_mutex_init(&e->lock, NULL);
        e->next = cache_head;
        cache_head = e;
    }
    pthread_mutex_unlock(&cache_lock);
    return e;
}

static int oauth_fetch(const struct auth_profile *p, const char *mailbox,
                       const struct oauth_env *env, struct secret *tok, int64_t *exp_r,
                       struct mb_err *err)
{
    struct buf body;
    buf_init(&body, 64u * 1024);
    int rc = oauth_build_request(p, mailbox, (int64_t)time(NULL), &body, err);
    char *url = oauth_token_url(p);
    if (!rc) {
        struct http_request rq = {
            .url = url,
            .content_type = "application/x-www-form-urlencoded",
            .body = body.data,
            .body_len = body.len,
            .ca_file = env ? env->ca_file : NULL,
            .connect_timeout_ms = env ? env->connect_timeout_ms : 0,
            .io_timeout_ms = env ? env->io_timeout_ms : 0,
            .deadline_ms = env ? env->deadline_ms : 0,
            .max_body = 64u * 1024,
        };
        struct http_response resp;
        rc = http_post(&rq, &resp, err);
        if (rc) {
            struct http_url u;
            http_url_parse(url, &u, NULL);
            char host[81];
            snprintf(host, sizeof(host), "%.80s", u.host);
            rc = MB_MSG(err, rc == MB_ETOOBIG ? MB_EPROTO : rc, OAUTH_CANNOT_GET, host, err);
        } else {
            rc = oauth_parse_answer(p->kind, resp.status, resp.content_type, resp.body,
                                    resp.body_len, p->client_id, mailbox, tok, exp_r, err);
        }
        http_response_fini(&resp);
    }
    free(url);
    if (body.data)
        secret_wipe(body.data, body.len);
    buf_fini(&body);
    return rc;
}

int oauth_get_token(const struct auth_profile *p, const char *mailbox, const struct oauth_env *env,
                    int force, struct secret *token_r, int *fresh_r, struct mb_err *err)
{
    if (fresh_r)
        *fresh_r = 0;
    if (p->kind != AUTH_KIND_MICROSOFT365 && p->kind != AUTH_KIND_GOOGLE)
        return mb_err_set(err, MB_ECONFIG, "profile %s does not use tokens", p->name);
    char *key = xasprintf("%s\n%lld\n%s", p->name, (long long)p->created_at,
                          p->kind == AUTH_KIND_GOOGLE ? (mailbox ? mailbox : "")
                                                      : (p->tenant ? p->tenant : ""));
    struct oauth_entry *e = cache_entry(key, p->name);
    free(key);
    pthread_mutex_lock(&e->lock);
    int64_t now = (int64_t)time(NULL);
    int rc = 0;
    if (force || !e->token.len || e->expires - now <= oauth_renew_margin(e->lifetime)) {
        struct secret tok = {0};
        int64_t exp = 0;
        rc = oauth_fetch(p, mailbox, env, &tok, &exp, err);
        if (rc == 0) {
            secret_fini(&e->token);
            e->token = tok;
            e->lifetime = exp;
            e->expires = (int64_t)time(NULL) + exp;
            if (fresh_r)
                *fresh_r = 1;
        }
    }
    if (rc == 0)
        secret_set(token_r, e->token.data, e->token.len);
    pthread_mutex_unlock(&e->lock);
    return rc;
}

void oauth_cache_forget(const char *name)
{
    pthread_mutex_lock(&cache_lock);
    for (struct oauth_entry *e = cache_head; e; e = e->next) {
        if (strcmp(e->name, name) != 0)
            continue;
        pthread_mutex_lock(&e->lock);
        secret_fini(&e->token);
        e->expires = 0;
        pthread_mutex_unlock(&e->lock);
    }
    pthread_mutex_unlock(&cache_lock);
}

void oauth_cache_clear(void)
{
    pthread_mutex_lock(&cache_lock);
    struct oauth_entry *e = cache_head;
    cache_head = NULL;
    pthread_mutex_unlock(&cache_lock);
    while (e) {
        struct oauth_entry *n = e->next;
        secret_fini(&e->token);
        pthread_mutex_destroy(&e->lock);
        free(e->key);
        free(e->name);
        free(e);
        e = n;
    }
}
