/* db_folder: what each source folder looked like at the end of a job's last clean pass, so
 * that the next pass (a delta) leaves an unchanged folder alone without a command: same
 * UIDVALIDITY, UIDNEXT, MESSAGES and HIGHESTMODSEQ (RFC 7162: any change to the folder's
 * messages or their flags raises it) at the source, same UIDVALIDITY at the destination, and
 * no message of the folder left in flight, refused or unsettled in the message map.
 *
 * A folder's state is recorded only after a pass that accounted for every message of it (none
 * refused, none vanished, nothing unsettled), from the STATUS taken before that pass read the
 * folder: what arrived meanwhile makes the next pass look again. A change of the job's options
 * forgets every state of the job (a trigger on jobs.options). */
#ifndef MB_DB_FOLDER_H
#define MB_DB_FOLDER_H

#include <stdint.h>

#include "base/mb_err.h"
#include "db/db.h"

struct db_folder_state {
    uint32_t uidvalidity, uidnext, messages; /* the source folder's STATUS */
    uint64_t highestmodseq;
    uint32_t dest_uidvalidity;                /* the destination folder instance */
    int64_t counted;                          /* messages the pass accounted for */
    int64_t bytes;                            /* their size */
    int64_t dest_count;                       /* destination messages then, -1 unknown */
    int64_t left_date, left_size, left_label; /* left out by the job's options then */
};

/* *found_r = 1 and *st filled when (job, folder) has a state. */
int db_folder_get(struct db *db, int64_t job, const char *folder, struct db_folder_state *st,
                  int *found_r, struct mb_err *err);
int db_folder_put(struct db *db, int64_t job, const char *folder, const struct db_folder_state *st,
                  struct mb_err *err);
int db_folder_forget(struct db *db, int64_t job, const char *folder, struct mb_err *err);
/* Rows of (job, folder) that are not settled copies: in flight, refused, or unsettled. */
int db_folder_open_rows(struct db *db, int64_t job, const char *folder, int64_t *n_r,
                        struct mb_err *err);

#endif
