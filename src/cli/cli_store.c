/* migrabox store: the PostgreSQL store ([store] in the configuration, issue 16).
 *
 *   store check   connect to [store] url (TLS verified), bring its schema up to date, and
 *                 print the server, TLS and schema versions;
 *   store migrate copy this appliance's SQLite store (data_dir/migrabox.db) into the empty
 *                 PostgreSQL store, in one transaction.
 *
 * With [store] backend = postgresql the other commands open the PostgreSQL store instead of
 * data_dir/migrabox.db (cli_store_setup, db_use_postgresql). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "cli.h"
#include "config/config.h"
#include "db/db.h"
#include "db/db_pg.h"

static const char usage[] =
    "usage: migrabox store check [-c FILE]\n"
    "       migrabox store migrate [-c FILE]\n"
    "\n"
    "check: connect to the PostgreSQL store of [store] url (TLS verified: sslmode=verify-full\n"
    "and [store] ca_file unless the url says otherwise; password from [store] password_file),\n"
    "apply its missing schema steps and print the server, TLS and schema versions.\n"
    "migrate: copy every table of this appliance's SQLite store (data_dir/migrabox.db) into the\n"
    "PostgreSQL store, which must be empty; all or nothing. Stop 'migrabox serve' first. Every\n"
    "node then needs this appliance's data_dir/secret.key (source passwords are sealed with\n"
    "it).\n"
    "With [store] backend = postgresql the other commands (serve, import, migrate, user,\n"
    "profile) use the PostgreSQL store instead of data_dir/migrabox.db.\n";

int cli_store_setup(const struct config *cfg, const char *cmd)
{
    (void)cmd;
    db_pg_set_timeout(cfg->store.timeout);
    if (cfg->store.backend != CONFIG_STORE_POSTGRESQL)
        return 0;
    db_use_postgresql(cfg->store.url, cfg->store.password.data, cfg->store.password.len,
                      cfg->store.ca_file);
    return 0;
}

static int connect_store(const struct config *cfg, const char *cmd, struct db_pg **pg_r)
{
    struct mb_err err = {0};
    if (!cfg->store.url) {
        fprintf(stderr, "migrabox store %s: [store] url is not set\n", cmd);
        return CLI_EXIT_USAGE;
    }
    db_pg_set_timeout(cfg->store.timeout);
    if (db_pg_connect(cfg->store.url, cfg->store.password.data, cfg->store.password.len,
                      cfg->store.ca_file, pg_r, &err)
        != 0) {
        fprintf(stderr, "migrabox store %s: %s\n", cmd, err.msg);
        return err.code == MB_ECONFIG ? CLI_EXIT_USAGE : CLI_EXIT_UNAVAILABLE;
    }
    int applied = 0;
    if (db_pg_migrate(*pg_r, &applied, &err) != 0) {
        fprintf(stderr, "migrabox store %s: %s\n", cmd, err.msg);
        db_pg_close(pg_r);
        return CLI_EXIT_FAILED;
    }
    char line[512];
    db_pg_describe(*pg_r, line, sizeof(line));
    printf("store: %s\n", line);
    printf("store: schema version %d (%d step(s) applied now)\n", db_pg_schema_latest(), applied);
    return CLI_EXIT_OK;
}

static int store_migrate(const struct config *cfg)
{
    struct db_pg *pg = NULL;
    struct db *db = NULL;
    struct mb_err err = {0};
    char *dbp = xasprintf("%s/migrabox.db", cfg->server.data_dir);
    int status = CLI_EXIT_FAILED;
    struct stat sb;
    if (stat(dbp, &sb) != 0) {
        fprintf(stderr, "migrabox store migrate: %s: %s\n", dbp, strerror(errno));
        status = CLI_EXIT_USAGE;
        goto out;
    }
    if (db_open(dbp, &db, &err) != 0) {
        fprintf(stderr, "migrabox store migrate: %s\n", err.msg);
        goto out;
    }
    if ((status = connect_store(cfg, "migrate", &pg)) != CLI_EXIT_OK)
        goto out;
    status = CLI_EXIT_FAILED;
    int64_t counts[32] = {0};
    if (db_pg_import_sqlite(pg, db, counts, &err) != 0) {
        fprintf(stderr, "migrabox store migrate: %s\n", err.msg);
        if (err.code == MB_ECONFIG)
            status = CLI_EXIT_USAGE;
        goto out;
    }
    for (size_t i = 0; db_pg_tables[i]; i++)
        printf("store: %s: %lld rows\n", db_pg_tables[i], (long long)counts[i]);
    printf("store: %s copied into PostgreSQL; set [store] backend = postgresql and give every "
           "node %s/secret.key\n",
           dbp, cfg->server.data_dir);
    status = CLI_EXIT_OK;
out:
    db_pg_close(&pg);
    db_close(&db);
    free(dbp);
    return status;
}

int cli_store(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    const char *sub = argv[1];
    const char *cfg_path = NULL;
    optind = 1;
    int o;
    while ((o = getopt_long(argc - 1, argv + 1, "c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c': cfg_path = optarg; break;
        case 'h': fputs(usage, stdout); return CLI_EXIT_OK;
        default: fputs(usage, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(usage, stderr);
        return CLI_EXIT_USAGE;
    }
    struct config *cfg = NULL;
    struct mb_err err = {0};
    if (config_load(cfg_path, &cfg, &err) != 0) {
        fprintf(stderr, "migrabox store: %s\n", err.msg);
        return CLI_EXIT_USAGE;
    }
    int status;
    if (strcmp(sub, "check") == 0) {
        struct db_pg *pg = NULL;
        status = connect_store(cfg, "check", &pg);
        db_pg_close(&pg);
    } else if (strcmp(sub, "migrate") == 0) {
        status = store_migrate(cfg);
    } else {
        fprintf(stderr, "migrabox store: unknown subcommand '%s'\n\n%s", sub, usage);
        status = CLI_EXIT_USAGE;
    }
    config_free(&cfg);
    return status;
}
