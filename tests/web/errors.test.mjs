// web/errors.js: the migration engine's English texts shown in French (no browser needed).
//  - realistic texts, as the engine builds them, give the expected French sentences with
//    their variable parts (host:port, addresses, the servers' words) kept;
//  - in English every known form gives back the stored text exactly; unknown texts pass as
//    they are;
//  - every format string that can reach a task's error in the C sources (src/migrate,
//    src/jobs, src/net/net_conn.c, src/imap) is recognised, or listed here as internal: a new
//    or reworded engine message makes this test fail until web/i18n.js follows.

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
const { engineText, ENGINE_FORMS } = await import(pathToFileURL(join(WEB, 'errors.js')).href);

function inLang(lang, fn) {
    const before = i18n.getLang();
    i18n.setLang(lang);
    try { return fn(); } finally { i18n.setLang(before); }
}
const fr = (s) => inLang('fr', () => engineText(s));
const en = (s) => inLang('en', () => engineText(s));

const GMAIL_HINT = 'for Gmail, IMAP must be enabled and an app password used (see the Gmail/Yahoo help page)';
const YAHOO_HINT = 'for Yahoo, IMAP access needs an app password generated in the account\'s security settings';
const GREETING = '; no IMAP greeting: if this port expects TLS from the first byte (usually 993), choose implicit TLS';

// [engine text, expected French]
const EXAMPLES = [
    [`authentication refused by the source server (NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)); ${GMAIL_HINT}`,
        'authentification refusée par le serveur source (NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)) ; pour Gmail, l\'accès IMAP doit être activé et un mot de passe d\'application utilisé (voir la page d\'aide Gmail / Yahoo)'],
    [`authentication refused by the source server (NO [AUTHENTICATIONFAILED] Authentication failed.); ${YAHOO_HINT}`,
        'authentification refusée par le serveur source (NO [AUTHENTICATIONFAILED] Authentication failed.) ; pour Yahoo, l\'accès IMAP demande un mot de passe d\'application, à créer dans les paramètres de sécurité du compte'],
    ['authentication refused by the source server (NO LOGIN failed.)',
        'authentification refusée par le serveur source (NO LOGIN failed.)'],
    ['destination mailbox does not exist: claire.martin@example.com',
        'la boîte de destination n\'existe pas : claire.martin@example.com'],
    ['cannot connect to source server imap.nowhere.test:993: host not found: imap.nowhere.test',
        'connexion impossible au serveur source imap.nowhere.test:993 : hôte introuvable : imap.nowhere.test'],
    ['cannot connect to source server 127.0.0.1:9: connection refused by 127.0.0.1:9',
        'connexion impossible au serveur source 127.0.0.1:9 : connexion refusée par 127.0.0.1:9'],
    [`cannot connect to source server mail.example.net:143: timed out after 10 s waiting for mail.example.net:143${GREETING}`,
        'connexion impossible au serveur source mail.example.net:143 : délai de 10 s dépassé en attendant mail.example.net:143 ; pas de message d\'accueil IMAP : si ce port attend TLS dès le premier octet (en général 993), choisissez « TLS implicite »'],
    ['cannot connect to source server 127.0.0.1:1993: TLS with 127.0.0.1:1993: certificate not trusted (The certificate is not correctly signed by the trusted CA)',
        'connexion impossible au serveur source 127.0.0.1:1993 : TLS avec 127.0.0.1:1993 : certificat non approuvé (The certificate is not correctly signed by the trusted CA)'],
    ['cannot connect to source server [2001:db8::1]:993: timed out after 1.5 s connecting to [2001:db8::1]:993',
        'connexion impossible au serveur source [2001:db8::1]:993 : délai de 1.5 s dépassé pour la connexion à [2001:db8::1]:993'],
    ['the destination platform refused the login as jean@example.com (the mailbox may not exist, or the master credential is wrong): NO [AUTHENTICATIONFAILED] Authentication failed.',
        'la plateforme de destination a refusé la connexion en tant que jean@example.com (la boîte n\'existe peut-être pas, ou l\'identifiant maître est erroné) : NO [AUTHENTICATIONFAILED] Authentication failed.'],
    ['cannot connect to the destination platform imap.example.com:993: connection reset by imap.example.com:993',
        'connexion impossible à la plateforme de destination imap.example.com:993 : connexion réinitialisée par imap.example.com:993'],
    ['source server imap.x.fr:143 does not offer STARTTLS (the server does not offer STARTTLS); choose TLS mode "none" only if you accept sending the password in clear',
        'le serveur source imap.x.fr:143 ne propose pas STARTTLS (le serveur ne propose pas STARTTLS) ; ne choisissez le mode TLS « Aucun » que si vous acceptez que le mot de passe soit envoyé en clair'],
    ['cancelled', 'tâche annulée'],
    ['waiting: too many migrations from this source host', 'en attente : trop de migrations en cours depuis ce serveur source'],
    ['the source password is no longer stored: retry with the password',
        'le mot de passe source n\'est plus conservé : relancez la tâche en saisissant le mot de passe'],
    ['interrupted by a restart of the service', 'interrompue par un redémarrage du service'],
    ['source server imap.gmail.com:993: connection closed by the server: BYE [UNAVAILABLE] Session expired',
        'serveur source imap.gmail.com:993 : connexion fermée par le serveur : BYE [UNAVAILABLE] Session expired'],
    ['the source server refused to send the messages of INBOX: NO Server Unavailable. 15',
        'le serveur source a refusé d\'envoyer les messages de INBOX : NO Server Unavailable. 15'],
    ['the source server did not deliver the message: the server returned no body (NIL)',
        'le serveur source n\'a pas transmis le message : le serveur n\'a renvoyé aucun contenu (NIL)'],
    ['[TOOBIG] message of 52428800 bytes is over the server\'s APPENDLIMIT of 35882577 bytes',
        '[TOOBIG] message de 52428800 octets, au-delà de la limite APPENDLIMIT du serveur (35882577 octets)'],
    ['internal error: database is locked', 'erreur interne : database is locked'],
    ['option since: not a date YYYY-MM-DD: "2024-02-30"', 'option since : « 2024-02-30 » n\'est pas une date AAAA-MM-JJ'],
    ['invalid job options: option folder_map: folder "Projets" mapped twice',
        'options de la tâche invalides : correspondance de dossiers : le dossier « Projets » apparaît deux fois'],
];

test('known engine texts read as French sentences, variable parts kept', () => {
    for (const [raw, want] of EXAMPLES) assert.equal(fr(raw), want, raw);
});

test('in English every known text comes back unchanged; unknown texts pass as they are', () => {
    for (const [raw] of EXAMPLES) assert.equal(en(raw), raw);
    for (const raw of ['NO [OVERQUOTA] Quota exceeded', 'something new went wrong', '',
        'cannot connect to source server h:993: a reason nobody knows']) {
        assert.equal(en(raw), raw);
    }
    assert.equal(fr('NO [OVERQUOTA] Quota exceeded'), 'NO [OVERQUOTA] Quota exceeded');
    assert.equal(fr('something new went wrong'), 'something new went wrong');
    // A known frame around an unknown reason: the frame is translated, the reason kept.
    assert.equal(fr('cannot connect to source server h:993: a reason nobody knows'),
        'connexion impossible au serveur source h:993 : a reason nobody knows');
    assert.equal(fr(null), '');
    assert.equal(fr(undefined), '');
    // Braces in the servers' words are not placeholders.
    assert.equal(fr('destination platform: NO {weird} [x]'), 'plateforme de destination : NO {weird} [x]');
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
        'src/jobs/jobs.c', 'src/jobs/job_run.c', 'src/net/net_conn.c', 'src/imap/imap_client.c',
        'src/imap/imap_append.c', 'src/imap/imap_fetch.c',
    ];
    const fns = ['mb_err_set', 'mb_err_setsys', 'imap_client_fail', 'db_job_finish', 'db_job_defer', 'skipped'];
    const all = new Set();
    for (const f of files) {
        const src = readFileSync(join(TOP, f), 'utf8');
        // job_run.c words a job's failure with xasprintf / xstrdup before db_job_finish.
        const extra = f.startsWith('src/migrate/') ? ['xasprintf'] : f === 'src/jobs/job_run.c' ? ['xasprintf', 'xstrdup'] : [];
        for (const fmt of formatsOf(src, [...fns, ...extra])) all.add(fmt);
    }
    const dbJob = readFileSync(join(TOP, 'src/db/db_job.h'), 'utf8');
    all.add(/#define DB_JOB_ERROR_CANCELLED "([^"]*)"/.exec(dbJob)[1]);
    return all;
}

// Formats that never reach a customer as such (programming errors, local set-up, the
// mbedTLS / libc wording passed through), or whose pieces are covered by SAMPLES.
const INTERNAL = new Set([
    '%s', '%s: %s', '%s%s%s', 'cannot start worker threads', 'cannot start the node thread', 'TLS random generator: %s',
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
    'a SELECT was sent and not finished', 'no SELECT was sent',
]);

// Formats whose %s takes a few fixed values: the texts they really give.
const SAMPLES = {
    'authentication refused by the source server (%.150s)%s%s': [
        'authentication refused by the source server (NO x)',
        `authentication refused by the source server (NO x); ${GMAIL_HINT}`,
        `authentication refused by the source server (NO x); ${YAHOO_HINT}`,
    ],
    'timed out after %s %s %s': [
        'timed out after 10 s connecting to h.test:993', 'timed out after 0.3 s waiting for h.test:993',
        'timed out after 30 s sending to [::1]:143',
    ],
    'time limit reached %s %s': [
        'time limit reached connecting to h.test:993', 'time limit reached waiting for h.test:993',
        'time limit reached sending to [::1]:143',
    ],
    'timed out after %s waiting for %s%s': [
        'timed out after 10 s waiting for h.test:993 during TLS handshake',
        'timed out after 10 s waiting for h.test:993',
    ],
    'connection closed by server %s%s': [
        'connection closed by server h.test:993 during TLS handshake', 'connection closed by server h.test:993',
    ],
    'connection closed by the server%s': [
        'connection closed by the server', 'connection closed by the server in the middle of a response',
    ],
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
        if (INTERNAL.has(fmt)) continue;
        for (const raw of SAMPLES[fmt] || [sampleOf(fmt)]) if (!recognised(raw)) missed.push(`${fmt}  →  ${raw}`);
    }
    assert.deepEqual(missed, [], 'engine messages without a French form (add them to web/errors.js and web/i18n.js)');
    const stale = [...INTERNAL, ...Object.keys(SAMPLES)].filter((fmt) => !formats.has(fmt));
    assert.deepEqual(stale, [], 'formats listed here but gone from the sources');
    const hints = readFileSync(join(TOP, 'src/migrate/mig_preset.c'), 'utf8') + readFileSync(join(TOP, 'src/migrate/mig_conn.c'), 'utf8');
    for (const hint of [GMAIL_HINT, YAHOO_HINT]) {
        const words = hint.split(' ').slice(0, 6).join(' ');
        assert.ok(hints.includes(words), `hint still in the sources: ${words}`);
        assert.notEqual(fr(hint), hint);
    }
});

// The token endpoints' errors (src/auth/oauth.c) reach a task's error as they are: the common
// ones read as French sentences, and their fixed words are still those of the C source.
test('the OAuth2 token errors of src/auth/oauth.c read as French sentences', () => {
    const src = readFileSync(join(TOP, 'src/auth/oauth.c'), 'utf8').replace(/"\s*\n\s*"/g, '');
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
