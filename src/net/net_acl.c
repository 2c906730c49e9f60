#include "net/net_acl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

void net_acl_fini(struct net_acl *acl)
{
    for (size_t i = 0; i < acl->n; i++)
        free(acl->e[i].name);
    free(acl->e);
    acl->e = NULL;
    acl->n = 0;
}

static int net_acl_name_ok(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
            continue;
        }
        if (!(isalnum(c) || c == '-' || c == '_') || ++label > 63)
            return 0;
    }
    return 1;
}

static int net_acl_item(const char *item, struct net_acl_entry *e)
{
    memset(e, 0, sizeof(*e));
    char tmp[300];
    if (strlen(item) >= sizeof(tmp))
        return -1;
    strcpy(tmp, item);
    char *slash = strchr(tmp, '/');
    long prefix = -1;
    if (slash) {
        char *end;
        *slash = '\0';
        if (!isdigit((unsigned char)slash[1]))
            return -1;
        prefix = strtol(slash + 1, &end, 10);
        if (*end)
            return -1;
    }
    if (inet_pton(AF_INET, tmp, e->addr) == 1) {
        if (prefix > 32)
            return -1;
        e->family = AF_INET;
        e->prefix = prefix < 0 ? 32u : (unsigned)prefix;
        return 0;
    }
    if (inet_pton(AF_INET6, tmp, e->addr) == 1) {
        if (prefix > 128)
            return -1;
        e->family = AF_INET6;
        e->prefix = prefix < 0 ? 128u : (unsigned)prefix;
        return 0;
    }
    if (slash)
        return -1;
    char *p = tmp;
    if (p[0] == '*' && p[1] == '.') {
        p += 2;
        e->suffix = 1;
    } else if (p[0] == '.') {
        p += 1;
        e->suffix = 1;
    }
    size_t len = strlen(p);
    if (len && p[len - 1] == '.')
        p[--len] = '\0';
    for (char *c = p; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (!net_acl_name_ok(p))
        return -1;
    e->name = xstrdup(p);
    return 0;
}

int net_acl_parse(struct net_acl *acl, const char *text, char *bad, size_t bad_len)
{
    struct net_acl out = {0};
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, " \t,");
        char item[300];
        snprintf(item, sizeof(item), "%.*s", (int)len, p);
        p += len;
        struct net_acl_entry e;
        if (len >= sizeof(item) || net_acl_item(item, &e) != 0) {
            if (bad && bad_len)
                snprintf(bad, bad_len, "%s", item);
            net_acl_fini(&out);
            return -1;
        }
        out.e = xrealloc(out.e, (out.n + 1) * sizeof(*out.e));
        out.e[out.n++] = e;
    }
    net_acl_fini(acl);
    *acl = out;
    return 0;
}

static int net_acl_prefix_eq(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    unsigned bytes = bits / 8, rem = bits % 8;
    if (memcmp(a, b, bytes) != 0)
        return 0;
    if (rem == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xFF << (8 - rem));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

/* family + 16 bytes; an IPv4-mapped IPv6 address is turned into IPv4. */
static int net_acl_norm(const struct sockaddr *sa, unsigned char out[16])
{
    if (sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        return AF_INET;
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
        if (memcmp(a, mapped, 12) == 0) {
            memcpy(out, a + 12, 4);
            return AF_INET;
        }
        memcpy(out, a, 16);
        return AF_INET6;
    }
    return 0;
}

int net_acl_match_addr(const struct net_acl *acl, const struct sockaddr *sa)
{
    unsigned char a[16];
    int fam = net_acl_norm(sa, a);
    if (!fam || !acl)
        return 0;
    for (size_t i = 0; i < acl->n; i++) {
        const struct net_acl_entry *e = &acl->e[i];
        if (e->family == fam && net_acl_prefix_eq(a, e->addr, e->prefix))
            return 1;
    }
    return 0;
}

int net_acl_match_text(const struct net_acl *acl, const char *addr)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (!addr)
        return 0;
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1)
        s4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1)
        s6->sin6_family = AF_INET6;
    else
        return 0;
    return net_acl_match_addr(acl, (const struct sockaddr *)&ss);
}

int net_acl_match_name(const struct net_acl *acl, const char *host)
{
    char h[256];
    size_t n = strlen(host);
    if (!acl || n == 0 || n >= sizeof(h))
        return 0;
    for (size_t i = 0; i <= n; i++)
        h[i] = (char)tolower((unsigned char)host[i]);
    if (h[n - 1] == '.')
        h[--n] = '\0';
    for (size_t i = 0; i < acl->n; i++) {
        const struct net_acl_entry *e = &acl->e[i];
        if (!e->name)
            continue;
        if (strcmp(h, e->name) == 0)
            return 1;
        size_t m = strlen(e->name);
        if (e->suffix && n > m && h[n - m - 1] == '.' && strcmp(h + n - m, e->name) == 0)
            return 1;
    }
    return 0;
}

int net_acl_special(const struct sockaddr *sa)
{
    unsigned char a[16];
    int fam = net_acl_norm(sa, a);
    if (fam == AF_INET) {
        static const struct {
            unsigned char net[4];
            unsigned bits;
        } v4[] = {
            {{0, 0, 0, 0}, 8},    {{10, 0, 0, 0}, 8},     {{100, 64, 0, 0}, 10},
            {{127, 0, 0, 0}, 8},  {{169, 254, 0, 0}, 16}, {{172, 16, 0, 0}, 12},
            {{192, 0, 0, 0}, 24}, {{192, 168, 0, 0}, 16}, {{198, 18, 0, 0}, 15},
            {{224, 0, 0, 0}, 4},  {{240, 0, 0, 0}, 4},
        };
        for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
            if (net_acl_prefix_eq(a, v4[i].net, v4[i].bits))
                return 1;
        }
        return 0;
    }
    if (fam == AF_INET6) {
        static const unsigned char zero[16];
        static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
        if (memcmp(a, zero, 15) == 0 && (a[15] == 0 || a[15] == 1))
            return 1; /* :: and ::1 */
        if ((a[0] & 0xFE) == 0xFC)
            return 1; /* fc00::/7 unique local */
        if (a[0] == 0xFE && (a[1] & 0xC0) == 0x80)
            return 1; /* fe80::/10 link-local */
        if (a[0] == 0xFE && (a[1] & 0xC0) == 0xC0)
            return 1; /* fec0::/10 site-local (deprecated) */
        if (a[0] == 0xFF)
            return 1; /* multicast */
        if (memcmp(a, zero, 12) == 0)
            return 1; /* IPv4-compatible (deprecated) */
        if (memcmp(a, nat64, 12) == 0) {
            struct sockaddr_in s4;
            memset(&s4, 0, sizeof(s4));
            s4.sin_family = AF_INET;
            memcpy(&s4.sin_addr, a + 12, 4);
            return net_acl_special((const struct sockaddr *)&s4);
        }
        return 0;
    }
    return 1;
}
