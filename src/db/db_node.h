/* db_node: the nodes serving one store (issue 16). Every `migrabox serve` is a node with an id
 * made at its start; it renews its lease (lease_until = now + [store] lease) with a heartbeat.
 * Any node takes over the running jobs of a node whose lease ran out (db_node_reap): they go
 * back to the queue, and the shared message map makes their next run resume exactly once.
 * Lease times are taken from the store's clock (db_store_now: PostgreSQL's), not the nodes'.
 * A node's workers write a job only while the job's node column names them (db_set_node): a
 * node that lost its lease cannot write progress, results or (PostgreSQL trigger) message-map
 * rows over the new owner's. */
#ifndef MB_DB_NODE_H
#define MB_DB_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "base/mb_err.h"
#include "db/db.h"

#define DB_NODE_ID_MAX 128

struct db_node {
    char *id;
    char *hostname;
    int64_t pid;
    char *version;
    char *listen; /* may be NULL */
    int64_t workers;
    int64_t running; /* jobs it runs (its count at the last heartbeat) */
    int64_t started_at, heartbeat_at, lease_until;
};

void db_node_fini(struct db_node *n);
void db_node_list_free(struct db_node *v, size_t n);

/* Insert this node (n->started_at, heartbeat_at, lease_until are set from now and lease). */
int db_node_register(struct db *db, const struct db_node *n, int lease, struct mb_err *err);
/* Renew the lease; MB_ECANCELED when the node's row is gone or its lease already ran out (its
 * jobs may have been taken over: it must stop its runs). */
int db_node_heartbeat(struct db *db, const char *id, int lease, int64_t running,
                      struct mb_err *err);
int db_node_remove(struct db *db, const char *id, struct mb_err *err);
/* Take over: the running jobs of nodes whose lease ran out before now (from db_store_now: the
 * leases are in the store's clock) — and of nodes that no longer exist — go back to pending,
 * with a log line each; those nodes' rows are deleted.
 * *jobs_r (may be NULL): jobs put back. */
int db_node_reap(struct db *db, int64_t now, int64_t *jobs_r, struct mb_err *err);
/* The live nodes, by id. */
int db_node_list(struct db *db, struct db_node **v_r, size_t *n_r, struct mb_err *err);

/* This connection writes for node id (NULL: no fence, e.g. the web API's connections): jobs
 * are claimed for it and its job writes only apply to jobs it runs. */
int db_set_node(struct db *db, const char *id, struct mb_err *err);

#endif
