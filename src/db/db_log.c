/* db_log: job_log table. */
#include "db/db_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "db/db_internal.h"
#include "msg/msgcat.h"

static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *db_log_level_name(enum db_log_level level)
{
    if ((int)level < 0 || (int)level > DB_LOG_ERROR)
        return "info";
    return level_names[level];
}

enum db_log_level db_log_level_parse(const char *s)
{
    for (int i = 0; s && i <= DB_LOG_ERROR; i++)
        if (strcmp(s, level_names[i]) == 0)
            return (enum db_log_level)i;
    return DB_LOG_INFO;
}

static int log_insert(struct db *db, int64_t job_id, enum db_log_level level, char *text,
                      const char *code, const char *params)
{
    size_t n = strlen(text);
    if (n > DB_LOG_TEXT_MAX) {
        /* Cut at DB_LOG_TEXT_MAX, moved back so that no UTF-8 sequence is split:
         * text[len] is the first byte dropped; while it continues a sequence, drop more. */
        size_t len = DB_LOG_TEXT_MAX;
        while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
            len--;
        text[len] = '\0';
    }
    db_stmt *st;
    int rc = db_prepare(db,
                        "INSERT INTO job_log (job_id, ts, level, text, code, params) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        &st, NULL);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, job_id);
    db_bind_int64(st, 2, db_now());
    db_bind_text(st, 3, db_log_level_name(level));
    db_bind_text(st, 4, text);
    db_bind_text(st, 5, code);
    db_bind_text(st, 6, params);
    int s = db_step_first(db, st);
    if (s == SQLITE_CONSTRAINT_FOREIGNKEY)
        rc = MB_ENOTFOUND;
    else if (s != SQLITE_DONE)
        rc = MB_EIO;
    db_finalize(st);
    return rc;
}

int db_log_add(struct db *db, int64_t job_id, enum db_log_level level, const char *fmt, ...)
{
    char text[DB_LOG_TEXT_MAX + 2]; /* one byte more than kept: see where the cut falls */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0)
        return MB_EIO;
    return log_insert(db, job_id, level, text, NULL, NULL);
}

int db_log_add_msg(struct db *db, int64_t job_id, enum db_log_level level, const struct mb_err *msg)
{
    char text[MB_ERR_LEN], params[MB_ERR_PARAMS_LEN + 64];
    snprintf(text, sizeof(text), "%s", msg->msg);
    const char *code = mb_err_code(msg);
    mb_err_params(msg, params, sizeof(params));
    if (strcmp(code, msgcat[MSG_TEXT].code) == 0)
        return log_insert(db, job_id, level, text, NULL, NULL);
    return log_insert(db, job_id, level, text, code, params);
}

void db_log_entries_free(struct db_log_entry **entries, size_t n)
{
    if (!*entries)
        return;
    for (size_t i = 0; i < n; i++) {
        free((*entries)[i].text);
        free((*entries)[i].code);
        free((*entries)[i].params);
    }
    free(*entries);
    *entries = NULL;
}

int db_log_list(struct db *db, int64_t job_id, int64_t after_id, size_t limit,
                struct db_log_entry **entries_r, size_t *n_r, struct mb_err *err)
{
    if (limit == 0 || limit > DB_LOG_LIST_MAX)
        limit = DB_LOG_LIST_MAX;
    db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT id, job_id, ts, level, text, code, params FROM job_log "
                        "WHERE job_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                        &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, job_id);
    db_bind_int64(st, 2, after_id);
    db_bind_int64(st, 3, (int64_t)limit);
    struct db_log_entry *v = NULL;
    size_t n = 0, cap = 0;
    int s;
    for (s = db_step_first(db, st); s == SQLITE_ROW; s = db_step(st)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            v = xrealloc(v, cap * sizeof(*v));
        }
        struct db_log_entry *e = &v[n++];
        e->id = db_col_int64(st, 0);
        e->job_id = db_col_int64(st, 1);
        e->ts = db_col_int64(st, 2);
        e->level = db_log_level_parse((const char *)db_col_text(st, 3));
        e->text = db_col_strdup(st, 4);
        if (!e->text)
            e->text = xstrdup("");
        e->code = db_col_strdup(st, 5);
        e->params = db_col_strdup(st, 6);
    }
    if (s != SQLITE_DONE) {
        rc = db_fail(db, err, s, "list log");
        db_finalize(st);
        db_log_entries_free(&v, n);
        return rc;
    }
    db_finalize(st);
    *entries_r = v;
    *n_r = n;
    return 0;
}
