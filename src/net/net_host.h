/* net_host: the one parser of a server address typed by a person ("HOST", "HOST:PORT",
 * "1.2.3.4:993", "[::1]:143"), used by the CSV importer, the API, the CLI and the profiles.
 *
 * It is the stricter of the two parsers migrabox had (the importer's and the engine's):
 * a dotted-digits host must be a real IPv4 address (no "999.1.1.1", "1.2.3", "01.2.3.4"),
 * a name follows DNS label rules (no empty label "a..b", no leading/trailing "-" in a label,
 * labels <= 63 bytes, <= 253 bytes in all, no numeric last label), IPv6 only in brackets and
 * valid for inet_pton (no zone "%eth0"), a port from 1 to 65535 in at most 5 digits.
 * Internationalised names must be given in their ASCII "xn--" form. */
#ifndef MB_NET_HOST_H
#define MB_NET_HOST_H

#include <stddef.h>

/* Parse s (no surrounding spaces). On success writes the lower-cased host (no brackets) into
 * host_r (size host_size, at least 256) and the port (0 if none) into *port_r and returns 0;
 * otherwise returns MB_ECONFIG and sets *why_r to the reason, a message of msg/msgcat.def
 * without parameters (MSG_HOST_*: it does not quote the input; msgcat_template gives its words
 * in English or French). */
int net_host_parse(const char *s, char *host_r, size_t host_size, unsigned *port_r, int *why_r);
/* 1 if s (len bytes) is a syntactically valid DNS host name (the rules above, no port). */
int net_hostname_valid(const char *s, size_t len);

#endif
