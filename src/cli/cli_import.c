/* migrabox import: queue a CSV batch (the spec's « Migration multiple » format) with the same
 * importer and validation as POST /api/imports; all or nothing. The jobs are run by a
 * running `migrabox serve` on the same data_dir. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/auth_store.h"
#include "base/secret.h"
#include "base/xalloc.h"
#include "cli.h"
#include "config/config.h"
#include "csvimport/csvimp.h"
#include "db/db.h"
#include "jobs/job_import.h"
#include "log/log.h"
#include "migrate/mig_options.h"

static const char usage[] =
    "usage: migrabox import [-c FILE] [--dry-run] [--auth-profile NAME] [--since YYYY-MM-DD]\n"
    "                       [--before YYYY-MM-DD] [--exclude-folder PATTERN]...\n"
    "                       [--map-folder SRC=DST]... [--max-message-size N]\n"
    "                       [--gmail-labels each|first] FILE.csv\n"
    "\n"
    "Queue a CSV batch of migrations (columns login_source;pass_source;host_source;\n"
    "type_messagerie;login_destination;subscribed_only, separator ';', header optional).\n"
    "The file is checked as a whole: with any error nothing is queued and every error is\n"
    "printed as 'line L, column C (name): message' (in French, 'ligne L, colonne C (name) :\n"
    "message', when LC_ALL, LC_MESSAGES or LANG starts with fr). --dry-run checks without\n"
    "queueing.\n"
    "The jobs are run by 'migrabox serve' on the same data_dir.\n"
    "With --auth-profile NAME, rows may leave pass_source empty: they log in through that\n"
    "source authentication profile (see 'migrabox profile'); a row with a password uses it.\n"
    "The option flags (as for 'migrabox migrate': date range, folders left out or renamed,\n"
    "largest message, Gmail labels) apply to every job of the batch and are kept with them.\n"
    "Exit status: 0 queued (or valid with --dry-run), 1 invalid file or failure, 2 usage.\n";

static int cli_import_read(const char *path, size_t max, char **data_r, size_t *len_r)
{
    struct mb_err say;
    FILE *f = fopen(path, "rb");
    if (!f) {
        MB_MSG(&say, MB_ENOTFOUND, CLI_CANNOT_OPEN, path, strerror(errno));
        cli_say("import", &say);
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        MB_MSG(&say, MB_ECONFIG, CLI_NOT_REGULAR, path);
        cli_say("import", &say);
        fclose(f);
        return -1;
    }
    if ((uint64_t)st.st_size > max) {
        MB_MSG(&say, MB_ETOOBIG, CLI_FILE_TOO_LARGE, path, max);
        cli_say("import", &say);
        fclose(f);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    char *data = xmalloc(n + 1);
    size_t got = fread(data, 1, n, f);
    int bad = ferror(f) || got != n;
    fclose(f);
    if (bad) {
        MB_MSG(&say, MB_EIO, CLI_READ_FAILED, path);
        cli_say("import", &say);
        secret_wipe(data, n);
        free(data);
        return -1;
    }
    data[n] = '\0';
    *data_r = data;
    *len_r = n;
    return 0;
}

int cli_import(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"dry-run", no_argument, NULL, 'n'},
        {"auth-profile", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        CLI_OPTION_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *cfg_path = NULL, *profile = NULL;
    int dry_run = 0, ch;
    struct cli_opt_flags oflags = {.n = 0};
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (ch >= CLI_OPT_FIRST && ch <= CLI_OPT_LAST) {
            if (cli_opts_add(&oflags, "import", ch, optarg) != 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        switch (ch) {
        case 'c': cfg_path = optarg; break;
        case 'n': dry_run = 1; break;
        case 'A': profile = optarg; break;
        case 'h': fputs(usage, stdout); return CLI_EXIT_OK;
        default: fputs(usage, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        struct mb_err say;
        MB_MSG0(&say, MB_ECONFIG, CLI_IMPORT_ONE_FILE);
        cli_say("import", &say);
        fprintf(stderr, "\n%s", usage);
        return CLI_EXIT_USAGE;
    }
    const char *path = argv[optind];
    struct mb_err err = {0};
    struct mig_options mo;
    char *options_json = NULL;
    if (cli_opts_parse(&oflags, &mo, &err) != 0) {
        cli_say("import", &err);
        mig_options_fini(&mo);
        return CLI_EXIT_USAGE;
    }
    if (oflags.n)
        options_json = mig_options_to_json(&mo);
    mig_options_fini(&mo);
    struct config *cfg = NULL;
    if (config_load(cfg_path, &cfg, &err) != 0) {
        cli_say("import", &err);
        free(options_json);
        return CLI_EXIT_USAGE;
    }
    if (cli_store_setup(cfg, "import") != 0) {
        config_free(&cfg);
        free(options_json);
        return CLI_EXIT_USAGE;
    }
    log_set_level(LOG_WARN);
    int status = CLI_EXIT_FAILED;
    char *data = NULL;
    size_t len = 0;
    struct db *db = NULL;
    struct secret_box box;
    int have_box = 0;
    struct csvimp_result res;
    memset(&res, 0, sizeof(res));

    if (cfg->destination.n_domains == 0) {
        struct mb_err say;
        MB_MSG0(&say, MB_ECONFIG, CLI_NO_DOMAINS);
        cli_say("import", &say);
        status = CLI_EXIT_USAGE;
        goto out;
    }
    size_t max = (size_t)cfg->server.max_upload_bytes;
    if (cli_import_read(path, max, &data, &len) != 0)
        goto out;
    struct csvimp_opts o = {
        .max_bytes = max,
        .max_rows = (unsigned)cfg->server.max_import_rows,
        .domains = (const char *const *)cfg->destination.domains,
        .n_domains = cfg->destination.n_domains,
        .french = msg_lang_from_env() == MSG_LANG_FR,
        .allow_empty_password = profile != NULL,
        .separator = cfg->destination.separator,
    };
    int rc = csvimp_parse(data, len, &o, &res);
    if (rc == MB_ECONFIG) {
        for (size_t i = 0; i < res.n_errors; i++)
            fprintf(stderr, "%s\n", res.errors[i].message);
        char count[32];
        snprintf(count, sizeof(count), "%zu%s", res.n_errors, res.errors_truncated ? "+" : "");
        struct mb_err m;
        MB_MSG(&m, MB_ECONFIG, CLI_IMPORT_ERRORS, path, count);
        cli_say("import", &m);
        goto out;
    }
    if (rc) {
        struct mb_err say;
        if (rc == MB_ETOOBIG)
            MB_MSG(&say, rc, CLI_FILE_TOO_LARGE, path, max);
        else
            MB_MSG(&say, rc, CLI_READ_FAILED, path);
        cli_say("import", &say);
        goto out;
    }
    if (dry_run) {
        printf("%s: %zu migrations, valid (%s); nothing queued (--dry-run)\n", path, res.n_rows,
               res.encoding);
        status = CLI_EXIT_OK;
        goto out;
    }

    const char *dd = cfg->server.data_dir;
    if (mkdir(dd, 0700) != 0 && errno != EEXIST) {
        struct mb_err say;
        MB_MSG(&say, MB_EIO, CLI_CANNOT_CREATE_DIR, dd, strerror(errno));
        cli_say("import", &say);
        goto out;
    }
    char *key_path = xasprintf("%s/secret.key", dd);
    rc = secret_box_load(&box, key_path, &err);
    free(key_path);
    if (rc) {
        cli_say("import", &err);
        goto out;
    }
    have_box = 1;
    char *db_path = xasprintf("%s/migrabox.db", dd);
    rc = db_open(db_path, &db, &err);
    free(db_path);
    if (rc) {
        cli_say("import", &err);
        goto out;
    }
    if (profile) {
        struct auth_profile prof;
        memset(&prof, 0, sizeof(prof));
        rc = auth_profile_open(db, &box, profile, &prof, &err);
        auth_profile_fini(&prof);
        if (rc) {
            struct mb_err say;
            MB_MSG(&say, rc, CLI_NOTHING_QUEUED, &err);
            cli_say("import", &say);
            goto out;
        }
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    int64_t batch = 0;
    enum job_import_step step;
    struct job_import ji = {.batch_name = base, .profile = profile, .options_json = options_json};
    rc = job_import_queue(db, &box, &res, &ji, &batch, &step, &err);
    if (rc) {
        struct mb_err say;
        if (step == JOB_IMPORT_SEAL)
            say = err;
        else
            MB_MSG(&say, rc, CLI_NOTHING_QUEUED, &err);
        cli_say("import", &say);
        goto out;
    }
    printf("batch %" PRId64 ": %zu jobs queued\n", batch, res.n_rows);
    status = CLI_EXIT_OK;
out:
    free(options_json);
    csvimp_result_fini(&res);
    if (data) {
        secret_wipe(data, len);
        free(data);
    }
    db_close(&db);
    if (have_box)
        secret_box_fini(&box);
    config_free(&cfg);
    return status;
}
