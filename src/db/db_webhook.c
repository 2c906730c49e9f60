/* db_webhook: webhook_outbox table. See db_webhook.h. */
#include "db/db_webhook.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "db/db_internal.h"

/* Run sql with ?1 = a1, ?2 = a2 (integers) or ?2 = text when text is not NULL. */
static int exec2(struct db *db, const char *sql, int64_t a1, int64_t a2, const char *text,
                 const char *what, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, a1);
    if (text)
        db_bind_text(st, 2, text);
    else if (db_bind_count(st) >= 2)
        db_bind_int64(st, 2, a2);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, what);
    db_finalize(st);
    return rc;
}

int db_webhook_add(struct db *db, const char *payload, struct mb_err *err)
{
    return exec2(db, "INSERT INTO webhook_outbox (created_at, payload) VALUES (?1, ?2)", db_now(),
                 0, payload, "queue webhook", err);
}

int db_webhook_due(struct db *db, int64_t now, size_t max, struct db_webhook **v_r, size_t *n_r,
                   struct mb_err *err)
{
    *v_r = NULL;
    *n_r = 0;
    db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT id, attempts, payload FROM webhook_outbox WHERE next_at <= ?1 "
                        "ORDER BY id LIMIT ?2",
                        &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, now);
    db_bind_int64(st, 2, (int64_t)max);
    struct db_webhook *v = xcalloc(max ? max : 1, sizeof(*v));
    size_t n = 0;
    int s;
    for (s = db_step_first(db, st); s == SQLITE_ROW && n < max; s = db_step(st)) {
        v[n].id = db_col_int64(st, 0);
        v[n].attempts = db_col_int64(st, 1);
        v[n].payload = db_col_strdup(st, 2);
        n++;
    }
    db_finalize(st);
    if (s != SQLITE_DONE && s != SQLITE_ROW) {
        db_webhook_free(v, n);
        return db_fail(db, err, s, "due webhooks");
    }
    *v_r = v;
    *n_r = n;
    return 0;
}

void db_webhook_free(struct db_webhook *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].payload);
    free(v);
}

int db_webhook_done(struct db *db, int64_t id, struct mb_err *err)
{
    return exec2(db, "DELETE FROM webhook_outbox WHERE id = ?1", id, 0, NULL, "webhook done", err);
}

int db_webhook_retry(struct db *db, int64_t id, int64_t next_at, struct mb_err *err)
{
    return exec2(db,
                 "UPDATE webhook_outbox SET attempts = attempts + 1, next_at = ?2 WHERE id = ?1",
                 id, next_at, NULL, "webhook retry", err);
}
