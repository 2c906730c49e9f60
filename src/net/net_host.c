/* net_host: parsing a server address (net_host.h). */
#include "net/net_host.h"

#include <arpa/inet.h>
#include <string.h>

#include "base/mb_err.h"
#include "msg/msgcat.h"

static int host_is_digit(unsigned char ch)
{
    return ch >= '0' && ch <= '9';
}

static unsigned char host_lower(unsigned char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch + 32) : ch;
}

static int host_is_alnum(unsigned char ch)
{
    return host_is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

int net_hostname_valid(const char *s, size_t len)
{
    if (len && s[len - 1] == '.')
        len--; /* one trailing dot: fully qualified */
    if (len == 0 || len > 253)
        return 0;
    size_t start = 0;
    int all_digits = 1;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            size_t l = i - start;
            if (l == 0 || l > 63 || s[start] == '-' || s[i - 1] == '-')
                return 0;
            if (i == len && all_digits)
                return 0; /* a numeric last label: that is an (invalid) IPv4 address */
            start = i + 1;
            all_digits = 1;
            continue;
        }
        unsigned char ch = (unsigned char)s[i];
        if (!host_is_alnum(ch) && ch != '-' && ch != '_')
            return 0;
        if (!host_is_digit(ch))
            all_digits = 0;
    }
    return 1;
}

/* The reasons of net_host_parse(): messages of msg/msgcat.def. */
#define NET_HOST_WHY(w) MSG_HOST_##w

int net_host_parse(const char *s, char *host_r, size_t host_size, unsigned *port_r, int *why_r)
{
    const char *hs, *ps = NULL;
    size_t hl;
    char tmp[64];
    *why_r = -1;
    *port_r = 0;
    if (!*s) {
        *why_r = NET_HOST_WHY(EMPTY);
        return MB_ECONFIG;
    }
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb) {
            *why_r = NET_HOST_WHY(NO_BRACKET);
            return MB_ECONFIG;
        }
        hs = s + 1;
        hl = (size_t)(rb - hs);
        if (rb[1] == ':') {
            ps = rb + 2;
        } else if (rb[1]) {
            *why_r = NET_HOST_WHY(AFTER_BRACKET);
            return MB_ECONFIG;
        }
        unsigned char a6[16];
        if (hl == 0 || hl >= sizeof(tmp)) {
            *why_r = NET_HOST_WHY(BAD_IPV6);
            return MB_ECONFIG;
        }
        memcpy(tmp, hs, hl);
        tmp[hl] = '\0';
        if (inet_pton(AF_INET6, tmp, a6) != 1) {
            *why_r = NET_HOST_WHY(BAD_IPV6);
            return MB_ECONFIG;
        }
    } else {
        const char *colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':')) {
            *why_r = NET_HOST_WHY(IPV6_BRACKETS);
            return MB_ECONFIG;
        }
        hs = s;
        hl = colon ? (size_t)(colon - s) : strlen(s);
        if (colon)
            ps = colon + 1;
        if (hl == 0) {
            *why_r = NET_HOST_WHY(NAME_EMPTY);
            return MB_ECONFIG;
        }
        int dotted_digits = 1;
        for (size_t i = 0; i < hl; i++)
            if (!host_is_digit((unsigned char)hs[i]) && hs[i] != '.')
                dotted_digits = 0;
        if (dotted_digits) {
            unsigned char a4[4];
            if (hl >= sizeof(tmp)) {
                *why_r = NET_HOST_WHY(BAD_IPV4);
                return MB_ECONFIG;
            }
            memcpy(tmp, hs, hl);
            tmp[hl] = '\0';
            if (inet_pton(AF_INET, tmp, a4) != 1) {
                *why_r = NET_HOST_WHY(BAD_IPV4);
                return MB_ECONFIG;
            }
        } else if (!net_hostname_valid(hs, hl)) {
            int ascii = 1;
            for (size_t i = 0; i < hl; i++)
                if ((unsigned char)hs[i] >= 0x80)
                    ascii = 0;
            *why_r = ascii ? NET_HOST_WHY(BAD_NAME) : NET_HOST_WHY(BAD_IDN);
            return MB_ECONFIG;
        }
    }
    if (ps) {
        size_t pl = strlen(ps);
        unsigned long port = 0;
        if (pl == 0) {
            *why_r = NET_HOST_WHY(PORT_EMPTY);
            return MB_ECONFIG;
        }
        for (size_t i = 0; i < pl; i++) {
            if (!host_is_digit((unsigned char)ps[i]) || i >= 5) {
                *why_r = NET_HOST_WHY(PORT_RANGE);
                return MB_ECONFIG;
            }
            port = port * 10 + (unsigned long)(ps[i] - '0');
        }
        if (port < 1 || port > 65535) {
            *why_r = NET_HOST_WHY(PORT_RANGE);
            return MB_ECONFIG;
        }
        *port_r = (unsigned)port;
    }
    if (hl >= host_size) {
        *why_r = NET_HOST_WHY(TOO_LONG);
        return MB_ECONFIG;
    }
    for (size_t i = 0; i < hl; i++)
        host_r[i] = (char)host_lower((unsigned char)hs[i]);
    host_r[hl] = '\0';
    return 0;
}
