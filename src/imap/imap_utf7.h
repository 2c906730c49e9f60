/* imap_utf7: modified UTF-7 for IMAP mailbox names (RFC 3501 §5.1.3), both ways.
 *
 * Printable US-ASCII except '&' stands for itself, '&' is "&-", everything else is
 * UTF-16 in modified BASE64 (',' for '/', no padding) between '&' and '-'.
 * Decoding is strict: an invalid encoding is refused rather than guessed (bad BASE64,
 * missing '-', encoded printable ASCII, two adjacent encoded runs, non-zero or too many
 * leftover bits, lone or reversed UTF-16 surrogates, raw control or 8-bit bytes).
 * Encoding refuses invalid UTF-8 (overlong forms, surrogates, > U+10FFFF, truncation)
 * and NUL.
 *
 * Ownership: results are appended to a caller-owned struct buf (bounded by its max). */
#ifndef MB_IMAP_UTF7_H
#define MB_IMAP_UTF7_H

#include <stddef.h>

#include "base/buf.h"

/* UTF-8 → modified UTF-7, appended to out. Returns 0, MB_ECONFIG (invalid UTF-8; out
 * unchanged) or MB_ETOOBIG (out's max reached; out unchanged). */
int imap_utf7_encode(const char *utf8, size_t len, struct buf *out);
/* Modified UTF-7 → UTF-8, appended to out. Returns 0, MB_EPROTO (invalid modified
 * UTF-7; out unchanged) or MB_ETOOBIG. */
int imap_utf7_decode(const char *mutf7, size_t len, struct buf *out);
/* 1 if s is valid modified UTF-7, else 0. */
int imap_utf7_is_valid(const char *mutf7, size_t len);

#endif
