/* db_internal: what the db_*.c files share (module-private; other modules use db.h and the
 * per-table headers). The helpers are defined in db.c. */
#ifndef MB_DB_INTERNAL_H
#define MB_DB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <pq/libpq-fe.h>
#include <sqlite3.h>

#include "base/mb_err.h"
#include "db/db.h"

/* SQLite: prepared statements kept for reuse, least recently used first (db_stmt.c). */
#define DB_STMT_CACHE 32

/* One connection: SQLite (h) or PostgreSQL (pg), never both. */
struct db {
    sqlite3 *h;
    sqlite3_stmt *cache[DB_STMT_CACHE];
    int n_cached;
    PGconn *pg;
    char *path;       /* SQLite file, or "postgresql" */
    int64_t changes;  /* PostgreSQL: rows changed by the last statement */
    char pg_err[256]; /* PostgreSQL: message of the last failed statement */
    char *node;       /* the node this connection writes for (db_set_node), or NULL */
    int pg_tx;        /* PostgreSQL: a transaction was begun (a broken connection is then
                         never silently replaced: the transaction fails) */
};

/* PostgreSQL: the settings of every session (at connect and after a reconnect), into buf.
 * A statement or a lock wait ends after [store] timeout (statement_timeout, lock_timeout);
 * the server itself notices a node it can no longer reach (network partition: no RST, no
 * FIN) within seconds, not at its 2-hour TCP keepalive: TCP keepalives and user timeout on
 * its side; and a transaction left idle (its client gone) is ended, releasing its locks,
 * after [store] timeout, 15 s at most (write transactions do no network I/O but the
 * store's). */
const char *db_pg_session_sql(char *buf, size_t n);
/* [store] timeout in seconds (db_pg_set_timeout). */
int db_pg_timeout(void);
/* PostgreSQL: run sql with a deadline on this side too ([store] timeout + 2 s): a store that
 * stops answering without closing the link (a silent partition, a black hole) makes the call
 * fail, never hang. nparams < 0: sql without parameters, may hold several statements (as
 * PQexec); else as PQexecParams (text results). Returns the last result, as PQexec; NULL when
 * the deadline passed or the query could not be sent, with db->pg_err set (the connection is
 * then shut: the next call outside a transaction reconnects). */
PGresult *db_pg_exec(struct db *db, const char *sql, int nparams, const Oid *types,
                     const char *const *vals, const int *lens, const int *fmts);

/* PostgreSQL: tell the server this connection's node (the message map's fence). SQLite: 0. */
int db_apply_node(struct db *db, struct mb_err *err);
/* PostgreSQL: reconnect a broken connection, only outside a transaction (db->pg_tx == 0);
 * 0 or MB_EIO. */
int db_pg_ensure(struct db *db);

/* A prepared statement of either backend (db_stmt.c). The result codes are SQLite's. */
typedef struct db_stmt db_stmt;

/* Longest text we store from outside (logins, host names, folder names...). */
#define DB_TEXT_MAX 4096

/* Set err from the connection's last error: MB_EIO "database: <what>: <sqlite message>". */
int db_fail(struct db *db, struct mb_err *err, int rc, const char *what);

/* SQLite: a statement whose SQL text was prepared before on this connection and finalized
 * since is taken from the connection's cache instead of being parsed again; db_finalize
 * resets it, clears its bindings and keeps it (the least recently used beyond
 * DB_STMT_CACHE is finalized). */
int db_prepare(struct db *db, const char *sql, db_stmt **st_r, struct mb_err *err);
void db_finalize(db_stmt *st);
/* Finalize the statements cached on db (before closing it). */
void db_stmt_cache_clear(struct db *db);
void db_reset(db_stmt *st);
void db_clear_bindings(db_stmt *st);
int db_bind_count(db_stmt *st);
int db_step(db_stmt *st);
/* First step of a statement, retried on SQLITE_BUSY (PostgreSQL: serialization failure,
 * deadlock, lock timeout) with the statement reset in between, when no explicit transaction
 * is open, until DB_BUSY_DEADLINE_MS. Returns the sqlite code. Later steps of the same
 * statement use db_step. */
int db_step_first(struct db *db, db_stmt *st);
/* First step of an INSERT ... RETURNING id: *id_r = the new row's id; returns SQLITE_DONE
 * when the row was inserted, else the error code. */
int db_step_id(struct db *db, db_stmt *st, int64_t *id_r);
/* Rows changed by the last INSERT/UPDATE/DELETE of this connection. */
int64_t db_changes(struct db *db);
/* The SQLite statement (NULL on PostgreSQL), for SQLite-only code. */
sqlite3_stmt *db_stmt_sqlite(db_stmt *st);
/* Prepare, run to completion, finalize: for statements without parameters or rows. */
int db_exec(struct db *db, const char *sql, struct mb_err *err);

/* A write transaction that nests: BEGIN IMMEDIATE when none is open, else a SAVEPOINT.
 * *outer_r tells which; pass it to db_tx_end, which commits/releases (rc == 0) or rolls back
 * (rc < 0) and returns rc, or the commit error. */
int db_tx_begin(struct db *db, int *outer_r, struct mb_err *err);
int db_tx_end(struct db *db, int outer, int rc, struct mb_err *err);
/* db_tx_begin for one job's own rows: on PostgreSQL without the store-wide lock (db.h,
 * db_begin_job). */
int db_tx_begin_job(struct db *db, int *outer_r, struct mb_err *err);
/* A read transaction (BEGIN DEFERRED) when none is open, so several SELECTs see one
 * snapshot; db_read_end closes it. Both are no-ops inside a transaction. */
int db_read_begin(struct db *db, int *opened_r, struct mb_err *err);
void db_read_end(struct db *db, int opened);

/* Bind helpers: NULL text binds SQL NULL. Values are copied. */
int db_bind_int64(db_stmt *st, int i, int64_t v);
int db_bind_int(db_stmt *st, int i, int v);
int db_bind_null(db_stmt *st, int i);
int db_bind_text(db_stmt *st, int i, const char *s);
int db_bind_blob(db_stmt *st, int i, const void *p, size_t n);
/* Columns of the current row (SQLite's conversions; PostgreSQL booleans read 1/0). */
int db_col_type(db_stmt *st, int i);
int64_t db_col_int64(db_stmt *st, int i);
int db_col_int(db_stmt *st, int i);
double db_col_double(db_stmt *st, int i);
const unsigned char *db_col_text(db_stmt *st, int i);
const void *db_col_blob(db_stmt *st, int i);
int db_col_bytes(db_stmt *st, int i);
int db_col_count(db_stmt *st);
const char *db_col_name(db_stmt *st, int i);
/* Column text as a fresh xstrdup'ed string, NULL for SQL NULL. */
char *db_col_strdup(db_stmt *st, int i);

/* PostgreSQL connection of db_pg.c handed over to a struct db (db_open). */
struct db_pg;
PGconn *db_pg_release(struct db_pg **pg);

int64_t db_now(void);

#endif
