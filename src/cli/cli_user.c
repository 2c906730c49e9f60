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
static int cli_user_password(struct secret *out, struct mb_err *why)
{
    const char *env = getenv(CLI_USER_ENV_PASSWORD);
    if (env && *env) {
        if (strlen(env) > PWHASH_MAX_PASSWORD) {
            return MB_MSG(why, MB_ECONFIG, CLI_PASSWORD_TOO_LONG, PWHASH_MAX_PASSWORD);
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
        return MB_MSG(why, MB_ECONFIG, CLI_PASSWORD_MISSING, CLI_USER_ENV_PASSWORD);
    }
    size_t len = strcspn(line, "\r\n");
    int complete = line[len] != '\0' || feof(stdin);
    if (!complete || len > PWHASH_MAX_PASSWORD) {
        secret_wipe(line, sizeof(line));
        return MB_MSG(why, MB_ECONFIG, CLI_PASSWORD_TOO_LONG, PWHASH_MAX_PASSWORD);
    }
    if (len == 0) {
        return MB_MSG0(why, MB_ECONFIG, CLI_PASSWORD_EMPTY);
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
        cli_say("user", &err);
        return CLI_EXIT_USAGE;
    }
    if (cli_store_setup(*cfg_r, "user") != 0) {
        config_free(cfg_r);
        return CLI_EXIT_USAGE;
    }
    const char *dd = (*cfg_r)->server.data_dir;
    if (mkdir(dd, 0700) != 0 && errno != EEXIST) {
        struct mb_err say;
        MB_MSG(&say, MB_EIO, CLI_CANNOT_CREATE_DIR, dd, strerror(errno));
        cli_say("user", &say);
        config_free(cfg_r);
        return CLI_EXIT_FAILED;
    }
    char *path = xasprintf("%s/migrabox.db", dd);
    int rc = db_open(path, db_r, &err);
    free(path);
    if (rc) {
        cli_say("user", &err);
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
                struct mb_err say;
                MB_MSG(&say, MB_ECONFIG, CLI_USER_MAX_DOMAINS, CLI_USER_MAX_DOMAINS);
                cli_say("user add", &say);
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
        struct mb_err say;
        MB_MSG0(&say, MB_ECONFIG, CLI_USER_ONE_NAME);
        cli_say("user add", &say);
        fprintf(stderr, "\n%s", usage);
        goto out;
    }
    const char *name = argv[optind];
    if (!cli_user_name_ok(name)) {
        struct mb_err say;
        MB_MSG(&say, MB_ECONFIG, CLI_USER_BAD_NAME, DB_USER_NAME_MAX);
        cli_say("user add", &say);
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
            struct mb_err say;
            MB_MSG(&say, MB_ECONFIG, CLI_NOT_A_DOMAIN, domains[i]);
            cli_say("user add", &say);
            goto close;
        }
        if (!config_domain_allowed(cfg, domains[i])) {
            struct mb_err say;
            MB_MSG(&say, MB_ECONFIG, CLI_NOT_HOSTED, domains[i]);
            cli_say("user add", &say);
            goto close;
        }
    }
    if (!admin && n_domains == 0) {
        struct mb_err say;
        MB_MSG0(&say, 0, CLI_USER_SEES_NOTHING);
        cli_say("user add", &say);
    }
    struct secret pw = {0};
    struct mb_err why;
    if (cli_user_password(&pw, &why) != 0) {
        cli_say("user add", &why);
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
        cli_say("user add", &err);
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
    char where[32]; /* "user passwd": the command in messages */
    snprintf(where, sizeof(where), "user %.20s", cmd);
    if (argc - optind != want_name) {
        struct mb_err say;
        if (want_name)
            MB_MSG0(&say, MB_ECONFIG, CLI_USER_ONE_NAME);
        else
            MB_MSG0(&say, MB_ECONFIG, CLI_UNEXPECTED);
        cli_say(where, &say);
        fprintf(stderr, "\n%s", usage);
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
            cli_say("user list", &err);
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
        if (err.code == MB_ENOTFOUND)
            MB_MSG0(&err, MB_ENOTFOUND, CLI_NO_SUCH_ACCOUNT);
        cli_say(where, &err);
        goto out;
    }
    int rc;
    if (strcmp(cmd, "delete") == 0) {
        rc = db_user_delete(db, u.id, &err);
        if (rc == 0)
            printf("account %s deleted\n", name);
    } else {
        struct secret pw = {0};
        char hash[PWHASH_MAX_LEN];
        struct mb_err why;
        if (cli_user_password(&pw, &why) != 0) {
            cli_say(where, &why);
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
        cli_say(where, &err);
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
    struct mb_err say;
    MB_MSG(&say, MB_ECONFIG, CLI_UNKNOWN_SUBCOMMAND, cmd);
    cli_say("user", &say);
    fprintf(stderr, "\n%s", usage);
    return CLI_EXIT_USAGE;
}
