/* net_host: the one host[:port] parser (the importer's and the engine's before issue 15). */
#define T_IMPLEMENTATION
#include "t.h"

#include <string.h>

#include "base/mb_err.h"
#include "msg/msgcat.h"
#include "net/net_host.h"

static void test_parse(void)
{
    T_BEGIN("host syntax: names, IPv4, [IPv6], ports (what the importer accepted and refused)");
    static const struct {
        const char *in, *host;
        unsigned port;
    } good[] = {
        {"imap.gmail.com", "imap.gmail.com", 0},
        {"IMAP.Example.COM:993", "imap.example.com", 993},
        {"mail", "mail", 0},
        {"mail.example.com.", "mail.example.com.", 0},
        {"my_host.corp.local:143", "my_host.corp.local", 143},
        {"192.0.2.10", "192.0.2.10", 0},
        {"192.0.2.10:65535", "192.0.2.10", 65535},
        {"[2001:DB8::1]", "2001:db8::1", 0},
        {"[::1]:1", "::1", 1},
        {"xn--socit-esab.fr", "xn--socit-esab.fr", 0},
        {"1a.example", "1a.example", 0},
    };
    static const char *const bad[] = {
        "",
        ":993",
        "host:",
        "host:0",
        "host:65536",
        "host:+1",
        "host:1:2",
        "[::1",
        "[::1]x",
        "[zz]",
        "[]",
        "1.2.3",
        "1.2.3.256",
        "01.2.3.4",
        "a..b",
        ".a",
        "a-.b",
        "a.-b",
        "a b",
        "h\xc3\xa9.fr",
        "host.123",
        "[::1]:",
        "[fe80::1%eth0]",
        "host:123456",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
    };
    char host[256];
    unsigned port;
    int why;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int rc = net_host_parse(good[i].in, host, sizeof(host), &port, &why);
        if (rc != 0)
            fprintf(stderr, "  refused %s: %s\n", good[i].in, msgcat_template(why, MSG_LANG_EN));
        T_ASSERT_INT(rc, 0);
        T_ASSERT_STR(host, good[i].host);
        T_ASSERT_INT(port, good[i].port);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = net_host_parse(bad[i], host, sizeof(host), &port, &why);
        if (rc == 0)
            fprintf(stderr, "  accepted %s\n", bad[i]);
        T_ASSERT_INT(rc, MB_ECONFIG);
        T_ASSERT(why > 0 && why < MSG_COUNT && strncmp(msgcat[why].code, "host_", 5) == 0);
    }
    char long_name[300];
    memset(long_name, 'a', sizeof(long_name));
    for (size_t i = 63; i < 299; i += 64)
        long_name[i] = '.';
    long_name[253] = '\0';
    T_ASSERT(net_hostname_valid(long_name, 253));
    long_name[253] = 'a';
    long_name[254] = '\0';
    T_ASSERT(!net_hostname_valid(long_name, 254));
    T_END();
}

/* What the engine's old parser (mig_parse_hostport, used by `migrabox migrate --source-host`
 * and the profiles) accepted and the stricter rule now refuses, and what both accepted. */
static void test_engine_cases(void)
{
    T_BEGIN("stricter than the engine's old parser: bad IPv4, empty labels, IPv6 text");
    static const char *const now_refused[] = {
        "999.1.1.1", "1.2.3.4.5",        "a..b",       "a.-b", "[1:2:3:4:5:6:7:8:9]",
        "[:::]",     "mail.example.123", "host:99999",
    };
    static const struct {
        const char *in, *host;
        unsigned port;
    } still_good[] = {
        {"localhost", "localhost", 0},
        {"127.0.0.1:1143", "127.0.0.1", 1143},
        {"[::1]:993", "::1", 993},
        {"mail.example.com:143", "mail.example.com", 143},
        {"Outlook.Office365.com", "outlook.office365.com", 0},
    };
    char host[256];
    unsigned port;
    int why;
    for (size_t i = 0; i < sizeof(now_refused) / sizeof(now_refused[0]); i++) {
        int rc = net_host_parse(now_refused[i], host, sizeof(host), &port, &why);
        if (rc == 0)
            fprintf(stderr, "  accepted %s\n", now_refused[i]);
        T_ASSERT_INT(rc, MB_ECONFIG);
        T_ASSERT(why > 0 && strstr(msgcat_template(why, MSG_LANG_EN), now_refused[i]) == NULL);
    }
    for (size_t i = 0; i < sizeof(still_good) / sizeof(still_good[0]); i++) {
        T_ASSERT_INT(net_host_parse(still_good[i].in, host, sizeof(host), &port, &why), 0);
        T_ASSERT_STR(host, still_good[i].host);
        T_ASSERT_INT(port, still_good[i].port);
    }
    /* host_r too small: refused, not truncated */
    char tiny[4];
    T_ASSERT_INT(net_host_parse("example.com", tiny, sizeof(tiny), &port, &why), MB_ECONFIG);
    T_END();
}

static void test_french(void)
{
    T_BEGIN("every reason is a code of the catalogue, worded in English and French");
    static const struct {
        const char *in, *code, *fr;
    } bad[] = {
        {"", "host_empty", "l'hôte est vide"},
        {"[::1", "host_no_bracket", "« ] » manquant après l'adresse IPv6"},
        {"[::1]x", "host_after_bracket", "texte inattendu après l'adresse IPv6 entre crochets"},
        {"[zz]", "host_bad_ipv6", "adresse IPv6 invalide"},
        {"a:b:c", "host_ipv6_brackets", NULL},
        {":1", "host_name_empty", NULL},
        {"1.2.3", "host_bad_ipv4", "adresse IPv4 invalide"},
        {"a..b", "host_bad_name", "nom d'hôte invalide"},
        {"h\xc3\xa9.fr", "host_bad_idn", NULL},
        {"h:", "host_port_empty", "le port est vide après « : »"},
        {"h:0", "host_port_range", NULL},
    };
    char host[256];
    unsigned port;
    int why;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        T_ASSERT_INT(net_host_parse(bad[i].in, host, sizeof(host), &port, &why), MB_ECONFIG);
        T_ASSERT_STR(msgcat[why].code, bad[i].code);
        T_ASSERT(strcmp(msgcat_template(why, MSG_LANG_FR), msgcat_template(why, MSG_LANG_EN)) != 0);
        if (bad[i].fr)
            T_ASSERT_STR(msgcat_template(why, MSG_LANG_FR), bad[i].fr);
    }
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {test_parse, test_engine_cases, test_french, NULL};
    return t_run(fns);
}
