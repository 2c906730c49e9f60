/* net_host: parsing a server address (net_host.h). */
#include "net/net_host.h"

#include <arpa/inet.h>
#include <string.h>

#include "base/mb_err.h"

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

/* The reasons of net_host_parse(), English and French. */
enum net_host_why {
    NET_HOST_WHY_EMPTY,
    NET_HOST_WHY_NO_BRACKET,
    NET_HOST_WHY_AFTER_BRACKET,
    NET_HOST_WHY_BAD_IPV6,
    NET_HOST_WHY_IPV6_BRACKETS,
    NET_HOST_WHY_NAME_EMPTY,
    NET_HOST_WHY_BAD_IPV4,
    NET_HOST_WHY_BAD_NAME,
    NET_HOST_WHY_BAD_IDN,
    NET_HOST_WHY_PORT_EMPTY,
    NET_HOST_WHY_PORT_RANGE,
    NET_HOST_WHY_TOO_LONG,
    NET_HOST_WHY_COUNT,
};

static const char *const net_host_why_text[NET_HOST_WHY_COUNT][2] = {
    [NET_HOST_WHY_EMPTY] = {"host is empty", "l'hôte est vide"},
    [NET_HOST_WHY_NO_BRACKET] = {"missing ] after the IPv6 address",
                                 "« ] » manquant après l'adresse IPv6"},
    [NET_HOST_WHY_AFTER_BRACKET] = {"unexpected text after the bracketed IPv6 address",
                                    "texte inattendu après l'adresse IPv6 entre crochets"},
    [NET_HOST_WHY_BAD_IPV6] = {"invalid IPv6 address", "adresse IPv6 invalide"},
    [NET_HOST_WHY_IPV6_BRACKETS] = {"an IPv6 address must be written in brackets, e.g. "
                                    "[2001:db8::1]:993",
                                    "une adresse IPv6 s'écrit entre crochets, par exemple "
                                    "[2001:db8::1]:993"},
    [NET_HOST_WHY_NAME_EMPTY] = {"host name is empty", "le nom d'hôte est vide"},
    [NET_HOST_WHY_BAD_IPV4] = {"invalid IPv4 address", "adresse IPv4 invalide"},
    [NET_HOST_WHY_BAD_NAME] = {"invalid host name", "nom d'hôte invalide"},
    [NET_HOST_WHY_BAD_IDN] = {"invalid host name (write an internationalised name in its ASCII "
                              "xn-- form)",
                              "nom d'hôte invalide (écrivez un nom internationalisé sous sa forme "
                              "ASCII xn--)"},
    [NET_HOST_WHY_PORT_EMPTY] = {"port is empty after ':'", "le port est vide après « : »"},
    [NET_HOST_WHY_PORT_RANGE] = {"port must be a number from 1 to 65535",
                                 "le port doit être un nombre de 1 à 65535"},
    [NET_HOST_WHY_TOO_LONG] = {"host name is too long", "le nom d'hôte est trop long"},
};

const char *net_host_why_fr(const char *why)
{
    for (size_t i = 0; why && i < NET_HOST_WHY_COUNT; i++)
        if (strcmp(why, net_host_why_text[i][0]) == 0)
            return net_host_why_text[i][1];
    return why;
}

#define NET_HOST_WHY(w) net_host_why_text[NET_HOST_WHY_##w][0]

int net_host_parse(const char *s, char *host_r, size_t host_size, unsigned *port_r,
                   const char **why_r)
{
    const char *hs, *ps = NULL;
    size_t hl;
    char tmp[64];
    *why_r = NULL;
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
