/* imap_copy: copy one folder from a source IMAP server to a destination through src/imap,
 * streaming each message from the source's FETCH literal into the destination's APPEND
 * literal (the migration engine's inner loop), and report peak memory before and after.
 *
 *   imap_copy --src-port P --dst-port Q [--src-tls] [--dst-tls] [--ca FILE]
 *             --src-user U --dst-user V [--dst-master M] SRCBOX DSTBOX
 *             [--no-literal-plus] [--window N] [--uids SET]
 * Passwords: SRC_PASS, DST_PASS in the environment (with --dst-master, DST_PASS is the master
 * password and the login is AUTHENTICATE PLAIN with authzid V).
 * DSTBOX is created when missing. Prints one "copied uid=N sha256=H dst_uid=D" line per
 * message, then
 * "rss before_kb=A after_kb=B delta_kb=C" (VmHWM from /proc/self/status), "messages N bytes B
 * seconds T". Exit 0 when every message was appended. */
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

#define MAX_MSGS 100000

struct meta {
    uint32_t uid;
    char flags[256];
    char date[40];
};

struct copy {
    struct imap_client *dst;
    const char *dstbox;
    struct meta *meta;
    size_t nmeta;
    mbedtls_sha256_context sha;
    uint32_t uid;
    uint64_t size;
    int failed;
    long copied;
    uint64_t bytes;
    char (*shas)[65]; /* per cookie (= index in meta) */
};

static long vm_hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmHWM:", 6) == 0)
            v = atol(line + 6);
    }
    if (f)
        fclose(f);
    return v;
}

static int meta_cb(void *ctx, const struct imap_msg_meta *m)
{
    struct copy *cp = ctx;
    if (cp->nmeta >= MAX_MSGS)
        return MB_ETOOBIG;
    struct meta *x = &cp->meta[cp->nmeta++];
    memset(x, 0, sizeof(*x));
    x->uid = m->uid;
    for (size_t i = 0; i < m->nflags; i++) {
        if (strcmp(m->flags[i], "\\Recent") == 0 || !imap_append_flag_ok(m->flags[i]))
            continue;
        size_t len = strlen(x->flags);
        snprintf(x->flags + len, sizeof(x->flags) - len, "%s%s", len ? "," : "", m->flags[i]);
    }
    if (m->internaldate)
        snprintf(x->date, sizeof(x->date), "%s", m->internaldate);
    return 0;
}

static struct meta *find_meta(struct copy *cp, uint32_t uid, size_t *idx_r)
{
    for (size_t i = 0; i < cp->nmeta; i++) {
        if (cp->meta[i].uid == uid) {
            *idx_r = i;
            return &cp->meta[i];
        }
    }
    return NULL;
}

static int c_begin(void *ctx, uint32_t uid, uint64_t size)
{
    struct copy *cp = ctx;
    struct mb_err err;
    size_t idx;
    struct meta *m = find_meta(cp, uid, &idx);
    const char *fv[16];
    size_t nf = 0;
    char fl[256] = "";
    if (m) {
        snprintf(fl, sizeof(fl), "%s", m->flags);
        for (char *t = strtok(fl, ","); t && nf < 16; t = strtok(NULL, ","))
            fv[nf++] = t;
    }
    int rc = imap_append_begin(cp->dst, cp->dstbox, fv, nf, m && m->date[0] ? m->date : NULL, size,
                               &err);
    if (rc < 0) {
        printf("append refused uid=%u %s: %s\n", uid, mb_errc_name(rc), err.msg);
        cp->failed = 1;
        return rc == MB_EMSG ? IMAP_FETCH_SKIP : rc;
    }
    mbedtls_sha256_init(&cp->sha);
    mbedtls_sha256_starts(&cp->sha, 0);
    cp->uid = uid;
    cp->size = size;
    return 0;
}

static int c_chunk(void *ctx, const char *p, size_t n)
{
    struct copy *cp = ctx;
    struct mb_err err;
    mbedtls_sha256_update(&cp->sha, (const unsigned char *)p, n);
    int rc = imap_append_write(cp->dst, p, n, &err);
    if (rc < 0) {
        printf("append write failed uid=%u %s: %s\n", cp->uid, mb_errc_name(rc), err.msg);
        cp->failed = 1;
    }
    return rc;
}

static int c_end(void *ctx, uint32_t uid)
{
    struct copy *cp = ctx;
    struct mb_err err;
    unsigned char h[32];
    size_t idx = 0;
    mbedtls_sha256_finish(&cp->sha, h);
    mbedtls_sha256_free(&cp->sha);
    find_meta(cp, uid, &idx);
    for (int i = 0; i < 32; i++)
        snprintf(cp->shas[idx] + 2 * i, 3, "%02x", h[i]);
    cp->bytes += cp->size;
    int rc = imap_append_end(cp->dst, (void *)(uintptr_t)(idx + 1), &err);
    if (rc < 0) {
        printf("append end failed uid=%u %s: %s\n", uid, mb_errc_name(rc), err.msg);
        cp->failed = 1;
    }
    return rc;
}

static void c_skipped(void *ctx, uint32_t uid, const struct mb_err *why)
{
    struct copy *cp = ctx;
    printf("skipped uid=%u %s\n", uid, why->msg);
    cp->failed = 1;
}

static void done_cb(void *ctx, const struct imap_append_result *r)
{
    struct copy *cp = ctx;
    size_t idx = (size_t)(uintptr_t)r->cookie - 1;
    if (r->status != 0) {
        printf("append failed uid=%u %s: %s\n", cp->meta[idx].uid, mb_errc_name(r->status),
               r->text);
        cp->failed = 1;
        return;
    }
    cp->copied++;
    printf("copied uid=%u sha256=%s dst_uid=%u\n", cp->meta[idx].uid, cp->shas[idx], r->uid);
}

static int open_login(unsigned port, int tls, const char *ca, const char *user, const char *master,
                      const char *pass, int no_lp, unsigned window, struct imap_client **c_r)
{
    struct imap_client_opts o;
    struct mb_err err;
    memset(&o, 0, sizeof(o));
    o.host = "127.0.0.1";
    o.port = port;
    o.security = tls ? IMAP_SECURITY_TLS : IMAP_SECURITY_NONE;
    o.ca_file = ca;
    o.no_literal_plus = no_lp;
    o.append_window = window;
    int rc = imap_client_connect(&o, c_r, &err);
    if (rc == 0)
        rc = master ? imap_client_auth_plain(*c_r, user, master, pass, &err)
                    : imap_client_login(*c_r, user, pass, &err);
    if (rc < 0)
        fprintf(stderr, "imap_copy: %s: %s\n", mb_errc_name(rc), err.msg);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned sport = 0, dport = 0, window = 0;
    int stls = 0, dtls = 0, no_lp = 0;
    const char *ca = NULL, *suser = NULL, *duser = NULL, *dmaster = NULL, *uids = "1:*";
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--src-port") && i + 1 < argc)
            sport = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--dst-port") && i + 1 < argc)
            dport = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--src-tls"))
            stls = 1;
        else if (!strcmp(a, "--dst-tls"))
            dtls = 1;
        else if (!strcmp(a, "--ca") && i + 1 < argc)
            ca = argv[++i];
        else if (!strcmp(a, "--src-user") && i + 1 < argc)
            suser = argv[++i];
        else if (!strcmp(a, "--dst-user") && i + 1 < argc)
            duser = argv[++i];
        else if (!strcmp(a, "--dst-master") && i + 1 < argc)
            dmaster = argv[++i];
        else if (!strcmp(a, "--no-literal-plus"))
            no_lp = 1;
        else if (!strcmp(a, "--window") && i + 1 < argc)
            window = (unsigned)atoi(argv[++i]);
        else if (!strcmp(a, "--uids") && i + 1 < argc)
            uids = argv[++i];
        else if (a[0] != '-' && npos < 2)
            pos[npos++] = a;
        else {
            fprintf(stderr, "imap_copy: bad argument %s\n", a);
            return 2;
        }
    }
    if (!sport || !dport || !suser || !duser || npos != 2) {
        fprintf(stderr, "imap_copy: missing arguments\n");
        return 2;
    }
    const char *spass = getenv("SRC_PASS") ? getenv("SRC_PASS") : "";
    const char *dpass = getenv("DST_PASS") ? getenv("DST_PASS") : "";

    struct imap_client *src = NULL, *dst = NULL;
    struct mb_err err;
    struct copy cp;
    int rc = 1;
    memset(&cp, 0, sizeof(cp));
    cp.meta = calloc(MAX_MSGS, sizeof(*cp.meta));
    cp.shas = calloc(MAX_MSGS, sizeof(*cp.shas));
    if (!cp.meta || !cp.shas)
        return 1;
    if (open_login(sport, stls, ca, suser, NULL, spass, 0, 0, &src) < 0
        || open_login(dport, dtls, ca, duser, dmaster, dpass, no_lp, window, &dst) < 0)
        goto out;
    cp.dst = dst;
    cp.dstbox = pos[1];
    if (imap_client_create(dst, pos[1], &err) < 0) {
        fprintf(stderr, "imap_copy: create %s: %s\n", pos[1], err.msg);
        goto out;
    }
    imap_append_set_callback(dst, done_cb, &cp);
    struct imap_mailbox mb;
    if (imap_client_select(src, pos[0], 1, &mb, &err) < 0
        || imap_fetch_meta(src, uids, 0, meta_cb, &cp, &err) < 0) {
        fprintf(stderr, "imap_copy: source: %s\n", err.msg);
        imap_client_mailbox_fini(&mb);
        goto out;
    }
    imap_client_mailbox_fini(&mb);

    long before = vm_hwm_kb();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    static const struct imap_body_cbs cbs = {c_begin, c_chunk, c_end, c_skipped};
    int frc = imap_fetch_bodies(src, uids, &cbs, &cp, &err);
    if (frc < 0)
        fprintf(stderr, "imap_copy: fetch: %s: %s\n", mb_errc_name(frc), err.msg);
    int arc = imap_append_flush(dst, &err);
    if (arc < 0)
        fprintf(stderr, "imap_copy: append: %s: %s\n", mb_errc_name(arc), err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long after = vm_hwm_kb();
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("rss before_kb=%ld after_kb=%ld delta_kb=%ld\n", before, after, after - before);
    printf("messages %ld bytes %llu seconds %.3f\n", cp.copied, (unsigned long long)cp.bytes, secs);
    rc = (frc < 0 || arc < 0 || cp.failed || (size_t)cp.copied != cp.nmeta) ? 1 : 0;
    imap_client_logout(src, &err);
    imap_client_logout(dst, &err);
out:
    imap_client_free(&src);
    imap_client_free(&dst);
    free(cp.meta);
    free(cp.shas);
    return rc;
}
