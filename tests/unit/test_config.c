#define T_IMPLEMENTATION
#include "t.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mb_err.h"
#include "base/xalloc.h"
#include "config/config.h"

static char conf_path[512];

/* Returns a static buffer per call slot (4 rotating), enough for the tests below. */
static const char *write_file(const char *name, const char *data, size_t len)
{
    static char paths[4][512];
    static unsigned slot;
    char *path = paths[slot++ % 4];
    snprintf(path, sizeof(paths[0]), "%s/%s", t_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    if (fwrite(data, 1, len, f) != len)
        exit(2);
    fclose(f);
    return path;
}

/* Write text as migrabox.conf and load it. */
static int load_text(const char *text, struct config **cfg_r, struct mb_err *err)
{
    snprintf(conf_path, sizeof(conf_path), "%s", write_file("migrabox.conf", text, strlen(text)));
    mb_err_clear(err);
    return config_load(conf_path, cfg_r, err);
}

/* Load text, expect failure with code and message "<path>:<expected>". */
static int expect_error(const char *text, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int expect_error(const char *text, int code, const char *fmt, ...)
{
    struct config *cfg = NULL;
    struct mb_err err;
    int rc = load_text(text, &cfg, &err);
    char rest[512], want[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rest, sizeof(rest), fmt, ap);
    va_end(ap);
    snprintf(want, sizeof(want), "%s:%s", conf_path, rest);
    int ok = rc == code && cfg == NULL && strcmp(err.msg, want) == 0;
    if (!ok)
        fprintf(stderr, "  want rc %d \"%s\"\n   got rc %d \"%s\"\n", code, want, rc, err.msg);
    config_free(&cfg);
    return ok;
}

static void test_defaults(void)
{
    T_BEGIN("config_defaults and config_load(NULL) give the documented defaults");
    unsetenv(CONFIG_ENV_MASTER_PASSWORD);
    struct config *cfg = NULL;
    config_defaults(&cfg);
    T_ASSERT(cfg != NULL);
    T_ASSERT(cfg->path == NULL);
    T_ASSERT_STR(cfg->server.listen_host, "127.0.0.1");
    T_ASSERT_INT(cfg->server.listen_port, 8080);
    T_ASSERT_STR(cfg->server.data_dir, "./var");
    T_ASSERT_INT(cfg->server.workers, 4);
    T_ASSERT_INT(cfg->server.tls, CONFIG_HTTP_TLS_AUTO);
    T_ASSERT_INT(cfg->server.https, 0);
    T_ASSERT(cfg->server.tls_cert == NULL && cfg->server.tls_key == NULL);
    T_ASSERT_INT(cfg->server.log_level, CONFIG_LOG_INFO);
    T_ASSERT_INT(cfg->server.max_upload_bytes, 10 * 1024 * 1024);
    T_ASSERT_INT(cfg->server.max_import_rows, 10000);
    T_ASSERT_INT(cfg->server.session_ttl, 12 * 3600);
    T_ASSERT_INT(cfg->server.max_http_connections, 256);
    T_ASSERT_STR(cfg->sources.ca_file, "/etc/ssl/certs/ca-certificates.crt");
    T_ASSERT_INT(cfg->sources.max_connections_per_host, 10);
    T_ASSERT_INT(cfg->sources.connect_timeout, 30);
    T_ASSERT_INT(cfg->sources.io_timeout, 120);
    T_ASSERT_INT(cfg->sources.max_attempts, 5);
    T_ASSERT_INT(cfg->sources.retry_delay, 30);
    T_ASSERT_STR(cfg->destination.host, "127.0.0.1");
    T_ASSERT_INT(cfg->destination.port, 993);
    T_ASSERT_INT(cfg->destination.tls, CONFIG_IMAP_TLS_IMPLICIT);
    T_ASSERT_STR(cfg->destination.ca_file, "/etc/ssl/certs/ca-certificates.crt");
    T_ASSERT_INT(cfg->destination.verify, 1);
    T_ASSERT_INT(cfg->destination.auth, CONFIG_AUTH_MASTER_SEPARATOR);
    T_ASSERT_STR(cfg->destination.master_user, "admin");
    T_ASSERT(cfg->destination.master_password.data == NULL);
    T_ASSERT_INT(cfg->destination.master_password_source, CONFIG_SECRET_NONE);
    T_ASSERT_STR(cfg->destination.separator, "*");
    T_ASSERT_INT(cfg->destination.n_domains, 0);
    T_ASSERT_INT(cfg->destination.connect_timeout, 30);
    T_ASSERT_INT(cfg->destination.io_timeout, 120);
    T_ASSERT(config_domain_allowed(cfg, "anything.example"));
    config_free(&cfg);
    T_ASSERT(cfg == NULL);
    config_free(&cfg);

    struct mb_err err;
    T_ASSERT_INT(config_load(NULL, &cfg, &err), 0);
    T_ASSERT_INT(cfg->server.listen_port, 8080);
    T_ASSERT(cfg->destination.master_password.data == NULL);
    config_free(&cfg);

    /* An empty file and a file of comments are the defaults too. */
    T_ASSERT_INT(load_text("", &cfg, &err), 0);
    T_ASSERT_INT(cfg->server.workers, 4);
    T_ASSERT_STR(cfg->path, conf_path);
    config_free(&cfg);
    T_ASSERT_INT(load_text("; nothing\n# at all\n\n   \n", &cfg, &err), 0);
    T_ASSERT_STR(cfg->destination.separator, "*");
    config_free(&cfg);
    T_END();
}

static void test_full_example(void)
{
    T_BEGIN("the PRODUCT.md example file, every key set");
    unsetenv(CONFIG_ENV_MASTER_PASSWORD);
    const char *secret_path = write_file("master.secret", "s3cr3t;pw\n", 10);
    char text[4096];
    snprintf(text, sizeof(text),
             "; migrabox configuration\n"
             "[server]\n"
             "listen = 0.0.0.0:8443          ; host:port of the web UI / API\n"
             "data_dir = /var/lib/migrabox   ; SQLite database, secret key, TLS material\n"
             "workers = 8                    ; migrations running at the same time\n"
             "tls = auto\n"
             "tls_cert = /etc/migrabox/cert.pem\n"
             "tls_key = /etc/migrabox/key.pem\n"
             "log_level = debug\n"
             "max_upload_bytes = 512K\n"
             "max_import_rows = 500\n"
             "session_ttl = 30m\n"
             "max_http_connections = 64\n"
             "\n"
             "[sources]\n"
             "ca_file = /etc/ssl/certs/ca-certificates.crt   ; trust for source servers\n"
             "max_connections_per_host = 15 ; cap per source host\n"
             "connect_timeout = 10s\n"
             "io_timeout = 5m\n"
             "max_attempts = 3\n"
             "retry_delay = 1m\n"
             "\n"
             "[destination]\n"
             "host = imap.example.net\n"
             "port = 143\n"
             "tls = starttls                   ; implicit | starttls | none\n"
             "ca_file = /etc/migrabox/ca.pem\n"
             "verify = false                   ; lab only\n"
             "auth = plain-authzid             ; master-separator | plain-authzid\n"
             "master_user = migrator\n"
             "master_password_file = %s\n"
             "separator = %%\n"
             "domains = Example.COM, example.org example.com\n"
             "connect_timeout = 5\n"
             "io_timeout = 1h\n",
             secret_path);
    struct config *cfg = NULL;
    struct mb_err err;
    T_ASSERT_INT(load_text(text, &cfg, &err), 0);
    if (!cfg) {
        fprintf(stderr, "  %s\n", err.msg);
        T_END();
        return;
    }
    T_ASSERT_STR(cfg->server.listen_host, "0.0.0.0");
    T_ASSERT_INT(cfg->server.listen_port, 8443);
    T_ASSERT_STR(cfg->server.data_dir, "/var/lib/migrabox");
    T_ASSERT_INT(cfg->server.workers, 8);
    T_ASSERT_INT(cfg->server.tls, CONFIG_HTTP_TLS_AUTO);
    T_ASSERT_INT(cfg->server.https, 1);
    T_ASSERT_STR(cfg->server.tls_cert, "/etc/migrabox/cert.pem");
    T_ASSERT_STR(cfg->server.tls_key, "/etc/migrabox/key.pem");
    T_ASSERT_INT(cfg->server.log_level, CONFIG_LOG_DEBUG);
    T_ASSERT_INT(cfg->server.max_upload_bytes, 512 * 1024);
    T_ASSERT_INT(cfg->server.max_import_rows, 500);
    T_ASSERT_INT(cfg->server.session_ttl, 1800);
    T_ASSERT_INT(cfg->server.max_http_connections, 64);
    T_ASSERT_INT(cfg->sources.max_connections_per_host, 15);
    T_ASSERT_INT(cfg->sources.connect_timeout, 10);
    T_ASSERT_INT(cfg->sources.io_timeout, 300);
    T_ASSERT_INT(cfg->sources.max_attempts, 3);
    T_ASSERT_INT(cfg->sources.retry_delay, 60);
    T_ASSERT_STR(cfg->destination.host, "imap.example.net");
    T_ASSERT_INT(cfg->destination.port, 143);
    T_ASSERT_INT(cfg->destination.tls, CONFIG_IMAP_TLS_STARTTLS);
    T_ASSERT_STR(cfg->destination.ca_file, "/etc/migrabox/ca.pem");
    T_ASSERT_INT(cfg->destination.verify, 0);
    T_ASSERT_INT(cfg->destination.auth, CONFIG_AUTH_PLAIN_AUTHZID);
    T_ASSERT_STR(cfg->destination.master_user, "migrator");
    T_ASSERT_STR(cfg->destination.master_password.data, "s3cr3t;pw");
    T_ASSERT_INT(cfg->destination.master_password_source, CONFIG_SECRET_FILE);
    T_ASSERT_STR(cfg->destination.separator, "%");
    T_ASSERT_INT(cfg->destination.n_domains, 2);
    if (cfg->destination.n_domains == 2) {
        T_ASSERT_STR(cfg->destination.domains[0], "example.com");
        T_ASSERT_STR(cfg->destination.domains[1], "example.org");
    }
    T_ASSERT(config_domain_allowed(cfg, "EXAMPLE.org"));
    T_ASSERT(!config_domain_allowed(cfg, "example.net"));
    T_ASSERT_INT(cfg->destination.connect_timeout, 5);
    T_ASSERT_INT(cfg->destination.io_timeout, 3600);
    config_free(&cfg);
    T_END();
}

static void test_syntax(void)
{
    T_BEGIN("comments, whitespace, case, quoting, BOM and CRLF");
    unsetenv(CONFIG_ENV_MASTER_PASSWORD);
    struct config *cfg = NULL;
    struct mb_err err;
    const char *text =
        "\xef\xbb\xbf# hash comment\r\n"
        "  ; indented semicolon comment\r\n"
        "  [ Server ]   ; section comment\r\n"
        "\tWorkers\t=\t2\t; tabs\r\n"
        "data_dir = /srv/a;b        ; ';' without a blank before it is data\r\n"
        "[destination] # hash after a section header\r\n"
        "separator = #\r\n"
        "master_user = \"  spaced ; \\\"quoted\\\" \\\\ user  \"   ; trailing comment\r\n"
        "master_password = \"p;w \\\"x\\\"\"\r\n"
        "host = [::1]\r\n"
        "[server]\r\n"
        "tls_cert =\r\n"
        "log_level = WARNING\r\n";
    T_ASSERT_INT(load_text(text, &cfg, &err), 0);
    if (!cfg) {
        fprintf(stderr, "  %s\n", err.msg);
        T_END();
        return;
    }
    T_ASSERT_INT(cfg->server.workers, 2);
    T_ASSERT_STR(cfg->server.data_dir, "/srv/a;b");
    T_ASSERT_STR(cfg->destination.separator, "#");
    T_ASSERT_STR(cfg->destination.master_user, "  spaced ; \"quoted\" \\ user  ");
    T_ASSERT_STR(cfg->destination.master_password.data, "p;w \"x\"");
    T_ASSERT_INT(cfg->destination.master_password_source, CONFIG_SECRET_INLINE);
    T_ASSERT_STR(cfg->destination.host, "::1");
    T_ASSERT(cfg->server.tls_cert == NULL);
    T_ASSERT_INT(cfg->server.log_level, CONFIG_LOG_WARN);
    config_free(&cfg);

    /* Booleans in every spelling. */
    static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
    static const char *const no[] = {"false", "no", "off", "0", "False", "OFF"};
    for (size_t i = 0; i < 6; i++) {
        char t[128];
        snprintf(t, sizeof(t), "[destination]\nverify = %s\n", yes[i]);
        T_ASSERT_INT(load_text(t, &cfg, &err), 0);
        T_ASSERT(cfg && cfg->destination.verify == 1);
        config_free(&cfg);
        snprintf(t, sizeof(t), "[destination]\nverify = %s\n", no[i]);
        T_ASSERT_INT(load_text(t, &cfg, &err), 0);
        T_ASSERT(cfg && cfg->destination.verify == 0);
        config_free(&cfg);
    }

    /* No final newline; last line still counted. */
    T_ASSERT_INT(load_text("[server]\nworkers = 7", &cfg, &err), 0);
    T_ASSERT(cfg && cfg->server.workers == 7);
    config_free(&cfg);
    T_END();
}

static void test_listen_and_hosts(void)
{
    T_BEGIN("listen host:port forms, IPv6 in brackets, port 0");
    struct config *cfg = NULL;
    struct mb_err err;
    T_ASSERT_INT(load_text("[server]\nlisten = [::1]:8080\n", &cfg, &err), 0);
    T_ASSERT(cfg && strcmp(cfg->server.listen_host, "::1") == 0 && cfg->server.listen_port == 8080);
    config_free(&cfg);
    T_ASSERT_INT(load_text("[server]\nlisten = [::]:0\n", &cfg, &err), 0);
    T_ASSERT(cfg && strcmp(cfg->server.listen_host, "::") == 0 && cfg->server.listen_port == 0);
    config_free(&cfg);
    T_ASSERT_INT(load_text("[server]\nlisten = localhost:65535\n", &cfg, &err), 0);
    T_ASSERT(cfg && strcmp(cfg->server.listen_host, "localhost") == 0
             && cfg->server.listen_port == 65535);
    config_free(&cfg);

    T_ASSERT(expect_error("[server]\nlisten = 127.0.0.1\n", MB_ECONFIG,
                          "2: [server] listen: \"127.0.0.1\" has no port (host:port)"));
    T_ASSERT(expect_error("[server]\nlisten = ::1:8080\n", MB_ECONFIG,
                          "2: [server] listen: \"::1:8080\": write an IPv6 address in "
                          "brackets, [::1]:8080"));
    T_ASSERT(expect_error("[server]\nlisten = [::1]8080\n", MB_ECONFIG,
                          "2: [server] listen: \"[::1]8080\" is not host:port or [ipv6]:port"));
    T_ASSERT(expect_error("[server]\nlisten = [zz::1]:80\n", MB_ECONFIG,
                          "2: [server] listen: \"[zz::1]:80\": \"zz::1\" is not an IPv6 "
                          "address"));
    T_ASSERT(expect_error("[server]\nlisten = 127.0.0.1:65536\n", MB_ECONFIG,
                          "2: [server] listen: \"127.0.0.1:65536\": \"65536\" is not a port "
                          "(0-65535)"));
    T_ASSERT(expect_error("[server]\nlisten = 127.0.0.1:http\n", MB_ECONFIG,
                          "2: [server] listen: \"127.0.0.1:http\": \"http\" is not a port "
                          "(0-65535)"));
    T_ASSERT(expect_error("[server]\nlisten = bad host:80\n", MB_ECONFIG,
                          "2: [server] listen: \"bad host:80\": \"bad host\" is not a host "
                          "name or address"));
    T_ASSERT(expect_error("[server]\nlisten = :80\n", MB_ECONFIG,
                          "2: [server] listen: \":80\" is not host:port"));
    T_ASSERT(expect_error("[destination]\nhost = -bad.example\n", MB_ECONFIG,
                          "2: [destination] host: \"-bad.example\" is not a host name or "
                          "address"));
    T_ASSERT(expect_error("[destination]\nhost = fe80::zz\n", MB_ECONFIG,
                          "2: [destination] host: \"fe80::zz\" is not a host name or address"));
    T_END();
}

static void test_errors(void)
{
    T_BEGIN("every error form names file, line, section and key");
    /* The example from the brief, line 12. */
    T_ASSERT(expect_error("[destination]\n\n\n\n\n\n\n\n\n\n\nport = 99999\n", MB_ECONFIG,
                          "12: [destination] port: \"99999\" is not a port (1-65535)"));
    T_ASSERT(expect_error("[destination]\nport = 0\n", MB_ECONFIG,
                          "2: [destination] port: \"0\" is not a port (1-65535)"));
    T_ASSERT(expect_error("[destination]\nport = 99999999999999999999999\n", MB_ECONFIG,
                          "2: [destination] port: \"99999999999999999999999\" is not a port "
                          "(1-65535)"));
    T_ASSERT(expect_error("[server]\nworkers = 0\n", MB_ECONFIG,
                          "2: [server] workers: \"0\" is out of range (1-256)"));
    T_ASSERT(expect_error("[server]\nworkers = four\n", MB_ECONFIG,
                          "2: [server] workers: \"four\" is not an integer"));
    T_ASSERT(expect_error("[server]\nworkers = 4x\n", MB_ECONFIG,
                          "2: [server] workers: \"4x\" is not an integer"));
    T_ASSERT(expect_error("[server]\nworkers =\n", MB_ECONFIG,
                          "2: [server] workers: must not be empty"));
    T_ASSERT(expect_error("[server]\nmax_upload_bytes = 10T\n", MB_ECONFIG,
                          "2: [server] max_upload_bytes: \"10T\" is not a size (e.g. 512K, 10M, "
                          "1G)"));
    T_ASSERT(expect_error("[server]\nmax_upload_bytes = 2G\n", MB_ECONFIG,
                          "2: [server] max_upload_bytes: \"2G\" is out of range "
                          "(1024-1073741824 bytes)"));
    T_ASSERT(expect_error("[server]\nsession_ttl = 10w\n", MB_ECONFIG,
                          "2: [server] session_ttl: \"10w\" is not a duration (e.g. 90, 30s, "
                          "15m, 12h, 7d)"));
    T_ASSERT(expect_error("[server]\nsession_ttl = 59\n", MB_ECONFIG,
                          "2: [server] session_ttl: \"59\" is out of range (60-2592000 "
                          "seconds)"));
    T_ASSERT(expect_error("[sources]\nio_timeout = -5\n", MB_ECONFIG,
                          "2: [sources] io_timeout: \"-5\" is not a duration (e.g. 90, 30s, 15m, "
                          "12h, 7d)"));
    T_ASSERT(expect_error("[destination]\nverify = maybe\n", MB_ECONFIG,
                          "2: [destination] verify: \"maybe\" is not a boolean (true/false, "
                          "yes/no, on/off, 1/0)"));
    T_ASSERT(expect_error("[destination]\ntls = ssl\n", MB_ECONFIG,
                          "2: [destination] tls: \"ssl\" is not one of implicit, starttls, none"));
    T_ASSERT(expect_error("[destination]\nauth = login\n", MB_ECONFIG,
                          "2: [destination] auth: \"login\" is not one of master-separator, "
                          "plain-authzid"));
    T_ASSERT(expect_error("[server]\nlog_level = loud\n", MB_ECONFIG,
                          "2: [server] log_level: \"loud\" is not one of debug, info, warn, "
                          "error"));
    T_ASSERT(expect_error("[server]\ntls = maybe\n", MB_ECONFIG,
                          "2: [server] tls: \"maybe\" is not one of auto, on, off"));
    T_ASSERT(expect_error("[destination]\ndomains = example.com bad..domain\n", MB_ECONFIG,
                          "2: [destination] domains: \"bad..domain\" is not a domain name"));
    T_ASSERT(expect_error("[destination]\nseparator = \"a b\"\n", MB_ECONFIG,
                          "2: [destination] separator: \"a b\": a separator cannot contain "
                          "spaces or quotes"));
    /* Structure errors. */
    T_ASSERT(expect_error("[server]\n[mail]\n", MB_ECONFIG,
                          "2: [mail]: unknown section (expected server, sources, "
                          "destination or store)"));
    T_ASSERT(expect_error("[server\n", MB_ECONFIG, "1: section header without \"]\""));
    T_ASSERT(expect_error("[server] x\n", MB_ECONFIG, "1: text after the section header"));
    T_ASSERT(expect_error("[server]\nwokers = 4\n", MB_ECONFIG, "2: [server] wokers: unknown key"));
    T_ASSERT(expect_error("[sources]\nport = 4\n", MB_ECONFIG, "2: [sources] port: unknown key"));
    T_ASSERT(expect_error("[server]\n\nworkers 4\n", MB_ECONFIG,
                          "3: [server] workers: missing \"=\" (expected key = value)"));
    T_ASSERT(expect_error("[server]\n= 4\n", MB_ECONFIG, "2: [server] missing key before \"=\""));
    T_ASSERT(expect_error("[server]\nwork ers = 4\n", MB_ECONFIG,
                          "2: [server] bad key name (letters, digits and _ only)"));
    T_ASSERT(expect_error("workers = 4\n", MB_ECONFIG,
                          "1: workers: key outside of any section ([server], [sources], "
                          "[destination], [store])"));
    T_ASSERT(expect_error("[server]\nworkers = 4\n[sources]\n[server]\nWORKERS = 5\n", MB_ECONFIG,
                          "5: [server] workers: duplicate key (first set on line 2)"));
    T_ASSERT(expect_error("[server]\ndata_dir = \"/a\n", MB_ECONFIG,
                          "2: [server] data_dir: unterminated quoted value"));
    T_ASSERT(expect_error("[server]\ndata_dir = \"/a\" b\n", MB_ECONFIG,
                          "2: [server] data_dir: text after the closing quote"));
    T_ASSERT(expect_error("[server]\ndata_dir = \"/a\\n\"\n", MB_ECONFIG,
                          "2: [server] data_dir: bad escape \"\\n\" in quoted value (only \\\" "
                          "and \\\\)"));
    T_ASSERT(expect_error("[server]\ntls_cert = /c.pem\n", MB_ECONFIG,
                          "2: [server] tls_key: missing (tls_cert and tls_key go together)"));
    T_ASSERT(expect_error("[server]\n\ntls_key = /k.pem\n", MB_ECONFIG,
                          "3: [server] tls_cert: missing (tls_cert and tls_key go together)"));
    T_END();
}

static void test_file_errors(void)
{
    T_BEGIN("unreadable, oversized and binary files");
    struct config *cfg = NULL;
    struct mb_err err;
    char path[600];
    snprintf(path, sizeof(path), "%s/does-not-exist.conf", t_tmpdir());
    T_ASSERT_INT(config_load(path, &cfg, &err), MB_ENOTFOUND);
    T_ASSERT(cfg == NULL);
    T_ASSERT(strstr(err.msg, "does-not-exist.conf: cannot open: No such file") != NULL);

    T_ASSERT_INT(config_load(t_tmpdir(), &cfg, &err), MB_EIO); /* a directory */
    T_ASSERT(strstr(err.msg, t_tmpdir()) != NULL);

    static const char bin[] = "[server]\nworkers = 4\nx\0y\n";
    const char *p = write_file("nul.conf", bin, sizeof(bin) - 1);
    T_ASSERT_INT(config_load(p, &cfg, &err), MB_ECONFIG);
    T_ASSERT(strstr(err.msg, "nul.conf:3: NUL byte in file") != NULL);

    size_t big = CONFIG_FILE_MAX + 10;
    char *data = xmalloc(big);
    memset(data, '\n', big);
    p = write_file("big.conf", data, big);
    free(data);
    T_ASSERT_INT(config_load(p, &cfg, &err), MB_ETOOBIG);
    T_ASSERT(strstr(err.msg, "big.conf: larger than 1048576 bytes") != NULL);
    T_ASSERT(cfg == NULL);
    T_END();
}

static void test_secrets(void)
{
    T_BEGIN("master password: inline, file, environment precedence, never in messages");
    unsetenv(CONFIG_ENV_MASTER_PASSWORD);
    struct config *cfg = NULL;
    struct mb_err err;
    const char *secret = "Tr0ub4dor&3";
    char text[1024];

    /* File: trailing CR/LF stripped, inner spaces kept. */
    const char *f = write_file("pw1", "  pass word \r\n\n", 15);
    snprintf(text, sizeof(text), "[destination]\nmaster_password_file = %s\n", f);
    T_ASSERT_INT(load_text(text, &cfg, &err), 0);
    T_ASSERT(cfg && strcmp(cfg->destination.master_password.data, "  pass word ") == 0);
    config_free(&cfg);

    /* Missing file: error names the file, at the key's line. */
    char missing[600];
    snprintf(missing, sizeof(missing), "%s/nope.secret", t_tmpdir());
    snprintf(text, sizeof(text), "[destination]\n\nmaster_password_file = %s\n", missing);
    T_ASSERT(expect_error(text, MB_ENOTFOUND,
                          "3: [destination] master_password_file: cannot read \"%s\": No such "
                          "file or directory",
                          missing));
    /* Empty file. */
    f = write_file("pw-empty", "\n", 1);
    snprintf(text, sizeof(text), "[destination]\nmaster_password_file = %s\n", f);
    T_ASSERT(expect_error(text, MB_ECONFIG,
                          "2: [destination] master_password_file: \"%s\" is "
                          "empty",
                          f));
    /* Too large. */
    char *bigpw = xmalloc(CONFIG_SECRET_MAX + 100);
    memset(bigpw, 'x', CONFIG_SECRET_MAX + 100);
    f = write_file("pw-big", bigpw, CONFIG_SECRET_MAX + 100);
    free(bigpw);
    snprintf(text, sizeof(text), "[destination]\nmaster_password_file = %s\n", f);
    T_ASSERT(expect_error(text, MB_ETOOBIG,
                          "2: [destination] master_password_file: \"%s\" is "
                          "larger than %d bytes",
                          f, CONFIG_SECRET_MAX));

    /* Both keys: refused, and neither the secret nor the file content shows up. */
    f = write_file("pw2", secret, strlen(secret));
    snprintf(text, sizeof(text), "[destination]\nmaster_password = %s\nmaster_password_file = %s\n",
             secret, f);
    T_ASSERT(expect_error(text, MB_ECONFIG,
                          "3: [destination] master_password_file: set only one "
                          "of master_password and master_password_file"));

    /* A broken quoted secret: the message has no part of it. */
    snprintf(text, sizeof(text), "[destination]\nmaster_password = \"%s\\q\"\n", secret);
    T_ASSERT_INT(load_text(text, &cfg, &err), MB_ECONFIG);
    T_ASSERT(strstr(err.msg, "master_password: bad escape in quoted value") != NULL);
    T_ASSERT(strstr(err.msg, "Tr0") == NULL && strstr(err.msg, "\\q") == NULL);
    snprintf(text, sizeof(text), "[destination]\nmaster_password = \"%s\n", secret);
    T_ASSERT_INT(load_text(text, &cfg, &err), MB_ECONFIG);
    T_ASSERT(strstr(err.msg, "Tr0") == NULL);
    /* A misspelled key whose value is a secret: only the key is named. */
    snprintf(text, sizeof(text), "[destination]\nmaster_pasword = %s\n", secret);
    T_ASSERT(expect_error(text, MB_ECONFIG, "2: [destination] master_pasword: unknown key"));
    /* A line without '=' that is a secret itself. */
    snprintf(text, sizeof(text), "[destination]\n%s\n", secret);
    T_ASSERT(expect_error(text, MB_ECONFIG, "2: [destination] expected \"key = value\""));

    /* Environment wins over the file and over inline; empty env is ignored. */
    snprintf(text, sizeof(text), "[destination]\nmaster_password = inline-pw\n");
    setenv(CONFIG_ENV_MASTER_PASSWORD, "env-pw", 1);
    T_ASSERT_INT(load_text(text, &cfg, &err), 0);
    T_ASSERT(cfg && strcmp(cfg->destination.master_password.data, "env-pw") == 0);
    T_ASSERT(cfg && cfg->destination.master_password_source == CONFIG_SECRET_ENV);
    T_ASSERT_STR(config_secret_source_name(cfg->destination.master_password_source),
                 "MIGRABOX_MASTER_PASSWORD");
    config_free(&cfg);
    snprintf(text, sizeof(text), "[destination]\nmaster_password_file = %s\n", f);
    T_ASSERT_INT(load_text(text, &cfg, &err), 0);
    T_ASSERT(cfg && strcmp(cfg->destination.master_password.data, "env-pw") == 0);
    config_free(&cfg);
    T_ASSERT_INT(config_load(NULL, &cfg, &err), 0);
    T_ASSERT(cfg && strcmp(cfg->destination.master_password.data, "env-pw") == 0);
    config_free(&cfg);
    setenv(CONFIG_ENV_MASTER_PASSWORD, "", 1);
    snprintf(text, sizeof(text), "[destination]\nmaster_password = inline-pw\n");
    T_ASSERT_INT(load_text(text, &cfg, &err), 0);
    T_ASSERT(cfg && strcmp(cfg->destination.master_password.data, "inline-pw") == 0);
    T_ASSERT(cfg && cfg->destination.master_password_source == CONFIG_SECRET_INLINE);
    config_free(&cfg);
    unsetenv(CONFIG_ENV_MASTER_PASSWORD);
    T_END();
}

static void test_https_modes(void)
{
    T_BEGIN("[server] tls auto/on/off decides https");
    struct config *cfg = NULL;
    struct mb_err err;
    T_ASSERT_INT(load_text("[server]\ntls = on\n", &cfg, &err), 0);
    T_ASSERT(cfg && cfg->server.https == 1 && cfg->server.tls_cert == NULL);
    config_free(&cfg);
    T_ASSERT_INT(load_text("[server]\ntls = off\ntls_cert = c\ntls_key = k\n", &cfg, &err), 0);
    T_ASSERT(cfg && cfg->server.https == 0);
    config_free(&cfg);
    T_ASSERT_INT(load_text("[server]\ntls_cert = c\ntls_key = k\n", &cfg, &err), 0);
    T_ASSERT(cfg && cfg->server.https == 1);
    config_free(&cfg);
    T_ASSERT_INT(load_text("[server]\ntls = auto\n", &cfg, &err), 0);
    T_ASSERT(cfg && cfg->server.https == 0);
    config_free(&cfg);
    T_ASSERT_STR(config_http_tls_name(CONFIG_HTTP_TLS_ON), "on");
    T_ASSERT_STR(config_imap_tls_name(CONFIG_IMAP_TLS_STARTTLS), "starttls");
    T_ASSERT_STR(config_auth_name(CONFIG_AUTH_PLAIN_AUTHZID), "plain-authzid");
    T_ASSERT_STR(config_log_level_name(CONFIG_LOG_WARN), "warn");
    T_END();
}

static void test_store(void)
{
    T_BEGIN("[store]: backend, url, password_file, ca_file, lease, timeout");
    struct config *cfg = NULL;
    struct mb_err err;
    T_ASSERT_INT(load_text("[server]\n", &cfg, &err), 0);
    T_ASSERT(cfg && cfg->store.backend == CONFIG_STORE_SQLITE && cfg->store.url == NULL);
    T_ASSERT(cfg && cfg->store.lease == 60 && cfg->store.password.data == NULL);
    T_ASSERT(cfg && cfg->store.timeout == 20);
    T_ASSERT_STR(cfg ? cfg->store.ca_file : "", "/etc/ssl/certs/ca-certificates.crt");
    config_free(&cfg);
    const char *pw = write_file("db.secret", "s3cret\n", 7);
    char text[1024];
    snprintf(text, sizeof(text),
             "[store]\nbackend = postgresql\nurl = postgresql://mb@db.example:5432/mb\n"
             "password_file = %s\nlease = 2m\nca_file = /etc/db-ca.pem\n",
             pw);
    T_ASSERT_INT(load_text(text, &cfg, &err), 0);
    T_ASSERT(cfg && cfg->store.backend == CONFIG_STORE_POSTGRESQL && cfg->store.lease == 120);
    T_ASSERT_STR(cfg ? cfg->store.url : "", "postgresql://mb@db.example:5432/mb");
    T_ASSERT_STR(cfg ? cfg->store.ca_file : "", "/etc/db-ca.pem");
    T_ASSERT(cfg && cfg->store.password.len == 6
             && memcmp(cfg->store.password.data, "s3cret", 6) == 0);
    config_free(&cfg);
    T_ASSERT(expect_error("[store]\nbackend = postgresql\n", MB_ECONFIG,
                          " [store] url: missing (backend = postgresql needs a url)"));
    T_ASSERT(expect_error("[store]\nbackend = mysql\n", MB_ECONFIG,
                          "2: [store] backend: \"mysql\" is not one of sqlite, postgresql"));
    T_ASSERT(expect_error("[store]\nurl = mysql://x/y\n", MB_ECONFIG,
                          "2: [store] url: \"mysql://x/y\" is not a postgresql:// URL"));
    T_ASSERT(expect_error("[store]\nlease = 1s\n", MB_ECONFIG,
                          "2: [store] lease: \"1s\" is out of range (5-86400 seconds)"));
    T_ASSERT(expect_error("[store]\ntimeout = 1s\n", MB_ECONFIG,
                          "2: [store] timeout: \"1s\" is out of range (2-3600 seconds)"));
    T_ASSERT(expect_error("[store]\nbackend = postgresql\nurl = postgresql://mb@db/mb\n"
                          "lease = 10s\ntimeout = 10s\n",
                          MB_ECONFIG,
                          " [store] timeout: must be shorter than lease (a node must notice a "
                          "silent store before its lease runs out)"));
    T_ASSERT_INT(load_text("[store]\nbackend = postgresql\nurl = postgresql://mb@db/mb\n"
                           "lease = 10s\ntimeout = 9s\n",
                           &cfg, &err),
                 0);
    T_ASSERT(cfg && cfg->store.timeout == 9);
    config_free(&cfg);
    T_ASSERT_STR(config_store_backend_name(CONFIG_STORE_POSTGRESQL), "postgresql");
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {
        test_defaults, test_full_example,
        test_syntax,   test_listen_and_hosts,
        test_errors,   test_file_errors,
        test_secrets,  test_https_modes,
        test_store,    NULL,
    };
    return t_run(fns);
}
