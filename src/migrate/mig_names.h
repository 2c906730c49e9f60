/* mig_names: folder-name knowledge: special-use roles, the well-known names of special
 * folders in English and French (the fall-back for servers without SPECIAL-USE), and a
 * case-insensitive comparison of UTF-8 names that folds ASCII and Latin-1 letters
 * (« Éléments envoyés » == « éléments envoyés »). */
#ifndef MB_MIG_NAMES_H
#define MB_MIG_NAMES_H

#include <stddef.h>

enum mig_role {
    MIG_ROLE_NONE = 0,
    MIG_ROLE_INBOX,
    MIG_ROLE_SENT,
    MIG_ROLE_DRAFTS,
    MIG_ROLE_TRASH,
    MIG_ROLE_JUNK,
    MIG_ROLE_ARCHIVE,
    MIG_ROLE_ALL,       /* \All: Gmail's All Mail */
    MIG_ROLE_FLAGGED,   /* \Flagged: Gmail's Starred */
    MIG_ROLE_IMPORTANT, /* \Important: Gmail */
    MIG_ROLE_COUNT_
};

/* "\Sent" → MIG_ROLE_SENT (case-insensitive); MIG_ROLE_NONE if not a special-use flag. */
enum mig_role mig_names_role_of_flag(const char *flag);
/* The special-use flag of a role ("\Sent"), or NULL. */
const char *mig_names_role_flag(enum mig_role role);
/* The role whose well-known names include name (whole path, after the personal namespace
 * prefix), or MIG_ROLE_NONE. */
enum mig_role mig_names_role_of_name(const char *name);
/* The name migrabox creates at the destination for a role it lacks ("Sent", "Drafts"...). */
const char *mig_names_default(enum mig_role role);
/* Case-insensitive equality of UTF-8 name a (NUL-terminated) and the first n bytes of b. */
int mig_names_equal_n(const char *a, const char *b, size_t n);
int mig_names_equal(const char *a, const char *b);

#endif
