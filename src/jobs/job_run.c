#include "job_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_store.h"
#include "base/xalloc.h"
#include "db/db_jobopt.h"
#include "db/db_log.h"
#include "db/db_profile.h"
#include "jobs.h"
#include "log/log.h"

int job_run_creds_load(struct db *db, const struct secret_box *box, int64_t job_id,
                       struct job_run_creds *c, struct mb_err *why)
{
    struct mb_err err = {0};
    /* A job of a source authentication profile keeps no password: it logs in through the
     * profile, which must still exist. */
    db_profile_job_get(db, job_id, &c->profile_name, &err);
    if (c->profile_name) {
        int prc = auth_profile_open(db, box, c->profile_name, &c->profile, &err);
        if (prc == 0)
            return 0;
        char name[65];
        snprintf(name, sizeof(name), "%s", c->profile_name);
        return prc == MB_ENOTFOUND ? MB_MSG(why, MB_ENOTFOUND, PROFILE_DELETED, name)
                                   : MB_MSG(why, MB_ECRYPTO, PROFILE_UNREADABLE, name);
    }
    unsigned char *blob = NULL;
    size_t blob_len = 0;
    if (db_job_get_secret(db, job_id, &blob, &blob_len, &err) != 0 || !blob)
        return MB_MSG0(why, MB_ENOTFOUND, JOB_PASSWORD_GONE);
    int rc = secret_box_open(box, JOBS_SECRET_AAD, blob, blob_len, &c->password, &err);
    secret_wipe(blob, blob_len);
    free(blob);
    if (rc)
        return MB_MSG0(why, MB_ECRYPTO, JOB_PASSWORD_UNDECRYPTABLE);
    return 0;
}

void job_run_creds_fini(struct job_run_creds *c)
{
    secret_fini(&c->password);
    auth_profile_fini(&c->profile);
    free(c->profile_name);
    memset(c, 0, sizeof(*c));
}

int job_run_options_load(struct db *db, int64_t job_id, struct mig_options *opts, char **json_r,
                         struct mb_err *err)
{
    char *json = NULL;
    memset(opts, 0, sizeof(*opts));
    int rc = db_jobopt_get(db, job_id, &json, err);
    if (!rc)
        rc = mig_options_parse(json, opts, err);
    if (json_r && !rc)
        *json_r = json;
    else
        free(json);
    return rc;
}

static int job_run_on_progress(void *ctx, const struct db_job_counters *c, const char *folder)
{
    struct job_run *jr = ctx;
    int cancel = 0;
    struct mb_err err;
    if (db_job_progress_update(jr->db, jr->job_id, c, folder, &cancel, &err) != 0)
        log_warn("job %lld: progress update failed: %s", (long long)jr->job_id, err.msg);
    if (cancel)
        jr->user_cancel = 1;
    if (jr->progress)
        jr->progress(jr->ctx, c, folder);
    return cancel;
}

static int job_run_on_extra_conn(void *ctx, int take)
{
    struct job_run *jr = ctx;
    return jr->extra_conn ? jr->extra_conn(jr->conn_ctx, take) : 1;
}

static void job_run_on_log(void *ctx, const char *level, const char *text)
{
    struct job_run *jr = ctx;
    db_log_add(jr->db, jr->job_id, db_log_level_parse(level), "%s", text);
    if (jr->log)
        jr->log(jr->ctx, level, text);
}

static void job_run_on_log_msg(void *ctx, const char *level, const struct mb_err *line)
{
    struct job_run *jr = ctx;
    db_log_add_msg(jr->db, jr->job_id, db_log_level_parse(level), line);
    if (jr->log)
        jr->log(jr->ctx, level, line->msg);
}

void job_run_engine(struct job_run *jr, struct mig_result *res)
{
    struct mb_err err = {0};
    struct job_run_creds *c = jr->creds;
    memset(res, 0, sizeof(*res));
    jr->user_cancel = 0;
    jr->req.source_password = c->profile_name ? NULL : &c->password;
    jr->req.auth_profile = c->profile_name ? &c->profile : NULL;
    struct mig_hooks hooks = {.ctx = jr,
                              .progress = job_run_on_progress,
                              .log = job_run_on_log,
                              .log_msg = job_run_on_log_msg,
                              .cancel = jr->cancel,
                              .deadline_ms = jr->deadline_ms,
                              .pause_returns = jr->pause_returns,
                              .extra_conn = job_run_on_extra_conn};
    int r = mig_run(jr->cfg, jr->db, jr->job_id, &jr->req, &hooks, res, &err);
    secret_fini(&c->password);
    jr->req.source_password = NULL;
    mb_err_clear(&jr->error);
    if (r != 0) {
        res->state = DB_JOB_FAILED;
        res->transient = 1;
        if (jr->wrap_internal)
            MB_MSG(&jr->error, r, JOB_INTERNAL, &err);
        else
            jr->error = err;
        res->error = jr->error;
    } else if (res->state != DB_JOB_DONE) {
        /* The engine's verdict, coded (cancelled, or the error that ended the run). */
        jr->error = res->error;
    }
}

int job_run_finish(const struct job_run *jr, const struct mig_result *res, struct mb_err *err)
{
    if (res->state == DB_JOB_FAILED) {
        /* The Journal ends with the reason, as the job's page shows it. */
        struct mb_err line;
        MB_MSG(&line, 0, LOG_RUN_FAILED, &jr->error);
        db_log_add_msg(jr->db, jr->job_id, DB_LOG_ERROR, &line);
    }
    /* [server] credential_retention 0: the credentials go with the job's end, in the same
     * update, so nobody sees it ended with its password still stored. */
    return db_job_finish_msg(jr->db, jr->job_id, res->state,
                             res->state == DB_JOB_DONE ? NULL : &jr->error, res->report,
                             jr->cfg && jr->cfg->server.credential_retention == 0, err);
}
