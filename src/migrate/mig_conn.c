/* Connections of a migration: the source with the customer's credentials, the destination
 * through the master credential; error wording for customers; progress and log hooks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/xalloc.h"
#include "log/log.h"
#include "mig_internal.h"

void mig_log_msg(struct mig_ctx *m, const char *level, const struct mb_err *line)
{
    if (m->lane) {
        mig_lane_relay_msg(m, level, line); /* the hooks belong to lane 0's thread */
        return;
    }
    mig_lane_flush(m);
    if (m->hooks && m->hooks->log_msg)
        m->hooks->log_msg(m->hooks->ctx, level, line);
    else if (m->hooks && m->hooks->log)
        m->hooks->log(m->hooks->ctx, level, line->msg);
}

int mig_deadline_passed(const struct mig_ctx *m)
{
    if (!m->hooks || !m->hooks->deadline_ms)
        return 0;
    long long d = atomic_load(m->hooks->deadline_ms);
    return d > 0 && mb_mono_ms() >= d;
}

int mig_stop_requested(const struct mig_ctx *m)
{
    return (m->hooks && m->hooks->cancel && atomic_load(m->hooks->cancel)) || mig_lane_cancelled(m)
           || mig_deadline_passed(m);
}

int mig_should_stop(struct mig_ctx *m)
{
    if (mig_stop_requested(m))
        m->cancelled = 1;
    return m->cancelled;
}

void mig_progress(struct mig_ctx *m, int force)
{
    mig_lane_publish(m);
    if (m->lane)
        return; /* lane 0 reports for all */
    mig_lanes_grow(m);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - m->last_progress.tv_sec) * 1000
              + (now.tv_nsec - m->last_progress.tv_nsec) / 1000000;
    if (!force && ms < 1000)
        return;
    m->last_progress = now;
    mig_lane_flush(m);
    if (!m->hooks || !m->hooks->progress)
        return;
    struct db_job_counters c;
    mig_counters(m, &c);
    const char *folder = m->current_folder ? m->current_folder : mig_lane_folder(m);
    if (m->hooks->progress(m->hooks->ctx, &c, folder)) {
        m->cancelled = 1;
        mig_lane_cancel(m);
    }
}

static int host_contains(const char *host, const char *what)
{
    return host && strcasestr(host, what) != NULL;
}

/* The inner error of a customer-worded one, copied (err is rewritten): a server's own words
 * (a text without a code) cut to max bytes, as they were before codes, so that a hostile
 * server cannot fill the message; a coded reason (net_*, imap_*) kept whole. */
static struct mb_err inner(const struct mb_err *err, int max)
{
    struct mb_err e = *err;
    if (e.msg_id == MSG_TEXT)
        mb_err_set(&e, err->code, "%.*s", max, err->msg);
    return e;
}

/* Login error for a customer: what happened, the server's words, and a hint. */
static int source_auth_error(struct mig_ctx *m, int rc, struct mb_err *err)
{
    struct mb_err server = inner(err, 150); /* the server's words */
    const char *hint = m->req->preset->auth_hint;
    const char *gmail = mig_preset_find("gmail")->auth_hint;
    if (hint == gmail
        || (!hint && (host_contains(m->src_host, "gmail") || host_contains(m->src_host, "google"))))
        return MB_MSG(err, rc, SRC_AUTH_REFUSED_GMAIL, &server);
    if (hint)
        return MB_MSG(err, rc, SRC_AUTH_REFUSED_HINT, &server, hint);
    if (host_contains(m->src_host, "yahoo"))
        return MB_MSG(err, rc, SRC_AUTH_REFUSED_YAHOO, &server);
    return MB_MSG(err, rc, SRC_AUTH_REFUSED, &server);
}

/* Log in as the mailbox through a source authentication profile (auth/oauth.h): an
 * administrator login (master user with a separator, or AUTHENTICATE PLAIN with authzid), or
 * AUTHENTICATE XOAUTH2 with a token from the cache (renewed when close to expiry; renewed once
 * more if the server refuses a cached one). */
static int source_login_profile(struct mig_ctx *m, struct mb_err *err)
{
    const struct auth_profile *p = m->req->auth_profile;
    const char *u = m->req->source_login;
    struct mb_err why;
    int rc;
    if (p->kind == AUTH_KIND_IMAP_ADMIN) {
        const char *pw = p->admin_password.data ? p->admin_password.data : "";
        const char *sep = p->separator && p->separator[0] ? p->separator : "*";
        if (p->method == AUTH_ADMIN_AUTHZID) {
            rc = imap_client_auth_plain(m->src, u, p->admin_user, pw, err);
        } else {
            char *login = xasprintf("%s%s%s", u, sep, p->admin_user);
            rc = imap_client_login(m->src, login, pw, err);
            free(login);
        }
        if (rc == MB_EAUTH || rc == MB_ENOTFOUND) {
            why = inner(err, 80);
            if (p->method == AUTH_ADMIN_AUTHZID)
                return MB_MSG(err, MB_EAUTH, PROFILE_ADMIN_AUTHZID, p->name, u, &why);
            return MB_MSG(err, MB_EAUTH, PROFILE_ADMIN_MASTER, p->name, u, &why);
        }
        return rc;
    }
    struct oauth_env env = {
        .ca_file = m->cfg->sources.ca_file,
        .connect_timeout_ms = m->cfg->sources.connect_timeout * 1000,
        /* the whole token exchange: 3 connect timeouts, at most 30 s */
        .io_timeout_ms =
            m->cfg->sources.connect_timeout < 5 ? m->cfg->sources.connect_timeout * 1000 : 15000,
        .deadline_ms =
            m->cfg->sources.connect_timeout < 10 ? m->cfg->sources.connect_timeout * 3000 : 30000,
    };
    int fresh = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct secret tok = {0};
        rc = oauth_get_token(p, u, &env, attempt > 0, &tok, &fresh, err);
        if (rc)
            return rc; /* worded by oauth: names the fix */
        struct mb_err line;
        if (fresh)
            MB_MSG(&line, 0, LOG_XOAUTH2_NEW, u, p->name);
        else
            MB_MSG(&line, 0, LOG_XOAUTH2_CACHED, u, p->name);
        mig_log_msg(m, "info", &line);
        rc = imap_client_auth_xoauth2(m->src, u, tok.data, err);
        secret_fini(&tok);
        if (rc != MB_EAUTH || fresh)
            break;
    }
    /* Exchange Online accepts the token of an app without FullAccess on the mailbox, then
     * answers the next command (CAPABILITY after the login, or NOOP) with "User is
     * authenticated but not connected" and BYE. */
    if (rc == 0)
        rc = imap_client_noop(m->src, err);
    if (rc && strstr(err->msg, "authenticated but not connected"))
        return MB_MSG(err, MB_EAUTH, PROFILE_MS_NO_ACCESS, u);
    if (rc != MB_EAUTH && rc != MB_ENOTFOUND)
        return rc;
    why = inner(err, p->kind == AUTH_KIND_GOOGLE ? 80 : 60);
    if (p->kind == AUTH_KIND_GOOGLE)
        return MB_MSG(err, MB_EAUTH, PROFILE_GMAIL_REFUSED, u, &why);
    return MB_MSG(err, MB_EAUTH, PROFILE_MS_REFUSED, u, &why);
}

int mig_connect_source(struct mig_ctx *m, struct mb_err *err)
{
    const struct mig_request *req = m->req;
    const char *host =
        req->source_host && req->source_host[0] ? req->source_host : req->preset->default_host;
    if (!host)
        return MB_MSG0(err, MB_ECONFIG, NO_SOURCE_HOST);
    snprintf(m->src_host, sizeof(m->src_host), "%s", host);
    m->src_port = req->source_port ? req->source_port : req->preset->default_port;
    if (!m->src_port)
        m->src_port = 993;
    enum imap_security sec;
    switch (req->source_tls) {
    case MIG_TLS_IMPLICIT: sec = IMAP_SECURITY_TLS; break;
    case MIG_TLS_STARTTLS: sec = IMAP_SECURITY_STARTTLS; break;
    case MIG_TLS_NONE: sec = IMAP_SECURITY_NONE; break;
    default: sec = m->src_port == 993 ? IMAP_SECURITY_TLS : IMAP_SECURITY_STARTTLS; break;
    }
    struct imap_client_opts o = {
        .host = m->src_host,
        .port = m->src_port,
        .security = sec,
        .ca_file = m->cfg->sources.ca_file,
        .insecure = req->insecure,
        .connect_timeout_ms = m->cfg->sources.connect_timeout * 1000,
        .io_timeout_ms = m->cfg->sources.io_timeout * 1000,
    };
    int rc = imap_client_connect(&o, &m->src, err);
    m->src_dropped = rc
                     && (err->msg_id == MSG_NET_CLOSED || err->msg_id == MSG_NET_RESET
                         || err->msg_id == MSG_IMAP_CLOSED);
    if (rc) {
        struct mb_err why = inner(err, 150);
        char hp[300];
        snprintf(hp, sizeof(hp), "%s:%u", m->src_host, m->src_port);
        if (rc == MB_EPROTO && sec == IMAP_SECURITY_STARTTLS && strstr(why.msg, "STARTTLS"))
            return MB_MSG(err, rc, SRC_NO_STARTTLS, hp, &why);
        return MB_MSG(err, rc, SRC_UNREACHABLE, hp, &why);
    }
    if (req->auth_profile) {
        rc = source_login_profile(m, err);
        if (rc)
            return rc;
        m->src_has_gmail_ext = imap_client_has_cap(m->src, "X-GM-EXT-1");
        return 0;
    }
    if (!req->source_password)
        return mb_err_set(err, MB_ECONFIG, "no source password nor authentication profile");
    if (imap_client_has_cap(m->src, "LOGINDISABLED") && imap_client_has_cap(m->src, "AUTH=PLAIN"))
        rc = imap_client_auth_plain(m->src, NULL, req->source_login, req->source_password->data,
                                    err);
    else
        rc = imap_client_login(m->src, req->source_login, req->source_password->data, err);
    if (rc == MB_EAUTH || rc == MB_ENOTFOUND)
        return source_auth_error(m, MB_EAUTH, err);
    if (rc) {
        struct mb_err why = inner(err, 180);
        char hp[300];
        snprintf(hp, sizeof(hp), "%s:%u", m->src_host, m->src_port);
        return MB_MSG(err, rc, SRC_ERROR, hp, &why);
    }
    m->src_has_gmail_ext = imap_client_has_cap(m->src, "X-GM-EXT-1");
    return 0;
}

int mig_check_source_login(const struct config *cfg, const struct mig_request *req,
                           struct mb_err *err)
{
    struct mig_ctx m;
    memset(&m, 0, sizeof(m));
    m.cfg = cfg;
    m.req = req;
    int rc = mig_connect_source(&m, err);
    mig_disconnect(&m);
    return rc;
}

int mig_connect_dest(const struct config *cfg, const char *dest_login, struct imap_client **cli_r,
                     struct mb_err *err)
{
    const struct config_destination *d = &cfg->destination;
    enum imap_security sec = d->tls == CONFIG_IMAP_TLS_IMPLICIT   ? IMAP_SECURITY_TLS
                             : d->tls == CONFIG_IMAP_TLS_STARTTLS ? IMAP_SECURITY_STARTTLS
                                                                  : IMAP_SECURITY_NONE;
    struct imap_client_opts o = {
        .host = d->host,
        .port = (unsigned)d->port,
        .security = sec,
        .ca_file = d->ca_file,
        .insecure = !d->verify,
        .connect_timeout_ms = d->connect_timeout * 1000,
        .io_timeout_ms = d->io_timeout * 1000,
        .append_window = 64,
        .multiappend_max = IMAP_MULTIAPPEND_BATCH,
    };
    struct imap_client *cli = NULL;
    int rc = imap_client_connect(&o, &cli, err);
    if (rc) {
        struct mb_err why = inner(err, 150);
        char hp[300];
        snprintf(hp, sizeof(hp), "%s:%d", d->host, d->port);
        return MB_MSG(err, rc, DEST_UNREACHABLE, hp, &why);
    }
    const char *pw = d->master_password.data ? d->master_password.data : "";
    if (d->auth == CONFIG_AUTH_PLAIN_AUTHZID) {
        rc = imap_client_auth_plain(cli, dest_login, d->master_user, pw, err);
    } else {
        char *user = xasprintf("%s%s%s", dest_login, d->separator, d->master_user);
        rc = imap_client_login(cli, user, pw, err);
        free(user);
    }
    if (rc == MB_ENOTFOUND) {
        rc = MB_MSG(err, MB_ENOTFOUND, DEST_MISSING, dest_login);
    } else if (rc == MB_EAUTH) {
        /* With a master login a missing user is often answered like a bad password. */
        struct mb_err why = inner(err, 120);
        rc = MB_MSG(err, MB_EAUTH, DEST_REFUSED, dest_login, &why);
    } else if (rc) {
        struct mb_err why = inner(err, 200);
        rc = MB_MSG(err, rc, DEST_ERROR, &why);
    }
    if (rc) {
        imap_client_free(&cli);
        return rc;
    }
    *cli_r = cli;
    return 0;
}

void mig_disconnect(struct mig_ctx *m)
{
    struct mb_err ignore;
    if (m->src && !imap_client_is_broken(m->src))
        imap_client_logout(m->src, &ignore);
    if (m->dst && !imap_client_is_broken(m->dst)) {
        imap_client_logout(m->dst, &ignore);
    }
    imap_client_free(&m->src);
    imap_client_free(&m->dst);
}

int mig_status_each(struct imap_client *c, const char *const *names, size_t n,
                    mig_status_apply *apply, void *ctx, struct mb_err *err)
{
    if (!n)
        return 0;
    struct imap_status_info *st = xcalloc(n, sizeof(*st));
    int *rcs = xcalloc(n, sizeof(*rcs));
    int rc = imap_client_status_many(c, names, n, st, rcs, err);
    for (size_t k = 0; apply && k < n; k++)
        apply(ctx, k, &st[k], rcs[k]);
    free(st);
    free(rcs);
    if (rc >= 0 || !imap_client_is_broken(c))
        return 0;
    if (!err->code)
        err->code = MB_ECONN;
    return err->code;
}
