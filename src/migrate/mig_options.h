/* mig_options: the migration options an administrator sets on a job (API fields, CSV import
 * query parameters, `migrabox migrate` flags), stored with the job as one JSON object and
 * applied identically by every run of the job.
 *
 *   since, before       dates YYYY-MM-DD on INTERNALDATE, in UTC: a message is copied when
 *                       since 00:00:00 UTC <= INTERNALDATE < before 00:00:00 UTC (IMAP's
 *                       SEARCH SINCE/BEFORE compare dates only, in the server's own zone; we
 *                       compare instants, so the result does not depend on the server). A
 *                       message whose INTERNALDATE cannot be read is copied.
 *   exclude_folders     patterns on the folder's name relative to the personal namespace,
 *                       levels separated by '/' whatever the server's delimiter; '*' matches
 *                       any run of characters (across levels too); "INBOX" in any case. A
 *                       pattern matches the whole name: "Archives" excludes that folder only,
 *                       "Archives/" followed by a star its subfolders. Ready-made choices
 *                       "\Trash" and "\Junk" (also "\Sent", "\Drafts", "\Archive") exclude
 *                       the folder of that special use and its subfolders.
 *   folder_map          source name -> destination name ('/' separates levels on both
 *                       sides); subfolders of a mapped folder follow it. A mapping wins over
 *                       the special-use mapping.
 *   max_message_size    bytes (RFC822.SIZE as the source announces it); bigger messages are
 *                       left out and counted in the report.
 *   gmail_labels        "each" (default): a Gmail message is copied into the folder of every
 *                       label it has; "first": only into the first of those folders in the
 *                       source's folder order (the others count it as left out). Needs
 *                       Gmail's X-GM-EXT-1; elsewhere it changes nothing.
 *
 * Messages and folders left out by an option are reported with the reason, never as
 * failures. Input strings are copied. */
#ifndef MB_MIG_OPTIONS_H
#define MB_MIG_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/mb_err.h"
#include "json/json_read.h"
#include "json/json_write.h"
#include "migrate/mig_names.h"

#define MIG_OPT_PATTERNS_MAX 100
#define MIG_OPT_MAPS_MAX 100
#define MIG_OPT_NAME_MAX 1000

struct mig_folder_map {
    char *src;
    char *dst;
};

struct mig_options {
    int64_t since;  /* unix seconds (a UTC midnight), 0 = none */
    int64_t before; /* unix seconds (a UTC midnight), 0 = none */
    char **exclude; /* patterns, as given */
    size_t n_exclude;
    struct mig_folder_map *map;
    size_t n_map;
    int64_t max_message_size; /* bytes, 0 = no limit */
    int gmail_labels_first;   /* gmail_labels "first" (0 = "each") */
};

void mig_options_fini(struct mig_options *o);
/* 1 when no option is set. */
int mig_options_empty(const struct mig_options *o);

/* "2024-01-31" -> unix seconds of that day's 00:00:00 UTC. MB_ECONFIG on anything else
 * (wrong shape, impossible day such as 2023-02-29, years outside 1970-9999). */
int mig_options_parse_date(const char *s, int64_t *t_r, struct mb_err *err);
/* Setters used by every front-end; each checks its value (MB_ECONFIG, with the reason). */
int mig_options_set_since(struct mig_options *o, const char *date, struct mb_err *err);
int mig_options_set_before(struct mig_options *o, const char *date, struct mb_err *err);
int mig_options_add_exclude(struct mig_options *o, const char *pattern, struct mb_err *err);
int mig_options_add_map(struct mig_options *o, const char *src, const char *dst,
                        struct mb_err *err);
/* "SRC=DST" (the CLI's --map-folder); the first '=' splits. */
int mig_options_add_map_arg(struct mig_options *o, const char *arg, struct mb_err *err);
/* Decimal bytes, >= 1. */
int mig_options_set_max_size(struct mig_options *o, const char *s, struct mb_err *err);
/* "each" or "first". */
int mig_options_set_gmail_labels(struct mig_options *o, const char *s, struct mb_err *err);
/* Cross-field checks once every option is set (since before before). */
int mig_options_check(const struct mig_options *o, struct mb_err *err);

/* Read the option members of a JSON object (a POST /api/jobs body, or the stored form):
 * "since", "before" (strings), "exclude_folders" (array of strings), "folder_map" (object of
 * strings), "max_message_size" (integer), "gmail_labels" ("each" | "first"); absent or null = not
 * set. Other members are ignored. MB_ECONFIG with the reason. */
int mig_options_from_json(const struct json_value *obj, struct mig_options *o, struct mb_err *err);
/* Parse the stored text (NULL or "" = no option). */
int mig_options_parse(const char *json, struct mig_options *o, struct mb_err *err);
/* Write the set options as members of the JSON object being written (nothing if none). */
void mig_options_write_members(struct json_w *w, const struct mig_options *o);
/* The stored text: a JSON object, or NULL when no option is set (free() it). */
char *mig_options_to_json(const struct mig_options *o);

/* Is a folder excluded? rel: its name relative to the personal namespace with the levels
 * joined by '/'; role: its special use (MIG_ROLE_NONE if none); parent_roles: roles of its
 * ancestors (bitmask of 1 << role), for "\Trash" excluding the trash's subfolders. Returns
 * the matching pattern (borrowed) or NULL. */
const char *mig_options_excluded(const struct mig_options *o, const char *rel, enum mig_role role,
                                 unsigned parent_roles);
/* '*' glob over the whole of name. */
int mig_options_glob(const char *pattern, const char *name);
/* The mapping of rel ('/'-joined): 1 and out = destination ('/'-joined, with the rest of rel
 * below the mapped folder), or 0 when no mapping applies. The longest mapped source wins. */
int mig_options_map(const struct mig_options *o, const char *rel, struct buf *out);

#endif
