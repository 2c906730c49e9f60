/* net_probe: drive net_conn against an IMAP server for tests/integ/test_net_conn.sh.
 *
 *   net_probe [--tls | --starttls] [--ca FILE] [--insecure] [--sni NAME]
 *             [--connect-timeout MS] [--timeout MS] [--expect-silence] HOST PORT
 *
 * Connects, reads the greeting (first one byte, to show what net_conn_pending reports), with
 * --starttls upgrades the connection, then NOOP and LOGOUT and reads until the server closes.
 * --expect-silence only opens and reads once (to time a read that gets nothing).
 * Prints "key: value" lines: result (ok or the mb_errc name), message, elapsed_ms, tls, peer,
 * greeting, pending_after_1, readable_now, tls_version, tls_cipher, noop, eof. Exit status 0
 * when result is ok. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mb_err.h"
#include "net/net_conn.h"

static long long probe_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long probe_t0;

static int probe_fail(int code, const struct mb_err *err)
{
    printf("result: %s\nmessage: %s\nelapsed_ms: %lld\n", mb_errc_name(code), err->msg,
           probe_now_ms() - probe_t0);
    return 1;
}

/* Read one line (without CRLF) into line; prefix bytes already read may be given. */
static int probe_read_line(struct net_conn *c, char *line, size_t max, size_t have,
                           struct mb_err *err)
{
    while (have < 2 || line[have - 2] != '\r' || line[have - 1] != '\n') {
        if (have + 1 >= max)
            return mb_err_set(err, MB_ETOOBIG, "line too long");
        ssize_t n = net_conn_read(c, line + have, 1, err);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return MB_ECONN; /* err filled: connection closed by server */
        have += (size_t)n;
    }
    line[have - 2] = '\0';
    return 0;
}

/* Send "tag cmd" and read lines until the tagged answer, which is copied to out. */
static int probe_command(struct net_conn *c, const char *tag, const char *cmd, char *out,
                         size_t max, struct mb_err *err)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s %s\r\n", tag, cmd);
    int r = net_conn_write(c, buf, strlen(buf), err);
    if (r < 0)
        return r;
    size_t tl = strlen(tag);
    for (;;) {
        r = probe_read_line(c, out, max, 0, err);
        if (r < 0)
            return r;
        if (strncmp(out, tag, tl) == 0 && out[tl] == ' ')
            return 0;
    }
}

int main(int argc, char **argv)
{
    struct net_conn_opts o = {0};
    int starttls = 0, silence = 0;
    static const struct option longopts[] = {
        {"tls", no_argument, NULL, 't'},
        {"starttls", no_argument, NULL, 's'},
        {"ca", required_argument, NULL, 'c'},
        {"insecure", no_argument, NULL, 'k'},
        {"sni", required_argument, NULL, 'n'},
        {"connect-timeout", required_argument, NULL, 'C'},
        {"timeout", required_argument, NULL, 'T'},
        {"expect-silence", no_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 't': o.tls = 1; break;
        case 's': starttls = 1; break;
        case 'c': o.ca_file = optarg; break;
        case 'k': o.insecure = 1; break;
        case 'n': o.sni = optarg; break;
        case 'C': o.connect_timeout_ms = (int)strtol(optarg, NULL, 10); break;
        case 'T': o.io_timeout_ms = (int)strtol(optarg, NULL, 10); break;
        case 'S': silence = 1; break;
        default: fprintf(stderr, "usage: net_probe [options] HOST PORT\n"); return 2;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "usage: net_probe [options] HOST PORT\n");
        return 2;
    }
    o.host = argv[optind];
    o.port = (unsigned)strtoul(argv[optind + 1], NULL, 10);

    struct mb_err err = {0};
    struct net_conn *c = NULL;
    char line[1024];
    int rc = 1;
    probe_t0 = probe_now_ms();
    int r = net_conn_open(&o, &c, &err);
    if (r < 0)
        return probe_fail(r, &err);
    printf("peer: %s\n", net_conn_peer(c));

    if (silence) {
        probe_t0 = probe_now_ms();
        ssize_t n = net_conn_read(c, line, sizeof(line), &err);
        if (n >= 0) {
            printf("result: ok\nmessage: read returned %zd\n", n);
            goto out;
        }
        probe_fail((int)n, &err);
        goto out;
    }

    ssize_t n = net_conn_read(c, line, 1, &err);
    if (n <= 0) {
        probe_fail(n == 0 ? MB_ECONN : (int)n, &err);
        goto out;
    }
    printf("pending_after_1: %zu\n", net_conn_pending(c));
    printf("readable_now: %d\n", net_conn_wait_readable(c, 0, &err));
    r = probe_read_line(c, line, sizeof(line), 1, &err);
    if (r < 0) {
        probe_fail(r, &err);
        goto out;
    }
    printf("greeting: %s\n", line);
    if (starttls) {
        r = probe_command(c, "a", "STARTTLS", line, sizeof(line), &err);
        if (r == 0 && strncmp(line, "a OK", 4) != 0)
            r = mb_err_set(&err, MB_EPROTO, "STARTTLS refused: %s", line);
        if (r == 0)
            r = net_conn_start_tls(c, &err);
        if (r < 0) {
            probe_fail(r, &err);
            goto out;
        }
    }
    printf("tls: %d\n", net_conn_is_tls(c));
    printf("tls_version: %s\ntls_cipher: %s\n", net_conn_tls_version(c), net_conn_tls_cipher(c));
    r = probe_command(c, "b", "NOOP", line, sizeof(line), &err);
    if (r < 0) {
        probe_fail(r, &err);
        goto out;
    }
    printf("noop: %s\n", line);
    r = probe_command(c, "c", "LOGOUT", line, sizeof(line), &err);
    if (r < 0) {
        probe_fail(r, &err);
        goto out;
    }
    n = net_conn_read(c, line, sizeof(line), &err);
    printf("eof: %s (%s)\n", n == 0 ? "yes" : "no", err.msg);
    printf("result: ok\nelapsed_ms: %lld\n", probe_now_ms() - probe_t0);
    rc = n == 0 ? 0 : 1;
out:
    net_conn_free(&c);
    return rc;
}
