/* Connections of a migration: the source with the customer's credentials, the destination
 * through the master credential; error wording for customers; progress and log hooks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/xalloc.h"
#include "log/log.h"
#include "mig_internal.h"

void mig_log(struct mig_ctx *m, const char *level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (m->hooks && m->hooks->log)
        m->hooks->log(m->hooks->ctx, level, line);
}

int mig_should_stop(struct mig_ctx *m)
{
    if (m->hooks && m->hooks->cancel && atomic_load(m->hooks->cancel))
        m->cancelled = 1;
    return m->cancelled;
}

void mig_progress(struct mig_ctx *m, int force)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - m->last_progress.tv_sec) * 1000
              + (now.tv_nsec - m->last_progress.tv_nsec) / 1000000;
    if (!force && ms < 1000)
        return;
    m->last_progress = now;
    if (m->hooks && m->hooks->progress
        && m->hooks->progress(m->hooks->ctx, &m->c, m->current_folder))
        m->cancelled = 1;
}

static int host_contains(const char *host, const char *what)
{
    return host && strcasestr(host, what) != NULL;
}

/* Login error for a customer: what happened, the server's words, and a hint. */
static int source_auth_error(struct mig_ctx *m, int rc, struct mb_err *err)
{
    char server[MB_ERR_LEN];
    snprintf(server, sizeof(server), "%s", err->msg);
    const char *hint = NULL;
    if (m->req->preset->auth_hint)
        hint = m->req->preset->auth_hint;
    else if (host_contains(m->src_host, "gmail") || host_contains(m->src_host, "google"))
        hint = mig_preset_find("gmail")->auth_hint;
    else if (host_contains(m->src_host, "yahoo"))
        hint = "for Yahoo, IMAP access needs an app password generated in the account's "
               "security settings";
    return mb_err_set(err, rc, "authentication refused by the source server (%.150s)%s%s", server,
                      hint ? "; " : "", hint ? hint : "");
}

int mig_connect_source(struct mig_ctx *m, struct mb_err *err)
{
    const struct mig_request *req = m->req;
    const char *host =
        req->source_host && req->source_host[0] ? req->source_host : req->preset->default_host;
    if (!host)
        return mb_err_set(err, MB_ECONFIG, "no source host given");
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
    if (rc) {
        char why[MB_ERR_LEN];
        snprintf(why, sizeof(why), "%s", err->msg);
        if (rc == MB_EPROTO && sec == IMAP_SECURITY_STARTTLS && strstr(why, "STARTTLS"))
            return mb_err_set(err, rc,
                              "source server %s:%u does not offer STARTTLS (%.60s); choose TLS "
                              "mode \"none\" only if you accept sending the password in clear",
                              m->src_host, m->src_port, why);
        return mb_err_set(err, rc, "cannot connect to source server %.60s:%u: %.150s", m->src_host,
                          m->src_port, why);
    }
    if (imap_client_has_cap(m->src, "LOGINDISABLED") && imap_client_has_cap(m->src, "AUTH=PLAIN"))
        rc = imap_client_auth_plain(m->src, NULL, req->source_login, req->source_password->data,
                                    err);
    else
        rc = imap_client_login(m->src, req->source_login, req->source_password->data, err);
    if (rc == MB_EAUTH || rc == MB_ENOTFOUND)
        return source_auth_error(m, MB_EAUTH, err);
    if (rc)
        return mb_err_set(err, rc, "source server %s:%u: %.180s", m->src_host, m->src_port,
                          err->msg);
    m->src_has_gmail_ext = imap_client_has_cap(m->src, "X-GM-EXT-1");
    return 0;
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
        char why[MB_ERR_LEN];
        snprintf(why, sizeof(why), "%s", err->msg);
        return mb_err_set(err, rc, "cannot connect to the destination platform %.60s:%d: %.150s",
                          d->host, d->port, why);
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
        rc = mb_err_set(err, MB_ENOTFOUND, "destination mailbox does not exist: %s", dest_login);
    } else if (rc == MB_EAUTH) {
        /* With a master login a missing user is often answered like a bad password. */
        rc = mb_err_set(err, MB_EAUTH,
                        "the destination platform refused the login as %s (the mailbox may not "
                        "exist, or the master credential is wrong): %.120s",
                        dest_login, err->msg);
    } else if (rc) {
        char why[MB_ERR_LEN];
        snprintf(why, sizeof(why), "%s", err->msg);
        rc = mb_err_set(err, rc, "destination platform: %.200s", why);
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
