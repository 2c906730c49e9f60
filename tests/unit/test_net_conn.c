#define T_IMPLEMENTATION
#include "t.h"

/* net_conn over plain TCP against in-process loopback servers (threads): greeting, a 4 MiB
 * write that must wait for the reader, EOF, refusal, read timeouts, argument checks, IPv6.
 * TLS is covered by tests/integ/test_net_conn.sh against Dovecot. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/mb_err.h"
#include "net/net_acl.h"
#include "net/net_conn.h"

enum srv_mode { SRV_ECHO, SRV_SILENT, SRV_CLOSE };

struct srv {
    int lfd;
    unsigned port;
    enum srv_mode mode;
    pthread_t th;
};

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int read_full(int fd, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* SRV_ECHO: "hello\r\n", then read an 8-byte length and that many bytes, slowly, and answer
 * "<len> <fnv64 hex>\r\n". SRV_SILENT: never write, wait for the client to go. SRV_CLOSE:
 * close at once. */
static void *srv_main(void *arg)
{
    struct srv *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    if (s->mode == SRV_ECHO) {
        static const char hello[] = "hello\r\n";
        if (write(fd, hello, sizeof(hello) - 1) < 0)
            goto out;
        uint64_t len = 0, h = 1469598103934665603ULL;
        if (read_full(fd, &len, sizeof(len)) != 0)
            goto out;
        unsigned char buf[16384];
        uint64_t got = 0;
        while (got < len) {
            size_t want = len - got < sizeof(buf) ? (size_t)(len - got) : sizeof(buf);
            ssize_t r = read(fd, buf, want);
            if (r <= 0)
                goto out;
            h = fnv(h, buf, (size_t)r);
            got += (uint64_t)r;
            if (got < 256 * 1024)
                usleep(2000); /* a slow start: the client's writes must wait */
        }
        char line[64];
        int n = snprintf(line, sizeof(line), "%llu %016llx\r\n", (unsigned long long)got,
                         (unsigned long long)h);
        if (write(fd, line, (size_t)n) < 0)
            goto out;
        while (read(fd, buf, sizeof(buf)) > 0)
            ;
    } else if (s->mode == SRV_SILENT) {
        char c;
        while (read(fd, &c, 1) > 0)
            ;
    }
out:
    close(fd);
    return NULL;
}

static int srv_start(struct srv *s, int family, enum srv_mode mode)
{
    s->mode = mode;
    s->lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->lfd < 0)
        return -1;
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*a);
    }
    if (bind(s->lfd, (struct sockaddr *)&ss, len) != 0 || listen(s->lfd, 4) != 0
        || getsockname(s->lfd, (struct sockaddr *)&ss, &len) != 0) {
        close(s->lfd);
        return -1;
    }
    s->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    if (pthread_create(&s->th, NULL, srv_main, s) != 0) {
        close(s->lfd);
        return -1;
    }
    return 0;
}

static void srv_stop(struct srv *s)
{
    pthread_join(s->th, NULL);
    close(s->lfd);
}

/* Read until CRLF into line (NUL-terminated, without CRLF). */
static int read_line(struct net_conn *c, char *line, size_t max, struct mb_err *err)
{
    size_t n = 0;
    while (n < 2 || line[n - 2] != '\r' || line[n - 1] != '\n') {
        if (n + 1 >= max)
            return -1;
        ssize_t r = net_conn_read(c, line + n, 1, err);
        if (r <= 0)
            return -1;
        n++;
    }
    line[n - 2] = '\0';
    return 0;
}

static void test_plain_roundtrip(void)
{
    T_BEGIN("plain: greeting, 4 MiB write waits for a slow reader, answer, EOF");
    struct srv s;
    T_ASSERT_INT(srv_start(&s, AF_INET, SRV_ECHO), 0);
    struct net_conn_opts o = {.host = "127.0.0.1", .port = s.port, .io_timeout_ms = 10000};
    struct net_conn *c = NULL;
    struct mb_err err = {0};
    T_ASSERT_INT(net_conn_open(&o, &c, &err), 0);
    if (c) {
        char want[64];
        snprintf(want, sizeof(want), "127.0.0.1:%u", s.port);
        T_ASSERT_STR(net_conn_peer(c), want);
        T_ASSERT_INT(net_conn_is_tls(c), 0);
        T_ASSERT_INT(net_conn_wait_readable(c, 5000, &err), 1);
        T_ASSERT_INT(net_conn_pending(c), 0);
        char line[128];
        T_ASSERT_INT(read_line(c, line, sizeof(line), &err), 0);
        T_ASSERT_STR(line, "hello");

        size_t n = 4u << 20;
        unsigned char *payload = malloc(n);
        T_ASSERT(payload != NULL);
        for (size_t i = 0; i < n; i++)
            payload[i] = (unsigned char)(i * 7 + (i >> 13));
        uint64_t len = n;
        T_ASSERT_INT(net_conn_write(c, &len, sizeof(len), &err), 0);
        T_ASSERT_INT(net_conn_write(c, payload, n, &err), 0);
        char expect[64];
        snprintf(expect, sizeof(expect), "%zu %016llx", n,
                 (unsigned long long)fnv(1469598103934665603ULL, payload, n));
        free(payload);
        T_ASSERT_INT(read_line(c, line, sizeof(line), &err), 0);
        T_ASSERT_STR(line, expect);
        net_conn_free(&c);
        T_ASSERT(c == NULL);
    }
    srv_stop(&s);
    net_conn_free(&c); /* NULL is fine */
    T_END();
}

static void test_eof(void)
{
    T_BEGIN("server closes: read returns 0 and says so");
    struct srv s;
    T_ASSERT_INT(srv_start(&s, AF_INET, SRV_CLOSE), 0);
    struct net_conn_opts o = {.host = "localhost", .port = s.port, .io_timeout_ms = 5000};
    struct net_conn *c = NULL;
    struct mb_err err = {0};
    T_ASSERT_INT(net_conn_open(&o, &c, &err), 0);
    if (c) {
        char buf[16];
        T_ASSERT_INT(net_conn_read(c, buf, sizeof(buf), &err), 0);
        char want[96];
        snprintf(want, sizeof(want), "connection closed by server localhost:%u", s.port);
        T_ASSERT_STR(err.msg, want);
        net_conn_free(&c);
    }
    srv_stop(&s);
    T_END();
}

static void test_timeouts(void)
{
    T_BEGIN("silent server: wait_readable and read time out, set_timeout applies");
    struct srv s;
    T_ASSERT_INT(srv_start(&s, AF_INET, SRV_SILENT), 0);
    struct net_conn_opts o = {.host = "127.0.0.1", .port = s.port, .io_timeout_ms = 300};
    struct net_conn *c = NULL;
    struct mb_err err = {0};
    T_ASSERT_INT(net_conn_open(&o, &c, &err), 0);
    if (c) {
        char buf[16], want[96];
        T_ASSERT_INT(net_conn_wait_readable(c, 0, &err), 0);
        long long t0 = now_ms();
        T_ASSERT_INT(net_conn_wait_readable(c, 100, &err), 0);
        T_ASSERT(now_ms() - t0 >= 90);
        t0 = now_ms();
        T_ASSERT_INT(net_conn_read(c, buf, sizeof(buf), &err), MB_ECONN);
        long long ms = now_ms() - t0;
        T_ASSERT(ms >= 290 && ms < 3000);
        snprintf(want, sizeof(want), "timed out after 0.3 s waiting for 127.0.0.1:%u", s.port);
        T_ASSERT_STR(err.msg, want);
        T_ASSERT_INT(err.code, MB_ECONN);
        net_conn_set_timeout(c, 2000);
        t0 = now_ms();
        T_ASSERT_INT(net_conn_read(c, buf, sizeof(buf), &err), MB_ECONN);
        T_ASSERT(now_ms() - t0 >= 1990);
        snprintf(want, sizeof(want), "timed out after 2 s waiting for 127.0.0.1:%u", s.port);
        T_ASSERT_STR(err.msg, want);
        net_conn_free(&c);
    }
    srv_stop(&s);
    T_END();
}

static void test_refused_and_bad_args(void)
{
    T_BEGIN("refused port, .invalid host, bad arguments, missing CA file");
    struct mb_err err = {0};
    static char sentinel;
    struct net_conn *c = (struct net_conn *)(void *)&sentinel; /* reset to NULL on failure */

    /* A port nobody listens on: bind, read the number, close. */
    struct srv s;
    T_ASSERT_INT(srv_start(&s, AF_INET, SRV_CLOSE), 0);
    unsigned port = s.port;
    struct net_conn *k = NULL;
    struct net_conn_opts o = {.host = "127.0.0.1", .port = port};
    T_ASSERT_INT(net_conn_open(&o, &k, &err), 0); /* lets the server thread finish */
    net_conn_free(&k);
    srv_stop(&s);
    char want[96];
    T_ASSERT_INT(net_conn_open(&o, &c, &err), MB_ECONN);
    T_ASSERT(c == NULL);
    snprintf(want, sizeof(want), "connection refused by 127.0.0.1:%u", port);
    T_ASSERT_STR(err.msg, want);

    o.host = "nonexistent.invalid";
    T_ASSERT_INT(net_conn_open(&o, &c, &err), MB_ENOTFOUND);
    T_ASSERT_STR(err.msg, "host not found: nonexistent.invalid");
    o.host = "";
    T_ASSERT_INT(net_conn_open(&o, &c, &err), MB_ECONFIG);
    o.host = "127.0.0.1";
    o.port = 0;
    T_ASSERT_INT(net_conn_open(&o, &c, &err), MB_ECONFIG);
    o.port = 70000;
    T_ASSERT_INT(net_conn_open(&o, &c, &err), MB_ECONFIG);

    T_ASSERT_INT(srv_start(&s, AF_INET, SRV_SILENT), 0);
    char ca[512];
    snprintf(ca, sizeof(ca), "%s/no-such-ca.pem", t_tmpdir());
    struct net_conn_opts t = {.host = "127.0.0.1", .port = s.port, .tls = 1, .ca_file = ca};
    T_ASSERT_INT(net_conn_open(&t, &c, &err), MB_ECONFIG);
    T_ASSERT(c == NULL);
    T_ASSERT(strstr(err.msg, ca) != NULL);
    srv_stop(&s);
    T_END();
}

static int refuse_loopback(void *ctx, const char *host, unsigned port, const struct sockaddr *sa)
{
    (void)host;
    (void)port;
    (*(int *)ctx)++;
    return !net_acl_special(sa);
}

static void test_connect_filter(void)
{
    T_BEGIN("connect filter: every resolved address is checked; refused = MB_ECONFIG, no connect");
    struct mb_err err = {0};
    struct srv s;
    T_ASSERT_INT(srv_start(&s, AF_INET, SRV_SILENT), 0);
    int calls = 0;
    net_conn_set_filter(refuse_loopback, &calls);
    struct net_conn *c = NULL;
    struct net_conn_opts o = {.host = "127.0.0.1", .port = s.port, .connect_timeout_ms = 2000};
    T_ASSERT_INT(net_conn_open(&o, &c, &err), MB_ECONFIG);
    T_ASSERT(strstr(err.msg, "not allowed by the source policy") != NULL);
    T_ASSERT(calls == 1);
    o.host = "localhost";
    T_ASSERT_INT(net_conn_open(&o, &c, &err), MB_ECONFIG);
    net_conn_set_filter(NULL, NULL);
    o.host = "127.0.0.1";
    T_ASSERT_INT(net_conn_open(&o, &c, &err), 0);
    net_conn_free(&c);
    srv_stop(&s);
    T_END();
}

static int acl_special(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &s4->sin_addr) == 1)
        s4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1)
        s6->sin6_family = AF_INET6;
    return net_acl_special((struct sockaddr *)&ss);
}

static void test_acl(void)
{
    T_BEGIN("address lists: CIDR, names, suffixes; special addresses");
    struct net_acl a = {0};
    char bad[64];
    T_ASSERT_INT(net_acl_parse(&a, "10.0.0.0/8, 192.0.2.7 fd00::/8 .Corp.Example imap.x.org", bad,
                               sizeof(bad)),
                 0);
    T_ASSERT_INT((int)a.n, 5);
    T_ASSERT_INT(net_acl_match_text(&a, "10.200.1.1"), 1);
    T_ASSERT_INT(net_acl_match_text(&a, "11.0.0.1"), 0);
    T_ASSERT_INT(net_acl_match_text(&a, "192.0.2.7"), 1);
    T_ASSERT_INT(net_acl_match_text(&a, "192.0.2.8"), 0);
    T_ASSERT_INT(net_acl_match_text(&a, "::ffff:10.1.1.1"), 1);
    T_ASSERT_INT(net_acl_match_text(&a, "fd12::1"), 1);
    T_ASSERT_INT(net_acl_match_name(&a, "mail.corp.example"), 1);
    T_ASSERT_INT(net_acl_match_name(&a, "corp.example."), 1);
    T_ASSERT_INT(net_acl_match_name(&a, "evilcorp.example"), 0);
    T_ASSERT_INT(net_acl_match_name(&a, "IMAP.x.org"), 1);
    T_ASSERT_INT(net_acl_match_name(&a, "a.imap.x.org"), 0);
    T_ASSERT_INT(net_acl_parse(&a, "10.0.0.0/33", bad, sizeof(bad)), -1);
    T_ASSERT_STR(bad, "10.0.0.0/33");
    T_ASSERT_INT((int)a.n, 5); /* unchanged on error */
    T_ASSERT_INT(net_acl_parse(&a, "a..b", bad, sizeof(bad)), -1);
    net_acl_fini(&a);
    const char *special[] = {
        "127.0.0.1",  "10.1.1.1", "172.16.0.1", "192.168.0.1",      "169.254.169.254",
        "100.64.0.1", "0.0.0.0",  "224.0.0.1",  "255.255.255.255",  "::1",
        "::",         "fe80::1",  "fd00::1",    "::ffff:127.0.0.1", "64:ff9b::7f00:1",
        NULL};
    for (int i = 0; special[i]; i++)
        T_ASSERT(acl_special(special[i]) == 1);
    T_ASSERT_INT(acl_special("8.8.8.8"), 0);
    T_ASSERT_INT(acl_special("2a00:1450::1"), 0);
    T_ASSERT_INT(acl_special("64:ff9b::808:808"), 0);
    T_END();
}

static void test_ipv6(void)
{
    T_BEGIN("IPv6 loopback literal");
    struct srv s;
    if (srv_start(&s, AF_INET6, SRV_ECHO) != 0) {
        printf("  (no IPv6 loopback here)\n");
        T_END();
        return;
    }
    struct net_conn_opts o = {.host = "::1", .port = s.port, .io_timeout_ms = 5000};
    struct net_conn *c = NULL;
    struct mb_err err = {0};
    T_ASSERT_INT(net_conn_open(&o, &c, &err), 0);
    if (c) {
        char want[64], line[64];
        snprintf(want, sizeof(want), "[::1]:%u", s.port);
        T_ASSERT_STR(net_conn_peer(c), want);
        T_ASSERT_INT(read_line(c, line, sizeof(line), &err), 0);
        T_ASSERT_STR(line, "hello");
        net_conn_free(&c);
    }
    srv_stop(&s);
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {
        test_plain_roundtrip, test_eof, test_timeouts, test_refused_and_bad_args,
        test_connect_filter,  test_acl, test_ipv6,     NULL,
    };
    return t_run(fns);
}
