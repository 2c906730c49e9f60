/* msgcat: catalogue tables and rendering (see msgcat.h). */
#include "msg/msgcat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mb_err.h"
#include "json/json_read.h"
#include "json/json_write.h"

const struct msgcat_entry msgcat[MSG_COUNT] = {
#define MSG(id, code, n, params, en, fr) [MSG_##id] = {code, n, params, en, fr},
#include "msg/msgcat.def"
#undef MSG
};

/* Nested coded messages deeper than this render as their code. */
#define MSG_MAX_DEPTH 8
#define MSG_RENDER_MAX (64u * 1024)

int msgcat_find(const char *code)
{
    if (!code)
        return -1;
    for (int i = 0; i < MSG_COUNT; i++)
        if (strcmp(msgcat[i].code, code) == 0)
            return i;
    return -1;
}

int msgcat_param_index(int id, const char *name, size_t len)
{
    if (id < 0 || id >= MSG_COUNT)
        return -1;
    const char *p = msgcat[id].params;
    for (int i = 0; *p; i++) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && memcmp(p, name, len) == 0)
            return i;
        if (!end)
            break;
        p = end + 1;
    }
    return -1;
}

const char *msgcat_template(int id, enum msg_lang lang)
{
    if (id < 0 || id >= MSG_COUNT)
        return "";
    return lang == MSG_LANG_FR ? msgcat[id].fr : msgcat[id].en;
}

/* fr, fr_FR.UTF-8, fr_CA, fr.UTF-8, fr@euro... */
static enum msg_lang lang_of_locale(const char *s)
{
    return strncmp(s, "fr", 2) == 0 && (s[2] == '\0' || strchr("_.@", s[2])) ? MSG_LANG_FR
                                                                             : MSG_LANG_EN;
}

enum msg_lang msg_lang_from_env(void)
{
    static const char *const vars[] = {"LC_ALL", "LC_MESSAGES", "LANG"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return lang_of_locale(v);
    }
    return MSG_LANG_EN;
}

enum msg_lang msg_lang_from_accept(const char *al)
{
    if (!al)
        return MSG_LANG_EN;
    while (*al == ' ' || *al == '\t')
        al++;
    if (strncasecmp(al, "fr", 2) == 0
        && (al[2] == '\0' || al[2] == '-' || al[2] == ',' || al[2] == ';' || al[2] == ' '))
        return MSG_LANG_FR;
    return MSG_LANG_EN;
}

static void render_params(struct buf *out, enum msg_lang lang, int id,
                          const struct json_value *params, int depth);

/* A parameter's value: a string, a number, or a coded message {"code", "params"}. */
static void render_value(struct buf *out, enum msg_lang lang, const struct json_value *v, int depth)
{
    if (!v)
        return;
    switch (v->type) {
    case JSON_STRING:
    case JSON_NUMBER: buf_append(out, v->str, v->len); break;
    case JSON_BOOL: buf_puts(out, v->boolean ? "true" : "false"); break;
    case JSON_OBJECT: {
        const char *code = NULL;
        json_get_str(v, "code", &code);
        int id = msgcat_find(code);
        if (id < 0 || depth >= MSG_MAX_DEPTH)
            buf_puts(out, code ? code : "");
        else
            render_params(out, lang, id, json_obj_get(v, "params"), depth + 1);
        break;
    }
    default: break;
    }
}

static void render_params(struct buf *out, enum msg_lang lang, int id,
                          const struct json_value *params, int depth)
{
    const char *t = msgcat_template(id, lang);
    while (*t) {
        const char *open = strchr(t, '{');
        const char *close = open ? strchr(open, '}') : NULL;
        if (!open || !close) {
            buf_puts(out, t);
            return;
        }
        buf_append(out, t, (size_t)(open - t));
        int k = msgcat_param_index(id, open + 1, (size_t)(close - open - 1));
        if (k < 0) {
            buf_append(out, open, (size_t)(close - open + 1)); /* not a parameter */
        } else if (params && params->type == JSON_OBJECT) {
            char name[64];
            snprintf(name, sizeof(name), "%.*s", (int)(close - open - 1), open + 1);
            render_value(out, lang, json_obj_get(params, name), depth);
        }
        t = close + 1;
    }
}

void msg_render(struct buf *out, enum msg_lang lang, const char *code, const char *params,
                const char *fallback)
{
    int id = msgcat_find(code);
    struct json_value *v = NULL;
    struct mb_err err;
    if (id >= 0 && params && *params
        && (json_parse(params, strlen(params), NULL, &v, &err) != 0 || v->type != JSON_OBJECT))
        id = -1;
    if (id >= 0 && (!params || !*params) && msgcat[id].n_params > 0 && fallback)
        id = -1; /* e.g. a text without a code: the fallback is the text */
    if (id < 0)
        buf_puts(out, fallback ? fallback : code ? code : "");
    else
        render_params(out, lang, id, v, 0);
    json_free(&v);
}

char *msg_render_alloc(enum msg_lang lang, const char *code, const char *params,
                       const char *fallback)
{
    struct buf b;
    buf_init(&b, MSG_RENDER_MAX);
    msg_render(&b, lang, code, params, fallback);
    char *s = buf_take(&b, NULL);
    buf_fini(&b);
    return s ? s : calloc(1, 1);
}

char *msg_render_err(enum msg_lang lang, const struct mb_err *err)
{
    if (err->msg_id <= MSG_TEXT || err->msg_id >= MSG_COUNT || !err->params[0])
        return msg_render_alloc(lang, "text", NULL, err->msg);
    return msg_render_alloc(lang, msgcat[err->msg_id].code, err->params, err->msg);
}

void msgcat_write_json(struct buf *out)
{
    struct json_w w;
    json_w_init(&w, out);
    json_w_obj_begin(&w);
    for (int i = 0; i < MSG_COUNT; i++) {
        json_w_key(&w, msgcat[i].code);
        json_w_obj_begin(&w);
        json_w_key(&w, "params");
        json_w_arr_begin(&w);
        const char *p = msgcat[i].params;
        while (*p) {
            const char *end = strchr(p, ',');
            size_t n = end ? (size_t)(end - p) : strlen(p);
            json_w_strn(&w, p, n);
            p += n + (end ? 1 : 0);
        }
        json_w_arr_end(&w);
        json_w_kv_str(&w, "en", msgcat[i].en);
        json_w_kv_str(&w, "fr", msgcat[i].fr);
        json_w_obj_end(&w);
    }
    json_w_obj_end(&w);
}
