/* mig_xo: the exactly-once rules as pure functions over plain data — no I/O, no database —
 * so that unit tests reach them without a server (tests/unit/test_mig_xo.c). The engine
 * (mig_dedupe.c) gathers the data over IMAP and from the message map, calls these, and
 * carries out the verdicts. The argument that the whole is exactly-once is in
 * docs/ARCHITECTURE.md ("Exactly once, at any restart timing").
 *
 * Vocabulary. A "row" is a source message's entry in the message map (db_msgmap.h). A
 * "window" is a group of messages sent together; its dest_uidnext is the destination folder's
 * UIDNEXT read before its first APPEND: whatever the window stored has a UID >= that. A row is
 * "unsettled" (verify) when an APPEND of it was sent on a connection that died before its
 * answer and it was sent again: the first copy may still land after the second one. */
#ifndef MB_MIG_XO_H
#define MB_MIG_XO_H

#include <stddef.h>
#include <stdint.h>

#define MIG_XO_HASH_LEN 32

/* A message of the destination folder, as read back. */
struct mig_xo_dest {
    uint32_t uid;
    int has_hash; /* 0: content not read (never matched, never removed) */
    unsigned char hash[MIG_XO_HASH_LEN];
    int has_size;
    uint64_t size; /* size as stored by the destination */
};

/* ---- delta (db_msgmap.h step 3) ---- */

/* The source's UIDs src[0..n) (ascending) against the message map's copied UIDs copied[0..nc)
 * (ascending): sets todo[i] = 1 for the messages still to send (never copied, in flight or
 * refused earlier: a new pass tries them again), 0 for those already copied. Returns the
 * number already copied. */
size_t mig_xo_delta(const uint32_t *src, size_t n, const uint32_t *copied, size_t nc,
                    unsigned char *todo);

/* Of `already` messages found copied at the start of a folder pass, those this very run copied
 * before a reconnection (run_copied) are not "skipped" (present from an earlier run). */
int64_t mig_xo_skipped(int64_t already, int64_t run_copied);

/* ---- recovery of in-flight windows (db_msgmap.h step 2) ---- */

struct mig_xo_inflight {
    uint32_t uid;            /* source UID */
    uint32_t window_uidnext; /* the window's dest_uidnext */
    int usable;              /* window into this very destination folder instance */
    int has_hash;            /* content hash known (recorded, or read again) */
    unsigned char hash[MIG_XO_HASH_LEN];
    int has_size;
    uint64_t size;        /* real size (literal), when known */
    uint32_t matched_uid; /* out: the destination copy found, 0 = none */
};

/* Match in-flight rows (in window order) to destination messages (ascending UID) that no
 * copied row owns: same content hash (and same real size when both are known), UID at or
 * above the row's window. Each destination message matches at most one row; rows take the
 * lowest such UID (the APPENDs of one connection are stored in order). Returns the number of
 * rows matched; sets matched_uid. */
size_t mig_xo_match(struct mig_xo_inflight *rows, size_t n, const struct mig_xo_dest *cands,
                    size_t nc);

/* Without UIDPLUS a copied row records no destination UID: its copy is one of the destination
 * messages with its content. Each such row whose copy lies at or above the candidates' floor
 * (its window began there: hashes[0..n)) claims one candidate of its content not claimed yet
 * (claimed[c] = 1), so that an interrupted message is never taken for found on the copy of
 * another message with the same content (exact duplicates). Returns the number claimed. */
size_t mig_xo_claim(const unsigned char (*hashes)[MIG_XO_HASH_LEN], size_t n,
                    const struct mig_xo_dest *cands, size_t nc, unsigned char *claimed);

/* ---- reconciliation after an ambiguous send ---- */

/* A copied row of the destination folder instance being reconciled. */
struct mig_xo_copy {
    uint32_t dest_uid;      /* APPENDUID or matched UID; 0 = unknown (no UIDPLUS) */
    uint32_t first_uidnext; /* lowest dest_uidnext of the windows that sent it */
    int verify;             /* unsettled: an earlier send may still land */
    unsigned char hash[MIG_XO_HASH_LEN];
};

/* The lowest UID an unsettled row's copies can have (0 when no row is unsettled). */
uint32_t mig_xo_floor(const struct mig_xo_copy *rows, size_t n);

/* Decide which destination messages are extra copies that migrabox itself appended.
 *
 * rows: every copied row with a content hash of this destination folder instance;
 * dest: every destination message with UID >= floor (floor = mig_xo_floor(rows)), in any
 * order; a message recorded by a row (its dest_uid) needs no hash: the row's is used.
 *
 * For each content C of an unsettled row: need(C) = rows of content C whose copy may lie at or
 * above the floor (every row with C except those whose recorded dest_uid is below it); have(C)
 * = destination messages at or above the floor with content C. When have > need, have - need
 * copies are extra: the ones recorded by no row are removed, highest UID first. A message
 * recorded by a row is never removed, nor one whose content is unknown, nor one of a content
 * no unsettled row has (the user's own mail), and a content always keeps `need` copies.
 *
 * Writes the UIDs to remove to del (room for ndest), ascending, and returns their number. */
size_t mig_xo_reconcile(const struct mig_xo_copy *rows, size_t nrows,
                        const struct mig_xo_dest *dest, size_t ndest, uint32_t *del);

/* ---- a window's messages: answers and commit (db_msgmap.h step 4) ---- */

/* Where a message of a window stands. */
enum mig_xo_outcome {
    MIG_XO_NOT_SENT = 0, /* its APPEND never started (the source did not send it, a stop) */
    MIG_XO_IN_FLIGHT,    /* sent, no answer: the copy may or may not exist */
    MIG_XO_COPIED,       /* the destination answered OK */
    MIG_XO_REFUSED,      /* the destination refused this message (or its folder) */
};

/* The outcome of the destination's answer to an APPEND: status 0 → copied, and *dest_uid_r =
 * the APPENDUID's UID when its UIDVALIDITY is the folder instance's (else 0: unknown, found
 * again by content if ever needed); MB_EMSG or MB_EFOLDER (a refusal) → refused; anything
 * else (the connection lost, a protocol error) → still in flight: recovery decides later. */
enum mig_xo_outcome mig_xo_append_outcome(int status, uint32_t answer_uidvalidity,
                                          uint32_t answer_uid, uint32_t folder_uidvalidity,
                                          uint32_t *dest_uid_r);

/* What a window's commit records for a message: a copy (with its destination UID, content
 * hash and real size), a refusal (with the reason), nothing (in flight: the row keeps its
 * window's UIDNEXT for recovery), or the row forgotten (never sent: the next pass sends it
 * as new). One transaction per window. */
enum mig_xo_record { MIG_XO_FORGET_ROW, MIG_XO_KEEP_ROW, MIG_XO_MARK_COPIED, MIG_XO_MARK_FAILED };
enum mig_xo_record mig_xo_commit_record(enum mig_xo_outcome o);

/* The window UIDNEXT bound after a copy stored as dest_uid (0 = unknown): the next window's
 * messages have UIDs at or above it. */
uint32_t mig_xo_bound(uint32_t bound, uint32_t dest_uid);

/* ---- re-keying after the source folder's UIDVALIDITY changed ---- */

/* A message of the rebuilt source folder, or of the destination folder. */
struct mig_xo_keyed {
    uint32_t uid;
    const char *msgid; /* normalised Message-ID, NULL if none */
    int64_t idate;     /* INTERNALDATE, unix seconds */
    int has_hash;      /* content hash known */
    unsigned char hash[MIG_XO_HASH_LEN];
    int want_hash;  /* out of mig_xo_rekey_needs: read its content */
    uint32_t match; /* out of mig_xo_rekey (source side): the destination
                     * UID it is already copied as, 0 = none */
};

/* The old message map is useless when the source folder's UIDVALIDITY changed; the messages
 * are matched again, source against destination, by key = (Message-ID, INTERNALDATE). A key
 * with a Message-ID held by exactly one message on each side is a match as it stands. When a
 * key is not unique on a side (a list copy delivered in the same second as the direct one has
 * the same Message-ID and date, other content) and for messages without Message-ID (key =
 * the date alone), contents decide: same hash. RFC822.SIZE is never compared (Exchange's is
 * not the size of the message it sends).
 *
 * mig_xo_rekey_needs: sets want_hash on both sides for the messages whose content decides
 * (those of a key both sides have, when the key is ambiguous or has no Message-ID). */
void mig_xo_rekey_needs(struct mig_xo_keyed *src, size_t ns, struct mig_xo_keyed *dst, size_t nd);
/* mig_xo_rekey: with the contents asked for read (has_hash), sets src[i].match; a destination
 * message matches at most one source message, in ascending UID order within a key. Returns
 * the number of source messages matched. */
size_t mig_xo_rekey(struct mig_xo_keyed *src, size_t ns, struct mig_xo_keyed *dst, size_t nd);

#endif
