/* json_write: JSON writer onto a struct buf, for the HTTP API's responses.
 *
 *   struct json_w w;
 *   json_w_init(&w, &out);
 *   json_w_obj_begin(&w);
 *   json_w_kv_int(&w, "id", 5);
 *   json_w_kv_str(&w, "error", NULL);          // "error":null
 *   json_w_key(&w, "jobs"); json_w_arr_begin(&w); ... json_w_arr_end(&w);
 *   json_w_obj_end(&w);
 *   if (json_w_finish(&w) != 0) ...            // MB_ETOOBIG (buf limit) or MB_EPROTO (misuse)
 *
 * Commas and colons are automatic (a state stack, JSON_W_MAX_DEPTH levels). Errors are
 * sticky: after the first one every call returns it and writes nothing more, so callers may
 * check only json_w_finish(). Misuse (a value where a key is due, a key in an array,
 * unbalanced ends, a second top-level value, a non-finite double, a malformed raw number)
 * is MB_EPROTO.
 *
 * Strings: valid UTF-8 is copied as is; each byte that does not start a well-formed
 * UTF-8 sequence becomes U+FFFD. `"` and `\` are escaped, control characters too (\n \r \t
 * \b \f, others \u00XX), and so are U+2028 / U+2029; "</" is written "<\/" so the output is
 * safe inside an HTML <script>. NUL bytes (json_w_strn) are written \u0000.
 *
 * Ownership: the writer borrows out (the caller owns and frees it). */
#ifndef MB_JSON_WRITE_H
#define MB_JSON_WRITE_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct json_value;

#define JSON_W_MAX_DEPTH 64

struct json_w {
    struct buf *out; /* borrowed */
    int err;         /* first error, sticky */
    unsigned depth;
    int done;                              /* the top-level value is complete */
    unsigned char stack[JSON_W_MAX_DEPTH]; /* per open container: JSON_W_* flags */
};

void json_w_init(struct json_w *w, struct buf *out);
/* 0 when exactly one complete value was written without error, else the error. */
int json_w_finish(const struct json_w *w);

int json_w_obj_begin(struct json_w *w);
int json_w_obj_end(struct json_w *w);
int json_w_arr_begin(struct json_w *w);
int json_w_arr_end(struct json_w *w);
/* The next member's key (inside an object only). */
int json_w_key(struct json_w *w, const char *key);
int json_w_keyn(struct json_w *w, const char *key, size_t n);

/* Values. json_w_str(w, NULL) writes null. */
int json_w_str(struct json_w *w, const char *s);
int json_w_strn(struct json_w *w, const char *s, size_t n);
int json_w_int(struct json_w *w, int64_t v);
int json_w_uint(struct json_w *w, uint64_t v);
/* Finite doubles only, written with %.17g (reads back as the same double). */
int json_w_double(struct json_w *w, double v);
/* A number given as text, checked against the JSON grammar. */
int json_w_raw_number(struct json_w *w, const char *num);
int json_w_bool(struct json_w *w, int b);
int json_w_null(struct json_w *w);
/* A whole DOM value (from json_read), e.g. to echo or re-serialise it. */
int json_w_value(struct json_w *w, const struct json_value *v);

/* key + value in one call. */
int json_w_kv_str(struct json_w *w, const char *key, const char *s); /* NULL s → null */
int json_w_kv_int(struct json_w *w, const char *key, int64_t v);
int json_w_kv_bool(struct json_w *w, const char *key, int b);
int json_w_kv_null(struct json_w *w, const char *key);

#endif
