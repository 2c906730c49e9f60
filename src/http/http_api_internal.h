/* http_api_internal: what the http_api*.c files share (not a public interface).
 *
 * A handler gets a struct http_api_ctx: the request, the response to fill, the thread's database
 * handle and, for routes that need a session, the signed-in account. Handlers write their
 * answer with the http_api_* helpers below; every JSON body goes through json_write. */
#ifndef MB_HTTP_API_INTERNAL_H
#define MB_HTTP_API_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/buf.h"
#include "base/secret.h"
#include "config/config.h"
#include "db/db.h"
#include "db/db_job.h"
#include "db/db_user.h"
#include "http/http_auth.h"
#include "http/http_server.h"
#include "json/json_read.h"
#include "json/json_write.h"
#include "migrate/mig_preset.h"
#include "net/net_policy.h"

#define HTTP_API_MAX_FIELD_ERRORS 16
#define HTTP_API_LOGIN_MAX 1024             /* source login, bytes */
#define HTTP_API_PASSWORD_MAX 1024          /* source password, bytes */
#define HTTP_API_ADDRESS_MAX 320            /* destination address, bytes */
#define HTTP_API_NAME_MAX 64                /* {name} in a route (authentication profile) */
#define HTTP_API_SIGNIN_BODY_MAX 4096       /* POST /api/session, read before any session */
#define HTTP_API_JSON_BODY_MAX (256 * 1024) /* other JSON bodies (after the session check) */

struct jobs;

#define HTTP_API_DB_IDLE 16

struct http_api {
    const struct config *cfg;
    char *db_path;
    const struct secret_box *box;
    struct jobs *pool;
    struct http_auth auth;
    struct net_policy policy; /* [sources] allow / deny, also the process's connect filter */
    pthread_key_t db_key;
    /* Database handles of ended connection threads, for the next ones (http_api.c). */
    pthread_mutex_t db_lock;
    struct db *db_idle[HTTP_API_DB_IDLE];
    int n_db_idle;
    time_t started;
};

#define HTTP_API_FIELD_PARAMS 512

struct http_api_field_error {
    const char *field;
    char message[200];                  /* in the request's language */
    const char *code;                   /* msg/msgcat.def code ("text": a message without one) */
    char params[HTTP_API_FIELD_PARAMS]; /* its parameters, a JSON object */
};

struct http_api_ctx {
    struct http_api *api;
    const struct http_req *req;
    struct http_resp *resp;
    struct db *db;
    int64_t now;
    int fr;                           /* answer messages in French (Accept-Language: fr…) */
    int64_t id;                       /* the {id} of the route, 0 if none */
    char name[HTTP_API_NAME_MAX + 1]; /* the {name} of the route, "" if none */
    int authed;
    char client[64];     /* client address: the peer, or the trusted proxy's header */
    struct db_user user; /* the signed-in account when authed */
    struct db_session session;
    const char *token; /* the session cookie value when authed by a session */
    int bearer;        /* authed by an API token (Authorization: Bearer): no CSRF */
    struct http_api_field_error ferr[HTTP_API_MAX_FIELD_ERRORS];
    size_t n_ferr;
};

/* Errors as coded messages (msg/msgcat.def): {"error": text in the request's language, "code",
 * "params"}. HTTP_API_ERROR / HTTP_API_FIELD take a message without parameters (checked at
 * compile time); http_api_error_msg / http_api_field_msg any coded message (MB_MSG). */
#define HTTP_API_ERROR(c, status, ID)                                                              \
    (MB_MSG_CHECK(MSGN_##ID, 0), http_api_error_id((c), (status), MSG_##ID))
#define HTTP_API_FIELD(c, field, ID)                                                               \
    (MB_MSG_CHECK(MSGN_##ID, 0), http_api_field_id((c), (field), MSG_##ID))
void http_api_error_id(struct http_api_ctx *c, unsigned status, int id);
void http_api_error_msg(struct http_api_ctx *c, unsigned status, const struct mb_err *m);
void http_api_field_id(struct http_api_ctx *c, const char *field, int id);
void http_api_field_msg(struct http_api_ctx *c, const char *field, const struct mb_err *m);
/* The text of message id (without parameters) in the request's language. */
const char *http_api_text(const struct http_api_ctx *c, int id);
/* A coded message in the request's language (allocated). */
char *http_api_render(const struct http_api_ctx *c, const struct mb_err *m);

/* "key": a coded message {"code", "params", "text"}: text rendered in the request's language
 * (Accept-Language), control characters replaced, cut to HTTP_API_MSG_TEXT_MAX bytes. code
 * NULL (a text without one: the engine's words, or stored before codes): {"code": "text",
 * "params": {"text": text}, "text": text}. Both NULL: null. */
#define HTTP_API_MSG_TEXT_MAX 500
void http_api_w_msg(struct http_api_ctx *c, struct json_w *w, const char *key, const char *code,
                    const char *params, const char *text);
/* The same three members, inside an object the caller opened. */
void http_api_w_msg_members(struct http_api_ctx *c, struct json_w *w, const char *code,
                            const char *params, const char *text);
/* An error beside other members: "error" its text in the request's language (control
 * characters replaced, cut to max bytes, at most HTTP_API_MSG_TEXT_MAX), "code" and "params"
 * (the answers of « Tester la connexion », of a profile's check and of the importer's
 * verification rows: a client that reads "error" as a string keeps working). */
#define HTTP_API_CHECK_TEXT_MAX 160
void http_api_w_err_beside(struct http_api_ctx *c, struct json_w *w, const struct mb_err *e,
                           size_t max);
/* GET /api/messages: the catalogue of message codes (no sign-in needed: the web UI renders
 * coded messages with it, in its own language). */
void http_api_messages(struct http_api_ctx *c);

/* {"error": message, "code": "text", "params": {"text": message}} with status: a message
 * without a code. */
void http_api_error(struct http_api_ctx *c, unsigned status, const char *message);
/* Log err (never a secret in it) and answer 500. */
void http_api_internal(struct http_api_ctx *c, const char *what, const struct mb_err *err);
/* Record a field error without a code for a later http_api_field_errors (printf-style). */
void http_api_field_error(struct http_api_ctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 422 {"error": first message, "code", "params" (the first one's), "errors":[{"field",
 * "message", "code", "params"}...]}. */
void http_api_field_errors(struct http_api_ctx *c);
/* Start a JSON answer with status: resets the body and points the writer at it. */
void http_api_json_begin(struct http_api_ctx *c, unsigned status, struct json_w *w);
/* Check the writer; on error replace the body by a 500. */
void http_api_json_end(struct http_api_ctx *c, struct json_w *w);

/* Parse the request body as a JSON object (415/400 answered here, returns NULL). An empty
 * body gives NULL with *empty_r = 1 and no answer, when empty_r is not NULL. */
struct json_value *http_api_body_object(struct http_api_ctx *c, int *empty_r);

/* "key": ISO 8601 UTC time ("2026-01-02T03:04:05Z") of unix seconds t; t = 0 writes null. */
void http_api_w_time(struct json_w *w, const char *key, int64_t t);
/* The members of a "progress" object (folders, messages and bytes counters) of a job or a
 * batch, inside an object the caller opened. */
struct db_job_counters;
void http_api_w_progress(struct json_w *w, const struct db_job_counters *p);

/* 1 if the signed-in account may see jobs of this destination domain. */
int http_api_domain_visible(const struct http_api_ctx *c, const char *domain);

/* A job as the API shows it (never a password). owner may be NULL. with_report: embed the
 * engine's report (valid JSON) as "report". */
void http_api_jobs_write(struct http_api_ctx *c, struct json_w *w, const struct db_job *job,
                         const char *owner, int with_report);
/* Account name of id (0 = none → NULL) into a small per-request cache (returned pointer
 * valid until http_api_jobs_owner_fini). */
struct http_api_owner_cache {
    int64_t ids[32];
    char *names[32];
    size_t n;
};
const char *http_api_jobs_owner(struct http_api_ctx *c, struct http_api_owner_cache *oc,
                                int64_t id);
void http_api_jobs_owner_fini(struct http_api_owner_cache *oc);

/* The job-form fields shared by POST /api/jobs and POST /api/check, validated. */
struct http_api_job_form {
    char host[256];
    unsigned port;   /* resolved: never 0 */
    const char *tls; /* static: "auto" "implicit" "starttls" "none" */
    int insecure;
    const char *login;    /* borrowed from the JSON tree */
    const char *password; /* borrowed from the JSON tree (wiped by json_free) */
    size_t password_len;
    const char *auth_profile; /* borrowed; NULL = password (then password is set) */
    const char *server_type;  /* static (preset name) */
    const struct mig_preset *preset;
    char dest[HTTP_API_ADDRESS_MAX + 1];
    int subscribed_only;
};
/* Fill f from a JSON object; 0, or -1 after recording field errors (caller answers 422). */
/* The migration options (since, before, exclude_folders, folder_map, max_message_size) of a
 * JSON object: 0 and *o filled (mig_options_fini it), or -1 after a field error. */
/* POST /api/imports?verify=1 (http_api_verify.c): check every row of a valid CSV, answer
 * {"rows":[{"line","ok","error","messages","bytes","quota_free"}…]}; profile: the import's
 * auth_profile for rows without a password (NULL = none). */
struct csvimp_result;
void http_api_import_verify(struct http_api_ctx *c, const struct csvimp_result *res,
                            const char *profile);
struct mig_options;
int http_api_options_parse(struct http_api_ctx *c, const struct json_value *obj,
                           struct mig_options *o);
int http_api_jobs_form_parse(struct http_api_ctx *c, const struct json_value *obj,
                             struct http_api_job_form *f);

/* A short, printable excerpt of an error text that may quote a remote server: control
 * characters become blanks, at most max bytes (cut at a UTF-8 boundary, "..." added). */
void http_api_sanitize(const char *in, char *out, size_t max);

/* Handlers. */
void http_api_session_get(struct http_api_ctx *c);
void http_api_session_post(struct http_api_ctx *c);
void http_api_session_delete(struct http_api_ctx *c);
void http_api_jobs_list(struct http_api_ctx *c);
void http_api_jobs_create(struct http_api_ctx *c);
void http_api_jobs_get(struct http_api_ctx *c);
void http_api_jobs_delete(struct http_api_ctx *c);
void http_api_jobs_log(struct http_api_ctx *c);
void http_api_jobs_cancel(struct http_api_ctx *c);
void http_api_jobs_retry(struct http_api_ctx *c);
void http_api_import_post(struct http_api_ctx *c);
void http_api_tokens_list(struct http_api_ctx *c);
void http_api_tokens_create(struct http_api_ctx *c);
void http_api_tokens_delete(struct http_api_ctx *c);
void http_api_jobs_delta(struct http_api_ctx *c);
void http_api_jobs_finalize(struct http_api_ctx *c);
void http_api_batches_list(struct http_api_ctx *c);
void http_api_batches_get(struct http_api_ctx *c);
void http_api_batches_patch(struct http_api_ctx *c);
void http_api_batches_delta(struct http_api_ctx *c);
void http_api_batches_retry_failed(struct http_api_ctx *c);
void http_api_batches_cancel(struct http_api_ctx *c);
void http_api_batches_finalize(struct http_api_ctx *c);
/* Load batch id if the signed-in account may see it; 0, or 404/500 answered and -1. */
struct db_batch;
int http_api_batches_load(struct http_api_ctx *c, int64_t id, struct db_batch *b);
/* A batch as the API shows it. */
void http_api_batches_write(struct http_api_ctx *c, struct json_w *w, const struct db_batch *b,
                            const char *owner);
void http_api_profiles_list(struct http_api_ctx *c);
void http_api_nodes_list(struct http_api_ctx *c);
void http_api_profiles_create(struct http_api_ctx *c);
void http_api_profiles_delete(struct http_api_ctx *c);
void http_api_profiles_check(struct http_api_ctx *c);
/* Load profile name with its secrets if the signed-in account may use it (its owner, or an
 * admin); 0, or an answer already sent (404 / 500) and -1. field: where a 422 would point
 * (NULL: answer 404). */
struct auth_profile;
int http_api_profile_open(struct http_api_ctx *c, const char *name, const char *field,
                          struct auth_profile *p);
/* The preset a profile logs in to when none is given (office, gmail, defaut). */
const struct mig_preset *http_api_profile_preset(const struct auth_profile *p);
void http_api_import_sample(struct http_api_ctx *c);
void http_api_check_post(struct http_api_ctx *c);
void http_api_metrics_healthz(struct http_api_ctx *c);
void http_api_metrics_get(struct http_api_ctx *c);

#endif
