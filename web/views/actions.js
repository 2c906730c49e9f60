// Job actions shared by the list and the details page:
// « Annuler » POST /api/jobs/{id}/cancel (pending, running),
// « Passe delta » POST /api/jobs/{id}/delta (failed, done, credentials still kept: no password),
// « Relancer » POST /api/jobs/{id}/retry (failed, done),
// « Supprimer » DELETE /api/jobs/{id} after confirmation (every state but running:
// a running task is cancelled first).

import { t } from '../i18n.js';
import { h } from '../util.js';
import { request, ApiError, errorText } from '../api.js';
import { announce, confirmDialog, passwordDialog } from '../app.js';

export function allowedActions(job) {
    switch (job.state) {
    case 'pending': return ['cancel', 'delete'];
    case 'running': return ['cancel'];
    case 'failed':
    case 'done': return job.credentials_kept_until && !job.finalized ? ['delta', 'retry', 'delete'] : ['retry', 'delete'];
    default: return [];
    }
}

const LABEL = { cancel: 'action.cancel', delta: 'action.delta', retry: 'action.retry', delete: 'action.delete' };
const ARIA = { cancel: 'action.cancelOf', delta: 'action.deltaOf', retry: 'action.retryOf', delete: 'action.deleteOf' };
const STYLE = { cancel: 'btn-secondary', delta: 'btn-primary', retry: 'btn-secondary', delete: 'btn-danger' };

// Buttons for a job. handlers.done(kind, job, result) after success,
// handlers.error(text) on failure.
export function actionButtons(job, handlers, small = false) {
    return allowedActions(job).map((kind) => {
        const b = h(`button.btn.${STYLE[kind]}${small ? '.btn-small' : ''}`, {
            type: 'button', i18n: LABEL[kind],
            dataset: { action: kind, job: String(job.id) },
        });
        // The aria-label names the task; relabelActions() follows language switches.
        b.setAttribute('aria-label', t(ARIA[kind], { id: job.id }));
        b.dataset.ariaKey = ARIA[kind];
        b.addEventListener('click', () => runAction(kind, job, b, handlers));
        return b;
    });
}

export function relabelActions(root) {
    for (const b of root.querySelectorAll('button[data-aria-key]'))
        b.setAttribute('aria-label', t(b.dataset.ariaKey, { id: b.dataset.job }));
}

async function runAction(kind, job, btn, handlers) {
    if (kind === 'delete') {
        const ok = await confirmDialog({
            title: t('confirm.deleteTitle'),
            text: t('confirm.deleteText', { id: job.id, login: job.source_login, dest: job.dest_login }),
            ok: t('confirm.delete'),
        });
        if (!ok) { btn.focus(); return; }
    }
    let password = null;
    if (kind === 'retry') {
        // A finished task no longer holds the source password: ask for it again.
        password = await passwordDialog({
            text: t('retry.text', { id: job.id, login: job.source_login, host: job.source_host }),
        });
        if (password === null) { btn.focus(); return; }
    }
    btn.disabled = true;
    try {
        let result = null;
        if (kind === 'cancel') result = await request('POST', `/api/jobs/${job.id}/cancel`);
        else if (kind === 'delta') result = await request('POST', `/api/jobs/${job.id}/delta`);
        else if (kind === 'retry') {
            result = await request('POST', `/api/jobs/${job.id}/retry`, { json: { source_password: password } });
            password = null;
        }
        else result = await request('DELETE', `/api/jobs/${job.id}`);
        const msgKey = { cancel: 'action.cancelled', delta: 'action.deltaQueued', retry: 'action.retried', delete: 'action.deleted' }[kind];
        announce(t(msgKey, { id: job.id }));
        if (handlers.done) handlers.done(kind, job, result);
    } catch (err) {
        btn.disabled = false;
        if (err instanceof ApiError && err.status === 401) return;
        if (handlers.error) handlers.error(errorText(err));
    }
}
