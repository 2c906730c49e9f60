/* net_conn: a blocking TCP connection with timeouts, optionally wrapped in TLS (mbedTLS 2.28).
 *
 * Used by the IMAP client for source and destination servers. All calls block at most
 * for the configured timeouts. Errors are MB_ECONN (transient: refused, reset, timeout,
 * unreachable), MB_ENOTFOUND (host name does not resolve), MB_ECONFIG (bad CA file),
 * or MB_EPROTO (TLS: "certificate not trusted", "host name mismatch",
 * "handshake failed: ..."), with words in err->msg.
 *
 * Ownership: net_conn_open returns a connection the caller frees with net_conn_free(&c).
 * Strings in opts are copied. */
#ifndef MB_NET_CONN_H
#define MB_NET_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "base/mb_err.h"

struct net_conn;

struct net_conn_opts {
    const char *host; /* name, IPv4 or IPv6 literal */
    unsigned port;
    int tls;                /* 1: TLS handshake right after connect (implicit TLS) */
    const char *ca_file;    /* PEM bundle; NULL = /etc/ssl/certs/ca-certificates.crt */
    int insecure;           /* 1: do not verify certificate nor host name */
    const char *sni;        /* server name for SNI/verification; NULL = host */
    int connect_timeout_ms; /* 0 = 30000 */
    int io_timeout_ms;      /* per read/write wait; 0 = 120000 */
};

int net_conn_open(const struct net_conn_opts *opts, struct net_conn **conn_r, struct mb_err *err);

/* Process-wide connect filter: called with the host as given, the port and each resolved
 * address before connecting to it; 0 skips the address. When every address is refused,
 * net_conn_open fails with MB_ECONFIG "... not allowed by the source policy". NULL (the
 * default) = no filter. Set it once, before any connection (migrabox serve: net_policy). */
typedef int net_conn_filter_fn(void *ctx, const char *host, unsigned port,
                               const struct sockaddr *sa);
void net_conn_set_filter(net_conn_filter_fn *fn, void *ctx);

/* An absolute deadline (net_conn_monotonic_ms() clock) for every wait of this thread's
 * connections, on top of their own timeouts: past it, connects, reads and writes fail as
 * timed out ("time limit reached ..."). 0 = none. Used for the overall time limit of
 * « Tester la connexion ». */
void net_conn_set_thread_deadline(int64_t deadline_ms);
int64_t net_conn_monotonic_ms(void);
/* Upgrade a plain connection to TLS (after the protocol's STARTTLS). */
int net_conn_start_tls(struct net_conn *c, struct mb_err *err);
/* Read up to n bytes: returns the count (> 0), 0 at orderly EOF, or a negative mb_errc
 * (MB_ECONN with "timed out after N s" when nothing arrived within io_timeout_ms). */
ssize_t net_conn_read(struct net_conn *c, void *buf, size_t n, struct mb_err *err);
/* Bytes already decrypted/buffered and readable without touching the socket. */
size_t net_conn_pending(const struct net_conn *c);
/* Wait until readable (pending data counts) for at most timeout_ms (0 = poll, -1 = io
 * timeout). Returns 1 readable, 0 timed out, negative mb_errc on error. */
int net_conn_wait_readable(struct net_conn *c, int timeout_ms, struct mb_err *err);
/* Write all n bytes (blocking up to io_timeout_ms per progress step). */
int net_conn_write(struct net_conn *c, const void *buf, size_t n, struct mb_err *err);
int net_conn_is_tls(const struct net_conn *c);
/* Negotiated protocol and cipher suite ("TLSv1.3", "TLS1-3-AES-128-GCM-SHA256"), borrowed;
 * "none" on a plain connection. */
const char *net_conn_tls_version(const struct net_conn *c);
const char *net_conn_tls_cipher(const struct net_conn *c);
/* Peer address as text ("127.0.0.1:993"), borrowed. */
const char *net_conn_peer(const struct net_conn *c);
/* 1 when this thread's deadline (net_conn_set_thread_deadline) has passed. */
int net_conn_deadline_passed(void);
/* The error a read that waited ms for nothing gives (MB_ECONN, "timed out after N s waiting
 * for host:port"), for callers that wait in slices themselves. */
int net_conn_read_timed_out(struct net_conn *c, int ms, struct mb_err *err);
/* The I/O timeout in force (ms). */
int net_conn_timeout(const struct net_conn *c);
/* Change the I/O timeout of an open connection. */
void net_conn_set_timeout(struct net_conn *c, int io_timeout_ms);
void net_conn_free(struct net_conn **c);

#endif
