#include "http_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <microhttpd.h>

#include "base/crypto.h"
#include "base/secret.h"
#include "base/xalloc.h"
#include "http_server.h"
#include "log/log.h"
#include "net/net_acl.h"

#define HANDSHAKE_TIMEOUT_S 10
#define IDLE_TIMEOUT_S 300

struct http_tls {
    int listen_fd;
    int stop_pipe[2];
    unsigned port;
    struct MHD_Daemon *daemon;
    pthread_t accept_thread;
    int running;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    mbedtls_ssl_config conf;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int n_conn;
    int max_conn;
    int *conn_fds;          /* max_conn slots, -1 = free */
    char (*conn_addrs)[64]; /* peer address of each slot ("" = exempt from the cap) */
    unsigned max_per_addr;
    const struct net_acl *trusted;
    int handshake_s;
};

struct pump {
    struct http_tls *tls;
    int fd;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    int slot;
};

/* TLS 1.3's AEAD suites, then TLS 1.2 with forward secrecy and AEAD only (no CBC, no SHA-1
 * MAC, no static RSA). One list serves both versions: mbedTLS picks from it per version. */
static const int http_tls_suites[] = {
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

static void tls_errstr(int r, char *out, size_t n)
{
    mbedtls_strerror(r, out, n);
}

int http_tls_start(const char *cert_path, const char *key_path, const struct sockaddr *addr,
                   socklen_t addrlen, unsigned max_conn, unsigned max_per_addr,
                   const struct net_acl *trusted, int handshake_s, struct http_tls **tls_r,
                   struct mb_err *err)
{
    struct http_tls *t = xcalloc(1, sizeof(*t));
    t->max_conn = max_conn ? (int)max_conn : HTTP_MAX_CONN_DEFAULT;
    t->conn_fds = xcalloc((size_t)t->max_conn, sizeof(int));
    t->conn_addrs = xcalloc((size_t)t->max_conn, sizeof(*t->conn_addrs));
    t->max_per_addr = max_per_addr;
    t->trusted = trusted;
    t->handshake_s = handshake_s > 0 ? handshake_s : HANDSHAKE_TIMEOUT_S;
    t->listen_fd = -1;
    t->stop_pipe[0] = t->stop_pipe[1] = -1;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->idle, NULL);
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    mbedtls_x509_crt_init(&t->cert);
    mbedtls_pk_init(&t->key);
    mbedtls_ssl_config_init(&t->conf);
    for (int i = 0; i < t->max_conn; i++)
        t->conn_fds[i] = -1;
    *tls_r = t;

    char es[160];
    int r;
    if (!cert_path || !key_path)
        return mb_err_set(err, MB_ECONFIG, "HTTPS needs both tls_cert and tls_key");
    if ((r = crypto_init(err)) != 0)
        return r;
    if ((r = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
                                   (const unsigned char *)"migrabox-https", 14))
        != 0)
        return mb_err_setsys(err, MB_ECRYPTO, r, "cannot seed the random generator");
    if ((r = mbedtls_x509_crt_parse_file(&t->cert, cert_path)) != 0) {
        tls_errstr(r, es, sizeof(es));
        return mb_err_setsys(err, MB_ECONFIG, r, "cannot load TLS certificate %s: %s", cert_path,
                             es);
    }
    if ((r = mbedtls_pk_parse_keyfile(&t->key, key_path, NULL, crypto_rng, NULL)) != 0) {
        tls_errstr(r, es, sizeof(es));
        return mb_err_setsys(err, MB_ECONFIG, r, "cannot load TLS key %s: %s", key_path, es);
    }
    if ((r = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER,
                                         MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT))
            != 0
        || (r = mbedtls_ssl_conf_own_cert(&t->conf, &t->cert, &t->key)) != 0)
        return mb_err_setsys(err, MB_ECONFIG, r, "TLS configuration failed");
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
    /* TLS 1.3 (preferred) and TLS 1.2; nothing older. */
    mbedtls_ssl_conf_min_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_max_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_3);
    mbedtls_ssl_conf_ciphersuites(&t->conf, http_tls_suites);

    t->listen_fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (t->listen_fd < 0
        || setsockopt(t->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0
        || bind(t->listen_fd, addr, addrlen) != 0 || listen(t->listen_fd, 64) != 0)
        return mb_err_setsys(err, MB_ECONFIG, errno, "cannot listen for HTTPS: %s",
                             strerror(errno));
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    getsockname(t->listen_fd, (struct sockaddr *)&bound, &blen);
    t->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    if (pipe2(t->stop_pipe, O_CLOEXEC) != 0)
        return mb_err_setsys(err, MB_EIO, errno, "pipe: %s", strerror(errno));
    return 0;
}

unsigned http_tls_port(const struct http_tls *tls)
{
    return tls->port;
}

static void set_timeout(int fd, int seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Handshake I/O with one deadline for the whole handshake (a client trickling bytes cannot
 * stretch it). */
struct hs_io {
    int fd;
    struct timespec deadline;
};

static int hs_wait(struct hs_io *io, short ev)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (long)(io->deadline.tv_sec - now.tv_sec) * 1000
              + (io->deadline.tv_nsec - now.tv_nsec) / 1000000;
    if (ms <= 0)
        return -1;
    struct pollfd p = {io->fd, ev, 0};
    int r = poll(&p, 1, (int)ms);
    return r > 0 ? 0 : -1;
}

static int hs_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct hs_io *io = ctx;
    if (hs_wait(io, POLLIN) != 0)
        return MBEDTLS_ERR_SSL_TIMEOUT;
    ssize_t n = recv(io->fd, buf, len, 0);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? MBEDTLS_ERR_SSL_WANT_READ
                                                 : MBEDTLS_ERR_NET_RECV_FAILED;
    return (int)n;
}

static int hs_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct hs_io *io = ctx;
    if (hs_wait(io, POLLOUT) != 0)
        return MBEDTLS_ERR_SSL_TIMEOUT;
    ssize_t n = send(io->fd, buf, len, MSG_NOSIGNAL);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? MBEDTLS_ERR_SSL_WANT_WRITE
                                                 : MBEDTLS_ERR_NET_SEND_FAILED;
    return (int)n;
}

static void *pump_main(void *arg)
{
    struct pump *pm = arg;
    struct http_tls *t = pm->tls;
    mbedtls_net_context net = {.fd = pm->fd};
    mbedtls_ssl_context ssl;
    mbedtls_ssl_init(&ssl);
    int sv[2] = {-1, -1};
    unsigned char buf[16384];
    int r;

    set_timeout(pm->fd, t->handshake_s);
    if (mbedtls_ssl_setup(&ssl, &t->conf) != 0)
        goto out;
    struct hs_io hs = {.fd = pm->fd};
    clock_gettime(CLOCK_MONOTONIC, &hs.deadline);
    hs.deadline.tv_sec += t->handshake_s;
    mbedtls_ssl_set_bio(&ssl, &hs, hs_send, hs_recv, NULL);
    while ((r = mbedtls_ssl_handshake(&ssl)) != 0) {
        if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE) {
            char es[120];
            tls_errstr(r, es, sizeof(es));
            log_debug("https: handshake failed: %s", es);
            goto out;
        }
    }
    mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
    set_timeout(pm->fd, IDLE_TIMEOUT_S);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        goto out;
    if (MHD_add_connection(t->daemon, sv[1], (struct sockaddr *)&pm->peer, pm->peer_len)
        != MHD_YES) {
        sv[1] = -1; /* closed by libmicrohttpd on failure */
        goto out;
    }
    sv[1] = -1; /* owned by libmicrohttpd now */
    for (;;) {
        struct pollfd pfd[2] = {{pm->fd, POLLIN, 0}, {sv[0], POLLIN, 0}};
        int tls_ready = mbedtls_ssl_get_bytes_avail(&ssl) > 0;
        if (!tls_ready) {
            int pr = poll(pfd, 2, IDLE_TIMEOUT_S * 1000);
            if (pr < 0 && errno == EINTR)
                continue;
            if (pr <= 0)
                break;
        }
        if (tls_ready || (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            r = mbedtls_ssl_read(&ssl, buf, sizeof(buf));
            if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
                continue;
            if (r <= 0 || write_all(sv[0], buf, (size_t)r) != 0)
                break;
        }
        if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(sv[0], buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            size_t off = 0;
            while (off < (size_t)n) {
                r = mbedtls_ssl_write(&ssl, buf + off, (size_t)n - off);
                if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
                    continue;
                if (r <= 0)
                    goto close_notify;
                off += (size_t)r;
            }
        }
    }
close_notify:
    mbedtls_ssl_close_notify(&ssl);
out:
    mbedtls_ssl_free(&ssl);
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    pthread_mutex_lock(&t->lock);
    t->conn_fds[pm->slot] = -1;
    t->conn_addrs[pm->slot][0] = '\0';
    close(pm->fd);
    if (--t->n_conn == 0)
        pthread_cond_broadcast(&t->idle);
    pthread_mutex_unlock(&t->lock);
    free(pm);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct http_tls *t = arg;
    for (;;) {
        struct pollfd pfd[2] = {{t->listen_fd, POLLIN, 0}, {t->stop_pipe[0], POLLIN, 0}};
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[1].revents)
            break;
        struct pump *pm = xcalloc(1, sizeof(*pm));
        pm->peer_len = sizeof(pm->peer);
        pm->fd = accept4(t->listen_fd, (struct sockaddr *)&pm->peer, &pm->peer_len, SOCK_CLOEXEC);
        if (pm->fd < 0) {
            free(pm);
            continue;
        }
        int one = 1;
        setsockopt(pm->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pm->tls = t;
        char a[64] = "";
        if (t->max_per_addr
            && !(t->trusted && net_acl_match_addr(t->trusted, (struct sockaddr *)&pm->peer))) {
            const struct sockaddr *sa = (const struct sockaddr *)&pm->peer;
            if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, a,
                          sizeof(a));
            else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, a,
                          sizeof(a));
        }
        pthread_mutex_lock(&t->lock);
        int slot = -1;
        unsigned same = 0;
        for (int i = 0; i < t->max_conn; i++) {
            if (t->conn_fds[i] < 0) {
                if (slot < 0)
                    slot = i;
            } else if (a[0] && strcmp(t->conn_addrs[i], a) == 0) {
                same++;
            }
        }
        if (a[0] && same >= t->max_per_addr) {
            pthread_mutex_unlock(&t->lock);
            log_warn("https: connection from %s refused: %u open from that address", a, same);
            close(pm->fd);
            free(pm);
            continue;
        }
        if (slot >= 0)
            snprintf(t->conn_addrs[slot], sizeof(t->conn_addrs[slot]), "%s", a);
        if (slot < 0) {
            pthread_mutex_unlock(&t->lock);
            close(pm->fd);
            free(pm);
            continue;
        }
        pm->slot = slot;
        t->conn_fds[slot] = pm->fd;
        t->n_conn++;
        pthread_mutex_unlock(&t->lock);
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &attr, pump_main, pm) != 0) {
            pthread_mutex_lock(&t->lock);
            t->conn_fds[slot] = -1;
            t->n_conn--;
            pthread_mutex_unlock(&t->lock);
            close(pm->fd);
            free(pm);
        }
        pthread_attr_destroy(&attr);
    }
    return NULL;
}

void http_tls_run(struct http_tls *tls, struct MHD_Daemon *daemon)
{
    tls->daemon = daemon;
    if (pthread_create(&tls->accept_thread, NULL, accept_main, tls) == 0)
        tls->running = 1;
}

void http_tls_stop(struct http_tls **tlsp)
{
    struct http_tls *t = *tlsp;
    if (!t)
        return;
    if (t->running) {
        ssize_t w = write(t->stop_pipe[1], "x", 1);
        (void)w;
        pthread_join(t->accept_thread, NULL);
    }
    pthread_mutex_lock(&t->lock);
    for (int i = 0; i < t->max_conn; i++)
        if (t->conn_fds[i] >= 0)
            shutdown(t->conn_fds[i], SHUT_RDWR);
    while (t->n_conn > 0)
        pthread_cond_wait(&t->idle, &t->lock);
    pthread_mutex_unlock(&t->lock);
    if (t->listen_fd >= 0)
        close(t->listen_fd);
    for (int i = 0; i < 2; i++)
        if (t->stop_pipe[i] >= 0)
            close(t->stop_pipe[i]);
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_pk_free(&t->key);
    mbedtls_x509_crt_free(&t->cert);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->idle);
    free(t->conn_fds);
    free(t->conn_addrs);
    free(t);
    *tlsp = NULL;
}

/* ---- self-signed certificate ---- */

static int write_file(const char *path, const unsigned char *data, size_t n, mode_t mode,
                      struct mb_err *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return mb_err_setsys(err, MB_EIO, errno, "cannot write %s: %s", tmp, strerror(errno));
    int rc = write_all(fd, data, n);
    if (rc == 0)
        rc = fsync(fd);
    close(fd);
    if (rc != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return mb_err_setsys(err, MB_EIO, errno, "cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

/* DER of a SubjectAltName extension value: localhost, the host name, 127.0.0.1, ::1. */
static size_t san_der(unsigned char *out, size_t cap)
{
    char host[64] = "";
    if (gethostname(host, sizeof(host) - 1) != 0 || strcmp(host, "localhost") == 0)
        host[0] = '\0';
    unsigned char body[256];
    size_t n = 0;
    const char *names[2] = {"localhost", host};
    for (int i = 0; i < 2; i++) {
        size_t len = strlen(names[i]);
        if (len == 0 || len > 60)
            continue;
        body[n++] = 0x82; /* [2] dNSName */
        body[n++] = (unsigned char)len;
        memcpy(body + n, names[i], len);
        n += len;
    }
    static const unsigned char ip4[] = {0x87, 4, 127, 0, 0, 1};
    static const unsigned char ip6[] = {0x87, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    memcpy(body + n, ip4, sizeof(ip4));
    n += sizeof(ip4);
    memcpy(body + n, ip6, sizeof(ip6));
    n += sizeof(ip6);
    if (n + 2 > cap || n > 127)
        return 0;
    out[0] = 0x30;
    out[1] = (unsigned char)n;
    memcpy(out + 2, body, n);
    return n + 2;
}

int http_tls_ensure_selfsigned(const char *cert_path, const char *key_path, struct mb_err *err)
{
    if (access(cert_path, F_OK) == 0 && access(key_path, F_OK) == 0)
        return 0;
    int rc = 0, r;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_context key;
    mbedtls_x509write_cert crt;
    unsigned char pem[4096];
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_pk_init(&key);
    mbedtls_x509write_crt_init(&crt);

    if ((r = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                                   (const unsigned char *)"migrabox-cert", 13))
            != 0
        || (r = mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0
        || (r = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key),
                                    mbedtls_ctr_drbg_random, &drbg))
               != 0) {
        rc = mb_err_setsys(err, MB_ECRYPTO, r, "cannot generate a TLS key");
        goto out;
    }
    unsigned char sn[16];
    if ((rc = secret_random(sn, sizeof(sn), err)) != 0)
        goto out;
    sn[0] &= 0x7f;
    time_t now = time(NULL);
    struct tm a, b;
    time_t past = now - 86400;
    time_t future = now + 3650L * 86400;
    gmtime_r(&past, &a);
    gmtime_r(&future, &b);
    char nb[16], na[16];
    strftime(nb, sizeof(nb), "%Y%m%d%H%M%S", &a);
    strftime(na, sizeof(na), "%Y%m%d%H%M%S", &b);
    unsigned char san[160];
    size_t san_len = san_der(san, sizeof(san));
    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&crt, &key);
    mbedtls_x509write_crt_set_issuer_key(&crt, &key);
    if ((r = mbedtls_x509write_crt_set_serial_raw(&crt, sn, sizeof(sn))) != 0
        || (r = mbedtls_x509write_crt_set_subject_name(&crt, "CN=migrabox,O=migrabox")) != 0
        || (r = mbedtls_x509write_crt_set_issuer_name(&crt, "CN=migrabox,O=migrabox")) != 0
        || (r = mbedtls_x509write_crt_set_validity(&crt, nb, na)) != 0
        || (r = mbedtls_x509write_crt_set_basic_constraints(&crt, 1, 0)) != 0
        || (r = mbedtls_x509write_crt_set_subject_key_identifier(&crt)) != 0
        || (san_len
            && (r = mbedtls_x509write_crt_set_extension(
                    &crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                    MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, san, san_len))
                   != 0)) {
        rc = mb_err_setsys(err, MB_ECRYPTO, r, "cannot build the TLS certificate");
        goto out;
    }
    if ((r = mbedtls_pk_write_key_pem(&key, pem, sizeof(pem))) != 0) {
        rc = mb_err_setsys(err, MB_ECRYPTO, r, "cannot encode the TLS key");
        goto out;
    }
    if ((rc = write_file(key_path, pem, strlen((char *)pem), 0600, err)) != 0)
        goto out;
    if ((r = mbedtls_x509write_crt_pem(&crt, pem, sizeof(pem), mbedtls_ctr_drbg_random, &drbg))
        != 0) {
        rc = mb_err_setsys(err, MB_ECRYPTO, r, "cannot sign the TLS certificate");
        goto out;
    }
    rc = write_file(cert_path, pem, strlen((char *)pem), 0644, err);
out:
    secret_wipe(pem, sizeof(pem));
    mbedtls_x509write_crt_free(&crt);
    mbedtls_pk_free(&key);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    return rc;
}
