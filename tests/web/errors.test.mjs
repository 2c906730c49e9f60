// web/errors.js (no browser needed):
//  - coded messages {code, params, text} worded from the catalogue of src/msg/msgcat.def (the
//    one GET /api/messages serves), in French and in English, nested ones included;
//  - the engine's English texts not coded yet shown in French:
//    realistic texts, as the engine builds them, give the expected French sentences with
//    their variable parts (host:port, addresses, the servers' words) kept;
//  - in English every known form gives back the stored text exactly; unknown texts pass as
//    they are;
//  - every format string that can reach a task's error in the C sources (src/migrate,
//    src/net/net_conn.c, src/imap) is recognised, or listed here as internal — the codes the
//    engine wraps as text (net_*, tls_*) by their English template — : a new or
//    reworded engine text makes this test fail until it is coded (src/msg/msgcat.def) or
//    web/i18n.js follows.

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
const { engineText, ENGINE_FORMS, messageText, setMessages, loadMessages, errorBeside } = await import(pathToFileURL(join(WEB, 'errors.js')).href);

function inLang(lang, fn) {
    const before = i18n.getLang();
    i18n.setLang(lang);
    try { return fn(); } finally { i18n.setLang(before); }
}
const fr = (s) => inLang('fr', () => engineText(s));
const en = (s) => inLang('en', () => engineText(s));

// [engine text, expected French]
const EXAMPLES = [
    // a refused message's reason in a report (stored as English in the message map; the
    // catalogue's msg_left_out gives the same English)
    ['the source server does not send this message (its answer to UID FETCH left it out 3 times)',
        'le serveur source ne transmet pas ce message (il l\'a omis 3 fois de sa réponse à UID FETCH)'],
    ['the source server did not deliver the message: the server returned no body (NIL)',
        'le serveur source n\'a pas transmis le message : le serveur n\'a renvoyé aucun contenu (NIL)'],
    ['[TOOBIG] message of 52428800 bytes is over the server\'s APPENDLIMIT of 35882577 bytes',
        '[TOOBIG] message de 52428800 octets, au-delà de la limite APPENDLIMIT du serveur (35882577 octets)'],
    ['connection refused by 127.0.0.1:9', 'connexion refusée par 127.0.0.1:9'],
];

test('known engine texts read as French sentences, variable parts kept', () => {
    for (const [raw, want] of EXAMPLES) assert.equal(fr(raw), want, raw);
});

test('in English every known text comes back unchanged; unknown texts pass as they are', () => {
    for (const [raw] of EXAMPLES) assert.equal(en(raw), raw);
    for (const raw of ['NO [OVERQUOTA] Quota exceeded', 'something new went wrong', '',
        'the source server did not deliver the message: a reason nobody knows']) {
        assert.equal(en(raw), raw);
    }
    assert.equal(fr('NO [OVERQUOTA] Quota exceeded'), 'NO [OVERQUOTA] Quota exceeded');
    assert.equal(fr('something new went wrong'), 'something new went wrong');
    // A known frame around an unknown reason: the frame is translated, the reason kept.
    assert.equal(fr('the source server did not deliver the message: a reason nobody knows'),
        'le serveur source n\'a pas transmis le message : a reason nobody knows');
    assert.equal(fr(null), '');
    assert.equal(fr(undefined), '');
    // Braces in the servers' words are not placeholders.
    assert.equal(fr('the source server did not deliver the message: NO {weird} [x]'),
        'le serveur source n\'a pas transmis le message : NO {weird} [x]');
});

test('every form has its sentence in both dictionaries, with the same placeholders', () => {
    const src = readFileSync(join(WEB, 'i18n.js'), 'utf8');
    for (const [key, re] of ENGINE_FORMS) {
        const groups = new Set([...re.source.matchAll(/\(\?<(\w+)>/g)].map((m) => m[1]));
        for (const lang of ['fr', 'en']) {
            const v = inLang(lang, () => i18n.t(key));
            assert.equal(typeof v, 'string', `${lang} ${key}`);
            assert.notEqual(v, key, `${lang} ${key} exists`);
            const used = new Set([...v.matchAll(/\{(\w+)\}/g)].map((m) => m[1]));
            assert.deepEqual([...used].sort(), [...groups].sort(), `${lang} ${key} placeholders`);
        }
        assert.equal(src.split(`'${key}':`).length - 1, 2, `${key} once per dictionary`);
    }
});

// ---- the C sources ----

// The first string literal (adjacent literals joined) of every call of fns in src.
function formatsOf(src, fns) {
    const out = [];
    const re = new RegExp(String.raw`\b(${fns.join('|')})\s*\(`, 'g');
    let m;
    while ((m = re.exec(src))) {
        let i = m.index + m[0].length, depth = 1, run = [], first = null;
        while (i < src.length && depth > 0) {
            const c = src[i];
            if (c === '"') {
                let s = '';
                for (i++; src[i] !== '"'; i++) {
                    if (src[i] === '\\') { s += src[i] + src[i + 1]; i++; } else s += src[i];
                }
                run.push(s);
            } else if (c === '/' && src[i + 1] === '*') {
                i = src.indexOf('*/', i) + 1;
            } else if (c === '(') {
                depth++;
            } else if (c === ')') {
                depth--;
            } else if (c === ',' && depth === 1) {
                if (run.length && first === null) first = run.join('');
                run = [];
            }
            i++;
        }
        if (run.length && first === null) first = run.join('');
        if (first !== null) out.push(first.replace(/\\"/g, '"'));
    }
    return out;
}

function engineFormats() {
    const files = [
        ...readdirSync(join(TOP, 'src/migrate')).filter((f) => f.endsWith('.c')).map((f) => `src/migrate/${f}`),
        'src/net/net_conn.c', 'src/imap/imap_client.c',
        'src/imap/imap_append.c', 'src/imap/imap_fetch.c',
    ];
    const fns = ['mb_err_set', 'mb_err_setsys', 'imap_client_fail', 'db_job_finish', 'db_job_defer', 'skipped'];
    const all = new Set();
    for (const f of files) {
        const src = readFileSync(join(TOP, f), 'utf8');
        const extra = f.startsWith('src/migrate/') ? ['xasprintf'] : [];
        for (const fmt of formatsOf(src, [...fns, ...extra])) all.add(fmt);
    }
    // Coded messages the engine still wraps in its English texts (src/net/net_conn.c, the host
    // parser): their English templates, each {param} a %s.
    for (const [code, e] of Object.entries(catalogueOf())) {
        if (/^(net_|tls_|host_unknown$)/.test(code)) all.add(e.en.replace(/\{\w+\}/g, '%s'));
    }
    return all;
}

// Formats that never reach a customer as such (programming errors, local set-up, the
// mbedTLS / libc wording passed through), or whose pieces are covered by SAMPLES.
const INTERNAL = new Set([
    '%s', '%.*s', '%.150s', '%s: %s', '%s%s%s', 'TLS random generator: %s',
    'TLS configuration: %s', 'TLS setup: %s', 'TLS server name %s: %s', 'no host name',
    'host name too long (%zu bytes)', 'bad port %u for %s', 'TLS server name too long',
    'TLS already started with %s', 'transfer aborted by the caller', 'stopped by the caller',
    'command completed while its literal was not sent', 'a command argument contains a NUL byte',
    'command too long', 'an APPEND literal is being written', 'command line contains CR or LF',
    'no IMAP host', 'ID field not printable ASCII', 'SASL message too long',
    'user name or password too long', 'user name or token too long', 'invalid search criteria',
    'SEARCH answer with a non-numeric UID', 'logged out', 'previous APPEND not ended',
    'flag cannot be sent in APPEND', 'invalid INTERNALDATE', 'no APPEND in progress',
    'more message bytes than announced', 'APPEND ended with %llu bytes missing: connection abandoned',
    'APPEND not ended', 'invalid UID set', 'missing body callbacks', 'cannot read the spool file',
    'FETCH answer with a body but no UID',
    'no source password nor authentication profile',
    'a SELECT was sent and not finished', 'no SELECT was sent', 'cannot start a thread',
    'too many commands in flight',
]);

// Engine texts that src/jobs/job_run.c records as a code (DB_JOB_ERROR_CANCELLED: cancelled).
const CODED = new Set(['cancelled']);

// Formats whose %s takes a few fixed values: the texts they really give.
const SAMPLES = {
    // net_timeout_*: {secs} is "10 s", "1.5 s"
    'timed out after %s connecting to %s': ['timed out after 10 s connecting to h.test:993'],
    'timed out after %s waiting for %s': ['timed out after 0.3 s waiting for h.test:993'],
    'timed out after %s sending to %s': ['timed out after 30 s sending to [::1]:143'],
    'timed out after %s waiting for %s during TLS handshake': ['timed out after 10 s waiting for h.test:993 during TLS handshake'],
    'the source server did not deliver the message: %s': [
        'the source server did not deliver the message: no body',
        'the source server did not deliver the message: the server returned an unusable body',
    ],
};

// A text made from a format: every conversion becomes a word of its own (X1, X2...).
function sampleOf(fmt) {
    let n = 0;
    return fmt.replace(/%[-+ #0]*\d*(?:\.\d+)?(?:hh|h|ll|l|z|j|t)?[diouxXsc]/g, () => `X${++n}`);
}

function recognised(raw) {
    const f = fr(raw);
    return f !== raw && en(raw) === raw && !/\{\w+\}/.test(f)
        && (raw.match(/X\d/g) || []).every((x) => f.includes(x));
}

test('every engine message of the C sources is recognised (or known to be internal)', () => {
    const formats = engineFormats();
    assert.ok(formats.size > 60, `found ${formats.size} formats`);
    const missed = [];
    for (const fmt of formats) {
        if (INTERNAL.has(fmt) || CODED.has(fmt)) continue;
        for (const raw of SAMPLES[fmt] || [sampleOf(fmt)]) if (!recognised(raw)) missed.push(`${fmt}  →  ${raw}`);
    }
    assert.deepEqual(missed, [], 'engine messages without a French form (add them to web/errors.js and web/i18n.js)');
    const stale = [...INTERNAL, ...CODED, ...Object.keys(SAMPLES)].filter((fmt) => !formats.has(fmt));
    assert.deepEqual(stale, [], 'formats listed here but gone from the sources');
});

// The token endpoints' errors (src/auth/oauth.c, coded: oauth_*) reach a task's error wrapped in
// the engine's English: the common ones read as French sentences, and their fixed words are
// still those of the catalogue.
test('the OAuth2 token errors of src/auth/oauth.c read as French sentences', () => {
    // Their words live in the catalogue now (src/msg/msgcat.def), their choice in oauth.c.
    const src = (readFileSync(join(TOP, 'src/auth/oauth.c'), 'utf8')
        + readFileSync(join(TOP, 'src/msg/msgcat.def'), 'utf8')).replace(/"\s*\n\s*"/g, '');
    const texts = [
        "Microsoft 365 refused the client secret (AADSTS7000215): give the secret's Value, not its Secret ID, and check it has not expired (Entra ID > App registrations > Certificates & secrets)",
        'Microsoft 365: the client secret has expired (AADSTS7000222): create a new one in Entra ID > App registrations > Certificates & secrets',
        'Microsoft 365 does not know application 6f1c3a52 in this tenant (AADSTS700016): check the client ID and the tenant, and that an administrator of the tenant granted admin consent',
        'Google refused the service account (unauthorized_client): domain-wide delegation for its client ID with scope https://mail.google.com/ is missing or not yet propagated (up to 24 h) - Admin console > Security > API controls > Domain-wide delegation',
        'Google does not know the mailbox a@b.fr in this Workspace (invalid_grant: Invalid email or User ID)',
        "Google rejected the signed request (invalid_grant: Invalid JWT Signature.): check this machine's clock (NTP) and that the service-account key is still valid (not deleted in the Cloud console)",
        'the Google token endpoint is unavailable (HTTP 503): migrabox will try again later',
        'cannot get a token from 127.0.0.1: connection refused by 127.0.0.1:443',
    ];
    for (const raw of texts) {
        assert.notEqual(fr(raw), raw, `no French form: ${raw}`);
        assert.equal(en(raw), raw);
        const fixed = raw.split(/6f1c3a52|a@b\.fr|Invalid|503|127\.0\.0\.1|Google token|the Google/)[0].slice(0, 40);
        if (fixed.length > 10) assert.ok(src.includes(fixed), `still in oauth.c: ${fixed}`);
    }
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

test('coded messages read in the UI\'s language from the catalogue; nested and engine parts too', async () => {
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
        params: { attempt: 2, delay: 120, why: { code: 'internal_error', params: { why: { code: 'text', params: { text: 'connection refused by h.test:993' } } } } },
        text: 'attempt 2 failed (internal error: connection refused by h.test:993); next attempt in 120 s',
    };
    assert.equal(inLang('fr', () => messageText(retry)),
        'tentative 2 échouée (erreur interne : connexion refusée par h.test:993) ; nouvelle tentative dans 120 s');
    assert.equal(inLang('en', () => messageText(retry)), retry.text);
    const folder = { code: 'log_folder_done', params: { folder: 'Boîte {x}', copied: 12, already: 0, refused: 1 }, text: '' };
    assert.equal(inLang('fr', () => messageText(folder)), 'dossier Boîte {x} : 12 copié(s), 0 déjà présent(s), 1 refusé(s)');
    assert.equal(inLang('en', () => messageText(folder)), 'folder Boîte {x}: 12 copied, 0 already there, 1 refused');
    // A text without a code (an engine text, or stored before codes): its known forms in French.
    assert.equal(inLang('fr', () => messageText({ code: 'text', params: { text: 'connection refused by h:1' }, text: 'connection refused by h:1' })),
        'connexion refusée par h:1');
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
    assert.equal(inLang('fr', () => errorBeside({ ok: false, error: 'connection refused by h:1' })), 'connexion refusée par h:1');
    assert.equal(errorBeside({ ok: true, error: null }), '');
    // A plain string (older answers) goes through the engine forms.
    assert.equal(fr('connection refused by h:1'), 'connexion refusée par h:1');
    setMessages(null);
});
