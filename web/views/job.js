// One task: GET /api/jobs/{id} (job + progress + report) and its log
// GET /api/jobs/{id}/log?after=ID, polled every 2 s until the task is final.

import { t, onLangChange } from '../i18n.js';
import {
    h, replace, setRaw, fmtInt, fmtBytes, fmtDate, fmtDuration, fmtTime, timeEl, progressOf,
    badge, typeLabel, hostLabel, poller,
} from '../util.js';
import { messageText, plainText } from '../errors.js';
import { request, ApiError, showErrorIn } from '../api.js';
import { navigate, announce } from '../app.js';
import { actionButtons, relabelActions } from './actions.js';
import { listHash } from './jobs.js';
import { optionRows } from './options.js';

const FINAL = new Set(['failed', 'done']);
const LOG_MAX_LINES = 5000;

export function mount(root, ctx) {
    const id = ctx.params[0];
    let job = null;
    let lastLogId = 0;
    let finalPolls = 0;          // polls done while the task was final
    let logCount = 0;
    let gone = false;

    const title = h('h1#job-title', { i18n: 'job.title', i18nArgs: { id } });
    const stateBox = h('div.job-state#job-state', { 'aria-live': 'polite' });
    const actionsBox = h('div.row-actions#job-actions');
    const errEl = h('div.form-message.form-message-error#job-error', { role: 'alert', hidden: true });
    const failBox = h('div#job-failure');
    const progressBox = h('section.card#job-progress', { 'aria-labelledby': 'job-progress-title' });
    const infoBox = h('section.card#job-info', { 'aria-labelledby': 'job-info-title' });
    const reportBox = h('section.card#job-report', { 'aria-labelledby': 'job-report-title' });
    const follow = h('input#log-follow', { type: 'checkbox', checked: true });
    const logList = h('ol.log#job-log', { 'aria-labelledby': 'job-log-title', tabindex: '0' });
    const logEmpty = h('p.muted#job-log-empty', { i18n: 'job.logEmpty' });
    const logBox = h('section.card#job-log-card', { 'aria-labelledby': 'job-log-title' },
        h('div.card-head',
            h('h2#job-log-title', { i18n: 'job.log' }),
            h('div.field.check.inline', follow, h('label', { for: 'log-follow', i18n: 'job.logFollow' }))),
        logEmpty, logList);

    root.append(
        h('p.back', h('a#back-link', { href: listHash(), i18n: 'job.back' })),
        h('div.page-head.with-tools', h('div.title-line', title, stateBox), actionsBox),
        errEl,
        failBox,
        h('div.job-grid', progressBox, infoBox),
        reportBox,
        logBox,
    );

    // showError(ApiError | 'text', fromPoll) shows; showError(null) hides an error that came
    // from polling (an action's error stays until the next action or poll error).
    let pollError = false;
    const showError = (e, fromPoll = false) => {
        if (!e) { if (pollError) { errEl.hidden = true; pollError = false; } return; }
        pollError = fromPoll;
        if (typeof e === 'string') { errEl.hidden = false; setRaw(errEl, e); } else showErrorIn(errEl, e);
    };

    const handlers = {
        done: (kind, j, result) => {
            errEl.hidden = true;
            if (kind === 'delete') { navigate(listHash()); return; }
            if (kind === 'retry' && result && result.id !== undefined && String(result.id) !== String(id)) {
                navigate(`#/jobs/${result.id}`);
                return;
            }
            finalPolls = 0;
            poll.stop();
            poll = poller(tick, 2000);
        },
        error: (text) => showError(text),
    };

    function stat(labelKey, value, cls) {
        return h(`div.stat${cls ? '.' + cls : ''}`, h('dt', { i18n: labelKey }), h('dd', { text: value }));
    }

    function renderJob() {
        if (!job) return;
        replace(stateBox, badge(job.state));
        replace(actionsBox, actionButtons(job, handlers));
        const pr = progressOf(job);
        const p = job.progress || {};

        // failure / warnings
        failBox.replaceChildren();
        if (job.state === 'failed') {
            failBox.append(h('div.alert.alert-error#job-fail-reason', { role: 'alert' },
                h('h2', { i18n: 'job.error' }),
                h('p', { text: job.error ? messageText(job.error) : t('state.failed.desc') }),
                h('p.small', h('a', { href: '#/help', i18n: 'job.errorHint' }))));
        } else if (job.state === 'pending' && job.resume_at) {
            failBox.append(h('div.alert.alert-warn#job-resume-at', { role: 'status' },
                h('p', { text: t('job.resumeAt', { time: fmtTime(job.resume_at) }) }),
                job.error ? h('p.small', { text: messageText(job.error) }) : null));
        } else if (job.state === 'done' && pr.failed > 0) {
            failBox.append(h('div.alert.alert-warn',
                h('p', { i18n: 'job.doneWithFailures', i18nArgs: { n: pr.failed } })));
        }

        replace(progressBox,
            h('h2#job-progress-title', { i18n: 'job.progress' }),
            h('div.progress-big',
                h('progress#job-progressbar', {
                    max: '100', value: String(pr.pct), class: `progress-${job.state}`,
                    'aria-label': t('job.progress'),
                }),
                h('span.pct', { text: `${pr.pct} %` })),
            h('dl.stats',
                stat('job.messages', `${fmtInt(pr.done)} / ${fmtInt(pr.total)}`),
                stat('job.copied', fmtInt(p.messages_copied || 0)),
                stat('job.skipped', fmtInt(p.messages_skipped || 0)),
                stat('job.failedMsgs', fmtInt(p.messages_failed || 0), pr.failed ? 'warn' : null),
                stat('job.folders', t('job.foldersOf', { done: fmtInt(p.folders_done || 0), total: fmtInt(p.folders_total || 0) })),
                stat('job.bytes', t('job.bytesOf', { done: fmtBytes(p.bytes_copied || 0), total: fmtBytes(p.bytes_total || 0) })),
                job.state === 'running' && p.current_folder ? stat('job.current', p.current_folder, 'wide') : null),
        );

        const dlRow = (key, value) => [h('dt', { i18n: key }), h('dd', {}, value)];
        replace(infoBox,
            h('h2#job-info-title', { i18n: 'job.info' }),
            h('dl.info',
                dlRow('job.sourceHost', hostLabel(job)),
                dlRow('job.sourceTls', ['auto', 'implicit', 'starttls', 'none'].includes(job.source_tls)
                    ? t(`tls.short.${job.source_tls}`) : (job.source_tls || t('none'))),
                dlRow('job.insecure', t(job.insecure ? 'no' : 'yes')),
                dlRow('job.sourceLogin', job.source_login || ''),
                dlRow('job.type', typeLabel(job.server_type)),
                dlRow('job.dest', job.dest_login || ''),
                dlRow('job.subscribed', t(job.subscribed_only ? 'yes' : 'no')),
                dlRow('opt.title', optionRows(job.options).length
                    ? h('ul.options-list#job-options', optionRows(job.options).map(([k, v]) =>
                        h('li', h('span', { i18n: k }), h('span', { i18n: 'colon' }), h('span', { text: v }))))
                    : t('opt.none')),
                job.batch !== null && job.batch !== undefined
                    ? dlRow('job.batch', h('a', { href: `#/jobs?batch=${encodeURIComponent(job.batch)}`, text: String(job.batch) }))
                    : null,
                job.owner ? dlRow('job.owner', job.owner) : null,
                dlRow('job.created', timeEl(job.created_at)),
                dlRow('job.started', timeEl(job.started_at)),
                dlRow('job.finished', timeEl(job.finished_at)),
                dlRow('job.duration', job.started_at ? fmtDuration(job.started_at, job.finished_at) : t('none')),
            ));

        renderReport();
    }

    // A refused message's reason (the report's failed_messages[]): coded (reason_code,
    // reason_params) in the UI's language; a report written before codes as it is.
    function reasonText(m) {
        return m.reason_code ? messageText({ code: m.reason_code, params: m.reason_params, text: m.reason })
            : plainText(m.reason);
    }

    function destCell(f) {
        if (f.dest && f.status !== 'failed') return f.dest;
        // Why a folder is skipped or failed: coded (reason_code, reason_params) in the UI's
        // language; a report written before codes as it is.
        const raw = f.reason || '';
        const reason = f.reason_code ? messageText({ code: f.reason_code, params: f.reason_params, text: raw })
            : plainText(raw);
        if (f.status === 'skipped') return t('job.folderSkipped', { reason });
        if (f.status === 'failed') return (f.dest ? f.dest + ' — ' : '') + t('job.folderFailed', { reason });
        return f.dest || '';
    }

    function renderReport() {
        const rep = job && job.report;
        const head = h('h2#job-report-title', { i18n: 'job.report' });
        if (!rep || !Array.isArray(rep.folders)) {
            replace(reportBox, head, h('p.muted', { i18n: FINAL.has(job && job.state) ? 'job.reportNone' : 'job.reportPending' }));
            return;
        }
        const tot = { source_count: 0, dest_count: 0, copied: 0, skipped: 0, failed: 0 };
        for (const f of rep.folders) for (const k of Object.keys(tot)) tot[k] += Number(f[k]) || 0;
        const cols = [
            ['job.rSource', 'source'], ['job.rDest', 'dest'], ['job.rSourceCount', 'source_count'],
            ['job.rDestCount', 'dest_count'], ['job.rCopied', 'copied'], ['job.rSkipped', 'skipped'],
            ['job.rFailed', 'failed'],
        ];
        const children = [head,
            h('div.table-wrap', h('table.data.responsive#report-table',
                h('thead', h('tr', cols.map(([k, f], i) => h(i < 2 ? 'th' : 'th.num', { scope: 'col', i18n: k })))),
                h('tbody', rep.folders.map((f) => h('tr', { class: Number(f.failed) ? 'row-warn' : null },
                    cols.map(([k, name], i) => h(i < 2 ? 'td.folder' : 'td.num', {
                        'data-label': t(k),
                        text: i === 1 ? destCell(f) : i === 0 ? (f[name] || '') : fmtInt(f[name] || 0),
                    }))))),
                h('tfoot', h('tr',
                    h('th', { scope: 'row', i18n: 'check.total' }), h('td'),
                    ['source_count', 'dest_count', 'copied', 'skipped', 'failed'].map((k) =>
                        h('td.num', { text: fmtInt(tot[k]) })))))),
        ];
        const lo = rep.left_out;
        if (lo && (lo.folders || lo.messages_by_date || lo.messages_by_size || lo.messages_by_label)) {
            children.push(h('p.left-out#left-out', {
                text: t('job.leftOut', {
                    folders: fmtInt(lo.folders || 0), date: fmtInt(lo.messages_by_date || 0),
                    size: fmtInt(lo.messages_by_size || 0), label: fmtInt(lo.messages_by_label || 0),
                }),
            }));
        }
        const failed = Array.isArray(rep.failed_messages) ? rep.failed_messages : [];
        if (failed.length) {
            children.push(
                h('h3#failed-title', { i18n: 'job.failedList' }),
                h('div.table-wrap.scroll-y', { tabindex: '0', 'aria-labelledby': 'failed-title' },
                    h('table.data.responsive#failed-table',
                        h('thead', h('tr',
                            h('th', { scope: 'col', i18n: 'job.fFolder' }),
                            h('th.num', { scope: 'col', i18n: 'job.fUid' }),
                            h('th.num', { scope: 'col', i18n: 'job.fSize' }),
                            h('th', { scope: 'col', i18n: 'job.fReason' }))),
                        h('tbody', failed.map((m) => h('tr',
                            h('td.folder', { 'data-label': t('job.fFolder'), text: m.folder || '' }),
                            h('td.num', { 'data-label': t('job.fUid'), text: String(m.uid ?? '') }),
                            h('td.num', { 'data-label': t('job.fSize'), text: fmtBytes(m.size) }),
                            h('td', { 'data-label': t('job.fReason'), text: reasonText(m) })))))));
        }
        replace(reportBox, ...children);
    }

    // A log line's message in the UI's language; the line is kept to word it again when the
    // language changes.
    function logMessage(l) {
        const span = h('span.msg', { text: messageText(l) });
        logLines.set(span, l);
        return span;
    }
    const logLines = new WeakMap();

    function appendLog(lines) {
        if (!lines.length) return;
        const atBottom = logList.scrollTop + logList.clientHeight >= logList.scrollHeight - 8;
        for (const l of lines) {
            const n = Number(l.id);
            if (!Number.isNaN(n) && n <= lastLogId) continue;
            if (!Number.isNaN(n)) lastLogId = n;
            const level = String(l.level || 'info').toLowerCase();
            logList.append(h(`li.log-${/^[a-z]+$/.test(level) ? level : 'info'}`,
                h('time', { datetime: l.ts || '', text: l.ts ? fmtDate(l.ts) : '' }),
                h('span.level', { text: level.toUpperCase() }),
                logMessage(l)));
            logCount++;
        }
        while (logCount > LOG_MAX_LINES && logList.firstChild) { logList.firstChild.remove(); logCount--; }
        logEmpty.hidden = logCount > 0;
        if (follow.checked || atBottom) logList.scrollTop = logList.scrollHeight;
    }

    async function tick() {
        if (gone) return;
        let j;
        try {
            j = await request('GET', `/api/jobs/${encodeURIComponent(id)}`);
        } catch (err) {
            if (err instanceof ApiError && err.status === 401) return;
            if (err instanceof ApiError && err.status === 404) {
                gone = true;
                poll.stop();
                replace(failBox, h('div.alert.alert-error', { role: 'alert' }, h('p', { i18n: 'job.notFound' })));
                for (const el of [progressBox, infoBox, reportBox, logBox]) el.hidden = true;
                actionsBox.replaceChildren();
                return;
            }
            showError(err, true);
            return;
        }
        showError(null);
        if (job && job.state !== j.state) announce(t('jobs.stateChanged', { id, state: t(`state.${j.state}`) }));
        const focusAction = document.activeElement && actionsBox.contains(document.activeElement)
            ? document.activeElement.dataset.action : null;
        const same = job && JSON.stringify(job) === JSON.stringify(j);
        job = j;
        if (!same) renderJob();
        if (focusAction) {
            const again = actionsBox.querySelector(`[data-action="${focusAction}"]`) || actionsBox.querySelector('button');
            if (again) again.focus(); else title.focus();
        }
        try {
            const res = await request('GET', `/api/jobs/${encodeURIComponent(id)}/log?after=${lastLogId}`);
            appendLog(Array.isArray(res && res.lines) ? res.lines : []);
        } catch (err) {
            if (!(err instanceof ApiError && err.status === 401)) showError(err, true);
        }
        // Once final, one more complete round (report and last log lines), then stop.
        if (FINAL.has(job.state)) {
            finalPolls++;
            if (finalPolls >= 2) poll.stop();
        } else {
            finalPolls = 0;
        }
    }

    let poll = poller(tick, 2000);

    const off = onLangChange(() => {
        renderJob();
        relabelActions(root);
        for (const tm of logList.querySelectorAll('time[datetime]')) {
            if (tm.getAttribute('datetime')) tm.textContent = fmtDate(tm.getAttribute('datetime'));
        }
        for (const span of logList.querySelectorAll('span.msg')) {
            if (logLines.has(span)) span.textContent = messageText(logLines.get(span));
        }
    });

    return {
        unmount() { poll.stop(); off(); },
    };
}
