/* config: INI loader. One table (config_keys[]) describes every key: section, name, type,
 * where it lands in struct config, its range and its default written as file text. The
 * defaults go through the same parser as the file, so a default can never be invalid or
 * drift from what the documentation says a value looks like. */
#include "config/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "base/xalloc.h"

#define CONFIG_VALUE_MAX 4096    /* longest value of a non-secret key */
#define CONFIG_DOMAINS_MAX 1000  /* most [destination] domains */
#define CONFIG_SHOW_MAX 48       /* a value quoted in an error message is cut here */
#define CONFIG_SHOW_PATH_MAX 400 /* a file's path, which the reader needs whole */

enum key_type {
    KT_STR,      /* string; KF_OPTIONAL: empty = NULL */
    KT_INT,      /* int in [min, max] */
    KT_PORT,     /* int in [min, max], worded as a port */
    KT_SIZE,     /* int64 bytes, optional suffix K M G (binary) */
    KT_DURATION, /* int seconds, optional suffix s m h d */
    KT_BOOL,
    KT_ENUM,
    KT_LISTEN, /* host:port into listen_host + listen_port */
    KT_HOST,
    KT_DOMAINS,
    KT_NETLIST,     /* struct net_acl: CIDR networks and host names */
    KT_SECRET,      /* master_password */
    KT_SECRET_FILE, /* master_password_file */
};

enum { KF_OPTIONAL = 1 }; /* key_def.flags */

struct key_enum {
    const char *name;
    int value;
};

struct key_def {
    const char *section;
    const char *name;
    enum key_type type;
    size_t off;
    long long min, max;
    const char *def; /* default as file text; NULL = unset */
    const struct key_enum *enums;
    int flags;
};

static const struct key_enum log_levels[] = {
    {"debug", CONFIG_LOG_DEBUG},  {"info", CONFIG_LOG_INFO},   {"warn", CONFIG_LOG_WARN},
    {"warning", CONFIG_LOG_WARN}, {"error", CONFIG_LOG_ERROR}, {NULL, 0},
};
static const struct key_enum http_tls_modes[] = {
    {"auto", CONFIG_HTTP_TLS_AUTO},
    {"on", CONFIG_HTTP_TLS_ON},
    {"off", CONFIG_HTTP_TLS_OFF},
    {NULL, 0},
};
static const struct key_enum metrics_modes[] = {
    {"loopback", CONFIG_METRICS_LOOPBACK},
    {"public", CONFIG_METRICS_PUBLIC},
    {"session", CONFIG_METRICS_SESSION},
    {"off", CONFIG_METRICS_OFF},
    {NULL, 0},
};
static const struct key_enum imap_tls_modes[] = {
    {"implicit", CONFIG_IMAP_TLS_IMPLICIT},
    {"starttls", CONFIG_IMAP_TLS_STARTTLS},
    {"none", CONFIG_IMAP_TLS_NONE},
    {NULL, 0},
};
static const struct key_enum open_conns_modes[] = {
    {"when-useful", CONFIG_OPEN_WHEN_USEFUL},
    {"at-once", CONFIG_OPEN_AT_ONCE},
    {NULL, 0},
};
static const struct key_enum store_backends[] = {
    {"sqlite", CONFIG_STORE_SQLITE},
    {"postgresql", CONFIG_STORE_POSTGRESQL},
    {NULL, 0},
};
static const struct key_enum auth_modes[] = {
    {"master-separator", CONFIG_AUTH_MASTER_SEPARATOR},
    {"plain-authzid", CONFIG_AUTH_PLAIN_AUTHZID},
    {NULL, 0},
};

#define SRV(f) offsetof(struct config, server.f)
#define SRC(f) offsetof(struct config, sources.f)
#define DST(f) offsetof(struct config, destination.f)
#define STO(f) offsetof(struct config, store.f)
#define CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

static const struct key_def config_keys[] = {
    {"server", "listen", KT_LISTEN, SRV(listen_host), 0, 65535, "127.0.0.1:8080", NULL, 0},
    {"server", "data_dir", KT_STR, SRV(data_dir), 0, 0, "./var", NULL, 0},
    {"server", "workers", KT_INT, SRV(workers), 1, 256, "4", NULL, 0},
    {"server", "worker_nice", KT_INT, SRV(worker_nice), 0, 19, "5", NULL, 0},
    {"server", "tls", KT_ENUM, SRV(tls), 0, 0, "auto", http_tls_modes, 0},
    {"server", "tls_cert", KT_STR, SRV(tls_cert), 0, 0, NULL, NULL, KF_OPTIONAL},
    {"server", "tls_key", KT_STR, SRV(tls_key), 0, 0, NULL, NULL, KF_OPTIONAL},
    {"server", "log_level", KT_ENUM, SRV(log_level), 0, 0, "info", log_levels, 0},
    {"server", "max_upload_bytes", KT_SIZE, SRV(max_upload_bytes), 1024, 1024LL << 20, "10M", NULL,
     0},
    {"server", "max_import_rows", KT_INT, SRV(max_import_rows), 1, 1000000, "10000", NULL, 0},
    {"server", "session_ttl", KT_DURATION, SRV(session_ttl), 60, 30 * 86400, "12h", NULL, 0},
    {"server", "credential_retention", KT_DURATION, SRV(credential_retention), 0, 3650 * 86400,
     "30d", NULL, 0},
    {"server", "sync_min_interval", KT_DURATION, SRV(sync_min_interval), 1, 3650 * 86400, "1h",
     NULL, 0},
    {"server", "webhook_url", KT_STR, SRV(webhook_url), 0, 0, NULL, NULL, KF_OPTIONAL},
    {"server", "webhook_secret_file", KT_SECRET_FILE, SRV(webhook_secret), 0, 0, NULL, NULL,
     KF_OPTIONAL},
    {"server", "max_http_connections", KT_INT, SRV(max_http_connections), 4, 65536, "256", NULL, 0},
    {"server", "max_connections_per_address", KT_INT, SRV(max_connections_per_address), 1, 65536,
     "32", NULL, 0},
    {"server", "header_timeout", KT_DURATION, SRV(header_timeout), 1, 300, "10", NULL, 0},
    {"server", "request_timeout", KT_DURATION, SRV(request_timeout), 1, 3600, "120", NULL, 0},
    {"server", "trusted_proxies", KT_NETLIST, SRV(trusted_proxies), 0, 0, "", NULL, KF_OPTIONAL},
    {"server", "proxy_header", KT_STR, SRV(proxy_header), 0, 0, NULL, NULL, KF_OPTIONAL},
    {"server", "metrics", KT_ENUM, SRV(metrics), 0, 0, "loopback", metrics_modes, 0},

    {"sources", "ca_file", KT_STR, SRC(ca_file), 0, 0, CA_BUNDLE, NULL, 0},
    {"sources", "max_connections_per_host", KT_INT, SRC(max_connections_per_host), 1, 1000, "10",
     NULL, 0},
    {"sources", "connections_per_job", KT_INT, SRC(connections_per_job), 1, 16, "4", NULL, 0},
    {"sources", "open_connections", KT_ENUM, SRC(open_connections), 0, 0, "when-useful",
     open_conns_modes, 0},
    {"sources", "connect_timeout", KT_DURATION, SRC(connect_timeout), 1, 3600, "30", NULL, 0},
    {"sources", "io_timeout", KT_DURATION, SRC(io_timeout), 1, 86400, "120", NULL, 0},
    {"sources", "max_attempts", KT_INT, SRC(max_attempts), 1, 100, "5", NULL, 0},
    {"sources", "retry_delay", KT_DURATION, SRC(retry_delay), 1, 86400, "30", NULL, 0},
    {"sources", "give_up_after", KT_DURATION, SRC(give_up_after), 10, 2592000, "6h", NULL, 0},
    {"sources", "limit_pause", KT_DURATION, SRC(limit_pause), 1, 172800, "1h", NULL, 0},
    {"sources", "allow", KT_NETLIST, SRC(allow), 0, 0, "", NULL, KF_OPTIONAL},
    {"sources", "deny", KT_NETLIST, SRC(deny), 0, 0, "", NULL, KF_OPTIONAL},
    {"sources", "check_timeout", KT_DURATION, SRC(check_timeout), 5, 600, "60", NULL, 0},

    {"destination", "host", KT_HOST, DST(host), 0, 0, "127.0.0.1", NULL, 0},
    {"destination", "port", KT_PORT, DST(port), 1, 65535, "993", NULL, 0},
    {"destination", "tls", KT_ENUM, DST(tls), 0, 0, "implicit", imap_tls_modes, 0},
    {"destination", "ca_file", KT_STR, DST(ca_file), 0, 0, CA_BUNDLE, NULL, 0},
    {"destination", "verify", KT_BOOL, DST(verify), 0, 0, "true", NULL, 0},
    {"destination", "auth", KT_ENUM, DST(auth), 0, 0, "master-separator", auth_modes, 0},
    {"destination", "master_user", KT_STR, DST(master_user), 0, 0, "admin", NULL, 0},
    {"destination", "master_password", KT_SECRET, DST(master_password), 0, 0, NULL, NULL,
     KF_OPTIONAL},
    {"destination", "master_password_file", KT_SECRET_FILE, DST(master_password), 0, 0, NULL, NULL,
     KF_OPTIONAL},
    {"destination", "separator", KT_STR, DST(separator), 0, 0, "*", NULL, 0},
    {"destination", "domains", KT_DOMAINS, DST(domains), 0, 0, "", NULL, KF_OPTIONAL},
    {"destination", "connect_timeout", KT_DURATION, DST(connect_timeout), 1, 3600, "30", NULL, 0},
    {"destination", "io_timeout", KT_DURATION, DST(io_timeout), 1, 86400, "120", NULL, 0},
    {"destination", "settle_time", KT_DURATION, DST(settle_time), 0, 3600, "60", NULL, 0},

    {"store", "backend", KT_ENUM, STO(backend), 0, 0, "sqlite", store_backends, 0},
    {"store", "url", KT_STR, STO(url), 0, 0, NULL, NULL, KF_OPTIONAL},
    {"store", "password_file", KT_SECRET_FILE, STO(password), 0, 0, NULL, NULL, KF_OPTIONAL},
    {"store", "ca_file", KT_STR, STO(ca_file), 0, 0, CA_BUNDLE, NULL, 0},
    {"store", "lease", KT_DURATION, STO(lease), 5, 86400, "60s", NULL, 0},
    {"store", "timeout", KT_DURATION, STO(timeout), 2, 3600, "20s", NULL, 0},
};

#define N_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static const char *const config_sections[] = {"server", "sources", "destination", "store", NULL};

/* ---- error messages ---- */

struct parse_ctx {
    const char *file;
    unsigned line;
    const char *section;
    const char *key;
    struct mb_err *err;
};

static int perr(const struct parse_ctx *pc, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(const struct parse_ctx *pc, int code, const char *fmt, ...)
{
    char detail[MB_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    char where[MB_ERR_LEN];
    if (pc->line)
        snprintf(where, sizeof(where), "%s:%u: ", pc->file, pc->line);
    else
        snprintf(where, sizeof(where), "%s: ", pc->file);
    if (pc->section && pc->key)
        return mb_err_set(pc->err, code, "%s[%s] %s: %s", where, pc->section, pc->key, detail);
    if (pc->section)
        return mb_err_set(pc->err, code, "%s[%s] %s", where, pc->section, detail);
    if (pc->key)
        return mb_err_set(pc->err, code, "%s%s: %s", where, pc->key, detail);
    return mb_err_set(pc->err, code, "%s%s", where, detail);
}

/* A value quoted for a message: printable ASCII only, cut at max bytes. */
static const char *show(const char *v, size_t max, char *out, size_t outsz)
{
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; v[i] && o + 6 < outsz; i++) {
        if (i >= max) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char c = (unsigned char)v[i];
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
            o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

#define SHOW(v) show((v), CONFIG_SHOW_MAX, showbuf, sizeof(showbuf))
#define SHOW_PATH(v) show((v), CONFIG_SHOW_PATH_MAX, pathbuf, sizeof(pathbuf))

/* ---- small parsers ---- */

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int parse_ll(const char *s, long long *v_r, const char **end_r)
{
    if (!isdigit((unsigned char)s[0]) && !(s[0] == '-' && isdigit((unsigned char)s[1])))
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return -1;
    *v_r = v;
    *end_r = end;
    return 0;
}

static int parse_bool(const char *s, int *v_r)
{
    static const char *const yes[] = {"true", "yes", "on", "1", NULL};
    static const char *const no[] = {"false", "no", "off", "0", NULL};
    for (size_t i = 0; yes[i]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *v_r = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *v_r = 0;
            return 0;
        }
    }
    return -1;
}

static int hostname_valid(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!(isalnum(c) || c == '-' || c == '_'))
            return 0;
        if (c == '-' && label == 0)
            return 0;
        if (++label > 63)
            return 0;
    }
    return s[n - 1] != '-';
}

static int ipv6_valid(const char *s)
{
    unsigned char a[16];
    return inet_pton(AF_INET6, s, a) == 1;
}

/* ---- value handlers ---- */

static void *field(struct config *cfg, const struct key_def *k)
{
    return (char *)cfg + k->off;
}

static void set_str(char **slot, const char *v)
{
    XFREE(*slot);
    *slot = v ? xstrdup(v) : NULL;
}

static int apply_int(const struct parse_ctx *pc, const struct key_def *k, const char *v, int *out)
{
    char showbuf[CONFIG_SHOW_MAX * 4 + 8];
    long long n;
    const char *end;
    if (parse_ll(v, &n, &end) < 0 || *end) {
        if (k->type == KT_PORT)
            return perr(pc, MB_ECONFIG, "%s is not a port (%lld-%lld)", SHOW(v), k->min, k->max);
        return perr(pc, MB_ECONFIG, "%s is not an integer", SHOW(v));
    }
    if (n < k->min || n > k->max) {
        if (k->type == KT_PORT)
            return perr(pc, MB_ECONFIG, "%s is not a port (%lld-%lld)", SHOW(v), k->min, k->max);
        return perr(pc, MB_ECONFIG, "%s is out of range (%lld-%lld)", SHOW(v), k->min, k->max);
    }
    *out = (int)n;
    return 0;
}

struct unit {
    const char *suffix; /* matched case-insensitively */
    long long mult;
};

static const struct unit size_units[] = {
    {"", 1},          {"k", 1LL << 10},   {"kib", 1LL << 10}, {"m", 1LL << 20}, {"mib", 1LL << 20},
    {"g", 1LL << 30}, {"gib", 1LL << 30}, {NULL, 0},
};
static const struct unit duration_units[] = {
    {"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {NULL, 0},
};

static int apply_scaled(const struct parse_ctx *pc, const struct key_def *k, const char *v,
                        long long *out)
{
    char showbuf[CONFIG_SHOW_MAX * 4 + 8];
    long long n, mult = 0;
    const char *end;
    const char *what = k->type == KT_SIZE ? "a size (e.g. 512K, 10M, 1G)"
                                          : "a duration (e.g. 90, 30s, 15m, 12h, 7d)";
    if (parse_ll(v, &n, &end) < 0 || n < 0)
        return perr(pc, MB_ECONFIG, "%s is not %s", SHOW(v), what);
    for (const struct unit *u = k->type == KT_SIZE ? size_units : duration_units; u->suffix; u++)
        if (strcasecmp(end, u->suffix) == 0)
            mult = u->mult;
    if (mult == 0)
        return perr(pc, MB_ECONFIG, "%s is not %s", SHOW(v), what);
    if (n > LLONG_MAX / mult || n * mult < k->min || n * mult > k->max) {
        if (k->type == KT_SIZE)
            return perr(pc, MB_ECONFIG, "%s is out of range (%lld-%lld bytes)", SHOW(v), k->min,
                        k->max);
        return perr(pc, MB_ECONFIG, "%s is out of range (%lld-%lld seconds)", SHOW(v), k->min,
                    k->max);
    }
    *out = n * mult;
    return 0;
}

static int apply_listen(const struct parse_ctx *pc, const struct key_def *k, const char *v,
                        struct config *cfg)
{
    char showbuf[CONFIG_SHOW_MAX * 4 + 8];
    char host[256];
    const char *port;
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (!close || close[1] != ':')
            return perr(pc, MB_ECONFIG, "%s is not host:port or [ipv6]:port", SHOW(v));
        size_t hl = (size_t)(close - v - 1);
        if (hl == 0 || hl >= sizeof(host))
            return perr(pc, MB_ECONFIG, "%s is not host:port or [ipv6]:port", SHOW(v));
        memcpy(host, v + 1, hl);
        host[hl] = '\0';
        if (!ipv6_valid(host))
            return perr(pc, MB_ECONFIG, "%s: \"%s\" is not an IPv6 address", SHOW(v), host);
        port = close + 2;
    } else {
        const char *colon = strrchr(v, ':');
        if (!colon)
            return perr(pc, MB_ECONFIG, "%s has no port (host:port)", SHOW(v));
        if (memchr(v, ':', (size_t)(colon - v)))
            return perr(pc, MB_ECONFIG, "%s: write an IPv6 address in brackets, [::1]:8080",
                        SHOW(v));
        size_t hl = (size_t)(colon - v);
        if (hl == 0 || hl >= sizeof(host))
            return perr(pc, MB_ECONFIG, "%s is not host:port", SHOW(v));
        memcpy(host, v, hl);
        host[hl] = '\0';
        if (!hostname_valid(host))
            return perr(pc, MB_ECONFIG, "%s: \"%s\" is not a host name or address", SHOW(v), host);
        port = colon + 1;
    }
    long long n;
    const char *end;
    if (parse_ll(port, &n, &end) < 0 || *end || n < k->min || n > k->max)
        return perr(pc, MB_ECONFIG, "%s: \"%s\" is not a port (%lld-%lld)", SHOW(v), port, k->min,
                    k->max);
    set_str(&cfg->server.listen_host, host);
    cfg->server.listen_port = (int)n;
    return 0;
}

static int apply_domains(const struct parse_ctx *pc, const char *v, struct config *cfg)
{
    char showbuf[CONFIG_SHOW_MAX * 4 + 8];
    struct config_destination *d = &cfg->destination;
    char **list = NULL;
    size_t n = 0;
    int rc = 0;
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, " \t,");
        char *dom = xstrndup(p, len);
        p += len;
        for (char *c = dom; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (!hostname_valid(dom) || dom[0] == '_') {
            rc = perr(pc, MB_ECONFIG, "%s is not a domain name", SHOW(dom));
            free(dom);
            goto out;
        }
        int dup = 0;
        for (size_t i = 0; i < n && !dup; i++)
            dup = strcmp(list[i], dom) == 0;
        if (dup) {
            free(dom);
            continue;
        }
        if (n == CONFIG_DOMAINS_MAX) {
            free(dom);
            rc = perr(pc, MB_ETOOBIG, "more than %d domains", CONFIG_DOMAINS_MAX);
            goto out;
        }
        list = xrealloc(list, (n + 1) * sizeof(*list));
        list[n++] = dom;
    }
    for (size_t i = 0; i < d->n_domains; i++)
        free(d->domains[i]);
    free(d->domains);
    d->domains = list;
    d->n_domains = n;
    list = NULL;
    n = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
    return rc;
}

/* Read a secret file: at most CONFIG_SECRET_MAX bytes, trailing CR/LF stripped. */
static int read_secret_file(const struct parse_ctx *pc, const char *path, struct secret *out)
{
    char pathbuf[CONFIG_SHOW_PATH_MAX * 4 + 8];
    char buf[CONFIG_SECRET_MAX + 2];
    size_t len = 0;
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return perr(pc, e == ENOENT ? MB_ENOTFOUND : MB_EIO, "cannot read %s: %s", SHOW_PATH(path),
                    strerror(e));
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            rc = perr(pc, MB_EIO, "cannot read %s: %s", SHOW_PATH(path), strerror(e));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > CONFIG_SECRET_MAX) {
            rc = perr(pc, MB_ETOOBIG, "%s is larger than %d bytes", SHOW_PATH(path),
                      CONFIG_SECRET_MAX);
            goto out;
        }
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    buf[len] = '\0';
    if (len == 0) {
        rc = perr(pc, MB_ECONFIG, "%s is empty", SHOW_PATH(path));
        goto out;
    }
    if (memchr(buf, '\0', len)) {
        rc = perr(pc, MB_ECONFIG, "%s contains a NUL byte", SHOW_PATH(path));
        goto out;
    }
    secret_fini(out);
    secret_set(out, buf, len);
out:
    mbedtls_platform_zeroize(buf, sizeof(buf));
    close(fd);
    return rc;
}

static int apply_value(const struct parse_ctx *pc, const struct key_def *k, const char *v,
                       struct config *cfg)
{
    char showbuf[CONFIG_SHOW_MAX * 4 + 8];
    void *f = field(cfg, k);
    if (v[0] == '\0' && !(k->flags & KF_OPTIONAL))
        return perr(pc, MB_ECONFIG, "must not be empty");
    if (k->type != KT_SECRET && strlen(v) > CONFIG_VALUE_MAX)
        return perr(pc, MB_ETOOBIG, "value longer than %d bytes", CONFIG_VALUE_MAX);
    switch (k->type) {
    case KT_STR:
        if (k->off == SRV(proxy_header) && v[0]) {
            for (const char *c = v; *c; c++) {
                if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
                    return perr(pc, MB_ECONFIG, "%s is not a header name", SHOW(v));
            }
        }
        if (k->off == STO(url) && v[0] && strncmp(v, "postgresql://", 13) != 0
            && strncmp(v, "postgres://", 11) != 0)
            return perr(pc, MB_ECONFIG, "%s is not a postgresql:// URL", SHOW(v));
        if (k->off == STO(url) && strpbrk(v, " \t\"'\\"))
            return perr(pc, MB_ECONFIG, "a URL cannot contain spaces, quotes or backslashes");
        if (k->off == DST(separator) && strpbrk(v, " \t\"")) {
            return perr(pc, MB_ECONFIG, "%s: a separator cannot contain spaces or quotes", SHOW(v));
        }
        set_str(f, v[0] ? v : NULL);
        return 0;
    case KT_INT:
    case KT_PORT: return apply_int(pc, k, v, f);
    case KT_SIZE:
    case KT_DURATION: {
        long long n = 0;
        int rc = apply_scaled(pc, k, v, &n);
        if (rc < 0)
            return rc;
        if (k->type == KT_SIZE)
            *(int64_t *)f = n;
        else
            *(int *)f = (int)n;
        return 0;
    }
    case KT_BOOL:
        if (parse_bool(v, f) < 0)
            return perr(pc, MB_ECONFIG, "%s is not a boolean (true/false, yes/no, on/off, 1/0)",
                        SHOW(v));
        return 0;
    case KT_ENUM: {
        char names[256];
        size_t o = 0;
        for (const struct key_enum *e = k->enums; e->name; e++) {
            if (strcasecmp(v, e->name) == 0) {
                *(int *)f = e->value;
                return 0;
            }
            if (strcmp(e->name, "warning") != 0)
                o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", o ? ", " : "", e->name);
        }
        return perr(pc, MB_ECONFIG, "%s is not one of %s", SHOW(v), names);
    }
    case KT_LISTEN: return apply_listen(pc, k, v, cfg);
    case KT_HOST: {
        char host[256];
        size_t hl = strlen(v);
        if (v[0] == '[' && hl > 2 && v[hl - 1] == ']' && hl - 2 < sizeof(host)) {
            memcpy(host, v + 1, hl - 2);
            host[hl - 2] = '\0';
        } else if (hl < sizeof(host)) {
            memcpy(host, v, hl + 1);
        } else {
            return perr(pc, MB_ECONFIG, "%s is not a host name or address", SHOW(v));
        }
        if (strchr(host, ':') ? !ipv6_valid(host) : !hostname_valid(host))
            return perr(pc, MB_ECONFIG, "%s is not a host name or address", SHOW(v));
        set_str(f, host);
        return 0;
    }
    case KT_DOMAINS: return apply_domains(pc, v, cfg);
    case KT_NETLIST: {
        char bad[300];
        if (net_acl_parse(f, v, bad, sizeof(bad)) != 0)
            return perr(pc, MB_ECONFIG, "%s is not a network (CIDR) or a host name", SHOW(bad));
        return 0;
    }
    case KT_SECRET:
        if (strlen(v) > CONFIG_SECRET_MAX)
            return perr(pc, MB_ETOOBIG, "longer than %d bytes", CONFIG_SECRET_MAX);
        secret_fini(f);
        if (v[0]) {
            secret_set(f, v, strlen(v));
            cfg->destination.master_password_source = CONFIG_SECRET_INLINE;
        }
        return 0;
    case KT_SECRET_FILE: {
        if (!v[0])
            return 0;
        int rc = read_secret_file(pc, v, f);
        if (rc == 0 && f == (void *)&cfg->destination.master_password)
            cfg->destination.master_password_source = CONFIG_SECRET_FILE;
        return rc;
    }
    }
    return perr(pc, MB_ECONFIG, "internal error: key type %d", (int)k->type);
}

/* ---- defaults ---- */

static struct config *config_new_defaults(void)
{
    struct config *cfg = xcalloc(1, sizeof(*cfg));
    struct mb_err err;
    struct parse_ctx pc = {"(defaults)", 0, NULL, NULL, &err};
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key_def *k = &config_keys[i];
        if (!k->def)
            continue;
        pc.section = k->section;
        pc.key = k->name;
        if (apply_value(&pc, k, k->def, cfg) < 0) {
            fprintf(stderr, "config: bad built-in default: %s\n", err.msg);
            abort();
        }
    }
    cfg->server.https = 0;
    return cfg;
}

void config_defaults(struct config **cfg_r)
{
    *cfg_r = config_new_defaults();
}

void config_free(struct config **cfgp)
{
    struct config *cfg = *cfgp;
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->server.listen_host);
    free(cfg->server.data_dir);
    free(cfg->server.tls_cert);
    free(cfg->server.tls_key);
    free(cfg->sources.ca_file);
    free(cfg->server.proxy_header);
    net_acl_fini(&cfg->server.trusted_proxies);
    net_acl_fini(&cfg->sources.allow);
    net_acl_fini(&cfg->sources.deny);
    free(cfg->destination.host);
    free(cfg->destination.ca_file);
    free(cfg->destination.master_user);
    secret_fini(&cfg->destination.master_password);
    secret_fini(&cfg->server.webhook_secret);
    free(cfg->server.webhook_url);
    free(cfg->destination.separator);
    free(cfg->store.url);
    free(cfg->store.ca_file);
    secret_fini(&cfg->store.password);
    for (size_t i = 0; i < cfg->destination.n_domains; i++)
        free(cfg->destination.domains[i]);
    free(cfg->destination.domains);
    free(cfg);
    *cfgp = NULL;
}

/* ---- the file ---- */

static int read_file(const char *path, char **data_r, size_t *len_r, struct mb_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return mb_err_setsys(err, e == ENOENT ? MB_ENOTFOUND : MB_EIO, e, "%s: cannot open: %s",
                             path, strerror(e));
    }
    int rc = 0;
    size_t cap = 4096, len = 0;
    char *data = xmalloc(cap + 1);
    for (;;) {
        if (len == cap) {
            if (cap > CONFIG_FILE_MAX) {
                rc = mb_err_set(err, MB_ETOOBIG, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
                goto out;
            }
            cap *= 2;
            data = xrealloc(data, cap + 1);
        }
        size_t r = fread(data + len, 1, cap - len, f);
        len += r;
        if (r == 0) {
            if (ferror(f)) {
                int e = errno;
                rc = mb_err_setsys(err, MB_EIO, e, "%s: read error: %s", path, strerror(e));
                goto out;
            }
            break;
        }
    }
    if (len > CONFIG_FILE_MAX) {
        rc = mb_err_set(err, MB_ETOOBIG, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
        goto out;
    }
    data[len] = '\0';
out:
    fclose(f);
    if (rc < 0) {
        mbedtls_platform_zeroize(data, len);
        free(data);
        return rc;
    }
    *data_r = data;
    *len_r = len;
    return 0;
}

static const struct key_def *find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(config_keys[i].section, section) == 0
            && strcasecmp(config_keys[i].name, name) == 0)
            return &config_keys[i];
    return NULL;
}

static int key_is_secret(const struct key_def *k)
{
    return k && k->type == KT_SECRET;
}

/* Parse the value part (after '=') in place into out (same size as the input is enough).
 * Returns 0 or a negative code with the message set. */
static int parse_raw_value(const struct parse_ctx *pc, int secret, char *p, char *out)
{
    while (is_blank(*p))
        p++;
    if (*p == '"') {
        size_t o = 0;
        p++;
        for (;;) {
            if (*p == '\0')
                return perr(pc, MB_ECONFIG, "unterminated quoted value");
            if (*p == '"')
                break;
            if (*p == '\\') {
                if (p[1] == '"' || p[1] == '\\') {
                    out[o++] = p[1];
                    p += 2;
                    continue;
                }
                if (secret)
                    return perr(pc, MB_ECONFIG, "bad escape in quoted value (only \\\" and \\\\)");
                return perr(pc, MB_ECONFIG,
                            "bad escape \"\\%c\" in quoted value "
                            "(only \\\" and \\\\)",
                            p[1] ? p[1] : ' ');
            }
            out[o++] = *p++;
        }
        out[o] = '\0';
        p++;
        while (is_blank(*p))
            p++;
        if (*p && *p != ';' && *p != '#')
            return perr(pc, MB_ECONFIG, "text after the closing quote");
        return 0;
    }
    /* Unquoted: up to an inline ';' comment that follows whitespace. */
    char *end = p;
    for (char *q = p; *q; q++) {
        if (*q == ';' && q > p && is_blank(q[-1]))
            break;
        end = q + 1;
    }
    while (end > p && is_blank(end[-1]))
        end--;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return 0;
}

static int key_name_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static int finish_checks(struct parse_ctx *pc, struct config *cfg, const unsigned *seen)
{
    struct config_server *s = &cfg->server;
    size_t cert_i = 0, key_i = 0, pw_i = 0, pwf_i = 0;
    for (size_t i = 0; i < N_KEYS; i++) {
        if (config_keys[i].off == SRV(tls_cert))
            cert_i = i;
        if (config_keys[i].off == SRV(tls_key))
            key_i = i;
        if (config_keys[i].type == KT_SECRET)
            pw_i = i;
        if (config_keys[i].type == KT_SECRET_FILE && config_keys[i].off == DST(master_password))
            pwf_i = i;
    }
    pc->section = "server";
    if (!s->tls_cert != !s->tls_key) {
        pc->key = s->tls_cert ? "tls_key" : "tls_cert";
        pc->line = s->tls_cert ? seen[cert_i] : seen[key_i];
        return perr(pc, MB_ECONFIG, "missing (tls_cert and tls_key go together)");
    }
    s->https = s->tls == CONFIG_HTTP_TLS_ON || (s->tls == CONFIG_HTTP_TLS_AUTO && s->tls_cert);
    if (seen[pw_i] && seen[pwf_i]) {
        pc->section = "destination";
        pc->key = seen[pw_i] > seen[pwf_i] ? "master_password" : "master_password_file";
        pc->line = seen[pw_i] > seen[pwf_i] ? seen[pw_i] : seen[pwf_i];
        return perr(pc, MB_ECONFIG, "set only one of master_password and master_password_file");
    }
    if (cfg->store.backend == CONFIG_STORE_POSTGRESQL && !cfg->store.url) {
        pc->section = "store";
        pc->key = "url";
        pc->line = 0;
        return perr(pc, MB_ECONFIG, "missing (backend = postgresql needs a url)");
    }
    if (cfg->store.backend == CONFIG_STORE_POSTGRESQL && cfg->store.timeout >= cfg->store.lease) {
        pc->section = "store";
        pc->key = "timeout";
        pc->line = 0;
        return perr(pc, MB_ECONFIG,
                    "must be shorter than lease (a node must notice a silent store before its "
                    "lease runs out)");
    }
    return 0;
}

static int parse_text(struct config *cfg, const char *file, char *text, size_t len,
                      struct mb_err *err)
{
    unsigned seen[N_KEYS];
    memset(seen, 0, sizeof(seen));
    struct parse_ctx pc = {file, 0, NULL, NULL, err};
    const char *section = NULL;
    char *value = xmalloc(len + 1);
    int rc = 0;
    char *p = text;
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3;
    if (memchr(text, '\0', len)) {
        pc.line = 1;
        for (const char *q = text; *q; q++)
            pc.line += *q == '\n';
        rc = perr(&pc, MB_ECONFIG, "NUL byte in file");
        goto out;
    }
    while (*p) {
        char *eol = strchr(p, '\n');
        char *next = eol ? eol + 1 : p + strlen(p);
        if (eol)
            *eol = '\0';
        pc.line++;
        pc.section = section;
        pc.key = NULL;
        size_t ll = strlen(p);
        if (ll && p[ll - 1] == '\r')
            p[--ll] = '\0';
        while (is_blank(*p))
            p++;
        ll = strlen(p);
        while (ll && is_blank(p[ll - 1]))
            p[--ll] = '\0';
        if (*p == '\0' || *p == ';' || *p == '#') {
            p = next;
            continue;
        }
        if (*p == '[') {
            char *close = strchr(p, ']');
            pc.section = NULL;
            if (!close) {
                rc = perr(&pc, MB_ECONFIG, "section header without \"]\"");
                goto out;
            }
            char *rest = close + 1;
            while (is_blank(*rest))
                rest++;
            if (*rest && *rest != ';' && *rest != '#') {
                rc = perr(&pc, MB_ECONFIG, "text after the section header");
                goto out;
            }
            *close = '\0';
            char *name = p + 1;
            while (is_blank(*name))
                name++;
            size_t nl = strlen(name);
            while (nl && is_blank(name[nl - 1]))
                name[--nl] = '\0';
            section = NULL;
            for (size_t i = 0; config_sections[i]; i++)
                if (strcasecmp(name, config_sections[i]) == 0)
                    section = config_sections[i];
            if (!section) {
                char showbuf[CONFIG_SHOW_MAX * 4 + 8];
                rc = perr(&pc, MB_ECONFIG,
                          "[%s]: unknown section (expected server, sources, destination or store)",
                          key_name_ok(name) ? name : SHOW(name));
                goto out;
            }
            p = next;
            continue;
        }
        char *eq = strchr(p, '=');
        char *kend = eq ? eq : p + strcspn(p, " \t");
        *kend = '\0';
        char *key = p;
        size_t kl = strlen(key);
        while (kl && is_blank(key[kl - 1]))
            key[--kl] = '\0';
        int name_ok = key_name_ok(key);
        pc.key = name_ok ? key : NULL;
        if (!eq) {
            rc =
                perr(&pc, MB_ECONFIG,
                     name_ok ? "missing \"=\" (expected key = value)" : "expected \"key = value\"");
            goto out;
        }
        if (!name_ok) {
            rc =
                perr(&pc, MB_ECONFIG,
                     kl ? "bad key name (letters, digits and _ only)" : "missing key before \"=\"");
            goto out;
        }
        if (!section) {
            rc = perr(&pc, MB_ECONFIG,
                      "key outside of any section ([server], [sources], "
                      "[destination], [store])");
            goto out;
        }
        const struct key_def *k = find_key(section, key);
        if (!k) {
            rc = perr(&pc, MB_ECONFIG, "unknown key");
            goto out;
        }
        pc.key = k->name;
        size_t ki = (size_t)(k - config_keys);
        if (seen[ki]) {
            rc = perr(&pc, MB_ECONFIG, "duplicate key (first set on line %u)", seen[ki]);
            goto out;
        }
        seen[ki] = pc.line;
        rc = parse_raw_value(&pc, key_is_secret(k), eq + 1, value);
        if (rc == 0)
            rc = apply_value(&pc, k, value, cfg);
        if (rc < 0)
            goto out;
        p = next;
    }
    pc.line = 0;
    rc = finish_checks(&pc, cfg, seen);
out:
    mbedtls_platform_zeroize(value, len + 1);
    free(value);
    return rc;
}

static int apply_env(struct config *cfg, struct mb_err *err)
{
    const char *pw = getenv(CONFIG_ENV_MASTER_PASSWORD);
    if (!pw || !pw[0])
        return 0;
    if (strlen(pw) > CONFIG_SECRET_MAX)
        return mb_err_set(err, MB_ETOOBIG, "%s: longer than %d bytes", CONFIG_ENV_MASTER_PASSWORD,
                          CONFIG_SECRET_MAX);
    secret_fini(&cfg->destination.master_password);
    secret_set(&cfg->destination.master_password, pw, strlen(pw));
    cfg->destination.master_password_source = CONFIG_SECRET_ENV;
    return 0;
}

int config_load(const char *path, struct config **cfg_r, struct mb_err *err)
{
    struct config *cfg = config_new_defaults();
    char *text = NULL;
    size_t len = 0;
    int rc = 0;
    if (path) {
        cfg->path = xstrdup(path);
        rc = read_file(path, &text, &len, err);
        if (rc < 0)
            goto out;
        rc = parse_text(cfg, path, text, len, err);
        if (rc < 0)
            goto out;
    }
    rc = apply_env(cfg, err);
out:
    if (text) {
        mbedtls_platform_zeroize(text, len);
        free(text);
    }
    if (rc < 0) {
        config_free(&cfg);
        return rc;
    }
    *cfg_r = cfg;
    return 0;
}

int config_domain_allowed(const struct config *cfg, const char *domain)
{
    const struct config_destination *d = &cfg->destination;
    if (d->n_domains == 0)
        return 1;
    for (size_t i = 0; i < d->n_domains; i++)
        if (strcasecmp(d->domains[i], domain) == 0)
            return 1;
    return 0;
}

static const char *enum_name(const struct key_enum *e, int v)
{
    for (; e->name; e++)
        if (e->value == v)
            return e->name;
    return "?";
}

const char *config_log_level_name(enum config_log_level v)
{
    return enum_name(log_levels, (int)v);
}

const char *config_http_tls_name(enum config_http_tls v)
{
    return enum_name(http_tls_modes, (int)v);
}

const char *config_metrics_name(enum config_metrics v)
{
    return enum_name(metrics_modes, (int)v);
}

const char *config_imap_tls_name(enum config_imap_tls v)
{
    return enum_name(imap_tls_modes, (int)v);
}

const char *config_store_backend_name(enum config_store_backend v)
{
    return enum_name(store_backends, (int)v);
}

const char *config_auth_name(enum config_auth v)
{
    return enum_name(auth_modes, (int)v);
}

const char *config_secret_source_name(enum config_secret_source v)
{
    switch (v) {
    case CONFIG_SECRET_NONE: return "none";
    case CONFIG_SECRET_INLINE: return "master_password";
    case CONFIG_SECRET_FILE: return "master_password_file";
    case CONFIG_SECRET_ENV: return CONFIG_ENV_MASTER_PASSWORD;
    }
    return "?";
}
