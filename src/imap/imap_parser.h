/* imap_parser: incremental tokenizer for IMAP server responses, with no I/O.
 *
 * The caller feeds whatever bytes it read (any split, down to one byte at a time) and
 * gets one complete response at a time (Dovecot lib-imap model: "this function doesn't
 * read, you do"). Recognised: tags, "*", "+", atoms (including BODY[HEADER.FIELDS (A B)]<0>
 * style atoms with brackets), quoted strings with \" and \\ escapes, NIL, nested lists,
 * literals {N}, {N+} and literal8 ~{N}, status responses (OK NO BAD BYE PREAUTH) with an
 * optional response code [...] and free text, continuation requests "+ text".
 *
 * Literals: a literal is stored inline in the response when it is small (limits below);
 * a caller that installs literal callbacks is asked, once the "{N}\r\n" announcement is
 * read, whether to take it inline or as a stream of chunks (borrowed slices of the fed
 * data, never accumulated), which is how message bodies pass through with bounded memory.
 *
 * Every limit is checked before allocating: response length excluding literal data,
 * list nesting depth, tokens per response, inline literal bytes, literal size (announced
 * sizes are checked digit by digit, so {99999999999999999999} cannot overflow).
 * Malformed input is an error with a message, never a crash or an unbounded allocation.
 *
 * Ownership: imap_parser_new returns a parser freed with imap_parser_free(&p). Responses
 * and every string in them are borrowed from the parser, valid until the next
 * imap_parser_feed / imap_parser_reset / imap_parser_free. Strings are NUL-terminated
 * (an inline literal may contain NULs: use len). */
#ifndef MB_IMAP_PARSER_H
#define MB_IMAP_PARSER_H

#include <stddef.h>
#include <stdint.h>

/* Return values of imap_parser_feed (Dovecot's contract, named). */
#define IMAP_PARSE_ERROR (-1)
#define IMAP_PARSE_MORE 0
#define IMAP_PARSE_COMPLETE 1

struct imap_parser;

enum imap_arg_type {
    IMAP_ARG_NIL,
    IMAP_ARG_ATOM,
    IMAP_ARG_STRING,           /* quoted string, unescaped */
    IMAP_ARG_LITERAL,          /* literal stored inline: str/len */
    IMAP_ARG_LITERAL_STREAMED, /* literal delivered through the chunk callback: no str */
    IMAP_ARG_LIST,
};

struct imap_arg {
    enum imap_arg_type type;
    const char *str; /* ATOM, STRING, LITERAL; NULL otherwise */
    size_t len;
    uint64_t literal_size;       /* LITERAL, LITERAL_STREAMED: size announced by {N} */
    int literal8;                /* 1 for ~{N} */
    const struct imap_arg *list; /* LIST: the elements */
    size_t count;                /* LIST: number of elements */
};

enum imap_resp_type {
    IMAP_RESP_UNTAGGED,     /* "* ..." */
    IMAP_RESP_TAGGED,       /* "A1 OK ..." */
    IMAP_RESP_CONTINUATION, /* "+ ..." */
};

enum imap_status {
    IMAP_STATUS_NONE, /* a data response ("* 3 EXISTS", "* LIST ...") */
    IMAP_STATUS_OK,
    IMAP_STATUS_NO,
    IMAP_STATUS_BAD,
    IMAP_STATUS_BYE,
    IMAP_STATUS_PREAUTH,
};

struct imap_response {
    enum imap_resp_type type;
    const char *tag; /* the tag, "*" or "+" */
    enum imap_status status;
    const struct imap_arg *args; /* tokens after the tag ("3" "FETCH" (...), or "OK") */
    size_t nargs;
    const struct imap_arg *code; /* status responses: tokens inside [...], code[0] the name */
    size_t ncode;                /* 0 when there was no [...] */
    const char *text;            /* status and continuation responses: the text ("" if none) */
    size_t text_len;
};

struct imap_parser_limits {
    size_t max_line;           /* bytes of one response, literal data excluded */
    size_t max_depth;          /* list nesting (a response code counts as one level) */
    size_t max_items;          /* tokens in one response */
    size_t max_inline_literal; /* a literal up to this size may be stored inline */
    size_t max_inline_total;   /* inline literal bytes in one response */
    uint64_t max_literal;      /* largest literal accepted at all (streamed) */
};

/* Defaults: 1 MiB line, depth 32, 200000 items, 64 KiB inline literal, 1 MiB inline total,
 * 2 GiB literal. */
void imap_parser_limits_default(struct imap_parser_limits *lim_r);

/* Literal callbacks. begin() is called when a "{N}\r\n" has been read, before any data;
 * it may look at the response so far with imap_parser_partial(). It returns
 * IMAP_LITERAL_INLINE (store it; refused with an error if over the inline limits),
 * IMAP_LITERAL_STREAM (deliver the data through chunk() then end(); the response then
 * holds an IMAP_ARG_LITERAL_STREAMED), or a negative value to abort: feed returns
 * IMAP_PARSE_ERROR. chunk() gets borrowed slices of the data given to feed; end() is
 * called after the last byte (also for an empty literal). chunk()/end() returning < 0
 * abort the same way. */
#define IMAP_LITERAL_INLINE 0
#define IMAP_LITERAL_STREAM 1
struct imap_parser_literal_cbs {
    int (*begin)(void *ctx, struct imap_parser *p, uint64_t size);
    int (*chunk)(void *ctx, const char *data, size_t n);
    int (*end)(void *ctx);
};

/* lim: NULL for the defaults; copied. */
struct imap_parser *imap_parser_new(const struct imap_parser_limits *lim);
void imap_parser_free(struct imap_parser **p);
/* cbs: NULL to take every literal inline (within the limits). cbs is borrowed: keep it alive. */
void imap_parser_set_literal_cbs(struct imap_parser *p, const struct imap_parser_literal_cbs *cbs,
                                 void *ctx);

/* Feed len bytes. Returns IMAP_PARSE_COMPLETE when a response ended (*consumed_r = bytes used,
 * up to and including its LF; feed the rest again afterwards), IMAP_PARSE_MORE when every byte
 * was used and the response is not finished, IMAP_PARSE_ERROR on malformed input (message in
 * imap_parser_error(); the parser stays in error until imap_parser_reset). Feeding after
 * IMAP_PARSE_COMPLETE starts the next response. Partial tokens are kept inside the parser,
 * so the caller may reuse its buffer after each call. */
int imap_parser_feed(struct imap_parser *p, const char *data, size_t len, size_t *consumed_r);
/* The response completed by the last feed (NULL otherwise). Borrowed. */
const struct imap_response *imap_parser_response(struct imap_parser *p);
/* The response parsed so far (for literal callbacks): open lists hold what was read so far;
 * the literal being announced is not in it yet. Borrowed, valid until the next feed. */
const struct imap_response *imap_parser_partial(struct imap_parser *p);
/* Error message of the last IMAP_PARSE_ERROR ("" if none). Borrowed. Never contains data. */
const char *imap_parser_error(const struct imap_parser *p);
/* 1 when bytes of a response not yet complete have been consumed (EOF now = truncated). */
int imap_parser_in_progress(const struct imap_parser *p);
/* Forget any partial response and error. */
void imap_parser_reset(struct imap_parser *p);
/* Bytes of literal data still expected by a streamed literal in progress (0 if none). */
uint64_t imap_parser_literal_left(const struct imap_parser *p);

#endif
