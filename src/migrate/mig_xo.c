/* mig_xo: exactly-once rules as pure functions (see mig_xo.h). */
#include "mig_xo.h"

#include <stdlib.h>
#include <string.h>

#include "base/mb_err.h"
#include "base/xalloc.h"

size_t mig_xo_delta(const uint32_t *src, size_t n, const uint32_t *copied, size_t nc,
                    unsigned char *todo)
{
    size_t already = 0, k = 0;
    for (size_t j = 0; j < n; j++) {
        while (k < nc && copied[k] < src[j])
            k++;
        todo[j] = !(k < nc && copied[k] == src[j]);
        already += !todo[j];
    }
    return already;
}

int64_t mig_xo_skipped(int64_t already, int64_t run_copied)
{
    return already > run_copied ? already - run_copied : 0;
}

size_t mig_xo_match(struct mig_xo_inflight *rows, size_t n, const struct mig_xo_dest *cands,
                    size_t nc)
{
    size_t matched = 0;
    unsigned char *used = xcalloc(nc ? nc : 1, 1);
    for (size_t i = 0; i < n; i++) {
        struct mig_xo_inflight *x = &rows[i];
        x->matched_uid = 0;
        if (!x->usable || !x->has_hash)
            continue;
        for (size_t c = 0; c < nc; c++) {
            const struct mig_xo_dest *d = &cands[c];
            if (used[c] || !d->has_hash || d->uid < x->window_uidnext
                || (x->has_size && d->has_size && d->size != x->size)
                || memcmp(d->hash, x->hash, MIG_XO_HASH_LEN) != 0)
                continue;
            used[c] = 1;
            x->matched_uid = d->uid;
            matched++;
            break;
        }
    }
    free(used);
    return matched;
}

size_t mig_xo_claim(const unsigned char (*hashes)[MIG_XO_HASH_LEN], size_t n,
                    const struct mig_xo_dest *cands, size_t nc, unsigned char *claimed)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < nc; c++)
            if (!claimed[c] && cands[c].has_hash
                && memcmp(cands[c].hash, hashes[i], MIG_XO_HASH_LEN) == 0) {
                claimed[c] = 1;
                k++;
                break;
            }
    return k;
}

uint32_t mig_xo_floor(const struct mig_xo_copy *rows, size_t n)
{
    uint32_t floor = 0;
    for (size_t i = 0; i < n; i++)
        if (rows[i].verify && rows[i].first_uidnext && (!floor || rows[i].first_uidnext < floor))
            floor = rows[i].first_uidnext;
    return floor;
}

/* A destination message at or above the floor, with the content it is known to have. */
struct entry {
    const unsigned char *hash;
    uint32_t uid;
    int recorded;
};

static int cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = memcmp(x->hash, y->hash, MIG_XO_HASH_LEN);
    if (c)
        return c;
    return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Rows ordered by dest_uid, to find the row recording a destination UID. */
static int cmp_row_uid(const void *a, const void *b)
{
    uint32_t x = (*(const struct mig_xo_copy *const *)a)->dest_uid;
    uint32_t y = (*(const struct mig_xo_copy *const *)b)->dest_uid;
    return x < y ? -1 : x > y;
}

static int cmp_row_hash(const void *a, const void *b)
{
    return memcmp((*(const struct mig_xo_copy *const *)a)->hash,
                  (*(const struct mig_xo_copy *const *)b)->hash, MIG_XO_HASH_LEN);
}

static const struct mig_xo_copy *row_of_uid(const struct mig_xo_copy **by_uid, size_t n,
                                            uint32_t uid)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (by_uid[mid]->dest_uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && by_uid[lo]->dest_uid == uid ? by_uid[lo] : NULL;
}

size_t mig_xo_reconcile(const struct mig_xo_copy *rows, size_t nrows,
                        const struct mig_xo_dest *dest, size_t ndest, uint32_t *del)
{
    uint32_t floor = mig_xo_floor(rows, nrows);
    if (!floor)
        return 0;
    const struct mig_xo_copy **by_uid = xcalloc(nrows ? nrows : 1, sizeof(*by_uid));
    const struct mig_xo_copy **by_hash = xcalloc(nrows ? nrows : 1, sizeof(*by_hash));
    size_t nuid = 0;
    for (size_t i = 0; i < nrows; i++) {
        by_hash[i] = &rows[i];
        if (rows[i].dest_uid)
            by_uid[nuid++] = &rows[i];
    }
    qsort(by_uid, nuid, sizeof(*by_uid), cmp_row_uid);
    qsort(by_hash, nrows, sizeof(*by_hash), cmp_row_hash);

    struct entry *e = xcalloc(ndest ? ndest : 1, sizeof(*e));
    size_t ne = 0;
    for (size_t i = 0; i < ndest; i++) {
        const struct mig_xo_dest *d = &dest[i];
        if (d->uid < floor)
            continue;
        const struct mig_xo_copy *r = row_of_uid(by_uid, nuid, d->uid);
        if (r)
            e[ne++] = (struct entry){r->hash, d->uid, 1};
        else if (d->has_hash)
            e[ne++] = (struct entry){d->hash, d->uid, 0};
    }
    qsort(e, ne, sizeof(*e), cmp_entry);

    size_t ndel = 0;
    for (size_t a = 0; a < nrows;) {
        /* The group of rows sharing by_hash[a]'s content. */
        size_t b = a + 1;
        while (b < nrows && cmp_row_hash(&by_hash[b], &by_hash[a]) == 0)
            b++;
        int unsettled = 0;
        size_t need = 0;
        for (size_t i = a; i < b; i++) {
            unsettled |= by_hash[i]->verify;
            if (!(by_hash[i]->dest_uid && by_hash[i]->dest_uid < floor))
                need++;
        }
        const unsigned char *h = by_hash[a]->hash;
        a = b;
        if (!unsettled)
            continue;
        /* Destination copies of this content: e[lo..hi). */
        struct entry key = {h, 0, 0};
        size_t lo = 0, hi = ne;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (cmp_entry(&e[mid], &key) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        hi = lo;
        while (hi < ne && memcmp(e[hi].hash, h, MIG_XO_HASH_LEN) == 0)
            hi++;
        size_t have = hi - lo;
        size_t extra = have > need ? have - need : 0;
        /* Highest UIDs first, never one a row records. */
        for (size_t k = hi; k > lo && extra > 0; k--) {
            if (e[k - 1].recorded)
                continue;
            del[ndel++] = e[k - 1].uid;
            extra--;
        }
    }
    qsort(del, ndel, sizeof(*del), cmp_u32);
    free(e);
    free(by_uid);
    free(by_hash);
    return ndel;
}

/* ---- a window's messages ---- */

enum mig_xo_outcome mig_xo_append_outcome(int status, uint32_t answer_uidvalidity,
                                          uint32_t answer_uid, uint32_t folder_uidvalidity,
                                          uint32_t *dest_uid_r)
{
    *dest_uid_r = 0;
    if (status == 0) {
        if (answer_uidvalidity && answer_uidvalidity == folder_uidvalidity)
            *dest_uid_r = answer_uid;
        return MIG_XO_COPIED;
    }
    if (status == MB_EMSG || status == MB_EFOLDER)
        return MIG_XO_REFUSED;
    return MIG_XO_IN_FLIGHT;
}

enum mig_xo_record mig_xo_commit_record(enum mig_xo_outcome o)
{
    switch (o) {
    case MIG_XO_COPIED: return MIG_XO_MARK_COPIED;
    case MIG_XO_REFUSED: return MIG_XO_MARK_FAILED;
    case MIG_XO_IN_FLIGHT: return MIG_XO_KEEP_ROW;
    case MIG_XO_NOT_SENT: break;
    }
    return MIG_XO_FORGET_ROW;
}

uint32_t mig_xo_bound(uint32_t bound, uint32_t dest_uid)
{
    return dest_uid && dest_uid >= bound ? dest_uid + 1 : bound;
}

/* ---- re-keying ---- */

static int cmp_key(const struct mig_xo_keyed *x, const struct mig_xo_keyed *y)
{
    if (!x->msgid != !y->msgid)
        return x->msgid ? 1 : -1; /* without Message-ID first */
    int c = x->msgid ? strcmp(x->msgid, y->msgid) : 0;
    if (c)
        return c;
    return x->idate < y->idate ? -1 : x->idate > y->idate;
}

static int cmp_keyed(const void *a, const void *b)
{
    const struct mig_xo_keyed *x = *(const struct mig_xo_keyed *const *)a;
    const struct mig_xo_keyed *y = *(const struct mig_xo_keyed *const *)b;
    int c = cmp_key(x, y);
    if (c)
        return c;
    return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Pointers to v[0..n) sorted by (key, UID). */
static struct mig_xo_keyed **by_key(struct mig_xo_keyed *v, size_t n)
{
    struct mig_xo_keyed **p = xcalloc(n ? n : 1, sizeof(*p));
    for (size_t i = 0; i < n; i++)
        p[i] = &v[i];
    qsort(p, n, sizeof(*p), cmp_keyed);
    return p;
}

/* End of the run of equal keys that starts at p[i]. */
static size_t key_end(struct mig_xo_keyed **p, size_t n, size_t i)
{
    size_t j = i + 1;
    while (j < n && cmp_key(p[j], p[i]) == 0)
        j++;
    return j;
}

/* Walk the keys both sides have: fn(source group, destination group) for each. */
typedef void rekey_fn(struct mig_xo_keyed **s, size_t ns, struct mig_xo_keyed **d, size_t nd,
                      void *ctx);
static void each_common_key(struct mig_xo_keyed *src, size_t ns, struct mig_xo_keyed *dst,
                            size_t nd, rekey_fn *fn, void *ctx)
{
    struct mig_xo_keyed **ps = by_key(src, ns), **pd = by_key(dst, nd);
    for (size_t a = 0, c = 0; a < ns;) {
        size_t b = key_end(ps, ns, a);
        while (c < nd && cmp_key(pd[c], ps[a]) < 0)
            c++;
        size_t e = c < nd && cmp_key(pd[c], ps[a]) == 0 ? key_end(pd, nd, c) : c;
        if (e > c)
            fn(ps + a, b - a, pd + c, e - c, ctx);
        a = b;
        c = e;
    }
    free(ps);
    free(pd);
}

static int by_id(struct mig_xo_keyed **s, size_t ns, size_t nd)
{
    return s[0]->msgid && ns == 1 && nd == 1;
}

static void need_fn(struct mig_xo_keyed **s, size_t ns, struct mig_xo_keyed **d, size_t nd,
                    void *ctx)
{
    (void)ctx;
    if (by_id(s, ns, nd))
        return;
    for (size_t i = 0; i < ns; i++)
        s[i]->want_hash = 1;
    for (size_t j = 0; j < nd; j++)
        d[j]->want_hash = 1;
}

void mig_xo_rekey_needs(struct mig_xo_keyed *src, size_t ns, struct mig_xo_keyed *dst, size_t nd)
{
    for (size_t i = 0; i < ns; i++)
        src[i].want_hash = 0;
    for (size_t j = 0; j < nd; j++)
        dst[j].want_hash = 0;
    each_common_key(src, ns, dst, nd, need_fn, NULL);
}

static void match_fn(struct mig_xo_keyed **s, size_t ns, struct mig_xo_keyed **d, size_t nd,
                     void *ctx)
{
    size_t *matched = ctx;
    unsigned char *used = xcalloc(nd, 1);
    int id = by_id(s, ns, nd);
    for (size_t i = 0; i < ns; i++) {
        struct mig_xo_keyed *x = s[i];
        for (size_t j = 0; j < nd; j++) {
            const struct mig_xo_keyed *y = d[j];
            if (used[j]
                || (!id
                    && !(x->has_hash && y->has_hash
                         && memcmp(x->hash, y->hash, MIG_XO_HASH_LEN) == 0)))
                continue;
            used[j] = 1;
            x->match = y->uid;
            (*matched)++;
            break;
        }
    }
    free(used);
}

size_t mig_xo_rekey(struct mig_xo_keyed *src, size_t ns, struct mig_xo_keyed *dst, size_t nd)
{
    size_t matched = 0;
    for (size_t i = 0; i < ns; i++)
        src[i].match = 0;
    each_common_key(src, ns, dst, nd, match_fn, &matched);
    return matched;
}
