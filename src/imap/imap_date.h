/* imap_date: the IMAP date-time of INTERNALDATE and APPEND (RFC 3501 section 9,
 * "dd-Mon-yyyy hh:mm:ss +zzzz", the day two digits or space-padded), checked and read in one
 * place for the whole program. */
#ifndef MB_IMAP_DATE_H
#define MB_IMAP_DATE_H

#include <stdint.h>

/* 1 if s is a date-time a server will accept back in APPEND: the exact RFC 3501 shape with
 * sane field ranges (day 1-31, year >= 1900, 23:59:60 at most, zone within +-23:59). */
int imap_date_valid(const char *s);
/* s as unix seconds (UTC), or 0 if imap_date_valid(s) is false. */
int64_t imap_date_parse(const char *s);

#endif
