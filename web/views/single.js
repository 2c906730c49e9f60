// « Migration individuelle »: POST /api/check (« Tester la connexion ») and
// POST /api/jobs (« Lancer la migration »).

import { t, onLangChange } from '../i18n.js';
import {
    h, replace, setI18n, setRaw, fmtInt, fmtBytes, TYPES, DEFAULT_HOSTS,
} from '../util.js';
import { errorBeside, plainText } from '../errors.js';
import { request, ApiError, errorText, errorList } from '../api.js';
import { navigate, announce } from '../app.js';
import { loadProfiles, profileSelect } from './profiles.js';
import { optionFields, OPTION_FIELD_IDS, OPTION_FIELD_LABELS } from './options.js';

const TLS_MODES = ['auto', 'implicit', 'starttls', 'none'];

const FIELD_LABELS = {
    source_host: 'single.host', source_login: 'single.login', source_password: 'single.password',
    server_type: 'single.type', dest_login: 'single.dest', subscribed_only: 'single.subscribed',
    source_tls: 'single.tls', insecure: 'single.insecure', auth_profile: 'profiles.select',
    ...OPTION_FIELD_LABELS,
};

// API field name → input id.
const FIELD_IDS = {
    source_host: 'f-host', source_login: 'f-login', source_password: 'f-password',
    server_type: 'f-type', dest_login: 'f-dest', subscribed_only: 'f-subscribed',
    source_tls: 'f-tls', insecure: 'f-insecure', auth_profile: 'f-profile',
    ...OPTION_FIELD_IDS,
};

function fieldError(id) {
    return h(`p.field-error#${id}-err`, { hidden: true });
}

function help(id, key, args) {
    return h(`p.help#${id}-help`, { i18n: key, i18nArgs: args });
}

export function mount(root, ctx) {
    const sess = ctx.session;
    const domains = Array.isArray(sess.domains) ? sess.domains.filter(Boolean) : [];
    let lastCheck = null;      // last /api/check answer, re-rendered on language change
    let busy = false;

    // --- source fields ---
    const host = h('input#f-host', {
        type: 'text', name: 'source_host', autocomplete: 'off', spellcheck: 'false',
        autocapitalize: 'none', 'aria-describedby': 'f-host-help f-host-err',
    });
    const hostHelp = h('p.help#f-host-help');
    const login = h('input#f-login', {
        type: 'text', name: 'source_login', autocomplete: 'off', spellcheck: 'false',
        autocapitalize: 'none', required: true, 'aria-describedby': 'f-login-help f-login-err',
    });
    const password = h('input#f-password', {
        type: 'password', name: 'source_password', autocomplete: 'new-password', required: true,
        'aria-describedby': 'f-password-help f-password-err',
    });
    // « Accès administrateur »: a profile instead of the mailbox's password
    const profileField = h('div.field#f-profile-field', { hidden: true });
    const passwordField = h('div.field#f-password-field');
    let profileSel = null;
    loadProfiles().then((list) => {
        if (!list.length) return;
        profileSel = profileSelect('f-profile', list);
        replace(profileField, h('label', { for: 'f-profile', i18n: 'profiles.select' }), profileSel,
            help('f-profile', 'profiles.selectHelp'), fieldError('f-profile'));
        profileField.hidden = false;
        profileSel.addEventListener('change', () => {
            passwordField.hidden = !!profileSel.value;
            if (profileSel.value) password.value = '';
        });
    });
    const type = h('select#f-type', { name: 'server_type', 'aria-describedby': 'f-type-help f-type-err' },
        TYPES.map((v) => h('option', { value: v, i18n: `type.${v}` })));
    type.value = 'defaut';

    // --- destination ---
    const dest = h('input#f-dest', {
        type: 'text', name: 'dest_login', autocomplete: 'off', spellcheck: 'false',
        autocapitalize: 'none', required: true, 'aria-describedby': 'f-dest-help f-dest-err',
    });
    let domainSel = null;
    let destGroup;
    if (domains.length === 1) {
        destGroup = h('div.input-group', dest, h('span.input-suffix#f-dest-suffix', { text: '@' + domains[0] }));
        dest.classList.add('with-suffix');
    } else if (domains.length > 1) {
        domainSel = h('select#f-domain', { name: 'dest_domain' },
            domains.map((d) => h('option', { value: d, text: '@' + d })));
        destGroup = h('div.input-group', dest,
            h('label.sr-only', { for: 'f-domain', i18n: 'single.destDomain' }), domainSel);
        dest.classList.add('with-suffix');
    } else {
        destGroup = dest;
        dest.type = 'email';
        dest.setAttribute('inputmode', 'email');
    }
    const destHelpKey = domains.length ? 'single.destHelpLocal'
        : (sess.admin ? 'single.destHelpFull' : 'single.noDomain');

    const subscribed = h('input#f-subscribed', {
        type: 'checkbox', name: 'subscribed_only', 'aria-describedby': 'f-subscribed-help',
    });
    const tls = h('select#f-tls', { name: 'source_tls', 'aria-describedby': 'f-tls-err' },
        TLS_MODES.map((v) => h('option', { value: v, i18n: `tls.${v}` })));
    const insecure = h('input#f-insecure', {
        type: 'checkbox', name: 'insecure', 'aria-describedby': 'f-insecure-help',
    });
    const migOpts = optionFields();
    const advanced = h('details.advanced',
        h('summary', { i18n: 'single.advanced' }),
        h('div.field',
            h('label', { for: 'f-tls', i18n: 'single.tls' }), tls, fieldError('f-tls')),
        h('div.field.check',
            insecure, h('label', { for: 'f-insecure', i18n: 'single.insecure' }),
            help('f-insecure', 'single.insecureHelp'), fieldError('f-insecure')),
        ...migOpts.nodes,
    );

    const summary = h('div.form-message.form-message-error#single-errors', { role: 'alert', tabindex: '-1', hidden: true });
    const status = h('p.status#single-status', { role: 'status', 'aria-live': 'polite' });
    const checkBtn = h('button.btn.btn-secondary#btn-check', { type: 'button', i18n: 'single.check' });
    const launchBtn = h('button.btn.btn-primary#btn-launch', { type: 'submit', i18n: 'single.launch' });
    const result = h('section.card.check-result#check-result', { 'aria-labelledby': 'check-title', hidden: true });
    const pwNote = h('p.help.note#f-password-note', { hidden: true, i18n: 'single.passwordCleared' });

    passwordField.append(h('label', { for: 'f-password', i18n: 'single.password' }), password,
        help('f-password', 'single.passwordHelp'), pwNote, fieldError('f-password'));
    const form = h('form.card.form-single', { novalidate: true, 'aria-labelledby': 'single-title' },
        h('fieldset',
            h('legend', { i18n: 'single.source' }),
            h('p.muted', { i18n: 'single.sourceHelp' }),
            h('div.grid-2',
                h('div.field',
                    h('label', { for: 'f-host', i18n: 'single.host' }), host, hostHelp, fieldError('f-host')),
                h('div.field',
                    h('label', { for: 'f-login', i18n: 'single.login' }), login,
                    help('f-login', 'single.loginHelp'), fieldError('f-login')),
                profileField,
                passwordField,
                h('div.field',
                    h('label', { for: 'f-type', i18n: 'single.type' }), type,
                    help('f-type', 'single.typeHelp'), fieldError('f-type')),
            ),
            h('p.hint',
                h('span', { i18n: 'single.hint' }), ' ',
                h('a#hint-link', { href: '#/help', i18n: 'single.hintLink' })),
        ),
        h('fieldset',
            h('legend', { i18n: 'single.target' }),
            h('p.muted', { i18n: 'single.targetHelp' }),
            h('div.field',
                h('label', { for: 'f-dest', i18n: 'single.dest' }), destGroup,
                help('f-dest', destHelpKey), fieldError('f-dest')),
            h('div.field.check',
                subscribed, h('label', { for: 'f-subscribed', i18n: 'single.subscribed' }),
                help('f-subscribed', 'single.subscribedHelp')),
            advanced,
        ),
        summary,
        h('div.actions', checkBtn, launchBtn),
        status,
    );

    root.append(
        h('div.page-head',
            h('h1#single-title', { i18n: 'single.title' }),
            h('p.lead', { i18n: 'single.intro' })),
        form,
        result,
    );

    // Placeholder and help of the host follow the type: G Suite / Office 365 have a
    // default host, shown but never pre-filled.
    const updateHost = () => {
        const def = DEFAULT_HOSTS[type.value];
        if (def) {
            host.placeholder = def;
            host.required = false;
            setI18n(hostHelp, 'single.hostDefault', { host: def });
        } else {
            host.placeholder = t('single.hostPlaceholder');
            host.required = true;
            setI18n(hostHelp, 'single.hostHelp');
        }
    };
    type.addEventListener('change', updateHost);
    updateHost();

    // --- errors ---
    const clearErrors = () => {
        summary.hidden = true;
        summary.replaceChildren();
        for (const el of form.querySelectorAll('.field-error')) { el.hidden = true; el.textContent = ''; }
        for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    };

    // items: [{field?, key?, args?, message?}]
    const showErrors = (items) => {
        clearErrors();
        if (!items.length) return;
        const list = h('ul');
        for (const it of items) {
            const id = FIELD_IDS[it.field];
            const input = id && document.getElementById(id);
            const target = input ? h('a', { href: `#${id}` }) : h('span');
            if (it.key) {
                setI18n(target, it.key, it.args);
            } else if (FIELD_LABELS[it.field]) {
                // A server message about a field: name the field first.
                target.append(h('span', { i18n: FIELD_LABELS[it.field] }), h('span', { i18n: 'colon' }),
                    h('span', { text: plainText(it.message) }));
            } else {
                setRaw(target, it.message);
            }
            if (input) {
                input.setAttribute('aria-invalid', 'true');
                const fe = document.getElementById(`${id}-err`);
                if (fe) {
                    if (it.key) setI18n(fe, it.key, it.args); else setRaw(fe, plainText(it.message));
                    fe.hidden = false;
                }
                if (advanced.contains(input)) advanced.open = true;
                target.addEventListener('click', (e) => { e.preventDefault(); input.focus(); });
            }
            list.append(h('li', target));
        }
        summary.append(h('p', { i18n: 'err.form' }), list);
        summary.hidden = false;
        summary.focus();
    };

    const showApiError = (err) => {
        const list = errorList(err);
        if (list.length) {
            showErrors(list.map((e) => ({ field: e.field, message: e.message || '' })));
        } else if (err instanceof ApiError && err.kind === 'network') {
            showErrors([{ key: 'err.network' }]);
        } else {
            showErrors([{ message: errorText(err) }]);
        }
    };

    // --- payload ---
    const collect = () => {
        const errors = [];
        const p = {
            source_host: host.value.trim(),
            source_login: login.value.trim(),
            source_password: password.value,
            server_type: type.value,
            dest_login: '',
            subscribed_only: subscribed.checked,
            source_tls: tls.value,
            insecure: insecure.checked,
        };
        if (!p.source_host && !DEFAULT_HOSTS[p.server_type])
            errors.push({ field: 'source_host', key: 'single.missing.host' });
        if (!p.source_login) errors.push({ field: 'source_login', key: 'single.missing.login' });
        if (profileSel && profileSel.value) {
            p.auth_profile = profileSel.value;
            delete p.source_password;
        } else if (!p.source_password) {
            errors.push({ field: 'source_password', key: 'single.missing.password' });
        }
        const mo = migOpts.collect();
        Object.assign(p, mo.opts);
        errors.push(...mo.errors);
        const d = dest.value.trim();
        if (!d) {
            errors.push({ field: 'dest_login', key: 'single.missing.dest' });
        } else if (domains.length) {
            if (d.includes('@')) errors.push({ field: 'dest_login', key: 'single.badLocal' });
            else p.dest_login = `${d}@${domainSel ? domainSel.value : domains[0]}`;
        } else if (!/^[^@\s]+@[^@\s]+$/.test(d)) {
            errors.push({ field: 'dest_login', key: 'single.badFull' });
        } else {
            p.dest_login = d;
        }
        return { p, errors };
    };

    const setBusy = (on, key) => {
        busy = on;
        checkBtn.disabled = on;
        launchBtn.disabled = on;
        form.setAttribute('aria-busy', on ? 'true' : 'false');
        if (key) setI18n(status, key); else setRaw(status, '');
    };

    // --- « Tester la connexion » ---
    checkBtn.addEventListener('click', async () => {
        if (busy) return;
        const { p, errors } = collect();
        if (errors.length) { showErrors(errors); return; }
        clearErrors();
        setBusy(true, 'single.checking');
        result.hidden = true;
        try {
            lastCheck = await request('POST', '/api/check', { json: p });
            renderCheck();
            result.hidden = false;
            setBusy(false);
            result.querySelector('h2').focus();
        } catch (err) {
            setBusy(false);
            if (err instanceof ApiError && err.status === 401) return;
            showApiError(err);
        }
    });

    // --- « Lancer la migration » ---
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        if (busy) return;
        const { p, errors } = collect();
        if (errors.length) { showErrors(errors); return; }
        clearErrors();
        setBusy(true, 'single.launching');
        password.value = '';             // the password leaves the page with this request
        try {
            const job = await request('POST', '/api/jobs', { json: p });
            p.source_password = '';
            setBusy(false);
            if (job && job.id !== undefined && job.id !== null) {
                announce(t('single.launched', { id: job.id }));
                navigate(`#/jobs/${job.id}`);
            } else {
                navigate('#/jobs');
            }
        } catch (err) {
            p.source_password = '';
            setBusy(false);
            pwNote.hidden = false;
            if (err instanceof ApiError && err.status === 401) return;
            showApiError(err);
        }
    });
    password.addEventListener('input', () => { pwNote.hidden = true; });

    // --- check result ---
    function side(titleKey, data, withFolders) {
        const ok = !!(data && data.ok);
        const box = h(`div.result-side.${ok ? 'ok' : 'fail'}`,
            h('h3', { i18n: titleKey }),
            h('p.result-status',
                h(`span.badge.${ok ? 'badge-done' : 'badge-failed'}`, { i18n: ok ? 'check.ok' : 'check.fail' })),
        );
        if (!ok && data && data.error) box.append(h('p.error-text', { text: errorBeside(data) }));
        const q = ok && data && data.quota;
        if (q && typeof q === 'object') {
            box.append(h('p.quota#check-quota', {
                text: t('check.quota', { used: fmtBytes(q.used), limit: fmtBytes(q.limit), free: fmtBytes(q.free) }),
            }));
            if (q.estimated_after !== null && q.estimated_after !== undefined) {
                box.append(h(`p.quota-after${q.fits ? '' : '.warn-text'}#check-quota-after`, {
                    text: t(q.fits ? 'check.quotaFits' : 'check.quotaOver', { size: fmtBytes(q.estimated_after), limit: fmtBytes(q.limit) }),
                }));
            }
        }
        if (!ok && titleKey === 'check.source') {
            box.append(h('p.small', h('a', { href: '#/help', i18n: 'job.errorHint' })));
        }
        if (ok && withFolders) {
            const folders = Array.isArray(data.folders) ? data.folders : [];
            const totalMsgs = data.messages !== undefined && data.messages !== null ? data.messages
                : folders.reduce((a, f) => a + (Number(f.messages) || 0), 0);
            const totalBytes = data.bytes !== undefined && data.bytes !== null ? data.bytes
                : folders.reduce((a, f) => a + (Number(f.bytes) || 0), 0);
            box.append(h('p.summary', {
                text: t('check.summary', {
                    folders: folders.length, messages: fmtInt(totalMsgs), size: fmtBytes(totalBytes),
                }),
            }));
            if (folders.length) {
                box.append(h('div.table-wrap.scroll-y', { tabindex: '0', 'aria-label': t('check.folder') },
                    h('table.data',
                        h('thead', h('tr',
                            h('th', { scope: 'col', i18n: 'check.folder' }),
                            h('th.num', { scope: 'col', i18n: 'check.messages' }),
                            h('th.num', { scope: 'col', i18n: 'check.size' }))),
                        h('tbody', folders.map((f) => h('tr',
                            h('td.folder', { text: f.name }),
                            h('td.num', { text: fmtInt(f.messages) }),
                            h('td.num', { text: fmtBytes(f.bytes) })))),
                        h('tfoot', h('tr',
                            h('th', { scope: 'row', i18n: 'check.total' }),
                            h('td.num', { text: fmtInt(totalMsgs) }),
                            h('td.num', { text: fmtBytes(totalBytes) }))),
                    )));
            } else {
                box.append(h('p.muted', { i18n: 'check.noFolder' }));
            }
        }
        return box;
    }

    function renderCheck() {
        if (!lastCheck) return;
        replace(result,
            h('h2#check-title', { i18n: 'check.title', tabindex: '-1' }),
            h('div.result-grid',
                side('check.source', lastCheck.source, true),
                side('check.destination', lastCheck.destination, false)));
    }

    const off = onLangChange(() => { updateHost(); renderCheck(); });
    return {
        unmount() { off(); password.value = ''; },
    };
}
