#include "mig_preset.h"

#include <string.h>
#include <strings.h>

#include "mig_names.h"

/* Microsoft Exchange / Office 365 expose non-mail folders over IMAP (English and French
 * names of Outlook's default folders). Their items are not messages a user wants copied. */
static const char *const exchange_skip[] = {
    "Calendar",
    "Calendrier",
    "Contacts",
    "Tasks",
    "Tâches",
    "Journal",
    "Notes",
    "Sync Issues",
    "Problèmes de synchronisation",
    "Conversation History",
    "Historique des conversations",
    "RSS Feeds",
    "Flux RSS",
    "Suggested Contacts",
    "Contacts suggérés",
    "Conversation Action Settings",
    "Quick Step Settings",
    "Yammer Root",
    "Files",
    "Fichiers",
    "Social Activity Notifications",
    "Outbox",
    "Boîte d'envoi",
    NULL,
};

static const char *const no_skip[] = {NULL};

static const struct mig_preset presets[] = {
    {
        .name = "gmail",
        .label = "G Suite",
        .default_host = "imap.gmail.com",
        .default_port = 993,
        .skip_folders = no_skip,
        /* Gmail shows every message again in [Gmail]/All Mail (\All); Starred (\Flagged)
         * and Important are views. Messages only in All Mail are archived ones. */
        .rule_all = MIG_VIEW_ARCHIVE_ORPHANS,
        .rule_flagged = MIG_VIEW_SKIP,
        .rule_important = MIG_VIEW_SKIP,
        /* Gmail allows 15 simultaneous IMAP connections per account. */
        .max_connections = 10,
        .fetch_batch = 100,
        .use_gmail_ext = 1,
        .auth_hint = "for Gmail, IMAP must be enabled and an app password used "
                     "(see the Gmail/Yahoo help page)",
    },
    {
        .name = "exchange",
        .rule_all = MIG_VIEW_SKIP,
        .rule_flagged = MIG_VIEW_SKIP,
        .rule_important = MIG_VIEW_COPY,
        .label = "MS-Exchange",
        .default_host = NULL,
        .default_port = 993,
        .skip_folders = exchange_skip,
        .max_connections = 8,
        .fetch_batch = 50,
    },
    {
        .name = "office",
        .rule_all = MIG_VIEW_SKIP,
        .rule_flagged = MIG_VIEW_SKIP,
        .rule_important = MIG_VIEW_COPY,
        .label = "Office 365",
        .default_host = "outlook.office365.com",
        .default_port = 993,
        .skip_folders = exchange_skip,
        .max_connections = 8,
        .fetch_batch = 50,
    },
    {
        .name = "domino",
        .rule_all = MIG_VIEW_SKIP,
        .rule_flagged = MIG_VIEW_SKIP,
        .rule_important = MIG_VIEW_COPY,
        .label = "Domino",
        .default_host = NULL,
        .default_port = 993,
        .skip_folders = no_skip,
        .max_connections = 4,
        .fetch_batch = 20,
    },
    {
        .name = "defaut",
        .rule_all = MIG_VIEW_SKIP,
        .rule_flagged = MIG_VIEW_SKIP,
        .rule_important = MIG_VIEW_COPY,
        .label = "Standard",
        .default_host = NULL,
        .default_port = 993,
        .skip_folders = no_skip,
        .max_connections = 0,
        .fetch_batch = 200,
    },
    {.name = NULL},
};

const struct mig_preset *mig_preset_all(void)
{
    return presets;
}

const struct mig_preset *mig_preset_find(const char *name)
{
    if (!name)
        return NULL;
    for (const struct mig_preset *p = presets; p->name; p++)
        if (strcasecmp(p->name, name) == 0)
            return p;
    return NULL;
}

int mig_preset_skips_folder(const struct mig_preset *p, const char *path, char delim)
{
    size_t top = delim ? strcspn(path, (char[]){delim, 0}) : strlen(path);
    for (const char *const *s = p->skip_folders; *s; s++)
        if (mig_names_equal_n(*s, path, top))
            return 1;
    return 0;
}
