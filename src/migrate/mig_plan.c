#include "mig_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "mig_options.h"

#define MAX_NAME 4096

static int is_inbox(const char *name)
{
    return strcasecmp(name, "INBOX") == 0;
}

/* Name relative to the personal namespace: prefix stripped (INBOX itself is kept). */
static const char *relative(const struct mig_side *s, const char *name)
{
    size_t n = strlen(s->prefix);
    if (n && !is_inbox(name) && strncmp(name, s->prefix, n) == 0 && name[n])
        return name + n;
    return name;
}

/* Convert the path rel (source delimiter) to the destination delimiter, appending to out.
 * A destination delimiter inside a component becomes '_' (sets *renamed). */
static int convert_path(struct buf *out, const char *rel, char sdelim, char ddelim, int *renamed)
{
    for (const char *p = rel; *p; p++) {
        char c = *p;
        if (sdelim && c == sdelim)
            c = ddelim ? ddelim : '_';
        else if (ddelim && c == ddelim) {
            c = '_';
            *renamed = 1;
        }
        if (buf_putc(out, c))
            return MB_ETOOBIG;
    }
    return 0;
}

static enum mig_role role_of(const struct mig_side *s, const struct mig_folder_in *f,
                             const char *rel)
{
    if (is_inbox(f->name))
        return MIG_ROLE_INBOX;
    if (f->special != MIG_ROLE_NONE || s->has_special_use)
        return f->special;
    enum mig_role r = mig_names_role_of_name(rel);
    return r == MIG_ROLE_INBOX ? MIG_ROLE_NONE : r;
}

static const char *dest_special(const struct mig_side *dst, enum mig_role role)
{
    for (size_t i = 0; i < dst->n_folders; i++)
        if (dst->folders[i].special == role && !(dst->folders[i].flags & MIG_F_NOSELECT))
            return dst->folders[i].name;
    if (!dst->has_special_use) {
        /* No attributes at the destination: use a folder with a well-known name. */
        for (size_t i = 0; i < dst->n_folders; i++) {
            const char *rel = relative(dst, dst->folders[i].name);
            if (!is_inbox(dst->folders[i].name) && mig_names_role_of_name(rel) == role)
                return dst->folders[i].name;
        }
    }
    return NULL;
}

static int dest_exists(const struct mig_side *dst, const char *name)
{
    for (size_t i = 0; i < dst->n_folders; i++) {
        const struct mig_folder_in *f = &dst->folders[i];
        if (f->flags & (MIG_F_NOSELECT | MIG_F_NONEXISTENT))
            continue;
        if (is_inbox(name) ? is_inbox(f->name) : strcmp(f->name, name) == 0)
            return 1;
    }
    return 0;
}

static int name_taken(const struct mig_plan *plan, size_t upto, const char *name)
{
    for (size_t i = 0; i < upto; i++) {
        const char *d = plan->entries[i].dest_name;
        if (d && (is_inbox(name) ? is_inbox(d) : strcmp(d, name) == 0))
            return 1;
    }
    return 0;
}

/* Process order: INBOX, then folders mapped by role, then the others in source order, so
 * that special folders win their destination names and children find their parents. */
static int plan_rank(const struct mig_plan_entry *e)
{
    if (e->role == MIG_ROLE_INBOX)
        return 0;
    return e->role != MIG_ROLE_NONE ? 1 : 2;
}

/* rel with the source delimiter turned into '/' (the options' notation). */
static char *slashed(const char *rel, char delim)
{
    char *s = xstrdup(rel);
    for (char *p = s; delim && delim != '/' && *p; p++)
        if (*p == delim)
            *p = '/';
    return s;
}

/* Options: folders excluded by a pattern or a special use (and, for a special use, the
 * folders under it). Runs after pass 1, when every entry's role is known. */
static void plan_exclude(const struct mig_side *src, const struct mig_options *opts,
                         struct mig_plan *plan)
{
    for (size_t i = 0; i < plan->n; i++) {
        struct mig_plan_entry *e = &plan->entries[i];
        if (e->action == MIG_PLAN_SKIP)
            continue;
        const char *rel = relative(src, e->src_name);
        unsigned parents = 0;
        size_t n_rel = strlen(rel);
        for (size_t j = 0; j < plan->n && src->delim; j++) {
            const struct mig_plan_entry *p = &plan->entries[j];
            const char *prel = relative(src, p->src_name);
            size_t n = strlen(prel);
            if (j != i && n < n_rel && strncmp(rel, prel, n) == 0 && rel[n] == src->delim) {
                enum mig_role r = role_of(src, &src->folders[p->src_index], prel);
                parents |= 1u << r;
            }
        }
        char *sl = slashed(rel, src->delim);
        enum mig_role own = role_of(src, &src->folders[e->src_index], rel);
        if (mig_options_excluded(opts, sl, own, parents)) {
            e->action = MIG_PLAN_SKIP;
            e->skip_reason = MIG_PLAN_EXCLUDED;
            e->skip_msg = MSG_SKIP_EXCLUDED;
        }
        free(sl);
    }
}

int mig_plan_build(const struct mig_side *src, const struct mig_side *dst,
                   const struct mig_preset *preset, int subscribed_only, struct mig_plan *plan,
                   struct mb_err *err)
{
    return mig_plan_build_opts(src, dst, preset, subscribed_only, NULL, plan, err);
}

int mig_plan_build_opts(const struct mig_side *src, const struct mig_side *dst,
                        const struct mig_preset *preset, int subscribed_only,
                        const struct mig_options *opts, struct mig_plan *plan, struct mb_err *err)
{
    int rc = 0;
    plan->n = src->n_folders;
    plan->entries = xcalloc(plan->n ? plan->n : 1, sizeof(*plan->entries));
    int role_taken[MIG_ROLE_COUNT_] = {0};
    struct buf name;
    buf_init(&name, MAX_NAME);

    /* Pass 1: actions and roles. */
    for (size_t i = 0; i < src->n_folders; i++) {
        const struct mig_folder_in *f = &src->folders[i];
        struct mig_plan_entry *e = &plan->entries[i];
        const char *rel = relative(src, f->name);
        e->src_name = xstrdup(f->name);
        e->src_index = i;
        e->role = role_of(src, f, rel);
        e->subscribe = (f->flags & MIG_F_SUBSCRIBED) != 0;
        enum mig_view_rule view = MIG_VIEW_COPY;
        if (e->role == MIG_ROLE_ALL)
            view = preset->rule_all;
        else if (e->role == MIG_ROLE_FLAGGED)
            view = preset->rule_flagged;
        else if (e->role == MIG_ROLE_IMPORTANT)
            view = preset->rule_important;

        if (f->flags & (MIG_F_NOSELECT | MIG_F_NONEXISTENT)) {
            e->action = MIG_PLAN_SKIP;
            e->skip_reason = "not a selectable folder";
            e->skip_msg = MSG_SKIP_NOSELECT;
        } else if (subscribed_only && !e->subscribe && e->role != MIG_ROLE_INBOX) {
            e->action = MIG_PLAN_SKIP;
            e->skip_reason = "not subscribed";
            e->skip_msg = MSG_SKIP_UNSUBSCRIBED;
        } else if (mig_preset_skips_folder(preset, rel, src->delim)) {
            e->action = MIG_PLAN_SKIP;
            e->skip_reason = "not a mail folder";
            e->skip_msg = MSG_SKIP_NOT_MAIL;
        } else if (view == MIG_VIEW_SKIP) {
            e->action = MIG_PLAN_SKIP;
            e->skip_reason = "virtual view of messages kept in other folders";
            e->skip_msg = MSG_SKIP_VIEW;
        } else if (view == MIG_VIEW_ARCHIVE_ORPHANS) {
            e->action = MIG_PLAN_ARCHIVE_ORPHANS;
            e->role = MIG_ROLE_ARCHIVE;
        }
        if (e->role == MIG_ROLE_ALL || e->role == MIG_ROLE_FLAGGED || e->role == MIG_ROLE_IMPORTANT)
            e->role = MIG_ROLE_NONE; /* copied as an ordinary folder */
    }

    if (opts)
        plan_exclude(src, opts, plan);

    /* Pass 2: destination names, by rank. */
    size_t *order = xcalloc(plan->n ? plan->n : 1, sizeof(*order));
    size_t n_order = 0;
    for (int rank = 0; rank <= 2; rank++)
        for (size_t i = 0; i < plan->n; i++)
            if (plan_rank(&plan->entries[i]) == rank)
                order[n_order++] = i;

    for (size_t k = 0; k < n_order; k++) {
        struct mig_plan_entry *e = &plan->entries[order[k]];
        int skipped = e->action == MIG_PLAN_SKIP;
        const char *rel = relative(src, e->src_name);
        buf_reset(&name);
        char *sl = opts && opts->n_map ? slashed(rel, src->delim) : NULL;
        struct buf mapped;
        buf_init(&mapped, MAX_NAME);
        if (sl && mig_options_map(opts, sl, &mapped)) {
            /* The administrator's mapping wins over roles and parents. */
            e->role = MIG_ROLE_NONE;
            e->mapped = 1;
            if (strcasecmp(buf_cstr(&mapped), "INBOX") == 0)
                rc = buf_puts(&name, "INBOX");
            else {
                rc = buf_puts(&name, dst->prefix);
                if (!rc)
                    rc = convert_path(&name, buf_cstr(&mapped), '/', dst->delim, &e->renamed);
            }
        } else if (e->role == MIG_ROLE_INBOX) {
            rc = buf_puts(&name, "INBOX");
        } else if (e->role != MIG_ROLE_NONE && !role_taken[e->role]) {
            if (!skipped)
                role_taken[e->role] = 1;
            const char *d = dest_special(dst, e->role);
            if (d)
                rc = buf_puts(&name, d);
            else
                rc = buf_printf(&name, "%s%s", dst->prefix, mig_names_default(e->role));
        } else {
            e->role = MIG_ROLE_NONE;
            /* Under a parent mapped elsewhere? Take the longest such ancestor. */
            const struct mig_plan_entry *parent = NULL;
            size_t plen = 0;
            for (size_t j = 0; j < plan->n && src->delim; j++) {
                const struct mig_plan_entry *p = &plan->entries[j];
                if (p == e || !p->dest_name || p->role == MIG_ROLE_NONE)
                    continue;
                const char *prel = relative(src, p->src_name);
                size_t n = strlen(prel);
                if (n > plen && strncmp(rel, prel, n) == 0 && rel[n] == src->delim) {
                    parent = p;
                    plen = n;
                }
            }
            if (parent) {
                rc = buf_puts(&name, parent->dest_name);
                if (!rc)
                    rc = buf_putc(&name, dst->delim ? dst->delim : '_');
                if (!rc)
                    rc = convert_path(&name, rel + plen + 1, src->delim, dst->delim, &e->renamed);
            } else {
                rc = buf_puts(&name, dst->prefix);
                if (!rc)
                    rc = convert_path(&name, rel, src->delim, dst->delim, &e->renamed);
            }
        }
        free(sl);
        buf_fini(&mapped);
        if (rc) {
            char cut[104];
            snprintf(cut, sizeof(cut), "%.100s", e->src_name);
            rc = MB_MSG(err, MB_ETOOBIG, FOLDER_TOO_LONG, cut);
            break;
        }
        if (skipped)
            continue;
        /* Never merge two source folders into one destination folder. */
        if (name_taken(plan, plan->n, buf_cstr(&name))) {
            size_t base_len = name.len;
            for (unsigned n = 2; n < 1000; n++) {
                name.len = base_len;
                name.data[base_len] = '\0';
                if (buf_printf(&name, " (%u)", n))
                    break;
                if (!name_taken(plan, plan->n, buf_cstr(&name)))
                    break;
            }
            e->renamed = 1;
        }
        e->dest_name = xstrdup(buf_cstr(&name));
        e->create = !dest_exists(dst, e->dest_name);
    }
    free(order);
    buf_fini(&name);
    if (rc)
        mig_plan_fini(plan);
    return rc;
}

void mig_plan_fini(struct mig_plan *plan)
{
    for (size_t i = 0; i < plan->n; i++) {
        XFREE(plan->entries[i].src_name);
        XFREE(plan->entries[i].dest_name);
    }
    XFREE(plan->entries);
    plan->n = 0;
}
