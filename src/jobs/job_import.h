/* job_import: a parsed CSV file (csvimp) queued as a batch of jobs — the one path of
 * `migrabox import` and POST /api/imports. Each row becomes a job (TLS auto, the row's port or
 * its server type's default); a row's password is sealed with the secret box
 * (JOBS_SECRET_AAD); a row without one logs in through the import's source authentication
 * profile; the jobs, their profile links and the batch's options are written in one
 * transaction (all or nothing: a worker never sees a profile job without its profile), into a
 * new batch or an existing one. The caller checks the file, the profile and the batch first
 * and words the errors. */
#ifndef MB_JOB_IMPORT_H
#define MB_JOB_IMPORT_H

#include <stdint.h>

#include "base/mb_err.h"
#include "base/secret.h"
#include "csvimport/csvimp.h"
#include "db/db.h"

/* The source port of a row: its own, else its server type's default, else 993. */
unsigned job_import_port(const struct csvimp_row *r);

struct job_import {
    int64_t account_id;       /* the jobs' owner; 0 = none (the CLI) */
    const char *batch_name;   /* a new batch's name; NULL = none */
    int64_t into;             /* join this batch (checked not finalized); 0 = a new batch */
    const char *profile;      /* rows without a password log in through it; NULL = none */
    const char *options_json; /* the batch's options (mig_options_to_json); NULL = none */
};

/* Which step failed. */
enum job_import_step {
    JOB_IMPORT_SEAL = 1, /* sealing a password (nothing written) */
    JOB_IMPORT_WRITE,    /* the transaction (rolled back: nothing queued) */
};

/* Queue res's rows as described by ji. 0 with *batch_r set, or non-zero with err and *step_r. */
int job_import_queue(struct db *db, const struct secret_box *box, const struct csvimp_result *res,
                     const struct job_import *ji, int64_t *batch_r, enum job_import_step *step_r,
                     struct mb_err *err);

#endif
