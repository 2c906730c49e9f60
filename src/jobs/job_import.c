#include "job_import.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "db/db_job.h"
#include "db/db_jobopt.h"
#include "db/db_profile.h"
#include "jobs.h"
#include "migrate/mig_preset.h"

unsigned job_import_port(const struct csvimp_row *r)
{
    if (r->port)
        return r->port;
    const struct mig_preset *p = mig_preset_find(r->server_type);
    return p && p->default_port ? p->default_port : 993;
}

int job_import_queue(struct db *db, const struct secret_box *box, const struct csvimp_result *res,
                     const struct job_import *ji, int64_t *batch_r, enum job_import_step *step_r,
                     struct mb_err *err)
{
    size_t n = res->n_rows;
    struct db_job_new *jobs = xcalloc(n, sizeof(*jobs));
    unsigned char **blobs = xcalloc(n, sizeof(*blobs));
    size_t *lens = xcalloc(n, sizeof(*lens));
    int64_t *ids = xcalloc(n, sizeof(*ids));
    int64_t batch = 0;
    int rc = 0;
    *step_r = JOB_IMPORT_SEAL;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct csvimp_row *r = &res->rows[i];
        if (r->pass_source[0]) /* else: through the profile, no password kept */
            rc = secret_box_seal(box, JOBS_SECRET_AAD, r->pass_source, strlen(r->pass_source),
                                 &blobs[i], &lens[i], err);
        jobs[i] = (struct db_job_new){
            .account_id = ji->account_id,
            .source_host = r->host,
            .source_port = (int)job_import_port(r),
            .source_tls = "auto",
            .insecure = 0,
            .source_login = r->login_source,
            .secret = blobs[i],
            .secret_len = lens[i],
            .server_type = r->server_type,
            .dest_login = r->login_destination,
            .subscribed_only = r->subscribed_only,
        };
    }
    if (!rc) {
        *step_r = JOB_IMPORT_WRITE;
        /* one transaction: a worker never sees a profile job without its profile */
        rc = db_begin_immediate(db, err);
        if (!rc)
            rc = ji->into ? db_job_insert_into(db, ji->into, ji->account_id, jobs, n, ids, err)
                          : db_job_insert_many(db, ji->account_id, ji->batch_name, jobs, n, &batch,
                                               ids, err);
        if (!rc && ji->into)
            batch = ji->into;
        for (size_t i = 0; !rc && ji->profile && i < n; i++)
            if (!res->rows[i].pass_source[0])
                rc = db_profile_job_set(db, ids[i], ji->profile, err);
        if (!rc && ji->options_json)
            rc = db_jobopt_set_batch(db, batch, ji->options_json, err);
        if (!rc)
            rc = db_commit(db, err);
        else
            db_rollback(db);
    }
    for (size_t i = 0; i < n; i++) {
        if (blobs[i]) {
            secret_wipe(blobs[i], lens[i]);
            free(blobs[i]);
        }
    }
    free(blobs);
    free(lens);
    free(ids);
    free(jobs);
    if (!rc)
        *batch_r = batch;
    return rc;
}
