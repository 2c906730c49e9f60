/* db: the SQLite store (jobs, per-job message map, logs, web accounts and sessions).
 *
 * Connections. One struct db per thread: every thread (HTTP handler thread, each worker)
 * calls db_open on the same path and uses only its own handle. A struct db must never be
 * used by two threads at once. The tables' APIs are in db_job.h, db_msgmap.h, db_log.h and
 * db_user.h.
 *
 * Settings chosen by db_open, and why:
 *   - journal_mode=WAL: readers never block the writer nor each other (the web UI lists jobs
 *     while workers write progress); one writer at a time.
 *   - synchronous=NORMAL: in WAL mode a commit is then safe against a crash of the process
 *     (kill -9) and never corrupts the database on power loss; only the last commits before
 *     an OS crash or power cut may be lost. That is enough for progress counters, logs and
 *     "copied" marks, and saves an fsync per message. The one record that must survive a
 *     power cut — the "in flight" intent written before APPENDs, see db_msgmap.h — is
 *     committed with synchronous=FULL (db_msgmap_mark_inflight), which also makes every
 *     earlier commit durable.
 *   - busy_timeout=DB_BUSY_TIMEOUT_MS (10 s): a writer waits for the lock instead of failing.
 *     Writes are single statements or BEGIN IMMEDIATE transactions, so SQLite's busy handler
 *     always applies (no read-to-write upgrade deadlock); on top of it a statement or BEGIN
 *     that still gets SQLITE_BUSY is retried until DB_BUSY_DEADLINE_MS.
 *   - foreign_keys=ON: deleting a job deletes its message map and log (ON DELETE CASCADE).
 *   - secure_delete=FAST: erased source-password ciphertexts are zeroed in the database pages.
 *   - the file is created mode 0600 (it holds password hashes and encrypted passwords);
 *     SQLite gives the -wal and -shm files the same mode.
 *
 * Schema migrations. The schema version is PRAGMA user_version = the number of steps
 * applied. db_open applies every missing step of db_migrations[] (db_migrations.c) in order,
 * each in its own BEGIN IMMEDIATE transaction together with its user_version bump, so a crash
 * never leaves a half-applied step, and two processes or threads opening at once apply each
 * step exactly once. A database whose version is newer than this binary knows is refused.
 * To change the schema: APPEND a step at the end of db_migrations[] — never edit, reorder or
 * remove a released step —, with plain SQL and/or a C function (struct db_migration below),
 * then add a test that opens a database of the previous version. See db_migrations.c.
 *
 * Errors: functions return 0 or a negative enum mb_errc (MB_EIO for SQLite failures, with
 * the SQLite message in err->msg; MB_ENOTFOUND, MB_ECONFIG, MB_ETOOBIG as documented per
 * function). No secret ever goes into err->msg.
 *
 * Ownership: db_open returns a handle the caller closes with db_close(&db) (accepts NULL,
 * sets the pointer to NULL). */
#ifndef MB_DB_H
#define MB_DB_H

#include <stdint.h>

#include "base/mb_err.h"

#define DB_BUSY_TIMEOUT_MS 10000
#define DB_BUSY_DEADLINE_MS 30000
#define DB_PATH_MAX 4096

struct db;

/* A C step of a migration, run inside the step's transaction after its SQL. */
typedef int db_migration_fn(struct db *db, struct mb_err *err);

struct db_migration {
    const char *name;    /* short description, shown in errors */
    const char *sql;     /* may be NULL; several statements allowed */
    db_migration_fn *fn; /* may be NULL */
};

/* Open (creating if needed) the database at path, configure the connection and bring the
 * schema up to date. Returns 0, MB_EIO (cannot open, not a database, migration failed) or
 * MB_ECONFIG (schema newer than this binary). */
int db_open(const char *path, struct db **db_r, struct mb_err *err);
/* Another handle of the same database as db, for another thread (a handle is used by one
 * thread at a time). Close it with db_close. */
int db_open_again(struct db *db, struct db **db_r, struct mb_err *err);
void db_close(struct db **db);

/* Explicit write transaction, e.g. to group several db_msgmap_mark_copied calls into one
 * commit. db_begin_immediate fails (MB_EIO) if a transaction is already open. Functions of
 * the db_* APIs that write several rows run inside it as savepoints. db_rollback is safe to
 * call when no transaction is open. */
int db_begin_immediate(struct db *db, struct mb_err *err);
/* A write transaction whose writes are one running job's own rows (its message map, written
 * only by the job's node: the fence). SQLite: BEGIN IMMEDIATE. PostgreSQL: a plain BEGIN,
 * without the store-wide lock that db_begin_immediate takes there (the read-then-write
 * transactions of accounts, batches, profiles, takeover...): the runs of all nodes record
 * their copies side by side. */
int db_begin_job(struct db *db, struct mb_err *err);
int db_commit(struct db *db, struct mb_err *err);
void db_rollback(struct db *db);
int db_in_transaction(const struct db *db);

/* The schema version of this open database / the version this binary produces. */
int db_schema_version(struct db *db, int *version_r, struct mb_err *err);
int db_schema_latest(void);

/* From now on, db_open of this process opens the PostgreSQL store at url (db_pg.h: TLS
 * verified...) instead of the SQLite file it is given; its schema is brought up to date at
 * the first open. NULL url: back to SQLite. Call before any thread opens a database. */
void db_use_postgresql(const char *url, const char *password, size_t password_len,
                       const char *ca_file);
/* 1 when db is a PostgreSQL connection. */
int db_is_postgresql(const struct db *db);
/* *now_r = Unix seconds by the store's clock: the PostgreSQL server's (so that the leases of
 * nodes do not depend on their own clocks), this machine's for SQLite. When PostgreSQL does
 * not answer (within [store] timeout + 2 s) it fails: lease decisions never fall back to the
 * node's own clock, and the caller learns at once that the store is out of reach. */
int db_store_now(struct db *db, int64_t *now_r, struct mb_err *err);

/* Run a checkpoint of the WAL into the database file (e.g. at shutdown). */
int db_checkpoint(struct db *db, struct mb_err *err);

#endif
