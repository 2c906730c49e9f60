#include "http_assets.h"

#include <string.h>

const struct http_asset *http_assets_find(const char *path)
{
    unsigned lo = 0, hi = http_assets_count;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        int c = strcmp(path, http_assets[mid].path);
        if (c == 0)
            return &http_assets[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}
