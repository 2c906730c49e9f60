// « Suivi des tâches »: GET /api/jobs?state=&batch=&q=&limit=&offset=, polled every
// 2 s while the page is visible; filters and page live in the hash
// (#/jobs?state=running&batch=3&q=foo&page=2); « Exporter en CSV » builds the file here.

import { t, onLangChange } from '../i18n.js';
import {
    h, replace, setI18n, setRaw, fmtInt, fmtBytes, fmtTime, timeEl, progressOf, badge, typeLabel,
    hostLabel, poller, debounce, STATES,
} from '../util.js';
import { messageText } from '../errors.js';
import { request, ApiError, showErrorIn } from '../api.js';
import { announce } from '../app.js';
import { actionButtons, relabelActions } from './actions.js';

const PAGE_SIZE = 25;
const EXPORT_PAGE = 200;
const EXPORT_MAX_PAGES = 500;

function filtersFromQuery(q) {
    const state = STATES.includes(q.get('state')) ? q.get('state') : '';
    const batch = /^\d+$/.test(q.get('batch') || '') ? q.get('batch') : '';
    const page = Math.max(1, parseInt(q.get('page') || '1', 10) || 1);
    let limit = parseInt(q.get('limit') || '', 10);
    if (!(limit > 0 && limit <= 500)) limit = PAGE_SIZE;
    return { state, batch, q: q.get('q') || '', page, limit };
}

export function apiQuery(f, limit, offset) {
    const p = new URLSearchParams();
    if (f.state) p.set('state', f.state);
    if (f.batch) p.set('batch', f.batch);
    if (f.q) p.set('q', f.q);
    p.set('limit', String(limit));
    p.set('offset', String(offset));
    return p.toString();
}

// The list's last address (filters, page), for the task page's « Retour à la liste ».
let lastListHash = '#/jobs';
export function listHash() { return lastListHash; }

export function mount(root, ctx) {
    const f = filtersFromQuery(ctx.query);
    lastListHash = location.hash || '#/jobs';
    let data = null;             // last {jobs, total}
    const lastStates = new Map();
    let firstLoad = true;

    // --- filters ---
    const stateSel = h('select#flt-state', { name: 'state' },
        h('option', { value: '', i18n: 'jobs.allStates' }),
        STATES.map((s) => h('option', { value: s, i18n: `state.${s}` })));
    stateSel.value = f.state;
    const batchIn = h('input#flt-batch', {
        type: 'number', min: '1', step: '1', inputmode: 'numeric', name: 'batch',
        i18nAttr: { placeholder: 'jobs.batchPlaceholder' },
    });
    batchIn.value = f.batch;
    const qIn = h('input#flt-q', {
        type: 'search', name: 'q', autocomplete: 'off', spellcheck: 'false',
        i18nAttr: { placeholder: 'jobs.searchPlaceholder' },
    });
    qIn.value = f.q;
    const clearBtn = h('button.btn.btn-link#flt-clear', { type: 'button', i18n: 'jobs.clear' });
    const exportBtn = h('button.btn.btn-secondary#btn-export', { type: 'button', i18n: 'jobs.export' });
    const refreshBtn = h('button.btn.btn-secondary#btn-refresh', { type: 'button', i18n: 'jobs.refresh' });

    const countEl = h('p.count#jobs-count', { 'aria-live': 'polite' });
    const liveEl = h('p.live#jobs-live', { i18n: 'jobs.live' });
    const errEl = h('div.form-message.form-message-error#jobs-error', { role: 'alert', hidden: true });
    const tbody = h('tbody#jobs-body');
    const table = h('table.data.jobs.responsive#jobs-table',
        h('caption.sr-only', { i18n: 'jobs.title' }),
        h('thead', h('tr',
            h('th.num', { scope: 'col', i18n: 'jobs.id' }),
            h('th.col-state', { scope: 'col', i18n: 'jobs.state' }),
            h('th', { scope: 'col', i18n: 'jobs.source' }),
            h('th', { scope: 'col', i18n: 'jobs.dest' }),
            h('th.col-progress', { scope: 'col', i18n: 'jobs.progress' }),
            h('th', { scope: 'col', i18n: 'jobs.created' }),
            h('th', { scope: 'col', i18n: 'jobs.actions' }))),
        tbody);
    const emptyEl = h('div.empty#jobs-empty', { hidden: true },
        h('p', { i18n: 'jobs.empty' }),
        h('p.muted', { i18n: 'jobs.emptyHint' }));
    const prevBtn = h('button.btn.btn-secondary#page-prev', { type: 'button', i18n: 'jobs.prev' });
    const nextBtn = h('button.btn.btn-secondary#page-next', { type: 'button', i18n: 'jobs.next' });
    const pageEl = h('span.page-no#page-no');
    const pager = h('nav.pager', { 'aria-label': t('jobs.paging'), i18nAttr: { 'aria-label': 'jobs.paging' } },
        prevBtn, pageEl, nextBtn);

    root.append(
        h('div.page-head.with-tools',
            h('h1#jobs-title', { i18n: 'jobs.title' }),
            h('div.tools', refreshBtn, exportBtn)),
        h('form.card.filters#filters', { role: 'search', 'aria-label': t('jobs.filters'), i18nAttr: { 'aria-label': 'jobs.filters' } },
            h('div.field',
                h('label', { for: 'flt-state', i18n: 'jobs.state' }), stateSel),
            h('div.field.field-narrow',
                h('label', { for: 'flt-batch', i18n: 'jobs.batch' }), batchIn),
            h('div.field.field-grow',
                h('label', { for: 'flt-q', i18n: 'jobs.search' }), qIn),
            h('div.field.field-end', clearBtn)),
        h('div.list-head', countEl, liveEl),
        errEl,
        h('div.card.table-card', h('div.table-wrap', table), emptyEl),
        pager,
    );

    // --- hash sync (replaceState: no hashchange, so no re-mount) ---
    const syncHash = () => {
        const p = new URLSearchParams();
        if (f.state) p.set('state', f.state);
        if (f.batch) p.set('batch', f.batch);
        if (f.q) p.set('q', f.q);
        if (f.page > 1) p.set('page', String(f.page));
        if (f.limit !== PAGE_SIZE) p.set('limit', String(f.limit));
        const s = p.toString();
        lastListHash = `#/jobs${s ? '?' + s : ''}`;
        history.replaceState(null, '', lastListHash);
    };

    // showError(ApiError | 'text', fromPoll) shows; showError(null) hides an error that came
    // from polling (an action's error stays until the next action or poll error).
    let pollError = false;
    const showError = (e, fromPoll = false) => {
        if (!e) { if (pollError) { errEl.hidden = true; pollError = false; } return; }
        pollError = fromPoll;
        if (typeof e === 'string') { errEl.hidden = false; setRaw(errEl, e); } else showErrorIn(errEl, e);
    };

    // --- rows ---
    const handlers = {
        done: () => { errEl.hidden = true; poll.now(); },
        error: (text) => showError(text),
    };

    function progressCell(job) {
        const pr = progressOf(job);
        const p = job.progress || {};
        const cell = h('td.col-progress', { 'data-label': t('jobs.progress') });
        if (job.state === 'pending' && !pr.total) {
            cell.append(h('span.muted', { text: t('none') }));
            return cell;
        }
        cell.append(
            h('progress', {
                max: '100', value: String(pr.pct),
                'aria-label': t('jobs.progressOf', { id: job.id }),
                class: `progress-${job.state}`,
            }),
            h('span.progress-text',
                h('span.pct', { text: `${pr.pct} %` }), ' · ',
                t('jobs.messagesOf', { done: fmtInt(pr.done), total: fmtInt(pr.total) })),
        );
        if (p.bytes_total) {
            cell.append(h('span.progress-sub', { text: `${fmtBytes(p.bytes_copied || 0)} / ${fmtBytes(p.bytes_total)}` }));
        }
        if (pr.failed > 0) cell.append(h('span.warn-text', { text: t('jobs.failedCount', { n: fmtInt(pr.failed) }) }));
        if (job.state === 'running' && p.current_folder)
            cell.append(h('span.progress-sub.folder', { text: p.current_folder }));
        return cell;
    }

    function rowContent(job) {
        const detailsHref = `#/jobs/${encodeURIComponent(job.id)}`;
        return [
            h('td.num', { 'data-label': t('jobs.id') },
                h('a', { href: detailsHref, text: String(job.id), 'aria-label': t('jobs.detailsOf', { id: job.id }) })),
            h('td.col-state', { 'data-label': t('jobs.state') }, badge(job.state),
                job.state === 'failed' && job.error
                    ? h('span.error-text', { text: messageText(job.error), title: messageText(job.error) }) : null,
                job.state === 'pending' && job.resume_at
                    ? h('span.sub.resume-at', {
                        text: t('job.resumeAt', { time: fmtTime(job.resume_at) }),
                        title: job.error ? messageText(job.error) : '' }) : null),
            h('td.col-source', { 'data-label': t('jobs.source') },
                h('span.strong', { text: job.source_login || '' }),
                h('span.sub', { text: `${hostLabel(job)} · ${typeLabel(job.server_type)}` }),
                job.batch !== null && job.batch !== undefined
                    ? h('span.sub', { text: t('jobs.batchN', { batch: job.batch }) }) : null),
            h('td', { 'data-label': t('jobs.dest') }, h('span.strong', { text: job.dest_login || '' })),
            progressCell(job),
            h('td.col-created', { 'data-label': t('jobs.created') }, timeEl(job.created_at)),
            h('td.col-actions', { 'data-label': t('jobs.actions') },
                h('div.row-actions',
                    h('a.btn.btn-secondary.btn-small', { href: detailsHref, i18n: 'jobs.details', dataset: { action: 'details' } }),
                    actionButtons(job, handlers, true))),
        ];
    }

    const rowSig = (job) => JSON.stringify([job.state, job.error, job.progress, job.batch, job.dest_login, job.resume_at]);
    const rows = new Map();      // id → {tr, sig}

    function renderRows(force) {
        const jobs = data ? data.jobs : [];
        const seen = new Set();
        const ordered = [];
        for (const job of jobs) {
            const key = String(job.id);
            seen.add(key);
            let r = rows.get(key);
            const sig = rowSig(job);
            if (!r) {
                r = { tr: h('tr', { dataset: { id: key, state: job.state } }), sig: null };
                rows.set(key, r);
            }
            if (force || r.sig !== sig) {
                // Keep the keyboard focus on the same control across the update.
                const active = document.activeElement;
                const focusAction = active && r.tr.contains(active) ? active.dataset.action : null;
                replace(r.tr, rowContent(job));
                r.tr.dataset.state = job.state;
                r.sig = sig;
                if (focusAction) {
                    const again = r.tr.querySelector(`[data-action="${focusAction}"]`) || r.tr.querySelector('a');
                    if (again) again.focus();
                }
            }
            ordered.push(r.tr);
        }
        for (const [key, r] of rows) {
            if (!seen.has(key)) { r.tr.remove(); rows.delete(key); }
        }
        const current = Array.from(tbody.children);
        if (current.length !== ordered.length || current.some((tr, i) => tr !== ordered[i])) {
            for (const tr of ordered) tbody.appendChild(tr);
        }
        emptyEl.hidden = jobs.length > 0;
        table.hidden = jobs.length === 0;
    }

    function renderCounts() {
        const total = data ? Number(data.total) || 0 : 0;
        const n = data ? data.jobs.length : 0;
        const from = total ? (f.page - 1) * f.limit + 1 : 0;
        setI18n(countEl, 'jobs.count', { from, to: from ? from + n - 1 : 0, total });
        const pages = Math.max(1, Math.ceil(total / f.limit));
        setI18n(pageEl, 'jobs.page', { page: f.page, pages });
        prevBtn.disabled = f.page <= 1;
        nextBtn.disabled = f.page >= pages;
        pager.hidden = total <= f.limit && f.page === 1;
    }

    async function load() {
        const offset = (f.page - 1) * f.limit;
        let res;
        try {
            res = await request('GET', `/api/jobs?${apiQuery(f, f.limit, offset)}`);
        } catch (err) {
            if (err instanceof ApiError && err.status === 401) return;
            showError(err, true);
            return;
        }
        showError(null);
        const jobs = Array.isArray(res && res.jobs) ? res.jobs : [];
        const total = Number(res && res.total) || 0;
        // Past the last page (jobs deleted, filter changed): go back to the last one.
        if (!jobs.length && total > 0 && f.page > 1) {
            f.page = Math.max(1, Math.ceil(total / f.limit));
            syncHash();
            return load();
        }
        data = { jobs, total };
        for (const job of jobs) {
            const prev = lastStates.get(String(job.id));
            if (!firstLoad && prev && prev !== job.state)
                announce(t('jobs.stateChanged', { id: job.id, state: t(`state.${job.state}`) }));
            lastStates.set(String(job.id), job.state);
        }
        firstLoad = false;
        renderRows(false);
        renderCounts();
    }

    const poll = poller(load, 2000, (hidden) => setI18n(liveEl, hidden ? 'jobs.paused' : 'jobs.live'));

    // --- filter events ---
    const refilter = () => {
        f.page = 1;
        syncHash();
        lastStates.clear();
        firstLoad = true;
        poll.now();
    };
    stateSel.addEventListener('change', () => { f.state = stateSel.value; refilter(); });
    const onBatch = debounce(() => {
        const v = batchIn.value.trim();
        f.batch = /^\d+$/.test(v) ? v : '';
        refilter();
    }, 300);
    batchIn.addEventListener('input', onBatch);
    const onQ = debounce(() => { f.q = qIn.value.trim(); refilter(); }, 300);
    qIn.addEventListener('input', onQ);
    clearBtn.addEventListener('click', () => {
        stateSel.value = ''; batchIn.value = ''; qIn.value = '';
        f.state = ''; f.batch = ''; f.q = '';
        refilter();
    });
    root.querySelector('#filters').addEventListener('submit', (e) => {
        e.preventDefault();
        f.state = stateSel.value;
        f.batch = /^\d+$/.test(batchIn.value.trim()) ? batchIn.value.trim() : '';
        f.q = qIn.value.trim();
        refilter();
    });
    prevBtn.addEventListener('click', () => { if (f.page > 1) { f.page--; syncHash(); poll.now(); } });
    nextBtn.addEventListener('click', () => { f.page++; syncHash(); poll.now(); });
    refreshBtn.addEventListener('click', () => poll.now());
    exportBtn.addEventListener('click', () => exportCsv(f, exportBtn, showError));

    const off = onLangChange(() => {
        renderRows(true);
        renderCounts();
        relabelActions(root);
    });

    return {
        unmount() { poll.stop(); off(); },
    };
}

// --- « Exporter en CSV » ---

function csvField(v, text) {
    if (v === null || v === undefined) return '';
    let s = String(v);
    // A text cell starting with = + - @ would be run as a formula by a spreadsheet.
    if (text && /^[=+\-@\t\r]/.test(s)) s = "'" + s;
    if (/[";\r\n]/.test(s)) s = '"' + s.replace(/"/g, '""') + '"';
    return s;
}

export function jobsToCsv(jobs) {
    const lines = [t('export.header').map((x) => csvField(x, true)).join(';')];
    for (const j of jobs) {
        const p = j.progress || {};
        const row = [
            [j.id, false], [j.batch, false], [t(`state.${j.state}`), true],
            [j.source_login, true], [j.source_host, true], [j.source_port, false],
            [j.source_tls, true], [j.server_type, true], [j.dest_login, true],
            [j.subscribed_only ? 'True' : 'False', false], [j.owner, true],
            [j.created_at, false], [j.started_at, false], [j.finished_at, false],
            [p.folders_done, false], [p.folders_total, false], [p.messages_total, false],
            [p.messages_copied, false], [p.messages_skipped, false], [p.messages_failed, false],
            [p.bytes_total, false], [p.bytes_copied, false], [j.error ? messageText(j.error) : j.error, true],
        ];
        lines.push(row.map(([v, text]) => csvField(v, text)).join(';'));
    }
    return '\ufeff' + lines.join('\r\n') + '\r\n';
}

async function exportCsv(f, btn, showError) {
    btn.disabled = true;
    setI18n(btn, 'jobs.exporting');
    const all = [];
    try {
        for (let page = 0; page < EXPORT_MAX_PAGES; page++) {
            const res = await request('GET', `/api/jobs?${apiQuery(f, EXPORT_PAGE, page * EXPORT_PAGE)}`);
            const jobs = Array.isArray(res && res.jobs) ? res.jobs : [];
            all.push(...jobs);
            if (!jobs.length || all.length >= (Number(res.total) || 0)) break;
        }
    } catch (err) {
        btn.disabled = false;
        setI18n(btn, 'jobs.export');
        if (!(err instanceof ApiError && err.status === 401)) showError(err);
        return;
    }
    const blob = new Blob([jobsToCsv(all)], { type: 'text/csv;charset=utf-8' });
    const url = URL.createObjectURL(blob);
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
    const a = h('a', { href: url, download: `${t('export.filename')}-${stamp}.csv`, hidden: true });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    btn.disabled = false;
    setI18n(btn, 'jobs.export');
    announce(t('export.done', { n: all.length }));
}
