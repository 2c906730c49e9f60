/* buf: growable byte buffer with a ceiling (curl dynbuf). Always NUL-terminated.
 * Ownership: the buf owns data; buf_fini frees it; buf_take hands it to the caller. */
#ifndef MB_BUF_H
#define MB_BUF_H

#include <stddef.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* len may never exceed max */
};

void buf_init(struct buf *b, size_t max);
void buf_fini(struct buf *b);
void buf_reset(struct buf *b);
/* Return 0, or MB_ETOOBIG (buffer unchanged) when the result would exceed max. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Contents as a C string (never NULL). Borrowed. */
const char *buf_cstr(const struct buf *b);
/* Hand the data to the caller (free() it) and reset the buffer. */
char *buf_take(struct buf *b, size_t *len_r);

#endif
