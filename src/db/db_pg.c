/* db_pg: PostgreSQL store connection, schema migrations and the SQLite import (db_pg.h). */
#include "db/db_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pq/libpq-fe.h>

#include "base/buf.h"
#include "base/secret.h"
#include "base/xalloc.h"
#include "db/db_internal.h"
#include "db/db_pg_migrations.h"

/* Key of the advisory lock that serializes schema migrations of all nodes ("mgrb"). */
#define PG_MIGRATE_LOCK 0x6d677262
#define PG_COPY_CHUNK (256 * 1024)

struct db_pg {
    PGconn *c;
};

static int pg_timeout_s = 20; /* [store] timeout */

void db_pg_set_timeout(int seconds)
{
    pg_timeout_s = seconds < 2 ? 2 : seconds;
}

int db_pg_timeout(void)
{
    return pg_timeout_s;
}

const char *db_pg_session_sql(char *buf, size_t n)
{
    /* A transaction left idle longer than [store] timeout (15 s at most) is a node's that can
     * no longer reach the store (its own deadline gave up): ended, its locks released. */
    snprintf(buf, n,
             "SET lock_timeout = '%ds'; SET statement_timeout = '%ds'; "
             "SET idle_in_transaction_session_timeout = '%ds'; "
             "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; "
             "SET tcp_keepalives_count = 3; SET tcp_user_timeout = 10000",
             pg_timeout_s, pg_timeout_s, pg_timeout_s < 15 ? pg_timeout_s : 15);
    return buf;
}

const char *const db_pg_tables[] = {
    "accounts", "account_domains", "batches",    "auth_profiles", "jobs",  "job_log", "msgmap",
    "sessions", "webhook_outbox",  "api_tokens", "folder_state",  "nodes", NULL,
};

/* The tables whose key is an identity column "id". */
static const char *const id_tables[] = {
    "accounts", "batches", "auth_profiles", "jobs", "job_log", "webhook_outbox", "api_tokens", NULL,
};

/* libpq's messages end with a newline; one line for ours. */
static const char *pg_msg(PGconn *c, char *out, size_t n)
{
    snprintf(out, n, "%s", c ? PQerrorMessage(c) : "out of memory");
    size_t l = strlen(out);
    while (l && (out[l - 1] == '\n' || out[l - 1] == ' '))
        out[--l] = '\0';
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    return out;
}

static int pg_fail(struct db_pg *pg, struct mb_err *err, const char *what)
{
    char m[400];
    return mb_err_set(err, MB_EIO, "PostgreSQL: %s: %s", what,
                      pg_msg(pg ? pg->c : NULL, m, sizeof(m)));
}

/* Run sql (no parameters); 0 when it returns want (PGRES_COMMAND_OK or PGRES_TUPLES_OK). The
 * result goes to *res_r when res_r is given, else it is freed. */
static int pg_run(struct db_pg *pg, const char *sql, ExecStatusType want, PGresult **res_r,
                  struct mb_err *err)
{
    PGresult *r = PQexec(pg->c, sql);
    if (PQresultStatus(r) != want) {
        char m[400];
        const char *e = r ? PQresultErrorMessage(r) : "";
        snprintf(m, sizeof(m), "%s", e && *e ? e : PQerrorMessage(pg->c));
        size_t l = strlen(m);
        while (l && m[l - 1] == '\n')
            m[--l] = '\0';
        PQclear(r);
        return mb_err_set(err, MB_EIO, "PostgreSQL: %.60s: %s", sql, m);
    }
    if (res_r)
        *res_r = r;
    else
        PQclear(r);
    return 0;
}

/* Does the url set this connection keyword itself (as a URI parameter)? */
static int url_sets(const PQconninfoOption *opts, const char *kw)
{
    for (const PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, kw) == 0)
            return o->val != NULL && o->val[0] != '\0';
    return 0;
}

int db_pg_connect(const char *url, const char *password, size_t password_len, const char *ca_file,
                  struct db_pg **pg_r, struct mb_err *err)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    if (!opts) {
        int rc = mb_err_set(err, MB_ECONFIG, "PostgreSQL: [store] url: %s",
                            perr ? perr : "cannot be parsed");
        PQfreemem(perr);
        return rc;
    }
    /* Earlier keywords are overridden by what the url (dbname, expanded) says; the
     * password and the fixed ones after it override the url. */
    const char *kw[20], *val[20];
    int n = 0;
    char *pw = NULL;
    if (!url_sets(opts, "sslmode")) {
        kw[n] = "sslmode";
        val[n++] = "verify-full";
    }
    if (!url_sets(opts, "sslrootcert") && ca_file && *ca_file) {
        kw[n] = "sslrootcert";
        val[n++] = ca_file;
    }
    /* [store] timeout bounds the connection (and each statement: db_pg_session_sql, and the
     * deadline of db_pg_exec), unless the url says. */
    char ct[16], ut[24];
    snprintf(ct, sizeof(ct), "%d", pg_timeout_s);
    snprintf(ut, sizeof(ut), "%d", pg_timeout_s * 1000);
    if (!url_sets(opts, "connect_timeout")) {
        kw[n] = "connect_timeout";
        val[n++] = ct;
    }
    /* A store that stops answering (network partition) is noticed within seconds, not at
     * the kernel's TCP timeout: keepalives and a TCP user timeout, unless the url says. */
    const char *const tcp[][2] = {
        {"keepalives", "1"},       {"keepalives_idle", "5"}, {"keepalives_interval", "2"},
        {"keepalives_count", "3"}, {"tcp_user_timeout", ut},
    };
    for (size_t i = 0; i < sizeof(tcp) / sizeof(tcp[0]); i++)
        if (!url_sets(opts, tcp[i][0])) {
            kw[n] = tcp[i][0];
            val[n++] = tcp[i][1];
        }
    kw[n] = "application_name";
    val[n++] = "migrabox";
    kw[n] = "dbname";
    val[n++] = url;
    if (password && password_len) {
        pw = xstrndup(password, password_len);
        kw[n] = "password";
        val[n++] = pw;
    }
    kw[n] = "client_encoding";
    val[n++] = "UTF8";
    kw[n] = NULL;
    val[n] = NULL;
    PQconninfoFree(opts);

    struct db_pg *pg = xcalloc(1, sizeof(*pg));
    pg->c = PQconnectdbParams(kw, val, 1);
    if (pw) {
        secret_wipe(pw, password_len);
        free(pw);
    }
    if (!pg->c || PQstatus(pg->c) != CONNECTION_OK) {
        int rc = pg_fail(pg, err, "cannot connect");
        db_pg_close(&pg);
        return rc;
    }
    char session[400];
    int rc = pg_run(pg, db_pg_session_sql(session, sizeof(session)), PGRES_COMMAND_OK, NULL, err);
    if (rc < 0) {
        db_pg_close(&pg);
        return rc;
    }
    *pg_r = pg;
    return 0;
}

PGconn *db_pg_release(struct db_pg **pgp)
{
    PGconn *c = (*pgp)->c;
    free(*pgp);
    *pgp = NULL;
    return c;
}

void db_pg_close(struct db_pg **pgp)
{
    struct db_pg *pg = *pgp;
    if (!pg)
        return;
    if (pg->c)
        PQfinish(pg->c);
    free(pg);
    *pgp = NULL;
}

void db_pg_describe(struct db_pg *pg, char *out, size_t n)
{
    const char *proto = PQsslInUse(pg->c) ? PQsslAttribute(pg->c, "protocol") : NULL;
    const char *cipher = PQsslInUse(pg->c) ? PQsslAttribute(pg->c, "cipher") : NULL;
    const char *ver = PQparameterStatus(pg->c, "server_version");
    snprintf(out, n, "PostgreSQL %s, user %s, database %s on %s port %s, TLS %s%s%s",
             ver ? ver : "?", PQuser(pg->c), PQdb(pg->c), PQhost(pg->c), PQport(pg->c),
             proto ? proto : "none", cipher ? " " : "", cipher ? cipher : "");
}

/* ---- schema ---- */

int db_pg_schema_latest(void)
{
    return (int)db_pg_migrations_count;
}

static int read_version(struct db_pg *pg, int *v_r, struct mb_err *err)
{
    PGresult *r;
    int rc =
        pg_run(pg, "SELECT CASE WHEN to_regclass('migrabox_schema') IS NULL THEN -1 ELSE 0 END",
               PGRES_TUPLES_OK, &r, err);
    if (rc < 0)
        return rc;
    int exists = atoi(PQgetvalue(r, 0, 0)) == 0;
    PQclear(r);
    if (!exists) {
        *v_r = 0;
        return 0;
    }
    rc = pg_run(pg, "SELECT version FROM migrabox_schema", PGRES_TUPLES_OK, &r, err);
    if (rc < 0)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return mb_err_set(err, MB_EIO, "PostgreSQL: migrabox_schema must hold one row");
    }
    *v_r = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

int db_pg_schema_version(struct db_pg *pg, int *version_r, struct mb_err *err)
{
    return read_version(pg, version_r, err);
}

int db_pg_migrate(struct db_pg *pg, int *applied_r, struct mb_err *err)
{
    int latest = (int)db_pg_migrations_count, v = 0, applied = 0;
    if (applied_r)
        *applied_r = 0;
    int rc = pg_run(pg, "BEGIN", PGRES_COMMAND_OK, NULL, err);
    if (rc < 0)
        return rc;
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%d)", PG_MIGRATE_LOCK);
    rc = pg_run(pg, sql, PGRES_TUPLES_OK, NULL, err);
    if (rc == 0)
        rc = read_version(pg, &v, err);
    if (rc == 0 && v > latest)
        rc = mb_err_set(err, MB_ECONFIG,
                        "PostgreSQL: schema version %d is newer than this program knows (%d); "
                        "use a newer migrabox",
                        v, latest);
    if (rc == 0 && v < latest && v == 0)
        rc = pg_run(pg,
                    "CREATE TABLE IF NOT EXISTS migrabox_schema (version INTEGER NOT NULL);"
                    "DELETE FROM migrabox_schema; INSERT INTO migrabox_schema VALUES (0)",
                    PGRES_COMMAND_OK, NULL, err);
    for (; rc == 0 && v < latest; v++) {
        const struct db_pg_migration *m = &db_pg_migrations[v];
        PGresult *r = PQexec(pg->c, m->sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            char msg[400];
            rc = mb_err_set(err, MB_EIO, "PostgreSQL: migration %d (%s): %s", v + 1, m->name,
                            pg_msg(pg->c, msg, sizeof(msg)));
        }
        PQclear(r);
        if (rc == 0) {
            snprintf(sql, sizeof(sql), "UPDATE migrabox_schema SET version = %d", v + 1);
            rc = pg_run(pg, sql, PGRES_COMMAND_OK, NULL, err);
        }
        applied += rc == 0;
    }
    if (rc < 0) {
        PQclear(PQexec(pg->c, "ROLLBACK"));
        return rc;
    }
    rc = pg_run(pg, "COMMIT", PGRES_COMMAND_OK, NULL, err);
    if (rc == 0 && applied_r)
        *applied_r = applied;
    return rc;
}

int db_pg_count(struct db_pg *pg, const char *table, int64_t *n_r, struct mb_err *err)
{
    char *sql = xasprintf("SELECT count(*) FROM %s", table);
    PGresult *r;
    int rc = pg_run(pg, sql, PGRES_TUPLES_OK, &r, err);
    free(sql);
    if (rc < 0)
        return rc;
    *n_r = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

/* ---- SQLite -> PostgreSQL ---- */

/* COPY's text format: backslash, tab, newline and carriage return escaped. */
static int copy_text(struct buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *e = NULL;
        switch (s[i]) {
        case '\\': e = "\\\\"; break;
        case '\t': e = "\\t"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\0': return -1; /* PostgreSQL's text cannot hold NUL */
        default: break;
        }
        if ((e ? buf_puts(b, e) : buf_putc(b, s[i])) < 0)
            return -1;
    }
    return 0;
}

/* bytea in hex, its backslash escaped for COPY: \\x0a1b... */
static int copy_bytea(struct buf *b, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (buf_puts(b, "\\\\x") < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char h[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
        if (buf_append(b, h, 2) < 0)
            return -1;
    }
    return 0;
}

static int copy_flush(struct db_pg *pg, struct buf *b, struct mb_err *err)
{
    if (b->len && PQputCopyData(pg->c, b->data, (int)b->len) != 1)
        return pg_fail(pg, err, "COPY");
    buf_reset(b);
    return 0;
}

/* The bytea columns of a table in PostgreSQL. */
static int pg_bytea_cols(struct db_pg *pg, const char *table, char ***cols_r, size_t *n_r,
                         struct mb_err *err)
{
    const char *params[1] = {table};
    PGresult *r = PQexecParams(pg->c,
                               "SELECT column_name FROM information_schema.columns "
                               "WHERE table_schema = current_schema() AND table_name = $1 "
                               "AND data_type = 'bytea'",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return pg_fail(pg, err, "information_schema");
    }
    size_t n = (size_t)PQntuples(r);
    char **cols = xcalloc(n + 1, sizeof(*cols));
    for (size_t i = 0; i < n; i++)
        cols[i] = xstrdup(PQgetvalue(r, (int)i, 0));
    PQclear(r);
    *cols_r = cols;
    *n_r = n;
    return 0;
}

static int copy_table(struct db_pg *pg, struct db *db, const char *table, int64_t *rows_r,
                      struct mb_err *err)
{
    char **bytea = NULL;
    size_t n_bytea = 0;
    int rc = pg_bytea_cols(pg, table, &bytea, &n_bytea, err);
    if (rc < 0)
        return rc;
    char *sel = xasprintf("SELECT * FROM %s", table);
    db_stmt *st = NULL;
    rc = db_prepare(db, sel, &st, err);
    free(sel);
    struct buf b;
    buf_init(&b, (size_t)1 << 30);
    int ncol = 0, in_copy = 0;
    int *is_bytea = NULL;
    int64_t rows = 0;
    if (rc < 0)
        goto out;
    ncol = db_col_count(st);
    is_bytea = xcalloc((size_t)ncol + 1, sizeof(*is_bytea));
    buf_printf(&b, "COPY %s (", table);
    for (int c = 0; c < ncol; c++) {
        const char *name = db_col_name(st, c);
        buf_printf(&b, "%s\"%s\"", c ? ", " : "", name);
        for (size_t i = 0; i < n_bytea; i++)
            if (strcmp(bytea[i], name) == 0)
                is_bytea[c] = 1;
    }
    buf_puts(&b, ") FROM STDIN");
    rc = pg_run(pg, buf_cstr(&b), PGRES_COPY_IN, NULL, err);
    buf_reset(&b);
    if (rc < 0)
        goto out;
    in_copy = 1;
    int s;
    while ((s = rows ? db_step(st) : db_step_first(db, st)) == SQLITE_ROW) {
        for (int c = 0; c < ncol && rc == 0; c++) {
            if (c && buf_putc(&b, '\t') < 0)
                rc = -1;
            int t = db_col_type(st, c);
            if (rc < 0 || t == SQLITE_NULL) {
                if (rc == 0 && buf_puts(&b, "\\N") < 0)
                    rc = -1;
            } else if (is_bytea[c]) {
                const void *p = db_col_blob(st, c);
                rc = copy_bytea(&b, p, (size_t)db_col_bytes(st, c));
            } else if (t == SQLITE_BLOB) {
                rc = mb_err_set(err, MB_EIO, "table %s, column %s: binary value in a text column",
                                table, db_col_name(st, c));
            } else if (t == SQLITE_INTEGER) {
                rc = buf_printf(&b, "%lld", (long long)db_col_int64(st, c)) < 0 ? -1 : 0;
            } else if (t == SQLITE_FLOAT) {
                rc = buf_printf(&b, "%.17g", db_col_double(st, c)) < 0 ? -1 : 0;
            } else {
                const char *p = (const char *)db_col_text(st, c);
                rc = copy_text(&b, p, (size_t)db_col_bytes(st, c));
                if (rc < 0)
                    rc = mb_err_set(err, MB_EIO, "table %s, column %s: text with a NUL byte", table,
                                    db_col_name(st, c));
            }
        }
        if (rc == 0 && buf_putc(&b, '\n') < 0)
            rc = -1;
        if (rc == -1)
            rc = mb_err_set(err, MB_ETOOBIG, "table %s: row too large", table);
        if (rc < 0)
            goto out;
        rows++;
        if (b.len >= PG_COPY_CHUNK && (rc = copy_flush(pg, &b, err)) < 0)
            goto out;
    }
    if (s != SQLITE_DONE) {
        rc = db_fail(db, err, s, table);
        goto out;
    }
    if ((rc = copy_flush(pg, &b, err)) < 0)
        goto out;
    in_copy = 0;
    if (PQputCopyEnd(pg->c, NULL) != 1) {
        rc = pg_fail(pg, err, "COPY end");
        goto out;
    }
    PGresult *r = PQgetResult(pg->c);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        char m[400];
        const char *e = PQresultErrorMessage(r);
        snprintf(m, sizeof(m), "%s", e ? e : "");
        m[strcspn(m, "\n")] = '\0';
        rc = mb_err_set(err, MB_EIO, "PostgreSQL: COPY %s: %s", table, m);
    }
    PQclear(r);
    while ((r = PQgetResult(pg->c)) != NULL)
        PQclear(r);
    *rows_r = rows;
out:
    if (in_copy) {
        PQputCopyEnd(pg->c, "migrabox: import aborted");
        PGresult *left;
        while ((left = PQgetResult(pg->c)) != NULL)
            PQclear(left);
    }
    db_finalize(st);
    buf_fini(&b);
    free(is_bytea);
    for (size_t i = 0; i < n_bytea; i++)
        free(bytea[i]);
    free(bytea);
    return rc;
}

int db_pg_import_sqlite(struct db_pg *pg, struct db *db, int64_t *counts_r, struct mb_err *err)
{
    int v = 0, rc = read_version(pg, &v, err);
    if (rc < 0)
        return rc;
    if (v != db_pg_schema_latest())
        return mb_err_set(err, MB_ECONFIG,
                          "PostgreSQL: schema version %d, expected %d (run the migrations first)",
                          v, db_pg_schema_latest());
    int sv = 0;
    if ((rc = db_schema_version(db, &sv, err)) < 0)
        return rc;
    if (sv != db_schema_latest())
        return mb_err_set(err, MB_ECONFIG, "SQLite store: schema version %d, expected %d", sv,
                          db_schema_latest());
    /* The copy of a large store takes longer than [store] timeout: no statement timeout. */
    if ((rc = pg_run(pg, "SET statement_timeout = 0; BEGIN", PGRES_COMMAND_OK, NULL, err)) < 0)
        return rc;
    /* No node may write while the rows move in: the tables are locked for the transaction. */
    struct buf b;
    buf_init(&b, 4096);
    buf_puts(&b, "LOCK TABLE ");
    for (size_t i = 0; db_pg_tables[i]; i++)
        buf_printf(&b, "%s%s", i ? ", " : "", db_pg_tables[i]);
    buf_puts(&b, " IN EXCLUSIVE MODE");
    rc = pg_run(pg, buf_cstr(&b), PGRES_COMMAND_OK, NULL, err);
    buf_fini(&b);
    for (size_t i = 0; rc == 0 && db_pg_tables[i]; i++) {
        int64_t n = 0;
        rc = db_pg_count(pg, db_pg_tables[i], &n, err);
        if (rc == 0 && n != 0)
            rc = mb_err_set(err, MB_ECONFIG,
                            "PostgreSQL: table %s already holds %lld rows: the store must be empty",
                            db_pg_tables[i], (long long)n);
    }
    int opened = 0;
    if (rc == 0)
        rc = db_read_begin(db, &opened, err);
    for (size_t i = 0; rc == 0 && db_pg_tables[i]; i++) {
        int64_t rows = 0, got = -1;
        rc = copy_table(pg, db, db_pg_tables[i], &rows, err);
        if (rc == 0)
            rc = db_pg_count(pg, db_pg_tables[i], &got, err);
        if (rc == 0 && got != rows)
            rc = mb_err_set(err, MB_EIO, "PostgreSQL: table %s: %lld rows copied, %lld present",
                            db_pg_tables[i], (long long)rows, (long long)got);
        if (counts_r)
            counts_r[i] = rows;
    }
    db_read_end(db, opened);
    /* Identity columns continue after the highest id copied. */
    for (size_t i = 0; rc == 0 && id_tables[i]; i++) {
        char *sql = xasprintf("SELECT setval(pg_get_serial_sequence('%s', 'id'), "
                              "COALESCE((SELECT max(id) FROM %s), 0) + 1, false)",
                              id_tables[i], id_tables[i]);
        rc = pg_run(pg, sql, PGRES_TUPLES_OK, NULL, err);
        free(sql);
    }
    /* Jobs the stopped appliance left running were interrupted: back to the queue, as a
     * restart of that appliance would have done (no node would ever take them over). */
    if (rc == 0)
        rc = pg_run(pg,
                    "INSERT INTO job_log (job_id, ts, level, text) SELECT id, "
                    "extract(epoch FROM now())::bigint, 'warn', 'interrupted by the move to "
                    "PostgreSQL; queued again, resuming where it stopped' FROM jobs "
                    "WHERE state = 'running';"
                    "UPDATE jobs SET state = 'pending', worker = NULL, node = NULL, "
                    "heartbeat_at = NULL, not_before = 0 WHERE state = 'running';"
                    "DELETE FROM nodes",
                    PGRES_COMMAND_OK, NULL, err);
    if (rc < 0) {
        PQclear(PQexec(pg->c, "ROLLBACK"));
        return rc;
    }
    return pg_run(pg, "COMMIT", PGRES_COMMAND_OK, NULL, err);
}
