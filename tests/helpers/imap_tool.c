/* imap_tool: drive src/imap from integration tests, one operation per argument group.
 *
 *   imap_tool [options] OP [ARGS]... [OP [ARGS]...]...
 *
 * Options: --host H (127.0.0.1) --port P --tls | --starttls | --plain (default)
 *          --ca FILE --insecure --timeout MS --connect-timeout MS --no-literal-plus
 *          --window N --multi N --trace (protocol trace on stderr) --gmail
 * Passwords come from the environment (IMAP_PASS, XOAUTH2: IMAP_TOKEN), never argv.
 * Ops (a leading '!' means "this op must fail": its error is printed, the run goes on):
 *   login USER | plain AUTHZID|- AUTHCID | xoauth2 USER | caps | id | namespace
 *   list [subscribed] [status] | lsub | status BOX | statusmany BOX,BOX,... (pipelined)
 *   select BOX | examine BOX | search CRITERIA
 *   meta SET | fetch SET | create BOX | subscribe BOX | noop | logout | sleep MS
 *   append BOX SIZE FLAGS|- DATE|-        one generated message (see gen()), no flush
 *   appendn BOX COUNT SIZE               COUNT generated messages, then flush
 *   flush
 * Output: "ok OP ..." / "ERR OP <category> <message>" lines (then "code OP <code> <params>"
 * for a coded message, msg/msgcat.def), data lines ("skipped uid=N <category>: <message>",
 * then "skipped-code uid=N <code> <params>"), timings
 * ("time OP <ms>"). Exit status 1 when an op without '!' failed (or one with '!' succeeded). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/sha256.h>

#include "base/mb_err.h"
#include "imap/imap_append.h"
#include "imap/imap_client.h"
#include "imap/imap_fetch.h"

/* Same bytes as tests/fakeimap/fakeimap.py gen(): 62 letters + CRLF per 64 bytes. */
static void gen(char *out, size_t n, uint64_t offset)
{
    for (size_t k = 0; k < n; k++) {
        uint64_t i = offset + k, pos = i % 64;
        out[k] = pos == 62 ? '\r' : pos == 63 ? '\n' : (char)('a' + (i / 64 + pos) % 26);
    }
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void trace(void *ctx, char dir, const char *line)
{
    (void)ctx;
    fprintf(stderr, "%c: %s\n", dir, line);
}

struct body {
    mbedtls_sha256_context sha;
    uint64_t size, got;
    uint32_t uid;
    int count;
};

static int b_begin(void *ctx, uint32_t uid, uint64_t size)
{
    struct body *b = ctx;
    mbedtls_sha256_init(&b->sha);
    mbedtls_sha256_starts(&b->sha, 0);
    b->uid = uid;
    b->size = size;
    b->got = 0;
    return 0;
}

static int b_chunk(void *ctx, const char *p, size_t n)
{
    struct body *b = ctx;
    b->got += n;
    mbedtls_sha256_update(&b->sha, (const unsigned char *)p, n);
    return 0;
}

static int b_end(void *ctx, uint32_t uid)
{
    struct body *b = ctx;
    unsigned char h[32];
    mbedtls_sha256_finish(&b->sha, h);
    mbedtls_sha256_free(&b->sha);
    printf("body uid=%u size=%llu got=%llu sha256=", uid, (unsigned long long)b->size,
           (unsigned long long)b->got);
    for (int i = 0; i < 32; i++)
        printf("%02x", h[i]);
    printf("\n");
    b->count++;
    return 0;
}

static void b_skipped(void *ctx, uint32_t uid, const struct mb_err *why)
{
    (void)ctx;
    printf("skipped uid=%u %s: %s\n", uid, mb_errc_name(why->code), why->msg);
    char params[MB_ERR_PARAMS_LEN + 64];
    printf("skipped-code uid=%u %s %s\n", uid, mb_err_code(why),
           mb_err_params(why, params, sizeof(params)));
}

static int meta_cb(void *ctx, const struct imap_msg_meta *m)
{
    (void)ctx;
    printf("meta uid=%u size=%llu date=\"%s\" flags=(", m->uid, (unsigned long long)m->size,
           m->internaldate ? m->internaldate : "");
    for (size_t i = 0; i < m->nflags; i++)
        printf("%s%s", i ? " " : "", m->flags[i]);
    printf(")");
    if (m->gm_msgid || m->ngm_labels) {
        printf(" gm_msgid=%llu labels=(", (unsigned long long)m->gm_msgid);
        for (size_t i = 0; i < m->ngm_labels; i++)
            printf("%s\"%s\"", i ? " " : "", m->gm_labels[i]);
        printf(")");
    }
    printf("\n");
    return 0;
}

static void append_done(void *ctx, const struct imap_append_result *r)
{
    (void)ctx;
    printf("appended #%ld status=%s code=%s uidvalidity=%u uid=%u text=\"%s\"\n",
           (long)(intptr_t)r->cookie, r->status ? mb_errc_name(r->status) : "ok",
           imap_resp_code_name(r->code), r->uidvalidity, r->uid, r->text);
}

static int do_append(struct imap_client *c, const char *box, uint64_t size, const char *flags,
                     const char *date, long cookie, struct mb_err *err)
{
    const char *fv[8];
    size_t nf = 0;
    char fbuf[256] = "";
    if (flags && strcmp(flags, "-") != 0) {
        snprintf(fbuf, sizeof(fbuf), "%s", flags);
        for (char *t = strtok(fbuf, ","); t && nf < 8; t = strtok(NULL, ","))
            fv[nf++] = t;
    }
    if (date && strcmp(date, "-") == 0)
        date = NULL;
    int rc = imap_append_begin(c, box, fv, nf, date, size, err);
    if (rc < 0)
        return rc;
    static char chunk[65536];
    uint64_t off = 0;
    while (off < size) {
        size_t n = size - off < sizeof(chunk) ? (size_t)(size - off) : sizeof(chunk);
        gen(chunk, n, off);
        rc = imap_append_write(c, chunk, n, err);
        if (rc < 0)
            return rc;
        off += n;
    }
    return imap_append_end(c, (void *)(intptr_t)cookie, err);
}

static void print_folders(const struct imap_folders *f)
{
    for (size_t i = 0; i < f->n; i++) {
        const struct imap_folder *x = &f->v[i];
        printf("folder raw=\"%s\" name=\"%s\" valid=%d delim=\"%c\" flags=0x%x subscribed=%d\n",
               x->raw, x->name, x->name_valid, x->delim ? x->delim : '-', x->flags, x->subscribed);
        if (x->st.have)
            printf("liststatus \"%s\" messages=%u uidnext=%u uidvalidity=%u unseen=%u "
                   "modseq=%llu have=%x\n",
                   x->raw, x->st.messages, x->st.uidnext, x->st.uidvalidity, x->st.unseen,
                   (unsigned long long)x->st.highestmodseq, x->st.have);
    }
}

int main(int argc, char **argv)
{
    struct imap_client_opts o;
    struct imap_client *c = NULL;
    struct mb_err err;
    int i = 1, failed = 0;
    long cookie = 0;

    memset(&o, 0, sizeof(o));
    o.host = "127.0.0.1";
    o.security = IMAP_SECURITY_NONE;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--host") && i + 1 < argc)
            o.host = argv[++i];
        else if (!strcmp(a, "--port") && i + 1 < argc)
            o.port = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--tls"))
            o.security = IMAP_SECURITY_TLS;
        else if (!strcmp(a, "--starttls"))
            o.security = IMAP_SECURITY_STARTTLS;
        else if (!strcmp(a, "--plain"))
            o.security = IMAP_SECURITY_NONE;
        else if (!strcmp(a, "--ca") && i + 1 < argc)
            o.ca_file = argv[++i];
        else if (!strcmp(a, "--insecure"))
            o.insecure = 1;
        else if (!strcmp(a, "--timeout") && i + 1 < argc)
            o.io_timeout_ms = atoi(argv[++i]);
        else if (!strcmp(a, "--connect-timeout") && i + 1 < argc)
            o.connect_timeout_ms = atoi(argv[++i]);
        else if (!strcmp(a, "--no-literal-plus"))
            o.no_literal_plus = 1;
        else if (!strcmp(a, "--window") && i + 1 < argc)
            o.append_window = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--multi") && i + 1 < argc)
            o.multiappend_max = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--trace"))
            o.trace = trace;
        else {
            fprintf(stderr, "imap_tool: bad option %s\n", a);
            return 2;
        }
    }
    long long t0 = now_ms();
    int rc = imap_client_connect(&o, &c, &err);
    printf("time connect %lld\n", now_ms() - t0);
    int must_fail_connect = i < argc && !strcmp(argv[i], "!connect");
    if (must_fail_connect)
        i++;
    if (rc < 0) {
        printf("ERR connect %s %s\n", mb_errc_name(rc), err.msg);
        fflush(stdout);
        return must_fail_connect ? 0 : 1;
    }
    if (must_fail_connect) {
        printf("UNEXPECTED ok connect\n");
        failed = 1;
    } else {
        printf("ok connect caps=%s\n", imap_client_caps(c));
    }
    imap_append_set_callback(c, append_done, NULL);

    while (i < argc) {
        const char *op = argv[i++];
        int expect_fail = op[0] == '!';
        if (expect_fail)
            op++;
#define ARG(k) (i + (k) < argc ? argv[i + (k)] : "")
        const char *pass = getenv("IMAP_PASS") ? getenv("IMAP_PASS") : "";
        mb_err_clear(&err);
        t0 = now_ms();
        rc = 0;
        if (!strcmp(op, "login")) {
            rc = imap_client_login(c, ARG(0), pass, &err);
            i += 1;
        } else if (!strcmp(op, "plain")) {
            rc = imap_client_auth_plain(c, strcmp(ARG(0), "-") ? ARG(0) : NULL, ARG(1), pass, &err);
            i += 2;
        } else if (!strcmp(op, "xoauth2")) {
            rc = imap_client_auth_xoauth2(c, ARG(0),
                                          getenv("IMAP_TOKEN") ? getenv("IMAP_TOKEN") : "", &err);
            i += 1;
        } else if (!strcmp(op, "caps")) {
            rc = imap_client_capability(c, &err);
            printf("caps %s\n", imap_client_caps(c));
        } else if (!strcmp(op, "id")) {
            static const char *const f[] = {"name", "migrabox-test", "version", "1", NULL};
            rc = imap_client_id(c, f, &err);
            printf("server-id %s\n", imap_client_server_id(c));
        } else if (!strcmp(op, "namespace")) {
            struct imap_namespaces ns;
            rc = imap_client_namespace(c, &ns, &err);
            for (size_t k = 0; rc == 0 && k < ns.npersonal; k++)
                printf("ns personal \"%s\" \"%c\"\n", ns.personal[k].prefix,
                       ns.personal[k].delim ? ns.personal[k].delim : '-');
            for (size_t k = 0; rc == 0 && k < ns.nother; k++)
                printf("ns other \"%s\"\n", ns.other[k].prefix);
            for (size_t k = 0; rc == 0 && k < ns.nshared; k++)
                printf("ns shared \"%s\"\n", ns.shared[k].prefix);
            imap_client_namespaces_fini(&ns);
        } else if (!strcmp(op, "list")) {
            struct imap_folders f;
            unsigned how = 0;
            if (!strcmp(ARG(0), "subscribed")) {
                how = IMAP_LIST_SUBSCRIBED_ONLY;
                i++;
            }
            if (!strcmp(ARG(0), "status")) {
                how |= IMAP_LIST_STATUS;
                i++;
            }
            rc = imap_client_list(c, NULL, NULL, how, &f, &err);
            if (rc == 0)
                print_folders(&f);
            imap_client_folders_fini(&f);
        } else if (!strcmp(op, "lsub")) {
            struct imap_folders f;
            rc = imap_client_lsub(c, NULL, NULL, &f, &err);
            if (rc == 0)
                print_folders(&f);
            imap_client_folders_fini(&f);
        } else if (!strcmp(op, "status")) {
            struct imap_status_info si;
            rc = imap_client_status(c, ARG(0), &si, &err);
            if (rc == 0)
                printf("status messages=%u uidnext=%u uidvalidity=%u unseen=%u have=%x\n",
                       si.messages, si.uidnext, si.uidvalidity, si.unseen, si.have);
            i++;
        } else if (!strcmp(op, "statusmany")) {
            char *list = strdup(ARG(0));
            const char *names[256];
            size_t n = 0;
            for (char *save = NULL, *t = strtok_r(list, ",", &save); t && n < 256;
                 t = strtok_r(NULL, ",", &save))
                names[n++] = t;
            struct imap_status_info si[256];
            int rcs[256];
            rc = imap_client_status_many(c, names, n, si, rcs, &err);
            for (size_t k = 0; k < n; k++)
                printf("status %s %s messages=%u uidnext=%u have=%x\n", names[k],
                       rcs[k] == 1 ? "unanswered"
                       : rcs[k]    ? mb_errc_name(rcs[k])
                                   : "ok",
                       si[k].messages, si[k].uidnext, si[k].have);
            free(list);
            i++;
        } else if (!strcmp(op, "select") || !strcmp(op, "examine")) {
            struct imap_mailbox m;
            rc = imap_client_select(c, ARG(0), op[0] == 'e', &m, &err);
            if (rc == 0)
                printf("mailbox exists=%u uidvalidity=%u uidnext=%u ro=%d flags=(%s) perm=(%s)\n",
                       m.exists, m.uidvalidity, m.uidnext, m.read_only, m.flags,
                       m.permanentflags ? m.permanentflags : "-");
            imap_client_mailbox_fini(&m);
            i++;
        } else if (!strcmp(op, "search")) {
            uint32_t *u;
            size_t n;
            rc = imap_client_uid_search(c, ARG(0), &u, &n, &err);
            if (rc == 0) {
                printf("search %zu:", n);
                for (size_t k = 0; k < n; k++)
                    printf(" %u", u[k]);
                printf("\n");
                free(u);
            }
            i++;
        } else if (!strcmp(op, "meta")) {
            rc = imap_fetch_meta(c, ARG(0),
                                 imap_client_has_cap(c, "X-GM-EXT-1") ? IMAP_FETCH_META_GMAIL : 0,
                                 meta_cb, NULL, &err);
            i++;
        } else if (!strcmp(op, "fetch")) {
            struct body b = {0};
            static const struct imap_body_cbs cbs = {b_begin, b_chunk, b_end, b_skipped};
            rc = imap_fetch_bodies(c, ARG(0), &cbs, &b, &err);
            printf("fetched %d\n", b.count);
            i++;
        } else if (!strcmp(op, "append")) {
            rc = do_append(c, ARG(0), strtoull(ARG(1), NULL, 10), ARG(2), ARG(3), ++cookie, &err);
            i += 4;
        } else if (!strcmp(op, "appendn")) {
            long n = atol(ARG(1));
            uint64_t size = strtoull(ARG(2), NULL, 10);
            for (long k = 0; k < n && rc == 0; k++)
                rc = do_append(c, ARG(0), size, "\\Seen", NULL, ++cookie, &err);
            if (rc == 0)
                rc = imap_append_flush(c, &err);
            i += 3;
        } else if (!strcmp(op, "flush")) {
            rc = imap_append_flush(c, &err);
        } else if (!strcmp(op, "create")) {
            rc = imap_client_create(c, ARG(0), &err);
            i++;
        } else if (!strcmp(op, "subscribe")) {
            rc = imap_client_subscribe(c, ARG(0), &err);
            i++;
        } else if (!strcmp(op, "noop")) {
            rc = imap_client_noop(c, &err);
        } else if (!strcmp(op, "logout")) {
            rc = imap_client_logout(c, &err);
        } else if (!strcmp(op, "sleep")) {
            struct timespec ts = {atol(ARG(0)) / 1000, (atol(ARG(0)) % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            i++;
        } else {
            fprintf(stderr, "imap_tool: unknown op %s\n", op);
            rc = MB_ECONFIG;
            mb_err_set(&err, rc, "unknown op");
        }
        printf("time %s %lld\n", op, now_ms() - t0);
        if (rc < 0) {
            printf("ERR %s %s %s\n", op, mb_errc_name(rc), err.msg);
            char params[MB_ERR_PARAMS_LEN + 64];
            printf("code %s %s %s\n", op, mb_err_code(&err),
                   mb_err_params(&err, params, sizeof(params)));
        } else
            printf("ok %s\n", op);
        if ((rc < 0) != expect_fail) {
            if (expect_fail)
                printf("UNEXPECTED ok %s\n", op);
            failed = 1;
            break;
        }
        fflush(stdout);
    }
    imap_client_free(&c);
    fflush(stdout);
    return failed;
}
