// « Lots »: CSV batches (GET /api/batches) with their counts by state, progress, until when
// the source passwords are kept, and the actions of a pre-migration then cut-over:
// « Passe delta » POST /api/batches/{id}/delta, « Relancer les échecs » …/retry-failed,
// « Annuler » …/cancel, « Effacer les mots de passe » …/finalize (after confirmation), and
// the automatic passes PATCH /api/batches/{id} {"sync_every"}.

import { t, onLangChange } from '../i18n.js';
import { h, replace, fmtDate, fmtInt, fmtBytes, poller } from '../util.js';
import { request, ApiError, errorText } from '../api.js';
import { announce, confirmDialog } from '../app.js';

const SYNC_CHOICES = ['', '1h', '6h', '12h', '24h'];

export function mount(root) {
    let batches = [];
    let loaded = false;
    const list = h('section.card#batches-list', { 'aria-labelledby': 'batches-list-title' });
    const status = h('p.status#batches-status', { role: 'status', 'aria-live': 'polite' });

    const say = (text) => { status.textContent = text; announce(text); };

    async function act(b, kind, btn) {
        if (kind === 'finalize') {
            const yes = await confirmDialog({
                title: t('batches.finalizeTitle', { id: b.id }),
                text: t('batches.finalizeText', { n: b.jobs.total }),
                ok: t('batches.finalize'),
            });
            if (!yes) { btn.focus(); return; }
        }
        btn.disabled = true;
        try {
            const r = await request('POST', `/api/batches/${b.id}/${kind}`);
            if (kind === 'cancel') say(t('batches.cancelled', { id: b.id, n: r.cancelled }));
            else if (kind === 'finalize') say(t('batches.finalized', { id: b.id }));
            else {
                say(t('batches.queued', { id: b.id, n: r.queued })
                    + (r.without_credentials ? ' ' + t('batches.noCredentials', { n: r.without_credentials }) : ''));
            }
            await load();
        } catch (e) {
            btn.disabled = false;
            if (e instanceof ApiError && e.status === 401) return;
            say(errorText(e));
        }
    }

    async function setSync(b, value, sel) {
        sel.disabled = true;
        try {
            await request('PATCH', `/api/batches/${b.id}`, { json: { sync_every: value || null } });
            say(t('batches.syncSet', { id: b.id }));
            await load();
        } catch (e) {
            if (e instanceof ApiError && e.status === 401) return;
            say(errorText(e));
        }
        sel.disabled = false;
    }

    const credentials = (b) => {
        if (b.finalized) return h('span.muted', { text: t('batches.erased') });
        if (!b.credentials_kept_until) return h('span.muted', { text: t('batches.noneKept') });
        return h('span.batch-expiry', { text: t('batches.kept', { date: fmtDate(b.credentials_kept_until) }) });
    };

    const syncSelect = (b) => {
        const choices = SYNC_CHOICES.includes(b.sync_every || '') ? SYNC_CHOICES : [...SYNC_CHOICES, b.sync_every];
        const sel = h('select.batch-sync', { 'aria-label': t('batches.syncOf', { id: b.id }), disabled: b.finalized },
            choices.map((v) => h('option', {
                value: v, selected: (b.sync_every || '') === v,
                text: v === '' ? t('batches.sync.off') : t('batches.sync.every', { every: v }),
            })));
        sel.addEventListener('change', () => setSync(b, sel.value, sel));
        return sel;
    };

    const renderList = () => {
        const rows = batches.map((b) => {
            const j = b.jobs;
            const active = j.pending + j.running;
            const btn = (kind, key, style, enabled) => {
                const el = h(`button.btn.${style}.btn-small`, {
                    type: 'button', text: t(key), disabled: !enabled, dataset: { action: kind, batch: String(b.id) },
                });
                el.setAttribute('aria-label', t(key + 'Of', { id: b.id }));
                el.addEventListener('click', () => act(b, kind, el));
                return el;
            };
            const ended = j.done + j.failed;
            return h('tr', { dataset: { batch: String(b.id) } },
                h('th', { scope: 'row' }, h('a', { href: `#/jobs?batch=${b.id}`, text: t('batches.name', { id: b.id }) })),
                h('td', { text: fmtDate(b.created_at) }),
                h('td', { text: b.owner || t('none') }),
                h('td', { text: t('batches.counts', { done: j.done, failed: j.failed, active, total: j.total }) }),
                h('td', { text: t('batches.progress', { messages: fmtInt(b.progress.messages_copied), bytes: fmtBytes(b.progress.bytes_copied) }) }),
                h('td', credentials(b)),
                h('td', syncSelect(b)),
                h('td.batch-actions',
                    btn('delta', 'batches.delta', 'btn-primary', !b.finalized && ended > 0 && b.credentials_kept > 0),
                    btn('retry-failed', 'batches.retryFailed', 'btn-secondary', !b.finalized && j.failed > 0),
                    btn('cancel', 'batches.cancel', 'btn-secondary', active > 0),
                    btn('finalize', 'batches.finalize', 'btn-danger', !b.finalized && active === 0)));
        });
        replace(list, h('h2#batches-list-title', { text: t('batches.listTitle') }),
            !loaded ? h('p.muted', { text: t('batches.loading') })
                : batches.length === 0 ? h('p.muted', { text: t('batches.empty') })
                    : h('div.table-wrap', h('table.table#batches-table',
                        h('thead', h('tr', ['batches.col.id', 'batches.col.created', 'batches.col.owner', 'batches.col.jobs',
                            'batches.col.progress', 'batches.col.credentials', 'batches.col.sync', 'batches.col.actions']
                            .map((k) => h('th', { scope: 'col', text: t(k) })))),
                        h('tbody', rows))));
    };

    async function load() {
        try {
            const data = await request('GET', '/api/batches');
            batches = Array.isArray(data && data.batches) ? data.batches : [];
            loaded = true;
            // Keep focus and a half-open <select> stable: do not redraw under the user's hand.
            if (!list.contains(document.activeElement) || document.activeElement.tagName !== 'SELECT') renderList();
        } catch (e) {
            if (!(e instanceof ApiError && e.status === 401)) status.textContent = errorText(e);
        }
    }

    root.append(h('div.page-head', h('h1#batches-title', { i18n: 'batches.title' }), h('p.lead', { i18n: 'batches.intro' })),
        list, status);
    renderList();
    const poll = poller(load, 3000);
    const off = onLangChange(renderList);
    return { unmount() { poll.stop(); off(); } };
}
