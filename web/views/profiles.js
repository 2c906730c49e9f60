// « Accès administrateur »: source authentication profiles (GET/POST /api/profiles,
// DELETE /api/profiles/{name}, POST /api/profiles/{name}/check). Secrets are write-only:
// the form sends them once and empties its fields; the list never shows them.

import { t, onLangChange } from '../i18n.js';
import { h, replace, rich, fmtDate } from '../util.js';
import { request, ApiError, errorText, errorList } from '../api.js';
import { announce, confirmDialog } from '../app.js';
import { errorBeside } from '../errors.js';

const KINDS = ['microsoft365', 'google', 'imap-admin'];
// Which inputs each kind uses (ids without the "p-" prefix).
const KIND_FIELDS = {
    microsoft365: ['tenant', 'client_id', 'client_secret', 'certificate', 'private_key', 'token_url', 'source_host'],
    google: ['service_account', 'token_url', 'source_host'],
    'imap-admin': ['admin_user', 'admin_password', 'method', 'separator', 'source_host'],
};
const SECRET_FIELDS = ['client_secret', 'certificate', 'private_key', 'service_account', 'admin_password'];
const TEXTAREAS = ['certificate', 'private_key', 'service_account'];

export async function loadProfiles() {
    try {
        const data = await request('GET', '/api/profiles');
        return Array.isArray(data && data.profiles) ? data.profiles : [];
    } catch (e) {
        return [];
    }
}

// A <select> "password or profile" for the migration pages: value '' = the password.
export function profileSelect(id, profiles) {
    return h(`select#${id}`, { name: 'auth_profile' },
        h('option', { value: '', i18n: 'profiles.usePassword' }),
        profiles.map((p) => h('option', { value: p.name, text: `${p.name} (${t('profiles.kind.' + p.kind)})` })));
}

export function mount(root) {
    let profiles = [];
    const inputs = {};
    const field = (name) => {
        let el;
        if (name === 'method') {
            el = h('select#p-method', { name }, ['separator', 'authzid'].map((v) => h('option', { value: v, i18n: `profiles.method.${v}` })));
        } else if (TEXTAREAS.includes(name)) {
            el = h(`textarea#p-${name}`, { name, rows: 4, spellcheck: 'false', autocomplete: 'off' });
        } else {
            el = h(`input#p-${name}`, {
                name, type: name === 'client_secret' || name === 'admin_password' ? 'password' : 'text',
                autocomplete: SECRET_FIELDS.includes(name) ? 'new-password' : 'off', spellcheck: 'false',
            });
        }
        inputs[name] = el;
        const file = TEXTAREAS.includes(name) ? h('input.file-input-inline', { type: 'file' }) : null;
        if (file) {
            file.addEventListener('change', async () => {
                const f = file.files && file.files[0];
                if (f) el.value = await f.text();
                file.value = '';
            });
        }
        return h(`div.field#p-${name}-field`,
            h('label', { for: `p-${name}`, i18n: `profiles.f.${name}` }), el,
            file ? h('label.file-pick', h('span', { i18n: 'profiles.fromFile' }), ' ', file) : null,
            h(`p.help`, { i18n: `profiles.h.${name}` }),
            h(`p.field-error#p-${name}-err`, { hidden: true }));
    };
    const name = h('input#p-name', { name: 'name', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false' });
    const kind = h('select#p-kind', { name: 'kind' }, KINDS.map((k) => h('option', { value: k, i18n: `profiles.kind.${k}` })));
    const allFields = [...new Set(Object.values(KIND_FIELDS).flat())];
    const fieldEls = Object.fromEntries(allFields.map((f) => [f, field(f)]));
    const errors = h('div.form-message.form-message-error#profiles-errors', { role: 'alert', tabindex: '-1', hidden: true });
    const status = h('p.status#profiles-status', { role: 'status', 'aria-live': 'polite' });
    const addBtn = h('button.btn.btn-primary#btn-add-profile', { type: 'submit', i18n: 'profiles.add' });
    const form = h('form.card#profile-form', { novalidate: true, 'aria-labelledby': 'profiles-add-title' },
        h('h2#profiles-add-title', { i18n: 'profiles.addTitle' }),
        h('div.grid-2',
            h('div.field', h('label', { for: 'p-name', i18n: 'profiles.f.name' }), name,
                h('p.help', { i18n: 'profiles.h.name' }), h('p.field-error#p-name-err', { hidden: true })),
            h('div.field', h('label', { for: 'p-kind', i18n: 'profiles.f.kind' }), kind)),
        h('div.grid-2#profile-kind-fields', allFields.map((f) => fieldEls[f])),
        errors, h('div.actions', addBtn), status);
    const showKind = () => {
        for (const f of allFields) fieldEls[f].hidden = !KIND_FIELDS[kind.value].includes(f);
    };
    kind.addEventListener('change', showKind);
    showKind();

    const list = h('section.card#profiles-list', { 'aria-labelledby': 'profiles-list-title' });
    const helpBox = h('section.card.help-section#profiles-help', { 'aria-labelledby': 'profiles-help-title' });

    const renderHelp = () => {
        replace(helpBox, h('h2#profiles-help-title', { text: t('profiles.helpTitle') }),
            t('profiles.help').map((s) => [h('h3', { text: s.title }),
                h('ol.steps', s.steps.map((x) => h('li', rich(x))))]));
    };

    const renderList = () => {
        const rows = profiles.map((p) => {
            const details = p.kind === 'microsoft365' ? `${p.tenant} — ${p.client_id}`
                : p.kind === 'google' ? p.client_email
                    : `${p.admin_user} (${t('profiles.method.' + p.method)})`;
            const who = h('input', { type: 'text', 'aria-label': t('profiles.testLogin', { name: p.name }), placeholder: t('profiles.testPlaceholder'), spellcheck: 'false', autocomplete: 'off' });
            const result = h('p.status', { role: 'status', 'aria-live': 'polite' });
            const test = h('button.btn.btn-secondary', { type: 'button', text: t('profiles.test') });
            const del = h('button.btn.btn-ghost', { type: 'button', text: t('profiles.delete') });
            test.addEventListener('click', async () => {
                if (!who.value.trim()) { result.textContent = t('profiles.testNeedLogin'); return; }
                test.disabled = true;
                result.textContent = t('profiles.testing');
                try {
                    const r = await request('POST', `/api/profiles/${encodeURIComponent(p.name)}/check`, { json: { source_login: who.value.trim() } });
                    result.textContent = r.ok ? t('profiles.testOk') : t('profiles.testFailed', { error: errorBeside(r) });
                } catch (e) {
                    result.textContent = errorText(e);
                }
                test.disabled = false;
                announce(result.textContent);
            });
            del.addEventListener('click', async () => {
                const yes = await confirmDialog({ title: t('profiles.deleteTitle'), text: t('profiles.deleteText', { name: p.name }), ok: t('profiles.delete') });
                if (!yes) return;
                try {
                    const r = await request('DELETE', `/api/profiles/${encodeURIComponent(p.name)}`);
                    announce(t('profiles.deleted', { name: p.name, n: r.waiting_jobs || 0 }));
                    await refresh();
                } catch (e) {
                    result.textContent = errorText(e);
                }
            });
            return h('tr', h('th', { scope: 'row', text: p.name }), h('td', { text: t('profiles.kind.' + p.kind) }),
                h('td', { text: details || '' }), h('td', { text: p.owner || t('none') }),
                h('td', { text: fmtDate(p.created_at) }),
                h('td.profile-actions', who, test, del, result));
        });
        replace(list, h('h2#profiles-list-title', { text: t('profiles.listTitle') }),
            profiles.length === 0 ? h('p.muted', { text: t('profiles.empty') })
                : h('div.table-wrap', h('table.table',
                    h('thead', h('tr', ['profiles.col.name', 'profiles.col.kind', 'profiles.col.details',
                        'profiles.col.owner', 'profiles.col.created', 'profiles.col.actions'].map((k) => h('th', { scope: 'col', text: t(k) })))),
                    h('tbody', rows))));
    };

    async function refresh() {
        profiles = await loadProfiles();
        renderList();
    }

    const showErrors = (items) => {
        for (const el of form.querySelectorAll('.field-error')) { el.hidden = true; el.textContent = ''; }
        if (!items.length) { errors.hidden = true; return; }
        replace(errors, h('ul', items.map((e) => h('li', { text: e.message }))));
        errors.hidden = false;
        for (const e of items) {
            const el = form.querySelector(`#p-${e.field}-err`);
            if (el) { el.textContent = e.message; el.hidden = false; }
        }
        errors.focus();
    };

    form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const body = { name: name.value.trim(), kind: kind.value };
        for (const f of KIND_FIELDS[kind.value]) {
            const v = f === 'method' ? inputs[f].value : inputs[f].value.trim();
            if (v) body[f] = v;
        }
        if (!body.name) { showErrors([{ field: 'name', message: t('profiles.needName') }]); return; }
        addBtn.disabled = true;
        status.textContent = t('profiles.adding');
        try {
            await request('POST', '/api/profiles', { json: body });
            for (const f of SECRET_FIELDS) inputs[f].value = '';   // secrets leave the page once
            name.value = '';
            showErrors([]);
            status.textContent = t('profiles.added', { name: body.name });
            announce(status.textContent);
            await refresh();
        } catch (e) {
            status.textContent = '';
            if (e instanceof ApiError && e.status === 422) showErrors(errorList(e).map((x) => ({ field: x.field, message: x.message || '' })));
            else showErrors([{ field: '', message: errorText(e) }]);
        } finally {
            for (const f of SECRET_FIELDS) if (f !== 'service_account') inputs[f].value = '';
            addBtn.disabled = false;
        }
    });

    root.append(h('div.page-head', h('h1#profiles-title', { i18n: 'profiles.title' }), h('p.lead', { i18n: 'profiles.intro' })),
        list, form, helpBox);
    renderHelp();
    renderList();
    refresh();
    const off = onLangChange(() => { renderHelp(); renderList(); });
    return { unmount() { off(); for (const f of SECRET_FIELDS) inputs[f].value = ''; } };
}
