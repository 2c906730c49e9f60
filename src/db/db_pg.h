/* db_pg: the PostgreSQL store ([store] backend = postgresql, issue 16): connection, versioned
 * schema, and the move of an SQLite appliance's data into it (`migrabox store migrate`).
 *
 * Connection. The [store] url is a libpq URI (postgresql://user@host:port/dbname?params).
 * TLS is verified by default: sslmode=verify-full (certificate chain up to [store] ca_file,
 * and the host name or IP address of the url in the certificate) unless the url names its own
 * sslmode; sslrootcert=[store] ca_file unless the url names its own. The password comes from
 * [store] password_file (or libpq's usual ~/.pgpass); it never appears in a message.
 *
 * Schema. The version is the one row of table migrabox_schema (the number of steps of
 * db_pg_migrations[] applied). db_pg_migrate applies the missing steps in one transaction
 * under a transaction-scoped advisory lock, so several nodes starting at once apply each step
 * exactly once and a failed step leaves nothing behind (PostgreSQL's DDL is transactional).
 * The tables are those of the SQLite store (db_migrations.c) with PostgreSQL types: INTEGER
 * columns are BIGINT, AUTOINCREMENT keys are identity columns, BLOB is BYTEA; booleans stay
 * integers 0/1 so that statements read the same on both backends. Like the SQLite list,
 * db_pg_migrations[] is append only.
 *
 * A struct db_pg is one connection: one thread at a time. */
#ifndef MB_DB_PG_H
#define MB_DB_PG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/mb_err.h"
#include "db/db.h"

struct db_pg;

/* Connect. password (len bytes, may be NULL) and ca_file (may be NULL: libpq's default) as
 * described above. Returns 0 or MB_EIO (cannot connect, TLS verification failed...) with
 * libpq's reason in err. */
int db_pg_connect(const char *url, const char *password, size_t password_len, const char *ca_file,
                  struct db_pg **pg_r, struct mb_err *err);
void db_pg_close(struct db_pg **pg);
/* [store] timeout (seconds, at least 2; default 20) for the connections made after the
 * call: connect_timeout, tcp_user_timeout, statement_timeout, lock_timeout, and the deadline
 * of each call on this side (that timeout + 2 s), unless the url sets libpq's own. */
void db_pg_set_timeout(int seconds);

/* Apply the missing schema steps. 0, MB_EIO, or MB_ECONFIG when the database's schema is newer
 * than this binary knows. *applied_r (may be NULL): how many steps this call applied. */
int db_pg_migrate(struct db_pg *pg, int *applied_r, struct mb_err *err);
int db_pg_schema_version(struct db_pg *pg, int *version_r, struct mb_err *err);
int db_pg_schema_latest(void);

/* One line about the connection: server version, user, database, host, port, TLS protocol
 * and cipher ("none" without TLS). */
void db_pg_describe(struct db_pg *pg, char *out, size_t n);

/* The tables, in an order where every referenced row comes first. */
extern const char *const db_pg_tables[];

/* Copy every row of every table of the SQLite store into the PostgreSQL store, whose schema
 * must be current and whose tables must all be empty (else MB_ECONFIG), in one transaction:
 * all or nothing. Identity sequences then continue after the highest copied id. counts_r
 * (may be NULL) receives the number of rows copied per table, in db_pg_tables order. Each
 * table's count is checked in PostgreSQL before the commit. Jobs left running by the stopped
 * appliance go back to pending (with a log line), and its node rows are not kept. */
int db_pg_import_sqlite(struct db_pg *pg, struct db *db, int64_t *counts_r, struct mb_err *err);

/* Rows of a table (for checks and tests): 0 or MB_EIO. */
int db_pg_count(struct db_pg *pg, const char *table, int64_t *n_r, struct mb_err *err);

#endif
