// « Connexion »: POST /api/session {username, password}.

import { h, setI18n, setRaw } from '../util.js';
import { request, ApiError, errorText, retryAfter } from '../api.js';
import { setSession, afterLogin, takeFlash } from '../app.js';

export function mount(root) {
    let countdown = null;

    const msg = h('div.form-message', { role: 'alert', hidden: true });
    const user = h('input#login-username', {
        type: 'text', name: 'username', autocomplete: 'username', required: true,
        autocapitalize: 'none', spellcheck: 'false',
    });
    const pass = h('input#login-password', {
        type: 'password', name: 'password', autocomplete: 'current-password', required: true,
    });
    const submit = h('button.btn.btn-primary', { type: 'submit', i18n: 'login.submit' });

    // showMsg(key, args) for our texts, showMsg(null, null, text) for a server's text.
    const showMsg = (key, args, raw, kind = 'error') => {
        msg.hidden = !key && !raw;
        if (key) setI18n(msg, key, args); else setRaw(msg, raw || '');
        msg.className = `form-message form-message-${kind}`;
    };

    const startCountdown = (n) => {
        clearInterval(countdown);
        let left = n;
        submit.disabled = true;
        showMsg('err.tooMany', { n: left });
        countdown = setInterval(() => {
            left -= 1;
            if (left <= 0) {
                clearInterval(countdown);
                submit.disabled = false;
                showMsg(null);
                return;
            }
            showMsg('err.tooMany', { n: left });
        }, 1000);
    };

    const form = h('form.card.login-card', { novalidate: true, 'aria-labelledby': 'login-title' },
        h('h1#login-title', { i18n: 'login.title' }),
        h('p.muted', { i18n: 'login.intro' }),
        msg,
        h('div.field',
            h('label', { for: 'login-username', i18n: 'login.username' }),
            user),
        h('div.field',
            h('label', { for: 'login-password', i18n: 'login.password' }),
            pass),
        h('div.actions', submit),
        h('p.small', h('a', { href: '#/help', i18n: 'login.helpLink' })),
    );

    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const username = user.value.trim();
        const password = pass.value;
        pass.value = '';               // never keep the password in the page
        if (!username || !password) {
            showMsg('login.missing');
            (username ? pass : user).focus();
            return;
        }
        submit.disabled = true;
        setI18n(submit, 'login.busy');
        showMsg(null);
        try {
            const s = await request('POST', '/api/session', {
                json: { username, password }, noAuthRedirect: true,
            });
            setSession(s);
            afterLogin();
            return;
        } catch (err) {
            setI18n(submit, 'login.submit');
            submit.disabled = false;
            if (err instanceof ApiError && err.status === 429) {
                const n = retryAfter(err);
                if (n) startCountdown(n); else showMsg('err.tooManyNoDelay');
            } else if (err instanceof ApiError && err.status === 401) {
                showMsg('login.bad');
            } else if (err instanceof ApiError && err.kind === 'network') {
                showMsg('err.network');
            } else {
                showMsg(null, null, errorText(err));
            }
            pass.focus();
        }
    });

    const flash = takeFlash();
    if (flash) showMsg(flash.key, flash.args, null, flash.kind);

    root.append(h('div.login-wrap', form));
    setTimeout(() => (user.value ? pass : user).focus(), 0);

    return {
        unmount() { clearInterval(countdown); },
    };
}
