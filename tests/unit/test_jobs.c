#define T_IMPLEMENTATION
#include "t.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mb_err.h"
#include "base/secret.h"
#include "base/xalloc.h"
#include "csvimport/csvimp.h"
#include "db/db.h"
#include "db/db_job.h"
#include "db/db_jobopt.h"
#include "jobs/job_import.h"
#include "jobs/job_run.h"
#include "jobs/jobs.h"

/* The shared rules of src/jobs: job_import (the CSV -> batch path of `migrabox import` and
 * POST /api/imports) and job_run (one run of a job, for the workers and `migrabox migrate`). */

static struct db *open_fresh(const char *name)
{
    char *path = xasprintf("%s/%s", t_tmpdir(), name);
    struct db *db = NULL;
    struct mb_err err;
    if (db_open(path, &db, &err) != 0) {
        fprintf(stderr, "db_open %s: %s\n", path, err.msg);
        exit(2);
    }
    free(path);
    return db;
}

static const char *const domains[] = {"example.com"};

static void parse(const char *csv, struct csvimp_result *res)
{
    struct csvimp_opts o = {.domains = domains, .n_domains = 1};
    if (csvimp_parse(csv, strlen(csv), &o, res) != 0) {
        fprintf(stderr, "csvimp_parse failed\n");
        exit(2);
    }
}

static const char CSV[] = "a@old.test;pw-one;imap.old.test;defaut;a@example.com;False\n"
                          "b@old.test;pw-two;imap.old.test:143;defaut;b@example.com;True\n"
                          "c@gmail.test;pw-three;;gmail;c@example.com;0\n";

static void box_with(struct secret_box *box, unsigned char fill)
{
    unsigned char key[SECRET_KEY_LEN];
    memset(key, fill, sizeof(key));
    secret_box_init_key(box, key);
}

static void test_import_port(void)
{
    T_BEGIN("job_import_port: the row's port, else its type's default, else 993");
    struct csvimp_result res;
    parse(CSV, &res);
    T_ASSERT_INT(res.n_rows, 3);
    T_ASSERT_INT(job_import_port(&res.rows[0]), 993);
    T_ASSERT_INT(job_import_port(&res.rows[1]), 143);
    T_ASSERT_INT(job_import_port(&res.rows[2]), 993);
    csvimp_result_fini(&res);
    T_END();
}

static void test_import_queue_and_run_creds(void)
{
    T_BEGIN("job_import_queue: a new batch, sealed passwords, options; job_run reads them back");
    struct db *db = open_fresh("import.db");
    struct secret_box box, other;
    box_with(&box, 0x11);
    box_with(&other, 0x22);
    struct csvimp_result res;
    parse(CSV, &res);
    struct mb_err err = {0};
    int64_t batch = 0;
    enum job_import_step step = 0;
    struct job_import ji = {.batch_name = "lot.csv", .options_json = "{\"max_message_size\":1000}"};
    T_ASSERT_INT(job_import_queue(db, &box, &res, &ji, &batch, &step, &err), 0);
    T_ASSERT(batch > 0);

    struct db_job_list list;
    memset(&list, 0, sizeof(list));
    struct db_job_filter flt = {.batch_id = batch, .limit = 10};
    T_ASSERT_INT(db_job_list(db, &flt, &list, &err), 0);
    T_ASSERT_INT(list.n, 3);
    for (size_t i = 0; i < list.n; i++) {
        const struct db_job *j = &list.jobs[i];
        T_ASSERT_STR(j->source_tls, "auto");
        T_ASSERT_INT(j->batch_id, batch);
        if (strcmp(j->source_login, "b@old.test") == 0)
            T_ASSERT_INT(j->source_port, 143);
        else
            T_ASSERT_INT(j->source_port, 993);

        /* job_run: the sealed password opens with the same key only */
        struct job_run_creds c;
        memset(&c, 0, sizeof(c));
        struct mb_err why = {0};
        T_ASSERT_INT(job_run_creds_load(db, &box, j->id, &c, &why), 0);
        T_ASSERT(why.msg[0] == '\0');
        T_ASSERT(c.profile_name == NULL);
        const char *want = strcmp(j->source_login, "a@old.test") == 0   ? "pw-one"
                           : strcmp(j->source_login, "b@old.test") == 0 ? "pw-two"
                                                                        : "pw-three";
        T_ASSERT(c.password.data && strcmp(c.password.data, want) == 0);
        job_run_creds_fini(&c);
        T_ASSERT(c.password.data == NULL);
        T_ASSERT(job_run_creds_load(db, &other, j->id, &c, &why) != 0);
        T_ASSERT_STR(why.msg,
                     "the stored source password cannot be decrypted (secret key changed?)");
        T_ASSERT_STR(mb_err_code(&why), "password_undecryptable");
        job_run_creds_fini(&c);

        /* the batch's options are every job's */
        struct mig_options mo;
        char *json = NULL;
        T_ASSERT_INT(job_run_options_load(db, j->id, &mo, &json, &err), 0);
        T_ASSERT(json && strstr(json, "1000"));
        T_ASSERT_INT(mo.max_message_size, 1000);
        free(json);
        mig_options_fini(&mo);
    }
    /* no password kept any more */
    int64_t first = list.jobs[0].id;
    db_job_list_fini(&list);
    T_ASSERT_INT(db_job_erase_credentials(db, first, 0, &err), 0);
    struct job_run_creds c;
    memset(&c, 0, sizeof(c));
    struct mb_err why = {0};
    T_ASSERT(job_run_creds_load(db, &box, first, &c, &why) != 0);
    T_ASSERT_STR(why.msg, "the source password is no longer stored: retry with the password");
    T_ASSERT_STR(mb_err_code(&why), "password_gone");
    char *fr = msg_render_err(MSG_LANG_FR, &why);
    T_ASSERT_STR(fr, "le mot de passe source n'est plus conservé : relancez la tâche en saisissant "
                     "le mot de passe");
    free(fr);
    job_run_creds_fini(&c);

    /* joining the batch: the rows are added to it (same rows, another pass of them) */
    struct csvimp_result more;
    parse("d@old.test;pw-four;imap.old.test;defaut;d@example.com;\n", &more);
    struct job_import into = {.into = batch};
    int64_t batch2 = 0;
    T_ASSERT_INT(job_import_queue(db, &box, &more, &into, &batch2, &step, &err), 0);
    T_ASSERT_INT(batch2, batch);
    struct job_import missing = {.into = batch + 100};
    T_ASSERT(job_import_queue(db, &box, &more, &missing, &batch2, &step, &err) != 0);
    T_ASSERT_INT(step, JOB_IMPORT_WRITE);
    memset(&list, 0, sizeof(list));
    T_ASSERT_INT(db_job_list(db, &flt, &list, &err), 0);
    T_ASSERT_INT(list.n, 4);
    db_job_list_fini(&list);

    csvimp_result_fini(&more);
    csvimp_result_fini(&res);
    secret_box_fini(&box);
    secret_box_fini(&other);
    db_close(&db);
    T_END();
}

static void test_options_none(void)
{
    T_BEGIN("job_run_options_load: no stored options = the defaults, no JSON");
    struct db *db = open_fresh("opts.db");
    struct db_job_new jn = {.source_host = "imap.old.test",
                            .source_port = 993,
                            .source_tls = "auto",
                            .source_login = "x@old.test",
                            .server_type = "defaut",
                            .dest_login = "x@example.com"};
    int64_t id = 0;
    struct mb_err err = {0};
    T_ASSERT_INT(db_job_insert(db, &jn, &id, &err), 0);
    struct mig_options mo;
    char *json = (char *)1;
    T_ASSERT_INT(job_run_options_load(db, id, &mo, &json, &err), 0);
    T_ASSERT(json == NULL);
    T_ASSERT_INT(mo.max_message_size, 0);
    mig_options_fini(&mo);
    db_close(&db);
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {
        test_import_port,
        test_import_queue_and_run_creds,
        test_options_none,
        NULL,
    };
    return t_run(fns);
}
