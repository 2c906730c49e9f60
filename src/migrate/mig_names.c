#include "mig_names.h"

#include <string.h>
#include <strings.h>

static const char *const role_flags[MIG_ROLE_COUNT_] = {
    [MIG_ROLE_SENT] = "\\Sent",       [MIG_ROLE_DRAFTS] = "\\Drafts",
    [MIG_ROLE_TRASH] = "\\Trash",     [MIG_ROLE_JUNK] = "\\Junk",
    [MIG_ROLE_ARCHIVE] = "\\Archive", [MIG_ROLE_ALL] = "\\All",
    [MIG_ROLE_FLAGGED] = "\\Flagged", [MIG_ROLE_IMPORTANT] = "\\Important",
};

static const char *const defaults[MIG_ROLE_COUNT_] = {
    [MIG_ROLE_INBOX] = "INBOX", [MIG_ROLE_SENT] = "Sent", [MIG_ROLE_DRAFTS] = "Drafts",
    [MIG_ROLE_TRASH] = "Trash", [MIG_ROLE_JUNK] = "Junk", [MIG_ROLE_ARCHIVE] = "Archive",
};

/* Names used by Outlook/Exchange, Thunderbird, Apple Mail, Roundcube, SOGo, Zimbra, Domino
 * and French webmails for the special folders. */
static const struct {
    enum mig_role role;
    const char *name;
} known[] = {
    {MIG_ROLE_SENT, "Sent"},
    {MIG_ROLE_SENT, "Sent Items"},
    {MIG_ROLE_SENT, "Sent Messages"},
    {MIG_ROLE_SENT, "Sent Mail"},
    {MIG_ROLE_SENT, "Éléments envoyés"},
    {MIG_ROLE_SENT, "Messages envoyés"},
    {MIG_ROLE_SENT, "Envoyés"},
    {MIG_ROLE_DRAFTS, "Drafts"},
    {MIG_ROLE_DRAFTS, "Brouillons"},
    {MIG_ROLE_TRASH, "Trash"},
    {MIG_ROLE_TRASH, "Deleted Items"},
    {MIG_ROLE_TRASH, "Deleted Messages"},
    {MIG_ROLE_TRASH, "Bin"},
    {MIG_ROLE_TRASH, "Éléments supprimés"},
    {MIG_ROLE_TRASH, "Corbeille"},
    {MIG_ROLE_JUNK, "Junk"},
    {MIG_ROLE_JUNK, "Junk E-mail"},
    {MIG_ROLE_JUNK, "Junk Email"},
    {MIG_ROLE_JUNK, "Junk Mail"},
    {MIG_ROLE_JUNK, "Spam"},
    {MIG_ROLE_JUNK, "Courrier indésirable"},
    {MIG_ROLE_JUNK, "Pourriel"},
    {MIG_ROLE_JUNK, "Indésirables"},
    {MIG_ROLE_ARCHIVE, "Archive"},
    {MIG_ROLE_ARCHIVE, "Archives"},
};

enum mig_role mig_names_role_of_flag(const char *flag)
{
    for (int r = 0; r < MIG_ROLE_COUNT_; r++)
        if (role_flags[r] && strcasecmp(role_flags[r], flag) == 0)
            return (enum mig_role)r;
    return MIG_ROLE_NONE;
}

const char *mig_names_role_flag(enum mig_role role)
{
    return (unsigned)role < MIG_ROLE_COUNT_ ? role_flags[role] : NULL;
}

enum mig_role mig_names_role_of_name(const char *name)
{
    if (mig_names_equal(name, "INBOX"))
        return MIG_ROLE_INBOX;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (mig_names_equal(known[i].name, name))
            return known[i].role;
    return MIG_ROLE_NONE;
}

const char *mig_names_default(enum mig_role role)
{
    return (unsigned)role < MIG_ROLE_COUNT_ ? defaults[role] : NULL;
}

/* Decode one UTF-8 code point at *p (bounded by end) and fold its case for ASCII,
 * Latin-1 and œ/Œ. Invalid bytes are returned as themselves. */
static unsigned fold_next(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;
    unsigned c = *p++;
    if (c >= 0xC2 && c <= 0xDF && p < end && (*p & 0xC0) == 0x80)
        c = ((c & 0x1F) << 6) | (*p++ & 0x3F);
    else if (c >= 0xE0 && c <= 0xEF && end - p >= 2 && (p[0] & 0xC0) == 0x80
             && (p[1] & 0xC0) == 0x80) {
        c = ((c & 0x0F) << 12) | ((unsigned)(p[0] & 0x3F) << 6) | (p[1] & 0x3F);
        p += 2;
    }
    *pp = p;
    if (c >= 'A' && c <= 'Z')
        return c + 32;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 32;
    if (c == 0x152) /* Œ */
        return 0x153;
    return c;
}

int mig_names_equal_n(const char *a, const char *b, size_t n)
{
    const unsigned char *pa = (const unsigned char *)a, *ea = pa + strlen(a);
    const unsigned char *pb = (const unsigned char *)b, *eb = pb + n;
    while (pa < ea && pb < eb)
        if (fold_next(&pa, ea) != fold_next(&pb, eb))
            return 0;
    return pa == ea && pb == eb;
}

int mig_names_equal(const char *a, const char *b)
{
    return mig_names_equal_n(a, b, strlen(b));
}
