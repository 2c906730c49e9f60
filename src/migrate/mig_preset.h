/* mig_preset: the spec's five server types as one const data table.
 *
 * A preset tells the engine how to treat a kind of source server: its default IMAP
 * host, folders that are not mail (skipped), how Gmail's label views are handled,
 * connection caps and batch sizes. Everything is data; the engine has no per-type `if`. */
#ifndef MB_MIG_PRESET_H
#define MB_MIG_PRESET_H

#include <stddef.h>

/* What to do with a source folder carrying a special-use attribute. */
enum mig_view_rule {
    MIG_VIEW_SKIP = 0,        /* a virtual view of messages that live elsewhere (RFC 6154
                                 \All and \Flagged are virtual): skip */
    MIG_VIEW_COPY,            /* an ordinary folder: copy it */
    MIG_VIEW_ARCHIVE_ORPHANS, /* Gmail All Mail: copy only messages in no other folder,
                                 into the destination's Archive */
};

struct mig_preset {
    const char *name;         /* CSV / API value: "gmail" */
    const char *label;        /* UI label: "G Suite" */
    const char *default_host; /* used when the host is empty; NULL = host required */
    unsigned default_port;
    /* Folder names (UTF-8, compared case-insensitively with the top-level component after
     * the personal namespace prefix) that are not mail and are skipped with their children. */
    const char *const *skip_folders;
    enum mig_view_rule rule_all;       /* \All */
    enum mig_view_rule rule_flagged;   /* \Flagged (Gmail "Starred") */
    enum mig_view_rule rule_important; /* \Important (Gmail) */
    unsigned max_connections;          /* per source host, at most (0 = config value) */
    unsigned fetch_batch;              /* messages per UID FETCH command */
    int use_gmail_ext;                 /* ask X-GM-MSGID / X-GM-LABELS when offered */
    const char *auth_hint;             /* added to "authentication refused" errors, or NULL */
};

/* Look a preset up by its name (case-insensitive). NULL if unknown. */
const struct mig_preset *mig_preset_find(const char *name);
/* The table, in the UI's order; terminated by an entry whose name is NULL. */
const struct mig_preset *mig_preset_all(void);
/* 1 if the (UTF-8, prefix-stripped) folder path is skipped by the preset: its top-level
 * component is in skip_folders. delim is the path's hierarchy delimiter (0 = flat). */
int mig_preset_skips_folder(const struct mig_preset *p, const char *path, char delim);

#endif
