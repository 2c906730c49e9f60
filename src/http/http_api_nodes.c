/* GET /api/nodes (admin): the live nodes of the store (issue 16; db_node.h): id, host, pid,
 * version, listen address, workers, running jobs, start, last heartbeat and lease end, and
 * which one answered ("self"). */
#include <string.h>

#include "db/db_node.h"
#include "http/http_api_internal.h"
#include "jobs/jobs.h"

void http_api_nodes_list(struct http_api_ctx *c)
{
    struct db_node *v = NULL;
    size_t n = 0;
    struct mb_err err = {0};
    if (db_node_list(c->db, &v, &n, &err) != 0) {
        http_api_internal(c, "list nodes", &err);
        return;
    }
    char self[DB_NODE_ID_MAX + 1] = "";
    if (c->api->pool)
        jobs_node_id(c->api->pool, self, sizeof(self));
    struct json_w w;
    http_api_json_begin(c, 200, &w);
    json_w_obj_begin(&w);
    json_w_kv_str(&w, "self", self[0] ? self : NULL);
    json_w_key(&w, "nodes");
    json_w_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        const struct db_node *x = &v[i];
        json_w_obj_begin(&w);
        json_w_kv_str(&w, "id", x->id);
        json_w_kv_str(&w, "hostname", x->hostname);
        json_w_kv_int(&w, "pid", x->pid);
        json_w_kv_str(&w, "version", x->version);
        json_w_kv_str(&w, "listen", x->listen);
        json_w_kv_int(&w, "workers", x->workers);
        json_w_kv_int(&w, "running", x->running);
        json_w_kv_int(&w, "started_at", x->started_at);
        json_w_kv_int(&w, "heartbeat_at", x->heartbeat_at);
        json_w_kv_int(&w, "lease_until", x->lease_until);
        json_w_kv_bool(&w, "self", strcmp(x->id, self) == 0);
        json_w_obj_end(&w);
    }
    json_w_arr_end(&w);
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
    db_node_list_free(v, n);
}
