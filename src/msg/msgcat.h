/* msgcat: the catalogue of message codes (msgcat.def) and its rendering in English or French.
 *
 * A coded message is a stable code ("auth_refused", "cancelled"...) and its parameters, a JSON
 * object whose values are strings, numbers, or coded messages of their own
 * ({"code": ..., "params": {...}}). Errors carry one in struct mb_err (MB_MSG, base/mb_err.h);
 * the jobs' errors and log lines store one (code and params columns); the API, the CLI and
 * the web UI render it in the reader's language. The web UI gets the catalogue from
 * GET /api/messages (msgcat_write_json), so this file is the only place a message is worded.
 *
 * Ownership: msg_render* append to a caller's buffer or return an allocated string. */
#ifndef MB_MSGCAT_H
#define MB_MSGCAT_H

#include <stddef.h>

#include "base/buf.h"

enum msg_id {
#define MSG(id, code, n, params, en, fr) MSG_##id,
#include "msg/msgcat.def"
#undef MSG
    MSG_COUNT
};

/* MSGN_<ID>: the number of parameters of MSG_<ID> (checked against call sites by MB_MSG). */
enum msg_nparams {
#define MSG(id, code, n, params, en, fr) MSGN_##id = n,
#include "msg/msgcat.def"
#undef MSG
};

struct msgcat_entry {
    const char *code;
    unsigned n_params;
    const char *params; /* "host,why": names separated by commas, "" when none */
    const char *en;
    const char *fr;
};

extern const struct msgcat_entry msgcat[MSG_COUNT];

enum msg_lang { MSG_LANG_EN = 0, MSG_LANG_FR = 1 };

/* The id of code, or -1. */
int msgcat_find(const char *code);
/* Index (0-based) of parameter name (len bytes) of message id, or -1. */
int msgcat_param_index(int id, const char *name, size_t len);
/* The template of id in lang. */
const char *msgcat_template(int id, enum msg_lang lang);

/* The language of a process: the first non-empty of LC_ALL, LC_MESSAGES, LANG (the POSIX
 * order); French when it names a French locale (fr, fr_FR.UTF-8, fr_CA, fr.UTF-8...), else
 * English ("C", "POSIX", unset...). */
enum msg_lang msg_lang_from_env(void);
/* The language of an HTTP request: French when Accept-Language's first range is fr or fr-*,
 * else English (absent header: English). */
enum msg_lang msg_lang_from_accept(const char *accept_language);

/* Append the message (code, params: a JSON object, NULL or "" = none) rendered in lang.
 * An unknown code, or params that are not a JSON object, give fallback (when not NULL), else
 * the code itself. A missing parameter renders as an empty string. */
void msg_render(struct buf *out, enum msg_lang lang, const char *code, const char *params,
                const char *fallback);
/* Same, as an allocated string (free it). */
char *msg_render_alloc(enum msg_lang lang, const char *code, const char *params,
                       const char *fallback);

struct mb_err;
/* The coded message of err rendered in lang (err->msg when it has no code). Allocated. */
char *msg_render_err(enum msg_lang lang, const struct mb_err *err);

/* The catalogue as one JSON object {"code": {"params": [...], "en": ..., "fr": ...}, ...}
 * (GET /api/messages). */
void msgcat_write_json(struct buf *out);

#endif
