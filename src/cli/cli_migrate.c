/* migrabox migrate: one migration in the foreground, with the same engine as the workers.
 * Progress on stderr, one JSON summary object on stdout, exit 0 when it ends TERMINÉE.
 * The job is kept in the database of data_dir, so running the same migration again (same
 * source host, port, login and destination) copies only what is missing. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth_store.h"
#include "base/buf.h"
#include "base/secret.h"
#include "base/xalloc.h"
#include "cli.h"
#include "config/config.h"
#include "db/db.h"
#include "db/db_job.h"
#include "json/json_read.h"
#include "json/json_write.h"
#include "log/log.h"
#include "db/db_jobopt.h"
#include "jobs/job_run.h"
#include "migrate/mig.h"
#include "net/net_host.h"

static const char usage[] =
    "usage: migrabox migrate [-c FILE] --source-host HOST[:PORT] --source-user LOGIN\n"
    "                        --type gmail|exchange|office|domino|defaut --dest-user ADDRESS\n"
    "                        [--subscribed-only] [--source-tls auto|implicit|starttls|none]\n"
    "                        [--insecure] [--source-password-file FILE]\n"
    "                        [--auth-profile NAME] [--quiet]\n"
    "                        [--since YYYY-MM-DD] [--before YYYY-MM-DD]\n"
    "                        [--exclude-folder PATTERN]... [--map-folder SRC=DST]...\n"
    "                        [--max-message-size BYTES] [--gmail-labels each|first]\n"
    "\n"
    "Copy one mailbox in the foreground. The source password is read from the environment\n"
    "variable MIGRABOX_SOURCE_PASSWORD or from --source-password-file (never from the\n"
    "command line). HOST without a port means 993 with implicit TLS; gmail and office have\n"
    "default hosts. TLS auto: port 993 -> implicit TLS, other ports -> STARTTLS (required);\n"
    "plaintext needs --source-tls none.\n"
    "With --auth-profile NAME (see 'migrabox profile') no source password is needed: the\n"
    "profile logs in as --source-user (XOAUTH2 token of a Microsoft 365 app or a Google\n"
    "service account, or an IMAP administrator login); its source host is the default.\n"
    "\n"
    "Options (kept with the job; a run without any of them reuses the job's stored ones):\n"
    "  --since D, --before D   copy messages with D(since) 00:00 UTC <= INTERNALDATE <\n"
    "                          D(before) 00:00 UTC\n"
    "  --exclude-folder P      leave out folders matching P ('/' between levels, '*' any\n"
    "                          text; \\Trash, \\Junk: that special folder and its subfolders)\n"
    "  --map-folder SRC=DST    copy folder SRC (and its subfolders) into DST\n"
    "  --max-message-size N    leave out messages over N bytes\n"
    "  --gmail-labels first    a Gmail message only in its first label's folder (default each)\n"
    "Messages and folders left out are counted in the report (\"left_out\"), not as failures.\n"
    "\n"
    "Progress goes to stderr; a JSON summary goes to stdout:\n"
    "  {\"state\":\"done\"|\"failed\",\"error\":...,\"folders\":N,\"copied\":N,\"skipped\":N,\n"
    "   \"failed\":N,\"bytes\":N,...}\n"
    "Exit status: 0 done (TERMINÉE), 1 failed (ÉCHOUÉE), 2 usage or configuration error.\n"
    "Running the same migration again copies only what is missing (skipped = already there).\n";

static atomic_int cancel_flag;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&cancel_flag, 1);
}

static void fmt_bytes(int64_t b, char *out, size_t n)
{
    if (b >= 1 << 30)
        snprintf(out, n, "%.1f GB", (double)b / (1 << 30));
    else if (b >= 1 << 20)
        snprintf(out, n, "%.1f MB", (double)b / (1 << 20));
    else
        snprintf(out, n, "%.1f KB", (double)b / 1024);
}

/* The display on stderr (job_run records progress and log lines in the database). */
static void on_progress(void *ctx, const struct db_job_counters *c, const char *folder)
{
    (void)ctx;
    char b[32];
    fmt_bytes(c->bytes_copied, b, sizeof(b));
    fprintf(stderr,
            "migrabox: folders %lld/%lld, messages %lld/%lld (%lld skipped, %lld "
            "refused), %s%s%s\n",
            (long long)c->folders_done, (long long)c->folders_total,
            (long long)(c->messages_copied + c->messages_skipped + c->messages_failed),
            (long long)c->messages_total, (long long)c->messages_skipped,
            (long long)c->messages_failed, b, folder ? " — " : "", folder ? folder : "");
}

static void on_log(void *ctx, const char *level, const char *text)
{
    (void)ctx;
    (void)level;
    fprintf(stderr, "migrabox: %s\n", text);
}

/* Read the source password: env first, then the file (first line, trailing newline dropped). */
static int read_password(const char *file, struct secret *out, struct mb_err *why)
{
    const char *env = getenv("MIGRABOX_SOURCE_PASSWORD");
    if (env && *env && !file) {
        secret_set(out, env, strlen(env));
        return 0;
    }
    if (!file) {
        return MB_MSG0(why, MB_ECONFIG, CLI_NO_PASSWORD);
    }
    FILE *f = fopen(file, "r");
    if (!f) {
        return MB_MSG(why, MB_ENOTFOUND, CLI_CANNOT_READ, file, strerror(errno));
    }
    char buf[4097];
    size_t len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = '\0';
    size_t eol = strcspn(buf, "\r\n");
    if (eol == 0) {
        secret_wipe(buf, sizeof(buf));
        return MB_MSG(why, MB_ECONFIG, CLI_EMPTY_PASSWORD, file);
    }
    secret_set(out, buf, eol);
    secret_wipe(buf, sizeof(buf));
    return 0;
}

static void print_summary(const struct mig_result *res, int64_t job, const char *error)
{
    struct buf out;
    buf_init(&out, (size_t)64 << 20);
    struct json_w w;
    json_w_init(&w, &out);
    const struct db_job_counters *c = &res->counters;
    json_w_obj_begin(&w);
    json_w_kv_str(&w, "state", res->state == DB_JOB_DONE ? "done" : "failed");
    json_w_kv_str(&w, "error", error);
    json_w_kv_int(&w, "job", job);
    json_w_kv_int(&w, "folders", c->folders_total);
    json_w_kv_int(&w, "folders_done", c->folders_done);
    json_w_kv_int(&w, "messages", c->messages_total);
    json_w_kv_int(&w, "copied", c->messages_copied);
    json_w_kv_int(&w, "skipped", c->messages_skipped);
    json_w_kv_int(&w, "failed", c->messages_failed);
    json_w_kv_int(&w, "bytes", c->bytes_copied);
    struct json_value *rep = NULL;
    struct mb_err err;
    json_w_key(&w, "report");
    struct json_limits lim = {
        .max_bytes = (size_t)32 << 20, .max_members = 1000000, .max_values = 10000000};
    if (res->report && json_parse(res->report, strlen(res->report), &lim, &rep, &err) == 0)
        json_w_value(&w, rep);
    else
        json_w_null(&w);
    json_free(&rep);
    json_w_obj_end(&w);
    if (json_w_finish(&w) == 0)
        printf("%s\n", buf_cstr(&out));
    else
        printf("{\"state\":\"failed\",\"error\":\"summary too large\"}\n");
    fflush(stdout);
    buf_fini(&out);
}

/* 1 when job id is marked running by a `migrabox migrate` process ("cli-PID") of this machine
 * that no longer exists: it was killed or crashed, and its job can be resumed at once rather
 * than after the heartbeat has gone stale. (A reused PID only delays the take-over.) */
static int cli_migrate_owner_gone(struct db *db, int64_t id)
{
    struct db_job job;
    memset(&job, 0, sizeof(job));
    struct mb_err err;
    if (db_job_get(db, id, &job, &err) != 0)
        return 0;
    int gone = 0;
    const char *w = job.worker;
    if (job.state == DB_JOB_RUNNING && w && strncmp(w, "cli-", 4) == 0 && w[4] >= '1' && w[4] <= '9'
        && strspn(w + 4, "0123456789") == strlen(w + 4) && strlen(w + 4) < 10) {
        long pid = strtol(w + 4, NULL, 10);
        gone = kill((pid_t)pid, 0) != 0 && errno == ESRCH;
    }
    db_job_fini(&job);
    return gone;
}

int cli_migrate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"source-host", required_argument, NULL, 'H'},
        {"source-user", required_argument, NULL, 'u'},
        {"type", required_argument, NULL, 't'},
        {"dest-user", required_argument, NULL, 'd'},
        {"subscribed-only", no_argument, NULL, 's'},
        {"source-tls", required_argument, NULL, 'T'},
        {"insecure", no_argument, NULL, 'k'},
        {"source-password-file", required_argument, NULL, 'p'},
        {"auth-profile", required_argument, NULL, 'A'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        CLI_OPTION_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *cfg_path = NULL, *host_arg = NULL, *user = NULL, *type = NULL, *dest = NULL;
    const char *tls_arg = "auto", *pwfile = NULL, *profile_name = NULL;
    int subscribed_only = 0, insecure = 0, quiet = 0, ch;
    struct cli_opt_flags oflags = {.n = 0};
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:hq", opts, NULL)) != -1) {
        if (ch >= CLI_OPT_FIRST && ch <= CLI_OPT_LAST) {
            if (cli_opts_add(&oflags, "migrate", ch, optarg) != 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        switch (ch) {
        case 'c': cfg_path = optarg; break;
        case 'H': host_arg = optarg; break;
        case 'u': user = optarg; break;
        case 't': type = optarg; break;
        case 'd': dest = optarg; break;
        case 's': subscribed_only = 1; break;
        case 'T': tls_arg = optarg; break;
        case 'k': insecure = 1; break;
        case 'p': pwfile = optarg; break;
        case 'A': profile_name = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': fputs(usage, stdout); return CLI_EXIT_OK;
        default: fputs(usage, stderr); return CLI_EXIT_USAGE;
        }
    }
    struct mb_err say;
    if (optind < argc) {
        MB_MSG(&say, MB_ECONFIG, CLI_UNEXPECTED_ARGUMENT, argv[optind]);
        cli_say("migrate", &say);
        return CLI_EXIT_USAGE;
    }
    if (!user || !type || !dest) {
        MB_MSG0(&say, MB_ECONFIG, CLI_MIGRATE_REQUIRED);
        cli_say("migrate", &say);
        fprintf(stderr, "\n%s", usage);
        return CLI_EXIT_USAGE;
    }
    const struct mig_preset *preset = mig_preset_find(type);
    if (!preset) {
        MB_MSG(&say, MB_ECONFIG, CLI_UNKNOWN_TYPE, type);
        cli_say("migrate", &say);
        return CLI_EXIT_USAGE;
    }
    enum mig_tls tls;
    if (mig_tls_parse(tls_arg, &tls) != 0) {
        MB_MSG0(&say, MB_ECONFIG, CLI_BAD_TLS);
        cli_say("migrate", &say);
        return CLI_EXIT_USAGE;
    }
    char host[256] = "";
    unsigned port = 0;
    if (host_arg && *host_arg) {
        int why;
        if (net_host_parse(host_arg, host, sizeof(host), &port, &why) != 0) {
            struct mb_err reason;
            mb_err_msg(&reason, MB_ECONFIG, why, NULL, 0);
            MB_MSG(&say, MB_ECONFIG, CLI_BAD_SOURCE_HOST, &reason);
            cli_say("migrate", &say);
            return CLI_EXIT_USAGE;
        }
    } else if (preset->default_host) {
        snprintf(host, sizeof(host), "%s", preset->default_host);
    } else if (!profile_name) {
        MB_MSG(&say, MB_ECONFIG, CLI_SOURCE_HOST_REQUIRED, type);
        cli_say("migrate", &say);
        return CLI_EXIT_USAGE;
    }
    if (profile_name && pwfile) {
        MB_MSG0(&say, MB_ECONFIG, CLI_PROFILE_OR_PASSWORD);
        cli_say("migrate", &say);
        return CLI_EXIT_USAGE;
    }
    const char *at = strrchr(dest, '@');
    if (!at || at == dest || !at[1]) {
        MB_MSG0(&say, MB_ECONFIG, CLI_DEST_ADDRESS);
        cli_say("migrate", &say);
        return CLI_EXIT_USAGE;
    }

    struct mig_options mo;
    int have_opts = oflags.n > 0;
    struct mb_err err = {0};
    if (cli_opts_parse(&oflags, &mo, &err) != 0) {
        cli_say("migrate", &err);
        mig_options_fini(&mo);
        return CLI_EXIT_USAGE;
    }

    struct config *cfg = NULL;
    if (config_load(cfg_path, &cfg, &err) != 0) {
        mig_options_fini(&mo);
        cli_say("migrate", &err);
        return CLI_EXIT_USAGE;
    }
    if (cli_store_setup(cfg, "migrate") != 0) {
        config_free(&cfg);
        mig_options_fini(&mo);
        return CLI_EXIT_USAGE;
    }
    log_set_level(quiet ? LOG_ERROR : LOG_WARN);
    int status = CLI_EXIT_USAGE;
    struct db *db = NULL;
    struct job_run_creds creds;
    memset(&creds, 0, sizeof(creds));
    struct db_job job;
    memset(&job, 0, sizeof(job));
    struct mig_result res;
    memset(&res, 0, sizeof(res));

    if (!config_domain_allowed(cfg, at + 1)) {
        MB_MSG(&say, MB_ECONFIG, CLI_NOT_HOSTED, at + 1);
        cli_say("migrate", &say);
        goto out;
    }
    if (!profile_name && read_password(pwfile, &creds.password, &say) != 0) {
        cli_say("migrate", &say);
        goto out;
    }
    if (mkdir(cfg->server.data_dir, 0700) != 0 && errno != EEXIST) {
        MB_MSG(&say, MB_EIO, CLI_CANNOT_CREATE_DIR, cfg->server.data_dir, strerror(errno));
        cli_say("migrate", &say);
        goto out;
    }
    char *dbpath = xasprintf("%s/migrabox.db", cfg->server.data_dir);
    int rc = db_open(dbpath, &db, &err);
    free(dbpath);
    if (rc) {
        cli_say("migrate", &err);
        goto out;
    }
    if (profile_name) {
        struct secret_box box;
        char *kp = xasprintf("%s/secret.key", cfg->server.data_dir);
        rc = secret_box_load(&box, kp, &err);
        free(kp);
        if (!rc) {
            rc = auth_profile_open(db, &box, profile_name, &creds.profile, &err);
            secret_box_fini(&box);
        }
        if (rc) {
            cli_say("migrate", &err);
            goto out;
        }
        creds.profile_name = xstrdup(profile_name);
        const struct auth_profile *prof = &creds.profile;
        int hwhy;
        if (!host[0] && prof->source_host
            && net_host_parse(prof->source_host, host, sizeof(host), &port, &hwhy) != 0) {
            struct mb_err reason;
            mb_err_msg(&reason, MB_ECONFIG, hwhy, NULL, 0);
            MB_MSG(&say, MB_ECONFIG, CLI_PROFILE_HOST, &reason);
            cli_say("migrate", &say);
            goto out;
        }
        if (!host[0]) {
            MB_MSG(&say, MB_ECONFIG, CLI_SOURCE_HOST_REQUIRED, type);
            cli_say("migrate", &say);
            goto out;
        }
    }
    if (!port)
        port = preset->default_port ? preset->default_port : 993;

    /* The same migration run again is the same job: its message map makes it a delta. */
    int64_t id = 0;
    rc = db_begin_immediate(db, &err);
    if (!rc) {
        rc = db_job_find_same(db, host, (int)port, user, dest, &id, &err);
        if (rc == MB_ENOTFOUND) {
            struct db_job_new jn = {
                .source_host = host,
                .source_port = (int)port,
                .source_tls = mig_tls_name(tls),
                .insecure = insecure,
                .source_login = user,
                .server_type = preset->name,
                .dest_login = dest,
                .subscribed_only = subscribed_only,
            };
            rc = db_job_insert(db, &jn, &id, &err);
        }
        if (!rc) {
            char worker[64];
            snprintf(worker, sizeof(worker), "cli-%ld", (long)getpid());
            /* Refuse only when another process updated it in the last minute, unless that
             * process was an earlier `migrabox migrate` that is gone (killed, crashed). */
            int64_t stale_before = (int64_t)time(NULL) - 60;
            if (cli_migrate_owner_gone(db, id))
                stale_before = INT64_MAX;
            rc = db_job_take(db, id, worker, stale_before, &job, &err);
            if (rc == 0) {
                rc = MB_ECONFIG;
                mb_err_set(&err, MB_ECONFIG,
                           "this migration (job %lld), or another job of the same mailbox "
                           "pair, is already running",
                           (long long)id);
            } else if (rc == 1) {
                rc = 0;
            }
        }
        /* Options given: they are the job's from now on; none: the stored ones apply. */
        if (!rc && have_opts) {
            char *oj = mig_options_to_json(&mo);
            rc = db_jobopt_set(db, id, oj, &err);
            free(oj);
        }
        if (rc)
            db_rollback(db);
        else
            rc = db_commit(db, &err);
    }
    if (!rc && !have_opts) {
        char *oj = NULL;
        rc = job_run_options_load(db, id, &mo, &oj, &err);
        if (!rc && oj && !quiet)
            fprintf(stderr, "migrabox: job %lld: the job's stored options apply: %s\n",
                    (long long)id, oj);
        free(oj);
    }
    if (rc) {
        cli_say("migrate", &err);
        goto out;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct job_run jr = {
        .cfg = cfg,
        .db = db,
        .job_id = id,
        .req =
            {
                .source_host = host,
                .source_port = port,
                .source_tls = tls,
                .insecure = insecure,
                .source_login = user,
                .preset = preset,
                .dest_login = dest,
                .subscribed_only = subscribed_only,
                .options = &mo,
            },
        .creds = &creds,
        .cancel = &cancel_flag,
        .pause_returns = 0,
        .progress = quiet ? NULL : on_progress,
        .log = quiet ? NULL : on_log,
    };
    if (!quiet)
        fprintf(stderr, "migrabox: job %lld: %s on %s:%u -> %s\n", (long long)id, user, host, port,
                dest);
    job_run_engine(&jr, &res);
    if (job_run_finish(&jr, &res, &err) != 0)
        fprintf(stderr, "migrabox migrate: cannot record the result: %s\n", err.msg);
    if (!quiet) {
        if (res.state == DB_JOB_DONE)
            MB_MSG0(&say, 0, CLI_JOB_DONE);
        else
            MB_MSG(&say, 0, CLI_JOB_FAILED, &jr.error);
        cli_say(NULL, &say);
    }
    print_summary(&res, id, res.state == DB_JOB_DONE ? NULL : res.error.msg);
    status = res.state == DB_JOB_DONE ? CLI_EXIT_OK : CLI_EXIT_FAILED;
out:
    mig_options_fini(&mo);
    job_run_creds_fini(&creds);
    oauth_cache_clear();
    mig_result_fini(&res);
    db_job_fini(&job);
    db_close(&db);
    config_free(&cfg);
    return status;
}
