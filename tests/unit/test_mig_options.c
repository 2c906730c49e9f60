#define T_IMPLEMENTATION
#include "t.h"

#include <stdlib.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "db/db.h"
#include "db/db_job.h"
#include "db/db_jobopt.h"
#include "migrate/mig_options.h"
#include "migrate/mig_plan.h"
#include "migrate/mig_preset.h"

static void test_dates(void)
{
    T_BEGIN("options: dates YYYY-MM-DD are UTC midnights; impossible days refused");
    struct mb_err err;
    int64_t t = -1;
    T_ASSERT_INT(mig_options_parse_date("1970-01-01", &t, &err), 0);
    T_ASSERT_INT(t, 0);
    T_ASSERT_INT(mig_options_parse_date("2024-03-10", &t, &err), 0);
    T_ASSERT_INT(t, 1710028800);
    T_ASSERT_INT(mig_options_parse_date("2024-02-29", &t, &err), 0);
    T_ASSERT_INT(t, 1709164800);
    T_ASSERT_INT(mig_options_parse_date("2000-02-29", &t, &err), 0);
    T_ASSERT_INT(mig_options_parse_date("2023-02-29", &t, &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_parse_date("1900-02-29", &t, &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_parse_date("2024-04-31", &t, &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_parse_date("2024-13-01", &t, &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_parse_date("2024-00-10", &t, &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_parse_date("1969-12-31", &t, &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_parse_date("2024-3-10", &t, &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_parse_date("2024-03-10T00:00", &t, &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_parse_date("2024/03/10", &t, &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_parse_date("", &t, &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_parse_date(NULL, &t, &err), MB_ECONFIG);
    T_ASSERT(strstr(err.msg, "YYYY-MM-DD") != NULL);
    struct mig_options o;
    memset(&o, 0, sizeof(o));
    T_ASSERT_INT(mig_options_set_since(&o, "2024-03-20", &err), 0);
    T_ASSERT_INT(mig_options_set_before(&o, "2024-03-20", &err), 0);
    T_ASSERT_INT(mig_options_check(&o, &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_set_before(&o, "2024-03-21", &err), 0);
    T_ASSERT_INT(mig_options_check(&o, &err), 0);
    mig_options_fini(&o);
    T_END();
}

static void test_glob(void)
{
    T_BEGIN("options: '*' patterns match whole names, INBOX in any case");
    T_ASSERT(mig_options_glob("Archives/*", "Archives/2019"));
    T_ASSERT(mig_options_glob("Archives/*", "Archives/2019/Q1"));
    T_ASSERT(!mig_options_glob("Archives/*", "Archives"));
    T_ASSERT(mig_options_glob("Archives", "Archives"));
    T_ASSERT(!mig_options_glob("Archives", "Archives/2019"));
    T_ASSERT(!mig_options_glob("Archives", "archives"));
    T_ASSERT(mig_options_glob("*", "anything/at/all"));
    T_ASSERT(mig_options_glob("*old*", "Very old stuff"));
    T_ASSERT(mig_options_glob("a*b*c", "aXXbYYc"));
    T_ASSERT(!mig_options_glob("a*b*c", "aXXbYY"));
    T_ASSERT(mig_options_glob("inbox/Spam*", "INBOX/Spam 2"));
    T_ASSERT(!mig_options_glob("inboxes", "INBOXES"));
    T_ASSERT(mig_options_glob("Été *", "Été 2018"));
    T_END();
}

static void test_values(void)
{
    T_BEGIN("options: patterns, mappings and sizes are checked");
    struct mig_options o;
    memset(&o, 0, sizeof(o));
    struct mb_err err;
    T_ASSERT_INT(mig_options_add_exclude(&o, "\\Trash", &err), 0);
    T_ASSERT_INT(mig_options_add_exclude(&o, "\\junk", &err), 0);
    T_ASSERT_INT(mig_options_add_exclude(&o, "\\Spam", &err), MB_ECONFIG);
    T_ASSERT(strstr(err.msg, "unknown special folder") != NULL);
    T_ASSERT_INT(mig_options_add_exclude(&o, "", &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_add_exclude(&o, "/a", &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_add_exclude(&o, "a/", &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_add_exclude(&o, "a\tb", &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_add_exclude(&o, "Archives/*", &err), 0);
    T_ASSERT_INT(mig_options_add_exclude(&o, "Archives/*", &err), 0); /* kept once */
    T_ASSERT_INT(o.n_exclude, 3);
    T_ASSERT_INT(mig_options_add_map_arg(&o, "Old/Projets=Archive/2020/Projets", &err), 0);
    T_ASSERT_INT(mig_options_add_map_arg(&o, "A=B=C", &err), 0); /* first '=' splits */
    T_ASSERT_STR(o.map[1].dst, "B=C");
    T_ASSERT_INT(mig_options_add_map_arg(&o, "A=D", &err), MB_ECONFIG);
    T_ASSERT(strstr(err.msg, "mapped twice") != NULL);
    T_ASSERT_INT(mig_options_add_map_arg(&o, "NoEquals", &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_add_map_arg(&o, "=X", &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_add_map_arg(&o, "X=", &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_add_map_arg(&o, "X*=Y", &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_set_max_size(&o, "35000000", &err), 0);
    T_ASSERT_INT(o.max_message_size, 35000000);
    T_ASSERT_INT(mig_options_set_max_size(&o, "0", &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_set_max_size(&o, "-5", &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_set_max_size(&o, "10MB", &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_set_max_size(&o, "99999999999999999999999", &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_set_max_size(&o, "", &err), MB_ECONFIG);
    T_ASSERT_INT(o.max_message_size, 35000000);
    T_ASSERT_INT(mig_options_set_gmail_labels(&o, "first", &err), 0);
    T_ASSERT_INT(o.gmail_labels_first, 1);
    T_ASSERT_INT(mig_options_set_gmail_labels(&o, "First", &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_set_gmail_labels(&o, "", &err), MB_ECONFIG);
    T_ASSERT_INT(mig_options_set_gmail_labels(&o, "each", &err), 0);
    T_ASSERT_INT(o.gmail_labels_first, 0);

    /* Special uses exclude the folder and what is under it. */
    T_ASSERT(mig_options_excluded(&o, "Corbeille", MIG_ROLE_TRASH, 0) != NULL);
    T_ASSERT(mig_options_excluded(&o, "Corbeille/Vieux", MIG_ROLE_NONE, 1u << MIG_ROLE_TRASH));
    T_ASSERT(mig_options_excluded(&o, "Archives/2019", MIG_ROLE_NONE, 0) != NULL);
    T_ASSERT(mig_options_excluded(&o, "Archives", MIG_ROLE_NONE, 0) == NULL);
    T_ASSERT(mig_options_excluded(&o, "Sent", MIG_ROLE_SENT, 0) == NULL);

    struct buf b;
    buf_init(&b, 4096);
    T_ASSERT_INT(mig_options_map(&o, "Old/Projets", &b), 1);
    T_ASSERT_STR(buf_cstr(&b), "Archive/2020/Projets");
    T_ASSERT_INT(mig_options_map(&o, "Old/Projets/Été", &b), 1);
    T_ASSERT_STR(buf_cstr(&b), "Archive/2020/Projets/Été");
    T_ASSERT_INT(mig_options_map(&o, "Old/Projets2", &b), 0);
    T_ASSERT_INT(mig_options_map(&o, "Old", &b), 0);
    buf_fini(&b);
    mig_options_fini(&o);
    T_END();
}

static void test_json(void)
{
    T_BEGIN("options: JSON in, stored text, JSON out (same options)");
    const char *in = "{\"since\":\"2024-02-29\",\"before\":\"2025-01-01\","
                     "\"exclude_folders\":[\"\\\\Junk\",\"Archives/*\"],"
                     "\"folder_map\":{\"Old\":\"Archive/Old\"},\"max_message_size\":1048576,"
                     "\"gmail_labels\":\"first\",\"other\":true}";
    struct mig_options o;
    struct mb_err err;
    T_ASSERT_INT(mig_options_parse(in, &o, &err), 0);
    char *out = mig_options_to_json(&o);
    T_ASSERT_STR(out, "{\"since\":\"2024-02-29\",\"before\":\"2025-01-01\","
                      "\"exclude_folders\":[\"\\\\Junk\",\"Archives/*\"],"
                      "\"folder_map\":{\"Old\":\"Archive/Old\"},\"max_message_size\":1048576,"
                      "\"gmail_labels\":\"first\"}");
    struct mig_options o2;
    T_ASSERT_INT(mig_options_parse(out, &o2, &err), 0);
    char *out2 = mig_options_to_json(&o2);
    T_ASSERT_STR(out2, out);
    free(out);
    free(out2);
    mig_options_fini(&o);
    mig_options_fini(&o2);

    T_ASSERT_INT(mig_options_parse(NULL, &o, &err), 0);
    T_ASSERT(mig_options_empty(&o));
    T_ASSERT(mig_options_to_json(&o) == NULL);
    static const char *const bad[] = {
        "{\"since\":20240301}",
        "{\"since\":\"2024-02-30\"}",
        "{\"since\":\"2024-03-02\",\"before\":\"2024-03-01\"}",
        "{\"exclude_folders\":\"Trash\"}",
        "{\"exclude_folders\":[1]}",
        "{\"folder_map\":[\"a\"]}",
        "{\"folder_map\":{\"a\":1}}",
        "{\"max_message_size\":0}",
        "{\"max_message_size\":1.5}",
        "{\"max_message_size\":\"10\"}",
        "{\"gmail_labels\":\"all\"}",
        "[]",
        "not json",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        T_ASSERT_INT(mig_options_parse(bad[i], &o, &err), i == 12 ? MB_EPROTO : MB_ECONFIG);
        T_ASSERT(mig_options_empty(&o));
    }
    T_END();
}

static const struct mig_plan_entry *find(const struct mig_plan *p, const char *src)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->entries[i].src_name, src) == 0)
            return &p->entries[i];
    return NULL;
}

static void test_plan(void)
{
    T_BEGIN("options in the plan: '.'-delimited source, '/' patterns, map into a new parent");
    static const struct mig_folder_in src_f[] = {
        {"INBOX", MIG_F_SUBSCRIBED, MIG_ROLE_NONE},  {"INBOX.Corbeille", 0, MIG_ROLE_TRASH},
        {"INBOX.Corbeille.Vieux", 0, MIG_ROLE_NONE}, {"INBOX.Archives", 0, MIG_ROLE_NONE},
        {"INBOX.Archives.2019", 0, MIG_ROLE_NONE},   {"INBOX.Projets", 0, MIG_ROLE_NONE},
        {"INBOX.Projets.Été", 0, MIG_ROLE_NONE},     {"INBOX.Envoyés", 0, MIG_ROLE_SENT},
    };
    static const struct mig_folder_in dst_f[] = {
        {"INBOX", 0, MIG_ROLE_NONE},
        {"Sent", 0, MIG_ROLE_SENT},
    };
    struct mig_side src = {"INBOX.", '.', 1, src_f, sizeof(src_f) / sizeof(src_f[0])};
    struct mig_side dst = {"", '/', 1, dst_f, 2};
    struct mig_options o;
    memset(&o, 0, sizeof(o));
    struct mb_err err;
    T_ASSERT_INT(mig_options_add_exclude(&o, "\\Trash", &err), 0);
    T_ASSERT_INT(mig_options_add_exclude(&o, "Archives/*", &err), 0);
    T_ASSERT_INT(mig_options_add_map(&o, "Projets", "Clients/2024/Projets", &err), 0);
    T_ASSERT_INT(mig_options_add_map(&o, "Envoyés", "Anciens envoyés", &err), 0);
    struct mig_plan plan;
    T_ASSERT_INT(mig_plan_build_opts(&src, &dst, mig_preset_find("defaut"), 0, &o, &plan, &err), 0);
    T_ASSERT_STR(find(&plan, "INBOX.Corbeille")->skip_reason, MIG_PLAN_EXCLUDED);
    T_ASSERT_STR(find(&plan, "INBOX.Corbeille.Vieux")->skip_reason, MIG_PLAN_EXCLUDED);
    T_ASSERT_STR(find(&plan, "INBOX.Archives")->dest_name, "Archives");
    T_ASSERT_STR(find(&plan, "INBOX.Archives.2019")->skip_reason, MIG_PLAN_EXCLUDED);
    T_ASSERT_STR(find(&plan, "INBOX.Projets")->dest_name, "Clients/2024/Projets");
    T_ASSERT(find(&plan, "INBOX.Projets")->create);
    T_ASSERT_STR(find(&plan, "INBOX.Projets.Été")->dest_name, "Clients/2024/Projets/Été");
    /* A mapping wins over the special use. */
    T_ASSERT_STR(find(&plan, "INBOX.Envoyés")->dest_name, "Anciens envoyés");
    mig_plan_fini(&plan);

    /* Two folders mapped onto one name are never merged. */
    struct mig_options o2;
    memset(&o2, 0, sizeof(o2));
    T_ASSERT_INT(mig_options_add_map(&o2, "Projets", "Archives", &err), 0);
    T_ASSERT_INT(mig_plan_build_opts(&src, &dst, mig_preset_find("defaut"), 0, &o2, &plan, &err),
                 0);
    T_ASSERT(
        strcmp(find(&plan, "INBOX.Projets")->dest_name, find(&plan, "INBOX.Archives")->dest_name)
        != 0);
    mig_plan_fini(&plan);
    mig_options_fini(&o2);
    mig_options_fini(&o);
    T_END();
}

static void test_stored(void)
{
    T_BEGIN("options: schema step adds jobs.options; stored per job and per batch");
    char *path = xasprintf("%s/opt.db", t_tmpdir());
    struct db *db = NULL;
    struct mb_err err;
    T_ASSERT_INT(db_open(path, &db, &err), 0);
    struct db_job_new j = {.source_host = "imap.example",
                           .source_port = 993,
                           .source_tls = "auto",
                           .source_login = "a@old.example",
                           .server_type = "defaut",
                           .dest_login = "a@example.com"};
    int64_t id = 0, ids[2], batch = 0;
    T_ASSERT_INT(db_job_insert(db, &j, &id, &err), 0);
    char *got = (char *)"x";
    T_ASSERT_INT(db_jobopt_get(db, id, &got, &err), 0);
    T_ASSERT(got == NULL);
    T_ASSERT_INT(db_jobopt_set(db, id, "{\"max_message_size\":10}", &err), 0);
    T_ASSERT_INT(db_jobopt_get(db, id, &got, &err), 0);
    T_ASSERT_STR(got, "{\"max_message_size\":10}");
    free(got);
    T_ASSERT_INT(db_jobopt_set(db, id + 100, "{}", &err), MB_ENOTFOUND);
    T_ASSERT_INT(db_jobopt_get(db, id + 100, &got, &err), MB_ENOTFOUND);
    struct db_job_new two[2] = {j, j};
    two[1].dest_login = "b@example.com";
    T_ASSERT_INT(db_job_insert_many(db, 0, "x.csv", two, 2, &batch, ids, &err), 0);
    T_ASSERT_INT(db_jobopt_set_batch(db, batch, "{\"since\":\"2024-01-01\"}", &err), 0);
    for (int k = 0; k < 2; k++) {
        T_ASSERT_INT(db_jobopt_get(db, ids[k], &got, &err), 0);
        T_ASSERT_STR(got, "{\"since\":\"2024-01-01\"}");
        free(got);
    }
    T_ASSERT_INT(db_jobopt_get(db, id, &got, &err), 0); /* another batch's job: untouched */
    T_ASSERT_STR(got, "{\"max_message_size\":10}");
    free(got);
    db_close(&db);
    free(path);
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {test_dates, test_glob,   test_values, test_json,
                                        test_plan,  test_stored, NULL};
    return t_run(fns);
}
