// Messages shown to a customer: a job's `error`, the lines of its log (« Journal »), the
// reasons of its report (a folder's, a refused message's), of « Tester la connexion » and of
// the importer.
//
// Coded messages. The server sends {code, params, text} (docs/API.md "Messages as codes"):
// messageText() words it in the UI's language from the catalogue of the binary itself
// (GET /api/messages, loaded once by loadMessages(); src/msg/msgcat.def is the only place a
// message is worded), with `text` (worded by the server in the language of the request) as
// the fallback while the catalogue is not loaded or for a code this page does not know.
// Parameters are strings and numbers shown as they are (the servers' own words among them),
// or coded messages of their own.
//
// A text without a code (code "text", or a plain string: a job error, a log line or a report
// written before codes existed) is shown exactly as it was stored: nothing here guesses a
// translation from its words.

import { getLang } from './i18n.js';

const MAX_DEPTH = 6;

// A text without a code, as it is; null and undefined give ''.
export function plainText(raw) {
    return raw === null || raw === undefined ? '' : String(raw);
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

// A message in the UI's language: a coded message {code, params, text}, or a plain string (a
// text stored before codes, or an answer of an older server: as it is). null and undefined
// give ''.
export function messageText(m, depth = 0) {
    if (m === null || m === undefined) return '';
    if (typeof m !== 'object') return plainText(m);
    if (depth > MAX_DEPTH) return typeof m.text === 'string' ? m.text : '';
    const params = m.params && typeof m.params === 'object' ? m.params : {};
    if (m.code === 'text') return plainText(typeof params.text === 'string' ? params.text : m.text);
    const r = render(m.code, params, depth);
    if (r !== null) return r;
    return typeof m.text === 'string' ? m.text : String(m.code || '');
}

// The error of an answer that puts it beside other members ({error: text, code, params}: the
// sides of « Tester la connexion », a profile's check, the rows of « Vérifier les accès »): in
// the UI's language from its code; the text as it is without one.
export function errorBeside(o) {
    if (!o || o.error === null || o.error === undefined) return '';
    if (typeof o.code === 'string' && o.code) return messageText({ code: o.code, params: o.params, text: o.error });
    return plainText(o.error);
}
