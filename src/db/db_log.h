/* db_log: per-job log lines, shown in the job's detail page (GET /api/jobs/{id}/log).
 *
 * Lines are appended by the worker and read incrementally by id: a client remembers the last
 * id it saw and asks for what came after it. Lines are deleted with their job.
 * Never pass a secret in a log line.
 *
 * Ownership: db_log_list returns an array the caller frees with db_log_entries_free. */
#ifndef MB_DB_LOG_H
#define MB_DB_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "base/mb_err.h"
#include "db/db.h"

#define DB_LOG_TEXT_MAX 2000  /* longer lines are cut (at a UTF-8 boundary) */
#define DB_LOG_LIST_MAX 10000 /* most lines returned by one db_log_list */

enum db_log_level {
    DB_LOG_DEBUG,
    DB_LOG_INFO,
    DB_LOG_WARN,
    DB_LOG_ERROR,
};

struct db_log_entry {
    int64_t id; /* increasing; use as the cursor for the next call */
    int64_t job_id;
    int64_t ts; /* unix seconds */
    enum db_log_level level;
    char *text;   /* English */
    char *code;   /* msg/msgcat.def code, NULL for a text without one (shown as it is) */
    char *params; /* JSON object, NULL when code is NULL or the message has no parameters */
};

/* "debug", "info", "warn", "error". */
const char *db_log_level_name(enum db_log_level level);
/* "debug", "info", "warn", "error" -> the level; anything else is DB_LOG_INFO. */
enum db_log_level db_log_level_parse(const char *s);

/* Append a line to the job's log. Returns 0, MB_ENOTFOUND (no such job) or MB_EIO. */
int db_log_add(struct db *db, int64_t job_id, enum db_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Append a coded line (base/mb_err.h MB_MSG): its code and parameters, and its English text
 * in text. The engine's lines become readable in French once they come through here. Returns
 * 0, MB_ENOTFOUND (no such job) or MB_EIO. */
int db_log_add_msg(struct db *db, int64_t job_id, enum db_log_level level,
                   const struct mb_err *msg);

/* Lines of job_id with id > after_id, oldest first, at most limit (0 or more than
 * DB_LOG_LIST_MAX = DB_LOG_LIST_MAX). */
int db_log_list(struct db *db, int64_t job_id, int64_t after_id, size_t limit,
                struct db_log_entry **entries_r, size_t *n_r, struct mb_err *err);
void db_log_entries_free(struct db_log_entry **entries, size_t n);

#endif
