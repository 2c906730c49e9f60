// JSON API client. The CSRF token lives only in memory (never in storage); every
// POST/DELETE carries it as X-CSRF-Token. A 401 anywhere sends the user back to
// the sign-in page through the handler set with onUnauthorized().

import { t, getLang } from './i18n.js';

let csrf = null;
let unauthorizedHandler = null;

export function setCsrf(token) { csrf = token || null; }
export function onUnauthorized(fn) { unauthorizedHandler = fn; }

export class ApiError extends Error {
    constructor(status, data, headers, kind) {
        super(kind === 'network' ? 'network' : `HTTP ${status}`);
        this.status = status;      // 0 when the server could not be reached
        this.data = data;          // parsed JSON body or null
        this.headers = headers;    // Headers or null
        this.kind = kind || 'http';
    }
}

async function send(method, path, opts) {
    const headers = { 'Accept': 'application/json', 'Accept-Language': getLang() };
    let body;
    if (opts.json !== undefined) {
        headers['Content-Type'] = 'application/json';
        body = JSON.stringify(opts.json);
    } else if (opts.body !== undefined) {
        headers['Content-Type'] = opts.contentType || 'application/octet-stream';
        body = opts.body;
    }
    if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-CSRF-Token'] = csrf;
    let res;
    try {
        res = await fetch(path, {
            method, headers, body, credentials: 'same-origin', cache: 'no-store',
            signal: opts.signal,
        });
    } catch (e) {
        if (e && e.name === 'AbortError') throw e;
        throw new ApiError(0, null, null, 'network');
    }
    let data = null;
    const type = res.headers.get('Content-Type') || '';
    if (type.includes('json')) {
        try { data = await res.json(); } catch (e) { data = null; }
    } else {
        try { await res.text(); } catch (e) { /* body not needed */ }
    }
    return { status: res.status, ok: res.ok, data, headers: res.headers };
}

// request('POST', '/api/jobs', {json: {...}}) → parsed JSON (or null) for 2xx,
// throws ApiError otherwise. opts.noAuthRedirect: do not treat 401 as "session expired"
// (sign-in and session probe).
export async function request(method, path, opts = {}) {
    let r = await send(method, path, opts);
    if (r.status === 403 && method !== 'GET' && !opts.noAuthRedirect) {
        // A stale CSRF token (e.g. the server restarted): fetch the session's token once
        // and try again if it changed.
        const before = csrf;
        try {
            const s = await send('GET', '/api/session', {});
            if (s.ok && s.data && s.data.csrf && s.data.csrf !== before) {
                csrf = s.data.csrf;
                r = await send(method, path, opts);
            }
        } catch (e) { /* keep the first answer */ }
    }
    if (r.ok) return r.data;
    const err = new ApiError(r.status, r.data, r.headers);
    if (r.status === 401 && !opts.noAuthRedirect && unauthorizedHandler) unauthorizedHandler();
    throw err;
}

export function retryAfter(err) {
    let n = NaN;
    if (err.headers) n = parseInt(err.headers.get('Retry-After') || '', 10);
    if (Number.isNaN(n) && err.data && err.data.retry_after !== undefined)
        n = parseInt(err.data.retry_after, 10);
    return Number.isNaN(n) ? null : Math.max(0, n);
}

// One human sentence for any failure.
export function errorText(err) {
    if (!(err instanceof ApiError)) return t('err.http', { status: '?' });
    if (err.kind === 'network') return t('err.network');
    const msg = err.data && typeof err.data.error === 'string' ? err.data.error : null;
    switch (err.status) {
    case 401: return msg || t('err.sessionExpired');
    case 403: return msg || t('err.forbidden');
    case 404: return msg || t('err.notFound');
    case 413: return t('err.fileTooLarge');
    case 429: {
        const n = retryAfter(err);
        return n === null ? t('err.tooManyNoDelay') : t('err.tooMany', { n });
    }
    default: return msg || t('err.http', { status: err.status });
    }
}

// The list form of a 422: [{field?, line?, column?, message}], or [] when absent.
export function errorList(err) {
    if (err instanceof ApiError && err.data && Array.isArray(err.data.errors))
        return err.data.errors.filter((e) => e && typeof e === 'object');
    return [];
}

// Show err in el, as a translatable message when it is one of ours (so a language switch
// updates it), or as the server's own words.
export function showErrorIn(el, err) {
    el.hidden = false;
    delete el.dataset.i18nArgs;
    if (err instanceof ApiError && err.kind === 'network') {
        el.dataset.i18n = 'err.network';
        el.textContent = t('err.network');
    } else if (err instanceof ApiError && err.status === 413) {
        el.dataset.i18n = 'err.fileTooLarge';
        el.textContent = t('err.fileTooLarge');
    } else {
        delete el.dataset.i18n;
        el.textContent = errorText(err);
    }
}
