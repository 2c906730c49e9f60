// web/errors.js (no browser needed):
//  - coded messages {code, params, text} worded from the catalogue of src/msg/msgcat.def (the
//    one GET /api/messages serves), in French and in English, nested ones included — the
//    reasons of a report's refused messages (reason_code, reason_params) among them;
//  - a text without a code (a job error, a log line or a report stored before codes) is shown
//    exactly as it was stored, in either language: nothing guesses a translation from English;
//  - what the regular-expression back-translation left behind is gone: no err.engine.* key
//    in web/i18n.js, every err.* key of the dictionaries still used by the UI, every code the
//    UI names exists in the catalogue, and the engine stores a refused message's reason coded.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const TOP = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const WEB = join(TOP, 'web');

// setLang() updates the page: a minimal stand-in for the document is enough here.
globalThis.document = { documentElement: {}, querySelectorAll: () => [] };
const i18n = await import(pathToFileURL(join(WEB, 'i18n.js')).href);
const errors = await import(pathToFileURL(join(WEB, 'errors.js')).href);
const { messageText, setMessages, loadMessages, errorBeside, plainText } = errors;

function inLang(lang, fn) {
    const before = i18n.getLang();
    i18n.setLang(lang);
    try { return fn(); } finally { i18n.setLang(before); }
}
const fr = (m) => inLang('fr', () => messageText(m));
const en = (m) => inLang('en', () => messageText(m));

// Every .js file of the UI but the dictionaries, as text.
function uiSources() {
    const out = [];
    const walk = (dir) => {
        for (const e of readdirSync(dir, { withFileTypes: true })) {
            const p = join(dir, e.name);
            if (e.isDirectory()) walk(p);
            else if (e.name.endsWith('.js') && p !== join(WEB, 'i18n.js')) out.push(readFileSync(p, 'utf8'));
        }
    };
    walk(WEB);
    return out.join('\n');
}

// Texts stored before codes (or words the server sent without one), English among them.
const UNCODED = [
    'connection refused by 127.0.0.1:9',
    'the source server did not deliver the message: the server returned no body (NIL)',
    '[TOOBIG] message of 52428800 bytes is over the server\'s APPENDLIMIT of 35882577 bytes',
    'NO [OVERQUOTA] Quota exceeded {x}',
    'something new went wrong',
    '',
];

test('a text without a code is shown exactly as it was stored, in both languages', () => {
    setMessages(catalogueOf());
    for (const raw of UNCODED) {
        for (const lang of ['fr', 'en']) {
            inLang(lang, () => {
                assert.equal(plainText(raw), raw);
                assert.equal(messageText(raw), raw, `plain string (${lang}): ${raw}`);
                assert.equal(messageText({ code: 'text', params: { text: raw }, text: raw }), raw, `code text (${lang})`);
                assert.equal(errorBeside({ ok: false, error: raw }), raw, `beside (${lang})`);
            });
        }
    }
    assert.equal(plainText(null), '');
    assert.equal(plainText(undefined), '');
    assert.equal(fr(null), '');
    assert.equal(errorBeside({ ok: true, error: null }), '');
    setMessages(null);
});

test('the regular-expression back-translation is gone: no engine form, no err.engine.* key', () => {
    assert.equal(errors.ENGINE_FORMS, undefined, 'web/errors.js exports no ENGINE_FORMS');
    assert.equal(errors.engineText, undefined, 'web/errors.js exports no engineText');
    const dicts = readFileSync(join(WEB, 'i18n.js'), 'utf8');
    assert.deepEqual([...dicts.matchAll(/'(err\.engine\.[\w.]+)'/g)].map((m) => m[1]), [], 'err.engine.* keys left in web/i18n.js');
    // Every err.* key of the dictionaries is still used by the UI (once per dictionary).
    const ui = uiSources();
    const keys = [...new Set([...dicts.matchAll(/^\s*'(err\.[\w.]+)':/gm)].map((m) => m[1]))];
    assert.ok(keys.length >= 5, `found ${keys.length} err.* keys`);
    for (const key of keys) {
        assert.ok(ui.includes(`'${key}'`), `${key} is not used by the UI any more`);
        assert.equal(dicts.split(`'${key}':`).length - 1, 2, `${key} once per dictionary`);
        for (const lang of ['fr', 'en']) assert.notEqual(inLang(lang, () => i18n.t(key)), key);
    }
});

test('every code the UI names exists in the catalogue', () => {
    const cat = catalogueOf();
    const ui = uiSources();
    const named = new Set([...ui.matchAll(/(?<!typeof\s+[\w.]*)\bcode\s*(?:===|!==|==|!=|:)\s*'([a-z][a-z0-9_]*)'/g)].map((m) => m[1]));
    assert.ok(named.has('text'), 'the UI names code text');
    for (const code of named) assert.ok(Object.hasOwn(cat, code), `code ${code} is not in src/msg/msgcat.def`);
});

test('a refused message\'s reason is stored coded by the engine, never as English prose', () => {
    // The text-only writer of the message map (db_msgmap_mark_failed) is not used by the
    // engine; its refusals go through db_msgmap_mark_failed_msg with a coded message.
    const dir = join(TOP, 'src/migrate');
    const src = readdirSync(dir).filter((f) => f.endsWith('.c')).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
    assert.ok(src.includes('db_msgmap_mark_failed_msg('), 'the engine records refusals with their code');
    assert.equal([...src.matchAll(/db_msgmap_mark_failed\s*\(/g)].length, 0, 'a refusal recorded as a text without code');
    // The reasons' old English forms are catalogue templates now, not format strings.
    const engine = ['src/migrate/mig_copy.c', 'src/imap/imap_fetch.c', 'src/imap/imap_append.c']
        .map((f) => readFileSync(join(TOP, f), 'utf8')).join('\n');
    const cat = catalogueOf();
    for (const code of ['msg_no_body', 'msg_body_nil', 'msg_body_unusable', 'msg_too_big_imap',
        'msg_over_appendlimit', 'msg_not_delivered', 'msg_dest_refused', 'msg_dest_refused_said',
        'msg_left_out', 'msg_spool_limit', 'msg_spool_create', 'msg_spool_write']) {
        assert.ok(Object.hasOwn(cat, code), `${code} in the catalogue`);
        const id = code.toUpperCase();
        assert.ok(new RegExp(String.raw`\bMSG_${id}\b`).test(engine) || new RegExp(String.raw`\b${id}\b`).test(engine), `${code} used by the engine`);
        const words = cat[code].en.split(/\{\w+\}/)[0];
        if (words.length > 12) assert.ok(!engine.includes(`"${words}`), `English of ${code} still written in the engine`);
    }
});

test('refused messages\' reasons read in the UI\'s language, the servers\' own words kept', () => {
    setMessages(catalogueOf());
    const cases = [
        [{ code: 'msg_left_out', params: { n: 3 } },
            'the source server does not send this message (its answer to UID FETCH left it out 3 times)',
            'le serveur source ne transmet pas ce message (il l\'a omis 3 fois de sa réponse à UID FETCH)'],
        [{ code: 'msg_not_delivered', params: { why: { code: 'msg_body_nil', params: {} } } },
            'the source server did not deliver the message: the server returned no body (NIL)',
            'le serveur source n\'a pas transmis le message : le serveur n\'a renvoyé aucun contenu (NIL)'],
        [{ code: 'msg_not_delivered', params: { why: { code: 'msg_no_body', params: {} } } },
            'the source server did not deliver the message: no body',
            'le serveur source n\'a pas transmis le message : aucun contenu'],
        [{ code: 'msg_over_appendlimit', params: { size: 52428800, max: 35882577 } },
            '[TOOBIG] message of 52428800 bytes is over the server\'s APPENDLIMIT of 35882577 bytes',
            '[TOOBIG] message de 52428800 octets, au-delà de la limite APPENDLIMIT du serveur (35882577 octets)'],
        [{ code: 'msg_too_big_imap', params: { size: 5000000000 } },
            'message of 5000000000 bytes is too big for IMAP', 'message de 5000000000 octets, trop gros pour IMAP'],
        [{ code: 'msg_dest_refused', params: {} }, 'refused by the destination', 'refusé par la destination'],
        // Braces in the servers' words are not placeholders.
        [{ code: 'msg_dest_refused_said', params: { server: 'NO [LIMIT] Mail size is too large {x}' } },
            'refused by the destination: NO [LIMIT] Mail size is too large {x}',
            'refusé par la destination : NO [LIMIT] Mail size is too large {x}'],
        [{ code: 'msg_not_delivered', params: { why: { code: 'text', params: { text: 'a reason nobody knows' } } } },
            'the source server did not deliver the message: a reason nobody knows',
            'le serveur source n\'a pas transmis le message : a reason nobody knows'],
    ];
    for (const [m, wantEn, wantFr] of cases) {
        assert.equal(en(m), wantEn);
        assert.equal(fr(m), wantFr);
    }
    setMessages(null);
});

// ---- coded messages (src/msg/msgcat.def, served by GET /api/messages) ----

// The catalogue as the binary serves it, read from its only source.
function catalogueOf() {
    const def = readFileSync(join(TOP, 'src/msg/msgcat.def'), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '');
    const lit = String.raw`"(?:[^"\\]|\\.)*"`;
    const str = String.raw`((?:${lit}\s*)+)`;
    const re = new RegExp(String.raw`MSG\(\s*(\w+),\s*(${lit}),\s*(\d+),\s*(${lit}),\s*${str},\s*${str}\)`, 'g');
    const join_ = (s) => [...s.matchAll(new RegExp(lit, 'g'))].map((m) => JSON.parse(m[0])).join('');
    const cat = {};
    for (const m of def.matchAll(re)) {
        const names = JSON.parse(m[4]);
        cat[JSON.parse(m[2])] = { params: names ? names.split(',') : [], en: join_(m[5]), fr: join_(m[6]) };
    }
    return cat;
}

test('coded messages read in the UI\'s language from the catalogue, nested ones too', async () => {
    const cat = catalogueOf();
    assert.ok(Object.keys(cat).length > 15, 'catalogue read');
    for (const [code, e] of Object.entries(cat)) {
        assert.ok(e.en && e.fr, `${code}: both languages`);
        assert.equal(e.params.length, new Set([...e.en.matchAll(/\{(\w+)\}/g)].map((x) => x[1])).size, `${code} en`);
    }
    // Before the catalogue is loaded: the server's text.
    setMessages(null);
    const cancelled = { code: 'cancelled', params: {}, text: 'cancelled' };
    assert.equal(fr(null), '');
    assert.equal(inLang('fr', () => messageText(cancelled)), 'cancelled');
    // loadMessages() fetches GET /api/messages once.
    let asked = 0;
    await loadMessages(async (url) => { asked++; assert.equal(url, '/api/messages'); return { ok: true, json: async () => cat }; });
    await loadMessages(async () => { asked++; return { ok: false }; });
    assert.equal(asked, 1);
    assert.equal(inLang('fr', () => messageText(cancelled)), 'tâche annulée');
    assert.equal(inLang('en', () => messageText(cancelled)), 'cancelled');
    const retry = {
        code: 'attempt_failed',
        params: { attempt: 2, delay: 120, why: { code: 'internal_error', params: { why: { code: 'net_refused', params: { where: 'h.test:993' } } } } },
        text: 'attempt 2 failed (internal error: connection refused by h.test:993); next attempt in 120 s',
    };
    assert.equal(inLang('fr', () => messageText(retry)),
        'tentative 2 échouée (erreur interne : connexion refusée par h.test:993) ; nouvelle tentative dans 120 s');
    assert.equal(inLang('en', () => messageText(retry)), retry.text);
    const folder = { code: 'log_folder_done', params: { folder: 'Boîte {x}', copied: 12, already: 0, refused: 1 }, text: '' };
    assert.equal(inLang('fr', () => messageText(folder)), 'dossier Boîte {x} : 12 copié(s), 0 déjà présent(s), 1 refusé(s)');
    assert.equal(inLang('en', () => messageText(folder)), 'folder Boîte {x}: 12 copied, 0 already there, 1 refused');
    // A text without a code (stored before codes): as it is.
    assert.equal(inLang('fr', () => messageText({ code: 'text', params: { text: 'connection refused by h:1' }, text: 'connection refused by h:1' })),
        'connection refused by h:1');
    // A code this page does not know (a later server): the server's text.
    assert.equal(inLang('fr', () => messageText({ code: 'brand_new', params: {}, text: 'texte du serveur' })), 'texte du serveur');
    // The engine's connection errors: coded, the inner error (net_*, the server's words) nested.
    const unreachable = {
        code: 'source_unreachable',
        params: { hp: '127.0.0.1:9', why: { code: 'net_refused', params: { where: '127.0.0.1:9' } } },
        text: 'cannot connect to source server 127.0.0.1:9: connection refused by 127.0.0.1:9',
    };
    assert.equal(inLang('fr', () => messageText(unreachable)),
        'connexion impossible au serveur source 127.0.0.1:9 : connexion refusée par 127.0.0.1:9');
    assert.equal(inLang('en', () => messageText(unreachable)), unreachable.text);
    const auth = {
        code: 'source_auth_refused_gmail',
        params: { server: { code: 'text', params: { text: 'NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)' } } },
        text: '',
    };
    assert.equal(inLang('fr', () => messageText(auth)),
        'authentification refusée par le serveur source (NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)) ; pour Gmail, l\'accès IMAP doit être activé et un mot de passe d\'application utilisé (voir la page d\'aide Gmail / Yahoo)');
    const lane = { code: 'log_lane', params: { n: 2, line: { code: 'log_folder_done', params: { folder: 'Sent', copied: 3, already: 0, refused: 0 } } }, text: '' };
    assert.equal(inLang('fr', () => messageText(lane)), '[connexion 2] dossier Sent : 3 copié(s), 0 déjà présent(s), 0 refusé(s)');
    assert.equal(inLang('en', () => messageText(lane)), '[connection 2] folder Sent: 3 copied, 0 already there, 0 refused');
    // An error beside other members (« Tester la connexion », « Vérifier les accès »).
    assert.equal(inLang('fr', () => errorBeside({ ok: false, error: unreachable.text, code: unreachable.code, params: unreachable.params })),
        'connexion impossible au serveur source 127.0.0.1:9 : connexion refusée par 127.0.0.1:9');
    assert.equal(inLang('fr', () => errorBeside({ ok: false, error: 'connection refused by h:1' })), 'connection refused by h:1');
    assert.equal(errorBeside({ ok: true, error: null }), '');
    // A plain string (older answers): as it is.
    assert.equal(fr('connection refused by h:1'), 'connection refused by h:1');
    setMessages(null);
});
