#include "net/net_policy.h"
#include "msg/msgcat.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/xalloc.h"
#include "db/db.h"
#include "db/db_user.h"
#include "net/net_acl.h"

static _Thread_local int net_policy_admin;

void net_policy_thread_admin(int admin)
{
    net_policy_admin = admin;
}

static void net_policy_db_release(void *d)
{
    struct db *db = d;
    db_close(&db);
}

void net_policy_init(struct net_policy *p, const struct config *cfg, const char *db_path)
{
    memset(p, 0, sizeof(*p));
    p->cfg = cfg;
    p->db_path = db_path ? xstrdup(db_path) : NULL;
    pthread_key_create(&p->db_key, net_policy_db_release);
}

void net_policy_fini(struct net_policy *p)
{
    struct db *db = pthread_getspecific(p->db_key);
    if (db) {
        pthread_setspecific(p->db_key, NULL);
        db_close(&db);
    }
    pthread_key_delete(p->db_key);
    XFREE(p->db_path);
}

/* An administrator (or the operator) has a live job for host:port. */
static int net_policy_admin_job(struct net_policy *p, const char *host, unsigned port)
{
    if (!p->db_path)
        return 0;
    struct mb_err err = {0};
    struct db *db = pthread_getspecific(p->db_key);
    if (!db) {
        if (db_open(p->db_path, &db, &err) != 0)
            return 0;
        pthread_setspecific(p->db_key, db);
    }
    int found = 0;
    if (db_user_admin_job_host(db, host, port, &found, &err) != 0)
        return 0;
    return found;
}

static int net_policy_is_dest(const struct config *cfg, const char *host, unsigned port)
{
    return strcasecmp(host, cfg->destination.host) == 0 && port == (unsigned)cfg->destination.port;
}

int net_policy_connect_ok(void *ctx, const char *host, unsigned port, const struct sockaddr *sa)
{
    struct net_policy *p = ctx;
    const struct config_sources *s = &p->cfg->sources;
    if (net_policy_is_dest(p->cfg, host, port))
        return 1;
    if (net_acl_match_name(&s->deny, host) || net_acl_match_addr(&s->deny, sa))
        return 0;
    if (net_acl_match_name(&s->allow, host) || net_acl_match_addr(&s->allow, sa))
        return 1;
    if (!net_acl_special(sa) || net_policy_admin)
        return 1;
    return net_policy_admin_job(p, host, port);
}

int net_policy_host_ok(const struct net_policy *p, const char *host, unsigned port, int admin,
                       int *why_r)
{
    const struct config_sources *s = &p->cfg->sources;
    *why_r = -1;
    if (net_acl_match_name(&s->deny, host)) {
        *why_r = MSG_HOST_NOT_ALLOWED;
        return 0;
    }
    int named_allow = net_acl_match_name(&s->allow, host);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%u", port);
    if (getaddrinfo(host, portstr, &hints, &res) != 0 || !res) {
        /* Unknown now: the connection will fail, or be checked at connect time. */
        return 1;
    }
    int ok = 1;
    for (const struct addrinfo *ai = res; ai && ok; ai = ai->ai_next) {
        if (net_acl_match_addr(&s->deny, ai->ai_addr)) {
            ok = 0;
            *why_r = MSG_HOST_NOT_ALLOWED;
        } else if (!admin && !named_allow && !net_acl_match_addr(&s->allow, ai->ai_addr)
                   && net_acl_special(ai->ai_addr)) {
            ok = 0;
            *why_r = MSG_HOST_PRIVATE;
        }
    }
    freeaddrinfo(res);
    return ok;
}
