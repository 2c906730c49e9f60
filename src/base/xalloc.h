/* xalloc: allocators that abort on out-of-memory (isync nfmalloc, redis zmalloc).
 * Sizes that come from outside must be checked against a limit before calling these. */
#ifndef MB_XALLOC_H
#define MB_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* free(*p) and set *p = NULL. */
void xfree_ptr(void *pp);
#define XFREE(p) xfree_ptr(&(p))

#endif
