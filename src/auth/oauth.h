/* oauth: source authentication profiles and OAuth2 app-only tokens for IMAP XOAUTH2.
 *
 * A profile (« accès administrateur à la source ») is one credential for a whole source
 * organisation:
 *   microsoft365  client-credentials grant at https://login.microsoftonline.com/{tenant}/
 *                 oauth2/v2.0/token, scope https://outlook.office365.com/.default, with the
 *                 client secret or a signed JWT client assertion (RS256, x5t of the
 *                 certificate); one token per tenant.
 *   google        JWT-bearer grant (RS256, iss = client_email, sub = the mailbox, scope
 *                 https://mail.google.com/, aud = the token URL) at
 *                 https://oauth2.googleapis.com/token; one token per mailbox.
 *   imap-admin    no token: an administrator login (separator or authzid), see mig_conn.c.
 *
 * Tokens are cached in process memory (never on disk) keyed by profile (name and creation
 * time) and tenant or mailbox; a token is renewed when less than a margin of its life is
 * left (a fifth of its lifetime, at most 5 minutes), so every (re)connection gets a token
 * that is still valid. The cache is thread-safe (a mutex for the table, one per entry so two
 * workers of the same tenant make one request).
 *
 * Errors name the fix: MB_EAUTH for a refusal by the identity provider (the words say what
 * to change: AADSTS7000215, AADSTS700016, unauthorized_client, invalid_grant...),
 * MB_ECONN for a transient failure (unreachable endpoint, timeout, HTTP 5xx / 429),
 * MB_EPROTO for a malformed answer or a TLS failure, MB_ECONFIG for a bad profile.
 * No secret, assertion or token is ever put into an error. */
#ifndef MB_OAUTH_H
#define MB_OAUTH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/buf.h"
#include "base/mb_err.h"
#include "base/secret.h"

enum auth_kind {
    AUTH_KIND_NONE = 0,
    AUTH_KIND_MICROSOFT365,
    AUTH_KIND_GOOGLE,
    AUTH_KIND_IMAP_ADMIN,
};

enum auth_admin_method { AUTH_ADMIN_SEPARATOR = 0, AUTH_ADMIN_AUTHZID };

#define OAUTH_MS_TOKEN_URL "https://login.microsoftonline.com/%s/oauth2/v2.0/token"
#define OAUTH_MS_SCOPE "https://outlook.office365.com/.default"
#define OAUTH_GOOGLE_TOKEN_URL "https://oauth2.googleapis.com/token"
#define OAUTH_GOOGLE_SCOPE "https://mail.google.com/"
#define AUTH_PROFILE_NAME_MAX 64

/* "microsoft365" | "google" | "imap-admin" (AUTH_KIND_NONE otherwise) and back. */
enum auth_kind auth_kind_parse(const char *s);
const char *auth_kind_name(enum auth_kind k);

struct auth_profile {
    char *name;
    enum auth_kind kind;
    int64_t id;
    int64_t account_id; /* owner (0 = none: created from the CLI) */
    int64_t created_at;
    char *tenant;      /* microsoft365 */
    char *client_id;   /* microsoft365: app id; google: the key's client_email */
    char *token_url;   /* NULL/"" = the public endpoint */
    char *source_host; /* optional default source host */
    char *admin_user;  /* imap-admin */
    enum auth_admin_method method;
    char *separator; /* imap-admin, method separator; NULL = "*" */
    /* secrets (write-only) */
    struct secret client_secret; /* microsoft365, or empty when certificate is set */
    struct secret certificate;   /* microsoft365: certificate PEM (not secret, kept with it) */
    struct secret private_key;   /* microsoft365 certificate key PEM; google: from the JSON */
    struct secret admin_password;
};
void auth_profile_fini(struct auth_profile *p);

/* Validate a profile before it is stored: required fields per kind, name syntax, a token_url
 * that parses as https, PEM key and certificate that parse and belong together. For google,
 * service_account_json is the JSON key file's text: it fills client_id and private_key. */
int auth_profile_validate(struct auth_profile *p, const char *service_account_json,
                          struct mb_err *err);

/* The secrets as one JSON object (for the secret box) and back. */
int auth_profile_secrets_json(const struct auth_profile *p, struct secret *out);
int auth_profile_secrets_load(struct auth_profile *p, const char *json, size_t len,
                              struct mb_err *err);

/* The token endpoint of p (xmalloc'ed). */
char *oauth_token_url(const struct auth_profile *p);

/* Build the form body of the token request for mailbox (google) at time now (unix s).
 * body must be initialised by the caller (it will hold a secret: wipe it). */
int oauth_build_request(const struct auth_profile *p, const char *mailbox, int64_t now,
                        struct buf *body, struct mb_err *err);

/* Parse the token endpoint's answer. On success *token_r (a secret) and *expires_in_r.
 * Otherwise the mapped error (see above); mailbox may be NULL. */
int oauth_parse_answer(enum auth_kind kind, int status, const char *content_type, const char *body,
                       size_t len, const char *client_id, const char *mailbox,
                       struct secret *token_r, int64_t *expires_in_r, struct mb_err *err);

struct oauth_env {
    const char *ca_file;                                /* [sources] ca_file */
    int connect_timeout_ms, io_timeout_ms, deadline_ms; /* 0 = http_client defaults */
};

/* A token for mailbox through profile p: from the cache when it has more than the margin
 * left, else from the token endpoint. force = 1 skips the cache (the server refused the
 * cached token). *fresh_r (may be NULL) tells whether it was just fetched. */
int oauth_get_token(const struct auth_profile *p, const char *mailbox, const struct oauth_env *env,
                    int force, struct secret *token_r, int *fresh_r, struct mb_err *err);
/* Drop every cached token of the profile named name (deleted or replaced). */
void oauth_cache_forget(const char *name);
/* Wipe and free the whole cache (at exit). */
void oauth_cache_clear(void);
/* Renewal margin in seconds for a token living lifetime seconds. */
int64_t oauth_renew_margin(int64_t lifetime);

#endif
