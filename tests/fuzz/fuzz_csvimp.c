/* libFuzzer target for the CSV importer.
 *
 * Byte 0 picks options (small field / error / row limits, an account restriction, French
 * messages); the rest is the uploaded file. Properties checked (abort otherwise), besides no crash
 * / leak / UB:
 *  - all or nothing: rc 0 ⇔ rows and no error; errors ⇒ no row;
 *  - every row is complete and normalised (known type, non-empty host, an address with a
 *    hosted domain, lines increasing); every error message is a bounded C string of valid
 *    UTF-8 whose text_off lies within it;
 *  - round trip: valid rows written back as a CSV file (logins and passwords quoted) parse
 *    again into the same rows, byte for byte. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "csvimport/csvimp.h"
#include "migrate/mig_preset.h"

static const char *const domains[] = {"example.com", "a.b"};
static const char *const account[] = {"a.b"};

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_csvimp: property violated: %s\n", what);
        abort();
    }
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

static void put_quoted(struct buf *b, const char *s)
{
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            buf_putc(b, '"');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

static int same_row(const struct csvimp_row *a, const struct csvimp_row *b)
{
    return strcmp(a->login_source, b->login_source) == 0
           && strcmp(a->pass_source, b->pass_source) == 0 && strcmp(a->host, b->host) == 0
           && a->port == b->port && strcmp(a->server_type, b->server_type) == 0
           && strcmp(a->login_destination, b->login_destination) == 0
           && a->subscribed_only == b->subscribed_only;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct csvimp_opts o;
    memset(&o, 0, sizeof(o));
    o.domains = domains;
    o.n_domains = 2;
    if (data[0] & 1)
        o.max_field = 12;
    if (data[0] & 2)
        o.max_errors = 3;
    if (data[0] & 4)
        o.max_rows = 4;
    if (data[0] & 8) {
        o.account_domains = account;
        o.n_account_domains = 1;
    }
    if (data[0] & 16)
        o.max_bytes = 64;
    if (data[0] & 32)
        o.french = 1;
    data++;
    size--;

    struct csvimp_result r;
    int rc = csvimp_parse(data, size, &o, &r);
    check(r.encoding != NULL, "encoding set");
    if (rc == 0) {
        check(r.n_rows > 0 && r.n_errors == 0, "rc 0 means rows and no error");
    } else {
        check(r.n_rows == 0 && r.rows == NULL && r.n_errors > 0, "errors mean no row");
    }
    for (size_t i = 0; i < r.n_errors; i++) {
        check(memchr(r.errors[i].message, '\0', sizeof(r.errors[i].message)) != NULL,
              "message terminated");
        check(r.errors[i].column <= CSVIMP_COLUMNS + 1, "column in range");
        check(r.errors[i].text_off <= strlen(r.errors[i].message), "text_off in range");
        check(utf8_ok(r.errors[i].message), "message is valid UTF-8");
    }
    unsigned last_line = 0;
    for (size_t i = 0; i < r.n_rows; i++) {
        const struct csvimp_row *w = &r.rows[i];
        check(w->line > last_line, "lines increase");
        last_line = w->line;
        check(w->login_source[0] && w->pass_source[0] && w->host[0], "fields set");
        check(mig_preset_find(w->server_type)
                  && mig_preset_find(w->server_type)->name == w->server_type,
              "canonical type");
        check(w->port <= 65535 && w->subscribed_only <= 1, "port and flag");
        const char *at = strchr(w->login_destination, '@');
        check(at && at != w->login_destination, "destination is an address");
        check(strcmp(at + 1, "example.com") == 0 || strcmp(at + 1, "a.b") == 0, "hosted");
        if (o.account_domains)
            check(strcmp(at + 1, "a.b") == 0, "account restriction");
    }

    if (rc == 0) {
        struct buf b;
        buf_init(&b, (size_t)64 << 20);
        for (size_t i = 0; i < r.n_rows; i++) {
            const struct csvimp_row *w = &r.rows[i];
            put_quoted(&b, w->login_source);
            buf_putc(&b, ';');
            put_quoted(&b, w->pass_source);
            if (strchr(w->host, ':'))
                buf_printf(&b, ";[%s]", w->host);
            else
                buf_printf(&b, ";%s", w->host);
            if (w->port)
                buf_printf(&b, ":%u", w->port);
            buf_printf(&b, ";%s;%s;%s\r\n", w->server_type, w->login_destination,
                       w->subscribed_only ? "True" : "False");
        }
        struct csvimp_result r2;
        o.max_bytes = 0;
        o.max_field = 0; /* a default host (outlook.office365.com) may exceed a small limit */
        int rc2 = csvimp_parse(b.data, b.len, &o, &r2);
        if (rc2 != 0) {
            for (size_t i = 0; i < r2.n_errors; i++)
                fprintf(stderr, "%s\n", r2.errors[i].message);
        }
        check(rc2 == 0 && r2.n_rows == r.n_rows, "round trip parses");
        for (size_t i = 0; i < r.n_rows && rc2 == 0; i++)
            check(same_row(&r.rows[i], &r2.rows[i]), "round trip keeps every byte");
        csvimp_result_fini(&r2);
        buf_fini(&b);
    }
    csvimp_result_fini(&r);
    return 0;
}
