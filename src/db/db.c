/* db: connection setup, schema migrations, transactions and shared statement helpers. */
#include "db/db.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/secret.h"
#include "db/db_node.h"
#include "base/xalloc.h"
#include "db/db_internal.h"
#include "db/db_migrations.h"
#include "db/db_pg.h"

int64_t db_now(void)
{
    return (int64_t)time(NULL);
}

/* Sleep 1-8 ms, varied so that retrying threads do not stay in step. */
static void busy_pause(unsigned *seed)
{
    struct timespec ts = {0, (long)(1 + rand_r(seed) % 8) * 1000000L};
    nanosleep(&ts, NULL);
}

int db_fail(struct db *db, struct mb_err *err, int rc, const char *what)
{
    if (db && db->pg)
        return mb_err_setsys(err, MB_EIO, rc, "database postgresql: %s: %s", what,
                             db->pg_err[0] ? db->pg_err : PQerrorMessage(db->pg));
    return mb_err_setsys(err, MB_EIO, rc, "database %s: %s: %s", db ? db->path : "", what,
                         db && db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
}

int db_step_first(struct db *db, db_stmt *st)
{
    int64_t start = 0;
    unsigned seed = (unsigned)(uintptr_t)st;
    for (;;) {
        int rc = db_step(st);
        if ((rc & 0xff) != SQLITE_BUSY || db_in_transaction(db))
            return rc;
        if (!start)
            start = mb_mono_ms();
        else if (mb_mono_ms() - start > DB_BUSY_DEADLINE_MS)
            return rc;
        db_reset(st);
        busy_pause(&seed);
    }
}

/* Wait until the connection's socket is ready (POLLIN, and POLLOUT when out), or the deadline
 * (monotonic ms): 1 ready, 0 deadline passed, -1 error. */
static int pg_wait(PGconn *c, int out, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mb_mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {PQsocket(c), (short)(POLLIN | (out ? POLLOUT : 0)), 0};
        if (p.fd < 0)
            return -1;
        int r = poll(&p, 1, left > 1000 ? 1000 : (int)left);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

PGresult *db_pg_exec(struct db *db, const char *sql, int nparams, const Oid *types,
                     const char *const *vals, const int *lens, const int *fmts)
{
    PGconn *c = db->pg;
    int sent = nparams < 0 ? PQsendQuery(c, sql)
                           : PQsendQueryParams(c, sql, nparams, types, vals, lens, fmts, 0);
    if (!sent) {
        snprintf(db->pg_err, sizeof(db->pg_err), "%s", PQerrorMessage(c));
        db->pg_err[strcspn(db->pg_err, "\n")] = '\0';
        return NULL;
    }
    int64_t deadline = mb_mono_ms() + (int64_t)(db_pg_timeout() + 2) * 1000;
    int timed_out = 0, f;
    while (!timed_out && (f = PQflush(c)) > 0) {
        int w = pg_wait(c, 1, deadline);
        if (w == 0)
            timed_out = 1;
        else if (w < 0 || !PQconsumeInput(c))
            break;
    }
    PGresult *last = NULL;
    while (!timed_out) {
        while (PQisBusy(c)) {
            int w = pg_wait(c, 0, deadline);
            if (w == 0) {
                timed_out = 1;
                break;
            }
            if (w < 0 || !PQconsumeInput(c))
                break; /* the connection broke: PQgetResult says so */
        }
        if (timed_out)
            break;
        PGresult *r = PQgetResult(c);
        if (!r)
            break;
        if (last && PQresultStatus(last) == PGRES_FATAL_ERROR) {
            PQclear(r); /* the first error is the one to tell */
            continue;
        }
        PQclear(last);
        last = r;
        ExecStatusType t = PQresultStatus(r);
        if (t == PGRES_COPY_IN || t == PGRES_COPY_OUT || t == PGRES_COPY_BOTH
            || PQstatus(c) == CONNECTION_BAD)
            break;
    }
    if (!timed_out)
        return last;
    /* No answer: shut the link (libpq then sees it closed), so that nothing of this call can
     * be answered later on this connection. */
    PQclear(last);
    shutdown(PQsocket(c), SHUT_RDWR);
    for (int i = 0; i < 16 && PQconsumeInput(c); i++)
        ;
    PGresult *r;
    for (int i = 0; i < 16 && (r = PQgetResult(c)) != NULL; i++)
        PQclear(r);
    snprintf(db->pg_err, sizeof(db->pg_err),
             "PostgreSQL did not answer within %d s ([store] timeout)", db_pg_timeout() + 2);
    return NULL;
}

/* A statement whose result does not matter (ROLLBACK...), under the same deadline. */
static void pg_quick(struct db *db, const char *sql)
{
    char keep[sizeof(db->pg_err)]; /* the message of the failure that led here */
    memcpy(keep, db->pg_err, sizeof(keep));
    PQclear(db_pg_exec(db, sql, -1, NULL, NULL, NULL, NULL));
    memcpy(db->pg_err, keep, sizeof(keep));
}

int db_apply_node(struct db *db, struct mb_err *err)
{
    if (!db->pg)
        return 0;
    const char *v[1] = {db->node ? db->node : ""};
    PGresult *r =
        db_pg_exec(db, "SELECT set_config('migrabox.node', $1, false)", 1, NULL, v, NULL, NULL);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        if (r) {
            snprintf(db->pg_err, sizeof(db->pg_err), "%s", PQerrorMessage(db->pg));
            db->pg_err[strcspn(db->pg_err, "\n")] = '\0';
        }
        rc = db_fail(db, err, SQLITE_ERROR, "set the node");
    }
    PQclear(r);
    return rc;
}

int db_pg_ensure(struct db *db)
{
    if (PQstatus(db->pg) == CONNECTION_OK)
        return 0;
    if (db->pg_tx) {
        snprintf(db->pg_err, sizeof(db->pg_err), "connection lost in a transaction");
        return MB_EIO;
    }
    PQreset(db->pg);
    if (PQstatus(db->pg) != CONNECTION_OK) {
        snprintf(db->pg_err, sizeof(db->pg_err), "%s", PQerrorMessage(db->pg));
        db->pg_err[strcspn(db->pg_err, "\n")] = '\0';
        return MB_EIO;
    }
    char session[400];
    pg_quick(db, db_pg_session_sql(session, sizeof(session)));
    return db_apply_node(db, NULL);
}

/* PostgreSQL: run sql (no parameters, may hold several statements). */
static int pg_exec(struct db *db, const char *sql, struct mb_err *err)
{
    int begin = strncmp(sql, "BEGIN", 5) == 0;
    if (begin)
        db->pg_tx = 0; /* a new transaction may start on a new connection */
    if (db_pg_ensure(db) != 0)
        return db_fail(db, err, SQLITE_IOERR, "reconnect");
    PGresult *r = db_pg_exec(db, sql, -1, NULL, NULL, NULL, NULL);
    ExecStatusType t = PQresultStatus(r);
    int rc = 0;
    if (begin && (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK))
        db->pg_tx = 1;
    else if (begin && PQtransactionStatus(db->pg) != PQTRANS_IDLE)
        pg_quick(db, "ROLLBACK"); /* BEGIN ran, the lock wait failed: undo it */
    if (strcmp(sql, "COMMIT") == 0 && t == PGRES_COMMAND_OK)
        db->pg_tx = 0;
    if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK) {
        const char *m = r ? PQresultErrorMessage(r) : "";
        if (r) {
            snprintf(db->pg_err, sizeof(db->pg_err), "%s", m && *m ? m : PQerrorMessage(db->pg));
            db->pg_err[strcspn(db->pg_err, "\n")] = '\0';
        }
        rc = db_fail(db, err, SQLITE_ERROR, sql);
    }
    PQclear(r);
    return rc;
}

int db_exec(struct db *db, const char *sql, struct mb_err *err)
{
    if (db->pg)
        return pg_exec(db, sql, err);
    db_stmt *st;
    int rc = db_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    int s = db_step_first(db, st);
    while (s == SQLITE_ROW)
        s = db_step(st);
    rc = s == SQLITE_DONE ? 0 : db_fail(db, err, s, sql);
    db_finalize(st);
    return rc;
}

/* ---- transactions ---- */

int db_in_transaction(const struct db *db)
{
    if (db->pg && PQstatus(db->pg) != CONNECTION_OK)
        return db->pg_tx; /* a broken connection: in a transaction if one was begun */
    if (db->pg)
        return PQtransactionStatus(db->pg) != PQTRANS_IDLE;
    return !sqlite3_get_autocommit(db->h);
}

/* A write transaction. SQLite: BEGIN IMMEDIATE takes the database's one write lock. PostgreSQL:
 * the same exclusion across every node, a transaction-scoped advisory lock, so that the
 * read-then-write transactions of the db_* files keep SQLite's serial semantics. */
#define PG_BEGIN_WRITE "BEGIN; SELECT pg_advisory_xact_lock(1835494756)"

int db_begin_immediate(struct db *db, struct mb_err *err)
{
    if (db_in_transaction(db))
        return mb_err_set(err, MB_EIO, "database: a transaction is already open");
    return db_exec(db, db->pg ? PG_BEGIN_WRITE : "BEGIN IMMEDIATE", err);
}

int db_begin_job(struct db *db, struct mb_err *err)
{
    if (!db->pg)
        return db_begin_immediate(db, err);
    if (db_in_transaction(db))
        return mb_err_set(err, MB_EIO, "database: a transaction is already open");
    return db_exec(db, "BEGIN", err);
}

int db_commit(struct db *db, struct mb_err *err)
{
    if (!db_in_transaction(db))
        return mb_err_set(err, MB_EIO, "database: commit without a transaction");
    int rc = db_exec(db, "COMMIT", err);
    if (rc < 0)
        db_rollback(db);
    return rc;
}

void db_rollback(struct db *db)
{
    if (db && db->pg)
        db->pg_tx = 0;
    if (db && db->pg && db_in_transaction(db))
        pg_quick(db, "ROLLBACK");
    else if (db && db->h && db_in_transaction(db))
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

int db_tx_begin(struct db *db, int *outer_r, struct mb_err *err)
{
    *outer_r = !db_in_transaction(db);
    return db_exec(db,
                   !*outer_r ? "SAVEPOINT db_tx"
                   : db->pg  ? PG_BEGIN_WRITE
                             : "BEGIN IMMEDIATE",
                   err);
}

int db_tx_begin_job(struct db *db, int *outer_r, struct mb_err *err)
{
    *outer_r = !db_in_transaction(db);
    return db_exec(db, !*outer_r ? "SAVEPOINT db_tx" : db->pg ? "BEGIN" : "BEGIN IMMEDIATE", err);
}

int db_tx_end(struct db *db, int outer, int rc, struct mb_err *err)
{
    if (!db_in_transaction(db)) /* SQLite already rolled back (I/O error, disk full...) */
        return rc < 0 ? rc : mb_err_set(err, MB_EIO, "database: transaction lost");
    if (rc == 0)
        return outer ? db_commit(db, err) : db_exec(db, "RELEASE db_tx", err);
    if (outer)
        db_rollback(db);
    else if (db->pg)
        pg_quick(db, "ROLLBACK TO db_tx; RELEASE db_tx");
    else
        sqlite3_exec(db->h, "ROLLBACK TO db_tx; RELEASE db_tx", NULL, NULL, NULL);
    return rc;
}

int db_read_begin(struct db *db, int *opened_r, struct mb_err *err)
{
    *opened_r = 0;
    if (db_in_transaction(db))
        return 0;
    int rc = db_exec(db, db->pg ? "BEGIN ISOLATION LEVEL REPEATABLE READ" : "BEGIN", err);
    if (rc == 0)
        *opened_r = 1;
    return rc;
}

void db_read_end(struct db *db, int opened)
{
    if (opened && db->pg)
        db->pg_tx = 0;
    if (opened && db_in_transaction(db) && db->pg)
        pg_quick(db, "COMMIT");
    else if (opened && db_in_transaction(db))
        sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL);
}

/* ---- migrations ---- */

static int read_user_version(struct db *db, int *v_r, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, db->pg ? "SELECT version FROM migrabox_schema" : "PRAGMA user_version",
                        &st, err);
    if (rc < 0)
        return rc;
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW) {
        *v_r = db_col_int(st, 0);
        rc = 0;
    } else {
        rc = db_fail(db, err, s, "read the schema version");
    }
    db_finalize(st);
    return rc;
}

int db_schema_version(struct db *db, int *version_r, struct mb_err *err)
{
    return read_user_version(db, version_r, err);
}

int db_schema_latest(void)
{
    return (int)db_migrations_count;
}

int db_is_postgresql(const struct db *db)
{
    return db->pg != NULL;
}

int db_store_now(struct db *db, int64_t *now_r, struct mb_err *err)
{
    *now_r = 0;
    if (!db->pg) {
        *now_r = db_now();
        return 0;
    }
    db_stmt *st;
    int rc = db_prepare(db, "SELECT extract(epoch FROM clock_timestamp())::bigint", &st, err);
    if (rc < 0)
        return rc;
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW)
        *now_r = db_col_int64(st, 0);
    else
        rc = db_fail(db, err, s, "store clock");
    db_finalize(st);
    return rc;
}

static int migrate(struct db *db, struct mb_err *err)
{
    int latest = (int)db_migrations_count;
    for (;;) {
        int v, rc = read_user_version(db, &v, err);
        if (rc < 0)
            return rc;
        if (v > latest)
            return mb_err_set(err, MB_ECONFIG,
                              "database %s: schema version %d is newer than this program "
                              "knows (%d); use a newer migrabox",
                              db->path, v, latest);
        if (v == latest)
            return 0;
        rc = db_begin_immediate(db, err);
        if (rc < 0)
            return rc;
        /* Another connection may have applied it meanwhile: read again under the lock. */
        rc = read_user_version(db, &v, err);
        if (rc == 0 && v < latest) {
            const struct db_migration *m = &db_migrations[v];
            if (m->sql) {
                char *msg = NULL;
                int s = sqlite3_exec(db->h, m->sql, NULL, NULL, &msg);
                if (s != SQLITE_OK)
                    rc = mb_err_setsys(err, MB_EIO, s, "database %s: migration %d (%s): %s",
                                       db->path, v + 1, m->name, msg ? msg : sqlite3_errstr(s));
                sqlite3_free(msg);
            }
            if (rc == 0 && m->fn)
                rc = m->fn(db, err);
            if (rc == 0) {
                char sql[64];
                snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
                rc = db_exec(db, sql, err);
            }
        }
        if (rc < 0) {
            db_rollback(db);
            return rc;
        }
        rc = db_commit(db, err);
        if (rc < 0)
            return rc;
    }
}

/* ---- open / close ---- */

static int pragma_expect(struct db *db, const char *sql, const char *want, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW) {
        const char *got = (const char *)db_col_text(st, 0);
        if (want && (!got || strcmp(got, want) != 0))
            rc = mb_err_set(err, MB_EIO, "database %s: \"%s\" gave \"%s\", expected \"%s\"",
                            db->path, sql, got ? got : "", want);
    } else if (s != SQLITE_DONE) {
        rc = db_fail(db, err, s, sql);
    }
    db_finalize(st);
    return rc;
}

/* ---- the PostgreSQL store ---- */

static pthread_mutex_t pg_lock = PTHREAD_MUTEX_INITIALIZER;
static char *pg_url, *pg_password, *pg_ca;
static size_t pg_password_len;
static int pg_migrated;

void db_use_postgresql(const char *url, const char *password, size_t password_len,
                       const char *ca_file)
{
    pthread_mutex_lock(&pg_lock);
    free(pg_url);
    free(pg_ca);
    if (pg_password) {
        secret_wipe(pg_password, pg_password_len);
        free(pg_password);
    }
    pg_url = url ? xstrdup(url) : NULL;
    pg_ca = ca_file ? xstrdup(ca_file) : NULL;
    pg_password = password && password_len ? xstrndup(password, password_len) : NULL;
    pg_password_len = pg_password ? password_len : 0;
    pg_migrated = 0;
    pthread_mutex_unlock(&pg_lock);
}

static int pg_open(struct db **db_r, struct mb_err *err)
{
    pthread_mutex_lock(&pg_lock);
    struct db_pg *pg = NULL;
    int rc = db_pg_connect(pg_url, pg_password, pg_password_len, pg_ca, &pg, err);
    if (rc == 0 && !pg_migrated) {
        rc = db_pg_migrate(pg, NULL, err);
        pg_migrated = rc == 0;
    }
    pthread_mutex_unlock(&pg_lock);
    if (rc < 0) {
        db_pg_close(&pg);
        return rc;
    }
    struct db *db = xcalloc(1, sizeof(*db));
    db->path = xstrdup("postgresql");
    db->pg = db_pg_release(&pg);
    *db_r = db;
    return 0;
}

/* Before SQLite's first use: no memory statistics. With them on (SQLite's default), every
 * allocation SQLite makes takes one process-wide mutex, which every thread's connection then
 * waits on (the workers' and the web's); migrabox never reads them. */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;
static void sqlite_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int db_open(const char *path, struct db **db_r, struct mb_err *err)
{
    pthread_mutex_lock(&pg_lock);
    int use_pg = pg_url != NULL;
    pthread_mutex_unlock(&pg_lock);
    if (use_pg)
        return pg_open(db_r, err);
    if (!path || !*path || strlen(path) > DB_PATH_MAX)
        return mb_err_set(err, MB_ECONFIG, "database: bad path");
    /* Create the file 0600 ourselves: SQLite would use 0644 minus umask. */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd);
    } else if (errno != EEXIST) {
        int e = errno;
        return mb_err_setsys(err, e == ENOENT ? MB_ENOTFOUND : MB_EIO, e,
                             "database %s: cannot create: %s", path, strerror(e));
    }

    pthread_once(&sqlite_once, sqlite_setup);
    struct db *db = xcalloc(1, sizeof(*db));
    db->path = xstrdup(path);
    int rc = 0;
    int s = sqlite3_open_v2(path, &db->h,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (s != SQLITE_OK) {
        rc = mb_err_setsys(err, MB_EIO, s, "database %s: cannot open: %s", path,
                           db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(s));
        goto out;
    }
    sqlite3_extended_result_codes(db->h, 1);
    sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT_MS);
    if ((rc = pragma_expect(db, "PRAGMA journal_mode = WAL", "wal", err)) < 0
        || (rc = pragma_expect(db, "PRAGMA synchronous = NORMAL", NULL, err)) < 0
        || (rc = pragma_expect(db, "PRAGMA foreign_keys = ON", NULL, err)) < 0
        || (rc = pragma_expect(db, "PRAGMA foreign_keys", "1", err)) < 0
        || (rc = pragma_expect(db, "PRAGMA secure_delete = FAST", NULL, err)) < 0
        || (rc = pragma_expect(db, "PRAGMA trusted_schema = OFF", NULL, err)) < 0)
        goto out;
    rc = migrate(db, err);
out:
    if (rc < 0) {
        db_close(&db);
        return rc;
    }
    *db_r = db;
    return 0;
}

int db_open_again(struct db *db, struct db **db_r, struct mb_err *err)
{
    int rc = db_open(db->path, db_r, err);
    /* The same node's writes (the cluster's fence applies to every handle of a run). */
    if (rc == 0 && db->node && (rc = db_set_node(*db_r, db->node, err)) != 0)
        db_close(db_r);
    return rc;
}

void db_close(struct db **dbp)
{
    struct db *db = *dbp;
    if (!db)
        return;
    if (db->h || db->pg) {
        db_rollback(db);
        if (db->h) {
            db_stmt_cache_clear(db);
            sqlite3_close_v2(db->h);
        }
        if (db->pg)
            PQfinish(db->pg);
    }
    free(db->path);
    free(db->node);
    free(db);
    *dbp = NULL;
}

int db_checkpoint(struct db *db, struct mb_err *err)
{
    if (db->pg)
        return 0;
    int s = sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (s != SQLITE_OK)
        return db_fail(db, err, s, "checkpoint");
    return 0;
}
