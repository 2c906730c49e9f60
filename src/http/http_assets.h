/* http_assets: the web UI embedded at build time (tools/mkassets → build/gen/assets.c).
 * The table is sorted by path; all data is static and read-only. */
#ifndef MB_HTTP_ASSETS_H
#define MB_HTTP_ASSETS_H

#include <stddef.h>

struct http_asset {
    const char *path; /* "/index.html" */
    const char *mime;
    const unsigned char *data;
    size_t len;
    const unsigned char *gz; /* gzip copy, or NULL when not smaller */
    size_t gz_len;
    const char *etag; /* quoted strong ETag */
};

extern const struct http_asset http_assets[];
extern const unsigned http_assets_count;

/* Binary search by exact path; NULL if absent. */
const struct http_asset *http_assets_find(const char *path);

#endif
