/* http_api: the JSON API of `migrabox serve` (docs/API.md), plugged into http_server as its
 * dispatch callback: /api/..., /healthz and /metrics.
 *
 * Routing is a const table (http_api.c): method, path pattern (with strict numeric {id}),
 * handler and flags (session required, CSRF token required, admin only, body type). Unknown
 * /api paths are 404, a known path with another method is 405 with Allow, a JSON body without
 * Content-Type application/json (or a CSV upload without a CSV type) is 415. Errors are JSON:
 * {"error":"…"}, or for validation 422 {"error":"…","errors":[{"field"|"line","column",
 * "message"}]}. Every JSON answer goes through json_write.
 *
 * Threads: http_api_dispatch runs on libmicrohttpd's connection threads, several at once.
 * Each thread opens its own struct db on first use and keeps it until the thread ends (a
 * pthread key with a destructor). Everything else in struct http_api is read-only after
 * http_api_new, or mutex-protected (sign-in throttling).
 *
 * Ownership: http_api_new borrows cfg, box and pool (pool may be NULL: nothing to wake, no
 * busy-worker count); they must outlive the api. http_api_free(&api) after the HTTP server is
 * stopped. */
#ifndef MB_HTTP_API_H
#define MB_HTTP_API_H

#include "base/mb_err.h"
#include "base/secret.h"
#include "config/config.h"
#include "http/http_server.h"

struct jobs;
struct http_api;

int http_api_new(const struct config *cfg, const char *db_path, const struct secret_box *box,
                 struct jobs *pool, struct http_api **api_r, struct mb_err *err);
void http_api_free(struct http_api **api);

/* The http_admit_cb: route and, for routes with a body, session and CSRF token are checked
 * before the body is read; the answer is the body limit of the route (4 KiB for the sign-in,
 * 256 KiB for other JSON, max_upload_bytes for CSV, 0 for routes without a body). */
long http_api_admit(void *app, const struct http_req *req, struct http_resp *resp);
/* The http_dispatch_cb: app is the struct http_api. */
void http_api_dispatch(void *app, const struct http_req *req, struct http_resp *resp);

#endif
