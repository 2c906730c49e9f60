/* db_stmt: one statement API over the two backends (db_internal.h). Each db_*.c file writes its
 * SQL once, in the dialect both SQLite and PostgreSQL accept (?N or ? placeholders, ON CONFLICT
 * ... DO NOTHING/UPDATE, RETURNING, coalesce(sum(x), 0), '\n' literals rather than char(10)),
 * and runs it through these functions. The result codes stay SQLite's (SQLITE_ROW,
 * SQLITE_DONE, SQLITE_CONSTRAINT_FOREIGNKEY...): PostgreSQL's SQLSTATEs are mapped onto them.
 *
 * PostgreSQL specifics, all here:
 *   - placeholders: ?N becomes $N, a bare ? the next number (SQLite's rule), outside quotes;
 *   - LIKE becomes ILIKE (SQLite's LIKE ignores ASCII case, PostgreSQL's does not);
 *   - parameters are sent typed (int8, text, bytea; a NULL untyped, which PostgreSQL infers
 *     from its use: write CAST(?1 AS TEXT) IS NULL where nothing else tells);
 *   - a statement runs (PQexecParams) at its first step; rows are then read from the result;
 *     a boolean result column reads as 1/0, a bytea column as its bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "db/db_internal.h"

#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_NUMERIC 1700
#define PG_PARAMS_MAX 999

struct db_stmt {
    struct db *db;
    sqlite3_stmt *s; /* SQLite */
    /* PostgreSQL */
    char *sql;
    int np;
    char **vals;
    int *lens, *fmts;
    unsigned *types;
    unsigned char refs[PG_PARAMS_MAX]; /* parameters the statement uses */
    PGresult *res;
    int row, nrows, ran;
    unsigned char **blobs; /* decoded bytea of the current row, per column */
    size_t *blob_lens;
    int nblobs;
};

/* ---- PostgreSQL SQL rewriting ---- */

static char *pg_rewrite(const char *sql, int *np_r, unsigned char *refs)
{
    struct buf b;
    buf_init(&b, (size_t)1 << 24);
    int next = 0, max = 0;
    const char *p = sql;
    while (*p) {
        if (*p == '\'' || *p == '"') {
            char q = *p;
            const char *e = strchr(p + 1, q);
            size_t n = e ? (size_t)(e - p) + 1 : strlen(p);
            buf_append(&b, p, n);
            p += n;
            continue;
        }
        if (*p == '?') {
            int n;
            p++;
            if (*p >= '0' && *p <= '9') {
                n = 0;
                while (*p >= '0' && *p <= '9')
                    n = n * 10 + (*p++ - '0');
            } else {
                n = max + 1;
            }
            if (n > max)
                max = n;
            if (n >= 1 && n <= PG_PARAMS_MAX)
                refs[n - 1] = 1;
            next = n;
            buf_printf(&b, "$%d", n);
            continue;
        }
        /* LIKE as a word, not already ILIKE */
        if ((p == sql || (p[-1] == ' ' || p[-1] == '(')) && strncmp(p, "LIKE ", 5) == 0) {
            buf_puts(&b, "ILIKE ");
            p += 5;
            continue;
        }
        buf_putc(&b, *p++);
    }
    (void)next;
    *np_r = max;
    return buf_take(&b, NULL);
}

/* ---- prepare / finalize ---- */

int db_prepare(struct db *db, const char *sql, db_stmt **st_r, struct mb_err *err)
{
    db_stmt *st = xcalloc(1, sizeof(*st));
    st->db = db;
    if (db->pg) {
        st->sql = pg_rewrite(sql, &st->np, st->refs);
        int n = st->np ? st->np : 1;
        st->vals = xcalloc((size_t)n, sizeof(*st->vals));
        st->lens = xcalloc((size_t)n, sizeof(*st->lens));
        st->fmts = xcalloc((size_t)n, sizeof(*st->fmts));
        st->types = xcalloc((size_t)n, sizeof(*st->types));
        *st_r = st;
        return 0;
    }
    for (int i = db->n_cached - 1; i >= 0; i--) {
        if (strcmp(sqlite3_sql(db->cache[i]), sql) == 0) {
            st->s = db->cache[i];
            memmove(&db->cache[i], &db->cache[i + 1],
                    (size_t)(db->n_cached - i - 1) * sizeof(db->cache[0]));
            db->n_cached--;
            *st_r = st;
            return 0;
        }
    }
    int rc = sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->s, NULL);
    if (rc != SQLITE_OK) {
        free(st);
        *st_r = NULL;
        return db_fail(db, err, rc, "prepare");
    }
    *st_r = st;
    return 0;
}

static void pg_clear_row(db_stmt *st)
{
    for (int i = 0; i < st->nblobs; i++) {
        if (st->blobs[i])
            PQfreemem(st->blobs[i]);
        st->blobs[i] = NULL;
    }
}

static void pg_clear_result(db_stmt *st)
{
    pg_clear_row(st);
    PQclear(st->res);
    st->res = NULL;
    st->ran = 0;
    st->row = -1;
    st->nrows = 0;
}

void db_finalize(db_stmt *st)
{
    if (!st)
        return;
    if (st->s) {
        /* Reset (ends its read or write of the database) and kept for the next prepare of
         * the same SQL. A statement SQLite could not prepare has no st->s. */
        struct db *db = st->db;
        sqlite3_reset(st->s);
        sqlite3_clear_bindings(st->s);
        if (db->n_cached == DB_STMT_CACHE) {
            sqlite3_finalize(db->cache[0]);
            memmove(&db->cache[0], &db->cache[1], (DB_STMT_CACHE - 1) * sizeof(db->cache[0]));
            db->n_cached--;
        }
        db->cache[db->n_cached++] = st->s;
    }
    if (st->db->pg) {
        pg_clear_result(st);
        for (int i = 0; i < st->np; i++)
            free(st->vals[i]);
        free(st->vals);
        free(st->lens);
        free(st->fmts);
        free(st->types);
        free(st->blobs);
        free(st->blob_lens);
        free(st->sql);
    }
    free(st);
}

void db_stmt_cache_clear(struct db *db)
{
    for (int i = 0; i < db->n_cached; i++)
        sqlite3_finalize(db->cache[i]);
    db->n_cached = 0;
}

void db_reset(db_stmt *st)
{
    if (st->s)
        sqlite3_reset(st->s);
    else
        pg_clear_result(st);
}

void db_clear_bindings(db_stmt *st)
{
    if (st->s) {
        sqlite3_clear_bindings(st->s);
        return;
    }
    for (int i = 0; i < st->np; i++) {
        free(st->vals[i]);
        st->vals[i] = NULL;
        st->types[i] = 0;
        st->lens[i] = 0;
        st->fmts[i] = 0;
    }
}

int db_bind_count(db_stmt *st)
{
    return st->s ? sqlite3_bind_parameter_count(st->s) : st->np;
}

/* ---- binding ---- */

static int pg_bind(db_stmt *st, int i, unsigned type, const void *p, size_t n, int binary)
{
    if (i < 1 || i > st->np)
        return SQLITE_RANGE;
    free(st->vals[i - 1]);
    st->vals[i - 1] = NULL;
    st->types[i - 1] = type;
    st->fmts[i - 1] = binary;
    st->lens[i - 1] = (int)n;
    if (p) {
        char *v = xmalloc(n + 1);
        memcpy(v, p, n);
        v[n] = '\0';
        st->vals[i - 1] = v;
    }
    return SQLITE_OK;
}

int db_bind_int64(db_stmt *st, int i, int64_t v)
{
    if (st->s)
        return sqlite3_bind_int64(st->s, i, v);
    char t[24];
    int n = snprintf(t, sizeof(t), "%lld", (long long)v);
    return pg_bind(st, i, OID_INT8, t, (size_t)n, 0);
}

int db_bind_int(db_stmt *st, int i, int v)
{
    return st->s ? sqlite3_bind_int(st->s, i, v) : db_bind_int64(st, i, v);
}

int db_bind_null(db_stmt *st, int i)
{
    return st->s ? sqlite3_bind_null(st->s, i) : pg_bind(st, i, 0, NULL, 0, 0);
}

int db_bind_text(db_stmt *st, int i, const char *s)
{
    if (!s)
        return db_bind_null(st, i);
    if (st->s)
        return sqlite3_bind_text(st->s, i, s, -1, SQLITE_TRANSIENT);
    return pg_bind(st, i, OID_TEXT, s, strlen(s), 0);
}

int db_bind_blob(db_stmt *st, int i, const void *p, size_t n)
{
    if (!p)
        return db_bind_null(st, i);
    if (st->s)
        return sqlite3_bind_blob64(st->s, i, p, n, SQLITE_TRANSIENT);
    return pg_bind(st, i, OID_BYTEA, p, n, 1);
}

/* ---- stepping ---- */

/* SQLSTATE -> the SQLite code the callers test. */
static int pg_code(const PGresult *r)
{
    const char *ss = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!ss)
        return SQLITE_IOERR;
    if (strcmp(ss, "23503") == 0)
        return SQLITE_CONSTRAINT_FOREIGNKEY;
    if (strcmp(ss, "23505") == 0)
        return SQLITE_CONSTRAINT_UNIQUE;
    if (strcmp(ss, "23514") == 0)
        return SQLITE_CONSTRAINT_CHECK;
    if (strcmp(ss, "23502") == 0)
        return SQLITE_CONSTRAINT_NOTNULL;
    if (strcmp(ss, "40001") == 0 || strcmp(ss, "40P01") == 0 || strcmp(ss, "55P03") == 0)
        return SQLITE_BUSY;
    if (strncmp(ss, "08", 2) == 0 || strncmp(ss, "57", 2) == 0)
        return SQLITE_IOERR;
    return SQLITE_ERROR;
}

static int pg_step(db_stmt *st)
{
    struct db *db = st->db;
    if (!st->ran) {
        if (PQstatus(db->pg) != CONNECTION_OK && db_pg_ensure(db) != 0) {
            snprintf(st->db->pg_err, sizeof(st->db->pg_err), "connection lost");
            return SQLITE_IOERR;
        }
        /* A parameter the statement does not use needs a type all the same. */
        for (int i = 0; i < st->np; i++)
            if (!st->refs[i] && !st->types[i])
                st->types[i] = OID_TEXT;
        st->res = db_pg_exec(db, st->sql, st->np, st->types, (const char *const *)st->vals,
                             st->lens, st->fmts);
        st->ran = 1;
        st->row = -1;
        if (!st->res)
            return SQLITE_IOERR; /* no answer in time (db->pg_err says so) */
        ExecStatusType t = PQresultStatus(st->res);
        if (t != PGRES_TUPLES_OK && t != PGRES_COMMAND_OK) {
            const char *m = st->res ? PQresultErrorMessage(st->res) : PQerrorMessage(db->pg);
            snprintf(db->pg_err, sizeof(db->pg_err), "%s", m && *m ? m : PQerrorMessage(db->pg));
            db->pg_err[strcspn(db->pg_err, "\n")] = '\0';
            int code = pg_code(st->res);
            PQclear(st->res);
            st->res = NULL;
            return code;
        }
        const char *ct = PQcmdTuples(st->res);
        db->changes = ct && *ct ? strtoll(ct, NULL, 10) : 0;
        st->nrows = t == PGRES_TUPLES_OK ? PQntuples(st->res) : 0;
        int nf = PQnfields(st->res);
        if (nf > st->nblobs) {
            st->blobs = xrealloc(st->blobs, (size_t)nf * sizeof(*st->blobs));
            st->blob_lens = xrealloc(st->blob_lens, (size_t)nf * sizeof(*st->blob_lens));
            for (int i = st->nblobs; i < nf; i++) {
                st->blobs[i] = NULL;
                st->blob_lens[i] = 0;
            }
            st->nblobs = nf;
        }
    }
    pg_clear_row(st);
    if (st->row + 1 < st->nrows) {
        st->row++;
        return SQLITE_ROW;
    }
    st->row = st->nrows;
    return SQLITE_DONE;
}

int db_step(db_stmt *st)
{
    return st->s ? sqlite3_step(st->s) : pg_step(st);
}

int64_t db_changes(struct db *db)
{
    return db->pg ? db->changes : sqlite3_changes(db->h);
}

/* ---- columns ---- */

static int pg_in_row(const db_stmt *st, int i)
{
    return st->res && st->row >= 0 && st->row < st->nrows && i >= 0 && i < PQnfields(st->res);
}

int db_col_type(db_stmt *st, int i)
{
    if (st->s)
        return sqlite3_column_type(st->s, i);
    if (!pg_in_row(st, i) || PQgetisnull(st->res, st->row, i))
        return SQLITE_NULL;
    switch (PQftype(st->res, i)) {
    case OID_BYTEA: return SQLITE_BLOB;
    case OID_BOOL:
    case OID_INT2:
    case OID_INT4:
    case OID_INT8: return SQLITE_INTEGER;
    case OID_FLOAT4:
    case OID_FLOAT8:
    case OID_NUMERIC: return SQLITE_FLOAT;
    default: return SQLITE_TEXT;
    }
}

int64_t db_col_int64(db_stmt *st, int i)
{
    if (st->s)
        return sqlite3_column_int64(st->s, i);
    if (!pg_in_row(st, i) || PQgetisnull(st->res, st->row, i))
        return 0;
    const char *v = PQgetvalue(st->res, st->row, i);
    if (PQftype(st->res, i) == OID_BOOL)
        return v[0] == 't';
    if (PQftype(st->res, i) == OID_NUMERIC || PQftype(st->res, i) == OID_FLOAT8
        || PQftype(st->res, i) == OID_FLOAT4)
        return (int64_t)strtod(v, NULL);
    return strtoll(v, NULL, 10);
}

int db_col_int(db_stmt *st, int i)
{
    return st->s ? sqlite3_column_int(st->s, i) : (int)db_col_int64(st, i);
}

double db_col_double(db_stmt *st, int i)
{
    if (st->s)
        return sqlite3_column_double(st->s, i);
    if (!pg_in_row(st, i) || PQgetisnull(st->res, st->row, i))
        return 0;
    return strtod(PQgetvalue(st->res, st->row, i), NULL);
}

const unsigned char *db_col_text(db_stmt *st, int i)
{
    if (st->s)
        return sqlite3_column_text(st->s, i);
    if (!pg_in_row(st, i) || PQgetisnull(st->res, st->row, i))
        return NULL;
    if (PQftype(st->res, i) == OID_BOOL)
        return (const unsigned char *)(PQgetvalue(st->res, st->row, i)[0] == 't' ? "1" : "0");
    return (const unsigned char *)PQgetvalue(st->res, st->row, i);
}

const void *db_col_blob(db_stmt *st, int i)
{
    if (st->s)
        return sqlite3_column_blob(st->s, i);
    if (!pg_in_row(st, i) || PQgetisnull(st->res, st->row, i))
        return NULL;
    if (PQftype(st->res, i) != OID_BYTEA)
        return PQgetvalue(st->res, st->row, i);
    if (!st->blobs[i]) {
        size_t n = 0;
        st->blobs[i] = PQunescapeBytea((const unsigned char *)PQgetvalue(st->res, st->row, i), &n);
        st->blob_lens[i] = n;
    }
    return st->blobs[i];
}

int db_col_bytes(db_stmt *st, int i)
{
    if (st->s)
        return sqlite3_column_bytes(st->s, i);
    if (!pg_in_row(st, i) || PQgetisnull(st->res, st->row, i))
        return 0;
    if (PQftype(st->res, i) == OID_BYTEA) {
        db_col_blob(st, i);
        return (int)st->blob_lens[i];
    }
    return PQgetlength(st->res, st->row, i);
}

int db_col_count(db_stmt *st)
{
    if (st->s)
        return sqlite3_column_count(st->s);
    return st->res ? PQnfields(st->res) : 0;
}

const char *db_col_name(db_stmt *st, int i)
{
    if (st->s)
        return sqlite3_column_name(st->s, i);
    return st->res ? PQfname(st->res, i) : NULL;
}

char *db_col_strdup(db_stmt *st, int i)
{
    const unsigned char *t = db_col_text(st, i);
    if (!t)
        return NULL;
    return xstrndup((const char *)t, (size_t)db_col_bytes(st, i));
}

sqlite3_stmt *db_stmt_sqlite(db_stmt *st)
{
    return st->s;
}

int db_step_id(struct db *db, db_stmt *st, int64_t *id_r)
{
    int s = db_step_first(db, st);
    if (s == SQLITE_ROW) {
        if (id_r)
            *id_r = db_col_int64(st, 0);
        s = db_step(st);
    }
    return s;
}
