/* net_acl: address lists of the configuration ([server] trusted_proxies, [sources] allow and
 * deny): IPv4/IPv6 networks in CIDR notation ("10.0.0.0/8", "fd00::/8", a bare address is a
 * /32 or /128) and host names ("imap.example.com"; ".example.com" or "*.example.com" match
 * every name below example.com). Names compare case-insensitively, without a trailing dot.
 *
 * Also the "special" address test used by the source-host policy: loopback, private
 * (RFC 1918, fc00::/7), link-local, unspecified, CGNAT (100.64/10), multicast/broadcast and
 * the IPv4-mapped/NAT64 forms of them.
 *
 * A list is immutable after parsing: share it read-only between threads. */
#ifndef MB_NET_ACL_H
#define MB_NET_ACL_H

#include <stddef.h>
#include <sys/socket.h>

struct net_acl_entry {
    int family; /* AF_INET, AF_INET6, or 0 for a name */
    unsigned char addr[16];
    unsigned prefix;
    char *name; /* lower-case; for a suffix rule without the leading "*" or "." */
    int suffix; /* name matches itself and anything ending in "." name */
};

struct net_acl {
    struct net_acl_entry *e;
    size_t n;
};

/* Parse a blank/comma separated list into *acl (previous content freed). Returns 0, or -1
 * with the offending item copied into bad (bad_len bytes). */
int net_acl_parse(struct net_acl *acl, const char *text, char *bad, size_t bad_len);
void net_acl_fini(struct net_acl *acl);

/* 1 if the address (AF_INET / AF_INET6 sockaddr) is in one of the networks. */
int net_acl_match_addr(const struct net_acl *acl, const struct sockaddr *sa);
/* 1 if the textual address parses and is in one of the networks. */
int net_acl_match_text(const struct net_acl *acl, const char *addr);
/* 1 if host (a name, no trailing dot needed) matches one of the name rules. */
int net_acl_match_name(const struct net_acl *acl, const char *host);

/* 1 for loopback, private, link-local, unspecified, CGNAT, multicast, broadcast, reserved
 * addresses (and IPv4-mapped/NAT64 forms): what a non-admin may not reach by default. */
int net_acl_special(const struct sockaddr *sa);

#endif
