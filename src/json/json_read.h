/* json_read: strict RFC 8259 reader for HTTP request bodies, into a small DOM.
 *
 * Accepted: exactly one JSON value (any type) with optional surrounding whitespace
 * (space, tab, LF, CR). Refused, with the byte offset in the error message:
 *  - anything RFC 8259 does not allow: trailing commas, single quotes, comments, NaN,
 *    Infinity, leading zeros (01), "+1", ".5", "1.", hex, unescaped control characters in
 *    strings, unknown escapes, a byte order mark, trailing garbage after the value;
 *  - invalid UTF-8 (overlong forms, encoded surrogates, > U+10FFFF, truncated sequences);
 *  - \u escapes that form a lone surrogate;
 *  - \u0000 (a NUL could truncate C strings: strings in the DOM never contain NUL);
 *  - duplicate keys in an object (compared after unescaping: "a" and "\u0061" collide);
 *  - numbers that overflow a double;
 *  - input over the limits (bytes, nesting depth ≤ 32, members per object / items per
 *    array, string length, total values).
 * Error messages give the offset and what was expected; they never quote input text
 * (request bodies hold passwords), except a short printable-ASCII duplicate key name.
 *
 * Ownership: json_parse() returns a tree owned by the caller, released by json_free(),
 * which wipes every string (a body may carry a password) before freeing it. Accessors
 * return borrowed pointers valid until json_free(). */
#ifndef MB_JSON_READ_H
#define MB_JSON_READ_H

#include <stddef.h>
#include <stdint.h>

#include "base/mb_err.h"

#define JSON_MAX_DEPTH 32
#define JSON_DEFAULT_MAX_BYTES (1u << 20)
#define JSON_DEFAULT_MAX_MEMBERS 1024u
#define JSON_DEFAULT_MAX_STRING (64u * 1024)
#define JSON_DEFAULT_MAX_VALUES 100000u

/* json_get_* results besides 0. */
#define JSON_ENOTFOUND MB_ENOTFOUND /* key absent, or its value is null */
#define JSON_ETYPE MB_ECONFIG       /* present with another type (or out of range) */

enum json_type {
    JSON_NULL = 0,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
};

struct json_member;

struct json_value {
    enum json_type type;
    int boolean; /* JSON_BOOL: 0 or 1 */
    /* JSON_NUMBER: str/len hold the number's text as written; num its value as a double;
     * is_int is 1 when the text has no fraction or exponent and fits int64 (then in i). */
    double num;
    int64_t i;
    int is_int;
    char *str; /* JSON_STRING: UTF-8, NUL-terminated, no NUL inside */
    size_t len;
    size_t n;                    /* JSON_ARRAY: items; JSON_OBJECT: members */
    struct json_value *items;    /* JSON_ARRAY */
    struct json_member *members; /* JSON_OBJECT, in document order */
};

struct json_member {
    char *key; /* UTF-8, NUL-terminated, no NUL inside */
    size_t key_len;
    struct json_value value;
};

struct json_limits {
    size_t max_bytes;   /* 0 = JSON_DEFAULT_MAX_BYTES */
    unsigned max_depth; /* 0 or more than JSON_MAX_DEPTH = JSON_MAX_DEPTH */
    size_t max_members; /* per object or array; 0 = default */
    size_t max_string;  /* bytes of a decoded string or key, or of a number; 0 = default */
    size_t max_values;  /* values in the whole document; 0 = default */
};

/* Parse len bytes (limits may be NULL for the defaults). On success *v_r is a new tree
 * (json_free it). Returns 0, MB_ETOOBIG (a limit) or MB_EPROTO (not valid JSON), with the
 * reason and byte offset in err. */
int json_parse(const char *data, size_t len, const struct json_limits *limits,
               struct json_value **v_r, struct mb_err *err);
/* Wipe the strings, free the tree and set *v = NULL. Accepts NULL and *v == NULL. */
void json_free(struct json_value **v);

/* The value of key in object v (NULL when v is not an object or has no such key). */
const struct json_value *json_obj_get(const struct json_value *v, const char *key);
/* Typed getters on object members: 0 and *_r set, JSON_ENOTFOUND (no such key or null;
 * *_r untouched) or JSON_ETYPE (another type; json_get_int also when the number is not an
 * integer or out of int64 range). The string is borrowed. */
int json_get_str(const struct json_value *obj, const char *key, const char **s_r);
int json_get_bool(const struct json_value *obj, const char *key, int *b_r);
int json_get_int(const struct json_value *obj, const char *key, int64_t *i_r);

/* 1 if a and b are the same JSON data (numbers compared by value, members in order). */
int json_equal(const struct json_value *a, const struct json_value *b);
/* 1 if the n bytes at s are exactly one JSON number (RFC 8259 grammar). */
int json_number_valid(const char *s, size_t n);
/* Length (1-4) of the well-formed UTF-8 sequence starting at s (n bytes available), or 0
 * (overlong forms, surrogates, > U+10FFFF, truncated or stray continuation bytes). */
size_t json_utf8_len(const unsigned char *s, size_t n);

#endif
