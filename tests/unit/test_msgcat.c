/* The catalogue of message codes (src/msg/msgcat.def): every code worded in English and in
 * French with exactly its parameters; MB_MSG's texts, parameters and nesting; rendering. */
#define T_IMPLEMENTATION
#include "t.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/mb_err.h"
#include "msg/msgcat.h"

/* 1 if template t uses exactly the parameters of entry id, each at least once, and its
 * braces pair up. */
static int template_ok(int id, const char *t, const char *what)
{
    unsigned used = 0;
    int ok = 1;
    for (const char *p = t; *p; p++) {
        if (*p == '}') {
            fprintf(stderr, "  %s %s: stray '}'\n", msgcat[id].code, what);
            return 0;
        }
        if (*p != '{')
            continue;
        const char *close = strchr(p, '}');
        if (!close) {
            fprintf(stderr, "  %s %s: unclosed '{'\n", msgcat[id].code, what);
            return 0;
        }
        int k = msgcat_param_index(id, p + 1, (size_t)(close - p - 1));
        if (k < 0) {
            fprintf(stderr, "  %s %s: unknown parameter {%.*s}\n", msgcat[id].code, what,
                    (int)(close - p - 1), p + 1);
            ok = 0;
        } else {
            used |= 1u << k;
        }
        p = close;
    }
    for (unsigned k = 0; k < msgcat[id].n_params; k++)
        if (!(used & (1u << k))) {
            fprintf(stderr, "  %s %s: parameter %u not used\n", msgcat[id].code, what, k);
            ok = 0;
        }
    return ok;
}

static void test_catalogue(void)
{
    T_BEGIN("every code has an English and a French text with exactly its parameters");
    T_ASSERT(MSG_COUNT > 10);
    T_ASSERT_STR(msgcat[MSG_TEXT].code, "text");
    for (int i = 0; i < MSG_COUNT; i++) {
        const struct msgcat_entry *e = &msgcat[i];
        T_ASSERT(e->code && e->code[0]);
        for (const char *p = e->code; *p; p++)
            T_ASSERT(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_');
        for (int j = 0; j < i; j++)
            if (strcmp(msgcat[j].code, e->code) == 0) {
                fprintf(stderr, "  code %s twice\n", e->code);
                T_ASSERT(0);
            }
        T_ASSERT_INT(msgcat_find(e->code), i);
        /* names: n_params of them, distinct, [a-z_]+ */
        unsigned names = 0;
        const char *p = e->params;
        while (*p) {
            const char *end = strchr(p, ',');
            size_t n = end ? (size_t)(end - p) : strlen(p);
            T_ASSERT(n > 0);
            for (size_t k = 0; k < n; k++)
                T_ASSERT(islower((unsigned char)p[k]) || p[k] == '_');
            T_ASSERT_INT(msgcat_param_index(i, p, n), (int)names);
            names++;
            p += n + (end ? 1 : 0);
        }
        T_ASSERT_INT(names, e->n_params);
        T_ASSERT(e->n_params <= 8);
        if (!e->en || !e->en[0] || !e->fr || !e->fr[0]) {
            fprintf(stderr, "  %s: a language is missing\n", e->code);
            T_ASSERT(0);
            continue;
        }
        T_ASSERT(template_ok(i, e->en, "en"));
        T_ASSERT(template_ok(i, e->fr, "fr"));
        /* French typography: no ASCII quote pair, a space before ':' ';' '?' '!' */
        for (const char *q = e->fr; *q; q++) {
            if ((*q == ':' || *q == ';' || *q == '?' || *q == '!') && q > e->fr && q[-1] != ' '
                && q[1] == ' ') {
                fprintf(stderr, "  %s fr: no space before '%c'\n", e->code, *q);
                T_ASSERT(0);
            }
            if (*q == '"' && (q[1] == '{' || (q > e->fr && q[-1] == '}'))) {
                fprintf(stderr, "  %s fr: \" instead of « »\n", e->code);
                T_ASSERT(0);
            }
        }
    }
    T_END();
}

static void test_mb_msg(void)
{
    T_BEGIN("MB_MSG: English text, parameters as JSON, nested messages, texts without code");
    struct mb_err e, inner;
    T_ASSERT_INT(MB_MSG(&e, MB_ECONFIG, PROFILE_DELETED, "ovh \"pro\""), MB_ECONFIG);
    T_ASSERT_INT(e.code, MB_ECONFIG);
    T_ASSERT_STR(e.msg, "the source authentication profile \"ovh \"pro\"\" was deleted: choose "
                        "another one and retry");
    T_ASSERT_STR(mb_err_code(&e), "profile_deleted");
    T_ASSERT_STR(e.params, "{\"name\":\"ovh \\\"pro\\\"\"}");
    char *fr = msg_render_err(MSG_LANG_FR, &e);
    T_ASSERT_STR(fr, "l'accès administrateur « ovh \"pro\" » a été supprimé : choisissez-en un "
                     "autre et relancez");
    free(fr);

    /* numbers and a nested coded message */
    MB_MSG0(&inner, MB_ECONN, JOB_RESTART);
    MB_MSG(&e, 0, LOG_ATTEMPT_FAILED, 2, &inner, (long long)120);
    T_ASSERT_STR(e.msg, "attempt 2 failed (interrupted by a restart of the service); next attempt "
                        "in 120 s");
    T_ASSERT_STR(e.params, "{\"attempt\":2,\"why\":{\"code\":\"interrupted_restart\","
                           "\"params\":{}},\"delay\":120}");
    fr = msg_render_err(MSG_LANG_FR, &e);
    T_ASSERT_STR(fr, "tentative 2 échouée (interrompue par un redémarrage du service) ; nouvelle "
                     "tentative dans 120 s");
    free(fr);

    /* a text without a code nested: kept as a text; wrapping err itself */
    mb_err_set(&e, MB_ECONN, "connection refused by imap.example:993");
    T_ASSERT_STR(mb_err_code(&e), "text");
    char params[300];
    T_ASSERT_STR(mb_err_params(&e, params, sizeof(params)),
                 "{\"text\":\"connection refused by imap.example:993\"}");
    MB_MSG(&e, MB_ECONN, JOB_INTERNAL, &e);
    T_ASSERT_STR(e.msg, "internal error: connection refused by imap.example:993");
    T_ASSERT_STR(e.params, "{\"why\":{\"code\":\"text\",\"params\":{\"text\":\"connection refused "
                           "by imap.example:993\"}}}");
    fr = msg_render_err(MSG_LANG_FR, &e);
    T_ASSERT_STR(fr, "erreur interne : connection refused by imap.example:993");
    free(fr);

    /* too long: msg cut at a UTF-8 boundary, parameters cut shorter, still coded */
    char big[900];
    memset(big, 'a', sizeof(big));
    memcpy(big + 200, "é", 2);
    big[sizeof(big) - 1] = '\0';
    MB_MSG(&e, MB_EIO, JOB_OPTIONS, big);
    T_ASSERT(strlen(e.msg) < MB_ERR_LEN);
    T_ASSERT_STR(mb_err_code(&e), "job_options_invalid");
    T_ASSERT(strlen(e.params) < 500);
    T_ASSERT(MB_MSG(NULL, MB_EIO, JOB_OPTIONS, "x") == MB_EIO);
    T_END();
}

static void test_render(void)
{
    T_BEGIN("msg_render: stored code + params in each language; unknown codes, bad params");
    char *s = msg_render_alloc(MSG_LANG_FR, "log_folder_done",
                               "{\"folder\":\"INBOX\",\"copied\":12,\"already\":\"0\","
                               "\"refused\":1}",
                               NULL);
    T_ASSERT_STR(s, "dossier INBOX : 12 copié(s), 0 déjà présent(s), 1 refusé(s)");
    free(s);
    s = msg_render_alloc(MSG_LANG_EN, "log_folder_done",
                         "{\"folder\":\"INBOX\",\"copied\":12,\"already\":0,\"refused\":1}", NULL);
    T_ASSERT_STR(s, "folder INBOX: 12 copied, 0 already there, 1 refused");
    free(s);
    s = msg_render_alloc(MSG_LANG_FR, "no_such_code", "{}", "stored text");
    T_ASSERT_STR(s, "stored text");
    free(s);
    s = msg_render_alloc(MSG_LANG_FR, "cancelled", "[1]", "cancelled");
    T_ASSERT_STR(s, "cancelled");
    free(s);
    s = msg_render_alloc(MSG_LANG_FR, "cancelled", NULL, NULL);
    T_ASSERT_STR(s, "tâche annulée");
    free(s);
    s = msg_render_alloc(MSG_LANG_FR, "text", NULL, "old English text");
    T_ASSERT_STR(s, "old English text");
    free(s);
    /* a parameter missing renders empty; a nested unknown code renders as its code */
    s = msg_render_alloc(MSG_LANG_EN, "internal_error", "{\"why\":{\"code\":\"zz\"}}", NULL);
    T_ASSERT_STR(s, "internal error: zz");
    free(s);
    s = msg_render_alloc(MSG_LANG_EN, "internal_error", "{}", NULL);
    T_ASSERT_STR(s, "internal error: ");
    free(s);
    struct buf b;
    buf_init(&b, 1 << 20);
    msgcat_write_json(&b);
    T_ASSERT(strstr(buf_cstr(&b), "\"cancelled\":{\"params\":[],\"en\":\"cancelled\","
                                  "\"fr\":\"tâche annulée\"}"));
    T_ASSERT(strstr(buf_cstr(&b), "\"params\":[\"attempt\",\"why\",\"delay\"]"));
    buf_fini(&b);
    T_END();
}

static void test_lang(void)
{
    T_BEGIN("language of a process (LC_ALL, LC_MESSAGES, LANG) and of a request");
    unsetenv("LC_ALL");
    unsetenv("LC_MESSAGES");
    setenv("LANG", "fr_FR.UTF-8", 1);
    T_ASSERT_INT(msg_lang_from_env(), MSG_LANG_FR);
    setenv("LC_MESSAGES", "C", 1);
    T_ASSERT_INT(msg_lang_from_env(), MSG_LANG_EN);
    setenv("LC_ALL", "fr_CA.UTF-8", 1);
    T_ASSERT_INT(msg_lang_from_env(), MSG_LANG_FR);
    setenv("LC_ALL", "french", 1);
    T_ASSERT_INT(msg_lang_from_env(), MSG_LANG_EN);
    setenv("LC_ALL", "fr", 1);
    T_ASSERT_INT(msg_lang_from_env(), MSG_LANG_FR);
    unsetenv("LC_ALL");
    unsetenv("LC_MESSAGES");
    unsetenv("LANG");
    T_ASSERT_INT(msg_lang_from_env(), MSG_LANG_EN);
    T_ASSERT_INT(msg_lang_from_accept(NULL), MSG_LANG_EN);
    T_ASSERT_INT(msg_lang_from_accept("fr"), MSG_LANG_FR);
    T_ASSERT_INT(msg_lang_from_accept("fr-FR,fr;q=0.9,en;q=0.8"), MSG_LANG_FR);
    T_ASSERT_INT(msg_lang_from_accept("en-GB,fr;q=0.5"), MSG_LANG_EN);
    T_ASSERT_INT(msg_lang_from_accept("fry"), MSG_LANG_EN);
    T_END();
}

int main(void)
{
    static void (*const fns[])(void) = {test_catalogue, test_mb_msg, test_render, test_lang, NULL};
    return t_run(fns);
}
