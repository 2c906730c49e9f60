// Shell: session, hash router (#/login, #/single, #/multi, #/jobs, #/jobs/ID, #/batches, #/profiles,
// #/help),
// navigation, language switch, announcements and the confirmation dialog.

import { t, getLang, setLang, applyI18n, onLangChange } from './i18n.js';
import { request, setCsrf, onUnauthorized, ApiError } from './api.js';
import { loadMessages } from './errors.js';
import * as loginView from './views/login.js';
import * as singleView from './views/single.js';
import * as multiView from './views/multi.js';
import * as jobsView from './views/jobs.js';
import * as jobView from './views/job.js';
import * as helpView from './views/help.js';
import * as profilesView from './views/profiles.js';
import * as batchesView from './views/batches.js';

const ROUTES = [
    { re: /^\/login$/, view: loginView, title: 'login.title', nav: null, auth: false },
    { re: /^\/single$/, view: singleView, title: 'single.title', nav: 'single', auth: true },
    { re: /^\/multi$/, view: multiView, title: 'multi.title', nav: 'multi', auth: true },
    { re: /^\/jobs$/, view: jobsView, title: 'jobs.title', nav: 'jobs', auth: true },
    { re: /^\/jobs\/(\d+)$/, view: jobView, title: 'jobs.title', nav: 'jobs', auth: true },
    { re: /^\/batches$/, view: batchesView, title: 'batches.title', nav: 'batches', auth: true },
    { re: /^\/profiles$/, view: profilesView, title: 'profiles.title', nav: 'profiles', auth: true },
    { re: /^\/help$/, view: helpView, title: 'help.title', nav: 'help', auth: false },
];

const state = {
    session: null,        // {username, admin, domains, csrf} — csrf also kept by api.js
    current: null,        // {route, instance}
    returnTo: null,       // hash to go back to after signing in
    flash: null,          // {key, args, kind} shown once by the sign-in page
};

const main = document.getElementById('main');

export function navigate(hash, { replace = false } = {}) {
    if (!hash.startsWith('#')) hash = '#' + hash;
    if (location.hash === hash) { render(); return; }
    if (replace) { history.replaceState(null, '', hash); render(); } else location.hash = hash;
}

export function setFlash(key, args = {}, kind = 'info') { state.flash = { key, args, kind }; }
export function takeFlash() { const f = state.flash; state.flash = null; return f; }
export function session() { return state.session; }

export function setSession(s) {
    state.session = s;
    setTimeout(startNodes, 0);
    setCsrf(s ? s.csrf : null);
    updateShell();
}

export function afterLogin() {
    const to = state.returnTo && !state.returnTo.startsWith('#/login') ? state.returnTo : '#/single';
    state.returnTo = null;
    navigate(to, { replace: true });
}

// Polite announcement for screen readers (state changes, actions done).
const announcer = document.getElementById('announcer');
export function announce(text) {
    announcer.textContent = '';
    setTimeout(() => { announcer.textContent = text; }, 50);
}

// Modal confirmation with <dialog>; resolves true when confirmed.
export function confirmDialog({ title, text, ok }) {
    const dlg = document.getElementById('confirm');
    dlg.querySelector('#confirm-title').textContent = title;
    dlg.querySelector('#confirm-text').textContent = text;
    const okBtn = dlg.querySelector('#confirm-ok');
    okBtn.textContent = ok;
    return new Promise((resolve) => {
        const done = () => {
            dlg.removeEventListener('close', done);
            resolve(dlg.returnValue === 'ok');
        };
        dlg.returnValue = '';
        dlg.addEventListener('close', done);
        dlg.showModal();
        dlg.querySelector('#confirm-cancel').focus();
    });
}

// Ask for the source password again (it is erased when a task ends). Resolves to the
// password, or null when cancelled. The field is emptied whatever happens.
export function passwordDialog({ text }) {
    const dlg = document.getElementById('pwdialog');
    const input = dlg.querySelector('#pwdialog-password');
    dlg.querySelector('#pwdialog-text').textContent = text;
    input.value = '';
    return new Promise((resolve) => {
        const cancel = dlg.querySelector('#pwdialog-cancel');
        const onCancel = () => dlg.close('');
        const done = () => {
            dlg.removeEventListener('close', done);
            cancel.removeEventListener('click', onCancel);
            const pw = dlg.returnValue === 'ok' ? input.value : null;
            input.value = '';
            resolve(pw);
        };
        cancel.addEventListener('click', onCancel);
        dlg.querySelector('#pwdialog-form').onsubmit = (e) => {
            e.preventDefault();
            if (input.value) dlg.close('ok');
        };
        dlg.returnValue = '';
        dlg.addEventListener('close', done);
        dlg.showModal();
        input.focus();
    });
}

function parseHash() {
    const raw = location.hash.replace(/^#/, '') || '/';
    const q = raw.indexOf('?');
    const path = q >= 0 ? raw.slice(0, q) : raw;
    const query = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
    return { path, query };
}

function render() {
    const { path, query } = parseHash();
    if (path === '/' || path === '') {
        navigate(state.session ? '#/single' : '#/login', { replace: true });
        return;
    }
    let route = null, match = null;
    for (const r of ROUTES) {
        match = r.re.exec(path);
        if (match) { route = r; break; }
    }
    if (!route) { navigate(state.session ? '#/single' : '#/login', { replace: true }); return; }
    if (route.auth && !state.session) {
        state.returnTo = location.hash;
        navigate('#/login', { replace: true });
        return;
    }
    if (route.view === loginView && state.session) { navigate('#/single', { replace: true }); return; }

    if (state.current && state.current.instance && state.current.instance.unmount)
        state.current.instance.unmount();
    main.replaceChildren();
    main.className = `view view-${route.nav || 'login'}`;
    const ctx = { params: match.slice(1), query, session: state.session };
    state.current = { route, instance: route.view.mount(main, ctx) || null };
    setNavCurrent(route.nav);
    setTitle(route.title);
    closeMenu();
    // Move focus to the page heading so keyboard and screen-reader users land on it.
    const h1 = main.querySelector('h1');
    if (h1) { h1.setAttribute('tabindex', '-1'); h1.focus({ preventScroll: true }); }
    window.scrollTo(0, 0);
}

function setTitle(key) {
    document.title = `${t(key)} — ${t('app.name')}`;
    document.body.dataset.titleKey = key;
}

function setNavCurrent(nav) {
    for (const a of document.querySelectorAll('#nav a')) {
        if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
    }
}

function updateShell() {
    const s = state.session;
    document.body.classList.toggle('signed-in', !!s);
    for (const li of document.querySelectorAll('#nav [data-auth]')) li.hidden = !s;
    document.getElementById('logout').hidden = !s;
    const user = document.getElementById('user');
    user.hidden = !s;
    if (s) {
        user.dataset.i18n = 'nav.signedInAs';
        user.dataset.i18nArgs = JSON.stringify({ user: s.username + (s.admin ? ` (${t('nav.admin')})` : '') });
        user.textContent = t('nav.signedInAs', JSON.parse(user.dataset.i18nArgs));
    }
}

// The « Nœuds » line of the footer (admins): the live nodes of the store (GET /api/nodes),
// refreshed every 15 s; one line, e.g. "Nœuds : 3 actifs — vm-1a2b (celui-ci, 2 en cours), …".
let nodesData = null;
let nodesTimer = null;

function renderNodes() {
    const p = document.getElementById('nodes-line');
    if (!p) return;
    if (!nodesData || !state.session || !state.session.admin) { p.hidden = true; return; }
    const list = nodesData.nodes.map((n) => {
        const notes = [];
        if (n.self) notes.push(t('nodes.self'));
        notes.push(t('nodes.running', { n: n.running }));
        return `${n.id} (${notes.join(', ')})`;
    }).join(', ');
    p.textContent = t('nodes.line', { n: nodesData.nodes.length, list });
    p.hidden = false;
}

async function refreshNodes() {
    if (!state.session || !state.session.admin) { nodesData = null; renderNodes(); return; }
    try {
        nodesData = await request('GET', '/api/nodes', { noAuthRedirect: true });
    } catch (e) {
        nodesData = null;
    }
    renderNodes();
}

function startNodes() {
    if (nodesTimer) clearInterval(nodesTimer);
    nodesTimer = null;
    refreshNodes();
    if (state.session && state.session.admin) nodesTimer = setInterval(refreshNodes, 15000);
}

function updateLangButtons() {
    for (const b of document.querySelectorAll('.lang button')) {
        b.setAttribute('aria-pressed', b.dataset.lang === getLang() ? 'true' : 'false');
    }
}

function closeMenu() {
    const btn = document.getElementById('menu-toggle');
    btn.setAttribute('aria-expanded', 'false');
    document.getElementById('nav').classList.remove('open');
}

async function logout() {
    try {
        await request('DELETE', '/api/session', { noAuthRedirect: true });
    } catch (e) {
        // Even if the server is unreachable, forget the session on this side.
    }
    setSession(null);
    setFlash('logout.done');
    navigate('#/login');
}

function wireShell() {
    document.getElementById('logout').addEventListener('click', logout);
    document.getElementById('logout-nav').addEventListener('click', logout);
    for (const b of document.querySelectorAll('.lang button')) {
        b.addEventListener('click', () => setLang(b.dataset.lang));
    }
    const toggle = document.getElementById('menu-toggle');
    toggle.addEventListener('click', () => {
        const open = toggle.getAttribute('aria-expanded') !== 'true';
        toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
        document.getElementById('nav').classList.toggle('open', open);
    });
    document.getElementById('skip').addEventListener('click', (e) => {
        e.preventDefault();
        const h1 = main.querySelector('h1') || main;
        h1.setAttribute('tabindex', '-1');
        h1.focus();
    });
    const dlg = document.getElementById('confirm');
    dlg.querySelector('#confirm-cancel').addEventListener('click', () => dlg.close('cancel'));
    dlg.querySelector('#confirm-ok').addEventListener('click', () => dlg.close('ok'));
    onLangChange(() => {
        updateLangButtons();
        updateShell();
        renderNodes();
        if (document.body.dataset.titleKey) setTitle(document.body.dataset.titleKey);
    });
    window.addEventListener('hashchange', render);
    onUnauthorized(() => {
        if (!state.session) return;
        setSession(null);
        const { path } = parseHash();
        if (path !== '/login' && path !== '/help') state.returnTo = location.hash;
        setFlash('err.sessionExpired', {}, 'error');
        navigate('#/login');
    });
}

async function start() {
    document.documentElement.lang = getLang();
    applyI18n(document);
    updateLangButtons();
    wireShell();
    const messages = loadMessages(); // the catalogue of coded messages (GET /api/messages)
    try {
        const s = await request('GET', '/api/session', { noAuthRedirect: true });
        if (s && s.username) setSession(s);
        else setSession(null);
    } catch (e) {
        setSession(null);
        if (e instanceof ApiError && e.kind === 'network') setFlash('err.network', {}, 'error');
    }
    await messages;
    document.body.classList.remove('booting');
    render();
}

start();
