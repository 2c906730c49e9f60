/* GET /healthz and GET /metrics (Prometheus text exposition format 0.0.4). /healthz needs no
 * session; /metrics follows [server] metrics (public, session, loopback, off: the dispatcher
 * checks it, http_api.c). Figures come from one aggregate query (db_stats). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "db/db_node.h"
#include "db/db_stats.h"
#include "http_api_internal.h"
#include "jobs/jobs.h"
#include "version.h"

void http_api_metrics_healthz(struct http_api_ctx *c)
{
    int version = 0;
    struct mb_err err = {0};
    int rc = db_schema_version(c->db, &version, &err);
    struct json_w w;
    http_api_json_begin(c, rc == 0 ? 200 : 503, &w);
    json_w_obj_begin(&w);
    json_w_kv_str(&w, "status", rc == 0 ? "ok" : "error");
    if (rc != 0)
        json_w_kv_str(&w, "error", "database unavailable");
    json_w_obj_end(&w);
    http_api_json_end(c, &w);
}

/* A label value with \ " and newline escaped. */
static void http_api_metrics_label(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            buf_putc(b, '\\');
        if (*s == '\n') {
            buf_puts(b, "\\n");
            continue;
        }
        buf_putc(b, *s);
    }
}

static void http_api_metrics_head(struct buf *b, const char *name, const char *type,
                                  const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void http_api_metrics_get(struct http_api_ctx *c)
{
    struct mb_err err = {0};
    struct db_stats st;
    if (db_stats_jobs(c->db, &st, &err) != 0) {
        http_api_internal(c, "metrics", &err);
        return;
    }
    const int64_t *counts = st.jobs;
    const struct db_stats *sum = &st;

    struct buf *b = &c->resp->body;
    buf_reset(b);
    c->resp->status = 200;
    c->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    http_api_metrics_head(b, "migrabox_build_info", "gauge", "Version of the running binary.");
    buf_puts(b, "migrabox_build_info{version=\"");
    http_api_metrics_label(b, MIGRABOX_VERSION);
    buf_puts(b, "\"} 1\n");
    http_api_metrics_head(b, "migrabox_start_time_seconds", "gauge",
                          "Start time of the process, unix seconds.");
    buf_printf(b, "migrabox_start_time_seconds %" PRId64 "\n", (int64_t)c->api->started);
    http_api_metrics_head(b, "migrabox_jobs", "gauge", "Migration jobs by state.");
    static const enum db_job_state states[] = {DB_JOB_PENDING, DB_JOB_RUNNING, DB_JOB_FAILED,
                                               DB_JOB_DONE};
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        buf_printf(b, "migrabox_jobs{state=\"%s\"} %" PRId64 "\n", db_job_state_name(states[i]),
                   counts[states[i]]);
    http_api_metrics_head(b, "migrabox_messages_copied_total", "gauge",
                          "Messages copied, summed over the jobs in the database (drops when "
                          "jobs are deleted or retried).");
    buf_printf(b, "migrabox_messages_copied_total %" PRId64 "\n", sum->messages_copied);
    http_api_metrics_head(b, "migrabox_messages_skipped_total", "gauge",
                          "Messages found already copied, summed over the jobs in the database.");
    buf_printf(b, "migrabox_messages_skipped_total %" PRId64 "\n", sum->messages_skipped);
    http_api_metrics_head(b, "migrabox_messages_failed_total", "gauge",
                          "Messages refused by a server, summed over the jobs in the database.");
    buf_printf(b, "migrabox_messages_failed_total %" PRId64 "\n", sum->messages_failed);
    http_api_metrics_head(b, "migrabox_bytes_copied_total", "gauge",
                          "Bytes copied, summed over the jobs in the database.");
    buf_printf(b, "migrabox_bytes_copied_total %" PRId64 "\n", sum->bytes_copied);
    http_api_metrics_head(b, "migrabox_workers", "gauge", "Configured worker threads.");
    buf_printf(b, "migrabox_workers %d\n", c->api->cfg->server.workers);
    http_api_metrics_head(b, "migrabox_workers_busy", "gauge", "Migrations running now.");
    buf_printf(b, "migrabox_workers_busy %d\n", c->api->pool ? jobs_running(c->api->pool) : 0);
    /* The nodes of the store (issue 16): this node's id, and per live node its running jobs
     * as of its last heartbeat. */
    char self[DB_NODE_ID_MAX + 1] = "";
    if (c->api->pool)
        jobs_node_id(c->api->pool, self, sizeof(self));
    if (self[0]) {
        http_api_metrics_head(b, "migrabox_node_info", "gauge", "Id of the node that answered.");
        buf_puts(b, "migrabox_node_info{node=\"");
        http_api_metrics_label(b, self);
        buf_puts(b, "\"} 1\n");
    }
    struct db_node *v = NULL;
    size_t n = 0;
    if (db_node_list(c->db, &v, &n, &err) == 0) {
        http_api_metrics_head(b, "migrabox_nodes_live", "gauge",
                              "Nodes of the store whose lease runs.");
        buf_printf(b, "migrabox_nodes_live %zu\n", n);
        http_api_metrics_head(b, "migrabox_node_running_jobs", "gauge",
                              "Jobs each live node runs, at its last heartbeat.");
        for (size_t i = 0; i < n; i++) {
            buf_puts(b, "migrabox_node_running_jobs{node=\"");
            http_api_metrics_label(b, v[i].id);
            buf_printf(b, "\"} %" PRId64 "\n", v[i].running);
        }
        db_node_list_free(v, n);
    }
}
