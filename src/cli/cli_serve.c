/* migrabox serve: the appliance — web UI, JSON API and migration workers — until SIGINT or
 * SIGTERM. Prints "migrabox: listening on http(s)://HOST:PORT/" on stderr once ready. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/secret.h"
#include "base/xalloc.h"
#include "cli.h"
#include "config/config.h"
#include "db/db.h"
#include "db/db_user.h"
#include "http/http_api.h"
#include "http/http_server.h"
#include "jobs/jobs.h"
#include "log/log.h"
#include "net/http_client.h"

static const char usage[] =
    "usage: migrabox serve [-c FILE]\n"
    "\n"
    "Run the appliance: web UI, JSON API and migration workers, until SIGINT or SIGTERM.\n"
    "Everything it keeps (database, secret key, generated TLS certificate) is in [server]\n"
    "data_dir, created mode 0700 if missing. Prints\n"
    "  migrabox: listening on http(s)://HOST:PORT/\n"
    "on stderr when ready. Create the first web account with\n"
    "  migrabox user add NAME --admin\n"
    "Exit status: 0 after a clean stop, 2 configuration error, 1 other start-up failure.\n";

/* mkdir -p with mode 0700 for the directories it creates. */
static int cli_serve_mkdirs(const char *path, char *why, size_t n)
{
    char *p = xstrdup(path);
    int rc = 0;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            snprintf(why, n, "cannot create %s: %s", p, strerror(errno));
            rc = -1;
            break;
        }
        *s = '/';
    }
    if (rc == 0 && mkdir(p, 0700) != 0 && errno != EEXIST) {
        snprintf(why, n, "cannot create %s: %s", p, strerror(errno));
        rc = -1;
    }
    struct stat st;
    if (rc == 0 && (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))) {
        snprintf(why, n, "%s is not a directory", p);
        rc = -1;
    }
    if (rc == 0 && (st.st_mode & 077))
        log_warn("serve: data_dir %s is accessible to other users (mode %03o); it should be 0700",
                 p, (unsigned)(st.st_mode & 0777));
    free(p);
    return rc;
}

/* [server] webhook_url: https://, or http:// to a loopback address only. */
static int cli_serve_webhook_ok(const char *url, char *why, size_t n)
{
    struct http_url u;
    struct mb_err err = {0};
    if (http_url_parse(url, &u, &err) != 0) {
        snprintf(why, n, "%s", err.msg);
        return 0;
    }
    if (!u.tls && strncmp(u.host, "127.", 4) != 0 && strcmp(u.host, "::1") != 0
        && strcmp(u.host, "localhost") != 0) {
        snprintf(why, n, "use https:// (plain http:// only to a loopback address)");
        return 0;
    }
    return 1;
}

int cli_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cfg_path = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': cfg_path = optarg; break;
        case 'h': fputs(usage, stdout); return CLI_EXIT_OK;
        default: fputs(usage, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "migrabox serve: unexpected argument '%s'\n\n%s", argv[optind], usage);
        return CLI_EXIT_USAGE;
    }

    struct config *cfg = NULL;
    struct mb_err err = {0};
    if (config_load(cfg_path, &cfg, &err) != 0) {
        fprintf(stderr, "migrabox serve: %s\n", err.msg);
        return CLI_EXIT_USAGE;
    }
    if (cli_store_setup(cfg, "serve") != 0) {
        config_free(&cfg);
        return CLI_EXIT_USAGE;
    }
    int lv = log_level_parse(config_log_level_name(cfg->server.log_level));
    log_set_level(lv < 0 ? LOG_INFO : (enum log_level)lv);

    int status = CLI_EXIT_FAILED;
    struct secret_box box;
    int have_box = 0;
    struct db *db = NULL;
    struct jobs *pool = NULL;
    struct http_api *api = NULL;
    struct http_server *srv = NULL;
    char *db_path = NULL, *key_path = NULL, *cert = NULL, *key = NULL;
    char why[600];

    /* SIGINT/SIGTERM are taken by sigwait below: block them before any thread starts, so every
     * thread inherits the mask. */
    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (cfg->server.webhook_url
        && !cli_serve_webhook_ok(cfg->server.webhook_url, why, sizeof(why))) {
        fprintf(stderr, "migrabox serve: [server] webhook_url: %s\n", why);
        status = CLI_EXIT_USAGE;
        goto out;
    }
    const char *dd = cfg->server.data_dir;
    if (cli_serve_mkdirs(dd, why, sizeof(why)) != 0) {
        fprintf(stderr, "migrabox serve: data_dir: %s\n", why);
        status = CLI_EXIT_USAGE;
        goto out;
    }
    key_path = xasprintf("%s/secret.key", dd);
    if (secret_box_load(&box, key_path, &err) != 0) {
        fprintf(stderr, "migrabox serve: %s\n", err.msg);
        goto out;
    }
    have_box = 1;
    db_path = xasprintf("%s/migrabox.db", dd);
    if (db_open(db_path, &db, &err) != 0) {
        fprintf(stderr, "migrabox serve: %s\n", err.msg);
        goto out;
    }
    int64_t n_users = 0;
    if (db_user_count(db, &n_users, &err) == 0 && n_users == 0)
        fprintf(stderr,
                "migrabox: no account yet: create one with "
                "migrabox user add NAME --admin%s%s\n",
                cfg->path ? " -c " : "", cfg->path ? cfg->path : "");
    if (cfg->destination.master_password_source == CONFIG_SECRET_NONE)
        log_warn("serve: no destination master password configured: migrations will fail");
    else
        log_info("serve: destination master password from %s",
                 config_secret_source_name(cfg->destination.master_password_source));

    if (cfg->server.https) {
        if (cfg->server.tls_cert) {
            cert = xstrdup(cfg->server.tls_cert);
            key = xstrdup(cfg->server.tls_key);
        } else {
            cert = xasprintf("%s/tls.crt", dd);
            key = xasprintf("%s/tls.key", dd);
            if (http_tls_ensure_selfsigned(cert, key, &err) != 0) {
                fprintf(stderr, "migrabox serve: %s\n", err.msg);
                goto out;
            }
        }
    }

    if (jobs_start(cfg, db_path, &box, &pool, &err) != 0) {
        fprintf(stderr, "migrabox serve: %s\n", err.msg);
        goto out;
    }
    {
        char node[160];
        jobs_node_id(pool, node, sizeof(node));
        fprintf(stderr, "migrabox: node %s (store: %s)\n", node,
                config_store_backend_name(cfg->store.backend));
    }
    if (http_api_new(cfg, db_path, &box, pool, &api, &err) != 0) {
        fprintf(stderr, "migrabox serve: %s\n", err.msg);
        goto out;
    }
    struct http_server_opts ho = {
        .listen_host = cfg->server.listen_host,
        .listen_port = (unsigned)cfg->server.listen_port,
        .tls_cert = cert,
        .tls_key = key,
        .max_body = (size_t)cfg->server.max_upload_bytes,
        .max_conn = (unsigned)cfg->server.max_http_connections,
        .max_conn_per_addr = (unsigned)cfg->server.max_connections_per_address,
        .trusted = &cfg->server.trusted_proxies,
        .header_timeout = cfg->server.header_timeout,
        .request_timeout = cfg->server.request_timeout,
        .admit = http_api_admit,
        .dispatch = http_api_dispatch,
        .app = api,
    };
    if (http_server_start(&ho, &srv, &err) != 0) {
        fprintf(stderr, "migrabox serve: %s\n", err.msg);
        status = err.code == MB_ECONFIG ? CLI_EXIT_USAGE : CLI_EXIT_FAILED;
        goto out;
    }
    int v6 = strchr(cfg->server.listen_host, ':') != NULL;
    fprintf(stderr, "migrabox: listening on %s://%s%s%s:%u/\n", cert ? "https" : "http",
            v6 ? "[" : "", cfg->server.listen_host, v6 ? "]" : "", http_server_port(srv));
    log_info("serve: %d workers, data in %s", cfg->server.workers, dd);
    const char *lh = cfg->server.listen_host;
    if (!cert && strncmp(lh, "127.", 4) != 0 && strcmp(lh, "::1") != 0
        && strcmp(lh, "localhost") != 0)
        log_warn("serve: plain HTTP on %s: passwords cross the network in clear; set [server] "
                 "tls = on or put a TLS reverse proxy in front",
                 lh);

    int sig = 0;
    while (sigwait(&stop_set, &sig) != 0)
        ;
    log_info("serve: signal %d, stopping", sig);
    status = CLI_EXIT_OK;

out:
    /* HTTP first (no new jobs), then the workers (running migrations go back to pending). */
    http_server_stop(&srv);
    jobs_stop(&pool);
    http_api_free(&api);
    if (db) {
        db_checkpoint(db, NULL);
        db_close(&db);
    }
    if (have_box)
        secret_box_fini(&box);
    free(db_path);
    free(key_path);
    free(cert);
    free(key);
    config_free(&cfg);
    if (status == CLI_EXIT_OK)
        fprintf(stderr, "migrabox: stopped\n");
    return status;
}
