/* net_policy: which source hosts migrabox may connect to ([sources] allow / deny).
 *
 * Rules, first match wins:
 *   1. at connect time, the destination (host and port of [destination]) is always allowed
 *      (a source aimed at it is checked by the submission check like any other host);
 *   2. a host name or address in `deny` (or resolving to an address in it) is refused, for
 *      every account;
 *   3. a host name or address in `allow` (or resolving to addresses in it) is allowed;
 *   4. an administrator may use any other host. A connection does not know which account
 *      queued its job, so at connect time a host:port for which an administrator (or the
 *      operator, with `migrabox import`) has a pending or running job is allowed
 *      (db_user_admin_job_host), and the connection test of an administrator runs with
 *      net_policy_thread_admin set;
 *   5. otherwise, a special address (loopback, private, link-local, CGNAT, multicast,
 *      unspecified, reserved; net_acl_special) is refused.
 * The API checks the host when a job or a connection test is submitted (resolving it); the
 * connect-time filter (installed with net_conn_set_filter by the API of `migrabox serve`)
 * checks every resolved address again when the connection is made, so a name whose answer
 * changes in between (DNS rebinding) is refused too.
 *
 * Threads: a policy is shared read-only; each thread opens its own database handle. */
#ifndef MB_NET_POLICY_H
#define MB_NET_POLICY_H

#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config/config.h"

struct net_policy {
    const struct config *cfg;
    char *db_path;
    pthread_key_t db_key;
};

void net_policy_init(struct net_policy *p, const struct config *cfg, const char *db_path);
void net_policy_fini(struct net_policy *p);
/* Submission-time check: 1 allowed, or 0 with the reason in *why_r (MSG_HOST_NOT_ALLOWED or
 * MSG_HOST_PRIVATE, msg/msgcat.def). */
int net_policy_host_ok(const struct net_policy *p, const char *host, unsigned port, int admin,
                       int *why_r);
/* Connect-time check of one resolved address (net_conn filter signature). */
int net_policy_connect_ok(void *p, const char *host, unsigned port, const struct sockaddr *sa);
/* Set while this thread acts for an administrator (connection test). */
void net_policy_thread_admin(int admin);

#endif
