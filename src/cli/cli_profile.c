/* migrabox profile: source authentication profiles (« accès administrateur à la source »).
 * Secrets come from files only (never argv) and are sealed with the secret box of data_dir
 * before they reach the database. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/auth_store.h"
#include "auth/oauth.h"
#include "base/secret.h"
#include "base/xalloc.h"
#include "cli.h"
#include "config/config.h"
#include "db/db.h"
#include "db/db_profile.h"

static const char usage[] =
    "usage: migrabox profile add NAME --kind microsoft365 --tenant T --client-id C\n"
    "                        (--client-secret-file F | --certificate F --key F)\n"
    "                        [--token-url URL] [--source-host HOST] [-c FILE]\n"
    "       migrabox profile add NAME --kind google --service-account-file F\n"
    "                        [--token-url URL] [--source-host HOST] [-c FILE]\n"
    "       migrabox profile add NAME --kind imap-admin --admin-user U\n"
    "                        --admin-password-file F [--method separator|authzid]\n"
    "                        [--separator S] [--source-host HOST] [-c FILE]\n"
    "       migrabox profile list [-c FILE]\n"
    "       migrabox profile delete NAME [-c FILE]\n"
    "\n"
    "A profile is one credential for a whole source organisation; migrations use it with\n"
    "'migrabox migrate --auth-profile NAME' or 'migrabox import --auth-profile NAME' instead\n"
    "of each user's password. microsoft365: an Entra ID app with the IMAP.AccessAsApp\n"
    "permission (client secret value, or certificate + private key in PEM); google: a\n"
    "service-account JSON key with domain-wide delegation for https://mail.google.com/;\n"
    "imap-admin: a master user (LOGIN \"user<separator>admin\", default separator '*') or an\n"
    "admin allowed to act for users (AUTHENTICATE PLAIN with authzid). Secrets are read from\n"
    "files, stored encrypted, and never shown again.\n";

/* Whole file (max bytes) as a secret; first_line: only up to the first end of line. */
static int read_secret_file(const char *path, int first_line, struct secret *out, char *why,
                            size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, n, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 64 * 1024;
    char *buf = xmalloc(cap + 1);
    size_t len = fread(buf, 1, cap + 1, f);
    fclose(f);
    int rc = 0;
    if (len > cap) {
        snprintf(why, n, "%s: larger than %zu bytes", path, cap);
        rc = -1;
    } else {
        buf[len] = '\0';
        if (first_line)
            len = strcspn(buf, "\r\n");
        if (len == 0 || memchr(buf, '\0', len)) {
            snprintf(why, n, "%s: empty or binary", path);
            rc = -1;
        } else {
            secret_set(out, buf, len);
        }
    }
    secret_wipe(buf, cap + 1);
    free(buf);
    return rc;
}

struct pctx {
    struct config *cfg;
    struct db *db;
    struct secret_box box;
    int have_box;
};

static int open_all(const char *cfg_path, struct pctx *c, int need_box)
{
    struct mb_err err = {0};
    if (config_load(cfg_path, &c->cfg, &err) != 0) {
        cli_say("profile", &err);
        return -1;
    }
    if (cli_store_setup(c->cfg, "profile") != 0)
        return -1;
    const char *dd = c->cfg->server.data_dir;
    if (mkdir(dd, 0700) != 0 && errno != EEXIST) {
        struct mb_err say;
        MB_MSG(&say, MB_EIO, CLI_CANNOT_CREATE_DIR, dd, strerror(errno));
        cli_say("profile", &say);
        return -1;
    }
    if (need_box) {
        char *kp = xasprintf("%s/secret.key", dd);
        int rc = secret_box_load(&c->box, kp, &err);
        free(kp);
        if (rc) {
            cli_say("profile", &err);
            return -1;
        }
        c->have_box = 1;
    }
    char *dbp = xasprintf("%s/migrabox.db", dd);
    int rc = db_open(dbp, &c->db, &err);
    free(dbp);
    if (rc) {
        cli_say("profile", &err);
        return -1;
    }
    return 0;
}

static void close_all(struct pctx *c)
{
    db_close(&c->db);
    if (c->have_box)
        secret_box_fini(&c->box);
    config_free(&c->cfg);
}

static int profile_add(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"kind", required_argument, NULL, 'k'},
        {"tenant", required_argument, NULL, 't'},
        {"client-id", required_argument, NULL, 'i'},
        {"client-secret-file", required_argument, NULL, 's'},
        {"certificate", required_argument, NULL, 'C'},
        {"key", required_argument, NULL, 'K'},
        {"service-account-file", required_argument, NULL, 'S'},
        {"admin-user", required_argument, NULL, 'u'},
        {"admin-password-file", required_argument, NULL, 'p'},
        {"method", required_argument, NULL, 'm'},
        {"separator", required_argument, NULL, 'e'},
        {"token-url", required_argument, NULL, 'U'},
        {"source-host", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cfg_path = NULL, *kind = NULL, *secret_file = NULL, *cert_file = NULL,
               *key_file = NULL, *sa_file = NULL, *pw_file = NULL, *method = NULL;
    struct auth_profile p;
    memset(&p, 0, sizeof(p));
    int ch, status = CLI_EXIT_USAGE;
    char why[400];
    struct pctx c;
    memset(&c, 0, sizeof(c));
    struct secret sa = {0};
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': cfg_path = optarg; break;
        case 'k': kind = optarg; break;
        case 't':
            XFREE(p.tenant);
            p.tenant = xstrdup(optarg);
            break;
        case 'i':
            XFREE(p.client_id);
            p.client_id = xstrdup(optarg);
            break;
        case 's': secret_file = optarg; break;
        case 'C': cert_file = optarg; break;
        case 'K': key_file = optarg; break;
        case 'S': sa_file = optarg; break;
        case 'u':
            XFREE(p.admin_user);
            p.admin_user = xstrdup(optarg);
            break;
        case 'p': pw_file = optarg; break;
        case 'm': method = optarg; break;
        case 'e':
            XFREE(p.separator);
            p.separator = xstrdup(optarg);
            break;
        case 'U':
            XFREE(p.token_url);
            p.token_url = xstrdup(optarg);
            break;
        case 'H':
            XFREE(p.source_host);
            p.source_host = xstrdup(optarg);
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
        MB_MSG0(&say, MB_ECONFIG, CLI_PROFILE_ONE_NAME);
        cli_say("profile add", &say);
        fprintf(stderr, "\n%s", usage);
        goto out;
    }
    p.name = xstrdup(argv[optind]);
    p.kind = auth_kind_parse(kind);
    if (p.kind == AUTH_KIND_NONE) {
        struct mb_err say;
        MB_MSG0(&say, MB_ECONFIG, CLI_PROFILE_KIND);
        cli_say("profile add", &say);
        goto out;
    }
    if (method) {
        if (strcmp(method, "authzid") == 0)
            p.method = AUTH_ADMIN_AUTHZID;
        else if (strcmp(method, "separator") != 0) {
            struct mb_err say;
            MB_MSG0(&say, MB_ECONFIG, CLI_PROFILE_METHOD);
            cli_say("profile add", &say);
            goto out;
        }
    }
    if ((secret_file && read_secret_file(secret_file, 1, &p.client_secret, why, sizeof(why)))
        || (cert_file && read_secret_file(cert_file, 0, &p.certificate, why, sizeof(why)))
        || (key_file && read_secret_file(key_file, 0, &p.private_key, why, sizeof(why)))
        || (sa_file && read_secret_file(sa_file, 0, &sa, why, sizeof(why)))
        || (pw_file && read_secret_file(pw_file, 1, &p.admin_password, why, sizeof(why)))) {
        fprintf(stderr, "migrabox profile add: %s\n", why);
        goto out;
    }
    if (p.kind == AUTH_KIND_GOOGLE && !sa_file) {
        struct mb_err say;
        MB_MSG0(&say, MB_ECONFIG, CLI_PROFILE_GOOGLE_FILE);
        cli_say("profile add", &say);
        goto out;
    }
    if (open_all(cfg_path, &c, 1))
        goto out;
    struct mb_err err = {0};
    if (auth_profile_save(c.db, &c.box, &p, sa.data, &err) != 0) {
        cli_say("profile add", &err);
        status = err.code == MB_ECONFIG ? CLI_EXIT_USAGE : CLI_EXIT_FAILED;
        goto out;
    }
    printf("profile %s (%s) added\n", p.name, auth_kind_name(p.kind));
    status = CLI_EXIT_OK;
out:
    secret_fini(&sa);
    auth_profile_fini(&p);
    close_all(&c);
    return status;
}

static int profile_list_delete(int argc, char **argv, int del)
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
    if (optind + (del ? 1 : 0) != argc) {
        struct mb_err say;
        if (del)
            MB_MSG0(&say, MB_ECONFIG, CLI_PROFILE_NAME_ONE);
        else
            MB_MSG0(&say, MB_ECONFIG, CLI_UNEXPECTED);
        cli_say("profile", &say);
        fprintf(stderr, "\n%s", usage);
        return CLI_EXIT_USAGE;
    }
    struct pctx c;
    memset(&c, 0, sizeof(c));
    int status = CLI_EXIT_FAILED;
    struct mb_err err = {0};
    if (open_all(cfg_path, &c, 0)) {
        close_all(&c);
        return CLI_EXIT_USAGE;
    }
    if (del) {
        int64_t waiting = 0;
        int rc = db_profile_delete(c.db, argv[optind], &waiting, &err);
        if (rc) {
            cli_say("profile delete", &err);
        } else {
            printf("profile %s deleted", argv[optind]);
            if (waiting)
                printf("; %lld waiting migration(s) that use it will fail", (long long)waiting);
            printf("\n");
            status = CLI_EXIT_OK;
        }
    } else {
        struct auth_profile *v = NULL;
        size_t n = 0;
        if (db_profile_list(c.db, -1, &v, &n, &err) != 0) {
            cli_say("profile list", &err);
        } else {
            for (size_t i = 0; i < n; i++) {
                const struct auth_profile *p = &v[i];
                printf("%s\t%s\t", p->name, auth_kind_name(p->kind));
                if (p->kind == AUTH_KIND_MICROSOFT365)
                    printf("tenant=%s client_id=%s", p->tenant ? p->tenant : "",
                           p->client_id ? p->client_id : "");
                else if (p->kind == AUTH_KIND_GOOGLE)
                    printf("client_email=%s", p->client_id ? p->client_id : "");
                else
                    printf("admin_user=%s method=%s", p->admin_user ? p->admin_user : "",
                           p->method == AUTH_ADMIN_AUTHZID ? "authzid" : "separator");
                if (p->token_url)
                    printf(" token_url=%s", p->token_url);
                if (p->source_host)
                    printf(" source_host=%s", p->source_host);
                printf("\n");
            }
            db_profiles_free(&v, n);
            status = CLI_EXIT_OK;
        }
    }
    close_all(&c);
    return status;
}

int cli_profile(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "add") == 0)
        return profile_add(argc - 1, argv + 1);
    if (strcmp(cmd, "list") == 0)
        return profile_list_delete(argc - 1, argv + 1, 0);
    if (strcmp(cmd, "delete") == 0)
        return profile_list_delete(argc - 1, argv + 1, 1);
    struct mb_err say;
    MB_MSG(&say, MB_ECONFIG, CLI_UNKNOWN_SUBCOMMAND, cmd);
    cli_say("profile", &say);
    fprintf(stderr, "\n%s", usage);
    return CLI_EXIT_USAGE;
}
