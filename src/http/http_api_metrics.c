/* GET /healthz and GET /metrics (Prometheus text exposition format 0.0.4). Neither needs a
 * session: keep the listen address private or filter these paths in a reverse proxy
 * (docs/API.md). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "http_api_internal.h"
#include "jobs/jobs.h"
#include "version.h"

void http_api_metrics_healthz(struct http_api_ctx *c)
{
    int version = 0;
    struct mb_err err = { 0 };
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
    struct mb_err err = { 0 };
    int64_t counts[5];
    if (db_job_count_by_state(c->db, counts, &err) != 0) {
        http_api_internal(c, "metrics", &err);
        return;
    }
    /* Sum the progress counters of every job (no aggregate query in db_job.h yet). */
    struct db_job_counters sum;
    memset(&sum, 0, sizeof(sum));
    int64_t total = counts[DB_JOB_ANY];
    for (int64_t off = 0; off < total; off += DB_JOB_LIST_MAX) {
        struct db_job_filter flt = { .limit = DB_JOB_LIST_MAX, .offset = (size_t)off };
        struct db_job_list list;
        if (db_job_list(c->db, &flt, &list, &err) != 0) {
            http_api_internal(c, "metrics", &err);
            return;
        }
        for (size_t i = 0; i < list.n; i++) {
            const struct db_job_counters *p = &list.jobs[i].progress;
            sum.messages_copied += p->messages_copied;
            sum.messages_skipped += p->messages_skipped;
            sum.messages_failed += p->messages_failed;
            sum.bytes_copied += p->bytes_copied;
        }
        size_t n = list.n;
        db_job_list_fini(&list);
        if (n == 0)
            break;
    }

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
    static const enum db_job_state states[] = { DB_JOB_PENDING, DB_JOB_RUNNING, DB_JOB_FAILED,
                                                DB_JOB_DONE };
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        buf_printf(b, "migrabox_jobs{state=\"%s\"} %" PRId64 "\n", db_job_state_name(states[i]),
                   counts[states[i]]);
    http_api_metrics_head(b, "migrabox_messages_copied_total", "gauge",
                          "Messages copied, summed over the jobs in the database (drops when "
                          "jobs are deleted or retried).");
    buf_printf(b, "migrabox_messages_copied_total %" PRId64 "\n", sum.messages_copied);
    http_api_metrics_head(b, "migrabox_messages_skipped_total", "gauge",
                          "Messages found already copied, summed over the jobs in the database.");
    buf_printf(b, "migrabox_messages_skipped_total %" PRId64 "\n", sum.messages_skipped);
    http_api_metrics_head(b, "migrabox_messages_failed_total", "gauge",
                          "Messages refused by a server, summed over the jobs in the database.");
    buf_printf(b, "migrabox_messages_failed_total %" PRId64 "\n", sum.messages_failed);
    http_api_metrics_head(b, "migrabox_bytes_copied_total", "gauge",
                          "Bytes copied, summed over the jobs in the database.");
    buf_printf(b, "migrabox_bytes_copied_total %" PRId64 "\n", sum.bytes_copied);
    http_api_metrics_head(b, "migrabox_workers", "gauge", "Configured worker threads.");
    buf_printf(b, "migrabox_workers %d\n", c->api->cfg->server.workers);
    http_api_metrics_head(b, "migrabox_workers_busy", "gauge", "Migrations running now.");
    buf_printf(b, "migrabox_workers_busy %d\n", c->api->pool ? jobs_running(c->api->pool) : 0);
}
