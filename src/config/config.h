/* config: the INI configuration file (-c FILE) -> an immutable struct config.
 *
 * File format (docs/CONFIG.md lists every key, its type, default and meaning):
 *   - sections [server], [sources], [destination], [store]; lines "key = value";
 *   - full-line comments start with ';' or '#'; an inline comment starts with ';' preceded
 *     by whitespace ("workers = 4 ; cores"); leading/trailing whitespace is trimmed;
 *   - a value may be double-quoted to keep leading/trailing spaces or " ;" inside it
 *     ("\"" and "\\" escapes); a quoted value may be followed by a comment only;
 *   - sections and keys are matched case-insensitively; a section may appear twice;
 *   - an empty value ("tls_cert =") means "unset" for optional keys, an error otherwise;
 *   - a UTF-8 byte-order mark and CRLF line ends are accepted.
 * Any unknown section or key, a line without '=', a duplicate key or a bad value is an error
 * whose message names file, line, section and key, for example
 *   migrabox.conf:12: [destination] port: "99999" is not a port (1-65535)
 * A secret (master_password, the content of master_password_file) never appears in a message.
 *
 * Master password precedence (highest first): the environment variable
 * MIGRABOX_MASTER_PASSWORD when set and non-empty, then master_password_file, then
 * master_password. Setting both keys in the file is an error.
 *
 * Ownership and threads: config_load/config_defaults allocate a struct config that the caller
 * frees with config_free(&cfg) (accepts NULL; wipes the master password). Nothing modifies a
 * loaded config: share it read-only between threads (pass const struct config *). */
#ifndef MB_CONFIG_H
#define MB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/mb_err.h"
#include "base/secret.h"
#include "net/net_acl.h"

#define CONFIG_FILE_MAX (1024 * 1024) /* a configuration file larger than this is refused */
#define CONFIG_SECRET_MAX 4096        /* longest master password (inline, file or env) */
#define CONFIG_ENV_MASTER_PASSWORD "MIGRABOX_MASTER_PASSWORD"

enum config_log_level {
    CONFIG_LOG_DEBUG,
    CONFIG_LOG_INFO,
    CONFIG_LOG_WARN,
    CONFIG_LOG_ERROR,
};

/* [server] tls: auto = HTTPS iff tls_cert/tls_key are set; on = HTTPS, with a self-signed
 * certificate generated in data_dir when none is configured; off = plain HTTP. */
enum config_http_tls {
    CONFIG_HTTP_TLS_AUTO,
    CONFIG_HTTP_TLS_ON,
    CONFIG_HTTP_TLS_OFF,
};

/* [server] metrics: who may read /metrics without a session. */
enum config_metrics {
    CONFIG_METRICS_LOOPBACK, /* without a session from a loopback client; else a session */
    CONFIG_METRICS_PUBLIC,   /* anyone */
    CONFIG_METRICS_SESSION,  /* a signed-in account */
    CONFIG_METRICS_OFF,      /* 404 */
};

enum config_imap_tls {
    CONFIG_IMAP_TLS_IMPLICIT,
    CONFIG_IMAP_TLS_STARTTLS,
    CONFIG_IMAP_TLS_NONE,
};

enum config_auth {
    CONFIG_AUTH_MASTER_SEPARATOR, /* LOGIN "<user><separator><master_user>" "<password>" */
    CONFIG_AUTH_PLAIN_AUTHZID,    /* AUTHENTICATE PLAIN authzid=<user> authcid=<master_user> */
};

/* [store] backend: where jobs, batches, logs, accounts, sessions and profiles live. */
enum config_store_backend {
    CONFIG_STORE_SQLITE,     /* data_dir/migrabox.db (the default) */
    CONFIG_STORE_POSTGRESQL, /* [store] url, shared by several nodes */
};

/* Where the master password came from (for a startup log line; never log the value). */
enum config_secret_source {
    CONFIG_SECRET_NONE,
    CONFIG_SECRET_INLINE, /* master_password = ... */
    CONFIG_SECRET_FILE,   /* master_password_file = ... */
    CONFIG_SECRET_ENV,    /* MIGRABOX_MASTER_PASSWORD */
};

struct config_server {
    char *listen_host; /* IP literal or name, IPv6 without brackets */
    int listen_port;   /* 0 = any free port (tests) */
    char *data_dir;
    int workers;
    int worker_nice; /* nice value of the workers' threads (0-19): the HTTP threads answer first */
    enum config_http_tls tls;
    int https;      /* effective: 1 = serve HTTPS */
    char *tls_cert; /* PEM paths, NULL when unset (both or neither) */
    char *tls_key;
    enum config_log_level log_level;
    int64_t max_upload_bytes;     /* largest accepted request body (CSV upload) */
    int max_import_rows;          /* largest CSV batch */
    int session_ttl;              /* seconds a web session lives without activity */
    int credential_retention;     /* seconds source credentials are kept after a job ends
                                     (until finalized); 0 = erased when it ends */
    int sync_min_interval;        /* shortest sync_every a batch may ask for, seconds */
    char *webhook_url;            /* POSTed JSON events (jobs.h); NULL = none */
    struct secret webhook_secret; /* HMAC-SHA256 key of the webhook (from a file); .data NULL
                                     = unsigned */
    int max_http_connections;
    int max_connections_per_address; /* simultaneous connections from one TCP peer */
    int header_timeout;              /* seconds to send a request's line and headers */
    int request_timeout;             /* seconds to send a whole request (headers + body) */
    struct net_acl trusted_proxies;  /* peers whose proxy_header is believed */
    char *proxy_header;              /* e.g. X-Forwarded-For; NULL = none */
    enum config_metrics metrics;
};

/* When a run opens its connection pairs beyond the first ([sources] open_connections). */
enum config_open_conns {
    CONFIG_OPEN_WHEN_USEFUL, /* while the folders left would keep one busy long enough */
    CONFIG_OPEN_AT_ONCE,     /* all of connections_per_job when the copy starts */
};

struct config_sources {
    char *ca_file;
    int max_connections_per_host;
    int connections_per_job; /* connection pairs one migration copies folders on, at most */
    enum config_open_conns open_connections;
    int connect_timeout;  /* seconds */
    int io_timeout;       /* seconds */
    int max_attempts;     /* runs of a job on transient errors, first one included */
    int retry_delay;      /* seconds before the first retry; doubles each time */
    int give_up_after;    /* seconds without progress before transient errors fail a job */
    int limit_pause;      /* seconds a job pauses when the source's daily limit is reached */
    struct net_acl allow; /* source hosts always allowed (names, networks) */
    struct net_acl deny;  /* source hosts never allowed */
    int check_timeout;    /* seconds for the whole of POST /api/check */
};

struct config_destination {
    char *host; /* IPv6 without brackets */
    int port;
    enum config_imap_tls tls;
    char *ca_file;
    int verify;
    enum config_auth auth;
    char *master_user;
    struct secret master_password; /* .data NULL when none configured; wiped by config_free */
    enum config_secret_source master_password_source;
    char *separator;
    char **domains; /* lower-case, de-duplicated, in file order; empty = any */
    size_t n_domains;
    int connect_timeout; /* seconds */
    int io_timeout;      /* seconds */
    int settle_time;     /* seconds a dead connection's APPEND may still take to be stored */
};

struct config_store {
    enum config_store_backend backend;
    char *url;              /* postgresql://user@host:port/db[?param=...]; NULL when unset */
    struct secret password; /* content of password_file; .data NULL = none (wiped by
                               config_free) */
    char *ca_file;          /* CAs that sign the PostgreSQL server's certificate */
    int lease;              /* seconds: a node's running jobs are taken over after this */
    int timeout;            /* seconds: bound of a connection, statement or lock wait */
};

struct config {
    char *path; /* file it was loaded from, NULL for defaults */
    struct config_server server;
    struct config_sources sources;
    struct config_destination destination;
    struct config_store store;
};

/* Load path (NULL = no file: defaults only) and apply MIGRABOX_MASTER_PASSWORD.
 * Returns 0, or MB_ECONFIG / MB_ENOTFOUND / MB_EIO / MB_ETOOBIG with err->msg naming
 * file, line and key. *cfg_r is set only on success. */
int config_load(const char *path, struct config **cfg_r, struct mb_err *err);
/* The built-in defaults, without any file or environment. Cannot fail. */
void config_defaults(struct config **cfg_r);
void config_free(struct config **cfg);

/* 1 if domain (any case) is one of [destination] domains, or if that list is empty. */
int config_domain_allowed(const struct config *cfg, const char *domain);

/* Stable lower-case names, as written in the file ("info", "starttls", "plain-authzid"...). */
const char *config_log_level_name(enum config_log_level v);
const char *config_http_tls_name(enum config_http_tls v);
const char *config_imap_tls_name(enum config_imap_tls v);
const char *config_auth_name(enum config_auth v);
const char *config_store_backend_name(enum config_store_backend v);
const char *config_secret_source_name(enum config_secret_source v);
const char *config_metrics_name(enum config_metrics v);

#endif
