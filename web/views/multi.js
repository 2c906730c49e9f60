// « Migration multiple »: the CSV file is read as bytes and sent unchanged
// (POST /api/imports?dry_run=1, Content-Type: text/csv) for a preview, then sent
// again without dry_run by « Confirmer l'import ».

import { t, onLangChange } from '../i18n.js';
import { h, replace, setI18n, setRaw, fmtBytes, fmtInt, typeLabel, hostLabel } from '../util.js';
import { request, ApiError, errorText, errorList } from '../api.js';
import { navigate, announce } from '../app.js';
import { loadProfiles, profileSelect } from './profiles.js';
import { optionFields } from './options.js';
import { errorBeside, plainText } from '../errors.js';

const PREVIEW_MAX_ROWS = 1000;

const COLUMNS = [
    ['login_source', 'multi.c1', 'source@login.com'],
    ['pass_source', 'multi.c2', 'myPassword1'],
    ['host_source', 'multi.c3', 'imap.gmail.com'],
    ['type_messagerie', 'multi.c4', 'gmail'],
    ['login_destination', 'multi.c5', null],
    ['subscribed_only', 'multi.c6', 'False'],
];

export function mount(root, ctx) {
    const domains = Array.isArray(ctx.session.domains) ? ctx.session.domains : [];
    const exampleDomain = domains[0] || 'example.com';
    // file: {name, size, bytes}; outcome: {kind: 'preview'|'errors'|'error', data|errors|message}
    let file = null;
    let outcome = null;
    let busy = false;

    const input = h('input.file-input#csv-file', {
        type: 'file', accept: '.csv,text/csv', 'aria-describedby': 'csv-file-help',
    });
    const dropzone = h('div.dropzone#dropzone',
        h('p.dropzone-title', { 'aria-hidden': 'true', i18n: 'multi.drop' }),
        h('p.dropzone-or', { 'aria-hidden': 'true', i18n: 'multi.or' }),
        h('label.btn.btn-secondary', { for: 'csv-file', i18n: 'multi.choose' }),
        input,
        h('p.help#csv-file-help', { text: '.csv — « ; »' }),
    );
    const fileInfo = h('p.file-info#file-info', { hidden: true });
    // « Accès administrateur »: rows may then leave pass_source empty
    const profileBox = h('div.field#m-profile-field', { hidden: true });
    let profileSel = null;
    loadProfiles().then((list) => {
        if (!list.length) return;
        profileSel = profileSelect('m-profile', list);
        replace(profileBox, h('label', { for: 'm-profile', i18n: 'profiles.select' }), profileSel,
            h('p.help', { i18n: 'multi.profileHelp' }));
        profileBox.hidden = false;
    });
    // « Options avancées »: the migration options of every job of the file.
    const migOpts = optionFields();
    const advanced = h('details.advanced#m-advanced', h('summary', { i18n: 'single.advanced' }), ...migOpts.nodes);
    // The request's path, or throws {message} when an option cannot be read.
    const importQuery = (dry, verify) => {
        const q = [];
        if (dry) q.push('dry_run=1');
        if (verify) q.push('verify=1');
        if (profileSel && profileSel.value) q.push('auth_profile=' + encodeURIComponent(profileSel.value));
        const mo = migOpts.collect();
        if (mo.errors.length) {
            advanced.open = true;
            throw { message: t(mo.errors[0].key, mo.errors[0].args) };
        }
        for (const [k, v] of migOpts.query(mo.opts)) q.push(`${k}=${encodeURIComponent(v)}`);
        return '/api/imports' + (q.length ? '?' + q.join('&') : '');
    };
    const status = h('p.status#multi-status', { role: 'status', 'aria-live': 'polite' });
    const previewBox = h('section.card.preview.span-all#preview', { 'aria-labelledby': 'preview-title', hidden: true });
    const confirmBtn = h('button.btn.btn-primary#btn-confirm', { type: 'button', disabled: true, i18n: 'multi.confirm' });
    const resetBtn = h('button.btn.btn-secondary#btn-reset', { type: 'button', hidden: true, i18n: 'multi.reset' });
    // « Vérifier les accès »: every row checked by the server (logins, mailbox, quota), nothing queued.
    const verifyBtn = h('button.btn.btn-secondary#btn-verify', { type: 'button', hidden: true, i18n: 'verify.button' });
    let verified = null;         // line → {ok, error, messages, bytes, quota_free}; null = not asked

    const exampleLines = [
        COLUMNS.map((c) => c[0]).join(';'),
        `source@login.com;myPassword1;imap.gmail.com;gmail;toto@${exampleDomain};False`,
        `my@login.com;myPass;exchange.server;exchange;tata@${exampleDomain};False`,
    ];

    const previewContent = h('div#preview-content');
    previewBox.append(previewContent, h('div.actions', confirmBtn, verifyBtn, resetBtn));

    root.append(
        h('div.page-head',
            h('h1#multi-title', { i18n: 'multi.title' }),
            h('p.lead', { i18n: 'multi.intro' })),
        h('div.multi-layout',
            h('section.card', { 'aria-labelledby': 'upload-title' },
                h('h2#upload-title', { i18n: 'multi.upload' }),
                profileBox, advanced, dropzone, fileInfo, status),
            h('section.card', { 'aria-labelledby': 'prereq-title' },
                h('h2#prereq-title', { i18n: 'multi.prereq' }),
                h('ul.checklist',
                    h('li', { i18n: 'multi.pre1' }),
                    h('li', { i18n: 'multi.pre2' }),
                    h('li', h('strong', { i18n: 'multi.pre3' })),
                    h('li', h('strong', { i18n: 'multi.pre4' }))),
                h('p', h('a.btn.btn-secondary#sample-link', {
                    href: '/api/sample.csv', download: 'exemple.csv', i18n: 'multi.sample',
                }))),
            previewBox,
            h('section.card.format.span-all', { 'aria-labelledby': 'format-title' },
                h('h2#format-title', { i18n: 'multi.format' }),
                h('div.table-wrap', h('table.data.columns.responsive',
                    h('thead', h('tr',
                        h('th', { scope: 'col', i18n: 'multi.col' }),
                        h('th', { scope: 'col', i18n: 'multi.colDesc' }),
                        h('th', { scope: 'col', i18n: 'multi.colExample' }))),
                    h('tbody', COLUMNS.map(([name, key, ex]) => h('tr',
                        h('th', { scope: 'row' }, h('code', { text: name })),
                        h('td', { i18n: key, i18nAttr: { 'data-label': 'multi.colDesc' } }),
                        h('td', { i18nAttr: { 'data-label': 'multi.colExample' } },
                            h('code', { text: ex || `toto@${exampleDomain}` }))))))),
                h('pre.sample', { 'aria-label': 'CSV' }, h('code', { text: exampleLines.join('\n') })),
                h('p.small', { i18n: 'multi.formatNote' })),
        ),
    );

    const setStatus = (key, args) => { if (key) setI18n(status, key, args); else setRaw(status, ''); };

    function renderOutcome() {
        confirmBtn.disabled = true;
        confirmBtn.hidden = !(outcome && outcome.kind === 'preview');
        verifyBtn.hidden = confirmBtn.hidden;
        verifyBtn.disabled = busy;
        if (!outcome) { previewBox.hidden = true; previewContent.replaceChildren(); return; }
        previewBox.hidden = false;
        const title = h('h2#preview-title', { i18n: 'multi.preview', tabindex: '-1' });
        if (outcome.kind === 'errors') {
            const errs = outcome.errors;
            replace(previewContent, title,
                h('div.form-message.form-message-error#csv-errors', { role: 'alert' },
                    h('p', { i18n: 'multi.errors', i18nArgs: { n: errs.length } }),
                    h('ol.error-list', errs.map((e) => {
                        const li = h('li');
                        const message = e.message || '';
                        // column 0 (or absent) = the whole row.
                        if (Number(e.line) > 0 && Number(e.column) > 0)
                            setI18n(li, 'err.lineCol', { line: e.line, column: e.column, message });
                        else if (Number(e.line) > 0)
                            setI18n(li, 'err.line', { line: e.line, message });
                        else setRaw(li, message);
                        return li;
                    }))));
            return;
        }
        if (outcome.kind === 'error') {
            const box = h('div.form-message.form-message-error', { role: 'alert' });
            if (outcome.key) setI18n(box, outcome.key); else setRaw(box, plainText(outcome.message));
            replace(previewContent, title, box);
            return;
        }
        const jobs = Array.isArray(outcome.data && outcome.data.jobs) ? outcome.data.jobs : [];
        if (!jobs.length) {
            replace(previewContent, title, h('p.form-message.form-message-error', { role: 'alert', i18n: 'multi.previewNone' }));
            return;
        }
        const shown = jobs.slice(0, PREVIEW_MAX_ROWS);
        replace(previewContent, title,
            h('p.form-message.form-message-ok#csv-ok', { i18n: 'multi.previewOk', i18nArgs: { n: jobs.length } }),
            h('div.table-wrap.scroll-y', { tabindex: '0', 'aria-labelledby': 'preview-title' },
                h('table.data.responsive#preview-table',
                    h('thead', h('tr',
                        h('th.num', { scope: 'col', i18n: 'multi.line' }),
                        h('th', { scope: 'col', i18n: 'multi.srcLogin' }),
                        h('th', { scope: 'col', i18n: 'multi.srcHost' }),
                        h('th', { scope: 'col', i18n: 'multi.type' }),
                        h('th', { scope: 'col', i18n: 'multi.dest' }),
                        h('th', { scope: 'col', i18n: 'multi.subscribed' }),
                        verified ? h('th', { scope: 'col', i18n: 'verify.col' }) : null)),
                    h('tbody', shown.map((j, i) => h('tr',
                        h('td.num', { 'data-label': t('multi.line'), text: j.line || i + 1 }),
                        h('td', { 'data-label': t('multi.srcLogin'), text: j.source_login || '' }),
                        h('td', { 'data-label': t('multi.srcHost'), text: hostLabel(j) }),
                        h('td', { 'data-label': t('multi.type'), text: typeLabel(j.server_type) }),
                        h('td', { 'data-label': t('multi.dest'), text: j.dest_login || '' }),
                        h('td', { 'data-label': t('multi.subscribed'), text: t(j.subscribed_only ? 'yes' : 'no') }),
                        verified ? verifyCell(verified.get(Number(j.line))) : null))))),
            verified ? h('p#verify-summary', {
                class: verified.nok ? 'form-message form-message-error' : 'form-message form-message-ok',
                text: t('verify.summary', { ok: verified.nok ? jobs.length - verified.nok : jobs.length, n: jobs.length, secs: verified.secs }),
            }) : null,
            jobs.length > shown.length ? h('p.muted', { text: `… +${jobs.length - shown.length}` }) : null,
        );
        confirmBtn.disabled = busy;
    }

    function verifyCell(v) {
        const td = h('td.verify', { 'data-label': t('verify.col') });
        if (!v) { td.append(h('span.muted', { text: t('none') })); return td; }
        if (v.ok) {
            td.classList.add('verify-ok');
            td.append(h('span.badge.badge-done', { i18n: 'verify.ok' }),
                h('span.sub', { text: t('verify.size', { messages: fmtInt(v.messages || 0), size: fmtBytes(v.bytes || 0) }) }));
            if (v.quota_free !== null && v.quota_free !== undefined)
                td.append(h('span.sub', { text: t('verify.free', { free: fmtBytes(v.quota_free) }) }));
        } else {
            td.classList.add('verify-fail');
            td.append(h('span.badge.badge-failed', { i18n: 'verify.fail' }),
                h('span.error-text', { text: errorBeside(v) }));
        }
        return td;
    }

    verifyBtn.addEventListener('click', async () => {
        if (busy || !file || !outcome || outcome.kind !== 'preview') return;
        busy = true;
        verifyBtn.disabled = true;
        confirmBtn.disabled = true;
        setStatus('verify.running');
        try {
            const data = await request('POST', importQuery(true, true), { body: file.bytes, contentType: 'text/csv' });
            const map = new Map();
            let nok = 0;
            for (const r of (data && data.rows) || []) { map.set(Number(r.line), r); if (!r.ok) nok++; }
            map.nok = nok;
            map.secs = ((Number(data && data.elapsed_ms) || 0) / 1000).toFixed(1);
            verified = map;
            busy = false;
            setStatus(null);
            renderOutcome();
            announce(t('verify.summary', { ok: map.size - nok, n: map.size, secs: map.secs }));
        } catch (err) {
            busy = false;
            setStatus(null);
            if (err instanceof ApiError && err.status === 401) return;
            outcome = outcomeFromError(err);
            renderOutcome();
        }
    });

    function showFileInfo() {
        if (!file) { fileInfo.hidden = true; return; }
        fileInfo.hidden = false;
        setI18n(fileInfo, 'multi.selected', { name: file.name, size: fmtBytes(file.size) });
    }

    function outcomeFromError(err) {
        const list = errorList(err);
        if (list.length) return { kind: 'errors', errors: list };
        if (err instanceof ApiError && err.kind === 'network') return { kind: 'error', key: 'err.network' };
        if (err instanceof ApiError && err.status === 413) return { kind: 'error', key: 'err.fileTooLarge' };
        if (!(err instanceof ApiError) && err && err.message) return { kind: 'error', message: err.message };
        return { kind: 'error', message: errorText(err) };
    }

    async function handleFile(f) {
        if (!f || busy) return;
        const looksCsv = /\.csv$/i.test(f.name) || /csv/i.test(f.type || '');
        file = null;
        outcome = null;
        verified = null;
        if (!looksCsv) {
            outcome = { kind: 'error', key: 'multi.notCsv' };
            renderOutcome(); showFileInfo(); return;
        }
        if (f.size === 0) {
            outcome = { kind: 'error', key: 'multi.empty' };
            renderOutcome(); showFileInfo(); return;
        }
        busy = true;
        renderOutcome();
        setStatus('multi.checking');
        let bytes;
        try {
            bytes = await f.arrayBuffer();
        } catch (e) {
            busy = false;
            outcome = { kind: 'error', message: String(e && e.message || e) };
            setStatus(null); renderOutcome(); return;
        }
        file = { name: f.name, size: f.size, bytes };
        showFileInfo();
        try {
            const data = await request('POST', importQuery(true), { body: bytes, contentType: 'text/csv' });
            outcome = { kind: 'preview', data };
        } catch (err) {
            if (err instanceof ApiError && err.status === 401) { busy = false; return; }
            outcome = outcomeFromError(err);
        }
        busy = false;
        setStatus(null);
        renderOutcome();
        resetBtn.hidden = false;
        if (outcome.kind === 'preview') {
            const n = (outcome.data && outcome.data.jobs || []).length;
            announce(t('multi.previewOk', { n }));
        } else if (outcome.kind === 'errors') {
            announce(t('multi.errors', { n: outcome.errors.length }));
        }
        const title = previewBox.querySelector('h2');
        if (title) title.focus();
    }

    confirmBtn.addEventListener('click', async () => {
        if (busy || !file || !outcome || outcome.kind !== 'preview') return;
        busy = true;
        confirmBtn.disabled = true;
        setStatus('multi.confirming');
        try {
            const data = await request('POST', importQuery(false), { body: file.bytes, contentType: 'text/csv' });
            busy = false;
            setStatus(null);
            const n = data && Number.isInteger(data.queued) ? data.queued
                : (Array.isArray(data && data.jobs) ? data.jobs.length : 0);
            announce(t('multi.done', { batch: data && data.batch, n }));
            file = null;
            if (data && data.batch !== null && data.batch !== undefined) navigate(`#/jobs?batch=${encodeURIComponent(data.batch)}`);
            else navigate('#/jobs');
        } catch (err) {
            busy = false;
            setStatus(null);
            if (err instanceof ApiError && err.status === 401) return;
            outcome = outcomeFromError(err);
            renderOutcome();
        }
    });

    resetBtn.addEventListener('click', () => {
        file = null; outcome = null; verified = null; input.value = '';
        renderOutcome(); showFileInfo(); resetBtn.hidden = true;
        input.focus();
    });

    input.addEventListener('change', () => {
        const f = input.files && input.files[0];
        if (f) handleFile(f);
    });

    let depth = 0;
    dropzone.addEventListener('dragenter', (e) => { e.preventDefault(); depth++; dropzone.classList.add('dragover'); });
    dropzone.addEventListener('dragover', (e) => { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; });
    dropzone.addEventListener('dragleave', () => { depth = Math.max(0, depth - 1); if (!depth) dropzone.classList.remove('dragover'); });
    dropzone.addEventListener('drop', (e) => {
        e.preventDefault();
        depth = 0;
        dropzone.classList.remove('dragover');
        const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
        if (f) handleFile(f);
    });
    // A file dropped beside the zone must not make the browser navigate away.
    const stopNav = (e) => { if (!dropzone.contains(e.target)) e.preventDefault(); };
    window.addEventListener('dragover', stopNav);
    window.addEventListener('drop', stopNav);

    const off = onLangChange(() => { renderOutcome(); if (outcome && outcome.kind === 'preview') confirmBtn.disabled = busy; });
    return {
        unmount() {
            off();
            window.removeEventListener('dragover', stopNav);
            window.removeEventListener('drop', stopNav);
            file = null;
        },
    };
}
