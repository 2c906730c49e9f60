/* net_conn: blocking-with-timeouts TCP (+ mbedTLS 3.6 client: TLS 1.3, TLS 1.2) connection.
 *
 * The socket stays non-blocking; every wait is a poll() bounded by a monotonic deadline, so no
 * call blocks longer than the configured timeout. mbedTLS talks to the socket through our own
 * send/recv callbacks, which carry the same timeouts. This layer never logs and never copies
 * what is written (IMAP passwords pass through net_conn_write). */
#include "net/net_conn.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h> /* MBEDTLS_ERR_NET_* codes only */
#include <mbedtls/oid.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/xalloc.h"

#define NET_CONN_DEFAULT_CA "/etc/ssl/certs/ca-certificates.crt"
#define NET_CONN_CONNECT_TIMEOUT_MS 30000
#define NET_CONN_IO_TIMEOUT_MS 120000
#define NET_CONN_HOST_MAX 255
/* TLS bytes read from the socket ahead of mbedTLS: it asks for a record's 5-byte header, then
 * its body, so without this buffer every record (Dovecot's are ~4 KiB) costs two recv() and
 * the caller's poll; with it one recv() takes whatever has arrived. */
#define NET_CONN_RBUF (32 * 1024)

struct net_conn {
    int fd;
    int tls;       /* TLS handshake completed */
    int tls_ready; /* mbedTLS contexts initialised (need freeing) */
    char *host;
    char *sni;     /* NULL: use host */
    char *ca_file; /* NULL: system bundle */
    unsigned port;
    int insecure;
    int connect_timeout_ms;
    int io_timeout_ms;
    char where[NET_CONN_HOST_MAX + 16]; /* "host:port" / "[v6]:port" for messages */
    char peer[NET_CONN_HOST_MAX + 16];  /* numeric peer address once connected */
    /* State shared with the mbedTLS I/O callbacks. */
    int cb_timeout_ms;
    int cb_errno;        /* errno of the last failed send/recv, ETIMEDOUT on timeout */
    unsigned char *rbuf; /* NET_CONN_RBUF bytes once TLS starts: rbuf[rb_off..rb_len) unread */
    size_t rb_off, rb_len;
    int verify_ip; /* host is an IP literal: match it against iPAddress SANs */
    unsigned char ip[16];
    size_t ip_len;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
};

/* "5 s", "1.5 s", "0.3 s" */
static const char *net_conn_secs(int ms, char *buf, size_t n)
{
    if (ms % 1000 == 0)
        snprintf(buf, n, "%d s", ms / 1000);
    else
        snprintf(buf, n, "%.1f s", ms / 1000.0);
    return buf;
}

/* poll one fd for events until deadline (ms, monotonic). Returns >0 ready, 0 timeout, <0 errno. */
static _Thread_local int64_t net_conn_thread_deadline; /* 0 = none */

void net_conn_set_thread_deadline(int64_t deadline_ms)
{
    net_conn_thread_deadline = deadline_ms;
}

int64_t net_conn_monotonic_ms(void)
{
    return mb_mono_ms();
}

static int net_conn_poll(int fd, short events, int64_t deadline)
{
    if (net_conn_thread_deadline && deadline > net_conn_thread_deadline)
        deadline = net_conn_thread_deadline;
    for (;;) {
        int64_t left = deadline - mb_mono_ms();
        if (left < 0)
            left = 0;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)(left > INT32_MAX ? INT32_MAX : left));
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

/* rc, with err's system error number set to sys (a coded message has none of its own). */
static int net_conn_sys(int rc, struct mb_err *err, int sys)
{
    if (err)
        err->sys = sys;
    return rc;
}

enum net_conn_doing { NET_CONN_CONNECTING, NET_CONN_WAITING, NET_CONN_SENDING };

static int net_conn_timeout_err(struct net_conn *c, int ms, enum net_conn_doing what,
                                struct mb_err *err)
{
    int rc;
    if (net_conn_thread_deadline && mb_mono_ms() >= net_conn_thread_deadline) {
        rc = what == NET_CONN_CONNECTING ? MB_MSG(err, MB_ECONN, NET_LIMIT_CONNECT, c->where)
             : what == NET_CONN_WAITING  ? MB_MSG(err, MB_ECONN, NET_LIMIT_WAIT, c->where)
                                         : MB_MSG(err, MB_ECONN, NET_LIMIT_SEND, c->where);
        return net_conn_sys(rc, err, ETIMEDOUT);
    }
    char s[32];
    net_conn_secs(ms, s, sizeof(s));
    rc = what == NET_CONN_CONNECTING ? MB_MSG(err, MB_ECONN, NET_TIMEOUT_CONNECT, s, c->where)
         : what == NET_CONN_WAITING  ? MB_MSG(err, MB_ECONN, NET_TIMEOUT_WAIT, s, c->where)
                                     : MB_MSG(err, MB_ECONN, NET_TIMEOUT_SEND, s, c->where);
    return net_conn_sys(rc, err, ETIMEDOUT);
}

int net_conn_deadline_passed(void)
{
    return net_conn_thread_deadline && mb_mono_ms() >= net_conn_thread_deadline;
}

int net_conn_read_timed_out(struct net_conn *c, int ms, struct mb_err *err)
{
    return net_conn_timeout_err(c, ms, NET_CONN_WAITING, err);
}

int net_conn_timeout(const struct net_conn *c)
{
    return c->io_timeout_ms;
}

static int net_conn_sys_err(struct net_conn *c, int e, struct mb_err *err)
{
    int rc;
    switch (e) {
    case ECONNREFUSED: rc = MB_MSG(err, MB_ECONN, NET_REFUSED, c->where); break;
    case ECONNRESET: rc = MB_MSG(err, MB_ECONN, NET_RESET, c->where); break;
    case EPIPE: rc = MB_MSG(err, MB_ECONN, NET_CLOSED, c->where); break;
    case ENETUNREACH: rc = MB_MSG(err, MB_ECONN, NET_NET_UNREACHABLE, c->where); break;
    case EHOSTUNREACH: rc = MB_MSG(err, MB_ECONN, NET_HOST_UNREACHABLE, c->where); break;
    case ETIMEDOUT: rc = MB_MSG(err, MB_ECONN, NET_TCP_TIMEOUT, c->where); break;
    default: rc = MB_MSG(err, MB_ECONN, NET_SYSTEM, c->where, strerror(e)); break;
    }
    return net_conn_sys(rc, err, e);
}

/* ---- TCP ---- */

static void net_conn_format_where(struct net_conn *c)
{
    if (strchr(c->host, ':'))
        snprintf(c->where, sizeof(c->where), "[%s]:%u", c->host, c->port);
    else
        snprintf(c->where, sizeof(c->where), "%s:%u", c->host, c->port);
}

static void net_conn_format_peer(struct net_conn *c, const struct sockaddr *sa, socklen_t len)
{
    char h[INET6_ADDRSTRLEN], s[16];
    if (getnameinfo(sa, len, h, sizeof(h), s, sizeof(s), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(c->peer, sizeof(c->peer), "%s", c->where);
        return;
    }
    if (sa->sa_family == AF_INET6)
        snprintf(c->peer, sizeof(c->peer), "[%s]:%s", h, s);
    else
        snprintf(c->peer, sizeof(c->peer), "%s:%s", h, s);
}

/* RFC 6761 6.4: names under .invalid never resolve; answer without asking any resolver. */
static int net_conn_is_invalid_tld(const char *host)
{
    size_t n = strlen(host);
    while (n > 0 && host[n - 1] == '.')
        n--;
    if (n == 7 && strncasecmp(host, "invalid", 7) == 0)
        return 1;
    return n > 8 && strncasecmp(host + n - 8, ".invalid", 8) == 0;
}

/* Try one address: 0 connected (fd in *fd_r), else errno (ETIMEDOUT on timeout). */
static int net_conn_try(const struct addrinfo *ai, int timeout_ms, int *fd_r)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return errno;
    int e = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            e = errno;
            goto out;
        }
        int r = net_conn_poll(fd, POLLOUT, mb_mono_ms() + timeout_ms);
        if (r == 0) {
            e = ETIMEDOUT;
            goto out;
        }
        if (r < 0) {
            e = -r;
            goto out;
        }
        socklen_t len = sizeof(e);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
            e = errno;
    }
out:
    if (e != 0) {
        close(fd);
        return e;
    }
    *fd_r = fd;
    return 0;
}

static net_conn_filter_fn *net_conn_filter;
static void *net_conn_filter_ctx;

void net_conn_set_filter(net_conn_filter_fn *fn, void *ctx)
{
    net_conn_filter_ctx = ctx;
    net_conn_filter = fn;
}

static int net_conn_tcp(struct net_conn *c, struct mb_err *err)
{
    if (net_conn_is_invalid_tld(c->host))
        return MB_MSG(err, MB_ENOTFOUND, NET_HOST_NOT_FOUND, c->host);

    char port[16];
    snprintf(port, sizeof(port), "%u", c->port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV;
    int g = getaddrinfo(c->host, port, &hints, &res);
    if (g != 0) {
        switch (g) {
        case EAI_NONAME:
#ifdef EAI_NODATA
        case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
        case EAI_ADDRFAMILY:
#endif
            return MB_MSG(err, MB_ENOTFOUND, NET_HOST_NOT_FOUND, c->host);
        case EAI_SYSTEM:
            return net_conn_sys(MB_MSG(err, MB_ECONN, NET_CANNOT_RESOLVE, c->host, strerror(errno)),
                                err, errno);
        default: /* EAI_AGAIN, EAI_FAIL, ...: the resolver failed, the name may exist */
            return MB_MSG(err, MB_ECONN, NET_CANNOT_RESOLVE, c->host, gai_strerror(g));
        }
    }

    int e = EHOSTUNREACH;
    int refused = 0;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = -1;
        if (net_conn_filter
            && !net_conn_filter(net_conn_filter_ctx, c->host, c->port, ai->ai_addr)) {
            refused++;
            continue;
        }
        int r = net_conn_try(ai, c->connect_timeout_ms, &fd);
        if (r == 0) {
            net_conn_format_peer(c, ai->ai_addr, ai->ai_addrlen);
            c->fd = fd;
            break;
        }
        /* Keep the most telling error: a refusal or timeout over "no route" on another family. */
        if (e == EHOSTUNREACH || e == ENETUNREACH || e == EAFNOSUPPORT || r == ECONNREFUSED
            || r == ETIMEDOUT)
            e = r;
    }
    freeaddrinfo(res);
    if (c->fd < 0 && refused && e == EHOSTUNREACH)
        return MB_MSG(err, MB_ECONFIG, NET_POLICY, c->host);
    if (c->fd < 0) {
        if (e == ETIMEDOUT)
            return net_conn_timeout_err(c, c->connect_timeout_ms, NET_CONN_CONNECTING, err);
        return net_conn_sys_err(c, e, err);
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    return 0;
}

/* ---- mbedTLS I/O callbacks ---- */

/* After a send/recv that failed with errno: wait for the socket (events) until deadline. 0 to
 * try again; else the mbedTLS error to return (failed: the call's own failure code), with
 * cb_errno set. */
static int net_conn_bio_wait(struct net_conn *c, short events, int64_t deadline, int failed)
{
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
        c->cb_errno = errno;
        return failed;
    }
    int r = net_conn_poll(c->fd, events, deadline);
    if (r <= 0) {
        c->cb_errno = r == 0 ? ETIMEDOUT : -r;
        return r == 0 ? MBEDTLS_ERR_SSL_TIMEOUT : failed;
    }
    return 0;
}

static int net_conn_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct net_conn *c = ctx;
    int64_t deadline = mb_mono_ms() + c->cb_timeout_ms;
    for (;;) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return (int)n;
        if (errno == EINTR)
            continue;
        int r = net_conn_bio_wait(c, POLLOUT, deadline, MBEDTLS_ERR_NET_SEND_FAILED);
        if (r)
            return r;
    }
}

static int net_conn_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct net_conn *c = ctx;
    if (c->rb_off == c->rb_len) {
        int64_t deadline = mb_mono_ms() + c->cb_timeout_ms;
        for (;;) {
            ssize_t n = recv(c->fd, c->rbuf, NET_CONN_RBUF, 0);
            if (n == 0)
                return 0; /* EOF: mbedTLS turns it into MBEDTLS_ERR_SSL_CONN_EOF */
            if (n > 0) {
                c->rb_off = 0;
                c->rb_len = (size_t)n;
                break;
            }
            if (errno == EINTR)
                continue;
            int r = net_conn_bio_wait(c, POLLIN, deadline, MBEDTLS_ERR_NET_RECV_FAILED);
            if (r)
                return r;
        }
    }
    size_t k = c->rb_len - c->rb_off;
    if (k > len)
        k = len;
    memcpy(buf, c->rbuf + c->rb_off, k);
    c->rb_off += k;
    return (int)k;
}

/* Map an mbedTLS I/O-level error to our words; handshake: during the TLS handshake. */
static int net_conn_tls_io_err(struct net_conn *c, int ret, int timeout_ms, int handshake,
                               struct mb_err *err)
{
    char s[32];
    if (ret == MBEDTLS_ERR_SSL_TIMEOUT) {
        net_conn_secs(timeout_ms, s, sizeof(s));
        return net_conn_sys(handshake ? MB_MSG(err, MB_ECONN, NET_TIMEOUT_WAIT_TLS, s, c->where)
                                      : MB_MSG(err, MB_ECONN, NET_TIMEOUT_WAIT, s, c->where),
                            err, ETIMEDOUT);
    }
    if (ret == MBEDTLS_ERR_SSL_CONN_EOF || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
        return handshake ? MB_MSG(err, MB_ECONN, NET_CLOSED_TLS, c->where)
                         : MB_MSG(err, MB_ECONN, NET_CLOSED, c->where);
    if (ret == MBEDTLS_ERR_NET_RECV_FAILED || ret == MBEDTLS_ERR_NET_SEND_FAILED)
        return net_conn_sys_err(c, c->cb_errno, err);
    return 1; /* not an I/O error */
}

/* ---- certificate checks ---- */

/* Does the certificate list ip (4 or 16 bytes) as an iPAddress subjectAltName? Walks the raw
 * extensions (the same code path as with mbedTLS 2.28, which did not keep iPAddress entries). */
static int net_conn_cert_has_ip(const mbedtls_x509_crt *crt, const unsigned char *ip, size_t ip_len)
{
    unsigned char *p = crt->v3_ext.p;
    if (p == NULL || crt->v3_ext.len == 0)
        return 0;
    const unsigned char *end = p + crt->v3_ext.len;
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
        return 0;
    end = p + len;
    while (p < end) {
        if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
            return 0;
        unsigned char *ext_end = p + len;
        mbedtls_x509_buf oid;
        if (mbedtls_asn1_get_tag(&p, ext_end, &oid.len, MBEDTLS_ASN1_OID))
            return 0;
        oid.p = p;
        p += oid.len;
        int critical = 0;
        if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN
            && mbedtls_asn1_get_bool(&p, ext_end, &critical))
            return 0;
        if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING))
            return 0;
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_SUBJECT_ALT_NAME, &oid) == 0) {
            unsigned char *q = p;
            const unsigned char *san_end = p + len;
            size_t slen;
            if (mbedtls_asn1_get_tag(&q, san_end, &slen,
                                     MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
                return 0;
            san_end = q + slen;
            while (q < san_end) {
                int tag = *q++;
                size_t n;
                if (mbedtls_asn1_get_len(&q, san_end, &n))
                    return 0;
                if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && n == ip_len
                    && memcmp(q, ip, n) == 0)
                    return 1;
                q += n;
            }
        }
        p = ext_end;
    }
    return 0;
}

static int net_conn_verify_cb(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    struct net_conn *c = ctx;
    if (depth == 0 && c->verify_ip && !net_conn_cert_has_ip(crt, c->ip, c->ip_len))
        *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    return 0;
}

/* ---- TLS ---- */

static int net_conn_tls_setup(struct net_conn *c, struct mb_err *err)
{
    char e[128];
    int ret = crypto_init(err);
    if (ret != 0)
        return ret;
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    mbedtls_ssl_init(&c->ssl);
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_x509_crt_init(&c->ca);
    c->tls_ready = 1;

    static const char pers[] = "migrabox net_conn";
    ret = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
                                (const unsigned char *)pers, sizeof(pers) - 1);
    if (ret != 0) {
        mbedtls_strerror(ret, e, sizeof(e));
        return mb_err_setsys(err, MB_ECRYPTO, ret, "TLS random generator: %s", e);
    }
    ret = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) {
        mbedtls_strerror(ret, e, sizeof(e));
        return mb_err_setsys(err, MB_ECRYPTO, ret, "TLS configuration: %s", e);
    }
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    /* TLS 1.3 where the server speaks it, TLS 1.2 otherwise; nothing older. */
    mbedtls_ssl_conf_min_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_max_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_3);

    const char *host = c->sni ? c->sni : c->host;
    if (c->insecure) {
        mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_NONE);
    } else {
        const char *ca = c->ca_file ? c->ca_file : NET_CONN_DEFAULT_CA;
        ret = mbedtls_x509_crt_parse_file(&c->ca, ca);
        /* > 0: some certificates of a bundle were skipped; fine if others loaded. */
        if (ret < 0 || c->ca.version == 0) {
            if (ret < 0)
                mbedtls_strerror(ret, e, sizeof(e));
            else
                snprintf(e, sizeof(e), "no usable certificate");
            return net_conn_sys(MB_MSG(err, MB_ECONFIG, NET_CA_FILE, ca, e), err, ret);
        }
        mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
        mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
        mbedtls_ssl_conf_verify(&c->conf, net_conn_verify_cb, c);
    }

    ret = mbedtls_ssl_setup(&c->ssl, &c->conf);
    if (ret != 0) {
        mbedtls_strerror(ret, e, sizeof(e));
        return mb_err_setsys(err, MB_ECRYPTO, ret, "TLS setup: %s", e);
    }
    /* An IP literal is neither sent as SNI (RFC 6066) nor matched as a DNS name: it is
     * matched against the certificate's iPAddress entries by net_conn_verify_cb. */
    c->verify_ip = 0;
    if (inet_pton(AF_INET, host, c->ip) == 1) {
        c->verify_ip = 1;
        c->ip_len = 4;
    } else if (inet_pton(AF_INET6, host, c->ip) == 1) {
        c->verify_ip = 1;
        c->ip_len = 16;
    }
    /* For an IP literal, NULL says "no DNS name to match" (mbedTLS >= 3.6.3 refuses to verify
     * a certificate when the hostname was never set): net_conn_verify_cb's iPAddress check
     * stands in for it. */
    ret = mbedtls_ssl_set_hostname(&c->ssl, c->verify_ip ? NULL : host);
    if (ret != 0) {
        mbedtls_strerror(ret, e, sizeof(e));
        return mb_err_setsys(err, MB_ECONFIG, ret, "TLS server name %s: %s", host, e);
    }
    if (!c->rbuf)
        c->rbuf = xmalloc(NET_CONN_RBUF);
    c->rb_off = c->rb_len = 0;
    mbedtls_ssl_set_bio(&c->ssl, c, net_conn_bio_send, net_conn_bio_recv, NULL);
    return 0;
}

/* verify_info lines joined with "; ", without the trailing newline. */
static void net_conn_verify_text(uint32_t flags, char *out, size_t n)
{
    char buf[512];
    int r = mbedtls_x509_crt_verify_info(buf, sizeof(buf), "", flags);
    if (r < 0) {
        snprintf(out, n, "verify flags 0x%x", (unsigned)flags);
        return;
    }
    size_t o = 0;
    for (const char *p = buf; *p && o + 3 < n; p++) {
        if (*p == '\n') {
            if (p[1] == '\0')
                break;
            out[o++] = ';';
            out[o++] = ' ';
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static int net_conn_tls_handshake(struct net_conn *c, struct mb_err *err)
{
    int r = net_conn_tls_setup(c, err);
    if (r < 0)
        return r;
    c->cb_timeout_ms = c->connect_timeout_ms;
    int ret;
    do {
        ret = mbedtls_ssl_handshake(&c->ssl);
    } while (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE
             || ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET);
    c->cb_timeout_ms = c->io_timeout_ms;
    if (ret == 0) {
        c->tls = 1;
        return 0;
    }
    const char *name = c->sni ? c->sni : c->host;
    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        uint32_t flags = mbedtls_ssl_get_verify_result(&c->ssl);
        char info[200];
        if (flags == MBEDTLS_X509_BADCERT_CN_MISMATCH)
            return net_conn_sys(MB_MSG(err, MB_EPROTO, NET_TLS_MISMATCH, c->where, name), err, ret);
        net_conn_verify_text(flags, info, sizeof(info));
        return net_conn_sys(MB_MSG(err, MB_EPROTO, NET_TLS_UNTRUSTED, c->where, info), err, ret);
    }
    r = net_conn_tls_io_err(c, ret, c->connect_timeout_ms, 1, err);
    if (r <= 0)
        return r;
    char e[128];
    mbedtls_strerror(ret, e, sizeof(e));
    return net_conn_sys(MB_MSG(err, MB_EPROTO, NET_TLS_HANDSHAKE, c->where, e), err, ret);
}

/* ---- public API ---- */

int net_conn_open(const struct net_conn_opts *opts, struct net_conn **conn_r, struct mb_err *err)
{
    *conn_r = NULL;
    if (opts == NULL || opts->host == NULL || opts->host[0] == '\0')
        return mb_err_set(err, MB_ECONFIG, "no host name");
    if (strlen(opts->host) > NET_CONN_HOST_MAX)
        return mb_err_set(err, MB_ECONFIG, "host name too long (%zu bytes)", strlen(opts->host));
    if (opts->port == 0 || opts->port > 65535)
        return mb_err_set(err, MB_ECONFIG, "bad port %u for %s", opts->port, opts->host);
    if (opts->sni && strlen(opts->sni) > NET_CONN_HOST_MAX)
        return mb_err_set(err, MB_ECONFIG, "TLS server name too long");

    struct net_conn *c = xcalloc(1, sizeof(*c));
    c->fd = -1;
    c->host = xstrdup(opts->host);
    c->sni = opts->sni && opts->sni[0] ? xstrdup(opts->sni) : NULL;
    c->ca_file = opts->ca_file && opts->ca_file[0] ? xstrdup(opts->ca_file) : NULL;
    c->port = opts->port;
    c->insecure = opts->insecure;
    c->connect_timeout_ms =
        opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : NET_CONN_CONNECT_TIMEOUT_MS;
    c->io_timeout_ms = opts->io_timeout_ms > 0 ? opts->io_timeout_ms : NET_CONN_IO_TIMEOUT_MS;
    c->cb_timeout_ms = c->io_timeout_ms;
    net_conn_format_where(c);
    snprintf(c->peer, sizeof(c->peer), "%s", c->where);

    int r = net_conn_tcp(c, err);
    if (r == 0 && opts->tls)
        r = net_conn_tls_handshake(c, err);
    if (r < 0) {
        net_conn_free(&c);
        return r;
    }
    *conn_r = c;
    return 0;
}

int net_conn_start_tls(struct net_conn *c, struct mb_err *err)
{
    if (c->tls_ready)
        return mb_err_set(err, MB_EPROTO, "TLS already started with %s", c->where);
    return net_conn_tls_handshake(c, err);
}

ssize_t net_conn_read(struct net_conn *c, void *buf, size_t n, struct mb_err *err)
{
    assert(n > 0);
    if (c->tls) {
        c->cb_timeout_ms = c->io_timeout_ms;
        for (;;) {
            int ret = mbedtls_ssl_read(&c->ssl, buf, n > INT32_MAX ? INT32_MAX : n);
            if (ret > 0)
                return ret;
            /* A TLS 1.3 NewSessionTicket (only signalled when enabled; tickets are not used
             * here) is not data: read on. */
            if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE
                || ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
                continue;
            if (ret == 0 || ret == MBEDTLS_ERR_SSL_CONN_EOF
                || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
                MB_MSG(err, MB_ECONN, NET_CLOSED, c->where);
                return 0;
            }
            int r = net_conn_tls_io_err(c, ret, c->io_timeout_ms, 0, err);
            if (r <= 0)
                return r;
            char e[128];
            mbedtls_strerror(ret, e, sizeof(e));
            return net_conn_sys(MB_MSG(err, MB_EPROTO, NET_TLS_FROM, c->where, e), err, ret);
        }
    }
    int64_t deadline = mb_mono_ms() + c->io_timeout_ms;
    for (;;) {
        ssize_t got = recv(c->fd, buf, n, 0);
        if (got > 0)
            return got;
        if (got == 0) {
            MB_MSG(err, MB_ECONN, NET_CLOSED, c->where);
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return net_conn_sys_err(c, errno, err);
        int r = net_conn_poll(c->fd, POLLIN, deadline);
        if (r == 0)
            return net_conn_timeout_err(c, c->io_timeout_ms, NET_CONN_WAITING, err);
        if (r < 0)
            return net_conn_sys_err(c, -r, err);
    }
}

size_t net_conn_pending(const struct net_conn *c)
{
    if (!c->tls)
        return 0;
    return mbedtls_ssl_get_bytes_avail(&c->ssl);
}

int net_conn_wait_readable(struct net_conn *c, int timeout_ms, struct mb_err *err)
{
    if (net_conn_pending(c) > 0)
        return 1;
    /* Record bytes already taken from the socket but not yet decrypted. */
    if (c->tls && (c->rb_off < c->rb_len || mbedtls_ssl_check_pending(&c->ssl)))
        return 1;
    if (timeout_ms < 0)
        timeout_ms = c->io_timeout_ms;
    int r = net_conn_poll(c->fd, POLLIN, mb_mono_ms() + timeout_ms);
    if (r < 0)
        return net_conn_sys_err(c, -r, err);
    return r; /* POLLIN, POLLHUP or POLLERR: a read will not wait */
}

int net_conn_write(struct net_conn *c, const void *buf, size_t n, struct mb_err *err)
{
    const unsigned char *p = buf;
    if (c->tls) {
        c->cb_timeout_ms = c->io_timeout_ms;
        while (n > 0) {
            int ret = mbedtls_ssl_write(&c->ssl, p, n > INT32_MAX ? INT32_MAX : n);
            if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
                continue;
            if (ret < 0) {
                int r = net_conn_tls_io_err(c, ret, c->io_timeout_ms, 0, err);
                if (r <= 0)
                    return r;
                char e[128];
                mbedtls_strerror(ret, e, sizeof(e));
                return net_conn_sys(MB_MSG(err, MB_EPROTO, NET_TLS_TO, c->where, e), err, ret);
            }
            p += ret;
            n -= (size_t)ret;
        }
        return 0;
    }
    while (n > 0) {
        int64_t deadline = mb_mono_ms() + c->io_timeout_ms;
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return net_conn_sys_err(c, errno, err);
        int r = net_conn_poll(c->fd, POLLOUT, deadline);
        if (r == 0)
            return net_conn_timeout_err(c, c->io_timeout_ms, NET_CONN_SENDING, err);
        if (r < 0)
            return net_conn_sys_err(c, -r, err);
    }
    return 0;
}

int net_conn_is_tls(const struct net_conn *c)
{
    return c->tls;
}

const char *net_conn_tls_version(const struct net_conn *c)
{
    return c->tls ? mbedtls_ssl_get_version(&c->ssl) : "none";
}

const char *net_conn_tls_cipher(const struct net_conn *c)
{
    return c->tls ? mbedtls_ssl_get_ciphersuite(&c->ssl) : "none";
}

const char *net_conn_peer(const struct net_conn *c)
{
    return c->peer;
}

void net_conn_set_timeout(struct net_conn *c, int io_timeout_ms)
{
    c->io_timeout_ms = io_timeout_ms > 0 ? io_timeout_ms : NET_CONN_IO_TIMEOUT_MS;
    c->cb_timeout_ms = c->io_timeout_ms;
}

void net_conn_free(struct net_conn **cp)
{
    struct net_conn *c = cp ? *cp : NULL;
    if (c == NULL)
        return;
    if (c->tls) {
        c->cb_timeout_ms = 0; /* a polite close_notify, but never wait for it */
        mbedtls_ssl_close_notify(&c->ssl);
    }
    if (c->tls_ready) {
        mbedtls_ssl_free(&c->ssl);
        mbedtls_ssl_config_free(&c->conf);
        mbedtls_x509_crt_free(&c->ca);
        mbedtls_ctr_drbg_free(&c->drbg);
        mbedtls_entropy_free(&c->entropy);
    }
    if (c->fd >= 0)
        close(c->fd);
    XFREE(c->host);
    XFREE(c->sni);
    XFREE(c->ca_file);
    XFREE(c->rbuf);
    XFREE(*cp);
}
