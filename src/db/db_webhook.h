/* db_webhook: the outbox of webhook events ([server] webhook_url). An event is stored when it
 * happens (db_webhook_add) and POSTed by the scheduler of `migrabox serve` (jobs.c), which
 * removes it once delivered (db_webhook_done) or pushes it back (db_webhook_retry). Delivery
 * is at least once. Payloads never hold a secret. */
#ifndef MB_DB_WEBHOOK_H
#define MB_DB_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "base/mb_err.h"
#include "db/db.h"

struct db_webhook {
    int64_t id;
    int64_t attempts;
    char *payload;
};

int db_webhook_add(struct db *db, const char *payload, struct mb_err *err);
/* Up to max events due at now, oldest first: *v_r (free with db_webhook_free). */
int db_webhook_due(struct db *db, int64_t now, size_t max, struct db_webhook **v_r, size_t *n_r,
                   struct mb_err *err);
void db_webhook_free(struct db_webhook *v, size_t n);
int db_webhook_done(struct db *db, int64_t id, struct mb_err *err);
int db_webhook_retry(struct db *db, int64_t id, int64_t next_at, struct mb_err *err);

#endif
