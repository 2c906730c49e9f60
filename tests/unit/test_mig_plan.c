#define T_IMPLEMENTATION
#include "t.h"

#include "imap/imap_date.h"
#include "migrate/mig_internal.h"
#include "migrate/mig_names.h"
#include "migrate/mig_plan.h"
#include "migrate/mig_preset.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct mig_plan_entry *find(const struct mig_plan *p, const char *src)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->entries[i].src_name, src) == 0)
            return &p->entries[i];
    return NULL;
}

static const char *dest_of(const struct mig_plan *p, const char *src)
{
    const struct mig_plan_entry *e = find(p, src);
    return e ? (e->dest_name ? e->dest_name : "(skipped)") : "(absent)";
}

static const struct mig_side empty_std = {.prefix = "", .delim = '/', .has_special_use = 1};

static void test_dovecot_to_prefixed(void)
{
    T_BEGIN("plan: delimiter and prefix converted, special-use mapped, children follow");
    static const struct mig_folder_in src_f[] = {
        {"INBOX", MIG_F_SUBSCRIBED, MIG_ROLE_NONE},
        {"INBOX/Factures", MIG_F_SUBSCRIBED, MIG_ROLE_NONE},
        {"Envoyés", MIG_F_SUBSCRIBED, MIG_ROLE_SENT},
        {"Envoyés/2019", 0, MIG_ROLE_NONE},
        {"Éléments envoyés", 0, MIG_ROLE_NONE},
        {"Projets", MIG_F_NOSELECT, MIG_ROLE_NONE},
        {"Projets/Été 2018", MIG_F_SUBSCRIBED, MIG_ROLE_NONE},
        {"a.b", 0, MIG_ROLE_NONE},
        {"Corbeille", 0, MIG_ROLE_TRASH},
    };
    static const struct mig_folder_in dst_f[] = {
        {"INBOX", 0, MIG_ROLE_NONE},
        {"INBOX.Sent", 0, MIG_ROLE_SENT},
    };
    struct mig_side src = {"", '/', 1, src_f, N(src_f)};
    struct mig_side dst = {"INBOX.", '.', 1, dst_f, N(dst_f)};
    struct mig_plan plan;
    T_ASSERT_INT(mig_plan_build(&src, &dst, mig_preset_find("defaut"), 0, &plan, NULL), 0);
    T_ASSERT_STR(dest_of(&plan, "INBOX"), "INBOX");
    T_ASSERT_STR(dest_of(&plan, "INBOX/Factures"), "INBOX.Factures");
    T_ASSERT_STR(dest_of(&plan, "Envoyés"), "INBOX.Sent");
    T_ASSERT_STR(dest_of(&plan, "Envoyés/2019"), "INBOX.Sent.2019");
    /* SPECIAL-USE announced: a folder merely named like Sent stays its own folder. */
    T_ASSERT_STR(dest_of(&plan, "Éléments envoyés"), "INBOX.Éléments envoyés");
    T_ASSERT_STR(dest_of(&plan, "Projets"), "(skipped)");
    T_ASSERT_STR(dest_of(&plan, "Projets/Été 2018"), "INBOX.Projets.Été 2018");
    T_ASSERT_STR(dest_of(&plan, "a.b"), "INBOX.a_b");
    T_ASSERT(find(&plan, "a.b")->renamed);
    T_ASSERT_STR(dest_of(&plan, "Corbeille"), "INBOX.Trash");
    T_ASSERT(find(&plan, "Corbeille")->create);
    T_ASSERT(!find(&plan, "Envoyés")->create);
    T_ASSERT(find(&plan, "Envoyés")->subscribe);
    T_ASSERT(!find(&plan, "Envoyés/2019")->subscribe);
    mig_plan_fini(&plan);
    T_END();
}

static void test_names_fallback(void)
{
    T_BEGIN("plan: without SPECIAL-USE, French and English names map, one per role");
    static const struct mig_folder_in src_f[] = {
        {"INBOX", 0, MIG_ROLE_NONE},
        {"INBOX.Éléments envoyés", 0, MIG_ROLE_NONE},
        {"INBOX.Sent", 0, MIG_ROLE_NONE},
        {"INBOX.Brouillons", 0, MIG_ROLE_NONE},
        {"INBOX.Courrier indésirable", 0, MIG_ROLE_NONE},
        {"INBOX.Éléments supprimés", 0, MIG_ROLE_NONE},
        {"INBOX.Archives", 0, MIG_ROLE_NONE},
    };
    struct mig_side src = {"INBOX.", '.', 0, src_f, N(src_f)};
    struct mig_plan plan;
    T_ASSERT_INT(mig_plan_build(&src, &empty_std, mig_preset_find("defaut"), 0, &plan, NULL), 0);
    T_ASSERT_STR(dest_of(&plan, "INBOX.Éléments envoyés"), "Sent");
    T_ASSERT_STR(dest_of(&plan, "INBOX.Sent"), "Sent (2)"); /* never merged silently */
    T_ASSERT(find(&plan, "INBOX.Sent")->renamed);
    T_ASSERT_STR(dest_of(&plan, "INBOX.Brouillons"), "Drafts");
    T_ASSERT_STR(dest_of(&plan, "INBOX.Courrier indésirable"), "Junk");
    T_ASSERT_STR(dest_of(&plan, "INBOX.Éléments supprimés"), "Trash");
    T_ASSERT_STR(dest_of(&plan, "INBOX.Archives"), "Archive");
    mig_plan_fini(&plan);
    T_END();
}

static void test_subscribed_only(void)
{
    T_BEGIN("plan: subscribed only skips unsubscribed folders but keeps INBOX");
    static const struct mig_folder_in src_f[] = {
        {"INBOX", 0, MIG_ROLE_NONE},
        {"Abonné", MIG_F_SUBSCRIBED, MIG_ROLE_NONE},
        {"Pas abonné", 0, MIG_ROLE_NONE},
    };
    struct mig_side src = {"", '/', 1, src_f, N(src_f)};
    struct mig_plan plan;
    T_ASSERT_INT(mig_plan_build(&src, &empty_std, mig_preset_find("defaut"), 1, &plan, NULL), 0);
    T_ASSERT_STR(dest_of(&plan, "INBOX"), "INBOX");
    T_ASSERT_STR(dest_of(&plan, "Abonné"), "Abonné");
    T_ASSERT_STR(dest_of(&plan, "Pas abonné"), "(skipped)");
    T_ASSERT_STR(find(&plan, "Pas abonné")->skip_reason, "not subscribed");
    mig_plan_fini(&plan);
    T_ASSERT_INT(mig_plan_build(&src, &empty_std, mig_preset_find("defaut"), 0, &plan, NULL), 0);
    T_ASSERT_STR(dest_of(&plan, "Pas abonné"), "Pas abonné");
    mig_plan_fini(&plan);
    T_END();
}

static void test_gmail(void)
{
    T_BEGIN("plan: gmail preset skips views and archives All Mail orphans");
    /* LIST as documented by Google (developers.google.com/gmail/imap/imap-extensions). */
    static const struct mig_folder_in src_f[] = {
        {"INBOX", 0, MIG_ROLE_NONE},
        {"[Gmail]", MIG_F_NOSELECT, MIG_ROLE_NONE},
        {"[Gmail]/All Mail", 0, MIG_ROLE_ALL},
        {"[Gmail]/Drafts", 0, MIG_ROLE_DRAFTS},
        {"[Gmail]/Important", 0, MIG_ROLE_IMPORTANT},
        {"[Gmail]/Sent Mail", 0, MIG_ROLE_SENT},
        {"[Gmail]/Spam", 0, MIG_ROLE_JUNK},
        {"[Gmail]/Starred", 0, MIG_ROLE_FLAGGED},
        {"[Gmail]/Trash", 0, MIG_ROLE_TRASH},
        {"Clients/Dupont", 0, MIG_ROLE_NONE},
    };
    struct mig_side src = {"", '/', 1, src_f, N(src_f)};
    struct mig_plan plan;
    T_ASSERT_INT(mig_plan_build(&src, &empty_std, mig_preset_find("gmail"), 0, &plan, NULL), 0);
    T_ASSERT_STR(dest_of(&plan, "[Gmail]/All Mail"), "Archive");
    T_ASSERT_INT(find(&plan, "[Gmail]/All Mail")->action, MIG_PLAN_ARCHIVE_ORPHANS);
    T_ASSERT_STR(dest_of(&plan, "[Gmail]/Important"), "(skipped)");
    T_ASSERT_STR(dest_of(&plan, "[Gmail]/Starred"), "(skipped)");
    T_ASSERT_STR(dest_of(&plan, "[Gmail]/Sent Mail"), "Sent");
    T_ASSERT_STR(dest_of(&plan, "[Gmail]/Spam"), "Junk");
    T_ASSERT_STR(dest_of(&plan, "[Gmail]/Trash"), "Trash");
    T_ASSERT_STR(dest_of(&plan, "Clients/Dupont"), "Clients/Dupont");
    mig_plan_fini(&plan);
    /* The same list under the "defaut" preset: virtual \All is skipped, Important copied. */
    T_ASSERT_INT(mig_plan_build(&src, &empty_std, mig_preset_find("defaut"), 0, &plan, NULL), 0);
    T_ASSERT_STR(dest_of(&plan, "[Gmail]/All Mail"), "(skipped)");
    T_ASSERT_STR(dest_of(&plan, "[Gmail]/Important"), "[Gmail]/Important");
    mig_plan_fini(&plan);
    T_END();
}

static void test_exchange(void)
{
    T_BEGIN("plan: exchange and office presets skip non-mail folders (fr and en)");
    static const struct mig_folder_in src_f[] = {
        {"INBOX", 0, MIG_ROLE_NONE},
        {"Calendrier", 0, MIG_ROLE_NONE},
        {"Calendar/Birthdays", 0, MIG_ROLE_NONE},
        {"Contacts", 0, MIG_ROLE_NONE},
        {"Tâches", 0, MIG_ROLE_NONE},
        {"Problèmes de synchronisation/Conflits", 0, MIG_ROLE_NONE},
        {"Éléments envoyés", 0, MIG_ROLE_NONE},
        {"Clients", 0, MIG_ROLE_NONE},
    };
    struct mig_side src = {"", '/', 0, src_f, N(src_f)};
    const char *types[] = {"exchange", "office"};
    for (int t = 0; t < 2; t++) {
        struct mig_plan plan;
        T_ASSERT_INT(mig_plan_build(&src, &empty_std, mig_preset_find(types[t]), 0, &plan, NULL),
                     0);
        T_ASSERT_STR(dest_of(&plan, "Calendrier"), "(skipped)");
        T_ASSERT_STR(dest_of(&plan, "Calendar/Birthdays"), "(skipped)");
        T_ASSERT_STR(dest_of(&plan, "Contacts"), "(skipped)");
        T_ASSERT_STR(dest_of(&plan, "Tâches"), "(skipped)");
        T_ASSERT_STR(dest_of(&plan, "Problèmes de synchronisation/Conflits"), "(skipped)");
        T_ASSERT_STR(dest_of(&plan, "Éléments envoyés"), "Sent");
        T_ASSERT_STR(dest_of(&plan, "Clients"), "Clients");
        mig_plan_fini(&plan);
    }
    /* The defaut preset copies a folder named Contacts. */
    struct mig_plan plan;
    T_ASSERT_INT(mig_plan_build(&src, &empty_std, mig_preset_find("defaut"), 0, &plan, NULL), 0);
    T_ASSERT_STR(dest_of(&plan, "Contacts"), "Contacts");
    mig_plan_fini(&plan);
    T_END();
}

static void test_domino(void)
{
    T_BEGIN("plan: domino backslash delimiter converted");
    static const struct mig_folder_in src_f[] = {
        {"INBOX", 0, MIG_ROLE_NONE},
        {"Dossiers\\Clients\\2017", 0, MIG_ROLE_NONE},
        {"Drafts", 0, MIG_ROLE_NONE},
    };
    struct mig_side src = {"", '\\', 0, src_f, N(src_f)};
    struct mig_plan plan;
    T_ASSERT_INT(mig_plan_build(&src, &empty_std, mig_preset_find("domino"), 0, &plan, NULL), 0);
    T_ASSERT_STR(dest_of(&plan, "Dossiers\\Clients\\2017"), "Dossiers/Clients/2017");
    T_ASSERT_STR(dest_of(&plan, "Drafts"), "Drafts");
    T_ASSERT_INT(mig_preset_find("domino")->fetch_batch < mig_preset_find("defaut")->fetch_batch,
                 1);
    mig_plan_fini(&plan);
    T_END();
}

static void test_presets(void)
{
    T_BEGIN("presets: the five types, defaults hosts, names fold case");
    const char *names[] = {"gmail", "exchange", "office", "domino", "defaut"};
    for (int i = 0; i < 5; i++)
        T_ASSERT(mig_preset_find(names[i]) != NULL);
    T_ASSERT(mig_preset_find("GMAIL") == mig_preset_find("gmail"));
    T_ASSERT(mig_preset_find("yahoo") == NULL);
    T_ASSERT_STR(mig_preset_find("gmail")->default_host, "imap.gmail.com");
    T_ASSERT_STR(mig_preset_find("office")->default_host, "outlook.office365.com");
    T_ASSERT(mig_preset_find("defaut")->default_host == NULL);
    T_ASSERT(mig_names_equal("Éléments Envoyés", "éléments envoyés"));
    T_ASSERT(mig_names_equal("ŒUVRES", "œuvres"));
    T_ASSERT(!mig_names_equal("Sent", "Sent Items"));
    T_ASSERT_INT(mig_names_role_of_flag("\\sent"), MIG_ROLE_SENT);
    T_ASSERT_INT(mig_names_role_of_name("CORBEILLE"), MIG_ROLE_TRASH);
    T_END();
}

static void test_internaldate(void)
{
    T_BEGIN("INTERNALDATE: valid forms accepted, out-of-range fields refused, UTC conversion");
    T_ASSERT(imap_date_valid("17-Jul-1996 02:44:25 -0700"));
    T_ASSERT(imap_date_valid(" 4-Mar-2019 05:06:07 +0100"));
    T_ASSERT(imap_date_valid("31-Dec-2024 23:59:60 +0000"));
    T_ASSERT(!imap_date_valid("31-Foo-2020 25:61:00 +9999"));
    T_ASSERT(!imap_date_valid("32-Jan-2020 10:00:00 +0000"));
    T_ASSERT(!imap_date_valid("00-Jan-2020 10:00:00 +0000"));
    T_ASSERT(!imap_date_valid("17-Jul-1996 24:00:00 +0000"));
    T_ASSERT(!imap_date_valid("17-Jul-1996 02:44:25 +2400"));
    T_ASSERT(!imap_date_valid("17-Jul-1996 02:44:25 0700"));
    T_ASSERT(!imap_date_valid("17-jul-1996 02:44:25 -0700"));
    T_ASSERT(!imap_date_valid("4-Mar-2019 05:06:07 +0100"));
    T_ASSERT(!imap_date_valid(""));
    T_ASSERT(!imap_date_valid(NULL));
    T_ASSERT_INT(imap_date_parse("17-Jul-1996 02:44:25 -0700"), 837596665);
    T_ASSERT_INT(imap_date_parse(" 1-Jan-1970 01:00:00 +0100"), 0);
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {test_dovecot_to_prefixed,
                                        test_names_fallback,
                                        test_subscribed_only,
                                        test_gmail,
                                        test_exchange,
                                        test_domino,
                                        test_presets,
                                        test_internaldate,
                                        NULL};
    return t_run(fns);
}
