/* http_tls: HTTPS for the appliance, terminated with mbedTLS in front of libmicrohttpd.
 *
 * An accept thread takes TCP connections; per connection a pump thread does the TLS
 * handshake, creates a socketpair, hands one end to libmicrohttpd (MHD_add_connection) and
 * copies bytes between the TLS session and the other end until either side closes.
 * Internal to http_server.c. */
#ifndef MB_HTTP_TLS_H
#define MB_HTTP_TLS_H

#include <sys/socket.h>

#include "base/mb_err.h"

struct http_tls;
struct MHD_Daemon;

/* max_per_addr: connections from one client address (0 = no cap; peers in trusted are
 * exempt); handshake_s: the whole TLS handshake must end within that many seconds. */
struct net_acl;
int http_tls_start(const char *cert_path, const char *key_path, const struct sockaddr *addr,
                   socklen_t addrlen, unsigned max_conn, unsigned max_per_addr,
                   const struct net_acl *trusted, int handshake_s, struct http_tls **tls_r,
                   struct mb_err *err);
unsigned http_tls_port(const struct http_tls *tls);
/* Start accepting; connections are handed to daemon. */
void http_tls_run(struct http_tls *tls, struct MHD_Daemon *daemon);
/* Stop accepting, close every connection, wait for the threads. NULL-safe. */
void http_tls_stop(struct http_tls **tls);

#endif
