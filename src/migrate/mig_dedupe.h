/* mig_dedupe: the recovery half of exactly-once (see db/db_msgmap.h, steps 1 and 2).
 *
 * mig_dedupe_recover: messages left "in flight" by an interrupted run (kill -9, power loss,
 * dropped connection) may or may not have reached the destination. The destination messages
 * appended since the window's saved UIDNEXT (minus those owned by copied rows) are matched to
 * the in-flight rows by the SHA-256 of their content (the in-flight bodies are read again
 * from the source; the size recorded with a row is the source's RFC822.SIZE, which Exchange
 * does not report exactly, so it is never compared); matches are marked copied and are not
 * appended again; the others will be sent again.
 *
 * mig_dedupe_uidvalidity: when the source folder's UIDVALIDITY changed since the last run,
 * its old rows are useless; the source messages are matched against the destination folder
 * by Message-ID + INTERNALDATE when that pair is unique on both sides, else (several messages
 * share it, e.g. a list copy delivered in the same second as the direct one) and for
 * messages without Message-ID by INTERNALDATE + content hash (not RFC822.SIZE, for the same
 * reason); the matches are recorded copied under the new UIDVALIDITY and the old rows
 * forgotten in one transaction, so that a run stopped half-way re-keys again next time.
 *
 * Both expect the destination folder selected (read-write) on m->dst; they may select it
 * again. */
#ifndef MB_MIG_DEDUPE_H
#define MB_MIG_DEDUPE_H

#include <stdint.h>

#include "base/mb_err.h"

struct mig_ctx;

/* *matched_r / *matched_bytes_r: in-flight messages found on the destination. */
int mig_dedupe_recover(struct mig_ctx *m, const char *src_raw, uint32_t uidvalidity,
                       const char *dest_raw, uint32_t dest_uidvalidity, size_t *matched_r,
                       int64_t *matched_bytes_r, struct mb_err *err);
/* Step 5 (db_msgmap.h): with the destination folder selected read-write, remove the extra
 * copies that connections which died before their answer stored after the messages were sent
 * again (mig_xo_reconcile), then settle the rows whose settle time had come when this began.
 * *removed_r = messages removed. Contents read are kept for the run (m->hashes): after a lost
 * connection, the next reconciliation of the folder reads only what the last one had not. */
int mig_dedupe_reconcile(struct mig_ctx *m, const char *dest_raw, uint32_t dest_uidvalidity,
                         size_t *removed_r, struct mb_err *err);
int mig_dedupe_uidvalidity(struct mig_ctx *m, const char *src_raw, uint32_t uidvalidity,
                           const char *dest_raw, struct mb_err *err);
/* Forget the destination contents reconciliation read in this run (m->hashes). */
void mig_dedupe_cache_fini(struct mig_ctx *m);

#endif
