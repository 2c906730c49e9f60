/* db_node: nodes, leases and takeover (db_node.h). */
#include "db/db_node.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "db/db_internal.h"

void db_node_fini(struct db_node *n)
{
    if (!n)
        return;
    free(n->id);
    free(n->hostname);
    free(n->version);
    free(n->listen);
    memset(n, 0, sizeof(*n));
}

void db_node_list_free(struct db_node *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        db_node_fini(&v[i]);
    free(v);
}

int db_node_register(struct db *db, const struct db_node *n, int lease, struct mb_err *err)
{
    if (!n->id || !*n->id || strlen(n->id) > DB_NODE_ID_MAX)
        return mb_err_set(err, MB_ECONFIG, "bad node id");
    int64_t now;
    int rc = db_store_now(db, &now, err);
    if (rc < 0)
        return rc;
    db_stmt *st;
    rc = db_prepare(db,
                    "INSERT INTO nodes (id, hostname, pid, version, listen, workers, running, "
                    "started_at, heartbeat_at, lease_until) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?7, ?8)",
                    &st, err);
    if (rc < 0)
        return rc;
    db_bind_text(st, 1, n->id);
    db_bind_text(st, 2, n->hostname ? n->hostname : "");
    db_bind_int64(st, 3, n->pid);
    db_bind_text(st, 4, n->version ? n->version : "");
    db_bind_text(st, 5, n->listen);
    db_bind_int64(st, 6, n->workers);
    db_bind_int64(st, 7, now);
    db_bind_int64(st, 8, now + lease);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "register node");
    db_finalize(st);
    return rc;
}

int db_node_heartbeat(struct db *db, const char *id, int lease, int64_t running, struct mb_err *err)
{
    int64_t now;
    int rc = db_store_now(db, &now, err);
    if (rc < 0)
        return rc;
    db_stmt *st;
    rc = db_prepare(db,
                    "UPDATE nodes SET heartbeat_at = ?2, lease_until = ?3, running = ?4 "
                    "WHERE id = ?1 AND lease_until >= ?2",
                    &st, err);
    if (rc < 0)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_int64(st, 2, now);
    db_bind_int64(st, 3, now + lease);
    db_bind_int64(st, 4, running);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "node heartbeat");
    else if (db_changes(db) == 0)
        rc = mb_err_set(err, MB_ECANCELED,
                        "node %s: lease lost (its jobs may have been taken over)", id);
    db_finalize(st);
    return rc;
}

int db_node_remove(struct db *db, const char *id, struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, "DELETE FROM nodes WHERE id = ?1", &st, err);
    if (rc < 0)
        return rc;
    db_bind_text(st, 1, id);
    int s = db_step_first(db, st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "remove node");
    db_finalize(st);
    return rc;
}

/* Run one statement with ?1 = now; *changes_r = rows changed. */
static int reap_step(struct db *db, const char *sql, int64_t now, int64_t *changes_r,
                     struct mb_err *err)
{
    db_stmt *st;
    int rc = db_prepare(db, sql, &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, now);
    int s = db_step(st);
    if (s != SQLITE_DONE)
        rc = db_fail(db, err, s, "take over jobs");
    else if (changes_r)
        *changes_r = db_changes(db);
    db_finalize(st);
    return rc;
}

/* The running jobs of a dead node: its lease ran out, or it is not in nodes at all. */
#define DEAD_JOBS                                                                                  \
    "state = 'running' AND node IS NOT NULL AND NOT EXISTS (SELECT 1 FROM nodes n "                \
    "WHERE n.id = jobs.node AND n.lease_until >= ?1)"

int db_node_reap(struct db *db, int64_t now, int64_t *jobs_r, struct mb_err *err)
{
    if (jobs_r)
        *jobs_r = 0;
    /* Cheap test first: most ticks find nothing and take no write lock. */
    db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT (SELECT count(*) FROM nodes WHERE lease_until < ?1) + "
                        "(SELECT count(*) FROM jobs WHERE " DEAD_JOBS ")",
                        &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, now);
    int s = db_step_first(db, st);
    int64_t dead = s == SQLITE_ROW ? db_col_int64(st, 0) : -1;
    if (s != SQLITE_ROW)
        rc = db_fail(db, err, s, "look for dead nodes");
    db_finalize(st);
    if (rc < 0 || dead == 0)
        return rc;
    int outer;
    if ((rc = db_tx_begin(db, &outer, err)) < 0)
        return rc;
    int64_t n = 0;
    rc = reap_step(db,
                   "INSERT INTO job_log (job_id, ts, level, text) "
                   "SELECT id, ?1, 'warn', 'taken over: node ' || node || "
                   "' stopped renewing its lease; queued again, resuming where it stopped' "
                   "FROM jobs WHERE " DEAD_JOBS,
                   now, NULL, err);
    if (rc == 0)
        rc = reap_step(db,
                       "UPDATE jobs SET state = 'pending', node = NULL, worker = NULL, "
                       "heartbeat_at = NULL, not_before = 0, current_folder = NULL, "
                       "updated_at = ?1 WHERE " DEAD_JOBS,
                       now, &n, err);
    if (rc == 0)
        rc = reap_step(db, "DELETE FROM nodes WHERE lease_until < ?1", now, NULL, err);
    rc = db_tx_end(db, outer, rc, err);
    if (rc == 0 && jobs_r)
        *jobs_r = n;
    return rc;
}

int db_node_list(struct db *db, struct db_node **v_r, size_t *n_r, struct mb_err *err)
{
    *v_r = NULL;
    *n_r = 0;
    int64_t now;
    int rc = db_store_now(db, &now, err);
    if (rc < 0)
        return rc;
    db_stmt *st;
    rc = db_prepare(db,
                    "SELECT id, hostname, pid, version, listen, workers, running, started_at, "
                    "heartbeat_at, lease_until FROM nodes WHERE lease_until >= ?1 ORDER BY id",
                    &st, err);
    if (rc < 0)
        return rc;
    db_bind_int64(st, 1, now);
    struct db_node *v = NULL;
    size_t n = 0, cap = 0;
    int s;
    for (s = db_step_first(db, st); s == SQLITE_ROW; s = db_step(st)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            v = xrealloc(v, cap * sizeof(*v));
        }
        struct db_node *x = &v[n++];
        x->id = db_col_strdup(st, 0);
        x->hostname = db_col_strdup(st, 1);
        x->pid = db_col_int64(st, 2);
        x->version = db_col_strdup(st, 3);
        x->listen = db_col_strdup(st, 4);
        x->workers = db_col_int64(st, 5);
        x->running = db_col_int64(st, 6);
        x->started_at = db_col_int64(st, 7);
        x->heartbeat_at = db_col_int64(st, 8);
        x->lease_until = db_col_int64(st, 9);
    }
    if (s != SQLITE_DONE) {
        rc = db_fail(db, err, s, "list nodes");
        db_node_list_free(v, n);
    } else {
        *v_r = v;
        *n_r = n;
    }
    db_finalize(st);
    return rc;
}

int db_set_node(struct db *db, const char *id, struct mb_err *err)
{
    free(db->node);
    db->node = id ? xstrdup(id) : NULL;
    return db_apply_node(db, err);
}
