/* db_internal: what the db_*.c files share (module-private; other modules use db.h and the
 * per-table headers). The helpers are defined in db.c. */
#ifndef MB_DB_INTERNAL_H
#define MB_DB_INTERNAL_H

#include <stdint.h>

#include <sqlite3.h>

#include "base/mb_err.h"
#include "db/db.h"

struct db {
    sqlite3 *h;
    char *path;
};

/* Longest text we store from outside (logins, host names, folder names...). */
#define DB_TEXT_MAX 4096

/* Set err from the connection's last error: MB_EIO "database: <what>: <sqlite message>". */
int db_fail(struct db *db, struct mb_err *err, int rc, const char *what);

int db_prepare(struct db *db, const char *sql, sqlite3_stmt **st_r, struct mb_err *err);
/* First sqlite3_step of a statement, retried on SQLITE_BUSY (statement reset in between)
 * when no explicit transaction is open, until DB_BUSY_DEADLINE_MS. Returns the sqlite code.
 * Later steps of the same statement use sqlite3_step directly. */
int db_step_first(struct db *db, sqlite3_stmt *st);
/* Prepare, run to completion, finalize: for statements without parameters or rows. */
int db_exec(struct db *db, const char *sql, struct mb_err *err);

/* A write transaction that nests: BEGIN IMMEDIATE when none is open, else a SAVEPOINT.
 * *outer_r tells which; pass it to db_tx_end, which commits/releases (rc == 0) or rolls back
 * (rc < 0) and returns rc, or the commit error. */
int db_tx_begin(struct db *db, int *outer_r, struct mb_err *err);
int db_tx_end(struct db *db, int outer, int rc, struct mb_err *err);
/* A read transaction (BEGIN DEFERRED) when none is open, so several SELECTs see one
 * snapshot; db_read_end closes it. Both are no-ops inside a transaction. */
int db_read_begin(struct db *db, int *opened_r, struct mb_err *err);
void db_read_end(struct db *db, int opened);

/* Bind helpers: NULL text binds SQL NULL. Text is copied by SQLite (SQLITE_TRANSIENT). */
int db_bind_text(sqlite3_stmt *st, int i, const char *s);
int db_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n);
/* Column text as a fresh xstrdup'ed string, NULL for SQL NULL. */
char *db_col_strdup(sqlite3_stmt *st, int i);

int64_t db_now(void);

#endif
