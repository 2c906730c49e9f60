// Messages shown to a customer: a job's `error`, the lines of its log (« Journal »), the
// reasons of « Tester la connexion » and of the importer.
//
// Coded messages. The server sends {code, params, text} (docs/API.md "Messages as codes"):
// messageText() words it in the UI's language from the catalogue of the binary itself
// (GET /api/messages, loaded once by loadMessages(); src/msg/msgcat.def is the only place a
// message is worded), with `text` (worded by the server in the language of the request) as
// the fallback while the catalogue is not loaded or for a code this page does not know.
// Parameters are strings and numbers shown as they are, or coded messages of their own.
//
// The engine's texts without a code (code "text"): the reasons of single refused messages
// (the report's failed messages, the log_msg_failed line's reason), a folder's reason in a
// report written before codes, and texts stored before codes (connection errors, options...)
// are English prose: engineText() recognises their known forms and gives the sentence in the
// UI's language (dictionary keys err.engine.*), keeping the variable parts: host:port,
// addresses, folder names and the servers' own words. Parts that are themselves engine texts
// (groups named `why` and `hint`) are translated in turn. Anything unknown is shown as it is.
// Each form goes away when its engine message becomes a code (docs/ARCHITECTURE.md "Messages
// as codes"). The net_* / tls_* forms also cover a broken connection's reason that reaches a
// folder as the text of a pipelined command's answer (imap_client_pipeline).
//
// The forms follow the format strings of src/migrate, src/net/net_conn.c and src/imap
// (tests/web/errors.test.mjs checks them against the C sources). In English each form gives
// back exactly the stored text.

import { t, getLang } from './i18n.js';

const HOST_PORT = String.raw`(?<hp>\S+)`;
const SECS = String.raw`(?<secs>\d+(?:\.\d)? s)`;

// [dictionary key, pattern over the whole English text]. First match wins.
export const ENGINE_FORMS = [
    // src/auth/oauth.c (token endpoints)
    ['err.engine.oauthSecretId', /^Microsoft 365 refused the client secret \(AADSTS7000215\): give the secret's Value, not its Secret ID, and check it has not expired \(Entra ID > App registrations > Certificates & secrets\)$/],
    ['err.engine.oauthSecretExpired', /^Microsoft 365: the client secret has expired \(AADSTS7000222\): create a new one in Entra ID > App registrations > Certificates & secrets$/],
    ['err.engine.oauthUnknownApp', /^Microsoft 365 does not know application (?<app>.*?) in this tenant \(AADSTS700016\): check the client ID and the tenant, and that an administrator of the tenant granted admin consent$/s],
    ['err.engine.oauthDelegation', /^Google refused the service account \(unauthorized_client\): domain-wide delegation for its client ID with scope https:\/\/mail\.google\.com\/ is missing or not yet propagated \(up to 24 h\) - Admin console > Security > API controls > Domain-wide delegation$/],
    ['err.engine.oauthNoMailbox', /^Google does not know the mailbox (?<login>.*?) in this Workspace \(invalid_grant: (?<server>.*)\)$/s],
    ['err.engine.oauthInvalidGrant', /^Google rejected the signed request \(invalid_grant: (?<server>.*)\): check this machine's clock \(NTP\) and that the service-account key is still valid \(not deleted in the Cloud console\)$/s],
    ['err.engine.oauthUnavailable', /^the (?<who>Google|Microsoft 365) token endpoint is unavailable \(HTTP (?<status>\d+)\): migrabox will try again later$/],
    ['err.engine.oauthCannotGet', /^cannot get a token from (?<host>\S+): (?<why>.*)$/s],
    // src/migrate/mig_run.c, mig_copy.c, mig_plan.c
    ['err.engine.notDelivered', /^the source server did not deliver the message: (?<why>.*)$/s],
    ['err.engine.leftOut', /^the source server does not send this message \(its answer to UID FETCH left it out (?<n>\S+) times\)$/],
    ['err.engine.destRefusedMsg', /^refused by the destination$/],
    // src/imap/imap_fetch.c, imap_append.c (reasons of refused messages)
    ['err.engine.noBody', /^the server returned no body \(NIL\)$/],
    ['err.engine.badBody', /^the server returned an unusable body$/],
    ['err.engine.noBodyShort', /^no body$/],
    ['err.engine.tooBig', /^message of (?<n>\S+) bytes is too big for IMAP$/],
    ['err.engine.overLimit', /^\[TOOBIG\] message of (?<n>\S+) bytes is over the server's APPENDLIMIT of (?<max>\S+) bytes$/],
    // src/net/net_conn.c
    ['err.engine.hostNotFound', /^host not found: (?<host>\S+)$/],
    ['err.engine.policy', /^the address of (?<host>\S+) is not allowed by the source policy$/],
    ['err.engine.cannotResolve', /^cannot resolve (?<host>\S+): (?<e>.*)$/s],
    ['err.engine.refused', new RegExp(String.raw`^connection refused by ${HOST_PORT}$`)],
    ['err.engine.reset', new RegExp(String.raw`^connection reset by ${HOST_PORT}$`)],
    ['err.engine.closedByTls', new RegExp(String.raw`^connection closed by server ${HOST_PORT} during TLS handshake$`)],
    ['err.engine.closedBy', new RegExp(String.raw`^connection closed by server ${HOST_PORT}$`)],
    ['err.engine.netUnreachable', new RegExp(String.raw`^network unreachable for ${HOST_PORT}$`)],
    ['err.engine.hostUnreachable', new RegExp(String.raw`^host unreachable: ${HOST_PORT}$`)],
    ['err.engine.tcpTimeout', new RegExp(String.raw`^timed out \(TCP\) talking to ${HOST_PORT}$`)],
    ['err.engine.timeoutConnect', new RegExp(String.raw`^timed out after ${SECS} connecting to ${HOST_PORT}$`)],
    ['err.engine.timeoutWaitTls', new RegExp(String.raw`^timed out after ${SECS} waiting for ${HOST_PORT} during TLS handshake$`)],
    ['err.engine.timeoutWait', new RegExp(String.raw`^timed out after ${SECS} waiting for ${HOST_PORT}$`)],
    ['err.engine.timeoutSend', new RegExp(String.raw`^timed out after ${SECS} sending to ${HOST_PORT}$`)],
    ['err.engine.limitConnect', new RegExp(String.raw`^time limit reached connecting to ${HOST_PORT}$`)],
    ['err.engine.limitWait', new RegExp(String.raw`^time limit reached waiting for ${HOST_PORT}$`)],
    ['err.engine.limitSend', new RegExp(String.raw`^time limit reached sending to ${HOST_PORT}$`)],
    ['err.engine.tlsMismatch', new RegExp(String.raw`^TLS with ${HOST_PORT}: host name mismatch: the certificate is not valid for (?<name>.*)$`, 's')],
    ['err.engine.tlsUntrusted', new RegExp(String.raw`^TLS with ${HOST_PORT}: certificate not trusted \((?<info>.*)\)$`, 's')],
    ['err.engine.tlsHandshake', new RegExp(String.raw`^TLS with ${HOST_PORT}: handshake failed: (?<e>.*)$`, 's')],
    ['err.engine.tlsFrom', new RegExp(String.raw`^TLS error from ${HOST_PORT}: (?<e>.*)$`, 's')],
    ['err.engine.tlsTo', new RegExp(String.raw`^TLS error to ${HOST_PORT}: (?<e>.*)$`, 's')],
    ['err.engine.caFile', /^cannot load CA file (?<ca>.*?): (?<e>.*)$/s],
];

// Groups holding an engine text of their own.
const NESTED = new Set(['why', 'hint']);
const MAX_DEPTH = 6;

// An engine text in the UI's language; raw itself when it is not a known form. null and
// undefined give ''.
export function engineText(raw, depth = 0) {
    if (raw === null || raw === undefined) return '';
    const text = String(raw);
    if (!text || depth > MAX_DEPTH) return text;
    for (const [key, re] of ENGINE_FORMS) {
        const m = re.exec(text);
        if (!m) continue;
        const args = {};
        for (const [name, value] of Object.entries(m.groups || {})) {
            const v = value === undefined ? '' : value;
            args[name] = NESTED.has(name) ? engineText(v, depth + 1) : v;
        }
        return t(key, args);
    }
    return text;
}

// ---- coded messages ----

let catalogue = null;

// The catalogue {code: {params: [...], en, fr}} (GET /api/messages, or a test's copy).
export function setMessages(cat) { catalogue = cat && typeof cat === 'object' ? cat : null; }

// Load the catalogue once; failures leave the server's texts in use.
export async function loadMessages(fetchFn = globalThis.fetch) {
    if (catalogue) return;
    try {
        const res = await fetchFn('/api/messages', { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
        if (res.ok) setMessages(await res.json());
    } catch (e) { /* the texts the server worded stay */ }
}

function render(code, params, depth) {
    const entry = catalogue && Object.prototype.hasOwnProperty.call(catalogue, code) ? catalogue[code] : null;
    if (!entry) return null;
    const template = entry[getLang()] || entry.en;
    if (typeof template !== 'string') return null;
    const p = params && typeof params === 'object' ? params : {};
    return template.replace(/\{(\w+)\}/g, (whole, name) => {
        if (!(entry.params || []).includes(name)) return whole;
        const v = p[name];
        if (v === null || v === undefined) return '';
        if (typeof v === 'object') return messageText(v, depth + 1);
        return String(v);
    });
}

// A message in the UI's language: a coded message {code, params, text}, or a plain string (an
// engine text, or an answer of an older server). null and undefined give ''.
export function messageText(m, depth = 0) {
    if (m === null || m === undefined) return '';
    if (typeof m !== 'object') return engineText(m);
    if (depth > MAX_DEPTH) return typeof m.text === 'string' ? m.text : '';
    const params = m.params && typeof m.params === 'object' ? m.params : {};
    if (m.code === 'text') return engineText(typeof params.text === 'string' ? params.text : m.text);
    const r = render(m.code, params, depth);
    if (r !== null) return r;
    return typeof m.text === 'string' ? m.text : String(m.code || '');
}

// The error of an answer that puts it beside other members ({error: text, code, params}: the
// sides of « Tester la connexion », a profile's check, the rows of « Vérifier les accès »): in
// the UI's language from its code; the text as it is (or its engine form) without one.
export function errorBeside(o) {
    if (!o || o.error === null || o.error === undefined) return '';
    if (typeof o.code === 'string' && o.code) return messageText({ code: o.code, params: o.params, text: o.error });
    return engineText(o.error);
}
