/* migrabox user add|list|delete|passwd: web accounts, in the database of data_dir.
 * Passwords come from MIGRABOX_PASSWORD or the first line of stdin, never from argv. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "base/pwhash.h"
#include "base/secret.h"
#include "base/xalloc.h"
#include "cli.h"
#include "config/config.h"
#include "net/net_host.h"
#include "db/db.h"
#include "db/db_user.h"
#include "log/log.h"

#define CLI_USER_ENV_PASSWORD "MIGRABOX_PASSWORD"
#define CLI_USER_MAX_DOMAINS 256

static const char usage[] =
    "usage: migrabox user add NAME [--domain D ...] [--admin] [-c FILE]\n"
    "       migrabox user list [-c FILE]\n"
    "       migrabox user delete NAME [-c FILE]\n"
    "       migrabox user passwd NAME [-c FILE]\n"
    "\n"
    "Web accounts. An admin account sees and manages every job; any other account only\n"
    "the jobs whose destination is in its domains (--domain, repeatable; each must be one\n"
    "of [destination] domains when that list is set).\n"
    "The password is read from the environment variable MIGRABOX_PASSWORD, or else from\n"
    "the first line of standard input (never from the command line). 'passwd' also signs\n"
    "the account out everywhere.\n";

/* The password: MIGRABOX_PASSWORD, else the first line of stdin (no echo on a terminal). */
static int cli_user_password(struct secret *out, char *why, size_t n)
{
    const char *env = getenv(CLI_USER_ENV_PASSWORD);
    if (env && *env) {
        if (strlen(env) > PWHASH_MAX_PASSWORD) {
            snprintf(why, n, "the password is longer than %d bytes", PWHASH_MAX_PASSWORD);
            return -1;
        }
        secret_set(out, env, strlen(env));
        return 0;
    }
    int tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    if (tty && tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        fputs("Password: ", stderr);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    } else {
        tty = 0;
    }
    char line[PWHASH_MAX_PASSWORD + 3];
    char *got = fgets(line, sizeof(line), stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (!got) {
        snprintf(why, n, "no password: set %s or give it on standard input", CLI_USER_ENV_PASSWORD);
        return -1;
    }
    size_t len = strcspn(line, "\r\n");
    int complete = line[len] != '\0' || feof(stdin);
    if (!complete || len > PWHASH_MAX_PASSWORD) {
        secret_wipe(line, sizeof(line));
        snprintf(why, n, "the password is longer than %d bytes", PWHASH_MAX_PASSWORD);
        return -1;
    }
    if (len == 0) {
        snprintf(why, n, "empty password refused");
        return -1;
    }
    secret_set(out, line, len);
    secret_wipe(line, sizeof(line));
    return 0;
}

static int cli_user_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > DB_USER_NAME_MAX)
        return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p < 0x20 || *p == 0x7F)
            return 0;
    }
    return 1;
}

/* Load the configuration and open the database of data_dir (created 0700 if missing). */
static int cli_user_open(const char *cfg_path, struct config **cfg_r, struct db **db_r)
{
    struct mb_err err = {0};
    if (config_load(cfg_path, cfg_r, &err) != 0) {
        fprintf(stderr, "migrabox user: %s\n", err.msg);
        return CLI_EXIT_USAGE;
    }
    if (cli_store_setup(*cfg_r, "user") != 0) {
        config_free(cfg_r);
        return CLI_EXIT_USAGE;
    }
    const char *dd = (*cfg_r)->server.data_dir;
    if (mkdir(dd, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "migrabox user: cannot create data_dir %s: %s\n", dd, strerror(errno));
        config_free(cfg_r);
        return CLI_EXIT_FAILED;
    }
    char *path = xasprintf("%s/migrabox.db", dd);
    int rc = db_open(path, db_r, &err);
    free(path);
    if (rc) {
        fprintf(stderr, "migrabox user: %s\n", err.msg);
        config_free(cfg_r);
        return CLI_EXIT_FAILED;
    }
    return CLI_EXIT_OK;
}

static int cli_user_add(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"domain", required_argument, NULL, 'd'},
        {"admin", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cfg_path = NULL;
    char *domains[CLI_USER_MAX_DOMAINS];
    size_t n_domains = 0;
    int admin = 0, ch, status = CLI_EXIT_USAGE;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:d:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': cfg_path = optarg; break;
        case 'a': admin = 1; break;
        case 'd':
            if (n_domains == CLI_USER_MAX_DOMAINS) {
                fprintf(stderr, "migrabox user add: at most %d domains\n", CLI_USER_MAX_DOMAINS);
                goto out;
            }
            domains[n_domains] = xstrdup(optarg);
            for (char *p = domains[n_domains]; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p + 32);
            n_domains++;
            break;
        case 'h':
            fputs(usage, stdout);
            status = CLI_EXIT_OK;
            goto out;
        default: fputs(usage, stderr); goto out;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "migrabox user add: give exactly one account NAME\n\n%s", usage);
        goto out;
    }
    const char *name = argv[optind];
    if (!cli_user_name_ok(name)) {
        fprintf(stderr,
                "migrabox user add: the name must have 1 to %d bytes and no control "
                "character\n",
                DB_USER_NAME_MAX);
        goto out;
    }
    struct config *cfg = NULL;
    struct db *db = NULL;
    status = cli_user_open(cfg_path, &cfg, &db);
    if (status != CLI_EXIT_OK)
        goto out;
    status = CLI_EXIT_USAGE;
    for (size_t i = 0; i < n_domains; i++) {
        if (!net_hostname_valid(domains[i], strlen(domains[i])) || !strchr(domains[i], '.')) {
            fprintf(stderr, "migrabox user add: '%s' is not a domain name\n", domains[i]);
            goto close;
        }
        if (!config_domain_allowed(cfg, domains[i])) {
            fprintf(stderr,
                    "migrabox user add: %s is not one of the hosted domains "
                    "([destination] domains)\n",
                    domains[i]);
            goto close;
        }
    }
    if (!admin && n_domains == 0)
        fprintf(stderr, "migrabox user add: note: an account that is neither --admin nor has a "
                        "--domain sees no job\n");
    struct secret pw = {0};
    char why[200];
    if (cli_user_password(&pw, why, sizeof(why)) != 0) {
        fprintf(stderr, "migrabox user add: %s\n", why);
        goto close;
    }
    char hash[PWHASH_MAX_LEN];
    struct mb_err err = {0};
    int rc = pwhash_make(pw.data, pw.len, hash, &err);
    secret_fini(&pw);
    if (rc == 0)
        rc =
            db_user_add(db, name, hash, admin, (const char *const *)domains, n_domains, NULL, &err);
    if (rc) {
        fprintf(stderr, "migrabox user add: %s\n", err.msg);
        status = CLI_EXIT_FAILED;
        goto close;
    }
    printf("account %s created%s", name, admin ? " (admin)" : "");
    for (size_t i = 0; i < n_domains; i++)
        printf("%s%s", i ? ", " : "; domains: ", domains[i]);
    printf("\n");
    status = CLI_EXIT_OK;
close:
    db_close(&db);
    config_free(&cfg);
out:
    for (size_t i = 0; i < n_domains; i++)
        free(domains[i]);
    return status;
}

/* list / delete / passwd: [-c FILE] and at most one NAME. */
static int cli_user_simple(const char *cmd, int argc, char **argv, int want_name)
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
    if (argc - optind != want_name) {
        fprintf(stderr, "migrabox user %s: %s\n\n%s", cmd,
                want_name ? "give exactly one account NAME" : "unexpected argument", usage);
        return CLI_EXIT_USAGE;
    }
    struct config *cfg = NULL;
    struct db *db = NULL;
    int status = cli_user_open(cfg_path, &cfg, &db);
    if (status != CLI_EXIT_OK)
        return status;
    status = CLI_EXIT_FAILED;
    struct mb_err err = {0};
    if (!want_name) {
        struct db_user *users = NULL;
        size_t n = 0;
        if (db_user_list(db, &users, &n, &err) != 0) {
            fprintf(stderr, "migrabox user list: %s\n", err.msg);
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            printf("%s\t%s\t", users[i].name, users[i].admin ? "admin" : "-");
            for (size_t j = 0; j < users[i].n_domains; j++)
                printf("%s%s", j ? "," : "", users[i].domains[j]);
            printf("\n");
        }
        db_users_free(&users, n);
        status = CLI_EXIT_OK;
        goto out;
    }
    const char *name = argv[optind];
    struct db_user u;
    if (db_user_get_by_name(db, name, &u, &err) != 0) {
        fprintf(stderr, "migrabox user %s: %s\n", cmd,
                err.code == MB_ENOTFOUND ? "no such account" : err.msg);
        goto out;
    }
    int rc;
    if (strcmp(cmd, "delete") == 0) {
        rc = db_user_delete(db, u.id, &err);
        if (rc == 0)
            printf("account %s deleted\n", name);
    } else {
        struct secret pw = {0};
        char why[200], hash[PWHASH_MAX_LEN];
        if (cli_user_password(&pw, why, sizeof(why)) != 0) {
            fprintf(stderr, "migrabox user %s: %s\n", cmd, why);
            db_user_fini(&u);
            status = CLI_EXIT_USAGE;
            goto out;
        }
        rc = pwhash_make(pw.data, pw.len, hash, &err);
        secret_fini(&pw);
        if (rc == 0)
            rc = db_user_set_password(db, u.id, hash, &err);
        if (rc == 0)
            rc = db_session_delete_account(db, u.id, NULL, &err);
        if (rc == 0)
            printf("password of %s changed; its sessions are closed\n", name);
    }
    db_user_fini(&u);
    if (rc) {
        fprintf(stderr, "migrabox user %s: %s\n", cmd, err.msg);
        goto out;
    }
    status = CLI_EXIT_OK;
out:
    db_close(&db);
    config_free(&cfg);
    return status;
}

int cli_user(int argc, char **argv)
{
    log_set_level(LOG_WARN);
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "add") == 0)
        return cli_user_add(argc - 1, argv + 1);
    if (strcmp(cmd, "list") == 0)
        return cli_user_simple(cmd, argc - 1, argv + 1, 0);
    if (strcmp(cmd, "delete") == 0)
        return cli_user_simple(cmd, argc - 1, argv + 1, 1);
    if (strcmp(cmd, "passwd") == 0)
        return cli_user_simple(cmd, argc - 1, argv + 1, 1);
    fprintf(stderr, "migrabox user: unknown subcommand '%s'\n\n%s", cmd, usage);
    return CLI_EXIT_USAGE;
}
