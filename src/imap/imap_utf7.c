/* imap_utf7: modified UTF-7 (RFC 3501 §5.1.3). See imap_utf7.h. */
#include "imap/imap_utf7.h"

#include <stdint.h>

#include "base/mb_err.h"

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == ',')
        return 63;
    return -1;
}

/* Decode one UTF-8 sequence at s[*i] (strict). Returns the code point or -1. */
static int32_t utf8_next(const unsigned char *s, size_t len, size_t *i)
{
    unsigned char c = s[*i];
    int32_t cp;
    int n;
    int32_t min;

    if (c < 0x80) {
        (*i)++;
        return c;
    } else if (c >= 0xc2 && c <= 0xdf) {
        cp = c & 0x1f;
        n = 1;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        cp = c & 0x0f;
        n = 2;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        cp = c & 0x07;
        n = 3;
        min = 0x10000;
    } else {
        return -1;
    }
    if (len - *i <= (size_t)n)
        return -1;
    for (int k = 1; k <= n; k++) {
        unsigned char cc = s[*i + (size_t)k];
        if ((cc & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *i += (size_t)n + 1;
    return cp;
}

static void utf8_put(char *out, size_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        out[(*o)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*o)++] = (char)(0xc0 | (cp >> 6));
        out[(*o)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out[(*o)++] = (char)(0xe0 | (cp >> 12));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*o)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[(*o)++] = (char)(0xf0 | (cp >> 18));
        out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*o)++] = (char)(0x80 | (cp & 0x3f));
    }
}

/* The encoder works on a stack scratch area flushed into out, so that out stays
 * unchanged on error: we first validate, then emit. */
static int utf8_validate(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        int32_t cp = utf8_next(s, len, &i);
        if (cp <= 0)
            return -1;
    }
    return 0;
}

struct b64_state {
    uint32_t bits;
    int nbits;
};

static int b64_put16(struct buf *out, struct b64_state *st, unsigned u)
{
    char tmp[4];
    size_t n = 0;
    st->bits = (st->bits << 16) | u;
    st->nbits += 16;
    while (st->nbits >= 6) {
        st->nbits -= 6;
        tmp[n++] = b64_chars[(st->bits >> st->nbits) & 0x3f];
    }
    st->bits &= (1u << st->nbits) - 1;
    return buf_append(out, tmp, n);
}

static int b64_close(struct buf *out, struct b64_state *st)
{
    int rc;
    if (st->nbits > 0) {
        rc = buf_putc(out, b64_chars[(st->bits << (6 - st->nbits)) & 0x3f]);
        if (rc < 0)
            return rc;
    }
    st->bits = 0;
    st->nbits = 0;
    return buf_putc(out, '-');
}

int imap_utf7_encode(const char *utf8, size_t len, struct buf *out)
{
    const unsigned char *s = (const unsigned char *)utf8;
    size_t start = out->len;
    size_t i = 0;
    int in_b64 = 0;
    struct b64_state st = {0, 0};
    int rc = 0;

    if (utf8_validate(s, len) < 0)
        return MB_ECONFIG;
    while (i < len) {
        int32_t cp = utf8_next(s, len, &i);
        if (cp >= 0x20 && cp <= 0x7e) {
            if (in_b64) {
                rc = b64_close(out, &st);
                in_b64 = 0;
                if (rc < 0)
                    goto out;
            }
            rc = cp == '&' ? buf_append(out, "&-", 2) : buf_putc(out, (char)cp);
            if (rc < 0)
                goto out;
            continue;
        }
        if (!in_b64) {
            rc = buf_putc(out, '&');
            if (rc < 0)
                goto out;
            in_b64 = 1;
        }
        if (cp >= 0x10000) {
            uint32_t v = (uint32_t)cp - 0x10000;
            rc = b64_put16(out, &st, 0xd800 | (v >> 10));
            if (rc == 0)
                rc = b64_put16(out, &st, 0xdc00 | (v & 0x3ff));
        } else {
            rc = b64_put16(out, &st, (unsigned)cp);
        }
        if (rc < 0)
            goto out;
    }
    if (in_b64)
        rc = b64_close(out, &st);
out:
    if (rc < 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}

/* Decode one run of modified BASE64 s[*i..] up to '-' into UTF-8 appended to out
 * (when out != NULL). Returns 0 or -1. */
static int decode_run(const unsigned char *s, size_t len, size_t *i, struct buf *out, int *toobig)
{
    uint32_t bits = 0;
    int nbits = 0;
    unsigned high = 0; /* pending high surrogate */
    size_t nchars = 0;
    size_t p = *i;

    for (;; p++) {
        if (p >= len)
            return -1; /* unterminated */
        if (s[p] == '-')
            break;
        int v = b64_value(s[p]);
        if (v < 0)
            return -1;
        nchars++;
        bits = (bits << 6) | (uint32_t)v;
        nbits += 6;
        if (nbits < 16)
            continue;
        nbits -= 16;
        unsigned u = (bits >> nbits) & 0xffff;
        bits &= (1u << nbits) - 1;
        uint32_t cp;
        if (high) {
            if (u < 0xdc00 || u > 0xdfff)
                return -1;
            cp = 0x10000 + (((uint32_t)high - 0xd800) << 10) + (u - 0xdc00);
            high = 0;
        } else if (u >= 0xd800 && u <= 0xdbff) {
            high = u;
            continue;
        } else if (u >= 0xdc00 && u <= 0xdfff) {
            return -1;
        } else {
            cp = u;
        }
        if (cp >= 0x20 && cp <= 0x7e)
            return -1; /* printable ASCII must stand for itself */
        if (cp == 0)
            return -1;
        if (out) {
            char tmp[4];
            size_t o = 0;
            utf8_put(tmp, &o, cp);
            if (buf_append(out, tmp, o) < 0) {
                *toobig = 1;
                return -1;
            }
        }
    }
    /* "&-" is handled by the caller; here the run is non-empty. */
    if (nchars == 0 || high || nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0)
        return -1;
    *i = p + 1;
    return 0;
}

static int decode(const char *mutf7, size_t len, struct buf *out)
{
    const unsigned char *s = (const unsigned char *)mutf7;
    size_t start = out ? out->len : 0;
    size_t i = 0;
    int toobig = 0;
    int prev_run = 0; /* the previous thing was an encoded run */

    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x20 || c > 0x7e)
            goto bad;
        if (c != '&') {
            if (out && buf_putc(out, (char)c) < 0) {
                toobig = 1;
                goto bad;
            }
            i++;
            prev_run = 0;
            continue;
        }
        if (i + 1 < len && s[i + 1] == '-') {
            if (out && buf_putc(out, '&') < 0) {
                toobig = 1;
                goto bad;
            }
            i += 2;
            prev_run = 0;
            continue;
        }
        if (prev_run)
            goto bad; /* two adjacent runs: should have been one */
        i++;
        if (decode_run(s, len, &i, out, &toobig) < 0)
            goto bad;
        prev_run = 1;
    }
    return 0;
bad:
    if (out) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return toobig ? MB_ETOOBIG : MB_EPROTO;
}

int imap_utf7_decode(const char *mutf7, size_t len, struct buf *out)
{
    return decode(mutf7, len, out);
}

int imap_utf7_is_valid(const char *mutf7, size_t len)
{
    return decode(mutf7, len, NULL) == 0;
}
