/* mig_plan: the folder plan of a migration — which source folders are copied, into which
 * destination folder, which are skipped and why, which destination folders must be created
 * and subscribed.
 *
 * Rules (docs/ARCHITECTURE.md, "Folder plan"):
 *  - \Noselect folders are skipped (their children are not);
 *  - with subscribed_only, unsubscribed folders are skipped (INBOX is always copied);
 *  - the source's personal namespace prefix is stripped, the hierarchy delimiter converted,
 *    the destination's prefix added;
 *  - special folders (Sent, Drafts, Trash, Junk, Archive) map onto the destination's own:
 *    by SPECIAL-USE attributes where the source announces them (a user folder that merely
 *    has a special-sounding name stays a folder of its own), else by well-known English and
 *    French names; children follow their parent;
 *  - the preset's rules: non-mail folders (Exchange calendars...) and virtual views (\All,
 *    \Flagged, Gmail \Important) are skipped; Gmail's All Mail copies its archived-only
 *    messages into Archive;
 *  - two source folders never land in one destination folder: a clash is renamed " (2)"…
 *
 * Input strings are borrowed; the plan owns its own copies. */
#ifndef MB_MIG_PLAN_H
#define MB_MIG_PLAN_H

#include <stddef.h>

#include "base/mb_err.h"
#include "mig_names.h"
#include "mig_preset.h"

enum {
    MIG_F_NOSELECT = 1 << 0,
    MIG_F_SUBSCRIBED = 1 << 1,
    MIG_F_NONEXISTENT = 1 << 2,
};

struct mig_folder_in {
    const char *name;      /* UTF-8 (decoded from modified UTF-7) full name */
    unsigned flags;        /* MIG_F_* */
    enum mig_role special; /* from the SPECIAL-USE attribute; MIG_ROLE_NONE if none */
};

struct mig_side {
    const char *prefix;  /* personal namespace prefix, UTF-8 ("" when none, "INBOX.") */
    char delim;          /* hierarchy delimiter, 0 when flat */
    int has_special_use; /* attributes are authoritative: no fall-back on names */
    const struct mig_folder_in *folders;
    size_t n_folders;
};

enum mig_plan_action {
    MIG_PLAN_COPY = 0,
    MIG_PLAN_SKIP,
    MIG_PLAN_ARCHIVE_ORPHANS, /* copy messages that are in no other copied folder */
};

struct mig_plan_entry {
    char *src_name;     /* UTF-8 source name */
    size_t src_index;   /* index in the input folder array */
    char *dest_name;    /* UTF-8 full destination name; NULL when skipped */
    enum mig_role role; /* role the folder was mapped by, MIG_ROLE_NONE otherwise */
    enum mig_plan_action action;
    const char *skip_reason; /* static text when skipped */
    int skip_msg;            /* its code (enum msg_id, msg/msgcat.def) */
    int subscribe;           /* subscribe the destination folder */
    int create;              /* the destination folder does not exist yet */
    int renamed;             /* destination name altered (delimiter clash or collision) */
    int mapped;              /* destination name given by the job's folder_map */
};

struct mig_plan {
    struct mig_plan_entry *entries; /* in source order */
    size_t n;
};

int mig_plan_build(const struct mig_side *src, const struct mig_side *dst,
                   const struct mig_preset *preset, int subscribed_only, struct mig_plan *plan,
                   struct mb_err *err);
/* The same, with the job's options (NULL = none): folders excluded by exclude_folders are
 * skipped with reason MIG_PLAN_EXCLUDED; folder_map names the destination of a source folder
 * and its subfolders (before roles and parents). */
struct mig_options;
int mig_plan_build_opts(const struct mig_side *src, const struct mig_side *dst,
                        const struct mig_preset *preset, int subscribed_only,
                        const struct mig_options *opts, struct mig_plan *plan, struct mb_err *err);
#define MIG_PLAN_EXCLUDED "excluded by the job's options"
void mig_plan_fini(struct mig_plan *plan);

#endif
