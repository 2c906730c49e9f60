/* imap_parser: incremental IMAP response tokenizer, no I/O. See imap_parser.h.
 *
 * Tokens are kept as nodes in one array (node 0 is the response itself, a list; a
 * response code is a list node of its own, not linked into node 0) with their bytes in
 * one arena. When a response is complete (or a literal callback asks for the partial
 * one), a view of pointer-linked struct imap_arg is laid out breadth-first so that each
 * list's elements are contiguous. */
#include "imap/imap_parser.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/xalloc.h"

enum pstate {
    ST_START,       /* first byte of a response */
    ST_TOKEN,       /* expecting a token (after a space or '(') */
    ST_AFTER_TOKEN, /* expecting SP, ')', ']' or end of line */
    ST_ATOM,
    ST_QUOTED,
    ST_QUOTED_ESC,
    ST_TILDE,
    ST_LIT_NUM,
    ST_LIT_PLUS,
    ST_LIT_CR,
    ST_LIT_LF,
    ST_LIT_DATA,
    ST_STATUS,     /* after OK/NO/BAD/BYE/PREAUTH */
    ST_STATUS_SP,  /* after "OK ": '[' or text */
    ST_AFTER_CODE, /* after ']' */
    ST_CONT,       /* after '+' */
    ST_TEXT,
    ST_EOL_LF, /* after CR */
    ST_DONE,
    ST_ERROR,
};

struct pnode {
    uint32_t parent;
    uint32_t first_child, last_child, next;
    uint32_t nchild;
    uint32_t off, len; /* bytes in the arena (tokens) */
    uint64_t lit_size;
    uint8_t type; /* enum imap_arg_type */
    uint8_t literal8;
};

struct imap_parser {
    struct imap_parser_limits lim;
    const struct imap_parser_literal_cbs *cbs;
    void *cbs_ctx;

    enum pstate st;
    struct pnode *nodes;
    size_t nnodes, nodes_cap;
    char *arena;
    size_t arena_len, arena_cap;

    uint32_t cur;       /* list node being filled */
    uint32_t code_node; /* 0 = none */
    uint32_t tok;       /* node of the token being read */
    size_t depth;
    size_t bracket; /* '[' depth inside an atom */
    size_t line_len;
    size_t inline_total;
    uint64_t lit_size, lit_left;
    size_t lit_digits;
    int lit8, lit_stream;
    int is_cont;
    int have_text;
    size_t text_off, text_len;

    struct imap_arg *view;
    size_t view_cap;
    uint32_t *map;
    struct imap_response resp;
    int resp_valid;
    char err[160];
};

void imap_parser_limits_default(struct imap_parser_limits *lim_r)
{
    lim_r->max_line = 1024 * 1024;
    lim_r->max_depth = 32;
    lim_r->max_items = 200000;
    lim_r->max_inline_literal = 64 * 1024;
    lim_r->max_inline_total = 1024 * 1024;
    lim_r->max_literal = (uint64_t)2 * 1024 * 1024 * 1024;
}

static void reset_state(struct imap_parser *p)
{
    p->st = ST_START;
    p->nnodes = 1;
    memset(&p->nodes[0], 0, sizeof(p->nodes[0]));
    p->nodes[0].type = IMAP_ARG_LIST;
    p->arena_len = 0;
    p->cur = 0;
    p->code_node = 0;
    p->tok = 0;
    p->depth = 0;
    p->bracket = 0;
    p->line_len = 0;
    p->inline_total = 0;
    p->lit_size = p->lit_left = 0;
    p->lit_digits = 0;
    p->lit8 = p->lit_stream = 0;
    p->is_cont = 0;
    p->have_text = 0;
    p->text_off = p->text_len = 0;
    p->resp_valid = 0;
    p->err[0] = '\0';
}

struct imap_parser *imap_parser_new(const struct imap_parser_limits *lim)
{
    struct imap_parser *p = xcalloc(1, sizeof(*p));
    if (lim)
        p->lim = *lim;
    else
        imap_parser_limits_default(&p->lim);
    if (p->lim.max_items < 4)
        p->lim.max_items = 4;
    p->nodes_cap = 64;
    p->nodes = xcalloc(p->nodes_cap, sizeof(*p->nodes));
    p->arena_cap = 1024;
    p->arena = xmalloc(p->arena_cap);
    reset_state(p);
    return p;
}

void imap_parser_free(struct imap_parser **pp)
{
    struct imap_parser *p = *pp;
    if (!p)
        return;
    free(p->nodes);
    free(p->arena);
    free(p->view);
    free(p->map);
    free(p);
    *pp = NULL;
}

void imap_parser_set_literal_cbs(struct imap_parser *p, const struct imap_parser_literal_cbs *cbs,
                                 void *ctx)
{
    p->cbs = cbs;
    p->cbs_ctx = ctx;
}

void imap_parser_reset(struct imap_parser *p)
{
    reset_state(p);
}

const char *imap_parser_error(const struct imap_parser *p)
{
    return p->err;
}

int imap_parser_in_progress(const struct imap_parser *p)
{
    return p->st != ST_START && p->st != ST_DONE && p->st != ST_ERROR;
}

uint64_t imap_parser_literal_left(const struct imap_parser *p)
{
    return p->st == ST_LIT_DATA && p->lit_stream ? p->lit_left : 0;
}

static int fail(struct imap_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct imap_parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->err, sizeof(p->err), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(p->err))
        snprintf(p->err + n, sizeof(p->err) - (size_t)n, " (at byte %zu of the response)",
                 p->line_len);
    p->st = ST_ERROR;
    return IMAP_PARSE_ERROR;
}

/* Arena growth is bounded by the limits: token bytes <= max_line, inline literal bytes
 * <= max_inline_total, one NUL per token <= max_items. */
static void arena_reserve(struct imap_parser *p, size_t n)
{
    if (p->arena_cap - p->arena_len >= n)
        return;
    size_t cap = p->arena_cap;
    while (cap - p->arena_len < n)
        cap *= 2;
    p->arena = xrealloc(p->arena, cap);
    p->arena_cap = cap;
}

static void arena_putc(struct imap_parser *p, char c)
{
    arena_reserve(p, 1);
    p->arena[p->arena_len++] = c;
}

static void arena_put(struct imap_parser *p, const char *d, size_t n)
{
    arena_reserve(p, n);
    memcpy(p->arena + p->arena_len, d, n);
    p->arena_len += n;
}

/* New node of the given type; linked into the current list unless link == 0. */
static int node_new(struct imap_parser *p, uint8_t type, int link, uint32_t *idx_r)
{
    if (p->nnodes >= p->lim.max_items + 2)
        return fail(p, "too many items in one response (limit %zu)", p->lim.max_items);
    if (p->nnodes == p->nodes_cap) {
        p->nodes_cap *= 2;
        p->nodes = xrealloc(p->nodes, p->nodes_cap * sizeof(*p->nodes));
    }
    uint32_t i = (uint32_t)p->nnodes++;
    struct pnode *n = &p->nodes[i];
    memset(n, 0, sizeof(*n));
    n->type = type;
    n->parent = p->cur;
    n->off = (uint32_t)p->arena_len;
    if (link) {
        struct pnode *par = &p->nodes[p->cur];
        if (par->last_child)
            p->nodes[par->last_child].next = i;
        else
            par->first_child = i;
        par->last_child = i;
        par->nchild++;
    }
    *idx_r = i;
    return 0;
}

static int is_status_word(const char *s, enum imap_status *st_r)
{
    static const struct {
        const char *w;
        enum imap_status st;
    } words[] = {
        {"OK", IMAP_STATUS_OK},   {"NO", IMAP_STATUS_NO},           {"BAD", IMAP_STATUS_BAD},
        {"BYE", IMAP_STATUS_BYE}, {"PREAUTH", IMAP_STATUS_PREAUTH},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcasecmp(s, words[i].w) == 0) {
            *st_r = words[i].st;
            return 1;
        }
    }
    return 0;
}

/* Finish the current token node: NUL-terminate; decide what comes next. */
static void token_end(struct imap_parser *p)
{
    struct pnode *n = &p->nodes[p->tok];
    n->len = (uint32_t)(p->arena_len - n->off);
    arena_putc(p, '\0');
    p->st = ST_AFTER_TOKEN;
    if (n->type == IMAP_ARG_ATOM && !(p->cur == 0 && p->nodes[0].nchild == 1) && n->len == 3
        && strcasecmp(p->arena + n->off, "NIL") == 0)
        n->type = IMAP_ARG_NIL;
    /* "<tag> OK ..." and "* BYE ...": switch to status mode after the second word. */
    if (p->cur == 0 && p->nodes[0].nchild == 2 && n->type == IMAP_ARG_ATOM) {
        enum imap_status st;
        if (is_status_word(p->arena + n->off, &st))
            p->st = ST_STATUS;
    }
}

static int list_open(struct imap_parser *p)
{
    uint32_t i;
    if (p->depth >= p->lim.max_depth)
        return fail(p, "lists nested too deep (limit %zu)", p->lim.max_depth);
    if (node_new(p, IMAP_ARG_LIST, 1, &i) < 0)
        return IMAP_PARSE_ERROR;
    p->cur = i;
    p->depth++;
    return 0;
}

static int list_close(struct imap_parser *p)
{
    if (p->cur == 0 || p->cur == p->code_node)
        return fail(p, "unexpected ')'");
    p->cur = p->nodes[p->cur].parent;
    p->depth--;
    p->st = ST_AFTER_TOKEN;
    return 0;
}

static int code_close(struct imap_parser *p)
{
    if (p->code_node == 0 || p->cur != p->code_node)
        return fail(p, "unexpected ']'");
    p->cur = 0;
    p->depth--;
    p->st = ST_AFTER_CODE;
    return 0;
}

static int line_end(struct imap_parser *p, int cr)
{
    if (p->st != ST_TEXT && p->st != ST_STATUS && p->st != ST_STATUS_SP && p->st != ST_AFTER_CODE
        && p->st != ST_CONT && p->cur != 0)
        return fail(p, p->cur == p->code_node && p->code_node ? "unterminated response code"
                                                              : "unterminated list");
    if (p->nodes[0].nchild == 0)
        return fail(p, "empty response line");
    p->st = cr ? ST_EOL_LF : ST_DONE;
    return 0;
}

static int literal_start(struct imap_parser *p)
{
    int how = IMAP_LITERAL_INLINE;
    uint32_t i;

    if (p->cbs && p->cbs->begin) {
        how = p->cbs->begin(p->cbs_ctx, p, p->lit_size);
        if (how < 0)
            return fail(p, "literal refused by the consumer");
    }
    if (how == IMAP_LITERAL_STREAM) {
        if (!p->cbs->chunk || !p->cbs->end)
            return fail(p, "no literal stream consumer");
        if (node_new(p, IMAP_ARG_LITERAL_STREAMED, 1, &i) < 0)
            return IMAP_PARSE_ERROR;
    } else {
        if (p->lit_size > p->lim.max_inline_literal
            || p->lit_size > p->lim.max_inline_total - p->inline_total)
            return fail(p, "literal of %llu bytes too big to keep",
                        (unsigned long long)p->lit_size);
        if (node_new(p, IMAP_ARG_LITERAL, 1, &i) < 0)
            return IMAP_PARSE_ERROR;
        p->inline_total += (size_t)p->lit_size;
        arena_reserve(p, (size_t)p->lit_size + 1);
    }
    p->nodes[i].lit_size = p->lit_size;
    p->nodes[i].literal8 = (uint8_t)p->lit8;
    p->tok = i;
    p->lit_stream = how == IMAP_LITERAL_STREAM;
    p->lit_left = p->lit_size;
    p->st = ST_LIT_DATA;
    return 0;
}

static int literal_done(struct imap_parser *p)
{
    if (p->lit_stream) {
        if (p->cbs->end(p->cbs_ctx) < 0)
            return fail(p, "literal aborted by the consumer");
        p->nodes[p->tok].len = 0;
        p->st = ST_AFTER_TOKEN;
    } else {
        token_end(p);
        p->st = ST_AFTER_TOKEN;
    }
    return 0;
}

static void text_begin(struct imap_parser *p)
{
    p->have_text = 1;
    p->text_off = p->arena_len;
    p->st = ST_TEXT;
}

static int is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Token start (ST_TOKEN) or separator (ST_AFTER_TOKEN) characters shared by both. */
static int structural(struct imap_parser *p, unsigned char c)
{
    switch (c) {
    case ' ': p->st = ST_TOKEN; return 0;
    case '\r': return line_end(p, 1);
    case '\n': return line_end(p, 0);
    case ')': return list_close(p);
    case ']': return code_close(p);
    default: return fail(p, "missing space between tokens (byte 0x%02x)", c);
    }
}

static int token_start(struct imap_parser *p, unsigned char c)
{
    uint32_t i;
    switch (c) {
    case ' ':
    case '\r':
    case '\n':
    case ')':
    case ']': return structural(p, c);
    case '(': return list_open(p);
    case '"':
        if (node_new(p, IMAP_ARG_STRING, 1, &i) < 0)
            return IMAP_PARSE_ERROR;
        p->tok = i;
        p->st = ST_QUOTED;
        return 0;
    case '{':
        p->lit8 = 0;
        p->lit_size = 0;
        p->lit_digits = 0;
        p->st = ST_LIT_NUM;
        return 0;
    case '~': p->st = ST_TILDE; return 0;
    default:
        if (is_ctl(c))
            return fail(p, "control character 0x%02x", c);
        if (node_new(p, IMAP_ARG_ATOM, 1, &i) < 0)
            return IMAP_PARSE_ERROR;
        p->tok = i;
        p->bracket = c == '[';
        arena_putc(p, (char)c);
        p->st = ST_ATOM;
        return 0;
    }
}

static int step(struct imap_parser *p, unsigned char c)
{
    uint32_t i;

    switch (p->st) {
    case ST_START:
        if (c == '+') {
            if (node_new(p, IMAP_ARG_ATOM, 1, &i) < 0)
                return IMAP_PARSE_ERROR;
            arena_put(p, "+", 2);
            p->nodes[i].len = 1;
            p->is_cont = 1;
            p->st = ST_CONT;
            return 0;
        }
        if (c == ' ' || c == '(' || c == '"' || c == '{' || c == '~' || c == ')' || c == ']')
            return fail(p, "response does not start with a tag");
        if (c == '\r' || c == '\n')
            return fail(p, "empty response line");
        return token_start(p, c);
    case ST_TOKEN: return token_start(p, c);
    case ST_AFTER_TOKEN: return structural(p, c);
    case ST_ATOM:
        if (p->bracket > 0) {
            if (c == '\r' || c == '\n' || c == '\0')
                return fail(p, "unterminated '[' in an atom");
            if (c == '[')
                p->bracket++;
            else if (c == ']')
                p->bracket--;
            arena_putc(p, (char)c);
            return 0;
        }
        if (c == ' ' || c == '\r' || c == '\n' || c == ')'
            || (c == ']' && p->code_node && p->cur == p->code_node)) {
            token_end(p);
            if (p->st == ST_STATUS) {
                if (c == ' ') {
                    p->st = ST_STATUS_SP;
                    return 0;
                }
                if (c == '\r' || c == '\n')
                    return line_end(p, c == '\r');
                return fail(p, "invalid character after status");
            }
            return structural(p, c);
        }
        if (c == '(' || c == '"' || is_ctl(c))
            return fail(p, "invalid character 0x%02x in an atom", c);
        if (c == '[')
            p->bracket = 1;
        arena_putc(p, (char)c);
        return 0;
    case ST_QUOTED:
        if (c == '"') {
            token_end(p);
            return 0;
        }
        if (c == '\\') {
            p->st = ST_QUOTED_ESC;
            return 0;
        }
        if (c == '\r' || c == '\n' || c == '\0')
            return fail(p, "unterminated quoted string");
        arena_putc(p, (char)c);
        return 0;
    case ST_QUOTED_ESC:
        if (c != '"' && c != '\\')
            return fail(p, "invalid escape in a quoted string");
        arena_putc(p, (char)c);
        p->st = ST_QUOTED;
        return 0;
    case ST_TILDE:
        if (c != '{') {
            /* not literal8: an atom that starts with '~' ("~/Mail/foo", RFC 3501 §7.2.2) */
            if (node_new(p, IMAP_ARG_ATOM, 1, &i) < 0)
                return IMAP_PARSE_ERROR;
            p->tok = i;
            p->bracket = 0;
            arena_putc(p, '~');
            p->st = ST_ATOM;
            return step(p, c);
        }
        p->lit8 = 1;
        p->lit_size = 0;
        p->lit_digits = 0;
        p->st = ST_LIT_NUM;
        return 0;
    case ST_LIT_NUM:
        if (c >= '0' && c <= '9') {
            p->lit_size = p->lit_size * 10 + (uint64_t)(c - '0');
            p->lit_digits++;
            if (p->lit_size > p->lim.max_literal || p->lit_digits > 20)
                return fail(p, "literal size over the limit of %llu bytes",
                            (unsigned long long)p->lim.max_literal);
            return 0;
        }
        if (p->lit_digits == 0)
            return fail(p, "literal without a size");
        if (c == '+') {
            p->st = ST_LIT_PLUS;
            return 0;
        }
        if (c == '}') {
            p->st = ST_LIT_CR;
            return 0;
        }
        return fail(p, "invalid literal announcement");
    case ST_LIT_PLUS:
        if (c != '}')
            return fail(p, "invalid literal announcement");
        p->st = ST_LIT_CR;
        return 0;
    case ST_LIT_CR:
        if (c == '\r') {
            p->st = ST_LIT_LF;
            return 0;
        }
        if (c == '\n')
            return literal_start(p);
        return fail(p, "literal announcement not followed by end of line");
    case ST_LIT_LF:
        if (c != '\n')
            return fail(p, "literal announcement not followed by end of line");
        return literal_start(p);
    case ST_STATUS:
        if (c == ' ') {
            p->st = ST_STATUS_SP;
            return 0;
        }
        if (c == '\r' || c == '\n')
            return line_end(p, c == '\r');
        return fail(p, "invalid character after status");
    case ST_STATUS_SP:
        if (c == '[') {
            if (node_new(p, IMAP_ARG_LIST, 0, &i) < 0)
                return IMAP_PARSE_ERROR;
            p->code_node = i;
            p->cur = i;
            p->depth++;
            p->st = ST_TOKEN;
            return 0;
        }
        if (c == '\r' || c == '\n')
            return line_end(p, c == '\r');
        text_begin(p);
        return step(p, c);
    case ST_AFTER_CODE:
        if (c == '\r' || c == '\n')
            return line_end(p, c == '\r');
        text_begin(p);
        if (c == ' ')
            return 0;
        return step(p, c);
    case ST_CONT:
        if (c == '\r' || c == '\n')
            return line_end(p, c == '\r');
        text_begin(p);
        if (c == ' ')
            return 0;
        return step(p, c);
    case ST_TEXT:
        if (c == '\r' || c == '\n') {
            p->text_len = p->arena_len - p->text_off;
            arena_putc(p, '\0');
            return line_end(p, c == '\r');
        }
        if (c == '\0')
            return fail(p, "NUL in response text");
        arena_putc(p, (char)c);
        return 0;
    case ST_EOL_LF:
        if (c != '\n')
            return fail(p, "CR not followed by LF");
        p->st = ST_DONE;
        return 0;
    case ST_LIT_DATA:
    case ST_DONE:
    case ST_ERROR: break;
    }
    return fail(p, "internal parser state");
}

static void view_place(struct imap_parser *p, size_t *pos, uint32_t ni)
{
    const struct pnode *n = &p->nodes[ni];
    struct imap_arg *a = &p->view[*pos];
    memset(a, 0, sizeof(*a));
    a->type = (enum imap_arg_type)n->type;
    if (a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_STRING || a->type == IMAP_ARG_LITERAL) {
        a->str = p->arena + n->off;
        a->len = n->len;
    }
    a->literal_size = n->lit_size;
    a->literal8 = n->literal8;
    a->count = n->nchild;
    p->map[*pos] = ni;
    (*pos)++;
}

static void view_children(struct imap_parser *p, size_t *pos, uint32_t ni)
{
    for (uint32_t c = p->nodes[ni].first_child; c; c = p->nodes[c].next)
        view_place(p, pos, c);
}

/* Build the pointer view of the nodes read so far. Strings of an unfinished token are
 * not NUL-terminated yet; a partial view is only used from literal callbacks, where
 * every token is finished. */
static void view_build(struct imap_parser *p)
{
    size_t pos = 0;
    if (p->view_cap < p->nnodes) {
        free(p->view);
        free(p->map);
        p->view_cap = p->nnodes + 16;
        p->view = xcalloc(p->view_cap, sizeof(*p->view));
        p->map = xcalloc(p->view_cap, sizeof(*p->map));
    }
    struct imap_response *r = &p->resp;
    memset(r, 0, sizeof(*r));
    view_children(p, &pos, 0);
    size_t ntop = pos;
    size_t code_start = pos;
    if (p->code_node)
        view_children(p, &pos, p->code_node);
    size_t ncode = pos - code_start;
    for (size_t i = 0; i < pos; i++) {
        if (p->view[i].type != IMAP_ARG_LIST)
            continue;
        p->view[i].list = &p->view[pos];
        view_children(p, &pos, p->map[i]);
    }
    r->tag = ntop > 0 ? p->view[0].str : "";
    r->args = ntop > 1 ? &p->view[1] : NULL;
    r->nargs = ntop > 1 ? ntop - 1 : 0;
    r->code = ncode ? &p->view[code_start] : NULL;
    r->ncode = ncode;
    r->text = p->have_text ? p->arena + p->text_off : "";
    r->text_len = p->have_text ? p->text_len : 0;
    if (p->is_cont)
        r->type = IMAP_RESP_CONTINUATION;
    else if (ntop > 0 && strcmp(r->tag, "*") == 0)
        r->type = IMAP_RESP_UNTAGGED;
    else
        r->type = IMAP_RESP_TAGGED;
    r->status = IMAP_STATUS_NONE;
    if (!p->is_cont && r->nargs > 0 && r->args[0].type == IMAP_ARG_ATOM)
        is_status_word(r->args[0].str, &r->status);
    if (r->status != IMAP_STATUS_NONE && r->nargs != 1)
        r->status = IMAP_STATUS_NONE; /* "* 1 OK": not a status response */
}

const struct imap_response *imap_parser_partial(struct imap_parser *p)
{
    view_build(p);
    return &p->resp;
}

const struct imap_response *imap_parser_response(struct imap_parser *p)
{
    return p->resp_valid ? &p->resp : NULL;
}

int imap_parser_feed(struct imap_parser *p, const char *data, size_t len, size_t *consumed_r)
{
    size_t i = 0;
    int rc = IMAP_PARSE_MORE;

    *consumed_r = 0;
    if (p->st == ST_ERROR)
        return IMAP_PARSE_ERROR;
    if (p->st == ST_DONE)
        reset_state(p);
    p->resp_valid = 0;
    while (i < len) {
        if (p->st == ST_LIT_DATA) {
            size_t n = len - i;
            if ((uint64_t)n > p->lit_left)
                n = (size_t)p->lit_left;
            if (n > 0) {
                if (p->lit_stream) {
                    if (p->cbs->chunk(p->cbs_ctx, data + i, n) < 0) {
                        rc = fail(p, "literal aborted by the consumer");
                        break;
                    }
                } else {
                    arena_put(p, data + i, n);
                }
                i += n;
                p->lit_left -= n;
            }
            if (p->lit_left == 0 && literal_done(p) < 0) {
                rc = IMAP_PARSE_ERROR;
                break;
            }
            continue;
        }
        if (++p->line_len > p->lim.max_line) {
            rc = fail(p, "response line too long (limit %zu bytes)", p->lim.max_line);
            break;
        }
        if (step(p, (unsigned char)data[i++]) < 0) {
            rc = IMAP_PARSE_ERROR;
            break;
        }
        /* An empty literal ends as soon as it is announced. */
        if (p->st == ST_LIT_DATA && p->lit_left == 0 && literal_done(p) < 0) {
            rc = IMAP_PARSE_ERROR;
            break;
        }
        if (p->st == ST_DONE) {
            view_build(p);
            p->resp_valid = 1;
            rc = IMAP_PARSE_COMPLETE;
            break;
        }
    }
    *consumed_r = i;
    return rc;
}
