#define T_IMPLEMENTATION
#include "t.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/mb_err.h"
#include "base/xalloc.h"
#include "db/db.h"
#include "db/db_internal.h"
#include "db/db_folder.h"
#include "db/db_job.h"
#include "db/db_jobopt.h"
#include "db/db_log.h"
#include "msg/msgcat.h"
#include "db/db_msgmap.h"
#include "db/db_node.h"
#include "db/db_batch.h"
#include "db/db_token.h"
#include "db/db_webhook.h"
#include "db/db_user.h"

/* ---- helpers ---- */

static char *db_path(const char *name)
{
    return xasprintf("%s/%s", t_tmpdir(), name);
}

static struct db *open_fresh(const char *name)
{
    char *path = db_path(name);
    struct db *db = NULL;
    struct mb_err err;
    if (db_open(path, &db, &err) != 0) {
        fprintf(stderr, "db_open %s: %s\n", path, err.msg);
        exit(2);
    }
    free(path);
    return db;
}

static const unsigned char secret_blob[] = {1, 0x42, 0, 0xff, 7, 7, 7, 7, 9};

/* A valid job description; i varies the strings. Strings live in a static slot per i % 8. */
static struct db_job_new job_desc(int i)
{
    static char host[8][64], login[8][64], dest[8][64];
    int k = i % 8;
    snprintf(host[k], sizeof(host[k]), "imap%d.Source.example", i % 3);
    snprintf(login[k], sizeof(login[k]), "User%d@old.example", i);
    snprintf(dest[k], sizeof(dest[k]), "user%d@%s", i, i % 2 ? "Example.COM" : "example.org");
    struct db_job_new j = {
        .source_host = host[k],
        .source_port = 993,
        .source_tls = "auto",
        .insecure = 0,
        .source_login = login[k],
        .secret = secret_blob,
        .secret_len = sizeof(secret_blob),
        .server_type = "defaut",
        .dest_login = dest[k],
        .subscribed_only = i % 2,
    };
    return j;
}

static int64_t insert_job(struct db *db, int i)
{
    struct db_job_new j = job_desc(i);
    int64_t id = 0;
    struct mb_err err;
    if (db_job_insert(db, &j, &id, &err) != 0) {
        fprintf(stderr, "insert: %s\n", err.msg);
        exit(2);
    }
    return id;
}

/* Run a scalar query on a side connection (white-box checks). */
static long long scalar(struct db *db, const char *sql)
{
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
        return -999;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- open and migrations ---- */

static void test_open_migrate(void)
{
    T_BEGIN("db_open creates 0600, WAL, migrates to the latest version, re-open idempotent");
    char *path = db_path("open.db");
    struct db *db = NULL;
    struct mb_err err;
    T_ASSERT_INT(db_open(path, &db, &err), 0);
    int v = -1;
    T_ASSERT_INT(db_schema_version(db, &v, &err), 0);
    T_ASSERT(db_schema_latest() >= 1);
    T_ASSERT_INT(v, db_schema_latest());
    T_ASSERT_INT(scalar(db, "PRAGMA foreign_keys"), 1);
    T_ASSERT_INT(scalar(db, "PRAGMA synchronous"), 1); /* NORMAL */
    T_ASSERT_INT(scalar(db, "PRAGMA busy_timeout"), DB_BUSY_TIMEOUT_MS);
    T_ASSERT_INT(scalar(db, "PRAGMA secure_delete"), 2); /* FAST */
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
                            "('accounts', 'account_domains', 'batches', 'jobs', 'job_log', "
                            "'msgmap', 'sessions')"),
                 7);
    struct stat sb;
    T_ASSERT_INT(stat(path, &sb), 0);
    T_ASSERT_INT(sb.st_mode & 0777, 0600);
    int64_t id = insert_job(db, 1);
    db_close(&db);
    T_ASSERT(db == NULL);
    db_close(&db);

    /* Journal mode is persistent: check it from a plain connection. */
    sqlite3 *h;
    T_ASSERT_INT(sqlite3_open(path, &h), SQLITE_OK);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL);
    T_ASSERT_INT(sqlite3_step(st), SQLITE_ROW);
    T_ASSERT_STR((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(h);

    /* Re-open: nothing re-applied, data kept. */
    T_ASSERT_INT(db_open(path, &db, &err), 0);
    T_ASSERT_INT(db_schema_version(db, &v, &err), 0);
    T_ASSERT_INT(v, db_schema_latest());
    struct db_job job;
    T_ASSERT_INT(db_job_get(db, id, &job, &err), 0);
    db_job_fini(&job);

    /* A database from a newer program is refused. */
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", db_schema_latest() + 1);
    T_ASSERT_INT(sqlite3_exec(db->h, sql, NULL, NULL, NULL), SQLITE_OK);
    db_close(&db);
    T_ASSERT_INT(db_open(path, &db, &err), MB_ECONFIG);
    T_ASSERT(db == NULL);
    T_ASSERT(strstr(err.msg, "is newer than this program") != NULL);
    free(path);

    /* Not a database; missing directory; empty path. */
    path = db_path("garbage.db");
    FILE *f = fopen(path, "w");
    fputs("this is not an SQLite database, really not. 0123456789abcdef0123456789\n", f);
    fclose(f);
    T_ASSERT_INT(db_open(path, &db, &err), MB_EIO);
    T_ASSERT(strstr(err.msg, "garbage.db") != NULL);
    free(path);
    path = db_path("no/such/dir.db");
    T_ASSERT_INT(db_open(path, &db, &err), MB_ENOTFOUND);
    free(path);
    T_ASSERT_INT(db_open("", &db, &err), MB_ECONFIG);

    /* A step that fails leaves nothing behind: the whole step is one transaction. */
    path = db_path("conflict.db");
    sqlite3 *h2;
    T_ASSERT_INT(sqlite3_open(path, &h2), SQLITE_OK);
    T_ASSERT_INT(sqlite3_exec(h2, "CREATE TABLE sessions (x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h2);
    T_ASSERT_INT(db_open(path, &db, &err), MB_EIO);
    T_ASSERT(strstr(err.msg, "migration 1 (initial schema): table sessions already exists"));
    T_ASSERT_INT(sqlite3_open(path, &h2), SQLITE_OK);
    sqlite3_prepare_v2(h2,
                       "SELECT (SELECT count(*) FROM sqlite_schema), "
                       "(SELECT user_version FROM pragma_user_version)",
                       -1, &st, NULL);
    T_ASSERT_INT(sqlite3_step(st), SQLITE_ROW);
    T_ASSERT_INT(sqlite3_column_int(st, 0), 1); /* only the pre-existing table */
    T_ASSERT_INT(sqlite3_column_int(st, 1), 0);
    sqlite3_finalize(st);
    T_ASSERT_INT(sqlite3_exec(h2, "DROP TABLE sessions", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h2);
    T_ASSERT_INT(db_open(path, &db, &err), 0);
    db_close(&db);
    free(path);
    T_END();
}

struct opener {
    const char *path;
    int rc;
};

static void *open_thread(void *arg)
{
    struct opener *o = arg;
    struct db *db = NULL;
    struct mb_err err;
    o->rc = db_open(o->path, &db, &err);
    if (o->rc)
        fprintf(stderr, "  open: %s\n", err.msg);
    db_close(&db);
    return NULL;
}

static void test_concurrent_open(void)
{
    T_BEGIN("6 threads opening a fresh database at once: one schema, applied once");
    char *path = db_path("race.db");
    pthread_t th[6];
    struct opener o[6];
    for (int i = 0; i < 6; i++) {
        o[i].path = path;
        o[i].rc = -100;
        pthread_create(&th[i], NULL, open_thread, &o[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        T_ASSERT_INT(o[i].rc, 0);
    }
    struct db *db = NULL;
    struct mb_err err;
    T_ASSERT_INT(db_open(path, &db, &err), 0);
    int v;
    T_ASSERT_INT(db_schema_version(db, &v, &err), 0);
    T_ASSERT_INT(v, db_schema_latest());
    db_close(&db);
    free(path);
    T_END();
}

static void test_transactions(void)
{
    T_BEGIN("explicit transactions: commit, rollback, nested API calls become savepoints");
    struct db *db = open_fresh("tx.db");
    struct mb_err err;
    T_ASSERT(!db_in_transaction(db));
    T_ASSERT_INT(db_begin_immediate(db, &err), 0);
    T_ASSERT(db_in_transaction(db));
    T_ASSERT_INT(db_begin_immediate(db, &err), MB_EIO);
    int64_t a = insert_job(db, 1);
    db_rollback(db);
    T_ASSERT(!db_in_transaction(db));
    struct db_job job;
    T_ASSERT_INT(db_job_get(db, a, &job, &err), MB_ENOTFOUND);

    /* A multi-row API call inside an explicit transaction: failure rolls back only itself. */
    T_ASSERT_INT(db_begin_immediate(db, &err), 0);
    int64_t b = insert_job(db, 2);
    struct db_job_new rows[2] = {job_desc(3), job_desc(4)};
    rows[1].source_port = 0;
    int64_t batch;
    T_ASSERT_INT(db_job_insert_many(db, 0, "x.csv", rows, 2, &batch, NULL, &err), MB_ECONFIG);
    T_ASSERT(db_in_transaction(db));
    T_ASSERT_INT(db_commit(db, &err), 0);
    T_ASSERT_INT(db_job_get(db, b, &job, &err), 0);
    db_job_fini(&job);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM jobs"), 1);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM batches"), 0);
    T_ASSERT_INT(db_commit(db, &err), MB_EIO);
    db_rollback(db); /* harmless without a transaction */
    T_ASSERT_INT(db_checkpoint(db, &err), 0);
    db_close(&db);
    T_END();
}

/* scalar() through db_prepare/db_finalize (the statement cache). */
static long long scalar_cached(struct db *db, const char *sql)
{
    db_stmt *st;
    struct mb_err err;
    long long v = -1;
    if (db_prepare(db, sql, &st, &err) != 0)
        return -999;
    if (db_step_first(db, st) == SQLITE_ROW)
        v = db_col_int64(st, 0);
    db_finalize(st);
    return v;
}

static void test_stmt_cache(void)
{
    T_BEGIN("prepared statements reused: same results, bindings cleared, two at once, LRU");
    struct db *db = open_fresh("stmt.db");
    struct mb_err err;
    T_ASSERT_INT(db_exec(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER)", &err), 0);
    const char *ins = "INSERT INTO t (k, v) VALUES (?1, ?2)";
    for (int k = 1; k <= 3; k++) {
        db_stmt *st;
        int before = db->n_cached;
        T_ASSERT_INT(db_prepare(db, ins, &st, &err), 0);
        /* the first time parsed; then taken out of the cache (and put back by finalize) */
        T_ASSERT_INT(db->n_cached, k == 1 ? before : before - 1);
        db_bind_int64(st, 1, k);
        db_bind_int64(st, 2, 10 * k);
        T_ASSERT_INT(db_step_first(db, st), SQLITE_DONE);
        db_finalize(st);
        T_ASSERT_INT(db->n_cached, k == 1 && before < DB_STMT_CACHE ? before + 1 : before);
    }
    /* Reused: the binding of the previous use is gone (NULL), not kept. */
    const char *get = "SELECT count(*) FROM t WHERE v = ?1 OR (?1 IS NULL AND v IS NULL)";
    db_stmt *st;
    T_ASSERT_INT(db_prepare(db, get, &st, &err), 0);
    db_bind_int64(st, 1, 20);
    T_ASSERT_INT(db_step_first(db, st), SQLITE_ROW);
    T_ASSERT_INT(db_col_int64(st, 0), 1);
    db_finalize(st);
    T_ASSERT_INT(db_prepare(db, get, &st, &err), 0);
    T_ASSERT_INT(db_step_first(db, st), SQLITE_ROW);
    T_ASSERT_INT(db_col_int64(st, 0), 0);
    db_finalize(st);
    /* The same SQL twice at once: two statements, each with its own rows. */
    const char *all = "SELECT k FROM t ORDER BY k";
    db_stmt *a, *b;
    T_ASSERT_INT(db_prepare(db, all, &a, &err), 0);
    T_ASSERT_INT(db_step_first(db, a), SQLITE_ROW);
    T_ASSERT_INT(db_prepare(db, all, &b, &err), 0);
    T_ASSERT(a != b);
    int64_t sum = 0;
    for (int s = db_step_first(db, b); s == SQLITE_ROW; s = db_step(b))
        sum += db_col_int64(b, 0);
    T_ASSERT_INT(sum, 6);
    T_ASSERT_INT(db_col_int64(a, 0), 1);
    T_ASSERT_INT(db_step(a), SQLITE_ROW);
    T_ASSERT_INT(db_col_int64(a, 0), 2);
    db_finalize(b);
    db_finalize(a); /* reset mid-way: its read ends, the next use starts over */
    T_ASSERT_INT(db_prepare(db, all, &a, &err), 0);
    T_ASSERT_INT(db_step_first(db, a), SQLITE_ROW);
    T_ASSERT_INT(db_col_int64(a, 0), 1);
    db_finalize(a);
    /* A write after those reads is not blocked by a statement kept in the cache. */
    T_ASSERT_INT(db_begin_immediate(db, &err), 0);
    T_ASSERT_INT(db_exec(db, "UPDATE t SET v = v + 1", &err), 0);
    T_ASSERT_INT(db_commit(db, &err), 0);
    T_ASSERT_INT(scalar(db, "SELECT sum(v) FROM t"), 63);
    /* More distinct statements than the cache holds: the oldest go, every one still runs. */
    for (int i = 0; i < 2 * DB_STMT_CACHE; i++) {
        char sql[64];
        snprintf(sql, sizeof(sql), "SELECT %d + count(*) FROM t", i);
        T_ASSERT_INT(scalar_cached(db, sql), i + 3);
        T_ASSERT(db->n_cached <= DB_STMT_CACHE);
    }
    T_ASSERT_INT(db->n_cached, DB_STMT_CACHE);
    /* A statement SQLite refuses is not cached. */
    T_ASSERT_INT(db_prepare(db, "SELECT FROM nowhere", &st, &err), MB_EIO);
    T_ASSERT_INT(db->n_cached, DB_STMT_CACHE);
    db_close(&db); /* finalizes the cached statements (ASan/valgrind: no leak) */
    T_END();
}

/* ---- jobs ---- */

static void test_job_insert_get(void)
{
    T_BEGIN("db_job_insert / db_job_get round trip and input checks");
    struct db *db = open_fresh("jobs.db");
    struct mb_err err;
    struct db_job_new j = job_desc(7);
    j.insecure = 1;
    j.source_port = 143;
    j.source_tls = "starttls";
    int64_t id = 0;
    T_ASSERT_INT(db_job_insert(db, &j, &id, &err), 0);
    T_ASSERT(id > 0);
    struct db_job job;
    T_ASSERT_INT(db_job_get(db, id, &job, &err), 0);
    T_ASSERT_INT(job.id, id);
    T_ASSERT_INT(job.state, DB_JOB_PENDING);
    T_ASSERT_STR(db_job_state_name(job.state), "pending");
    T_ASSERT(job.error == NULL && job.report == NULL && job.worker == NULL);
    T_ASSERT_STR(job.source_host, "imap1.Source.example");
    T_ASSERT_INT(job.source_port, 143);
    T_ASSERT_STR(job.source_tls, "starttls");
    T_ASSERT_INT(job.insecure, 1);
    T_ASSERT_STR(job.source_login, "User7@old.example");
    T_ASSERT_INT(job.has_secret, 1);
    T_ASSERT_STR(job.server_type, "defaut");
    T_ASSERT_STR(job.dest_login, "user7@Example.COM");
    T_ASSERT_STR(job.dest_domain, "example.com");
    T_ASSERT_INT(job.subscribed_only, 1);
    T_ASSERT_INT(job.batch_id, 0);
    T_ASSERT_INT(job.account_id, 0);
    T_ASSERT(job.created_at > 1600000000 && job.updated_at == job.created_at);
    T_ASSERT_INT(job.started_at, 0);
    T_ASSERT_INT(job.finished_at, 0);
    T_ASSERT_INT(job.attempts, 0);
    T_ASSERT_INT(job.progress.messages_copied, 0);
    db_job_fini(&job);
    db_job_fini(&job); /* idempotent */

    unsigned char *blob;
    size_t len;
    T_ASSERT_INT(db_job_get_secret(db, id, &blob, &len, &err), 0);
    T_ASSERT_INT(len, sizeof(secret_blob));
    T_ASSERT(blob && memcmp(blob, secret_blob, len) == 0);
    free(blob);

    T_ASSERT_INT(db_job_get(db, id + 100, &job, &err), MB_ENOTFOUND);
    T_ASSERT(strstr(err.msg, "does not exist") != NULL);

    struct db_job_new bad = job_desc(1);
    bad.source_host = NULL;
    T_ASSERT_INT(db_job_insert(db, &bad, &id, &err), MB_ECONFIG);
    T_ASSERT_STR(err.msg, "source_host is missing");
    bad = job_desc(1);
    bad.source_port = 70000;
    T_ASSERT_INT(db_job_insert(db, &bad, &id, &err), MB_ECONFIG);
    bad = job_desc(1);
    bad.dest_login = "nodomain";
    T_ASSERT_INT(db_job_insert(db, &bad, &id, &err), MB_ECONFIG);
    T_ASSERT_STR(err.msg, "dest_login is not a full address (user@domain)");
    bad = job_desc(1);
    char *longs = xmalloc(5000);
    memset(longs, 'a', 4999);
    longs[4999] = '\0';
    bad.source_login = longs;
    T_ASSERT_INT(db_job_insert(db, &bad, &id, &err), MB_ETOOBIG);
    free(longs);
    bad = job_desc(1);
    bad.secret_len = DB_JOB_SECRET_MAX + 1;
    T_ASSERT_INT(db_job_insert(db, &bad, &id, &err), MB_ETOOBIG);
    bad = job_desc(1);
    bad.account_id = 999;
    T_ASSERT_INT(db_job_insert(db, &bad, &id, &err), MB_ENOTFOUND);
    T_ASSERT_STR(err.msg, "account 999 does not exist");
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM jobs"), 1);

    T_ASSERT_INT(db_job_state_parse("done"), DB_JOB_DONE);
    T_ASSERT_INT(db_job_state_parse("DONE"), DB_JOB_ANY);
    T_ASSERT(db_job_state_name(DB_JOB_ANY) == NULL);
    db_close(&db);
    T_END();
}

static void test_job_insert_many(void)
{
    T_BEGIN("db_job_insert_many: a batch row, all or nothing, error names the row");
    struct db *db = open_fresh("batch.db");
    struct mb_err err;
    int64_t acct;
    T_ASSERT_INT(db_user_add(db, "alice", "h", 0, NULL, 0, &acct, &err), 0);
    struct db_job_new rows[5];
    for (int i = 0; i < 5; i++)
        rows[i] = job_desc(i);
    rows[2].dest_login = "broken";
    int64_t batch = 0, ids[5];
    T_ASSERT_INT(db_job_insert_many(db, acct, "users.csv", rows, 5, &batch, ids, &err), MB_ECONFIG);
    T_ASSERT_STR(err.msg, "row 3: dest_login is not a full address (user@domain)");
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM jobs"), 0);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM batches"), 0);
    rows[2] = job_desc(2);
    T_ASSERT_INT(db_job_insert_many(db, acct, "users.csv", rows, 5, &batch, ids, &err), 0);
    T_ASSERT(batch > 0);
    T_ASSERT_INT(scalar(db, "SELECT rows FROM batches"), 5);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM jobs WHERE account_id IS NOT NULL"), 5);
    for (int i = 0; i < 5; i++) {
        struct db_job job;
        T_ASSERT_INT(db_job_get(db, ids[i], &job, &err), 0);
        T_ASSERT_INT(job.batch_id, batch);
        T_ASSERT_INT(job.account_id, acct);
        T_ASSERT_STR(job.source_login, rows[i].source_login);
        db_job_fini(&job);
    }
    T_ASSERT(ids[0] < ids[4]);
    T_ASSERT_INT(db_job_insert_many(db, 4242, NULL, rows, 1, &batch, NULL, &err), MB_ENOTFOUND);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM jobs"), 5);
    db_close(&db);
    T_END();
}

static void test_job_list(void)
{
    T_BEGIN("db_job_list: filters, text search, domain restriction, paging, totals");
    struct db *db = open_fresh("list.db");
    struct mb_err err;
    int64_t ids[20];
    for (int i = 0; i < 20; i++)
        ids[i] = insert_job(db, i);
    /* Jobs 0..9 in a batch. */
    struct db_job_new rows[3] = {job_desc(100), job_desc(101), job_desc(102)};
    rows[0].source_login = "odd%_\\name@old.example";
    int64_t batch, bids[3];
    T_ASSERT_INT(db_job_insert_many(db, 0, "b.csv", rows, 3, &batch, bids, &err), 0);

    struct db_job_list list;
    struct db_job_filter f = {0};
    T_ASSERT_INT(db_job_list(db, &f, &list, &err), 0);
    T_ASSERT_INT(list.total, 23);
    T_ASSERT_INT(list.n, 23);
    T_ASSERT_INT(list.jobs[0].id, bids[2]); /* newest first */
    T_ASSERT(list.jobs[0].report == NULL);
    db_job_list_fini(&list);
    db_job_list_fini(&list);
    T_ASSERT_INT(db_job_list(db, NULL, &list, &err), 0);
    T_ASSERT_INT(list.total, 23);
    db_job_list_fini(&list);

    f.limit = 5;
    f.offset = 20;
    T_ASSERT_INT(db_job_list(db, &f, &list, &err), 0);
    T_ASSERT_INT(list.total, 23);
    T_ASSERT_INT(list.n, 3);
    T_ASSERT_INT(list.jobs[2].id, ids[0]);
    db_job_list_fini(&list);

    memset(&f, 0, sizeof(f));
    f.batch_id = batch;
    T_ASSERT_INT(db_job_list(db, &f, &list, &err), 0);
    T_ASSERT_INT(list.total, 3);
    db_job_list_fini(&list);

    /* Text search: case-insensitive, over logins and host; LIKE wildcards are literal. */
    memset(&f, 0, sizeof(f));
    f.query = "USER1";
    T_ASSERT_INT(db_job_list(db, &f, &list, &err), 0);
    T_ASSERT_INT(list.total, 1 + 10 + 3); /* user1, user10-19, user100-102 (dest logins) */
    db_job_list_fini(&list);
    f.query = "%_\\";
    T_ASSERT_INT(db_job_list(db, &f, &list, &err), 0);
    T_ASSERT_INT(list.total, 1);
    T_ASSERT(list.n == 1 && strcmp(list.jobs[0].source_login, "odd%_\\name@old.example") == 0);
    db_job_list_fini(&list);
    f.query = "imap2.source";
    T_ASSERT_INT(db_job_list(db, &f, &list, &err), 0);
    T_ASSERT_INT(list.total, 6 + 1); /* i % 3 == 2 among 0..19, and 101 */
    db_job_list_fini(&list);

    /* Domain restriction: odd i -> example.com, even -> example.org. */
    memset(&f, 0, sizeof(f));
    const char *doms[] = {"EXAMPLE.com"};
    f.restrict_domains = 1;
    f.domains = doms;
    f.n_domains = 1;
    T_ASSERT_INT(db_job_list(db, &f, &list, &err), 0);
    T_ASSERT_INT(list.total, 10 + 1);
    for (size_t i = 0; i < list.n; i++)
        T_ASSERT_STR(list.jobs[i].dest_domain, "example.com");
    db_job_list_fini(&list);
    f.n_domains = 0;
    T_ASSERT_INT(db_job_list(db, &f, &list, &err), 0);
    T_ASSERT_INT(list.total, 0);
    T_ASSERT_INT(list.n, 0);
    db_job_list_fini(&list);

    /* State filter + combination. */
    struct db_job claimed;
    T_ASSERT_INT(db_job_claim(db, "w", 0, &claimed, &err), 1);
    T_ASSERT_INT(claimed.id, ids[0]);
    db_job_fini(&claimed);
    memset(&f, 0, sizeof(f));
    f.state = DB_JOB_RUNNING;
    T_ASSERT_INT(db_job_list(db, &f, &list, &err), 0);
    T_ASSERT(list.total == 1 && list.n == 1 && list.jobs[0].id == ids[0]);
    T_ASSERT_STR(list.jobs[0].worker, "w");
    db_job_list_fini(&list);
    f.state = DB_JOB_PENDING;
    f.query = "user1";
    f.restrict_domains = 1;
    f.domains = doms;
    f.n_domains = 1;
    T_ASSERT_INT(db_job_list(db, &f, &list, &err), 0);
    T_ASSERT_INT(list.total, 1 + 5 + 1); /* user1, user11..19 odd, user101 */
    db_job_list_fini(&list);
    f.state = (enum db_job_state)9;
    T_ASSERT_INT(db_job_list(db, &f, &list, &err), MB_ECONFIG);

    int64_t counts[5];
    T_ASSERT_INT(db_job_count_by_state(db, counts, &err), 0);
    T_ASSERT_INT(counts[DB_JOB_ANY], 23);
    T_ASSERT_INT(counts[DB_JOB_PENDING], 22);
    T_ASSERT_INT(counts[DB_JOB_RUNNING], 1);
    T_ASSERT_INT(counts[DB_JOB_DONE], 0);
    db_close(&db);
    T_END();
}

static void test_job_lifecycle(void)
{
    T_BEGIN("claim, progress, cancel flag, finish keeps the secret, finalize, defer, retry, "
            "delete");
    struct db *db = open_fresh("life.db");
    struct mb_err err;
    int64_t a = insert_job(db, 1), b = insert_job(db, 2), c = insert_job(db, 3);
    struct db_job job;

    T_ASSERT_INT(db_job_claim(db, "worker-1", 0, &job, &err), 1);
    T_ASSERT_INT(job.id, a);
    T_ASSERT_INT(job.state, DB_JOB_RUNNING);
    T_ASSERT_STR(job.worker, "worker-1");
    T_ASSERT_INT(job.attempts, 0); /* claiming is not an attempt that failed */
    T_ASSERT(job.started_at > 0 && job.heartbeat_at == job.started_at);
    T_ASSERT_INT(job.has_secret, 1);
    db_job_fini(&job);

    struct db_job_counters cnt = {3, 1, 100, 40, 5, 2, 1000000, 400000};
    int cancel = -1;
    T_ASSERT_INT(db_job_progress_update(db, a, &cnt, "INBOX/Sent", &cancel, &err), 0);
    T_ASSERT_INT(cancel, 0);
    T_ASSERT_INT(db_job_get(db, a, &job, &err), 0);
    T_ASSERT_INT(job.progress.folders_total, 3);
    T_ASSERT_INT(job.progress.messages_copied, 40);
    T_ASSERT_INT(job.progress.messages_skipped, 5);
    T_ASSERT_INT(job.progress.bytes_copied, 400000);
    T_ASSERT_STR(job.current_folder, "INBOX/Sent");
    db_job_fini(&job);
    T_ASSERT_INT(db_job_progress_update(db, b, &cnt, NULL, NULL, &err), MB_ENOTFOUND);
    T_ASSERT_STR(err.msg, "job 2 is not running (pending)");

    /* Cancel a running job: flag only, seen at the next progress update. */
    enum db_job_state st;
    T_ASSERT_INT(db_job_request_cancel(db, a, &st, &err), 0);
    T_ASSERT_INT(st, DB_JOB_RUNNING);
    int flag = 0;
    T_ASSERT_INT(db_job_cancel_requested(db, a, &flag, &err), 0);
    T_ASSERT_INT(flag, 1);
    T_ASSERT_INT(db_job_progress_update(db, a, &cnt, NULL, &cancel, &err), 0);
    T_ASSERT_INT(cancel, 1);

    /* Finish: failed with the reason; the secret is kept (delta passes), until finalized. */
    T_ASSERT_INT(db_job_finish(db, a, DB_JOB_PENDING, NULL, NULL, &err), MB_ECONFIG);
    T_ASSERT_INT(
        db_job_finish(db, a, DB_JOB_FAILED, DB_JOB_ERROR_CANCELLED, "{\"folders\":[]}", &err), 0);
    T_ASSERT_INT(db_job_get(db, a, &job, &err), 0);
    T_ASSERT_INT(job.state, DB_JOB_FAILED);
    T_ASSERT_STR(job.error, "cancelled");
    T_ASSERT_STR(job.report, "{\"folders\":[]}");
    T_ASSERT_INT(job.has_secret, 1);
    T_ASSERT_INT(job.has_credentials, 1);
    T_ASSERT_INT(job.finalized_at, 0);
    T_ASSERT_INT(job.cancel_requested, 0);
    T_ASSERT(job.finished_at >= job.started_at && job.finished_at > 0);
    T_ASSERT(job.current_folder == NULL);
    db_job_fini(&job);
    unsigned char *blob = (unsigned char *)"x";
    size_t len = 9;
    T_ASSERT_INT(db_job_get_secret(db, a, &blob, &len, &err), 0);
    T_ASSERT(blob && len == sizeof(secret_blob));
    free(blob);
    /* Retention: a sweep erases only the jobs that ended before its limit. */
    int64_t swept = -1;
    T_ASSERT_INT(db_job_sweep_credentials(db, db_now() - 3600, &swept, &err), 0);
    T_ASSERT_INT(swept, 0);
    T_ASSERT_INT(db_job_finalize(db, b, &err), MB_ECONFIG); /* pending */
    T_ASSERT(strstr(err.msg, "is pending") != NULL);
    T_ASSERT_INT(db_job_finalize(db, a, &err), 0);
    T_ASSERT_INT(db_job_get(db, a, &job, &err), 0);
    T_ASSERT(job.has_secret == 0 && job.has_credentials == 0 && job.finalized_at > 0);
    db_job_fini(&job);
    T_ASSERT_INT(db_job_retry(db, a, NULL, 0, &err), MB_ECONFIG);
    T_ASSERT(strstr(err.msg, "is finalized") != NULL);
    T_ASSERT_INT(db_job_get_secret(db, a, &blob, &len, &err), 0);
    T_ASSERT(blob == NULL && len == 0);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM jobs WHERE id = 1 AND source_secret IS NULL"), 1);
    T_ASSERT_INT(db_job_finish(db, a, DB_JOB_DONE, NULL, NULL, &err), MB_ENOTFOUND);
    T_ASSERT_INT(db_job_request_cancel(db, a, &st, &err), 0); /* final: unchanged */
    T_ASSERT_INT(st, DB_JOB_FAILED);

    /* Cancel a pending job: failed at once, secret kept until the retention sweep. */
    T_ASSERT_INT(db_job_request_cancel(db, c, &st, &err), 0);
    T_ASSERT_INT(st, DB_JOB_FAILED);
    T_ASSERT_INT(db_job_get(db, c, &job, &err), 0);
    T_ASSERT(job.state == DB_JOB_FAILED && job.has_secret == 1 && job.finished_at > 0);
    db_job_fini(&job);
    T_ASSERT_INT(db_job_sweep_credentials(db, db_now() + 1, &swept, &err), 0);
    T_ASSERT_INT(swept, 1);
    T_ASSERT_INT(db_job_get(db, c, &job, &err), 0);
    T_ASSERT(job.has_secret == 0 && job.finalized_at == 0);
    T_ASSERT_STR(job.error, DB_JOB_ERROR_CANCELLED);
    db_job_fini(&job);
    T_ASSERT_INT(db_job_request_cancel(db, 999, &st, &err), MB_ENOTFOUND);
    T_ASSERT_INT(db_job_cancel_requested(db, 999, &flag, &err), MB_ENOTFOUND);

    /* Defer: b goes back to pending but is not claimable before not_before. */
    T_ASSERT_INT(db_job_claim(db, "worker-2", 0, &job, &err), 1);
    T_ASSERT_INT(job.id, b);
    db_job_fini(&job);
    T_ASSERT_INT(db_job_defer(db, b, db_now() + 3600, "connection lost", &err), 0);
    T_ASSERT_INT(db_job_get(db, b, &job, &err), 0);
    T_ASSERT(job.state == DB_JOB_PENDING && job.has_secret == 1 && job.worker == NULL);
    T_ASSERT_STR(job.error, "connection lost");
    T_ASSERT_INT(job.attempts, 0); /* deferred (host cap, shutdown): no attempt spent */
    db_job_fini(&job);
    T_ASSERT_INT(db_job_claim(db, "worker-2", 0, &job, &err), 0);
    T_ASSERT_INT(db_job_defer(db, b, 0, NULL, &err), MB_ENOTFOUND);
    T_ASSERT_INT(
        sqlite3_exec(db->h, "UPDATE jobs SET not_before = 1 WHERE id = 2", NULL, NULL, NULL),
        SQLITE_OK);
    T_ASSERT_INT(db_job_claim(db, "worker-2", 0, &job, &err), 1);
    T_ASSERT_INT(job.attempts, 0);
    T_ASSERT(job.error == NULL);
    db_job_fini(&job);
    /* A failed run retried later is an attempt. */
    T_ASSERT_INT(db_job_retry_later(db, b, 0, "gave up", &err), 0);
    T_ASSERT_INT(db_job_claim(db, "worker-2", 0, &job, &err), 1);
    T_ASSERT_INT(job.attempts, 1);
    db_job_fini(&job);
    T_ASSERT_INT(db_job_finish(db, b, DB_JOB_DONE, NULL, "{}", &err), 0);
    T_ASSERT_INT(db_job_erase_credentials(db, b, 0, &err), 0); /* credential_retention = 0 */

    /* Retry: needs a password again; resets the run, keeps the message map. */
    struct db_msg m = {7, 100, 0, NULL, NULL};
    struct db_msgmap_window w = {"INBOX", 1, 10, 0};
    T_ASSERT_INT(db_msgmap_mark_inflight(db, b, "INBOX", 5, &m, 1, &w, &err), 0);
    T_ASSERT_INT(db_msgmap_mark_copied(db, b, "INBOX", 5, 7, 10, NULL, &err), 0);
    T_ASSERT_INT(db_job_retry(db, b, NULL, 0, &err), MB_ECONFIG);
    T_ASSERT(strstr(err.msg, "password is needed to retry") != NULL);
    T_ASSERT_INT(db_job_retry(db, b, secret_blob, sizeof(secret_blob), &err), 0);
    T_ASSERT_INT(db_job_get(db, b, &job, &err), 0);
    T_ASSERT(job.state == DB_JOB_PENDING && job.has_secret == 1 && job.attempts == 0);
    T_ASSERT(job.report == NULL && job.error == NULL && job.finished_at == 0);
    T_ASSERT(job.progress.messages_copied == 0 && job.worker == NULL);
    db_job_fini(&job);
    int64_t n;
    T_ASSERT_INT(db_msgmap_count(db, b, NULL, DB_MSG_COPIED, &n, NULL, &err), 0);
    T_ASSERT_INT(n, 1);
    T_ASSERT_INT(db_job_retry(db, b, secret_blob, sizeof(secret_blob), &err), MB_ECONFIG);
    T_ASSERT(strstr(err.msg, "is pending") != NULL);
    T_ASSERT_INT(db_job_retry(db, 999, secret_blob, 1, &err), MB_ENOTFOUND);

    /* Delete: refused while running; otherwise gone with map and log. */
    T_ASSERT_INT(db_job_claim(db, "w", 0, &job, &err), 1);
    T_ASSERT_INT(job.id, b);
    db_job_fini(&job);
    T_ASSERT_INT(db_job_delete(db, b, &err), MB_ECONFIG);
    T_ASSERT_STR(err.msg, "job 2 is running: cancel it first");
    T_ASSERT_INT(db_job_finish(db, b, DB_JOB_DONE, NULL, NULL, &err), 0);
    T_ASSERT_INT(db_log_add(db, b, DB_LOG_INFO, "bye"), 0);
    T_ASSERT_INT(db_job_delete(db, b, &err), 0);
    T_ASSERT_INT(db_job_get(db, b, &job, &err), MB_ENOTFOUND);
    T_ASSERT_INT(db_job_delete(db, b, &err), MB_ENOTFOUND);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM msgmap WHERE job_id = 2"), 0);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM job_log WHERE job_id = 2"), 0);

    /* Secrets: set, replace, erase. */
    T_ASSERT_INT(db_job_set_secret(db, a, (const unsigned char *)"abc", 3, &err), 0);
    T_ASSERT_INT(db_job_get_secret(db, a, &blob, &len, &err), 0);
    T_ASSERT(len == 3 && memcmp(blob, "abc", 3) == 0);
    free(blob);
    T_ASSERT_INT(db_job_set_secret(db, a, NULL, 0, &err), 0);
    T_ASSERT_INT(db_job_get_secret(db, a, &blob, &len, &err), 0);
    T_ASSERT(blob == NULL);
    T_ASSERT_INT(db_job_set_secret(db, 999, NULL, 0, &err), MB_ENOTFOUND);
    T_ASSERT_INT(db_job_get_secret(db, 999, &blob, &len, &err), MB_ENOTFOUND);
    db_close(&db);
    T_END();
}

static void test_batches(void)
{
    T_BEGIN("batches: counts, passes without password, cancel, finalize, sync, pair key map");
    struct db *db = open_fresh("batches.db");
    struct mb_err err;
    struct db_job_new jn[3] = {job_desc(0), job_desc(1), job_desc(2)};
    int64_t batch = 0, ids[4];
    T_ASSERT_INT(db_job_insert_many(db, 0, "b.csv", jn, 3, &batch, ids, &err), 0);
    struct db_job job;
    for (int i = 0; i < 3; i++) {
        T_ASSERT_INT(db_job_claim(db, "w", 0, &job, &err), 1);
        db_job_fini(&job);
    }
    struct db_job_counters cnt = {1, 1, 10, 10, 0, 0, 1000, 1000};
    T_ASSERT_INT(db_job_progress_update(db, ids[0], &cnt, NULL, NULL, &err), 0);
    T_ASSERT_INT(db_job_finish(db, ids[0], DB_JOB_DONE, NULL, NULL, &err), 0);
    T_ASSERT_INT(db_job_finish(db, ids[1], DB_JOB_FAILED, "boom", NULL, &err), 0);
    struct db_batch b;
    T_ASSERT_INT(db_batch_get(db, batch, db_now(), &b, &err), 0);
    T_ASSERT(b.counts[DB_JOB_ANY] == 3 && b.counts[DB_JOB_DONE] == 1 && b.counts[DB_JOB_FAILED] == 1
             && b.counts[DB_JOB_RUNNING] == 1);
    T_ASSERT(b.progress.messages_copied == 10 && b.progress.bytes_total == 1000);
    T_ASSERT(b.n_credentials == 3 && b.credentials_since >= db_now() - 1);
    T_ASSERT(b.n_domains == 2 && b.finalized_at == 0);
    T_ASSERT_STR(b.filename, "b.csv");
    db_batch_fini(&b);
    T_ASSERT_INT(db_batch_get(db, 999, 0, &b, &err), MB_ENOTFOUND);

    /* More rows into the batch. */
    struct db_job_new more = job_desc(0); /* the same mailbox pair as ids[0] */
    T_ASSERT_INT(db_job_insert_into(db, batch, 0, &more, 1, &ids[3], &err), 0);
    T_ASSERT_INT(scalar(db, "SELECT rows FROM batches WHERE id = 1"), 4);
    T_ASSERT_INT(db_job_insert_into(db, 999, 0, &more, 1, NULL, &err), MB_ENOTFOUND);

    /* Pair key: the new job inherits what the first one copied; it is not claimed while a
     * job of its pair runs. */
    struct db_msg m = {7, 100, 0, NULL, NULL};
    struct db_msgmap_window w = {"INBOX", 1, 10, 0};
    T_ASSERT_INT(db_msgmap_mark_inflight(db, ids[0], "INBOX", 5, &m, 1, &w, &err), 0);
    T_ASSERT_INT(db_msgmap_mark_copied(db, ids[0], "INBOX", 5, 7, 10, NULL, &err), 0);
    struct db_msg m2 = {8, 100, 0, NULL, NULL};
    T_ASSERT_INT(db_msgmap_mark_inflight(db, ids[0], "INBOX", 5, &m2, 1, &w, &err), 0);
    struct db_msg m3 = {9, 100, 0, NULL, "$Label1 \\Seen"};
    T_ASSERT_INT(db_msgmap_mark_inflight(db, ids[0], "INBOX", 5, &m3, 1, &w, &err), 0);
    T_ASSERT_INT(db_msgmap_mark_copied(db, ids[0], "INBOX", 5, 9, 11, NULL, &err), 0);
    /* Flag rows: copied rows with a known destination UID in that folder instance. */
    struct db_flag_row *fr = NULL;
    size_t n_fr = 0;
    T_ASSERT_INT(db_msgmap_flag_rows(db, ids[0], "INBOX", 5, "INBOX", 1, &fr, &n_fr, &err), 0);
    T_ASSERT(n_fr == 2 && fr[0].uid == 7 && fr[0].dest_uid == 10 && fr[0].flags == NULL);
    T_ASSERT(fr[1].uid == 9 && fr[1].dest_uid == 11 && strcmp(fr[1].flags, "$Label1 \\Seen") == 0);
    db_msgmap_flag_rows_free(fr, n_fr);
    T_ASSERT_INT(db_msgmap_flag_rows(db, ids[0], "INBOX", 5, "INBOX", 2, &fr, &n_fr, &err), 0);
    T_ASSERT_INT(n_fr, 0); /* another destination folder instance */
    db_msgmap_flag_rows_free(fr, n_fr);
    T_ASSERT_INT(db_msgmap_set_flags(db, ids[0], "INBOX", 5, 7, "\\Flagged", &err), 0);
    int64_t n = -1;
    T_ASSERT_INT(db_msgmap_inherit(db, ids[3], &n, &err), 0);
    T_ASSERT_INT(n, 2); /* the copied rows only, not the one in flight */
    T_ASSERT_INT(db_msgmap_flag_rows(db, ids[3], "INBOX", 5, "INBOX", 1, &fr, &n_fr, &err), 0);
    T_ASSERT(n_fr == 2 && strcmp(fr[0].flags, "\\Flagged") == 0); /* flags inherited too */
    db_msgmap_flag_rows_free(fr, n_fr);
    T_ASSERT_INT(db_msgmap_inherit(db, ids[3], &n, &err), 0);
    T_ASSERT_INT(n, 0);
    T_ASSERT_INT(db_msgmap_inherit(db, ids[1], &n, &err), 0);
    T_ASSERT_INT(n, 0); /* another pair */
    T_ASSERT_INT(db_job_retry(db, ids[0], NULL, 0, &err), 0);
    T_ASSERT_INT(db_job_claim(db, "w", 0, &job, &err), 1);
    T_ASSERT_INT(job.id, ids[0]);
    db_job_fini(&job);
    T_ASSERT_INT(db_job_claim(db, "w", 0, &job, &err), 0); /* ids[3]: its pair is running */
    T_ASSERT_INT(db_job_finish(db, ids[0], DB_JOB_DONE, NULL, NULL, &err), 0);
    T_ASSERT_INT(db_job_claim(db, "w", 0, &job, &err), 1);
    T_ASSERT_INT(job.id, ids[3]);
    db_job_fini(&job);
    T_ASSERT_INT(db_job_finish(db, ids[3], DB_JOB_DONE, NULL, NULL, &err), 0);

    /* A pass: ended jobs back to pending without a password; the running one is left. */
    int64_t queued = -1, bare = -1;
    T_ASSERT_INT(db_batch_pass(db, batch, 1, &queued, &bare, &err), 0);
    T_ASSERT(queued == 1 && bare == 0); /* the failed one */
    T_ASSERT_INT(db_batch_pass(db, batch, 0, &queued, &bare, &err), 0);
    T_ASSERT(queued == 2 && bare == 0); /* ids[0], ids[3] */
    T_ASSERT_INT(db_job_get(db, ids[2], &job, &err), 0);
    T_ASSERT_INT(job.state, DB_JOB_RUNNING);
    db_job_fini(&job);

    /* Finalize: refused while jobs are pending or running; cancel first. */
    T_ASSERT_INT(db_batch_finalize(db, batch, &err), MB_ECONFIG);
    T_ASSERT(strstr(err.msg, "pending or running") != NULL);
    T_ASSERT_INT(db_batch_cancel(db, batch, &n, &err), 0);
    T_ASSERT_INT(n, 4);
    T_ASSERT_INT(db_job_finish(db, ids[2], DB_JOB_FAILED, DB_JOB_ERROR_CANCELLED, NULL, &err), 0);
    T_ASSERT_INT(db_batch_set_sync(db, batch, 60, db_now() - 1, &err), 0);
    int64_t *due = NULL;
    size_t n_due = 0;
    T_ASSERT_INT(db_batch_due(db, db_now(), &due, &n_due, &err), 0);
    T_ASSERT(n_due == 1 && due[0] == batch);
    free(due);
    T_ASSERT_INT(db_batch_finalize(db, batch, &err), 0);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM jobs WHERE source_secret IS NOT NULL "
                            "OR auth_profile IS NOT NULL OR finalized_at IS NULL"),
                 0);
    T_ASSERT_INT(db_batch_due(db, db_now(), &due, &n_due, &err), 0);
    T_ASSERT_INT(n_due, 0);
    free(due);
    T_ASSERT_INT(db_batch_get(db, batch, db_now(), &b, &err), 0);
    T_ASSERT(b.finalized_at > 0 && b.sync_every == 0 && b.n_credentials == 0);
    db_batch_fini(&b);
    T_ASSERT_INT(db_batch_pass(db, batch, 0, &queued, NULL, &err), MB_ECONFIG);
    T_ASSERT(strstr(err.msg, "finalized") != NULL);
    T_ASSERT_INT(db_batch_set_sync(db, batch, 60, 0, &err), MB_ECONFIG);
    T_ASSERT_INT(db_job_insert_into(db, batch, 0, &more, 1, NULL, &err), MB_ENOTFOUND);
    T_ASSERT_INT(db_batch_finalize(db, batch, &err), 0);
    db_close(&db);
    T_END();
}

static void test_tokens_webhooks(void)
{
    T_BEGIN("api_tokens: add, lookup by hash, list, revoke; webhook_outbox: due, retry, done");
    struct db *db = open_fresh("tokens.db");
    struct mb_err err;
    int64_t acct = 0, id = 0, who = 0;
    T_ASSERT_INT(db_user_add(db, "panel", "x", 0, NULL, 0, &acct, &err), 0);
    unsigned char h1[32], h2[32];
    memset(h1, 1, 32);
    memset(h2, 2, 32);
    T_ASSERT_INT(db_token_add(db, acct, "panneau", h1, &id, &err), 0);
    T_ASSERT_INT(db_token_add(db, acct, "", h2, &id, &err), MB_ECONFIG);
    T_ASSERT_INT(db_token_lookup(db, h1, 1000, &who, &err), 0);
    T_ASSERT_INT(who, acct);
    T_ASSERT_INT(db_token_lookup(db, h2, 1000, &who, &err), MB_ENOTFOUND);
    struct db_token *v = NULL;
    size_t n = 0;
    T_ASSERT_INT(db_token_list(db, acct, &v, &n, &err), 0);
    T_ASSERT(n == 1 && strcmp(v[0].name, "panneau") == 0 && v[0].last_used_at == 1000);
    db_tokens_free(v, n);
    T_ASSERT_INT(db_token_delete(db, acct + 1, id, &err), MB_ENOTFOUND); /* not its token */
    T_ASSERT_INT(db_token_delete(db, acct, id, &err), 0);
    T_ASSERT_INT(db_token_lookup(db, h1, 1000, &who, &err), MB_ENOTFOUND);

    T_ASSERT_INT(db_webhook_add(db, "{\"event\":\"a\"}", &err), 0);
    T_ASSERT_INT(db_webhook_add(db, "{\"event\":\"b\"}", &err), 0);
    struct db_webhook *ev = NULL;
    T_ASSERT_INT(db_webhook_due(db, db_now(), 10, &ev, &n, &err), 0);
    T_ASSERT(n == 2 && strstr(ev[0].payload, "\"a\"") && ev[0].attempts == 0);
    int64_t first = ev[0].id, second = ev[1].id;
    db_webhook_free(ev, n);
    T_ASSERT_INT(db_webhook_retry(db, first, db_now() + 60, &err), 0);
    T_ASSERT_INT(db_webhook_done(db, second, &err), 0);
    T_ASSERT_INT(db_webhook_due(db, db_now(), 10, &ev, &n, &err), 0);
    T_ASSERT_INT(n, 0);
    db_webhook_free(ev, n);
    T_ASSERT_INT(db_webhook_due(db, db_now() + 61, 10, &ev, &n, &err), 0);
    T_ASSERT(n == 1 && ev[0].id == first && ev[0].attempts == 1);
    db_webhook_free(ev, n);
    db_close(&db);
    T_END();
}

static void test_requeue_running(void)
{
    T_BEGIN("db_job_requeue_running: crash leftovers back to pending, cancelled ones failed");
    char *path = db_path("requeue.db");
    struct db *db = NULL;
    struct mb_err err;
    T_ASSERT_INT(db_open(path, &db, &err), 0);
    int64_t ids[4];
    for (int i = 0; i < 4; i++)
        ids[i] = insert_job(db, i);
    struct db_job job;
    for (int i = 0; i < 3; i++) {
        T_ASSERT_INT(db_job_claim(db, "w", 0, &job, &err), 1);
        db_job_fini(&job);
    }
    struct db_job_counters cnt = {2, 1, 10, 4, 0, 0, 100, 40};
    T_ASSERT_INT(db_job_progress_update(db, ids[0], &cnt, "INBOX", NULL, &err), 0);
    T_ASSERT_INT(db_job_finish(db, ids[2], DB_JOB_DONE, NULL, NULL, &err), 0);
    enum db_job_state st;
    T_ASSERT_INT(db_job_request_cancel(db, ids[1], &st, &err), 0);
    /* "Crash": close without finishing, open again. */
    db_close(&db);
    T_ASSERT_INT(db_open(path, &db, &err), 0);
    int64_t n = -1;
    T_ASSERT_INT(db_job_requeue_running(db, &n, &err), 0);
    T_ASSERT_INT(n, 1);
    T_ASSERT_INT(db_job_get(db, ids[0], &job, &err), 0);
    T_ASSERT_INT(job.state, DB_JOB_PENDING);
    T_ASSERT(job.worker == NULL && job.has_secret == 1);
    T_ASSERT_INT(job.progress.messages_copied, 4); /* kept: resumes where it was */
    db_job_fini(&job);
    T_ASSERT_INT(db_job_get(db, ids[1], &job, &err), 0);
    T_ASSERT_INT(job.state, DB_JOB_FAILED);
    T_ASSERT_STR(job.error, DB_JOB_ERROR_CANCELLED);
    T_ASSERT_STR(job.error_code, msgcat[MSG_JOB_CANCELLED].code);
    T_ASSERT_INT(job.has_secret, 1); /* kept until finalized or the retention sweep */
    db_job_fini(&job);
    T_ASSERT_INT(db_job_get(db, ids[2], &job, &err), 0);
    T_ASSERT_INT(job.state, DB_JOB_DONE);
    db_job_fini(&job);
    struct db_log_entry *e;
    size_t ne;
    T_ASSERT_INT(db_log_list(db, ids[0], 0, 0, &e, &ne, &err), 0);
    T_ASSERT(ne == 1 && e[0].level == DB_LOG_WARN && strstr(e[0].text, "queued again"));
    T_ASSERT(ne == 1 && e[0].code && strcmp(e[0].code, "restart_requeued") == 0);
    db_log_entries_free(&e, ne);
    T_ASSERT_INT(db_log_list(db, ids[1], 0, 0, &e, &ne, &err), 0);
    T_ASSERT(ne == 1 && strstr(e[0].text, "cancelled as requested"));
    T_ASSERT(ne == 1 && e[0].code && strcmp(e[0].code, "restart_cancelled") == 0);
    db_log_entries_free(&e, ne);
    /* Nothing left running: a second call does nothing. */
    T_ASSERT_INT(db_job_requeue_running(db, &n, &err), 0);
    T_ASSERT_INT(n, 0);
    /* The requeued job is claimed again before the younger one; a restart of the service
     * spends no attempt. */
    T_ASSERT_INT(db_job_claim(db, "w2", 0, &job, &err), 1);
    T_ASSERT_INT(job.id, ids[0]);
    T_ASSERT_INT(job.attempts, 0);
    db_job_fini(&job);
    db_close(&db);
    free(path);
    T_END();
}

/* ---- coded messages (issue 15) ---- */

static void test_job_messages(void)
{
    T_BEGIN("a job's error and its log lines keep their code and parameters; texts have none");
    struct db *db = open_fresh("codes.db");
    struct mb_err err, msg, inner;
    int64_t a = insert_job(db, 1), b = insert_job(db, 2);
    struct db_job job;
    T_ASSERT_INT(db_job_claim(db, "w", 0, &job, &err), 1);
    db_job_fini(&job);
    T_ASSERT_INT(db_job_claim(db, "w", 0, &job, &err), 1);
    db_job_fini(&job);
    MB_MSG(&msg, MB_ECONFIG, PROFILE_DELETED, "ovh");
    T_ASSERT_INT(db_job_finish_msg(db, a, DB_JOB_FAILED, &msg, NULL, 0, &err), 0);
    T_ASSERT_INT(db_job_get(db, a, &job, &err), 0);
    T_ASSERT_STR(job.error, msg.msg);
    T_ASSERT_STR(job.error_code, "profile_deleted");
    T_ASSERT_STR(job.error_params, "{\"name\":\"ovh\"}");
    db_job_fini(&job);
    /* retried later: the reason shown meanwhile is coded too; the next claim clears it */
    mb_err_set(&inner, MB_ECONN, "connection refused by h:993");
    MB_MSG(&msg, MB_ECONN, JOB_INTERNAL, &inner);
    T_ASSERT_INT(db_job_retry_later_msg(db, b, 0, &msg, &err), 0);
    T_ASSERT_INT(db_job_get(db, b, &job, &err), 0);
    T_ASSERT_STR(job.error, "internal error: connection refused by h:993");
    T_ASSERT_STR(job.error_code, "internal_error");
    T_ASSERT(job.error_params && strstr(job.error_params, "\"code\":\"text\""));
    db_job_fini(&job);
    T_ASSERT_INT(db_job_claim(db, "w", 0, &job, &err), 1);
    db_job_fini(&job);
    T_ASSERT_INT(db_job_get(db, b, &job, &err), 0);
    T_ASSERT(job.error == NULL && job.error_code == NULL && job.error_params == NULL);
    db_job_fini(&job);
    /* a plain text: no code */
    T_ASSERT_INT(db_job_defer(db, b, 0, "engine words", &err), 0);
    T_ASSERT_INT(db_job_get(db, b, &job, &err), 0);
    T_ASSERT(job.error_code == NULL && strcmp(job.error, "engine words") == 0);
    db_job_fini(&job);
    /* kept by a plain end (a: the retention sweep or finalize erases them later); erased
     * by the end itself with erase_credentials ([server] credential_retention 0) */
    T_ASSERT_INT(db_job_get(db, a, &job, &err), 0);
    T_ASSERT_INT(job.has_secret, 1);
    db_job_fini(&job);
    T_ASSERT_INT(db_job_claim(db, "w", 0, &job, &err), 1);
    T_ASSERT_INT(job.id, b);
    db_job_fini(&job);
    T_ASSERT_INT(db_job_finish_msg(db, b, DB_JOB_DONE, NULL, NULL, 1, &err), 0);
    T_ASSERT_INT(db_job_get(db, b, &job, &err), 0);
    T_ASSERT(job.state == DB_JOB_DONE && job.has_secret == 0 && job.has_credentials == 0
             && job.finalized_at == 0);
    db_job_fini(&job);

    MB_MSG(&msg, 0, LOG_FOLDER_DONE, "INBOX", (long long)12, 0, 1);
    T_ASSERT_INT(db_log_add_msg(db, a, DB_LOG_INFO, &msg), 0);
    mb_err_set(&msg, 0, "an engine line");
    T_ASSERT_INT(db_log_add_msg(db, a, DB_LOG_WARN, &msg), 0);
    T_ASSERT_INT(db_log_add_msg(db, 999, DB_LOG_WARN, &msg), MB_ENOTFOUND);
    struct db_log_entry *e = NULL;
    size_t n = 0;
    T_ASSERT_INT(db_log_list(db, a, 0, 0, &e, &n, &err), 0);
    T_ASSERT_INT(n, 2);
    if (n == 2) {
        T_ASSERT_STR(e[0].text, "folder INBOX: 12 copied, 0 already there, 1 refused");
        T_ASSERT_STR(e[0].code, "log_folder_done");
        char *fr = msg_render_alloc(MSG_LANG_FR, e[0].code, e[0].params, e[0].text);
        T_ASSERT_STR(fr, "dossier INBOX : 12 copié(s), 0 déjà présent(s), 1 refusé(s)");
        free(fr);
        T_ASSERT(e[1].code == NULL && e[1].params == NULL);
        T_ASSERT_STR(e[1].text, "an engine line");
    }
    db_log_entries_free(&e, n);
    db_close(&db);
    T_END();
}

/* ---- log ---- */

static void test_log(void)
{
    T_BEGIN("db_log_add / db_log_list: order, cursor, limit, truncation, unknown job");
    struct db *db = open_fresh("log.db");
    struct mb_err err;
    int64_t id = insert_job(db, 1), other = insert_job(db, 2);
    T_ASSERT_INT(db_log_add(db, id, DB_LOG_INFO, "folder %s: %d messages", "INBOX", 12), 0);
    T_ASSERT_INT(db_log_add(db, other, DB_LOG_INFO, "other job"), 0);
    T_ASSERT_INT(db_log_add(db, id, DB_LOG_ERROR, "refused: %s", "too big"), 0);
    T_ASSERT_INT(db_log_add(db, id, DB_LOG_DEBUG, "three"), 0);
    char *big = xmalloc(5000);
    memset(big, 'x', 4999);
    big[4999] = '\0';
    memcpy(big + DB_LOG_TEXT_MAX - 1, "\xc3\xa9", 2); /* an 'é' across the cut */
    T_ASSERT_INT(db_log_add(db, id, DB_LOG_WARN, "%s", big), 0);
    free(big);
    T_ASSERT_INT(db_log_add(db, 999, DB_LOG_INFO, "nobody"), MB_ENOTFOUND);

    struct db_log_entry *e = NULL;
    size_t n = 0;
    T_ASSERT_INT(db_log_list(db, id, 0, 0, &e, &n, &err), 0);
    T_ASSERT_INT(n, 4);
    if (n == 4) {
        T_ASSERT_STR(e[0].text, "folder INBOX: 12 messages");
        T_ASSERT_INT(e[0].level, DB_LOG_INFO);
        T_ASSERT_INT(e[0].job_id, id);
        T_ASSERT(e[0].ts > 1600000000);
        T_ASSERT_INT(e[1].level, DB_LOG_ERROR);
        T_ASSERT_STR(db_log_level_name(e[1].level), "error");
        T_ASSERT(e[0].id < e[1].id && e[1].id < e[2].id);
        T_ASSERT_INT(strlen(e[3].text), DB_LOG_TEXT_MAX - 1);
    }
    int64_t cursor = n >= 2 ? e[1].id : 0;
    db_log_entries_free(&e, n);
    T_ASSERT(e == NULL);
    T_ASSERT_INT(db_log_list(db, id, cursor, 1, &e, &n, &err), 0);
    T_ASSERT(n == 1 && strcmp(e[0].text, "three") == 0);
    db_log_entries_free(&e, n);
    T_ASSERT_INT(db_log_list(db, 999, 0, 10, &e, &n, &err), 0);
    T_ASSERT_INT(n, 0);
    db_log_entries_free(&e, n);
    db_close(&db);
    T_END();
}

/* ---- msgmap ---- */

struct collect {
    int n;
    uint32_t uids[64];
    uint32_t dest_uidnext[64];
    char folders[64][32];
    int has_hash[64];
    int states[64];
    char errors[64][64];
};

static int collect_cb(void *ctx, const struct db_msgmap_row *r)
{
    struct collect *c = ctx;
    if (c->n >= 64)
        return 1;
    c->uids[c->n] = r->uid;
    c->dest_uidnext[c->n] = r->dest_uidnext;
    snprintf(c->folders[c->n], sizeof(c->folders[0]), "%s", r->folder);
    c->has_hash[c->n] = r->has_hash;
    c->states[c->n] = (int)r->state;
    snprintf(c->errors[c->n], sizeof(c->errors[0]), "%s", r->error ? r->error : "");
    c->n++;
    return 0;
}

/* Recovery callback that writes through the same handle while iterating (allowed). */
struct recover_ctx {
    struct db *db;
    int matched;
};

static int recover_cb(void *ctx, const struct db_msgmap_row *r)
{
    struct recover_ctx *rc = ctx;
    /* Pretend the destination kept odd UIDs only (dest uid = uidnext + index). */
    if (r->uid % 2 == 1) {
        struct mb_err err;
        if (db_msgmap_mark_copied(rc->db, r->job_id, r->folder, r->uidvalidity, r->uid,
                                  r->dest_uidnext + r->uid, r->has_hash ? r->hash : NULL, &err)
            != 0)
            return -1;
        rc->matched++;
    }
    return 0;
}

static void test_msgmap(void)
{
    T_BEGIN("msgmap: windows in flight, copied/failed, recovery listing, delta, forget");
    struct db *db = open_fresh("map.db");
    struct mb_err err;
    int64_t job = insert_job(db, 1);
    struct db_msg msgs[6];
    for (int i = 0; i < 6; i++) {
        msgs[i].uid = (uint32_t)(10 + i);
        msgs[i].size = 1000 + i;
        msgs[i].internaldate = 1700000000 + i;
        msgs[i].message_id = i == 2 ? NULL : "<id@example>";
        msgs[i].flags = NULL;
    }
    struct db_msgmap_window w1 = {"INBOX", 777, 50, 0};
    /* Window 1: uids 10-12; window 2 (after another UIDNEXT read): 13-15. */
    T_ASSERT_INT(db_msgmap_mark_inflight(db, job, "INBOX", 1234, msgs, 3, &w1, &err), 0);
    T_ASSERT_INT(scalar(db, "PRAGMA synchronous"), 1); /* back to NORMAL after the FULL commit */
    struct db_msgmap_window w2 = {"INBOX", 777, 53, 0};
    T_ASSERT_INT(db_msgmap_mark_inflight(db, job, "INBOX", 1234, msgs + 3, 3, &w2, &err), 0);
    T_ASSERT_INT(db_msgmap_mark_inflight(db, job, "INBOX", 1234, msgs, 0, &w2, &err), 0);

    unsigned char h[32];
    memset(h, 0xab, sizeof(h));
    T_ASSERT_INT(db_msgmap_set_hash(db, job, "INBOX", 1234, 10, h, &err), 0);
    T_ASSERT_INT(db_msgmap_mark_copied(db, job, "INBOX", 1234, 10, 50, NULL, &err), 0);
    T_ASSERT_INT(db_msgmap_mark_copied(db, job, "INBOX", 1234, 11, 51, h, &err), 0);
    T_ASSERT_INT(db_msgmap_mark_copied(db, job, "INBOX", 1234, 11, 51, h, &err), MB_ENOTFOUND);
    T_ASSERT_INT(db_msgmap_set_hash(db, job, "INBOX", 1234, 11, h, &err), MB_ENOTFOUND);
    T_ASSERT_INT(db_msgmap_mark_failed(db, job, "INBOX", 1234, &msgs[2], "INBOX",
                                       "NO [LIMIT] message too large", &err),
                 0);
    T_ASSERT_INT(db_msgmap_mark_failed(db, job, "INBOX", 1234, &msgs[0], "INBOX", "x", &err),
                 MB_ECONFIG);
    T_ASSERT_INT(db_msgmap_mark_failed(db, job, "INBOX", 1234, &msgs[3], NULL, NULL, &err),
                 MB_ECONFIG);

    /* Known UIDs, sorted, with states. */
    struct db_uid_state *known = NULL;
    size_t nk = 0;
    T_ASSERT_INT(db_msgmap_known_uids(db, job, "INBOX", 1234, &known, &nk, &err), 0);
    T_ASSERT_INT(nk, 6);
    if (nk == 6) {
        T_ASSERT(known[0].uid == 10 && known[0].state == DB_MSG_COPIED);
        T_ASSERT(known[1].uid == 11 && known[1].state == DB_MSG_COPIED);
        T_ASSERT(known[2].uid == 12 && known[2].state == DB_MSG_FAILED);
        T_ASSERT(known[5].uid == 15 && known[5].state == DB_MSG_INFLIGHT);
    }
    free(known);
    T_ASSERT_INT(db_msgmap_known_uids(db, job, "INBOX", 9999, &known, &nk, &err), 0);
    T_ASSERT(nk == 0 && known == NULL);

    /* Re-arming a copied UID fails atomically: uid 13 must not move to the new window. */
    struct db_msgmap_window w3 = {"INBOX", 777, 60, 0};
    T_ASSERT_INT(db_msgmap_mark_inflight(db, job, "INBOX", 1234, msgs, 4, &w3, &err), MB_ECONFIG);
    T_ASSERT_STR(err.msg, "uid 10 of this folder is already copied");
    T_ASSERT_INT(scalar(db, "PRAGMA synchronous"), 1);
    T_ASSERT_INT(scalar(db, "SELECT dest_uidnext FROM msgmap WHERE uid = 13"), 53);

    /* Recovery listing: in-flight rows by window then uid; the callback may write. */
    struct collect c;
    memset(&c, 0, sizeof(c));
    T_ASSERT_INT(db_msgmap_inflight(db, job, "INBOX", 1234, collect_cb, &c, &err), 0);
    T_ASSERT_INT(c.n, 3);
    T_ASSERT(c.uids[0] == 13 && c.uids[2] == 15 && c.dest_uidnext[0] == 53);
    struct recover_ctx rcx = {db, 0};
    T_ASSERT_INT(db_msgmap_inflight(db, job, NULL, 0, recover_cb, &rcx, &err), 0);
    T_ASSERT_INT(rcx.matched, 2); /* 13 and 15 */
    /* Destination UIDs already owned, for excluding them from matching. */
    uint32_t *du = NULL;
    size_t ndu = 0;
    T_ASSERT_INT(db_msgmap_dest_uids(db, job, "INBOX", 777, 51, &du, &ndu, &err), 0);
    T_ASSERT_INT(ndu, 3);
    if (ndu == 3)
        T_ASSERT(du[0] == 51 && du[1] == 53 + 13 && du[2] == 53 + 15);
    free(du);
    T_ASSERT_INT(db_msgmap_dest_uids(db, job, "INBOX", 778, 0, &du, &ndu, &err), 0);
    T_ASSERT_INT(ndu, 0);
    free(du);

    /* The unmatched in-flight row (14) and the failed one (12) are re-armed in a new window. */
    struct db_msg again[2] = {msgs[2], msgs[4]};
    T_ASSERT_INT(db_msgmap_mark_inflight(db, job, "INBOX", 1234, again, 2, &w3, &err), 0);
    T_ASSERT_INT(scalar(db, "SELECT dest_uidnext FROM msgmap WHERE uid = 14"), 60);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM msgmap WHERE uid = 12 AND state = 0 "
                            "AND error IS NULL"),
                 1);

    /* Counts and sizes. */
    int64_t n = 0, bytes = 0;
    T_ASSERT_INT(db_msgmap_count(db, job, NULL, -1, &n, &bytes, &err), 0);
    T_ASSERT_INT(n, 6);
    T_ASSERT_INT(bytes, 1000 * 6 + 15);
    T_ASSERT_INT(db_msgmap_count(db, job, "INBOX", DB_MSG_COPIED, &n, &bytes, &err), 0);
    T_ASSERT_INT(n, 4);
    T_ASSERT_INT(bytes, 1000 + 1001 + 1003 + 1005);
    T_ASSERT_INT(db_msgmap_count(db, job, NULL, DB_MSG_INFLIGHT, &n, NULL, &err), 0);
    T_ASSERT_INT(n, 2);

    /* Failed listing for the report; hash survives mark_copied(NULL). */
    T_ASSERT_INT(db_msgmap_mark_failed(db, job, "INBOX", 1234, &msgs[2], NULL, "refused", &err), 0);
    memset(&c, 0, sizeof(c));
    T_ASSERT_INT(db_msgmap_foreach(db, job, NULL, 0, DB_MSG_FAILED, collect_cb, &c, &err), 0);
    T_ASSERT(c.n == 1 && c.uids[0] == 12 && strcmp(c.errors[0], "refused") == 0);
    memset(&c, 0, sizeof(c));
    T_ASSERT_INT(db_msgmap_foreach(db, job, "INBOX", 1234, -1, collect_cb, &c, &err), 0);
    T_ASSERT_INT(c.n, 6);
    T_ASSERT(c.has_hash[0] == 1 && c.has_hash[1] == 1 && c.has_hash[2] == 0);
    T_ASSERT_INT(scalar(db, "SELECT dest_folder IS NOT NULL FROM msgmap WHERE uid = 12"), 1);

    /* UIDVALIDITY change: rows re-recorded under the new value, then the old ones forgotten. */
    struct db_msg moved = {3, 1000, 1700000000, "<id@example>", NULL};
    T_ASSERT_INT(db_msgmap_record_copied(db, job, "INBOX", 4321, &moved, "INBOX", 777, 50, h, &err),
                 0);
    T_ASSERT_INT(
        db_msgmap_record_copied(db, job, "INBOX", 4321, &moved, "INBOX", 777, 50, NULL, &err), 0);
    T_ASSERT_INT(scalar(db, "SELECT length(hash) FROM msgmap WHERE uidvalidity = 4321"), 32);
    uint32_t *uv = NULL;
    size_t nuv = 0;
    T_ASSERT_INT(db_msgmap_uidvalidities(db, job, "INBOX", &uv, &nuv, &err), 0);
    T_ASSERT(nuv == 2 && uv[0] == 1234 && uv[1] == 4321);
    free(uv);
    T_ASSERT_INT(db_msgmap_forget_folder_uidvalidity(db, job, "INBOX", 1234, &n, &err), 0);
    T_ASSERT_INT(n, 6);

    /* Folders, forget one message, forget a folder. */
    struct db_msgmap_window ws = {"Sent", 9, 1, 0};
    T_ASSERT_INT(db_msgmap_mark_inflight(db, job, "Sent Items", 5, msgs, 2, &ws, &err), 0);
    char **folders = NULL;
    size_t nf = 0;
    T_ASSERT_INT(db_msgmap_folders(db, job, &folders, &nf, &err), 0);
    T_ASSERT(nf == 2 && strcmp(folders[0], "INBOX") == 0 && strcmp(folders[1], "Sent Items") == 0);
    db_msgmap_folders_free(&folders, nf);
    T_ASSERT(folders == NULL);
    T_ASSERT_INT(db_msgmap_forget(db, job, "Sent Items", 5, 10, &err), 0);
    T_ASSERT_INT(db_msgmap_count(db, job, "Sent Items", -1, &n, NULL, &err), 0);
    T_ASSERT_INT(n, 1);
    T_ASSERT_INT(db_msgmap_forget_folder(db, job, "Sent Items", &n, &err), 0);
    T_ASSERT_INT(n, 1);

    /* Destination folder recreated: copies recorded under its old UIDVALIDITY are forgotten,
     * those under the current one (and other folders') are kept. */
    T_ASSERT_INT(db_msgmap_forget_copied_elsewhere(db, job, "INBOX", 4321, "INBOX", 777, &n, &err),
                 0);
    T_ASSERT_INT(n, 0);
    T_ASSERT_INT(db_msgmap_forget_copied_elsewhere(db, job, "INBOX", 4321, "Other", 778, &n, &err),
                 0);
    T_ASSERT_INT(n, 0);
    T_ASSERT_INT(db_msgmap_forget_copied_elsewhere(db, job, "INBOX", 4321, "INBOX", 778, &n, &err),
                 0);
    T_ASSERT_INT(n, 1);
    T_ASSERT_INT(db_msgmap_count(db, job, "INBOX", DB_MSG_COPIED, &n, NULL, &err), 0);
    T_ASSERT_INT(n, 0);

    /* Inside an explicit transaction the window is a savepoint and can be rolled back. */
    T_ASSERT_INT(db_begin_immediate(db, &err), 0);
    T_ASSERT_INT(db_msgmap_mark_inflight(db, job, "Drafts", 1, msgs, 2, &w1, &err), 0);
    db_rollback(db);
    T_ASSERT_INT(db_msgmap_count(db, job, "Drafts", -1, &n, NULL, &err), 0);
    T_ASSERT_INT(n, 0);

    /* Bad input. */
    T_ASSERT_INT(db_msgmap_mark_inflight(db, job, NULL, 1, msgs, 1, &w1, &err), MB_ECONFIG);
    T_ASSERT_INT(db_msgmap_mark_inflight(db, job, "X", 1, msgs, 1, NULL, &err), MB_ECONFIG);
    T_ASSERT_INT(db_msgmap_mark_inflight(db, 999, "X", 1, msgs, 1, &w1, &err), MB_ENOTFOUND);
    T_ASSERT_INT(
        db_msgmap_mark_inflight(db, job, "X", 1, msgs, DB_MSGMAP_WINDOW_MAX + 1, &w1, &err),
        MB_ETOOBIG);
    T_ASSERT_INT(db_msgmap_record_copied(db, 999, "X", 1, msgs, "X", 1, 1, NULL, &err),
                 MB_ENOTFOUND);
    db_close(&db);
    T_END();
}

/* ---- users and sessions ---- */

static void test_users(void)
{
    T_BEGIN("accounts: add, duplicate, get, domains, list, update, delete");
    struct db *db = open_fresh("users.db");
    struct mb_err err;
    int64_t n;
    T_ASSERT_INT(db_user_count(db, &n, &err), 0);
    T_ASSERT_INT(n, 0);
    const char *doms[] = {"Example.ORG", "example.com", "example.org"};
    int64_t bob = 0, root = 0;
    T_ASSERT_INT(db_user_add(db, "bob", "pbkdf2$x", 0, doms, 3, &bob, &err), 0);
    T_ASSERT_INT(db_user_add(db, "bob", "pbkdf2$y", 1, NULL, 0, NULL, &err), MB_ECONFIG);
    T_ASSERT_STR(err.msg, "account \"bob\" already exists");
    T_ASSERT_INT(db_user_add(db, "root", "pbkdf2$z", 1, NULL, 0, &root, &err), 0);
    T_ASSERT_INT(db_user_add(db, "", "h", 0, NULL, 0, NULL, &err), MB_ECONFIG);
    T_ASSERT_INT(db_user_add(db, "a\nb", "h", 0, NULL, 0, NULL, &err), MB_ECONFIG);
    T_ASSERT_INT(db_user_add(db, "carol", "", 0, NULL, 0, NULL, &err), MB_ECONFIG);
    const char *baddom[] = {"ok.example", "bad domain"};
    T_ASSERT_INT(db_user_add(db, "dave", "h", 0, baddom, 2, NULL, &err), MB_ECONFIG);
    T_ASSERT_INT(db_user_get_by_name(db, "dave", &(struct db_user){0}, &err), MB_ENOTFOUND);

    struct db_user u = {0};
    T_ASSERT_INT(db_user_get_by_name(db, "bob", &u, &err), 0);
    T_ASSERT_INT(u.id, bob);
    T_ASSERT_STR(u.name, "bob");
    T_ASSERT_STR(u.pwhash, "pbkdf2$x");
    T_ASSERT_INT(u.admin, 0);
    T_ASSERT(u.created_at > 1600000000);
    T_ASSERT_INT(u.n_domains, 2);
    if (u.n_domains == 2) {
        T_ASSERT_STR(u.domains[0], "example.com");
        T_ASSERT_STR(u.domains[1], "example.org");
    }
    db_user_fini(&u);
    db_user_fini(&u);
    T_ASSERT_INT(db_user_get_by_name(db, "Bob", &u, &err), MB_ENOTFOUND);
    T_ASSERT_STR(err.msg, "account \"Bob\" does not exist");
    T_ASSERT_INT(db_user_get(db, root, &u, &err), 0);
    T_ASSERT(u.admin == 1 && u.n_domains == 0 && strcmp(u.name, "root") == 0);
    db_user_fini(&u);
    T_ASSERT_INT(db_user_get(db, 999, &u, &err), MB_ENOTFOUND);

    struct db_user *all = NULL;
    size_t na = 0;
    T_ASSERT_INT(db_user_list(db, &all, &na, &err), 0);
    T_ASSERT(na == 2 && strcmp(all[0].name, "bob") == 0 && all[0].n_domains == 2);
    db_users_free(&all, na);
    T_ASSERT(all == NULL);
    T_ASSERT_INT(db_user_count(db, &n, &err), 0);
    T_ASSERT_INT(n, 2);

    T_ASSERT_INT(db_user_set_password(db, bob, "pbkdf2$new", &err), 0);
    T_ASSERT_INT(db_user_set_admin(db, bob, 1, &err), 0);
    const char *nd[] = {"NEW.example"};
    T_ASSERT_INT(db_user_set_domains(db, bob, nd, 1, &err), 0);
    T_ASSERT_INT(db_user_get(db, bob, &u, &err), 0);
    T_ASSERT_STR(u.pwhash, "pbkdf2$new");
    T_ASSERT_INT(u.admin, 1);
    T_ASSERT(u.n_domains == 1 && strcmp(u.domains[0], "new.example") == 0);
    db_user_fini(&u);
    T_ASSERT_INT(db_user_set_password(db, 999, "x", &err), MB_ENOTFOUND);
    T_ASSERT_INT(db_user_set_domains(db, 999, nd, 1, &err), MB_ENOTFOUND);
    T_ASSERT_INT(db_user_delete(db, root, &err), 0);
    T_ASSERT_INT(db_user_delete(db, root, &err), MB_ENOTFOUND);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM account_domains"), 1);
    db_close(&db);
    T_END();
}

static void test_sessions(void)
{
    T_BEGIN("sessions: hashed token, lookup, expiry, touch, logout, cascade with account");
    struct db *db = open_fresh("sessions.db");
    struct mb_err err;
    int64_t bob;
    T_ASSERT_INT(db_user_add(db, "bob", "h", 0, NULL, 0, &bob, &err), 0);
    unsigned char t1[32], t2[32], t3[32];
    memset(t1, 1, 32);
    memset(t2, 2, 32);
    memset(t3, 3, 32);
    int64_t now = 1800000000;
    T_ASSERT_INT(db_session_create(db, t1, 32, bob, "csrf-1", now + 100, &err), 0);
    T_ASSERT_INT(db_session_create(db, t2, 32, bob, "csrf-2", now - 1, &err), 0);
    T_ASSERT_INT(db_session_create(db, t3, 32, 999, "c", now + 100, &err), MB_ENOTFOUND);
    T_ASSERT_INT(db_session_create(db, t3, 8, bob, "c", now + 100, &err), MB_ECONFIG);
    T_ASSERT_INT(db_session_create(db, t3, 32, bob, "", now + 100, &err), MB_ECONFIG);
    T_ASSERT_INT(db_session_create(db, t1, 32, bob, "dup", now + 100, &err), MB_EIO);

    struct db_session s = {0};
    T_ASSERT_INT(db_session_lookup(db, t1, 32, now, &s, &err), 0);
    T_ASSERT_INT(s.account_id, bob);
    T_ASSERT_STR(s.csrf, "csrf-1");
    T_ASSERT_INT(s.expires_at, now + 100);
    db_session_fini(&s);
    T_ASSERT_INT(db_session_lookup(db, t1, 32, now + 100, &s, &err), MB_ENOTFOUND);
    T_ASSERT_INT(db_session_lookup(db, t1, 32, now, &s, &err), MB_ENOTFOUND); /* deleted */
    T_ASSERT_INT(db_session_create(db, t1, 32, bob, "csrf-1b", now + 100, &err), 0);
    T_ASSERT_INT(db_session_touch(db, t1, 32, now + 500, &err), 0);
    T_ASSERT_INT(db_session_lookup(db, t1, 32, now + 400, &s, &err), 0);
    T_ASSERT_STR(s.csrf, "csrf-1b");
    db_session_fini(&s);
    T_ASSERT_INT(db_session_touch(db, t3, 32, now, &err), MB_ENOTFOUND);

    int64_t n = -1;
    T_ASSERT_INT(db_session_expire(db, now, &n, &err), 0);
    T_ASSERT_INT(n, 1); /* t2 */
    T_ASSERT_INT(db_session_delete(db, t1, 32, &err), 0);
    T_ASSERT_INT(db_session_delete(db, t1, 32, &err), 0);
    T_ASSERT_INT(db_session_lookup(db, t1, 32, now, &s, &err), MB_ENOTFOUND);

    T_ASSERT_INT(db_session_create(db, t1, 32, bob, "a", now + 100, &err), 0);
    T_ASSERT_INT(db_session_create(db, t2, 32, bob, "b", now + 100, &err), 0);
    T_ASSERT_INT(db_session_delete_account(db, bob, &n, &err), 0);
    T_ASSERT_INT(n, 2);
    T_ASSERT_INT(db_session_create(db, t3, 32, bob, "c", now + 100, &err), 0);
    T_ASSERT_INT(db_user_delete(db, bob, &err), 0);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM sessions"), 0);
    db_close(&db);
    T_END();
}

static void test_cascades(void)
{
    T_BEGIN("cascades: job -> msgmap + log; account -> sessions, domains; jobs keep rows");
    struct db *db = open_fresh("cascade.db");
    struct mb_err err;
    int64_t acct;
    T_ASSERT_INT(db_user_add(db, "ann", "h", 0, (const char *[]){"a.example"}, 1, &acct, &err), 0);
    struct db_job_new rows[2] = {job_desc(1), job_desc(2)};
    int64_t batch, ids[2];
    T_ASSERT_INT(db_job_insert_many(db, acct, "f.csv", rows, 2, &batch, ids, &err), 0);
    struct db_msg m[3] = {{1, 10, 0, NULL, NULL}, {2, 20, 0, NULL, NULL}, {3, 30, 0, NULL, NULL}};
    struct db_msgmap_window w = {"INBOX", 1, 1, 0};
    for (int i = 0; i < 2; i++) {
        T_ASSERT_INT(db_msgmap_mark_inflight(db, ids[i], "INBOX", 1, m, 3, &w, &err), 0);
        T_ASSERT_INT(db_log_add(db, ids[i], DB_LOG_INFO, "line"), 0);
    }
    T_ASSERT_INT(db_job_delete(db, ids[0], &err), 0);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM msgmap"), 3);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM job_log"), 1);
    unsigned char tok[32] = {9};
    T_ASSERT_INT(db_session_create(db, tok, 32, acct, "c", db_now() + 60, &err), 0);
    T_ASSERT_INT(db_user_delete(db, acct, &err), 0);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM sessions"), 0);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM account_domains"), 0);
    struct db_job job;
    T_ASSERT_INT(db_job_get(db, ids[1], &job, &err), 0);
    T_ASSERT_INT(job.account_id, 0);
    T_ASSERT_INT(job.batch_id, batch);
    db_job_fini(&job);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM batches WHERE account_id IS NULL"), 1);
    T_ASSERT_INT(scalar(db, "PRAGMA foreign_key_check"), -1); /* no violation rows */
    db_close(&db);
    T_END();
}

/* ---- concurrency ---- */

/* 4,000 jobs; 400 under valgrind (VALGRIND=1, tests/run-all.sh): valgrind runs one thread at
 * a time and its scheduler lets the threads that hold SQLite's write lock take it again while a
 * sleeping one misses it for tens of seconds (past the busy deadline) — a starvation of the
 * tool, not of the claims, whose correctness the smaller batch checks as well. */
#define CLAIM_JOBS_MAX 4000
static int claim_jobs(void)
{
    const char *v = getenv("VALGRIND");
    return v && strcmp(v, "1") == 0 ? 400 : CLAIM_JOBS_MAX;
}
#define CLAIM_JOBS claim_jobs()
#define CLAIM_THREADS 8

struct claimer {
    const char *path;
    char name[16];
    int64_t *ids;
    size_t n;
    int errors;
};

static void *claim_thread(void *arg)
{
    struct claimer *c = arg;
    struct db *db = NULL;
    struct mb_err err;
    if (db_open(c->path, &db, &err) != 0) {
        fprintf(stderr, "  %s: open: %s\n", c->name, err.msg);
        c->errors++;
        return NULL;
    }
    for (;;) {
        struct db_job job;
        int rc = db_job_claim(db, c->name, 0, &job, &err);
        if (rc == 0)
            break;
        if (rc < 0) {
            fprintf(stderr, "  %s: claim: %s\n", c->name, err.msg);
            c->errors++;
            break;
        }
        c->ids[c->n++] = job.id;
        if (strcmp(job.worker, c->name) != 0 || job.state != DB_JOB_RUNNING)
            c->errors++;
        /* Finish every other job: writers of two kinds compete for the lock. */
        if (job.id % 2 == 0 && db_job_finish(db, job.id, DB_JOB_DONE, NULL, NULL, &err) != 0) {
            fprintf(stderr, "  %s: finish: %s\n", c->name, err.msg);
            c->errors++;
        }
        db_job_fini(&job);
    }
    db_close(&db);
    return NULL;
}

static void test_concurrent_claim(void)
{
    T_BEGIN("8 threads, own connections, claim 4,000 jobs (400 under valgrind): each exactly once");
    char *path = db_path("claim.db");
    struct db *db = NULL;
    struct mb_err err;
    T_ASSERT_INT(db_open(path, &db, &err), 0);
    struct db_job_new *rows = xcalloc(CLAIM_JOBS, sizeof(*rows));
    /* one mailbox pair per job: two jobs of one pair are never claimed at once */
    char(*dests)[32] = xcalloc(CLAIM_JOBS, sizeof(*dests));
    for (int i = 0; i < CLAIM_JOBS; i++) {
        rows[i] = job_desc(i % 8); /* job_desc strings live in 8 static slots */
        snprintf(dests[i], sizeof(dests[i]), "load%d@example.org", i);
        rows[i].dest_login = dests[i];
    }
    int64_t batch;
    double t0 = now_s();
    T_ASSERT_INT(db_job_insert_many(db, 0, "load.csv", rows, CLAIM_JOBS, &batch, NULL, &err), 0);
    double t_insert = now_s() - t0;
    free(rows);
    free(dests);

    pthread_t th[CLAIM_THREADS];
    struct claimer cl[CLAIM_THREADS];
    t0 = now_s();
    for (int i = 0; i < CLAIM_THREADS; i++) {
        memset(&cl[i], 0, sizeof(cl[i]));
        cl[i].path = path;
        snprintf(cl[i].name, sizeof(cl[i].name), "w%d", i);
        cl[i].ids = xcalloc(CLAIM_JOBS, sizeof(int64_t));
        pthread_create(&th[i], NULL, claim_thread, &cl[i]);
    }
    for (int i = 0; i < CLAIM_THREADS; i++)
        pthread_join(th[i], NULL);
    double t_claim = now_s() - t0;

    unsigned char *seen = xcalloc(CLAIM_JOBS + 1, 1);
    size_t total = 0, dup = 0, out_of_range = 0;
    int errors = 0;
    for (int i = 0; i < CLAIM_THREADS; i++) {
        errors += cl[i].errors;
        total += cl[i].n;
        for (size_t k = 0; k < cl[i].n; k++) {
            int64_t id = cl[i].ids[k];
            if (id < 1 || id > CLAIM_JOBS)
                out_of_range++;
            else if (seen[id]++)
                dup++;
        }
        free(cl[i].ids);
    }
    free(seen);
    T_ASSERT_INT(errors, 0);
    T_ASSERT_INT(total, CLAIM_JOBS);
    T_ASSERT_INT(dup, 0);
    T_ASSERT_INT(out_of_range, 0);
    int64_t counts[5];
    T_ASSERT_INT(db_job_count_by_state(db, counts, &err), 0);
    T_ASSERT_INT(counts[DB_JOB_PENDING], 0);
    T_ASSERT_INT(counts[DB_JOB_DONE], CLAIM_JOBS / 2);
    T_ASSERT_INT(counts[DB_JOB_RUNNING], CLAIM_JOBS / 2);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM jobs WHERE attempts != 0 OR started_at IS NULL"),
                 0);
    printf("  # inserted %d jobs in one batch in %.3f s; %d threads claimed them (and finished "
           "half) in %.3f s = %.0f claims/s; per thread:",
           CLAIM_JOBS, t_insert, CLAIM_THREADS, t_claim, CLAIM_JOBS / t_claim);
    for (int i = 0; i < CLAIM_THREADS; i++)
        printf(" %zu", cl[i].n);
    printf("\n");
    db_close(&db);
    free(path);
    T_END();
}

struct copies_seen {
    int n, verify;
    uint32_t floor;
};

static int copies_cb(void *ctx, const struct db_msgmap_row *r)
{
    struct copies_seen *c = ctx;
    c->n++;
    c->verify += r->verify;
    if (r->verify && (!c->floor || r->first_uidnext < c->floor))
        c->floor = r->first_uidnext;
    return 0;
}

static void test_folder_state_options(void)
{
    T_BEGIN("folder states: kept across passes, forgotten when the job's options change");
    struct db *db = open_fresh("fstate.db");
    struct mb_err err;
    int64_t job = insert_job(db, 1);
    struct db_folder_state fs = {.uidvalidity = 7,
                                 .uidnext = 40,
                                 .messages = 39,
                                 .highestmodseq = 1234,
                                 .dest_uidvalidity = 9,
                                 .counted = 39,
                                 .bytes = 5000,
                                 .dest_count = -1};
    struct db_folder_state got;
    int found = 0;
    T_ASSERT_INT(db_folder_put(db, job, "INBOX", &fs, &err), 0);
    T_ASSERT_INT(db_folder_get(db, job, "INBOX", &got, &found, &err), 0);
    T_ASSERT(found && got.uidnext == 40 && got.highestmodseq == 1234 && got.counted == 39);
    T_ASSERT_INT(db_jobopt_set(db, job, "{\"since\":\"2024-01-01\"}", &err), 0);
    T_ASSERT_INT(db_folder_get(db, job, "INBOX", &got, &found, &err), 0);
    T_ASSERT(!found);
    /* the same options again: the states stay */
    T_ASSERT_INT(db_folder_put(db, job, "INBOX", &fs, &err), 0);
    T_ASSERT_INT(db_jobopt_set(db, job, "{\"since\":\"2024-01-01\"}", &err), 0);
    T_ASSERT_INT(db_folder_get(db, job, "INBOX", &got, &found, &err), 0);
    T_ASSERT(found);
    T_ASSERT_INT(db_folder_forget(db, job, "INBOX", &err), 0);
    T_ASSERT_INT(db_folder_get(db, job, "INBOX", &got, &found, &err), 0);
    T_ASSERT(!found);
    db_close(&db);
    T_END();
}

static void test_take_pair(void)
{
    T_BEGIN("jobs: `migrate` never takes a job beside a live job of the same mailbox pair");
    struct db *db = open_fresh("pair.db");
    struct mb_err err;
    struct db_job j1, j2;
    int64_t a = insert_job(db, 1), b = insert_job(db, 1), c = insert_job(db, 2);
    T_ASSERT_INT(db_job_take(db, a, "w1", 0, &j1, &err), 1);
    db_job_fini(&j1);
    /* b is the same pair as a (running, fresh heartbeat): refused; c is another pair */
    T_ASSERT_INT(db_job_take(db, b, "w2", 0, &j2, &err), 0);
    T_ASSERT_INT(db_job_take(db, c, "w2", 0, &j2, &err), 1);
    db_job_fini(&j2);
    /* a's owner silent for more than a minute: b may go */
    char sql[128];
    snprintf(sql, sizeof(sql),
             "UPDATE jobs SET heartbeat_at = heartbeat_at - 120 WHERE id = %lld RETURNING 0",
             (long long)a);
    T_ASSERT(scalar(db, sql) == 0);
    T_ASSERT_INT(db_job_take(db, b, "w2", 0, &j2, &err), 1);
    db_job_fini(&j2);
    db_close(&db);
    T_END();
}

static void test_msgmap_unsettled(void)
{
    T_BEGIN("msgmap: a row re-armed while in flight is unsettled until a late reconciliation");
    struct db *db = open_fresh("settle.db");
    struct mb_err err;
    int64_t job = insert_job(db, 1);
    struct db_msg msgs[3] = {
        {1, 10, 0, NULL, NULL}, {2, 20, 0, NULL, NULL}, {3, 30, 0, NULL, NULL}};
    unsigned char h[32];
    memset(h, 0x5a, sizeof(h));
    struct db_msgmap_window w1 = {"INBOX", 7, 100, 1000};
    T_ASSERT_INT(db_msgmap_mark_inflight(db, job, "INBOX", 1, msgs, 3, &w1, &err), 0);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM msgmap WHERE verify = 1"), 0);
    T_ASSERT_INT(scalar(db, "SELECT min(first_uidnext) FROM msgmap"), 100);
    /* uid 1 answered; uids 2 and 3 lost with the connection; uid 3 then refused. */
    T_ASSERT_INT(db_msgmap_mark_copied(db, job, "INBOX", 1, 1, 100, h, &err), 0);
    struct db_msgmap_window w2 = {"INBOX", 7, 103, 2000};
    T_ASSERT_INT(db_msgmap_mark_inflight(db, job, "INBOX", 1, msgs + 1, 2, &w2, &err), 0);
    T_ASSERT_INT(scalar(db, "SELECT verify FROM msgmap WHERE uid = 2"), 1);
    T_ASSERT_INT(scalar(db, "SELECT settle_at FROM msgmap WHERE uid = 2"), 2000);
    T_ASSERT_INT(scalar(db, "SELECT first_uidnext FROM msgmap WHERE uid = 2"), 100);
    T_ASSERT_INT(scalar(db, "SELECT dest_uidnext FROM msgmap WHERE uid = 2"), 103);
    T_ASSERT_INT(db_msgmap_mark_copied(db, job, "INBOX", 1, 2, 104, h, &err), 0);
    T_ASSERT_INT(db_msgmap_mark_failed(db, job, "INBOX", 1, &msgs[2], "INBOX", "quota", &err), 0);
    int64_t n = 0, at = 0;
    T_ASSERT_INT(db_msgmap_unsettled(db, job, &n, &at, &err), 0);
    T_ASSERT(n == 2 && at == 2000);
    struct copies_seen cs = {0, 0, 0};
    T_ASSERT_INT(db_msgmap_copies(db, job, "INBOX", 7, copies_cb, &cs, &err), 0);
    T_ASSERT(cs.n == 2 && cs.verify == 1 && cs.floor == 100);
    /* A reconciliation that began before the settle time settles nothing. */
    T_ASSERT_INT(db_msgmap_settle(db, job, "INBOX", 7, 1999, &n, &err), 0);
    T_ASSERT_INT(n, 0);
    T_ASSERT_INT(db_msgmap_settle(db, job, "INBOX", 7, 2000, &n, &err), 0);
    T_ASSERT_INT(n, 2);
    T_ASSERT_INT(db_msgmap_unsettled(db, job, &n, &at, &err), 0);
    T_ASSERT_INT(n, 0);
    memset(&cs, 0, sizeof(cs));
    T_ASSERT_INT(db_msgmap_copies(db, job, "INBOX", 7, copies_cb, &cs, &err), 0);
    T_ASSERT_INT(cs.n, 0); /* nothing unsettled: nothing to reconcile */
    /* Re-armed into a recreated destination folder: not unsettled (the old one is gone). */
    struct db_msgmap_window w3 = {"INBOX", 7, 110, 3000};
    struct db_msgmap_window w4 = {"INBOX", 8, 1, 4000};
    T_ASSERT_INT(db_msgmap_mark_inflight(db, job, "INBOX", 1, msgs + 2, 1, &w3, &err), 0);
    T_ASSERT_INT(db_msgmap_mark_inflight(db, job, "INBOX", 1, msgs + 2, 1, &w4, &err), 0);
    T_ASSERT_INT(scalar(db, "SELECT verify FROM msgmap WHERE uid = 3"), 0);
    T_ASSERT_INT(scalar(db, "SELECT first_uidnext FROM msgmap WHERE uid = 3"), 1);
    db_close(&db);
    T_END();
}

/* Issue 15: a refused message's reason stored as a coded message (code and parameters beside
 * the English), read back for the report; cleared when the message is sent again or copied. */
struct reason_seen {
    int n;
    char error[300], code[64], params[1200];
    int code_null;
};

static int reason_cb(void *ctx, const struct db_msgmap_row *r)
{
    struct reason_seen *s = ctx;
    s->n++;
    snprintf(s->error, sizeof(s->error), "%s", r->error ? r->error : "");
    snprintf(s->code, sizeof(s->code), "%s", r->error_code ? r->error_code : "");
    snprintf(s->params, sizeof(s->params), "%s", r->error_params ? r->error_params : "");
    s->code_null = r->error_code == NULL && r->error_params == NULL;
    return 0;
}

static void read_reason(struct db *db, int64_t job, uint32_t uidvalidity, struct reason_seen *s)
{
    struct mb_err err;
    memset(s, 0, sizeof(*s));
    T_ASSERT_INT(db_msgmap_foreach(db, job, "INBOX", uidvalidity, -1, reason_cb, s, &err), 0);
    T_ASSERT_INT(s->n, 1);
}

static void test_msgmap_reason_codes(void)
{
    T_BEGIN("msgmap: a refused message's reason kept as code + params beside the English");
    struct db *db = open_fresh("reasons.db");
    struct mb_err err;
    int64_t job = insert_job(db, 1);
    T_ASSERT_INT(scalar(db, "SELECT count(*) FROM pragma_table_info('msgmap') "
                            "WHERE name IN ('error_code', 'error_params')"),
                 2);
    struct db_msg m = {7, 300000, 0, NULL, NULL};
    struct reason_seen s;

    /* A nested reason: the source did not deliver it, because its body was NIL. */
    struct mb_err inner, why;
    MB_MSG0(&inner, MB_EMSG, MSG_BODY_NIL);
    MB_MSG(&why, MB_EMSG, MSG_NOT_DELIVERED, &inner);
    T_ASSERT_INT(db_msgmap_mark_failed_msg(db, job, "INBOX", 1, &m, "INBOX", &why, &err), 0);
    read_reason(db, job, 1, &s);
    T_ASSERT_STR(s.error, "the source server did not deliver the message: the server returned "
                          "no body (NIL)");
    T_ASSERT_STR(s.code, "msg_not_delivered");
    T_ASSERT_STR(s.params, "{\"why\":{\"code\":\"msg_body_nil\",\"params\":{}}}");
    char *fr = msg_render_alloc(MSG_LANG_FR, s.code, s.params, s.error);
    T_ASSERT_STR(fr, "le serveur source n'a pas transmis le message : le serveur n'a renvoyé "
                     "aucun contenu (NIL)");
    free(fr);

    /* The destination's own words stay a parameter, as they are; a later refusal replaces the
     * reason whole. */
    MB_MSG(&why, MB_EMSG, MSG_DEST_REFUSED_SAID, "NO [LIMIT] Mail size is too large");
    T_ASSERT_INT(db_msgmap_mark_failed_msg(db, job, "INBOX", 1, &m, "INBOX", &why, &err), 0);
    read_reason(db, job, 1, &s);
    T_ASSERT_STR(s.error, "refused by the destination: NO [LIMIT] Mail size is too large");
    T_ASSERT_STR(s.code, "msg_dest_refused_said");
    fr = msg_render_alloc(MSG_LANG_FR, s.code, s.params, s.error);
    T_ASSERT_STR(fr, "refusé par la destination : NO [LIMIT] Mail size is too large");
    free(fr);

    /* Sent again: the row is in flight, no reason left; then copied. */
    struct db_msgmap_window w = {"INBOX", 9, 100, 0};
    T_ASSERT_INT(db_msgmap_mark_inflight(db, job, "INBOX", 1, &m, 1, &w, &err), 0);
    read_reason(db, job, 1, &s);
    T_ASSERT(s.code_null && s.error[0] == '\0');
    MB_MSG(&why, MB_EMSG, MSG_OVER_APPENDLIMIT, 300000ULL, 100000ULL);
    T_ASSERT_INT(db_msgmap_mark_failed_msg(db, job, "INBOX", 1, &m, "INBOX", &why, &err), 0);
    read_reason(db, job, 1, &s);
    T_ASSERT_STR(s.code, "msg_over_appendlimit");
    T_ASSERT_STR(s.params, "{\"size\":300000,\"max\":100000}");
    T_ASSERT_INT(db_msgmap_mark_inflight(db, job, "INBOX", 1, &m, 1, &w, &err), 0);
    T_ASSERT_INT(db_msgmap_mark_copied(db, job, "INBOX", 1, 7, 100, NULL, &err), 0);
    read_reason(db, job, 1, &s);
    T_ASSERT(s.code_null && s.error[0] == '\0');

    /* A reason without a code (mb_err_set): code "text", its words as the parameter. */
    struct db_msg m2 = {8, 10, 0, NULL, NULL};
    mb_err_set(&why, MB_EMSG, "invalid INTERNALDATE");
    T_ASSERT_INT(db_msgmap_mark_failed_msg(db, job, "INBOX", 2, &m2, NULL, &why, &err), 0);
    read_reason(db, job, 2, &s);
    T_ASSERT_STR(s.code, "text");
    T_ASSERT_STR(s.params, "{\"text\":\"invalid INTERNALDATE\"}");
    /* The text-only call (and rows written before codes): no code at all. */
    T_ASSERT_INT(db_msgmap_mark_failed(db, job, "INBOX", 2, &m2, NULL, "quota", &err), 0);
    read_reason(db, job, 2, &s);
    T_ASSERT(s.code_null && strcmp(s.error, "quota") == 0);
    /* No reason: refused. */
    struct mb_err empty;
    memset(&empty, 0, sizeof(empty));
    T_ASSERT_INT(db_msgmap_mark_failed_msg(db, job, "INBOX", 2, &m2, NULL, &empty, &err),
                 MB_ECONFIG);
    db_close(&db);
    T_END();
}

/* Issue 16: nodes, leases, takeover and the fence of job writes. */
static void test_nodes_fence(void)
{
    T_BEGIN("nodes: lease, heartbeat, takeover of a dead node's jobs, fenced job writes");
    char *path = db_path("nodes.db");
    struct db *n1 = NULL, *n2 = NULL;
    struct mb_err err;
    T_ASSERT_INT(db_open(path, &n1, &err), 0);
    T_ASSERT_INT(db_open(path, &n2, &err), 0);
    struct db_node a = {.id = (char *)"node-a",
                        .hostname = (char *)"h1",
                        .pid = 1,
                        .version = (char *)"v",
                        .workers = 2};
    struct db_node b = a;
    b.id = (char *)"node-b";
    T_ASSERT_INT(db_node_register(n1, &a, 60, &err), 0);
    T_ASSERT_INT(db_node_register(n2, &b, 60, &err), 0);
    T_ASSERT_INT(db_set_node(n1, "node-a", &err), 0);
    T_ASSERT_INT(db_set_node(n2, "node-b", &err), 0);
    int64_t j1 = insert_job(n1, 1), j2 = insert_job(n1, 2);
    struct db_job job;
    T_ASSERT_INT(db_job_claim(n1, "w1", 0, &job, &err), 1);
    T_ASSERT_INT(job.id, j1);
    db_job_fini(&job);
    /* The per-host cap counts running jobs of the store: job 2 has another host. */
    T_ASSERT_INT(db_job_claim(n2, "w1", 1, &job, &err), 1);
    T_ASSERT_INT(job.id, j2);
    db_job_fini(&job);
    T_ASSERT_INT(scalar(n1, "SELECT count(*) FROM jobs WHERE node = 'node-a'"), 1);
    /* Node b cannot write node a's job. */
    struct db_job_counters cnt = {1, 0, 10, 5, 0, 0, 100, 50};
    T_ASSERT_INT(db_job_progress_update(n2, j1, &cnt, "INBOX", NULL, &err), MB_ECANCELED);
    T_ASSERT_INT(db_job_finish(n2, j1, DB_JOB_DONE, NULL, NULL, &err), MB_ECANCELED);
    T_ASSERT_INT(db_job_defer(n2, j1, 0, "x", &err), MB_ECANCELED);
    T_ASSERT_INT(db_job_progress_update(n1, j1, &cnt, "INBOX", NULL, &err), 0);
    /* Node a stops renewing: after its lease, b takes its job over; a's writes are refused
     * and its heartbeat says the lease is lost. */
    int64_t taken = -1;
    T_ASSERT_INT(db_node_reap(n2, db_now(), &taken, &err), 0);
    T_ASSERT_INT(taken, 0);
    T_ASSERT_INT(db_node_reap(n2, db_now() + 61, &taken, &err), 0);
    T_ASSERT_INT(taken, 2); /* a's job, and b's own (b's lease ran out too at now + 61) */
    T_ASSERT_INT(scalar(n1, "SELECT count(*) FROM jobs WHERE state = 'pending' AND node IS NULL"),
                 2);
    T_ASSERT_INT(scalar(n1, "SELECT count(*) FROM job_log WHERE text LIKE 'taken over: node %'"),
                 2);
    T_ASSERT_INT(db_job_progress_update(n1, j1, &cnt, "INBOX", NULL, &err), MB_ENOTFOUND);
    T_ASSERT_INT(db_node_heartbeat(n1, "node-a", 60, 0, &err), MB_ECANCELED);
    /* b claims it again; a, registered again under a new id, still cannot write it. */
    T_ASSERT_INT(db_node_register(n2, &b, 60, &err), 0);
    T_ASSERT_INT(db_job_claim(n2, "w2", 0, &job, &err), 1);
    T_ASSERT_INT(job.id, j1);
    db_job_fini(&job);
    T_ASSERT_INT(db_set_node(n1, "node-a2", &err), 0);
    T_ASSERT_INT(db_job_finish(n1, j1, DB_JOB_FAILED, "stale", NULL, &err), MB_ECANCELED);
    T_ASSERT_INT(db_job_finish(n2, j1, DB_JOB_DONE, NULL, NULL, &err), 0);
    struct db_node *v = NULL;
    size_t n = 0;
    T_ASSERT_INT(db_node_heartbeat(n2, "node-b", 60, 1, &err), 0);
    T_ASSERT_INT(db_node_list(n1, &v, &n, &err), 0);
    T_ASSERT_INT(n, 1);
    T_ASSERT(n == 1 && strcmp(v[0].id, "node-b") == 0 && v[0].running == 1);
    db_node_list_free(v, n);
    db_close(&n1);
    db_close(&n2);
    free(path);
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {
        test_job_messages,
        test_msgmap_unsettled,
        test_msgmap_reason_codes,
        test_take_pair,
        test_folder_state_options,
        test_open_migrate,
        test_concurrent_open,
        test_transactions,
        test_stmt_cache,
        test_job_insert_get,
        test_job_insert_many,
        test_job_list,
        test_job_lifecycle,
        test_batches,
        test_tokens_webhooks,
        test_requeue_running,
        test_log,
        test_msgmap,
        test_users,
        test_sessions,
        test_cascades,
        test_concurrent_claim,
        test_nodes_fence,
        NULL,
    };
    return t_run(fns);
}
