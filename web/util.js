// Small DOM and formatting helpers. No innerHTML with data: text goes through
// textContent, so nothing the server or a CSV file holds can become markup.

import { t, locale } from './i18n.js';

// h('tag.class#id', {attrs}, children...) → element.
// attrs: 'class', 'text', 'i18n' (key), 'i18nArgs', 'i18nAttr', 'on' ({event: fn}),
// 'dataset', boolean properties (disabled, checked, hidden...), any other attribute.
export function h(spec, attrs = {}, ...children) {
    if (attrs instanceof Node || Array.isArray(attrs) || typeof attrs !== 'object' || attrs === null) {
        children.unshift(attrs);
        attrs = {};
    }
    const m = /^([a-z0-9]+)((?:[.#][\w-]+)*)$/i.exec(spec);
    if (!m) throw new Error('bad element spec ' + spec);
    const el = document.createElement(m[1]);
    for (const part of m[2].match(/[.#][\w-]+/g) || []) {
        if (part[0] === '.') el.classList.add(part.slice(1));
        else el.id = part.slice(1);
    }
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') {
            for (const c of String(v).split(/\s+/)) if (c) el.classList.add(c);
        } else if (k === 'text') {
            el.textContent = String(v);
        } else if (k === 'i18n') {
            el.dataset.i18n = v;
            const args = attrs.i18nArgs || {};
            if (attrs.i18nArgs) el.dataset.i18nArgs = JSON.stringify(args);
            el.textContent = t(v, args);
        } else if (k === 'i18nArgs') {
            // handled with i18n
        } else if (k === 'i18nAttr') {
            el.dataset.i18nAttr = Object.entries(v).map(([a, key]) => `${a}:${key}`).join(';');
            for (const [a, key] of Object.entries(v)) el.setAttribute(a, t(key));
        } else if (k === 'on') {
            for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
        } else if (k === 'dataset') {
            Object.assign(el.dataset, v);
        } else if (['disabled', 'checked', 'hidden', 'required', 'selected', 'open',
            'multiple', 'readOnly', 'value'].includes(k)) {
            el[k] = v;
        } else {
            el.setAttribute(k, v === true ? '' : String(v));
        }
    }
    append(el, children);
    return el;
}

function append(el, children) {
    for (const c of children) {
        if (c === null || c === undefined || c === false) continue;
        if (Array.isArray(c)) append(el, c);
        else if (c instanceof Node) el.appendChild(c);
        else el.appendChild(document.createTextNode(String(c)));
    }
}

export function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
}

export function replace(el, ...children) {
    clear(el);
    append(el, children);
    return el;
}

// Inline markup of the help text: **bold** and `code`, nothing else.
export function rich(text) {
    const out = [];
    const re = /\*\*(.+?)\*\*|`(.+?)`/g;
    let last = 0, m;
    while ((m = re.exec(text))) {
        if (m.index > last) out.push(text.slice(last, m.index));
        out.push(m[1] !== undefined ? h('strong', { text: m[1] }) : h('code', { text: m[2] }));
        last = re.lastIndex;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
}

export function fmtInt(n) {
    if (n === null || n === undefined || Number.isNaN(Number(n))) return t('none');
    return new Intl.NumberFormat(locale()).format(Number(n));
}

// Binary multiples, one decimal: 1,5 Mo / 1.5 MB.
export function fmtBytes(n) {
    if (n === null || n === undefined || Number.isNaN(Number(n))) return t('none');
    const units = t('size.units');
    let v = Number(n), i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    const digits = i === 0 || v >= 100 ? 0 : 1;
    const num = new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(v);
    return `${num}\u00a0${units[i]}`;
}

export function fmtDate(iso) {
    if (!iso) return t('none');
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return new Intl.DateTimeFormat(locale(), { dateStyle: 'short', timeStyle: 'medium' }).format(d);
}

// <time datetime="…">local date</time>
export function timeEl(iso) {
    if (!iso) return h('span', { text: t('none') });
    return h('time', { datetime: iso, title: iso, text: fmtDate(iso) });
}

// "14:05" (local time of an ISO date), for « reprise prévue à HH:MM ».
export function fmtTime(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit' }).format(d);
}

export function fmtDuration(fromIso, toIso) {
    if (!fromIso) return t('none');
    const a = new Date(fromIso).getTime();
    const b = toIso ? new Date(toIso).getTime() : Date.now();
    if (Number.isNaN(a) || Number.isNaN(b) || b < a) return t('none');
    let s = Math.round((b - a) / 1000);
    const hrs = Math.floor(s / 3600); s -= hrs * 3600;
    const min = Math.floor(s / 60); s -= min * 60;
    if (hrs) return `${hrs} h ${String(min).padStart(2, '0')} min`;
    if (min) return `${min} min ${String(s).padStart(2, '0')} s`;
    return `${s} s`;
}

// Messages accounted for: copied + skipped + failed, over messages_total.
export function progressOf(job) {
    const p = job.progress || {};
    const total = Number(p.messages_total) || 0;
    const done = (Number(p.messages_copied) || 0) + (Number(p.messages_skipped) || 0) +
        (Number(p.messages_failed) || 0);
    let pct = total > 0 ? Math.min(100, Math.floor((done * 100) / total)) : 0;
    if (job.state === 'done') pct = 100;
    return { total, done, pct, failed: Number(p.messages_failed) || 0 };
}

export const STATES = ['pending', 'running', 'failed', 'done'];
export const TYPES = ['gmail', 'exchange', 'office', 'domino', 'defaut'];
export const DEFAULT_HOSTS = { gmail: 'imap.gmail.com', office: 'outlook.office365.com' };

// Coloured badge with its text (never colour alone).
export function badge(state) {
    const known = STATES.includes(state);
    return h('span', {
        class: `badge badge-${known ? state : 'unknown'}`,
        i18n: known ? `state.${state}` : undefined,
        text: known ? undefined : String(state),
        i18nAttr: known ? { title: `state.${state}.desc` } : undefined,
        dataset: { state: String(state) },
    });
}

export function typeLabel(type) {
    return TYPES.includes(type) ? t(`type.${type}`) : String(type || t('none'));
}

export function hostLabel(job) {
    if (!job.source_host) return t('none');
    return job.source_port ? `${job.source_host}:${job.source_port}` : job.source_host;
}

// Debounce for the search box.
export function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
        clearTimeout(timer);
        timer = setTimeout(() => fn(...args), ms);
    };
}

// Runs fn now and then every `ms` after each run completes, only while the page is
// visible (paused when the tab is hidden, resumed at once when it shows again).
// onPause(hidden) is told about pauses. stop() ends it for good.
export function poller(fn, ms, onPause) {
    let timer = null, stopped = false, running = false, again = false;
    const schedule = () => {
        clearTimeout(timer);
        if (!stopped && !document.hidden) timer = setTimeout(tick, ms);
    };
    const tick = async () => {
        if (stopped) return;
        if (running) { again = true; return; }
        running = true;
        try { await fn(); } catch (e) { /* the callback shows its own errors */ }
        running = false;
        if (again && !stopped) { again = false; tick(); } else schedule();
    };
    const onVis = () => {
        if (onPause) onPause(document.hidden);
        if (document.hidden) clearTimeout(timer);
        else tick();
    };
    document.addEventListener('visibilitychange', onVis);
    tick();
    return {
        stop() { stopped = true; clearTimeout(timer); document.removeEventListener('visibilitychange', onVis); },
        now() { clearTimeout(timer); tick(); },
    };
}

// Put a translatable message in el (kept live across language switches).
export function setI18n(el, key, args) {
    el.dataset.i18n = key;
    if (args && Object.keys(args).length) el.dataset.i18nArgs = JSON.stringify(args);
    else delete el.dataset.i18nArgs;
    el.textContent = t(key, args || {});
    return el;
}

// Put a literal text (e.g. a server message) in el.
export function setRaw(el, text) {
    delete el.dataset.i18n;
    delete el.dataset.i18nArgs;
    el.textContent = text;
    return el;
}
