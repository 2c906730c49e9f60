/* The exactly-once core (src/migrate/mig_xo.c) with no server: recovery matching, the
 * reconciliation of copies a dead connection stored after the message was sent again, and
 * re-keying after the source folder's UIDVALIDITY changed. */
#define T_IMPLEMENTATION
#include "t.h"

#include "base/mb_err.h"
#include "migrate/mig_xo.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Content number k as a hash (distinct contents, distinct hashes). */
static void hash_of(unsigned char h[MIG_XO_HASH_LEN], int k)
{
    memset(h, 0, MIG_XO_HASH_LEN);
    h[0] = (unsigned char)k;
    h[31] = (unsigned char)(k * 7 + 1);
}

static struct mig_xo_dest dmsg(uint32_t uid, int k)
{
    struct mig_xo_dest d = {.uid = uid, .has_hash = k > 0};
    if (k > 0)
        hash_of(d.hash, k);
    return d;
}

static struct mig_xo_copy crow(uint32_t dest_uid, uint32_t first, int verify, int k)
{
    struct mig_xo_copy r = {.dest_uid = dest_uid, .first_uidnext = first, .verify = verify};
    hash_of(r.hash, k);
    return r;
}

static int contains(const uint32_t *v, size_t n, uint32_t uid)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == uid)
            return 1;
    return 0;
}

static void test_delta(void)
{
    T_BEGIN("delta: only the messages never copied are sent; skipped excludes this run's copies");
    const uint32_t src[] = {1, 2, 5, 7, 9, 10};
    const uint32_t copied[] = {2, 3, 7, 10, 11}; /* 3 and 11: gone from the source */
    unsigned char todo[N(src)];
    T_ASSERT_INT(mig_xo_delta(src, N(src), copied, N(copied), todo), 3);
    T_ASSERT(todo[0] && !todo[1] && todo[2] && !todo[3] && todo[4] && !todo[5]);
    T_ASSERT_INT(mig_xo_delta(src, N(src), NULL, 0, todo), 0);
    T_ASSERT(todo[0] && todo[5]);
    T_ASSERT_INT(mig_xo_delta(NULL, 0, copied, N(copied), todo), 0);
    T_ASSERT_INT(mig_xo_skipped(3, 0), 3);
    T_ASSERT_INT(mig_xo_skipped(3, 2), 1); /* two of them copied by this run before a cut */
    T_ASSERT_INT(mig_xo_skipped(3, 5), 0);
    T_END();
}

static void test_match_basic(void)
{
    T_BEGIN("recovery: in-flight rows matched by content at or above their window, once each");
    struct mig_xo_inflight rows[3] = {
        {.uid = 10, .window_uidnext = 50, .usable = 1, .has_hash = 1},
        {.uid = 11, .window_uidnext = 50, .usable = 1, .has_hash = 1},
        {.uid = 12, .window_uidnext = 50, .usable = 1, .has_hash = 1},
    };
    hash_of(rows[0].hash, 1);
    hash_of(rows[1].hash, 1); /* the same content twice in the source */
    hash_of(rows[2].hash, 3);
    struct mig_xo_dest c[] = {dmsg(49, 1), dmsg(50, 1), dmsg(52, 2)};
    size_t m = mig_xo_match(rows, 3, c, N(c));
    T_ASSERT_INT(m, 1);
    T_ASSERT_INT(rows[0].matched_uid, 50); /* 49 is below the window: an older message */
    T_ASSERT_INT(rows[1].matched_uid, 0);  /* 50 is taken: never matched twice */
    T_ASSERT_INT(rows[2].matched_uid, 0);
    T_END();
}

static void test_claim_without_uidplus(void)
{
    T_BEGIN(
        "recovery without UIDPLUS: a copied twin's copy is never taken for the interrupted one");
    /* Two messages with the same content: the first copied (no UID known), the second
     * interrupted and never stored. The one destination copy is the first's. */
    unsigned char copied[1][MIG_XO_HASH_LEN];
    hash_of(copied[0], 1);
    struct mig_xo_dest c[] = {dmsg(50, 1), dmsg(51, 2)};
    unsigned char claimed[2] = {0};
    T_ASSERT_INT(mig_xo_claim((const unsigned char(*)[MIG_XO_HASH_LEN])copied, 1, c, 2, claimed),
                 1);
    T_ASSERT_INT(claimed[0], 1);
    T_ASSERT_INT(claimed[1], 0);
    /* The interrupted twin then matches nothing: it is sent again, not lost. */
    struct mig_xo_inflight rows[1] = {
        {.uid = 11, .window_uidnext = 50, .usable = 1, .has_hash = 1}};
    hash_of(rows[0].hash, 1);
    struct mig_xo_dest left[] = {dmsg(51, 2)};
    T_ASSERT_INT(mig_xo_match(rows, 1, left, N(left)), 0);
    /* Two copied twins and two copies: both claimed; a third copy stays for the interrupted. */
    unsigned char two[2][MIG_XO_HASH_LEN];
    hash_of(two[0], 1);
    hash_of(two[1], 1);
    struct mig_xo_dest c3[] = {dmsg(60, 1), dmsg(61, 1), dmsg(62, 1)};
    unsigned char cl3[3] = {0};
    T_ASSERT_INT(mig_xo_claim((const unsigned char(*)[MIG_XO_HASH_LEN])two, 2, c3, 3, cl3), 2);
    T_ASSERT_INT(cl3[2], 0);
    /* Unread contents are never claimed. */
    struct mig_xo_dest c4[] = {dmsg(70, 0)};
    unsigned char cl4[1] = {0};
    T_ASSERT_INT(mig_xo_claim((const unsigned char(*)[MIG_XO_HASH_LEN])copied, 1, c4, 1, cl4), 0);
    T_END();
}

static void test_match_size_and_unusable(void)
{
    T_BEGIN("recovery: a different real size or an unusable window never matches");
    struct mig_xo_inflight rows[2] = {
        {.uid = 1, .window_uidnext = 1, .usable = 1, .has_hash = 1, .has_size = 1, .size = 10},
        {.uid = 2, .window_uidnext = 1, .usable = 0, .has_hash = 1},
    };
    hash_of(rows[0].hash, 1);
    hash_of(rows[1].hash, 2);
    struct mig_xo_dest c[] = {dmsg(5, 1), dmsg(6, 2)};
    c[0].has_size = 1;
    c[0].size = 11;
    T_ASSERT_INT(mig_xo_match(rows, 2, c, N(c)), 0);
    c[0].size = 10;
    T_ASSERT_INT(mig_xo_match(rows, 2, c, N(c)), 1);
    T_ASSERT_INT(rows[0].matched_uid, 5);
    T_END();
}

static void test_reconcile_late_copy(void)
{
    T_BEGIN("reconcile: the late copy of a re-sent message is removed, the recorded one kept");
    /* Window at UIDNEXT 100 sent contents 1..3, the connection died; the run sent them again
     * (UIDs 100..102, recorded); the first batch then landed as 103..105. */
    struct mig_xo_copy rows[] = {crow(100, 100, 1, 1), crow(101, 100, 1, 2), crow(102, 100, 1, 3),
                                 crow(40, 40, 0, 9)};
    struct mig_xo_dest d[] = {dmsg(100, 0), dmsg(101, 0), dmsg(102, 0), dmsg(103, 1),
                              dmsg(104, 2), dmsg(105, 3), dmsg(106, 7)};
    uint32_t del[N(d)];
    T_ASSERT_INT(mig_xo_floor(rows, N(rows)), 100);
    size_t n = mig_xo_reconcile(rows, N(rows), d, N(d), del);
    T_ASSERT_INT(n, 3);
    T_ASSERT_INT(del[0], 103);
    T_ASSERT_INT(del[1], 104);
    T_ASSERT_INT(del[2], 105);
    T_END();
}

static void test_reconcile_nothing_landed(void)
{
    T_BEGIN("reconcile: nothing removed when the first send never landed");
    struct mig_xo_copy rows[] = {crow(100, 90, 1, 1), crow(101, 90, 1, 2)};
    struct mig_xo_dest d[] = {dmsg(90, 5), dmsg(100, 0), dmsg(101, 0)};
    uint32_t del[N(d)];
    T_ASSERT_INT(mig_xo_reconcile(rows, N(rows), d, N(d), del), 0);
    T_END();
}

static void test_reconcile_source_duplicates(void)
{
    T_BEGIN("reconcile: byte-identical source messages keep one copy each");
    /* Two source messages with the same content, both re-sent (200, 201), both landed late
     * too (202, 203): two copies must stay. */
    struct mig_xo_copy rows[] = {crow(200, 150, 1, 4), crow(201, 150, 1, 4)};
    struct mig_xo_dest d[] = {dmsg(200, 0), dmsg(201, 0), dmsg(202, 4), dmsg(203, 4)};
    uint32_t del[N(d)];
    size_t n = mig_xo_reconcile(rows, N(rows), d, N(d), del);
    T_ASSERT_INT(n, 2);
    T_ASSERT(contains(del, n, 202) && contains(del, n, 203));
    /* Only one of them landed late: one extra. */
    struct mig_xo_dest d2[] = {dmsg(200, 0), dmsg(201, 0), dmsg(202, 4)};
    T_ASSERT_INT(mig_xo_reconcile(rows, N(rows), d2, N(d2), del), 1);
    T_ASSERT_INT(del[0], 202);
    T_END();
}

static void test_reconcile_without_uidplus(void)
{
    T_BEGIN("reconcile: without UIDPLUS (no recorded UID) one copy per row stays");
    struct mig_xo_copy rows[] = {crow(0, 10, 1, 1), crow(0, 10, 1, 2), crow(0, 10, 0, 3)};
    /* Re-sent copies 10..12 and late copies 13, 14 of contents 1 and 2; 15 is user mail. */
    struct mig_xo_dest d[] = {dmsg(10, 1), dmsg(11, 2), dmsg(12, 3),
                              dmsg(13, 1), dmsg(14, 2), dmsg(15, 8)};
    uint32_t del[N(d)];
    size_t n = mig_xo_reconcile(rows, N(rows), d, N(d), del);
    T_ASSERT_INT(n, 2);
    T_ASSERT_INT(del[0], 13);
    T_ASSERT_INT(del[1], 14);
    T_END();
}

static void test_reconcile_never_below_floor_or_unknown(void)
{
    T_BEGIN("reconcile: messages below the floor, of unknown content, or of settled content "
            "stay");
    /* Content 1's row is settled (verify 0); content 2's is unsettled. */
    struct mig_xo_copy rows[] = {crow(5, 5, 0, 1), crow(30, 20, 1, 2)};
    struct mig_xo_dest d[] = {dmsg(6, 1), dmsg(7, 2), /* below the floor (20) */
                              dmsg(21, 1), dmsg(30, 0), dmsg(31, 0) /* unknown content */};
    uint32_t del[N(d)];
    T_ASSERT_INT(mig_xo_reconcile(rows, N(rows), d, N(d), del), 0);
    T_END();
}

static void test_reconcile_recorded_below_floor(void)
{
    T_BEGIN("reconcile: a row whose copy is below the floor does not count at or above it");
    /* Content 3 was copied long ago at UID 4 (row 1) and, as another source message, sent in
     * the ambiguous window: re-sent copy 51 recorded, late copy 52. */
    struct mig_xo_copy rows[] = {crow(4, 4, 0, 3), crow(51, 50, 1, 3)};
    struct mig_xo_dest d[] = {dmsg(51, 0), dmsg(52, 3)};
    uint32_t del[N(d)];
    size_t n = mig_xo_reconcile(rows, N(rows), d, N(d), del);
    T_ASSERT_INT(n, 1);
    T_ASSERT_INT(del[0], 52);
    T_END();
}

static void test_reconcile_only_late_copy(void)
{
    T_BEGIN("reconcile: when the re-send was refused, the late copy is the only one and stays");
    /* The row was re-sent and recorded copied without a UID (e.g. matched later): the one
     * copy present is all the row needs. */
    struct mig_xo_copy rows[] = {crow(0, 70, 1, 6)};
    struct mig_xo_dest d[] = {dmsg(75, 6)};
    uint32_t del[N(d)];
    T_ASSERT_INT(mig_xo_reconcile(rows, N(rows), d, N(d), del), 0);
    T_END();
}

static void test_reconcile_exhaustive_small(void)
{
    T_BEGIN("reconcile: for every arrangement of up to 3 late copies, exactly one copy per row "
            "stays and no recorded copy goes");
    /* Rows r0..r2 (contents 1, 1, 2), re-sent at 100..102 (recorded); a subset of late copies
     * (content 1, 1, 2) landed at 103.. in any order. */
    struct mig_xo_copy rows[] = {crow(100, 90, 1, 1), crow(101, 90, 1, 1), crow(102, 90, 1, 2)};
    const int late_content[3] = {1, 1, 2};
    int ok = 1;
    for (int mask = 0; mask < 8; mask++) {
        struct mig_xo_dest d[6];
        size_t nd = 0;
        d[nd++] = dmsg(100, 0);
        d[nd++] = dmsg(101, 0);
        d[nd++] = dmsg(102, 0);
        uint32_t next = 103;
        for (int k = 0; k < 3; k++)
            if (mask & (1 << k))
                d[nd++] = dmsg(next++, late_content[k]);
        uint32_t del[6];
        size_t n = mig_xo_reconcile(rows, N(rows), d, nd, del);
        if (n != nd - 3)
            ok = 0;
        for (size_t i = 0; i < n; i++)
            if (del[i] < 103)
                ok = 0;
    }
    T_ASSERT(ok);
    T_END();
}

static void test_window_answers_and_commit(void)
{
    T_BEGIN("window: an APPEND answer's outcome, what the commit records, the UIDNEXT bound");
    uint32_t uid = 99;
    /* OK with APPENDUID of this folder instance: copied, its UID recorded */
    T_ASSERT_INT(mig_xo_append_outcome(0, 7, 42, 7, &uid), MIG_XO_COPIED);
    T_ASSERT_INT(uid, 42);
    /* OK with an APPENDUID of another instance (the folder was made again), or none: copied,
     * UID unknown */
    T_ASSERT_INT(mig_xo_append_outcome(0, 8, 42, 7, &uid), MIG_XO_COPIED);
    T_ASSERT_INT(uid, 0);
    T_ASSERT_INT(mig_xo_append_outcome(0, 0, 0, 7, &uid), MIG_XO_COPIED);
    T_ASSERT_INT(uid, 0);
    /* refused: this message, or the folder */
    T_ASSERT_INT(mig_xo_append_outcome(MB_EMSG, 0, 0, 7, &uid), MIG_XO_REFUSED);
    T_ASSERT_INT(mig_xo_append_outcome(MB_EFOLDER, 0, 0, 7, &uid), MIG_XO_REFUSED);
    /* no answer that says what happened: still in flight, never "failed" nor "copied" */
    T_ASSERT_INT(mig_xo_append_outcome(MB_ECONN, 7, 42, 7, &uid), MIG_XO_IN_FLIGHT);
    T_ASSERT_INT(mig_xo_append_outcome(MB_EPROTO, 0, 0, 7, &uid), MIG_XO_IN_FLIGHT);
    T_ASSERT_INT(mig_xo_append_outcome(MB_ECANCELED, 0, 0, 7, &uid), MIG_XO_IN_FLIGHT);
    T_ASSERT_INT(uid, 0);
    /* the commit: a row in flight is kept as it is (recovery decides), a message never sent
     * is forgotten (sent as new next time) */
    T_ASSERT_INT(mig_xo_commit_record(MIG_XO_COPIED), MIG_XO_MARK_COPIED);
    T_ASSERT_INT(mig_xo_commit_record(MIG_XO_REFUSED), MIG_XO_MARK_FAILED);
    T_ASSERT_INT(mig_xo_commit_record(MIG_XO_IN_FLIGHT), MIG_XO_KEEP_ROW);
    T_ASSERT_INT(mig_xo_commit_record(MIG_XO_NOT_SENT), MIG_XO_FORGET_ROW);
    /* the bound only grows, past each UID stored; an unknown UID leaves it */
    T_ASSERT_INT(mig_xo_bound(10, 12), 13);
    T_ASSERT_INT(mig_xo_bound(13, 12), 13);
    T_ASSERT_INT(mig_xo_bound(13, 0), 13);
    T_END();
}

/* ---- re-keying (source folder rebuilt with a new UIDVALIDITY) ---- */

static struct mig_xo_keyed kmsg(uint32_t uid, const char *msgid, int64_t idate, int k)
{
    struct mig_xo_keyed m = {.uid = uid, .msgid = msgid, .idate = idate};
    if (k > 0) {
        m.has_hash = 1;
        hash_of(m.hash, k);
    }
    return m;
}

/* The contents mig_xo_rekey_needs asked for become known (k = content number by index). */
static void read_contents(struct mig_xo_keyed *v, size_t n, const int *k)
{
    for (size_t i = 0; i < n; i++) {
        v[i].has_hash = 0;
        if (v[i].want_hash) {
            v[i].has_hash = 1;
            hash_of(v[i].hash, k[i]);
        }
    }
}

static void test_rekey_unique_ids(void)
{
    T_BEGIN("re-keying: a Message-ID + date held once on each side matches without reading");
    struct mig_xo_keyed src[] = {kmsg(1, "<a@x>", 100, 0), kmsg(2, "<b@x>", 200, 0),
                                 kmsg(3, "<c@x>", 300, 0)};
    /* destination in another order, one message the source no longer has, one date differs */
    struct mig_xo_keyed dst[] = {kmsg(10, "<b@x>", 200, 0), kmsg(11, "<z@x>", 50, 0),
                                 kmsg(12, "<a@x>", 100, 0), kmsg(13, "<c@x>", 301, 0)};
    mig_xo_rekey_needs(src, N(src), dst, N(dst));
    for (size_t i = 0; i < N(src); i++)
        T_ASSERT(!src[i].want_hash);
    for (size_t j = 0; j < N(dst); j++)
        T_ASSERT(!dst[j].want_hash);
    T_ASSERT_INT(mig_xo_rekey(src, N(src), dst, N(dst)), 2);
    T_ASSERT_INT(src[0].match, 12);
    T_ASSERT_INT(src[1].match, 10);
    T_ASSERT_INT(src[2].match, 0); /* another date: not the same message */
    T_END();
}

static void test_rekey_ambiguous_and_no_id(void)
{
    T_BEGIN("re-keying: a shared key or no Message-ID is decided by content, each copy once");
    /* uid 1 and 2: same Message-ID and date (a list copy and the direct one), contents 1, 2;
     * uid 3 and 4: no Message-ID, same date, contents 3, 4; uid 5: no Message-ID, content 5
     * with no copy at the destination; uid 6: unique id but no destination copy. */
    struct mig_xo_keyed src[] = {kmsg(1, "<l@x>", 100, 0), kmsg(2, "<l@x>", 100, 0),
                                 kmsg(3, NULL, 500, 0),    kmsg(4, NULL, 500, 0),
                                 kmsg(5, NULL, 500, 0),    kmsg(6, "<u@x>", 600, 0)};
    static const int ksrc[] = {1, 2, 3, 4, 5, 6};
    /* destination: the list copy only once (content 2), both messages 3 and 4, and a third
     * message without Message-ID at that date whose content the source does not have (7) */
    struct mig_xo_keyed dst[] = {kmsg(20, "<l@x>", 100, 0), kmsg(21, NULL, 500, 0),
                                 kmsg(22, NULL, 500, 0), kmsg(23, NULL, 500, 0)};
    static const int kdst[] = {2, 4, 7, 3};
    mig_xo_rekey_needs(src, N(src), dst, N(dst));
    /* Message-ID <l@x> appears twice at the source: contents decide on both sides. */
    T_ASSERT(src[0].want_hash && src[1].want_hash && dst[0].want_hash);
    T_ASSERT(src[2].want_hash && src[3].want_hash && src[4].want_hash);
    T_ASSERT(dst[1].want_hash && dst[2].want_hash && dst[3].want_hash);
    T_ASSERT(!src[5].want_hash); /* no destination message has its key: nothing to read */
    read_contents(src, N(src), ksrc);
    read_contents(dst, N(dst), kdst);
    T_ASSERT_INT(mig_xo_rekey(src, N(src), dst, N(dst)), 3);
    T_ASSERT_INT(src[0].match, 0); /* content 1 is not at the destination: sent again */
    T_ASSERT_INT(src[1].match, 20);
    T_ASSERT_INT(src[2].match, 23);
    T_ASSERT_INT(src[3].match, 21);
    T_ASSERT_INT(src[4].match, 0);
    T_ASSERT_INT(src[5].match, 0);
    T_END();
}

static void test_rekey_identical_twins(void)
{
    T_BEGIN("re-keying: identical messages match one destination copy each, never one twice");
    struct mig_xo_keyed src[] = {kmsg(1, NULL, 100, 9), kmsg(2, NULL, 100, 9),
                                 kmsg(3, NULL, 100, 9)};
    struct mig_xo_keyed dst[] = {kmsg(30, NULL, 100, 9), kmsg(31, NULL, 100, 9)};
    T_ASSERT_INT(mig_xo_rekey(src, N(src), dst, N(dst)), 2);
    T_ASSERT_INT(src[0].match, 30);
    T_ASSERT_INT(src[1].match, 31);
    T_ASSERT_INT(src[2].match,
                 0); /* the third copy is sent again: two stay two, three become three */
    /* A content not read (has_hash 0) never matches by content. */
    src[0].has_hash = 0;
    T_ASSERT_INT(mig_xo_rekey(src, N(src), dst, N(dst)), 2);
    T_ASSERT_INT(src[0].match, 0);
    T_ASSERT_INT(src[1].match, 30);
    T_ASSERT_INT(src[2].match, 31);
    /* Empty sides. */
    T_ASSERT_INT(mig_xo_rekey(src, 0, dst, N(dst)), 0);
    T_ASSERT_INT(mig_xo_rekey(src, N(src), dst, 0), 0);
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {
        test_delta,
        test_match_basic,
        test_claim_without_uidplus,
        test_match_size_and_unusable,
        test_reconcile_late_copy,
        test_reconcile_nothing_landed,
        test_reconcile_source_duplicates,
        test_reconcile_without_uidplus,
        test_reconcile_never_below_floor_or_unknown,
        test_reconcile_recorded_below_floor,
        test_reconcile_only_late_copy,
        test_reconcile_exhaustive_small,
        test_window_answers_and_commit,
        test_rekey_unique_ids,
        test_rekey_ambiguous_and_no_id,
        test_rekey_identical_twins,
        NULL,
    };
    return t_run(fns);
}
