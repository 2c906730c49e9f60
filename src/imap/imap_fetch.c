/* imap_fetch: streamed UID FETCH of bodies, and metadata. See imap_fetch.h. */
#include "imap/imap_fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "imap/imap_internal.h"

#define SPOOL_CHUNK (64 * 1024)

enum body_target {
    TARGET_NONE,
    TARGET_USER,  /* UID known: straight to the callbacks */
    TARGET_SPOOL, /* UID not known yet: to a temp file */
    TARGET_DROP,  /* skipped by the caller, or cannot be spooled */
};

struct fetch_state {
    const struct imap_body_cbs *cbs;
    void *ctx;
    enum body_target target;
    uint32_t uid;
    int skip;      /* the caller said IMAP_FETCH_SKIP for this message */
    int delivered; /* a BODY[] of the current response was handled */
    int fd;        /* spool file, -1 if none */
    uint64_t spool_size;
    int spool_ready; /* spooled; deliver when the response is complete */
    int spool_failed;
    struct mb_err spool_why; /* why the body being spooled is dropped (coded) */
    char *spool_buf;
    struct mb_err stop; /* a callback error during spool replay */
};

static int uid_set_ok(const char *s)
{
    if (!*s || strlen(s) > 65536)
        return 0;
    for (; *s; s++) {
        if (!((*s >= '0' && *s <= '9') || *s == ':' || *s == ',' || *s == '*'))
            return 0;
    }
    return 1;
}

/* "BODY[]" or "BODY[]<0>" (what a server answers to BODY.PEEK[]). */
static int is_body_key(const struct imap_arg *a)
{
    if (!a || a->type != IMAP_ARG_ATOM || strncasecmp(a->str, "BODY[]", 6) != 0)
        return 0;
    return a->str[6] == '\0' || a->str[6] == '<';
}

static int find_uid(const struct imap_arg *list, size_t count, uint32_t *uid_r)
{
    const struct imap_arg *v = imap_resp_pair(list, count, "UID");
    uint64_t n;
    if (!v || imap_resp_number(v, UINT32_MAX, &n) < 0 || n == 0)
        return 0;
    *uid_r = (uint32_t)n;
    return 1;
}

static void spool_close(struct fetch_state *fs)
{
    if (fs->fd >= 0)
        close(fs->fd);
    fs->fd = -1;
    fs->spool_ready = 0;
    fs->spool_failed = 0;
    fs->spool_size = 0;
}

static int spool_open(struct imap_client *c, struct fetch_state *fs)
{
    const char *dir = c->spool_dir ? c->spool_dir : getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
#ifdef O_TMPFILE
    fs->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
    if (fs->fd < 0) {
        char *path = xasprintf("%s/migrabox-spool.XXXXXX", dir);
        fs->fd = mkstemp(path);
        if (fs->fd >= 0)
            unlink(path);
        free(path);
    }
    return fs->fd >= 0 ? 0 : -1;
}

static int hook_abort(struct imap_client *c, int rc)
{
    imap_client_abort(c, rc < 0 ? rc : MB_ECANCELED, NULL);
    return -1;
}

static int body_begin(struct imap_client *c, struct imap_parser *p, uint64_t size)
{
    struct fetch_state *fs = c->hook_ctx;
    const struct imap_response *r = imap_parser_partial(p);
    if (r->type != IMAP_RESP_UNTAGGED || r->nargs < 3 || !imap_resp_atom_is(&r->args[1], "FETCH")
        || r->args[2].type != IMAP_ARG_LIST || r->args[2].count == 0)
        return IMAP_LIT_HOOK_DEFAULT;
    const struct imap_arg *list = r->args[2].list;
    size_t count = r->args[2].count;
    if (!is_body_key(&list[count - 1]) || (count % 2) != 1 || fs->delivered)
        return IMAP_LIT_HOOK_DEFAULT;
    fs->skip = 0;
    if (find_uid(list, count - 1, &fs->uid)) {
        fs->delivered = 1;
        int rc = fs->cbs->begin(fs->ctx, fs->uid, size);
        if (rc < 0)
            return hook_abort(c, rc);
        fs->target = rc == IMAP_FETCH_SKIP ? TARGET_DROP : TARGET_USER;
        return IMAP_LITERAL_STREAM;
    }
    /* The body comes before the UID: small ones stay in the response, big ones are spooled. */
    if (size <= c->limits.max_inline_literal)
        return IMAP_LIT_HOOK_DEFAULT;
    fs->delivered = 1;
    fs->uid = 0;
    fs->spool_size = size;
    if (size > c->spool_max) {
        fs->spool_failed = 1;
        MB_MSG(&fs->spool_why, MB_EMSG, MSG_SPOOL_LIMIT, (unsigned long long)size,
               (unsigned long long)c->spool_max);
        fs->target = TARGET_DROP;
    } else if (spool_open(c, fs) < 0) {
        fs->spool_failed = 1;
        MB_MSG(&fs->spool_why, MB_EMSG, MSG_SPOOL_CREATE, strerror(errno));
        fs->target = TARGET_DROP;
    } else {
        fs->target = TARGET_SPOOL;
    }
    return IMAP_LITERAL_STREAM;
}

static int body_chunk(struct imap_client *c, const char *d, size_t n)
{
    struct fetch_state *fs = c->hook_ctx;
    if (fs->target == TARGET_USER) {
        int rc = fs->cbs->chunk(fs->ctx, d, n);
        if (rc < 0)
            return hook_abort(c, rc);
        if (rc == IMAP_FETCH_SKIP)
            fs->target = TARGET_DROP;
    } else if (fs->target == TARGET_SPOOL) {
        while (n > 0) {
            ssize_t w = write(fs->fd, d, n);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                fs->spool_failed = 1;
                MB_MSG(&fs->spool_why, MB_EMSG, MSG_SPOOL_WRITE,
                       w < 0 ? strerror(errno) : "short write");
                fs->target = TARGET_DROP;
                break;
            }
            d += w;
            n -= (size_t)w;
        }
    }
    return 0;
}

static int body_end(struct imap_client *c)
{
    struct fetch_state *fs = c->hook_ctx;
    enum body_target t = fs->target;
    fs->target = TARGET_NONE;
    if (t == TARGET_USER) {
        int rc = fs->cbs->end(fs->ctx, fs->uid);
        if (rc < 0)
            return hook_abort(c, rc);
    } else if (t == TARGET_SPOOL) {
        fs->spool_ready = 1;
    }
    return 0;
}

static const struct imap_lit_hooks body_hooks = {body_begin, body_chunk, body_end};

static void skipped_err(struct fetch_state *fs, uint32_t uid, const struct mb_err *why)
{
    if (fs->cbs->skipped)
        fs->cbs->skipped(fs->ctx, uid, why);
}

static void skipped(struct fetch_state *fs, uint32_t uid, int code, const char *why)
{
    struct mb_err e;
    mb_err_set(&e, code, "%s", why);
    skipped_err(fs, uid, &e);
}

/* Deliver bytes we hold (inline literal or quoted string) as one message. */
static int deliver_inline(struct fetch_state *fs, uint32_t uid, const char *p, size_t n)
{
    int rc = fs->cbs->begin(fs->ctx, uid, n);
    if (rc < 0 || rc == IMAP_FETCH_SKIP)
        return rc < 0 ? rc : 0;
    if (n > 0) {
        rc = fs->cbs->chunk(fs->ctx, p, n);
        if (rc < 0 || rc == IMAP_FETCH_SKIP)
            return rc < 0 ? rc : 0;
    }
    return fs->cbs->end(fs->ctx, uid);
}

static int deliver_spool(struct fetch_state *fs, uint32_t uid)
{
    if (!fs->spool_buf)
        fs->spool_buf = xmalloc(SPOOL_CHUNK);
    if (lseek(fs->fd, 0, SEEK_SET) < 0) {
        skipped(fs, uid, MB_EIO, "cannot read the spool file");
        return 0;
    }
    int rc = fs->cbs->begin(fs->ctx, uid, fs->spool_size);
    if (rc < 0 || rc == IMAP_FETCH_SKIP)
        return rc < 0 ? rc : 0;
    uint64_t left = fs->spool_size;
    while (left > 0) {
        size_t want = left < SPOOL_CHUNK ? (size_t)left : SPOOL_CHUNK;
        ssize_t n = read(fs->fd, fs->spool_buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return MB_EIO; /* the message was begun: the caller must hear of it */
        rc = fs->cbs->chunk(fs->ctx, fs->spool_buf, (size_t)n);
        if (rc < 0 || rc == IMAP_FETCH_SKIP)
            return rc < 0 ? rc : 0;
        left -= (uint64_t)n;
    }
    return fs->cbs->end(fs->ctx, uid);
}

static int body_untagged(void *ctx, const struct imap_response *r)
{
    struct fetch_state *fs = ctx;
    int rc = 0;
    if (r->status != IMAP_STATUS_NONE || r->nargs < 3 || !imap_resp_atom_is(&r->args[1], "FETCH")
        || r->args[2].type != IMAP_ARG_LIST)
        goto out;
    const struct imap_arg *list = r->args[2].list;
    size_t count = r->args[2].count;
    uint32_t uid = 0;
    int have_uid = find_uid(list, count, &uid);
    const struct imap_arg *body = NULL;
    for (size_t i = 0; i + 1 < count; i += 2) {
        if (is_body_key(&list[i])) {
            body = &list[i + 1];
            break;
        }
    }
    if (fs->spool_ready || fs->spool_failed) {
        if (!have_uid)
            skipped(fs, 0, MB_EPROTO, "FETCH answer with a body but no UID");
        else if (fs->spool_failed)
            skipped_err(fs, uid, &fs->spool_why);
        else
            rc = deliver_spool(fs, uid);
        goto out;
    }
    if (fs->delivered || !body)
        goto out;
    if (!have_uid) {
        skipped(fs, 0, MB_EPROTO, "FETCH answer with a body but no UID");
        goto out;
    }
    if (body->type == IMAP_ARG_LITERAL || body->type == IMAP_ARG_STRING)
        rc = deliver_inline(fs, uid, body->str, body->len);
    else {
        struct mb_err why;
        if (body->type == IMAP_ARG_NIL)
            MB_MSG0(&why, MB_EMSG, MSG_BODY_NIL);
        else
            MB_MSG0(&why, MB_EPROTO, MSG_BODY_UNUSABLE);
        skipped_err(fs, uid, &why);
    }
out:
    spool_close(fs);
    fs->delivered = 0;
    fs->target = TARGET_NONE;
    return rc;
}

static int run_fetch(struct imap_client *c, const char *line, const struct imap_lit_hooks *hooks,
                     void *hook_ctx, imap_untagged_cb *cb, void *cb_ctx, struct mb_err *err)
{
    c->lit_hooks = hooks;
    c->hook_ctx = hook_ctx;
    int rc = imap_client_command(c, line, IMAP_RESP_CTX_FOLDER, cb, cb_ctx, err);
    c->lit_hooks = NULL;
    c->hook_ctx = NULL;
    return rc;
}

int imap_fetch_bodies(struct imap_client *c, const char *uid_set, const struct imap_body_cbs *cbs,
                      void *ctx, struct mb_err *err)
{
    struct fetch_state fs;
    if (!uid_set_ok(uid_set))
        return mb_err_set(err, MB_ECONFIG, "invalid UID set");
    if (!cbs || !cbs->begin || !cbs->chunk || !cbs->end)
        return mb_err_set(err, MB_ECONFIG, "missing body callbacks");
    memset(&fs, 0, sizeof(fs));
    fs.cbs = cbs;
    fs.ctx = ctx;
    fs.fd = -1;
    char *line = xasprintf("UID FETCH %s (UID BODY.PEEK[])", uid_set);
    int rc = run_fetch(c, line, &body_hooks, &fs, body_untagged, &fs, err);
    free(line);
    spool_close(&fs);
    free(fs.spool_buf);
    return rc;
}

/* ---- metadata ---- */

struct meta_state {
    imap_meta_cb *cb;
    void *ctx;
    const char **flags, **labels;
    size_t flags_cap, labels_cap;
};

static size_t strv_fill(const struct imap_arg *a, const char ***v, size_t *cap)
{
    size_t n = 0;
    if (!a || a->type != IMAP_ARG_LIST)
        return 0;
    if (a->count > *cap) {
        *cap = a->count;
        *v = xrealloc(*v, *cap * sizeof(**v));
    }
    for (size_t i = 0; i < a->count; i++) {
        const char *s = imap_resp_astring(&a->list[i], NULL);
        if (s)
            (*v)[n++] = s;
    }
    return n;
}

static int meta_untagged(void *ctx, const struct imap_response *r)
{
    struct meta_state *ms = ctx;
    if (r->status != IMAP_STATUS_NONE || r->nargs < 3 || !imap_resp_atom_is(&r->args[1], "FETCH")
        || r->args[2].type != IMAP_ARG_LIST)
        return 0;
    const struct imap_arg *list = r->args[2].list;
    size_t count = r->args[2].count;
    struct imap_msg_meta m;
    memset(&m, 0, sizeof(m));
    if (!find_uid(list, count, &m.uid))
        return 0; /* unsolicited flag update */
    uint64_t v;
    if (imap_resp_number(&r->args[0], UINT32_MAX, &v) == 0)
        m.seq = (uint32_t)v;
    m.nflags = strv_fill(imap_resp_pair(list, count, "FLAGS"), &ms->flags, &ms->flags_cap);
    m.flags = ms->flags;
    m.internaldate = imap_resp_astring(imap_resp_pair(list, count, "INTERNALDATE"), NULL);
    if (imap_resp_number(imap_resp_pair(list, count, "RFC822.SIZE"), UINT64_MAX, &v) == 0) {
        m.size = v;
        m.has_size = 1;
    }
    if (imap_resp_number(imap_resp_pair(list, count, "X-GM-MSGID"), UINT64_MAX, &v) == 0)
        m.gm_msgid = v;
    m.ngm_labels =
        strv_fill(imap_resp_pair(list, count, "X-GM-LABELS"), &ms->labels, &ms->labels_cap);
    m.gm_labels = ms->labels;
    return ms->cb(ms->ctx, &m);
}

int imap_fetch_meta(struct imap_client *c, const char *uid_set, unsigned what, imap_meta_cb *cb,
                    void *ctx, struct mb_err *err)
{
    struct meta_state ms;
    if (!uid_set_ok(uid_set))
        return mb_err_set(err, MB_ECONFIG, "invalid UID set");
    memset(&ms, 0, sizeof(ms));
    ms.cb = cb;
    ms.ctx = ctx;
    char *line = xasprintf("UID FETCH %s (UID FLAGS INTERNALDATE RFC822.SIZE%s)", uid_set,
                           (what & IMAP_FETCH_META_GMAIL) ? " X-GM-MSGID X-GM-LABELS" : "");
    int rc = run_fetch(c, line, NULL, NULL, meta_untagged, &ms, err);
    free(line);
    free(ms.flags);
    free(ms.labels);
    return rc;
}
