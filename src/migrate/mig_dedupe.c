#include "mig_dedupe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/sha256.h"
#include "base/xalloc.h"
#include "db/db_msgmap.h"
#include "imap/imap_date.h"
#include "imap/imap_fetch.h"
#include "imap/imap_resp.h"
#include "mig_internal.h"
#include "mig_xo.h"

/* ---- hashing bodies over IMAP ---- */

struct hashed {
    uint32_t uid;
    uint64_t size;
    int64_t idate;
    char *msgid; /* normalised Message-ID, NULL if none */
    int has_hash;
    unsigned char hash[32];
    int used;
};

struct hash_ctx {
    struct hashed *v;
    size_t n;
    struct hashed *cur;
    struct sha256 sha;
    uint64_t got;
    struct mig_ctx *keep; /* destination contents: kept in keep->hashes, counted as progress */
};

static struct hashed *find_h(struct hashed *v, size_t n, uint32_t uid)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].uid == uid)
            return &v[i];
    return NULL;
}

static int h_begin(void *ctx, uint32_t uid, uint64_t size)
{
    struct hash_ctx *h = ctx;
    h->cur = find_h(h->v, h->n, uid);
    if (!h->cur)
        return IMAP_FETCH_SKIP;
    h->got = size;
    sha256_init(&h->sha);
    return 0;
}

static int h_chunk(void *ctx, const char *p, size_t n)
{
    struct hash_ctx *h = ctx;
    sha256_update(&h->sha, p, n);
    return 0;
}

static int h_end(void *ctx, uint32_t uid)
{
    struct hash_ctx *h = ctx;
    (void)uid;
    if (h->cur) {
        sha256_final(&h->sha, h->cur->hash);
        h->cur->has_hash = 1;
        h->cur->size = h->got;
        if (h->keep) {
            struct mig_hash_cache *hc = &h->keep->hashes;
            if (hc->n == hc->cap) {
                hc->cap = hc->cap ? hc->cap * 2 : 256;
                hc->v = xrealloc(hc->v, hc->cap * sizeof(*hc->v));
            }
            struct mig_dest_hash *e = &hc->v[hc->n++];
            e->uid = h->cur->uid;
            e->size = h->got;
            memcpy(e->hash, h->cur->hash, sizeof(e->hash));
            mig_step(h->keep);
        }
        h->cur = NULL;
    }
    sha256_free(&h->sha);
    return 0;
}

/* Fetch and hash the bodies of v[i] for which want[i] is set; keep: see struct hash_ctx. */
static int hash_bodies(struct imap_client *cli, struct hashed *v, size_t n, const int *want,
                       struct mig_ctx *keep, struct mb_err *err)
{
    struct buf set;
    buf_init(&set, (size_t)16 << 20);
    for (size_t i = 0; i < n; i++)
        if (want[i])
            buf_printf(&set, "%s%u", set.len ? "," : "", v[i].uid);
    int rc = 0;
    if (set.len) {
        struct hash_ctx h = {.v = v, .n = n, .keep = keep};
        struct imap_body_cbs cbs = {h_begin, h_chunk, h_end, NULL};
        rc = imap_fetch_bodies(cli, buf_cstr(&set), &cbs, &h, err);
    }
    buf_fini(&set);
    return rc;
}

static int cmp_dest_hash(const void *a, const void *b)
{
    uint32_t x = ((const struct mig_dest_hash *)a)->uid, y = ((const struct mig_dest_hash *)b)->uid;
    return x < y ? -1 : x > y;
}

void mig_dedupe_cache_fini(struct mig_ctx *m)
{
    XFREE(m->hashes.dest_raw);
    XFREE(m->hashes.v);
    m->hashes.n = m->hashes.cap = 0;
}

/* hash_bodies on the destination folder dest_raw (selected), through m->hashes: contents read
 * earlier in the run are not read again (want[] is cleared for them), new ones are kept. */
static int hash_dest(struct mig_ctx *m, const char *dest_raw, uint32_t dest_uidvalidity,
                     struct hashed *v, size_t n, int *want, struct mb_err *err)
{
    struct mig_hash_cache *hc = &m->hashes;
    if (!hc->dest_raw || strcmp(hc->dest_raw, dest_raw) != 0
        || hc->uidvalidity != dest_uidvalidity) {
        mig_dedupe_cache_fini(m);
        hc->dest_raw = xstrdup(dest_raw);
        hc->uidvalidity = dest_uidvalidity;
    }
    if (hc->n)
        qsort(hc->v, hc->n, sizeof(*hc->v), cmp_dest_hash);
    for (size_t i = 0; hc->n && i < n; i++) {
        if (!want[i])
            continue;
        struct mig_dest_hash key = {.uid = v[i].uid};
        const struct mig_dest_hash *e = bsearch(&key, hc->v, hc->n, sizeof(*hc->v), cmp_dest_hash);
        if (!e)
            continue;
        memcpy(v[i].hash, e->hash, sizeof(v[i].hash));
        v[i].has_hash = 1;
        v[i].size = e->size;
        want[i] = 0;
    }
    return hash_bodies(m->dst, v, n, want, m, err);
}

/* ---- metadata with Message-ID (raw FETCH) ---- */

struct idlist {
    struct hashed *v;
    size_t n, cap;
    uint32_t min_uid;
};

/* Extract and normalise the Message-ID from a header block ("Message-ID: <x@y>\r\n"). */
static char *parse_msgid(const char *p, size_t len)
{
    const char *end = p + len;
    const char *colon = memchr(p, ':', len);
    if (!colon)
        return NULL;
    const char *lt = memchr(colon, '<', (size_t)(end - colon));
    if (!lt)
        return NULL;
    const char *gt = memchr(lt, '>', (size_t)(end - lt));
    if (!gt || gt - lt > 990)
        return NULL;
    return xstrndup(lt, (size_t)(gt - lt + 1));
}

static int on_id_fetch(void *ctx, const struct imap_response *r)
{
    struct idlist *l = ctx;
    if (r->nargs < 3 || !imap_resp_atom_is(&r->args[1], "FETCH")
        || r->args[2].type != IMAP_ARG_LIST)
        return 0;
    const struct imap_arg *list = r->args[2].list;
    size_t count = r->args[2].count;
    uint64_t uid = 0, size = 0;
    const struct imap_arg *a = imap_resp_pair(list, count, "UID");
    if (!a || imap_resp_number(a, 0xffffffffu, &uid) != 0 || uid < l->min_uid)
        return 0;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 128;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    struct hashed *h = &l->v[l->n++];
    memset(h, 0, sizeof(*h));
    h->uid = (uint32_t)uid;
    a = imap_resp_pair(list, count, "RFC822.SIZE");
    if (a && imap_resp_number(a, UINT64_MAX, &size) == 0)
        h->size = size;
    a = imap_resp_pair(list, count, "INTERNALDATE");
    const char *s = a ? imap_resp_astring(a, NULL) : NULL;
    if (s)
        h->idate = imap_date_parse(s);
    for (size_t i = 0; i + 1 < count; i++) {
        if (list[i].type == IMAP_ARG_ATOM && list[i].str
            && strncasecmp(list[i].str, "BODY[HEADER.FIELDS", 18) == 0) {
            size_t len = 0;
            const char *hv = imap_resp_astring(&list[i + 1], &len);
            if (hv)
                h->msgid = parse_msgid(hv, len);
            break;
        }
    }
    return 0;
}

static int fetch_ids(struct imap_client *cli, uint32_t from, struct idlist *l, struct mb_err *err)
{
    char line[160];
    snprintf(line, sizeof(line),
             "UID FETCH %u:* (UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
             from ? from : 1);
    l->min_uid = from;
    return imap_client_command(cli, line, IMAP_RESP_CTX_FOLDER, on_id_fetch, l, err);
}

static void idlist_fini(struct idlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].msgid);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* ---- step 2: recovery of in-flight windows ---- */

struct inflight {
    uint32_t uid;
    int has_hash;
    unsigned char hash[32];
    uint32_t dest_uidnext;
    int usable; /* window on this destination folder with the same UIDVALIDITY */
};

struct inflight_list {
    struct inflight *v;
    size_t n, cap;
    const char *dest_raw;
    uint32_t dest_uidvalidity;
};

static int on_inflight(void *ctx, const struct db_msgmap_row *row)
{
    struct inflight_list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    struct inflight *x = &l->v[l->n++];
    memset(x, 0, sizeof(*x));
    x->uid = row->uid;
    x->has_hash = row->has_hash;
    if (row->has_hash)
        memcpy(x->hash, row->hash, 32);
    x->dest_uidnext = row->dest_uidnext;
    x->usable = row->dest_folder && strcmp(row->dest_folder, l->dest_raw) == 0
                && row->dest_uidvalidity == l->dest_uidvalidity && row->dest_uidnext > 0;
    return 0;
}

static int has_uid(const uint32_t *v, size_t n, uint32_t uid)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == uid)
            return 1;
    return 0;
}

/* Copied rows of unknown destination UID whose copy lies at or above min_next (mig_xo_claim). */
struct claim_ctx {
    const char *dest_raw;
    uint32_t dest_uidvalidity, min_next;
    unsigned char (*hashes)[MIG_XO_HASH_LEN];
    size_t n, cap;
};

static int on_copied_unknown(void *ctx, const struct db_msgmap_row *r)
{
    struct claim_ctx *cc = ctx;
    if (r->dest_uid || !r->has_hash || !r->dest_folder || strcmp(r->dest_folder, cc->dest_raw) != 0
        || r->dest_uidvalidity != cc->dest_uidvalidity || r->dest_uidnext < cc->min_next)
        return 0;
    if (cc->n == cc->cap) {
        cc->cap = cc->cap ? cc->cap * 2 : 64;
        cc->hashes = xrealloc(cc->hashes, cc->cap * sizeof(*cc->hashes));
    }
    memcpy(cc->hashes[cc->n++], r->hash, MIG_XO_HASH_LEN);
    return 0;
}

int mig_dedupe_recover(struct mig_ctx *m, const char *src_raw, uint32_t uidvalidity,
                       const char *dest_raw, uint32_t dest_uidvalidity, size_t *matched_r,
                       int64_t *matched_bytes_r, struct mb_err *err)
{
    *matched_r = 0;
    *matched_bytes_r = 0;
    size_t matched = 0;
    struct inflight_list fl = {.dest_raw = dest_raw, .dest_uidvalidity = dest_uidvalidity};
    struct idlist cands = {0};
    uint32_t *owned = NULL;
    size_t n_owned = 0;
    int *want = NULL;
    struct hashed *srcs = NULL;
    int rc = db_msgmap_inflight(m->db, m->job, src_raw, uidvalidity, on_inflight, &fl, err);
    if (rc || fl.n == 0)
        goto out;
    uint32_t min_next = 0;
    for (size_t i = 0; i < fl.n; i++)
        if (fl.v[i].usable && (!min_next || fl.v[i].dest_uidnext < min_next))
            min_next = fl.v[i].dest_uidnext;
    struct mb_err line;
    MB_MSG(&line, 0, LOG_RECOVERY, m->current_folder, fl.n);
    mig_log_msg(m, "info", &line);
    if (!min_next)
        goto out; /* destination folder recreated: everything is sent again */
    rc = db_msgmap_dest_uids(m->db, m->job, dest_raw, dest_uidvalidity, min_next, &owned, &n_owned,
                             err);
    if (rc)
        goto out;
    rc = fetch_ids(m->dst, min_next, &cands, err);
    if (rc)
        goto out;
    /* Candidates: appended since the window began and not owned by a copied row. Sizes are
     * not compared before hashing: the size recorded with an in-flight row is the source's
     * RFC822.SIZE, and Exchange reports the stored-message size there, not the size of the
     * message it sends (the literal), so a size filter would miss messages that did reach the
     * destination and they would be appended twice. */
    want = xcalloc(cands.n ? cands.n : 1, sizeof(int));
    size_t n_want = 0;
    for (size_t c = 0; c < cands.n; c++) {
        if (has_uid(owned, n_owned, cands.v[c].uid)) {
            cands.v[c].used = 1;
            continue;
        }
        want[c] = 1;
        n_want++;
    }
    if (n_want == 0)
        goto out;
    rc = hash_dest(m, dest_raw, dest_uidvalidity, cands.v, cands.n, want, err);
    if (rc)
        goto out;
    /* Without UIDPLUS, the copies of the rows already copied are claimed first. */
    struct claim_ctx cc = {dest_raw, dest_uidvalidity, min_next, NULL, 0, 0};
    rc = db_msgmap_foreach(m->db, m->job, src_raw, uidvalidity, DB_MSG_COPIED, on_copied_unknown,
                           &cc, err);
    if (!rc && cc.n) {
        struct mig_xo_dest *cv = xcalloc(cands.n ? cands.n : 1, sizeof(*cv));
        unsigned char *claimed = xcalloc(cands.n ? cands.n : 1, 1);
        for (size_t c = 0; c < cands.n; c++) {
            cv[c].uid = cands.v[c].uid;
            cv[c].has_hash = cands.v[c].has_hash && !cands.v[c].used;
            memcpy(cv[c].hash, cands.v[c].hash, MIG_XO_HASH_LEN);
        }
        mig_xo_claim((const unsigned char(*)[MIG_XO_HASH_LEN])cc.hashes, cc.n, cv, cands.n,
                     claimed);
        for (size_t c = 0; c < cands.n; c++)
            if (claimed[c])
                cands.v[c].used = 1;
        free(cv);
        free(claimed);
    }
    free(cc.hashes);
    if (rc)
        goto out;
    /* Source hashes not recorded yet: read those bodies again from the source (at most one
     * window); hashing gives their real size too. */
    srcs = xcalloc(fl.n, sizeof(*srcs));
    int *swant = xcalloc(fl.n, sizeof(int));
    for (size_t i = 0; i < fl.n; i++) {
        srcs[i].uid = fl.v[i].uid;
        swant[i] = fl.v[i].usable && !fl.v[i].has_hash;
    }
    rc = hash_bodies(m->src, srcs, fl.n, swant, NULL, err);
    free(swant);
    if (rc)
        goto out;
    struct mig_xo_inflight *rows = xcalloc(fl.n, sizeof(*rows));
    for (size_t i = 0; i < fl.n; i++) {
        struct inflight *x = &fl.v[i];
        rows[i].uid = x->uid;
        rows[i].window_uidnext = x->dest_uidnext;
        rows[i].usable = x->usable;
        if (x->has_hash || srcs[i].has_hash) {
            rows[i].has_hash = 1;
            memcpy(rows[i].hash, x->has_hash ? x->hash : srcs[i].hash, 32);
        }
        if (srcs[i].has_hash) {
            rows[i].has_size = 1;
            rows[i].size = srcs[i].size;
        }
    }
    /* Candidates: the destination messages no copied row owns, in UID order. */
    struct mig_xo_dest *dv = xcalloc(cands.n ? cands.n : 1, sizeof(*dv));
    size_t nd = 0;
    for (size_t c = 0; c < cands.n; c++) {
        if (cands.v[c].used)
            continue;
        dv[nd].uid = cands.v[c].uid;
        dv[nd].has_hash = cands.v[c].has_hash;
        memcpy(dv[nd].hash, cands.v[c].hash, 32);
        dv[nd].has_size = cands.v[c].has_hash; /* the real size, from hashing */
        dv[nd].size = cands.v[c].size;
        nd++;
    }
    mig_xo_match(rows, fl.n, dv, nd);
    for (size_t i = 0; i < fl.n && !rc; i++) {
        if (!rows[i].matched_uid)
            continue;
        int64_t size = 0;
        for (size_t c = 0; c < nd; c++)
            if (dv[c].uid == rows[i].matched_uid)
                size = (int64_t)dv[c].size;
        rc = db_msgmap_mark_copied_sized(m->db, m->job, src_raw, uidvalidity, rows[i].uid,
                                         rows[i].matched_uid, rows[i].hash, size, err);
        if (rc)
            break;
        matched++;
        *matched_bytes_r += size;
    }
    free(rows);
    free(dv);
out:
    if (rc == 0 && fl.n > 0) {
        *matched_r = matched;
        MB_MSG(&line, 0, LOG_RECOVERY_FOUND, m->current_folder, matched, fl.n);
        mig_log_msg(m, "info", &line);
    }
    free(fl.v);
    free(owned);
    free(want);
    free(srcs);
    idlist_fini(&cands);
    return rc;
}

/* ---- step 1: source UIDVALIDITY changed ---- */

/* Order by (Message-ID, INTERNALDATE, UID), messages without Message-ID first. */
/* The plain data of a side for mig_xo's re-keying (the strings stay l's). */
static struct mig_xo_keyed *keyed_of(const struct idlist *l)
{
    struct mig_xo_keyed *k = xcalloc(l->n ? l->n : 1, sizeof(*k));
    for (size_t i = 0; i < l->n; i++) {
        k[i].uid = l->v[i].uid;
        k[i].msgid = l->v[i].msgid;
        k[i].idate = l->v[i].idate;
    }
    return k;
}

/* After hash_bodies: the contents read, into the plain data. */
static void keyed_hashes(struct mig_xo_keyed *k, const struct idlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        k[i].has_hash = l->v[i].has_hash;
        memcpy(k[i].hash, l->v[i].hash, MIG_XO_HASH_LEN);
    }
}

int mig_dedupe_uidvalidity(struct mig_ctx *m, const char *src_raw, uint32_t uidvalidity,
                           const char *dest_raw, struct mb_err *err)
{
    uint32_t *uvs = NULL;
    size_t n_uvs = 0;
    struct idlist s = {0}, d = {0};
    int *sw = NULL, *dw = NULL;
    struct mig_xo_keyed *ks = NULL, *kd = NULL;
    int rc = db_msgmap_uidvalidities(m->db, m->job, src_raw, &uvs, &n_uvs, err);
    if (rc || n_uvs == 0 || has_uid(uvs, n_uvs, uidvalidity))
        goto out;
    struct mb_err line;
    MB_MSG(&line, 0, LOG_SRC_UIDVALIDITY, m->current_folder);
    mig_log_msg(m, "warn", &line);
    struct imap_status_info st;
    rc = imap_client_status(m->dst, dest_raw, &st, err);
    if (rc)
        goto out;
    rc = fetch_ids(m->src, 1, &s, err);
    if (!rc)
        rc = fetch_ids(m->dst, 1, &d, err);
    if (rc)
        goto out;
    /* The rules are mig_xo_rekey's: read the contents it asks for on both sides, then match. */
    ks = keyed_of(&s);
    kd = keyed_of(&d);
    mig_xo_rekey_needs(ks, s.n, kd, d.n);
    sw = xcalloc(s.n ? s.n : 1, sizeof(int));
    dw = xcalloc(d.n ? d.n : 1, sizeof(int));
    for (size_t i = 0; i < s.n; i++)
        sw[i] = ks[i].want_hash;
    for (size_t j = 0; j < d.n; j++)
        dw[j] = kd[j].want_hash;
    rc = hash_bodies(m->src, s.v, s.n, sw, NULL, err);
    if (!rc)
        rc = hash_bodies(m->dst, d.v, d.n, dw, NULL, err);
    if (rc)
        goto out;
    keyed_hashes(ks, &s);
    keyed_hashes(kd, &d);
    size_t matched = mig_xo_rekey(ks, s.n, kd, d.n);
    /* Record every match and forget the old rows in one transaction: a run stopped half-way
     * would otherwise leave rows under the new UIDVALIDITY, the next run would not re-key
     * again, and the messages not recorded yet would be copied a second time. */
    rc = db_begin_job(m->db, err);
    if (rc)
        goto out;
    for (size_t i = 0; i < s.n && !rc; i++) {
        if (!ks[i].match)
            continue;
        const struct hashed *x = &s.v[i];
        struct db_msg dm = {x->uid, (int64_t)x->size, x->idate, x->msgid, NULL};
        rc =
            db_msgmap_record_copied(m->db, m->job, src_raw, uidvalidity, &dm, dest_raw,
                                    st.uidvalidity, ks[i].match, x->has_hash ? x->hash : NULL, err);
    }
    for (size_t i = 0; i < n_uvs && !rc; i++)
        rc = db_msgmap_forget_folder_uidvalidity(m->db, m->job, src_raw, uvs[i], NULL, err);
    if (!rc)
        rc = db_commit(m->db, err);
    if (rc) {
        db_rollback(m->db);
        goto out;
    }
    MB_MSG(&line, 0, LOG_FOUND_COPIED, m->current_folder, matched);
    mig_log_msg(m, "info", &line);
out:
    free(uvs);
    free(sw);
    free(dw);
    free(ks);
    free(kd);
    idlist_fini(&s);
    idlist_fini(&d);
    return rc;
}

/* ---- step 5: reconciliation of unsettled rows ---- */

struct copies {
    struct mig_xo_copy *v;
    size_t n, cap;
    int64_t *sizes; /* real sizes of the unsettled rows (0 = unknown) */
    size_t nsizes, capsizes;
};

static int on_copy(void *ctx, const struct db_msgmap_row *row)
{
    struct copies *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    struct mig_xo_copy *c = &l->v[l->n++];
    c->dest_uid = row->dest_uid;
    c->first_uidnext = row->first_uidnext ? row->first_uidnext : row->dest_uidnext;
    c->verify = row->verify;
    memcpy(c->hash, row->hash, MIG_XO_HASH_LEN);
    if (row->verify) {
        if (l->nsizes == l->capsizes) {
            l->capsizes = l->capsizes ? l->capsizes * 2 : 64;
            l->sizes = xrealloc(l->sizes, l->capsizes * sizeof(*l->sizes));
        }
        l->sizes[l->nsizes++] = row->size;
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Remove the destination messages del[0..n) (ascending): \Deleted, then UID EXPUNGE of just
 * those (UIDPLUS), or EXPUNGE when no other message of the folder is marked \Deleted. */
static int remove_uids(struct mig_ctx *m, const uint32_t *del, size_t n, int *removed_r,
                       struct mb_err *err)
{
    *removed_r = 0;
    struct buf cmd;
    buf_init(&cmd, (size_t)16 << 20);
    buf_puts(&cmd, "UID STORE ");
    size_t at = cmd.len;
    for (size_t i = 0; i < n; i++)
        buf_printf(&cmd, "%s%u", i ? "," : "", del[i]);
    size_t end = cmd.len;
    buf_puts(&cmd, " +FLAGS.SILENT (\\Deleted)");
    int rc = imap_client_command(m->dst, buf_cstr(&cmd), IMAP_RESP_CTX_FOLDER, NULL, NULL, err);
    if (!rc && imap_client_has_cap(m->dst, "UIDPLUS")) {
        /* "UID EXPUNGE <set>", from the same set */
        struct buf ex;
        buf_init(&ex, (size_t)16 << 20);
        buf_puts(&ex, "UID EXPUNGE ");
        buf_append(&ex, cmd.data + at, end - at);
        rc = imap_client_command(m->dst, buf_cstr(&ex), IMAP_RESP_CTX_FOLDER, NULL, NULL, err);
        buf_fini(&ex);
        *removed_r = rc == 0;
    } else if (!rc) {
        uint32_t *marked = NULL;
        size_t n_marked = 0;
        rc = imap_client_uid_search(m->dst, "DELETED", &marked, &n_marked, err);
        int only_ours = rc == 0;
        for (size_t i = 0; only_ours && i < n_marked; i++)
            only_ours = bsearch(&marked[i], del, n, sizeof(*del), cmp_u32) != NULL;
        free(marked);
        if (only_ours) {
            rc = imap_client_command(m->dst, "EXPUNGE", IMAP_RESP_CTX_FOLDER, NULL, NULL, err);
            *removed_r = rc == 0;
        }
    }
    buf_fini(&cmd);
    return rc;
}

int mig_dedupe_reconcile(struct mig_ctx *m, const char *dest_raw, uint32_t dest_uidvalidity,
                         size_t *removed_r, struct mb_err *err)
{
    *removed_r = 0;
    int64_t started = (int64_t)time(NULL);
    struct copies cp = {0};
    struct idlist dl = {0};
    int *want = NULL;
    struct mig_xo_dest *dv = NULL;
    uint32_t *del = NULL;
    int rc = db_msgmap_copies(m->db, m->job, dest_raw, dest_uidvalidity, on_copy, &cp, err);
    uint32_t floor = rc ? 0 : mig_xo_floor(cp.v, cp.n);
    if (rc || !floor)
        goto settle;
    rc = fetch_ids(m->dst, floor, &dl, err);
    if (rc)
        goto out;
    /* Read the content of the messages no row records (with UIDPLUS: what arrived by other
     * ways since the floor, the late copies among them). */
    uint32_t *recorded = xcalloc(cp.n ? cp.n : 1, sizeof(*recorded));
    size_t nrec = 0;
    for (size_t i = 0; i < cp.n; i++)
        if (cp.v[i].dest_uid)
            recorded[nrec++] = cp.v[i].dest_uid;
    qsort(recorded, nrec, sizeof(*recorded), cmp_u32);
    /* Contents are read only where the size can match: the destination's RFC822.SIZE equals
     * the real size recorded with an unsettled row (a row recorded without one, from an
     * older version, makes every message a candidate). Without UIDPLUS this keeps the reading
     * to the likely late copies instead of the whole folder since the floor. */
    if (cp.nsizes)
        qsort(cp.sizes, cp.nsizes, sizeof(*cp.sizes), cmp_i64);
    int any_size = cp.nsizes == 0 || cp.sizes[0] <= 0;
    want = xcalloc(dl.n ? dl.n : 1, sizeof(int));
    for (size_t i = 0; i < dl.n; i++) {
        int64_t sz = (int64_t)dl.v[i].size;
        want[i] = !bsearch(&dl.v[i].uid, recorded, nrec, sizeof(*recorded), cmp_u32)
                  && (any_size || bsearch(&sz, cp.sizes, cp.nsizes, sizeof(sz), cmp_i64));
    }
    free(recorded);
    rc = hash_dest(m, dest_raw, dest_uidvalidity, dl.v, dl.n, want, err);
    if (rc)
        goto out;
    dv = xcalloc(dl.n ? dl.n : 1, sizeof(*dv));
    for (size_t i = 0; i < dl.n; i++) {
        dv[i].uid = dl.v[i].uid;
        dv[i].has_hash = dl.v[i].has_hash;
        memcpy(dv[i].hash, dl.v[i].hash, MIG_XO_HASH_LEN);
    }
    del = xcalloc(dl.n ? dl.n : 1, sizeof(*del));
    size_t ndel = mig_xo_reconcile(cp.v, cp.n, dv, dl.n, del);
    if (ndel) {
        int removed = 0;
        rc = remove_uids(m, del, ndel, &removed, err);
        if (rc)
            goto out;
        struct mb_err line;
        if (removed) {
            *removed_r = ndel;
            if (ndel == 1)
                MB_MSG(&line, 0, LOG_LATE_REMOVED_ONE, m->current_folder);
            else
                MB_MSG(&line, 0, LOG_LATE_REMOVED, m->current_folder, ndel);
        } else {
            if (ndel == 1)
                MB_MSG(&line, 0, LOG_LATE_MARKED_ONE, m->current_folder);
            else
                MB_MSG(&line, 0, LOG_LATE_MARKED, m->current_folder, ndel);
        }
        mig_log_msg(m, "warn", &line);
    }
settle:
    if (!rc)
        rc = db_msgmap_settle(m->db, m->job, dest_raw, dest_uidvalidity, started, NULL, err);
out:
    free(cp.v);
    free(cp.sizes);
    free(want);
    free(dv);
    free(del);
    idlist_fini(&dl);
    return rc;
}
