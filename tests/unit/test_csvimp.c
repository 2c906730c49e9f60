#define T_IMPLEMENTATION
#include "t.h"

#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "base/buf.h"
#include "base/mb_err.h"
#include "base/xalloc.h"
#include "csvimport/csvimp.h"
#include "migrate/mig_preset.h"

static const char *const hosted[] = {"example.com", "secuseve.com"};

static struct csvimp_opts default_opts(void)
{
    struct csvimp_opts o;
    memset(&o, 0, sizeof(o));
    o.domains = hosted;
    o.n_domains = 2;
    return o;
}

/* tests/data/csv/<name>, found from the test's working directory (build-x/tests or
 * build-x/san/tests) or $MB_TEST_DATA. Returns an xmalloc'ed copy of the bytes. */
static char *read_data(const char *name, size_t *len_r)
{
    static const char *const dirs[] = {"tests/data/csv", "../tests/data/csv",
                                       "../../tests/data/csv", "../../../tests/data/csv",
                                       "../../../../tests/data/csv"};
    char path[512];
    const char *env = getenv("MB_TEST_DATA");
    FILE *f = NULL;
    if (env) {
        snprintf(path, sizeof(path), "%s/csv/%s", env, name);
        f = fopen(path, "rb");
    }
    for (size_t i = 0; !f && i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
        f = fopen(path, "rb");
    }
    if (!f) {
        fprintf(stderr, "cannot find test data %s\n", name);
        exit(2);
    }
    struct buf b;
    buf_init(&b, 1 << 20);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        if (buf_append(&b, tmp, n) != 0)
            break;
    fclose(f);
    if (!b.data)
        buf_append(&b, "", 0);
    return buf_take(&b, len_r);
}

static int parse_str(const char *s, const struct csvimp_opts *o, struct csvimp_result *r)
{
    return csvimp_parse(s, strlen(s), o, r);
}

/* 1 if some error has this line and column and its message contains sub. */
static int has_error(const struct csvimp_result *r, unsigned line, unsigned col, const char *sub)
{
    for (size_t i = 0; i < r->n_errors; i++)
        if (r->errors[i].line == line && r->errors[i].column == col
            && strstr(r->errors[i].message, sub))
            return 1;
    return 0;
}

static void dump_errors(const struct csvimp_result *r)
{
    for (size_t i = 0; i < r->n_errors; i++)
        fprintf(stderr, "    [%u:%u] %s\n", r->errors[i].line, r->errors[i].column,
                r->errors[i].message);
}

/* 1 if no error message contains needle. */
static int no_error_contains(const struct csvimp_result *r, const char *needle)
{
    for (size_t i = 0; i < r->n_errors; i++)
        if (strstr(r->errors[i].message, needle))
            return 0;
    return 1;
}

static void test_local_part(void)
{
    T_BEGIN("destination local parts: separator, ASCII and Unicode blanks/controls refused");
    T_ASSERT_INT(csvimp_local_part_ok("jean.dupont", 11, "*"), 1);
    T_ASSERT_INT(csvimp_local_part_ok("andr\xc3\xa9", 6, "*"), 1);
    T_ASSERT_INT(csvimp_local_part_ok("victim*admin", 12, "*"), 0);
    T_ASSERT_INT(csvimp_local_part_ok("victim*admin", 12, NULL), 1);
    T_ASSERT_INT(csvimp_local_part_ok("a%%b", 4, "%%"), 0);
    T_ASSERT_INT(csvimp_local_part_ok("a b", 3, "*"), 0);
    T_ASSERT_INT(csvimp_local_part_ok("a\xc2\xa0"
                                      "b",
                                      4, "*"),
                 0);
    T_ASSERT_INT(csvimp_local_part_ok("a\xe2\x80\x83"
                                      "b",
                                      5, "*"),
                 0);
    T_ASSERT_INT(csvimp_local_part_ok("a\xe3\x80\x80"
                                      "b",
                                      5, "*"),
                 0);
    T_ASSERT_INT(csvimp_local_part_ok("a\xc2\x85"
                                      "b",
                                      4, "*"),
                 0);
    T_ASSERT_INT(csvimp_local_part_ok("a@b", 3, "*"), 0);
    T_END();
}

static void test_spec_example(void)
{
    T_BEGIN("the spec's example file imports (5 rows, header skipped)");
    struct csvimp_opts o = default_opts();
    struct csvimp_result r;
    size_t n;
    char *data = read_data("spec_example.csv", &n);
    T_ASSERT_INT(csvimp_parse(data, n, &o, &r), 0);
    dump_errors(&r);
    T_ASSERT_INT(r.n_rows, 5);
    T_ASSERT_INT(r.n_errors, 0);
    T_ASSERT_STR(r.encoding, "utf-8");
    if (r.n_rows == 5) {
        T_ASSERT_INT(r.rows[0].line, 2);
        T_ASSERT_STR(r.rows[0].login_source, "source@login.com");
        T_ASSERT_STR(r.rows[0].pass_source, "myPassword1");
        T_ASSERT_STR(r.rows[0].host, "gmail.server");
        T_ASSERT_INT(r.rows[0].port, 0);
        T_ASSERT_STR(r.rows[0].server_type, "gmail");
        T_ASSERT_STR(r.rows[0].login_destination, "toto@secuseve.com");
        T_ASSERT_INT(r.rows[0].subscribed_only, 0);
        T_ASSERT_STR(r.rows[1].server_type, "exchange");
        T_ASSERT_STR(r.rows[2].server_type, "defaut");
        T_ASSERT_STR(r.rows[3].server_type, "domino");
        T_ASSERT_STR(r.rows[4].server_type, "office");
        T_ASSERT_STR(r.rows[4].login_destination, "j.renaud@example.com");
        T_ASSERT_INT(r.rows[4].line, 6);
    }
    csvimp_result_fini(&r);
    T_ASSERT(r.rows == NULL && r.n_rows == 0);
    csvimp_result_fini(&r); /* idempotent */
    free(data);
    T_END();
}

static void test_sample(void)
{
    T_BEGIN("the downloadable sample is the spec's table, CRLF, and imports");
    struct buf b;
    buf_init(&b, 1 << 16);
    T_ASSERT_INT(csvimp_sample("client.fr", &b), 0);
    const char *s = buf_cstr(&b);
    T_ASSERT(strncmp(s,
                     "login_source;pass_source;host_source;type_messagerie;"
                     "login_destination;subscribed_only\r\n",
                     88)
             == 0);
    T_ASSERT(strstr(s, "\r\nsource@login.com;myPassword1;gmail.server;gmail;toto@client.fr;"
                       "False\r\n")
             != NULL);
    T_ASSERT(strstr(s, "testoffice@test.com;passtest;office.server;office;"
                       "j.renaud@client.fr;False\r\n")
             != NULL);
    T_ASSERT(strchr(s, '<') == NULL);
    size_t lines = 0;
    for (const char *p = s; (p = strstr(p, "\r\n")); p += 2)
        lines++;
    T_ASSERT_INT(lines, 6);

    const char *const dom[] = {"CLIENT.fr"};
    struct csvimp_opts o = default_opts();
    o.domains = dom;
    o.n_domains = 1;
    struct csvimp_result r;
    T_ASSERT_INT(csvimp_parse(b.data, b.len, &o, &r), 0);
    dump_errors(&r);
    T_ASSERT_INT(r.n_rows, 5);
    csvimp_result_fini(&r);

    o = default_opts(); /* client.fr not hosted: every row refused */
    T_ASSERT_INT(csvimp_parse(b.data, b.len, &o, &r), MB_ECONFIG);
    T_ASSERT_INT(r.n_errors, 5);
    T_ASSERT(has_error(&r, 2, 5,
                       "domain client.fr is not one of the hosted domains: "
                       "example.com, secuseve.com"));
    csvimp_result_fini(&r);

    buf_reset(&b);
    T_ASSERT_INT(csvimp_sample("bad domain", &b), MB_ECONFIG);
    T_ASSERT_INT(csvimp_sample("", &b), MB_ECONFIG);
    T_ASSERT_INT(csvimp_sample(NULL, &b), MB_ECONFIG);
    buf_fini(&b);
    buf_init(&b, 100);
    T_ASSERT_INT(csvimp_sample("client.fr", &b), MB_ETOOBIG);
    buf_fini(&b);
    T_END();
}

static void test_excel_cp1252(void)
{
    T_BEGIN("an Excel « CSV (séparateur : point-virgule) » file in Windows-1252 imports");
    struct csvimp_opts o = default_opts();
    struct csvimp_result r;
    size_t n;
    char *data = read_data("excel_cp1252.csv", &n);
    T_ASSERT_INT(csvimp_parse(data, n, &o, &r), 0);
    dump_errors(&r);
    T_ASSERT_STR(r.encoding, "windows-1252");
    T_ASSERT_INT(r.n_rows, 3);
    if (r.n_rows == 3) {
        T_ASSERT_STR(r.rows[0].login_source, "fr\xc3\xa9"
                                             "d\xc3\xa9ric@ancien-fai.fr");
        T_ASSERT_STR(r.rows[0].pass_source, "\xc3\x89t\xc3\xa9"
                                            "2018\xe2\x82\xac");
        T_ASSERT_STR(r.rows[0].host, "imap.ancien-fai.fr");
        T_ASSERT_STR(r.rows[0].server_type, "defaut");
        T_ASSERT_STR(r.rows[1].login_source, "h\xc3\xa9l\xc3\xa8ne.lef\xc3\xa8vre@ancien-fai.fr");
        /* L’œil;"vif" : ’ (0x92) and œ (0x9C), a quoted ; and doubled quotes */
        T_ASSERT_STR(r.rows[1].pass_source, "L\xe2\x80\x99\xc5\x93il;\"vif\"");
        T_ASSERT_INT(r.rows[1].port, 143);
        T_ASSERT_STR(r.rows[1].server_type, "defaut"); /* DEFAUT normalised */
        T_ASSERT_STR(r.rows[1].login_destination, "Helene@example.com");
        T_ASSERT_INT(r.rows[1].subscribed_only, 1);
        T_ASSERT_INT(r.rows[1].line, 3);
        T_ASSERT_STR(r.rows[2].login_source, "zo\xc3\xab@gmail.com");
        T_ASSERT_STR(r.rows[2].pass_source, "  deux espaces  "); /* byte for byte */
        T_ASSERT_STR(r.rows[2].host, "imap.gmail.com");
        T_ASSERT_INT(r.rows[2].port, 0);
        T_ASSERT_INT(r.rows[2].subscribed_only, 0);
    }
    csvimp_result_fini(&r);
    free(data);
    T_END();
}

static void test_cp1252_table(void)
{
    T_BEGIN("every Windows-1252 byte decodes as glibc's iconv does; undefined bytes refused");
    struct csvimp_opts o = default_opts();
    iconv_t cd = iconv_open("UTF-8", "CP1252");
    T_ASSERT(cd != (iconv_t)-1);
    unsigned undefined = 0;
    for (unsigned b = 0x80; b <= 0xFF && cd != (iconv_t)-1; b++) {
        char line[80];
        int n = snprintf(line, sizeof(line), "u%c@x.fr;pw%c;h.fr;defaut;u@example.com;False\n",
                         (char)b, (char)b);
        char in[2] = {(char)b, 0}, out[8] = {0};
        char *ip = in, *op = out;
        size_t il = 1, ol = sizeof(out) - 1;
        iconv(cd, NULL, NULL, NULL, NULL);
        int iconv_ok = iconv(cd, &ip, &il, &op, &ol) != (size_t)-1;
        struct csvimp_result r;
        int rc = csvimp_parse(line, (size_t)n, &o, &r);
        if (iconv_ok) {
            char want[16];
            snprintf(want, sizeof(want), "pw%s", out);
            if (rc != 0 || r.n_rows != 1 || strcmp(r.rows[0].pass_source, want) != 0) {
                fprintf(stderr, "  byte 0x%02X decoded differently\n", b);
                T_ASSERT(0);
            }
        } else {
            undefined++;
            T_ASSERT_INT(rc, MB_ECONFIG);
            /* reported once, in login_source (the byte value is given), and once in
             * pass_source (the byte value is not: it belongs to a password) */
            T_ASSERT_INT(r.n_errors, 2);
            char bytetxt[16];
            snprintf(bytetxt, sizeof(bytetxt), "0x%02X", b);
            T_ASSERT(has_error(&r, 1, 1, bytetxt));
            T_ASSERT(has_error(&r, 1, 2, "neither UTF-8 nor Windows-1252"));
            T_ASSERT(r.n_errors < 2 || strstr(r.errors[1].message, "0x") == NULL);
        }
        csvimp_result_fini(&r);
    }
    T_ASSERT_INT(undefined, 5); /* 0x81 0x8D 0x8F 0x90 0x9D */
    if (cd != (iconv_t)-1)
        iconv_close(cd);
    T_END();
}

static void test_utf8_bom_crlf(void)
{
    T_BEGIN("UTF-8 with BOM and CRLF, no header");
    struct csvimp_opts o = default_opts();
    const char *const dom[] = {"example.org"};
    o.domains = dom;
    o.n_domains = 1;
    struct csvimp_result r;
    size_t n;
    char *data = read_data("utf8_bom_crlf.csv", &n);
    T_ASSERT_INT(csvimp_parse(data, n, &o, &r), 0);
    dump_errors(&r);
    T_ASSERT_STR(r.encoding, "utf-8-bom");
    T_ASSERT_INT(r.n_rows, 2);
    if (r.n_rows == 2) {
        T_ASSERT_INT(r.rows[0].line, 1);
        T_ASSERT_STR(r.rows[0].login_source, "jos\xc3\xa9@vieux.example.net");
        T_ASSERT_STR(r.rows[0].pass_source, "p\xc3\xa4ssw\xc3\xb6rd");
        T_ASSERT_STR(r.rows[0].server_type, "exchange");
        T_ASSERT_INT(r.rows[0].subscribed_only, 0);
        T_ASSERT_INT(r.rows[1].line, 2);
        T_ASSERT_STR(r.rows[1].host, "outlook.office365.com");
        T_ASSERT_INT(r.rows[1].subscribed_only, 1);
    }
    csvimp_result_fini(&r);
    free(data);
    T_END();
}

static void test_quoting_and_line_ends(void)
{
    T_BEGIN("quoted ; and \"\" in passwords, CR / LF / CRLF line ends, physical line numbers");
    struct csvimp_opts o = default_opts();
    struct csvimp_result r;
    const char *s = "a@x.fr;\"p;w\"\"d\"\"\";h.fr;defaut;a@example.com;False\r" /* line 1, CR */
                    "\"b@x.fr\";\"\";h.fr;defaut;b@example.com;False\n"     /* line 2: empty pw */
                    "c@x.fr;\" lead\";h.fr;defaut;c@example.com;1\r\n"      /* line 3, CRLF */
                    "\r\n\n\r"                                              /* lines 4-6 empty */
                    "d@x.fr;\"two\r\nlines\";h.fr;defaut;d@example.com;0\n" /* lines 7-8 */
                    "e@x.fr;pw;h.fr;defaut;e@example.com;true";             /* line 9, no EOL */
    T_ASSERT_INT(parse_str(s, &o, &r), MB_ECONFIG);
    T_ASSERT_INT(r.n_errors, 2);
    if (r.n_errors != 2)
        dump_errors(&r);
    T_ASSERT(has_error(&r, 2, 2, "pass_source is empty"));
    T_ASSERT(has_error(&r, 7, 2, "pass_source contains a line break"));
    csvimp_result_fini(&r);

    s = "a@x.fr;\"p;w\"\"d\"\"\";h.fr;defaut;a@example.com;False\r"
        "\"b@x.fr\";\";\";h.fr;defaut;b@example.com;False\n"
        "c@x.fr;\" lead\";h.fr;defaut;c@example.com;1\r\n"
        "\r\n\n\r"
        " e@x.fr ; pw ;  h.fr\t;\tDefaut ; e@example.com ; TRUE \n\n\n";
    T_ASSERT_INT(parse_str(s, &o, &r), 0);
    dump_errors(&r);
    T_ASSERT_INT(r.n_rows, 4);
    if (r.n_rows == 4) {
        T_ASSERT_STR(r.rows[0].pass_source, "p;w\"d\"");
        T_ASSERT_INT(r.rows[0].line, 1);
        T_ASSERT_STR(r.rows[1].login_source, "b@x.fr");
        T_ASSERT_STR(r.rows[1].pass_source, ";");
        T_ASSERT_INT(r.rows[1].line, 2);
        T_ASSERT_STR(r.rows[2].pass_source, " lead");
        T_ASSERT_INT(r.rows[2].subscribed_only, 1);
        T_ASSERT_INT(r.rows[3].line, 7);
        /* logins and passwords keep their spaces; the other columns are trimmed */
        T_ASSERT_STR(r.rows[3].login_source, " e@x.fr ");
        T_ASSERT_STR(r.rows[3].pass_source, " pw ");
        T_ASSERT_STR(r.rows[3].host, "h.fr");
        T_ASSERT_STR(r.rows[3].server_type, "defaut");
        T_ASSERT_STR(r.rows[3].login_destination, "e@example.com");
        T_ASSERT_INT(r.rows[3].subscribed_only, 1);
    }
    csvimp_result_fini(&r);
    T_END();
}

static void test_errors_file(void)
{
    T_BEGIN("a file with many mistakes: every error names its line and column");
    struct csvimp_opts o = default_opts();
    struct csvimp_result r;
    size_t n;
    char *data = read_data("errors.csv", &n);
    T_ASSERT_INT(csvimp_parse(data, n, &o, &r), MB_ECONFIG);
    T_ASSERT_INT(r.n_rows, 0);
    T_ASSERT(r.rows == NULL);
    T_ASSERT_INT(r.n_errors, 11);
    T_ASSERT(has_error(&r, 3, 0, "line 3: expected 6 columns, found 5"));
    T_ASSERT(has_error(&r, 4, 4, "line 4, column 4 (type_messagerie): unknown type_messagerie"));
    T_ASSERT(has_error(&r, 5, 6, "subscribed_only must be True or False"));
    T_ASSERT(has_error(&r, 6, 5,
                       "line 6, column 5 (login_destination): domain example.net is "
                       "not one of the hosted domains: example.com, secuseve.com"));
    T_ASSERT(has_error(&r, 7, 3, "host_source is empty"));
    T_ASSERT(has_error(&r, 8, 3, "port must be a number from 1 to 65535"));
    T_ASSERT(has_error(&r, 10, 0, "duplicate of line 2"));
    T_ASSERT(has_error(&r, 11, 0, "empty row"));
    T_ASSERT(has_error(&r, 12, 2, "pass_source contains a line break"));
    T_ASSERT(has_error(&r, 14, 2, "misplaced quote"));
    T_ASSERT(has_error(&r, 15, 5, "full address"));
    T_ASSERT(no_error_contains(&r, "S3c"));
    T_ASSERT(no_error_contains(&r, "r3t"));
    if (r.n_errors != 11)
        dump_errors(&r);
    csvimp_result_fini(&r);
    free(data);
    T_END();
}

static void test_more_errors(void)
{
    T_BEGIN("bad hosts, types, booleans, destinations, header and quoting errors");
    struct csvimp_opts o = default_opts();
    struct csvimp_result r;
    const char *s = "a@x.fr;Pw#1;;defaut;a@example.com;False\n"            /* 1: host required */
                    "a@x.fr;Pw#2;;exchange;a@example.com;False\n"          /* 2 */
                    "a@x.fr;Pw#3;h.fr:0;defaut;a@example.com;False\n"      /* 3: port 0 */
                    "a@x.fr;Pw#4;h.fr:;defaut;a@example.com;False\n"       /* 4: empty port */
                    "a@x.fr;Pw#5;h.fr:99999;defaut;a@example.com;False\n"  /* 5 */
                    "a@x.fr;Pw#6;h.fr:12a;defaut;a@example.com;False\n"    /* 6 */
                    "a@x.fr;Pw#7;::1;defaut;a@example.com;False\n"         /* 7: IPv6 needs [] */
                    "a@x.fr;Pw#8;bad_host!;defaut;a@example.com;False\n"   /* 8 */
                    "a@x.fr;Pw#9;300.1.1.1;defaut;a@example.com;False\n"   /* 9 */
                    "a@x.fr;Pw#10;-h.fr;defaut;a@example.com;False\n"      /* 10 */
                    "a@x.fr;Pw#11;h.fr;Gmail2;a@example.com;False\n"       /* 11 */
                    "a@x.fr;Pw#12;h.fr;;a@example.com;False\n"             /* 12 */
                    "a@x.fr;Pw#13;h.fr;defaut;a@example.com;yes\n"         /* 13 */
                    "a@x.fr;Pw#14;h.fr;defaut;@example.com;False\n"        /* 14 */
                    "a@x.fr;Pw#15;h.fr;defaut;a@b@example.com;False\n"     /* 15 */
                    "a@x.fr;Pw#16;h.fr;defaut;a@exa mple.com;False\n"      /* 16 */
                    "a@x.fr;Pw#17;h.fr;defaut;;False\n"                    /* 17 */
                    ";Pw#18;h.fr;defaut;a@example.com;False\n"             /* 18 */
                    "a@x.fr;Pw#19;h.fr;defaut;a@example.com;False;extra\n" /* 19 */
                    "a@x.fr;\"Pw#20\"x;h.fr;defaut;a@example.com;False\n" /* 20: text after quote */
                    "a@x.fr;Pw#21;h.fr;defaut;a@example.com.;False\n"     /* 21 */
                    "a\tb@x.fr;Pw#22;h.fr;defaut;a@example.com;False\n"   /* 22: control char */
                    "a@x.fr;Pw#23;h\xc3\xa9.fr;defaut;a@example.com;False\n" /* 23: IDN */
                    "   \n"                                                  /* 24: spaces only */
                    "a@x.fr;\"Pw#25";                                        /* 25: unterminated */
    T_ASSERT_INT(parse_str(s, &o, &r), MB_ECONFIG);
    T_ASSERT(has_error(&r, 1, 3, "host_source is empty"));
    T_ASSERT(has_error(&r, 2, 3, "host_source is empty"));
    T_ASSERT(has_error(&r, 3, 3, "port must be"));
    T_ASSERT(has_error(&r, 4, 3, "port is empty"));
    T_ASSERT(has_error(&r, 5, 3, "port must be"));
    T_ASSERT(has_error(&r, 6, 3, "port must be"));
    T_ASSERT(has_error(&r, 7, 3, "brackets"));
    T_ASSERT(has_error(&r, 8, 3, "invalid host name"));
    T_ASSERT(has_error(&r, 9, 3, "invalid IPv4 address"));
    T_ASSERT(has_error(&r, 10, 3, "invalid host name"));
    T_ASSERT(has_error(&r, 11, 4, "unknown type_messagerie"));
    T_ASSERT(has_error(&r, 12, 4, "type_messagerie is empty"));
    T_ASSERT(has_error(&r, 13, 6, "True or False"));
    T_ASSERT(has_error(&r, 14, 5, "1 to 64 bytes"));
    T_ASSERT(has_error(&r, 15, 5, "full address"));
    T_ASSERT(has_error(&r, 16, 5, "invalid domain"));
    T_ASSERT(has_error(&r, 17, 5, "login_destination is empty"));
    T_ASSERT(has_error(&r, 18, 1, "login_source is empty"));
    T_ASSERT(has_error(&r, 19, 0, "expected 6 columns, found 7"));
    T_ASSERT(has_error(&r, 20, 2, "misplaced quote"));
    T_ASSERT(has_error(&r, 21, 5, "invalid domain"));
    T_ASSERT(has_error(&r, 22, 1, "control character"));
    T_ASSERT(has_error(&r, 23, 3, "xn--"));
    T_ASSERT(has_error(&r, 24, 0, "expected 6 columns, found 1"));
    T_ASSERT(has_error(&r, 25, 2, "quoted field is not closed"));
    T_ASSERT_INT(r.n_errors, 25);
    T_ASSERT(no_error_contains(&r, "Pw#"));
    if (r.n_errors != 25)
        dump_errors(&r);
    csvimp_result_fini(&r);

    /* A password split by an unquoted ; shifts the columns: nothing of it is quoted back. */
    s = "a@x.fr;Se;cr et;defaut;a@example.com;False\n"
        "a@x.fr;Se;cr@t.example;a@example.com;False\n"
        "a@x.fr;zz;Sec;ret;a@example.com;False\n";
    T_ASSERT_INT(parse_str(s, &o, &r), MB_ECONFIG);
    T_ASSERT(r.n_errors >= 3);
    T_ASSERT(no_error_contains(&r, "cr et"));
    T_ASSERT(no_error_contains(&r, "cr@t"));
    T_ASSERT(no_error_contains(&r, "ret"));
    T_ASSERT(no_error_contains(&r, "Sec"));
    csvimp_result_fini(&r);
    T_END();
}

static void test_server_types(void)
{
    T_BEGIN("server types: the presets' table, each one accepted, its default host used");
    /* Every preset is a valid type_messagerie, in any case; an empty host takes the preset's
     * default host, or is refused when the preset has none. */
    for (const struct mig_preset *p = mig_preset_all(); p->name; p++) {
        char up[32], row[256];
        size_t k = 0;
        for (; p->name[k] && k + 1 < sizeof(up); k++)
            up[k] = (char)(p->name[k] >= 'a' && p->name[k] <= 'z' ? p->name[k] - 32 : p->name[k]);
        up[k] = '\0';
        snprintf(row, sizeof(row), "a@x.fr;p1;;%s;a@example.com;False\n", up);
        struct csvimp_result r;
        struct csvimp_opts o = default_opts();
        int rc = parse_str(row, &o, &r);
        if (p->default_host) {
            T_ASSERT_INT(rc, 0);
            T_ASSERT(r.n_rows == 1 && strcmp(r.rows[0].server_type, p->name) == 0
                     && strcmp(r.rows[0].host, p->default_host) == 0);
        } else {
            T_ASSERT_INT(rc, MB_ECONFIG);
        }
        csvimp_result_fini(&r);
    }
    /* The error for an unknown type names every type there is. */
    struct csvimp_result r;
    struct csvimp_opts o = default_opts();
    T_ASSERT_INT(parse_str("a@x.fr;p1;h.fr;yahoo;a@example.com;False\n", &o, &r), MB_ECONFIG);
    T_ASSERT(r.n_errors == 1);
    for (const struct mig_preset *p = mig_preset_all(); r.n_errors && p->name; p++)
        T_ASSERT(strstr(r.errors[0].message, p->name) != NULL);
    csvimp_result_fini(&r);
    T_END();
}

static void test_header(void)
{
    T_BEGIN("header row optional, case-insensitive; a wrong header is an error");
    struct csvimp_opts o = default_opts();
    struct csvimp_result r;
    const char *row = "a@x.fr;pw;h.fr;defaut;a@example.com;False\n";
    char s[512];
    T_ASSERT_INT(parse_str(row, &o, &r), 0);
    T_ASSERT_INT(r.n_rows, 1);
    T_ASSERT_INT(r.rows[0].line, 1);
    csvimp_result_fini(&r);

    snprintf(s, sizeof(s),
             "\n Login_Source ;PASS_SOURCE;host_source;type_messagerie;"
             "login_destination;subscribed_only\r\n%s",
             row);
    T_ASSERT_INT(parse_str(s, &o, &r), 0);
    T_ASSERT_INT(r.n_rows, 1);
    T_ASSERT_INT(r.rows[0].line, 3);
    csvimp_result_fini(&r);

    snprintf(s, sizeof(s), "login_source;password;host;type;destination;subscribed\n%s", row);
    T_ASSERT_INT(parse_str(s, &o, &r), MB_ECONFIG);
    T_ASSERT(has_error(&r, 1, 0, "header row must be exactly"));
    T_ASSERT_INT(r.n_errors, 1);
    csvimp_result_fini(&r);

    /* A header in the middle is an ordinary (bad) row. */
    snprintf(s, sizeof(s),
             "%slogin_source;pass_source;host_source;type_messagerie;"
             "login_destination;subscribed_only\n",
             row);
    T_ASSERT_INT(parse_str(s, &o, &r), MB_ECONFIG);
    T_ASSERT(has_error(&r, 2, 4, "unknown type_messagerie"));
    csvimp_result_fini(&r);

    T_ASSERT_INT(parse_str("login_source;pass_source;host_source;type_messagerie;"
                           "login_destination;subscribed_only\r\n\r\n",
                           &o, &r),
                 MB_ECONFIG);
    T_ASSERT_INT(r.n_errors, 1);
    T_ASSERT(has_error(&r, 0, 0, "header but no migration rows"));
    csvimp_result_fini(&r);
    T_END();
}

static void test_empty(void)
{
    T_BEGIN("empty files");
    struct csvimp_opts o = default_opts();
    struct csvimp_result r;
    static const char *const empties[] = {"", "\xef\xbb\xbf", "\r\n\r\n", "\n", "\r"};
    for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
        T_ASSERT_INT(parse_str(empties[i], &o, &r), MB_ECONFIG);
        T_ASSERT_INT(r.n_errors, 1);
        T_ASSERT(r.n_errors == 1 && strcmp(r.errors[0].message, "empty file") == 0);
        T_ASSERT_INT(r.errors[0].line, 0);
        csvimp_result_fini(&r);
    }
    T_ASSERT_INT(csvimp_parse(NULL, 0, &o, &r), MB_ECONFIG);
    T_ASSERT(has_error(&r, 0, 0, "empty file"));
    csvimp_result_fini(&r);
    T_END();
}

static void test_duplicates(void)
{
    T_BEGIN("duplicates: same source login, host (port 993 = default) and destination");
    struct csvimp_opts o = default_opts();
    struct csvimp_result r;
    const char *s = "a@x.fr;p1;h.fr;defaut;a@example.com;False\n"
                    "A@x.fr;p2;h.fr;defaut;a@example.com;False\n"       /* login case differs: ok */
                    "a@x.fr;p3;h.fr:143;defaut;a@example.com;False\n"   /* other port: ok */
                    "a@x.fr;p4;h.fr;defaut;b@example.com;False\n"       /* other box: ok */
                    "a@x.fr;p5;H.FR:993;exchange;a@Example.com;True\n"; /* duplicate of 1 */
    T_ASSERT_INT(parse_str(s, &o, &r), MB_ECONFIG);
    T_ASSERT_INT(r.n_errors, 1);
    T_ASSERT(has_error(&r, 5, 0, "line 5: duplicate of line 1"));
    csvimp_result_fini(&r);
    s = "u@gmail.com;p1;;gmail;a@example.com;False\n"
        "u@gmail.com;p2;imap.gmail.com:993;gmail;a@example.com;False\n";
    T_ASSERT_INT(parse_str(s, &o, &r), MB_ECONFIG);
    T_ASSERT(has_error(&r, 2, 0, "duplicate of line 1"));
    csvimp_result_fini(&r);
    T_END();
}

static void test_account_domains(void)
{
    T_BEGIN("non-admin accounts are limited to their domains");
    struct csvimp_opts o = default_opts();
    const char *const mine[] = {"secuseve.com"};
    o.account_domains = mine;
    o.n_account_domains = 1;
    struct csvimp_result r;
    const char *s = "a@x.fr;p1;h.fr;defaut;a@SECUSEVE.com;False\n"
                    "a@x.fr;p1;h.fr;defaut;a@example.com;False\n";
    T_ASSERT_INT(parse_str(s, &o, &r), MB_ECONFIG);
    T_ASSERT_INT(r.n_errors, 1);
    T_ASSERT(has_error(&r, 2, 5, "domain example.com is not one of your domains: secuseve.com"));
    csvimp_result_fini(&r);
    o.n_domains = 0;
    o.domains = NULL;
    T_ASSERT_INT(parse_str(s, &o, &r), MB_ECONFIG);
    T_ASSERT(has_error(&r, 1, 5, "hosted domains: (none configured)"));
    csvimp_result_fini(&r);
    T_END();
}

static void test_encoding_errors(void)
{
    T_BEGIN("encoding errors name line and column, never a password byte");
    struct csvimp_opts o = default_opts();
    struct csvimp_result r;
    const char *s = "a@x.fr;pw;h.fr;defaut;a@example.com;False\n"
                    "b\x81@x.fr;p\x8dw;h.fr;defaut;b@example.com;False\n";
    T_ASSERT_INT(parse_str(s, &o, &r), MB_ECONFIG);
    T_ASSERT_INT(r.n_errors, 2);
    T_ASSERT(has_error(&r, 2, 1, "(byte 0x81)"));
    T_ASSERT(has_error(&r, 2, 2, "neither UTF-8 nor Windows-1252"));
    T_ASSERT(no_error_contains(&r, "0x8D"));
    csvimp_result_fini(&r);

    s = "\xef\xbb\xbf"
        "a@x.fr;pw;h.fr;defaut;a@example.com;False\n"
        "b@x.fr;\"multi\nline\";h.fr;defaut;b\xe9@example.com;False\n";
    T_ASSERT_INT(parse_str(s, &o, &r), MB_ECONFIG);
    T_ASSERT_INT(r.n_errors, 1);
    T_ASSERT(has_error(&r, 3, 5, "byte order mark"));
    csvimp_result_fini(&r);

    s = "\xc3\xa9@x.fr;pw;h.fr;defaut;a@example.com;False\n"
        "\xe9@x.fr;pw;h.fr;defaut;b@example.com;False\n";
    T_ASSERT_INT(parse_str(s, &o, &r), MB_ECONFIG);
    T_ASSERT(has_error(&r, 2, 1, "mixes UTF-8"));
    csvimp_result_fini(&r);

    /* Overlong and surrogate UTF-8 forms are not UTF-8: decoded as Windows-1252 they hold
     * no undefined byte here, so the file imports (as Windows-1252). */
    s = "\xc0\xaf@x.fr;pw;h.fr;defaut;a@example.com;False\n";
    T_ASSERT_INT(parse_str(s, &o, &r), 0);
    T_ASSERT_STR(r.encoding, "windows-1252");
    T_ASSERT(r.n_rows == 1 && strcmp(r.rows[0].login_source, "\xc3\x80\xc2\xaf@x.fr") == 0);
    csvimp_result_fini(&r);

    char nul[] = "a@x.fr;p\0w;h.fr;defaut;a@example.com;False\n";
    T_ASSERT_INT(csvimp_parse(nul, sizeof(nul) - 1, &o, &r), MB_ECONFIG);
    T_ASSERT(has_error(&r, 1, 2, "NUL byte"));
    csvimp_result_fini(&r);
    T_END();
}

static void test_limits(void)
{
    T_BEGIN("limits: file size, rows, field length, error count");
    struct csvimp_opts o = default_opts();
    struct csvimp_result r;
    const char *row = "a@x.fr;pw;h.fr;defaut;a@example.com;False\n";
    o.max_bytes = 10;
    T_ASSERT_INT(parse_str(row, &o, &r), MB_ETOOBIG);
    T_ASSERT(has_error(&r, 0, 0, "file too large"));
    csvimp_result_fini(&r);

    o = default_opts();
    o.max_rows = 3;
    const char *rows4 = "a@x.fr;pw;h.fr;defaut;a@example.com;False\n"
                        "b@x.fr;pw;h.fr;defaut;a@example.com;False\n"
                        "c@x.fr;pw;h.fr;defaut;a@example.com;False\n"
                        "d@x.fr;pw;h.fr;defaut;a@example.com;False\n";
    T_ASSERT_INT(parse_str(rows4, &o, &r), MB_ECONFIG);
    T_ASSERT(has_error(&r, 4, 0, "too many rows"));
    csvimp_result_fini(&r);
    T_ASSERT_INT(csvimp_parse(rows4, strlen(rows4) / 4 * 3, &o, &r), 0);
    T_ASSERT_INT(r.n_rows, 3);
    csvimp_result_fini(&r);

    o = default_opts();
    o.max_field = 16;
    /* exactly 16 bytes, quoted and unquoted: fine */
    T_ASSERT_INT(parse_str("a@x.fr;\"1234567890123456\";h.fr;defaut;a@example.com;False\n"
                           "b@x.fr;1234567890123456;h.fr;defaut;a@example.com;False\n",
                           &o, &r),
                 0);
    T_ASSERT_INT(r.n_rows, 2);
    csvimp_result_fini(&r);
    const char *s =
        "a@x.fr;12345678901234567;h.fr;defaut;a@example.com;False\n"      /* 17 bytes */
        "a@x.fr;\"123456789012345678\";h.fr;defaut;a@example.com;False\n" /* 18, quoted */
        "a@x.fr;123456789012345678901234567890;h.fr;defaut;a@example.com;False\n"
        "a@x.fr;pw;h.fr;defaut;a@example.com;Falsee\n";
    T_ASSERT_INT(parse_str(s, &o, &r), MB_ECONFIG);
    T_ASSERT(has_error(&r, 1, 2, "longer than 16 bytes"));
    T_ASSERT(has_error(&r, 2, 2, "longer than 16 bytes"));
    T_ASSERT(has_error(&r, 3, 2, "longer than 16 bytes"));
    T_ASSERT(has_error(&r, 4, 6, "True or False")); /* resumed after libcsv stopped */
    T_ASSERT_INT(r.n_errors, 4);
    T_ASSERT(no_error_contains(&r, "123456789"));
    csvimp_result_fini(&r);

    o = default_opts();
    o.max_errors = 5;
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 10; i++)
        buf_printf(&b, "u%d@x.fr;pw;h.fr;nope;a@example.com;False\n", i);
    T_ASSERT_INT(csvimp_parse(b.data, b.len, &o, &r), MB_ECONFIG);
    T_ASSERT_INT(r.n_errors, 5);
    T_ASSERT_INT(r.errors_truncated, 1);
    T_ASSERT(has_error(&r, 5, 4, "unknown"));
    csvimp_result_fini(&r);
    buf_fini(&b);
    T_END();
}

/* 1 if s is well-formed UTF-8 (no truncated sequence). */
static int utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t k = *p < 0x80 ? 1 : *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC2 ? 2 : 0;
        if (k == 0)
            return 0;
        for (size_t i = 1; i < k; i++)
            if ((p[i] & 0xC0) != 0x80)
                return 0;
        p += k;
    }
    return 1;
}

/* 1 if some error at line/col has exactly this text after its position prefix. */
static int has_text(const struct csvimp_result *r, unsigned line, unsigned col, const char *text)
{
    for (size_t i = 0; i < r->n_errors; i++)
        if (r->errors[i].line == line && r->errors[i].column == col
            && strcmp(r->errors[i].message + r->errors[i].text_off, text) == 0)
            return 1;
    return 0;
}

static void test_french(void)
{
    T_BEGIN("French messages: same errors, same lines and columns, no password, valid UTF-8");
    struct csvimp_opts en = default_opts(), o = default_opts();
    o.french = 1;
    struct csvimp_result r, re;
    size_t n;
    char *data = read_data("errors.csv", &n);
    T_ASSERT_INT(csvimp_parse(data, n, &o, &r), MB_ECONFIG);
    T_ASSERT_INT(csvimp_parse(data, n, &en, &re), MB_ECONFIG);
    T_ASSERT_INT(r.n_errors, re.n_errors);
    for (size_t i = 0; i < r.n_errors && i < re.n_errors; i++) {
        T_ASSERT_INT(r.errors[i].line, re.errors[i].line);
        T_ASSERT_INT(r.errors[i].column, re.errors[i].column);
        T_ASSERT(strcmp(r.errors[i].message, re.errors[i].message) != 0);
        T_ASSERT(utf8_ok(r.errors[i].message));
        T_ASSERT(strncmp(r.errors[i].message, "ligne ", 6) == 0);
    }
    T_ASSERT(has_error(&r, 3, 0, "ligne 3 : il faut 6 colonnes, la ligne en a 5"));
    T_ASSERT(has_text(&r, 3, 0, "il faut 6 colonnes, la ligne en a 5"));
    /* the problem as a code with its parameters, whatever the language */
    int coded = 0;
    for (size_t i = 0; i < r.n_errors; i++)
        if (r.errors[i].line == 3 && r.errors[i].code
            && strcmp(r.errors[i].code, "csv_columns") == 0
            && strcmp(r.errors[i].params, "{\"expected\":6,\"found\":5}") == 0)
            coded = 1;
    T_ASSERT(coded);
    T_ASSERT(has_error(&r, 4, 4,
                       "ligne 4, colonne 4 (type_messagerie) : type_messagerie inconnu "
                       "(attendu : gmail, exchange, office, domino ou defaut)"));
    T_ASSERT(has_text(&r, 5, 6, "subscribed_only doit valoir True ou False (vide : False)"));
    T_ASSERT(has_error(&r, 6, 5,
                       "ligne 6, colonne 5 (login_destination) : le domaine "
                       "example.net ne fait pas partie des domaines hébergés : "
                       "example.com, secuseve.com"));
    T_ASSERT(has_text(&r, 7, 3,
                      "host_source est vide (il ne peut l'être que pour gmail et "
                      "office)"));
    T_ASSERT(has_text(&r, 8, 3, "le port doit être un nombre de 1 à 65535"));
    T_ASSERT(has_error(&r, 10, 0,
                       "ligne 10 : doublon de la ligne 2 (mêmes login_source, "
                       "host_source et login_destination)"));
    T_ASSERT(has_text(&r, 11, 0, "ligne vide"));
    T_ASSERT(has_text(&r, 12, 2, "pass_source contient un saut de ligne"));
    T_ASSERT(has_error(&r, 14, 2, "ligne 14, colonne 2 (pass_source) : guillemet mal placé"));
    T_ASSERT(has_text(&r, 15, 5,
                      "login_destination doit être une adresse complète "
                      "(nom@domaine)"));
    T_ASSERT(no_error_contains(&r, "S3c"));
    T_ASSERT(no_error_contains(&r, "r3t"));
    T_ASSERT(no_error_contains(&r, "line "));
    T_ASSERT(no_error_contains(&r, "column"));
    /* The English text_off points past "line N, column C (name): " too. */
    T_ASSERT(has_text(&re, 3, 0, "expected 6 columns, found 5"));
    csvimp_result_fini(&r);
    csvimp_result_fini(&re);
    free(data);

    const char *s = "a@x.fr;Pw#1;h.fr:;defaut;a@example.com;False\n"        /* 1 */
                    "a@x.fr;Pw#2;::1;defaut;a@example.com;False\n"          /* 2 */
                    "a@x.fr;Pw#3;h\xc3\xa9.fr;defaut;a@example.com;False\n" /* 3 */
                    "a@x.fr;Pw#4;300.1.1.1;Gmail2;a@b@example.com;False\n"  /* 4 */
                    "a@x.fr;Pw#5;h.fr;;a@example.com;False\n"               /* 5 */
                    "a@x.fr;Pw#6;h.fr;defaut;a@example.com;False;\"x\"y\n"  /* 6: col 7 */
                    "a@x.fr;Pw#7;h.fr;defaut;a@example.com;False;x\n"       /* 7 */
                    "a@x.fr;Pw#8;h.fr;defaut;a;False\n"                     /* 8 */
                    "a@x.fr;\"Pw#9";                                        /* 9: unterminated */
    T_ASSERT_INT(parse_str(s, &o, &r), MB_ECONFIG);
    T_ASSERT(has_text(&r, 1, 3, "le port est vide après « : »"));
    T_ASSERT(has_text(&r, 2, 3,
                      "une adresse IPv6 s'écrit entre crochets, par exemple "
                      "[2001:db8::1]:993"));
    T_ASSERT(has_text(&r, 3, 3,
                      "nom d'hôte invalide (écrivez un nom internationalisé sous sa "
                      "forme ASCII xn--)"));
    T_ASSERT(has_text(&r, 4, 3, "adresse IPv4 invalide"));
    T_ASSERT(has_text(&r, 4, 4,
                      "type_messagerie inconnu (attendu : gmail, exchange, office, "
                      "domino ou defaut)"));
    T_ASSERT(has_text(&r, 4, 5,
                      "login_destination doit être une adresse complète "
                      "(nom@domaine)"));
    T_ASSERT(has_text(&r, 5, 4,
                      "type_messagerie est vide (attendu : gmail, exchange, office, "
                      "domino ou defaut)"));
    T_ASSERT(has_error(&r, 6, 7, "ligne 6, colonne 7 (colonne en trop) : guillemet mal placé"));
    T_ASSERT(has_text(&r, 7, 0, "il faut 6 colonnes, la ligne en a 7"));
    T_ASSERT(has_text(&r, 8, 5,
                      "login_destination doit être une adresse complète "
                      "(nom@domaine)"));
    T_ASSERT(has_text(&r, 9, 2, "un champ entre guillemets n'est pas fermé (\" manquant)"));
    T_ASSERT(no_error_contains(&r, "Pw#"));
    for (size_t i = 0; i < r.n_errors; i++)
        T_ASSERT(utf8_ok(r.errors[i].message));
    csvimp_result_fini(&r);

    /* Encoding errors: the byte is named (never in pass_source). */
    s = "a@x.fr;pw;h.fr;defaut;a@example.com;False\n"
        "b\x81@x.fr;p\x8dw;h.fr;defaut;b@example.com;False\n";
    T_ASSERT_INT(parse_str(s, &o, &r), MB_ECONFIG);
    T_ASSERT(has_error(&r, 2, 1,
                       "ligne 2, colonne 1 (login_source) : un octet n'est ni de "
                       "l'UTF-8 ni du Windows-1252 (octet 0x81)"));
    T_ASSERT(has_text(&r, 2, 2, "un octet n'est ni de l'UTF-8 ni du Windows-1252"));
    csvimp_result_fini(&r);
    s = "\xc3\xa9@x.fr;pw;h.fr;defaut;a@example.com;False\n"
        "\xe9@x.fr;pw;h.fr;defaut;b@example.com;False\n";
    T_ASSERT_INT(parse_str(s, &o, &r), MB_ECONFIG);
    T_ASSERT(has_error(&r, 2, 1, "le fichier mélange l'UTF-8 et un autre encodage"));
    csvimp_result_fini(&r);

    /* Whole-file errors have no prefix. */
    T_ASSERT_INT(parse_str("", &o, &r), MB_ECONFIG);
    T_ASSERT(r.n_errors == 1 && strcmp(r.errors[0].message, "fichier vide") == 0);
    T_ASSERT(r.n_errors == 1 && r.errors[0].text_off == 0);
    csvimp_result_fini(&r);
    T_ASSERT_INT(parse_str("login_source;pass_source;host_source;type_messagerie;"
                           "login_destination;subscribed_only\n",
                           &o, &r),
                 MB_ECONFIG);
    T_ASSERT(has_error(&r, 0, 0,
                       "le fichier a une ligne d'en-tête mais aucune ligne de "
                       "migration"));
    csvimp_result_fini(&r);
    o.max_bytes = 10;
    T_ASSERT_INT(parse_str("a@x.fr;pw;h.fr;defaut;a@example.com;False\n", &o, &r), MB_ETOOBIG);
    T_ASSERT(has_error(&r, 0, 0, "fichier trop volumineux : 42 octets pour une limite de 10"));
    csvimp_result_fini(&r);

    /* Account domains, and a message cut to fit stays valid UTF-8. */
    o = default_opts();
    o.french = 1;
    const char *const mine[] = {"secuseve.com"};
    o.account_domains = mine;
    o.n_account_domains = 1;
    T_ASSERT_INT(parse_str("a@x.fr;p1;h.fr;defaut;a@example.com;False\n", &o, &r), MB_ECONFIG);
    T_ASSERT(has_text(&r, 1, 5,
                      "le domaine example.com ne fait pas partie de vos domaines : "
                      "secuseve.com"));
    csvimp_result_fini(&r);
    o.n_domains = 0;
    o.domains = NULL;
    T_ASSERT_INT(parse_str("a@x.fr;p1;h.fr;defaut;a@example.com;False\n", &o, &r), MB_ECONFIG);
    T_ASSERT(has_text(&r, 1, 5,
                      "le domaine example.com ne fait pas partie des domaines "
                      "hébergés : (aucun n'est configuré)"));
    csvimp_result_fini(&r);
    T_END();
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_big_file(void)
{
    T_BEGIN("10,000 generated rows parse");
    struct buf b;
    buf_init(&b, 8u << 20);
    buf_puts(&b, "login_source;pass_source;host_source;type_messagerie;login_destination;"
                 "subscribed_only\r\n");
    static const char *const types[] = {"gmail", "exchange", "office", "domino", "defaut"};
    for (int i = 0; i < 10000; i++)
        buf_printf(&b,
                   "user%05d@ancien.example.net;\"P@ss;%d\"\"w\";imap%d.ancien.example.net:%d;"
                   "%s;box%05d@example.com;%s\r\n",
                   i, i, i % 7, 143 + i % 900, types[i % 5], i, i % 2 ? "True" : "False");
    struct csvimp_opts o = default_opts();
    struct csvimp_result r;
    double t0 = now_ms();
    int rc = csvimp_parse(b.data, b.len, &o, &r);
    double t1 = now_ms();
    T_ASSERT_INT(rc, 0);
    dump_errors(&r);
    T_ASSERT_INT(r.n_rows, 10000);
    if (r.n_rows == 10000) {
        T_ASSERT_STR(r.rows[9999].login_source, "user09999@ancien.example.net");
        T_ASSERT_STR(r.rows[9999].pass_source, "P@ss;9999\"w");
        T_ASSERT_INT(r.rows[9999].line, 10001);
        T_ASSERT_INT(r.rows[9999].port, 143 + 9999 % 900);
    }
    printf("# 10000 rows (%zu bytes) parsed in %.1f ms\n", b.len, t1 - t0);
    csvimp_result_fini(&r);
    buf_fini(&b);
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {
        test_spec_example,
        test_sample,
        test_excel_cp1252,
        test_cp1252_table,
        test_utf8_bom_crlf,
        test_quoting_and_line_ends,
        test_errors_file,
        test_more_errors,
        test_server_types,
        test_header,
        test_empty,
        test_duplicates,
        test_account_domains,
        test_encoding_errors,
        test_limits,
        test_french,
        test_big_file,
        test_local_part,
        NULL,
    };
    return t_run(fns);
}
