// Browser tests of the migrabox web UI against a running `migrabox serve`.
// Debian's chromium driven by playwright-core; run with `node --test` (npm test).
//
// Environment:
//   MIGRABOX_URL                   base URL of the server, e.g. http://127.0.0.1:8080 (required;
//                                  without it every test is skipped)
//   MIGRABOX_TEST_USER             web account (non-admin with domains, or admin)
//   MIGRABOX_TEST_PASSWORD         its password
//   MIGRABOX_TEST_ADMIN            an admin account and MIGRABOX_TEST_ADMIN_PASSWORD its password
//                                  (the « Nœuds » footer line; skipped without them)
//   MIGRABOX_TEST_SOURCE_HOST      source IMAP server, HOST or HOST:PORT (e.g. 127.0.0.1:14301)
//   MIGRABOX_TEST_SOURCE_LOGIN     source mailbox login
//   MIGRABOX_TEST_SOURCE_PASSWORD  source mailbox password
//   MIGRABOX_TEST_SOURCE_TYPE      gmail|exchange|office|domino|defaut (default: defaut)
//   MIGRABOX_TEST_SOURCE_TLS       auto|implicit|starttls|none (default: leave the form's « auto »)
//   MIGRABOX_TEST_SOURCE_INSECURE  1 = tick « Ne pas vérifier le certificat »
//   MIGRABOX_TEST_DEST             destination mailbox, full address (user@domain) — must exist
//   MIGRABOX_TEST_SMALL_DEST       a destination mailbox that refuses some of the source's
//                                  messages with [LIMIT] (the refused messages' reasons;
//                                  skipped without it)
//   MIGRABOX_TEST_TIMEOUT          seconds to wait for the migration to end (default: 180)
//   MIGRABOX_CHROMIUM              browser binary (default: /usr/bin/chromium)
//   MIGRABOX_WEB_ARTIFACTS         screenshot folder (default: <repo>/build/web-artifacts)
// The individual-migration scenario is skipped when the MIGRABOX_TEST_SOURCE_* variables or
// MIGRABOX_TEST_DEST are missing. Nothing here talks to anything but MIGRABOX_URL.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const BASE = (env.MIGRABOX_URL || '').replace(/\/+$/, '');
const USER = env.MIGRABOX_TEST_USER || '';
const PASSWORD = env.MIGRABOX_TEST_PASSWORD || '';
const ADMIN = env.MIGRABOX_TEST_ADMIN || '';
const ADMIN_PASSWORD = env.MIGRABOX_TEST_ADMIN_PASSWORD || '';
const SRC = {
    host: env.MIGRABOX_TEST_SOURCE_HOST || '',
    login: env.MIGRABOX_TEST_SOURCE_LOGIN || '',
    password: env.MIGRABOX_TEST_SOURCE_PASSWORD || '',
    type: env.MIGRABOX_TEST_SOURCE_TYPE || 'defaut',
    tls: env.MIGRABOX_TEST_SOURCE_TLS || '',
    insecure: env.MIGRABOX_TEST_SOURCE_INSECURE === '1',
};
const DEST = env.MIGRABOX_TEST_DEST || '';
const SMALL_DEST = env.MIGRABOX_TEST_SMALL_DEST || '';
const MIGRATION_TIMEOUT = (parseInt(env.MIGRABOX_TEST_TIMEOUT || '180', 10) || 180) * 1000;
const ARTIFACTS = env.MIGRABOX_WEB_ARTIFACTS || resolve(HERE, '../../build/web-artifacts');
const CHROMIUM = env.MIGRABOX_CHROMIUM || '/usr/bin/chromium';

const noServer = !BASE || !USER || !PASSWORD
    ? 'MIGRABOX_URL, MIGRABOX_TEST_USER and MIGRABOX_TEST_PASSWORD are not all set' : false;
const noSource = !SRC.host || !SRC.login || !SRC.password || !DEST
    ? 'MIGRABOX_TEST_SOURCE_HOST/LOGIN/PASSWORD and MIGRABOX_TEST_DEST are not all set' : false;

let browser;

// A fresh browser context per test, with every page error, failed assertion of the CSP
// and console error (other than HTTP statuses the UI handles) collected for the end check.
async function open(t, { width = 1280, height = 900 } = {}) {
    const context = await browser.newContext({ viewport: { width, height }, locale: 'fr-FR' });
    context.setDefaultTimeout(15000);
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
        const text = m.text();
        if (/Content.Security.Policy|Refused to/i.test(text)) problems.push(`CSP: ${text}`);
        else if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of (401|403|404|409|413|422|429)/.test(text))
            problems.push(`console error: ${text}`);
    });
    t.after(async () => { await context.close(); });
    return { context, page, problems };
}

async function shot(page, name) {
    const w = page.viewportSize().width;
    await page.screenshot({ path: join(ARTIFACTS, `${name}-${w}.png`), fullPage: true });
}

// Run body; on failure keep a screenshot of the page as it was.
async function guarded(page, name, body) {
    try {
        await body();
    } catch (e) {
        try { await shot(page, `FAILED-${name}`); } catch (e2) { /* page gone */ }
        throw e;
    }
}

async function signIn(page, user = USER, password = PASSWORD) {
    await page.goto(`${BASE}/`);
    await page.locator('#login-username').waitFor();
    for (let attempt = 0; attempt < 3; attempt++) {
        await page.fill('#login-username', user);
        await page.fill('#login-password', password);
        await page.click('form button[type="submit"]');
        const outcome = await Promise.race([
            page.waitForURL(/#\/single$/).then(() => 'in'),
            page.locator('.form-message-error').waitFor().then(() => 'msg'),
        ]);
        if (outcome === 'in') return;
        const msg = await page.locator('.form-message-error').textContent();
        const m = /(\d+)\s*s/.exec(msg || '');
        if (!m) throw new Error(`sign-in refused: ${msg}`);
        // Rate limited (429): the page counts down, then signing in works again.
        await page.waitForTimeout((parseInt(m[1], 10) + 1) * 1000);
    }
    throw new Error('sign-in kept being rate limited');
}

async function apiJson(page, path, init) {
    return page.evaluate(async ([p, i]) => {
        const r = await fetch(p, i || {});
        let body = null;
        try { body = await r.json(); } catch (e) { body = null; }
        return { status: r.status, body };
    }, [path, init || null]);
}

async function unlabelledControls(page) {
    return page.evaluate(() => Array.from(document.querySelectorAll('main input, main select, main textarea'))
        .filter((el) => el.type !== 'hidden' && (!el.labels || el.labels.length === 0))
        .map((el) => el.id || el.name || el.outerHTML.slice(0, 60)));
}

async function storedKeys(page) {
    return page.evaluate(() => ({
        local: Object.keys(localStorage).map((k) => [k, localStorage.getItem(k)]),
        session: Object.keys(sessionStorage).map((k) => [k, sessionStorage.getItem(k)]),
    }));
}

function splitAddress(addr) {
    const at = addr.lastIndexOf('@');
    return at > 0 ? [addr.slice(0, at), addr.slice(at + 1)] : [addr, ''];
}

// Fill « Boîte de destination » whatever form the account gets: a fixed @domain suffix,
// a select of domains, or a full address field.
async function fillDestination(page, address) {
    const [local, domain] = splitAddress(address);
    if (await page.locator('#f-domain').count()) {
        await page.selectOption('#f-domain', domain);
        await page.fill('#f-dest', local);
    } else if (await page.locator('#f-dest-suffix').count()) {
        const suffix = (await page.locator('#f-dest-suffix').textContent()).trim();
        assert.equal(suffix, `@${domain}`, 'MIGRABOX_TEST_DEST must be in the account\'s domain');
        await page.fill('#f-dest', local);
    } else {
        await page.fill('#f-dest', address);
    }
}

// Each test says why it is skipped (so a run without a server reports N skipped, not 0 tests).
const needs = (extra = {}) => ({ ...extra, skip: noServer || extra.skip || false });

describe('migrabox web UI', () => {
    before(async () => {
        if (noServer) return;
        mkdirSync(ARTIFACTS, { recursive: true });
        browser = await chromium.launch({
            executablePath: CHROMIUM,
            args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        });
    });
    after(async () => { if (browser) await browser.close(); });

    test('sign-in: French labels, CSP, wrong password refused, session, no secret stored', needs(), async (t) => {
        const { page, problems } = await open(t);
        await guarded(page, 'signin', async () => {
            const res = await page.goto(`${BASE}/`);
            const csp = res.headers()['content-security-policy'] || '';
            assert.match(csp, /default-src 'self'/, 'the page is served with the CSP');
            assert.match(csp, /frame-ancestors 'none'/);
            await page.locator('#login-username').waitFor();
            assert.equal(await page.getAttribute('html', 'lang'), 'fr');
            assert.equal((await page.locator('label[for="login-username"]').textContent()).trim(), 'Identifiant');
            assert.equal((await page.locator('label[for="login-password"]').textContent()).trim(), 'Mot de passe');
            assert.equal((await page.locator('h1').textContent()).trim(), 'Connexion');
            await shot(page, 'signin');

            // Wrong password: refused with a message (or rate limited), password field emptied.
            await page.fill('#login-username', USER);
            await page.fill('#login-password', `${PASSWORD}-wrong`);
            await page.click('form button[type="submit"]');
            const msg = page.locator('.form-message-error');
            await msg.waitFor();
            assert.match(await msg.textContent(), /Identifiant ou mot de passe incorrect|Trop de tentatives/);
            assert.equal(await page.inputValue('#login-password'), '');

            await signIn(page);
            assert.equal(await page.inputValue('#f-login'), '');
            const sess = await apiJson(page, '/api/session');
            assert.equal(sess.status, 200);
            assert.equal(sess.body.username, USER);
            assert.ok(typeof sess.body.csrf === 'string' && sess.body.csrf.length > 0);
            assert.match(await page.locator('#user').textContent(), new RegExp(USER));

            const stored = await storedKeys(page);
            const all = JSON.stringify(stored);
            assert.ok(!all.includes(PASSWORD), 'no password in web storage');
            assert.ok(!all.includes(sess.body.csrf), 'no CSRF token in web storage');

            // Reloading keeps the session (cookie) and lands on a signed-in page.
            await page.reload();
            await page.locator('#f-host').waitFor();

            // Every form control of the page has a label.
            assert.deepEqual(await unlabelledControls(page), []);

            // A mutating request without the CSRF header is refused.
            const noCsrf = await apiJson(page, '/api/jobs/0/cancel', { method: 'POST' });
            assert.ok([401, 403].includes(noCsrf.status), `POST without X-CSRF-Token → ${noCsrf.status}`);

            // Sign out: back to « Connexion », the session is gone.
            await page.click('#logout');
            await page.locator('#login-username').waitFor();
            assert.equal((await apiJson(page, '/api/session')).status, 401);
        });
        assert.deepEqual(problems, []);
    });

    test('individual migration: test the connection, launch, TERMINÉE on screen', needs({ skip: noSource, timeout: MIGRATION_TIMEOUT + 120000 }), async (t) => {
        const { page, problems } = await open(t);
        await guarded(page, 'single', async () => {
            await signIn(page);
            // Labels are exactly the spec's.
            const label = async (id) => (await page.locator(`label[for="${id}"]`).textContent()).trim();
            assert.equal(await label('f-host'), 'Hôte source');
            assert.equal(await label('f-login'), 'Login source');
            assert.equal(await label('f-password'), 'Mot de passe source');
            assert.equal(await label('f-type'), 'Type de messagerie');
            assert.equal(await label('f-dest'), 'Boîte de destination');
            assert.equal(await label('f-subscribed'), 'Dossier abonné IMAP uniquement');
            const types = await page.locator('#f-type option').evaluateAll((os) => os.map((o) => [o.value, o.textContent.trim()]));
            assert.deepEqual(types, [['gmail', 'G Suite'], ['exchange', 'MS-Exchange'], ['office', 'Office 365'],
                ['domino', 'Domino'], ['defaut', 'Standard']]);
            // G Suite with an empty host: the default host is shown, not filled in.
            await page.selectOption('#f-type', 'gmail');
            assert.equal(await page.getAttribute('#f-host', 'placeholder'), 'imap.gmail.com');
            assert.equal(await page.inputValue('#f-host'), '');
            await page.selectOption('#f-type', 'office');
            assert.equal(await page.getAttribute('#f-host', 'placeholder'), 'outlook.office365.com');
            assert.ok(await page.locator('a[href="#/help"]').first().isVisible(), 'Gmail/Yahoo hint link');

            await page.fill('#f-host', SRC.host);
            await page.fill('#f-login', SRC.login);
            await page.fill('#f-password', SRC.password);
            await page.selectOption('#f-type', SRC.type);
            await fillDestination(page, DEST);
            if (SRC.tls || SRC.insecure) {
                await page.click('details.advanced > summary');
                if (SRC.tls) await page.selectOption('#f-tls', SRC.tls);
                if (SRC.insecure) await page.check('#f-insecure');
            }

            await page.click('#btn-check');
            const result = page.locator('#check-result');
            await result.waitFor({ state: 'visible', timeout: 60000 });
            const sides = result.locator('.result-side');
            assert.equal(await sides.count(), 2);
            for (let i = 0; i < 2; i++) {
                assert.match(await sides.nth(i).textContent(), /Connexion réussie/, `check side ${i}: ${await sides.nth(i).textContent()}`);
            }
            assert.ok(await result.locator('tbody tr').count() >= 1, 'the source folders are listed');
            assert.match(await result.locator('tbody').textContent(), /INBOX/i);
            await shot(page, 'single-check');

            await page.click('#btn-launch');
            await page.waitForURL(/#\/jobs\/\d+$/, { timeout: 30000 });
            const id = /#\/jobs\/(\d+)$/.exec(page.url())[1];
            // Live updates, no reload: the badge reaches TERMINÉE by itself.
            await page.locator('#job-state .badge', { hasText: /^(TERMINÉE|ÉCHOUÉE)$/ }).waitFor({ timeout: MIGRATION_TIMEOUT });
            const state = (await page.locator('#job-state .badge').textContent()).trim();
            if (state !== 'TERMINÉE') {
                await shot(page, 'single-job-failed');
                assert.fail(`task ${id} ended ${state}: ${await page.locator('#job-failure').textContent()}`);
            }
            await page.locator('#report-table tbody tr').first().waitFor({ timeout: 10000 });
            assert.match(await page.locator('#job-progress').textContent(), /100\s*%/);
            await page.locator('#job-log li').first().waitFor({ timeout: 10000 });
            await shot(page, 'single-done');

            // The list shows it too, with its French state name; the free-text filter finds it.
            await page.click('#back-link');
            await page.locator('#jobs-count').waitFor();
            await page.fill('#flt-q', SRC.login);
            await page.waitForURL(/[?&]q=/);
            const row = page.locator(`#jobs-body tr[data-id="${id}"]`);
            await row.waitFor();
            assert.match(await row.textContent(), /TERMINÉE/);
            await shot(page, 'jobs');

            // The job object never carries a password.
            const job = await apiJson(page, `/api/jobs/${id}`);
            assert.equal(job.status, 200);
            assert.ok(!JSON.stringify(job.body).includes(SRC.password), 'no password in the job');
            assert.ok(!JSON.stringify(await storedKeys(page)).includes(SRC.password), 'no password in storage');
        });
        assert.deepEqual(problems, []);
    });

    test('bulk migration: a CSV with one bad line shows the line and queues nothing', needs(), async (t) => {
        const { page, problems } = await open(t);
        await guarded(page, 'csv-error', async () => {
            await signIn(page);
            const sess = (await apiJson(page, '/api/session')).body;
            const domain = (sess.domains && sess.domains[0]) || splitAddress(DEST)[1] || 'example.com';
            const before = await apiJson(page, '/api/jobs?limit=1&offset=0');
            assert.equal(before.status, 200);

            await page.click('#nav a[data-nav="multi"]');
            await page.locator('#csv-file').waitFor({ state: 'attached' });
            assert.equal(await page.getAttribute('#sample-link', 'href'), '/api/sample.csv');
            const csv = 'login_source;pass_source;host_source;type_messagerie;login_destination;subscribed_only\r\n' +
                `ui.good@source.test;Secret;127.0.0.1:1;defaut;ui.good@${domain};False\r\n` +
                `ui.bad@source.test;Secret;127.0.0.1:1;imap;ui.bad@${domain};False\r\n`;
            await page.setInputFiles('#csv-file', { name: 'un-mauvais.csv', mimeType: 'text/csv', buffer: Buffer.from(csv, 'utf8') });
            const errors = page.locator('#csv-errors');
            await errors.waitFor();
            const items = await errors.locator('li').allTextContents();
            assert.ok(items.some((x) => /^Ligne 3, colonne 4 : /.test(x)), `errors: ${JSON.stringify(items)}`);
            assert.ok(!items.some((x) => /^Ligne 2\b/.test(x)), `line 2 is valid: ${JSON.stringify(items)}`);
            assert.ok(!(await page.locator('#btn-confirm').isEnabled()) || !(await page.locator('#btn-confirm').isVisible()),
                'nothing can be confirmed while errors exist');
            await shot(page, 'csv-error');

            // Sending the same file for real is refused by the server too: nothing queued.
            const real = await page.evaluate(async ([body, token]) => {
                const r = await fetch('/api/imports', { method: 'POST', body, headers: { 'Content-Type': 'text/csv', 'X-CSRF-Token': token } });
                return { status: r.status, body: await r.json().catch(() => null) };
            }, [csv, sess.csrf]);
            assert.equal(real.status, 422);
            assert.ok(real.body.errors.some((e) => e.line === 3 && e.column === 4), JSON.stringify(real.body));
            const afterList = await apiJson(page, '/api/jobs?limit=1&offset=0');
            assert.equal(afterList.body.total, before.body.total, 'no task was created');
        });
        assert.deepEqual(problems, []);
    });

    test('bulk migration: preview, confirm, tracking on the batch, cancel and delete', needs(), async (t) => {
        const { page, problems } = await open(t);
        await guarded(page, 'csv-batch', async () => {
            await signIn(page);
            const sess = (await apiJson(page, '/api/session')).body;
            const domain = (sess.domains && sess.domains[0]) || splitAddress(DEST)[1] || 'example.com';
            await page.goto(`${BASE}/#/multi`);
            await page.locator('#csv-file').waitFor({ state: 'attached' });
            // Windows-1252 bytes, no header, CRLF, as a French spreadsheet saves them; the source
            // is a closed loopback port, so the task cannot copy anything anywhere.
            const stamp = Date.now();
            const login = `ui.lot.${stamp}@source.test`;
            const line = `${login};Mot de passe été;127.0.0.1:1;defaut;ui.lot.${stamp}@${domain};True\r\n`;
            await page.setInputFiles('#csv-file', { name: 'lot.csv', mimeType: 'text/csv', buffer: Buffer.from(line, 'latin1') });
            const table = page.locator('#preview-table');
            await table.waitFor();
            assert.equal(await table.locator('tbody tr').count(), 1);
            const rowText = await table.locator('tbody tr').textContent();
            assert.ok(rowText.includes(login), rowText);
            assert.match(rowText, /Standard/);
            assert.match(rowText, /Oui/);
            assert.ok(!rowText.includes('été'), 'the password is not shown');
            assert.ok(await page.locator('#btn-confirm').isEnabled());
            await shot(page, 'csv-preview');

            await page.click('#btn-confirm');
            await page.waitForURL(/#\/jobs\?batch=\d+/);
            const batch = /batch=(\d+)/.exec(page.url())[1];
            assert.equal(await page.inputValue('#flt-batch'), batch);
            const row = page.locator('#jobs-body tr').filter({ hasText: login });
            await row.waitFor();
            assert.equal(await page.locator('#jobs-body tr').count(), 1, 'only the batch is listed');
            assert.match(await row.textContent(), /EN ATTENTE|EN TRAITEMENT|ÉCHOUÉE/);

            // « Annuler » while it waits or retries, then « Supprimer » after confirmation.
            const cancel = row.locator('button[data-action="cancel"]');
            try {
                await cancel.click({ timeout: 3000 });
            } catch (e) {
                // Already ended (the closed port failed it): nothing to cancel.
            }
            await row.locator('.badge', { hasText: 'ÉCHOUÉE' }).waitFor({ timeout: 60000 });
            await shot(page, 'csv-batch');

            // « Exporter en CSV » of the filtered list: BOM, `;`, French headers and states.
            const [download] = await Promise.all([page.waitForEvent('download'), page.click('#btn-export')]);
            const bytes = readFileSync(await download.path());
            assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 BOM');
            const lines = bytes.subarray(3).toString('utf8').split('\r\n').filter(Boolean);
            assert.equal(lines.length, 2, lines.join('\n'));
            assert.match(lines[0], /^N°;Lot;État;Login source;/);
            assert.ok(lines[1].includes(`;${batch};ÉCHOUÉE;${login};127.0.0.1;`), lines[1]);
            assert.ok(!lines[1].includes('été'), 'no password in the export');

            await row.locator('button[data-action="delete"]').click();
            const dialog = page.locator('dialog#confirm');
            await dialog.waitFor();
            assert.match(await dialog.textContent(), new RegExp(login.replace(/\./g, '\\.')));
            await page.click('#confirm-ok');
            await page.locator('#jobs-empty').waitFor();
            const left = await apiJson(page, `/api/jobs?batch=${batch}`);
            assert.equal(left.body.total, 0);
        });
        assert.deepEqual(problems, []);
    });

    test('« Options avancées » on both pages survive to the job details; 1280 px list keeps its buttons', needs(), async (t) => {
        const { page, problems } = await open(t);
        await guarded(page, 'options', async () => {
            await signIn(page);
            const sess = (await apiJson(page, '/api/session')).body;
            const domain = (sess.domains && sess.domains[0]) || splitAddress(DEST)[1] || 'example.com';
            const stamp = Date.now();
            const fillOptions = async () => {
                await page.click('details.advanced > summary');
                await page.fill('#f-since', '2024-03-10');
                await page.fill('#f-before', '2025-01-01');
                await page.check('#f-ex-trash');
                await page.check('#f-ex-junk');
                await page.fill('#f-exclude', 'Archives/*');
                await page.fill('#f-map', 'Projets=Clients/2024/Projets');
                await page.fill('#f-maxsize', '10');
                await page.selectOption('#f-gmail', 'first');
            };
            const want = {
                since: '2024-03-10', before: '2025-01-01', exclude_folders: ['\\Trash', '\\Junk', 'Archives/*'],
                folder_map: { Projets: 'Clients/2024/Projets' }, max_message_size: 10 * 1024 * 1024,
                gmail_labels: 'first',
            };
            const checkDetails = async (id) => {
                const job = await apiJson(page, `/api/jobs/${id}`);
                assert.deepEqual(job.body.options, want);
                await page.goto(`${BASE}/#/jobs/${id}`);
                const box = page.locator('#job-options');
                await box.waitFor();
                const text = await box.textContent();
                for (const part of ['2024-03-10', '2025-01-01', 'Corbeille', 'Indésirables', 'Archives/*',
                    'Projets → Clients/2024/Projets', '10', 'une seule copie'])
                    assert.ok(text.includes(part), `job ${id} details show ${part}: ${text}`);
            };

            // « Migration individuelle »: a closed source port; only the options matter here.
            await page.goto(`${BASE}/#/single`);
            await page.fill('#f-host', '127.0.0.1:1');
            await page.fill('#f-login', `ui.opt.${stamp}@source.test`);
            await page.fill('#f-password', 'Mot de passe');
            await fillDestination(page, `ui.opt.${stamp}@${domain}`);
            await fillOptions();
            await page.fill('#f-map', 'sans-egal');
            await page.click('#btn-launch');
            await page.locator('#f-map-err').waitFor();   // checked before anything is sent
            await page.fill('#f-map', 'Projets=Clients/2024/Projets');
            await shot(page, 'single-options');
            await page.click('#btn-launch');
            await page.waitForURL(/#\/jobs\/\d+$/, { timeout: 30000 });
            await checkDetails(/#\/jobs\/(\d+)$/.exec(page.url())[1]);
            await shot(page, 'job-options');

            // « Migration multiple »: the same options as query parameters of the import.
            await page.goto(`${BASE}/#/multi`);
            await page.locator('#csv-file').waitFor({ state: 'attached' });
            await fillOptions();
            const line = `ui.optlot.${stamp}@source.test;pw;127.0.0.1:1;defaut;ui.optlot.${stamp}@${domain};False\r\n`;
            await page.setInputFiles('#csv-file', { name: 'lot.csv', mimeType: 'text/csv', buffer: Buffer.from(line, 'latin1') });
            await page.locator('#preview-table').waitFor();
            await page.click('#btn-confirm');
            await page.waitForURL(/#\/jobs\?batch=\d+/);
            const batch = /batch=(\d+)/.exec(page.url())[1];
            const list = await apiJson(page, `/api/jobs?batch=${batch}`);
            assert.equal(list.body.total, 1);
            await checkDetails(list.body.jobs[0].id);

            // « Vérifier les accès » on the preview: one good row, one wrong password; the result
            // of each line is shown next to it and nothing is queued.
            if (!noSource) {
                const q = (v) => `"${v.replace(/"/g, '""')}"`;
                const csv = `${q(SRC.login)};${q(SRC.password)};${SRC.host};defaut;${DEST};False\r\n`
                    + `${q(SRC.login)};${q('mauvais mot de passe')};${SRC.host};defaut;ui.v.${stamp}@${domain};False\r\n`;
                const before = (await apiJson(page, '/api/jobs?limit=1')).body.total;
                await page.goto(`${BASE}/#/multi`);
                await page.locator('#csv-file').waitFor({ state: 'attached' });
                await page.setInputFiles('#csv-file', { name: 'verif.csv', mimeType: 'text/csv', buffer: Buffer.from(csv, 'utf8') });
                await page.locator('#preview-table').waitFor();
                await page.click('#btn-verify');
                await page.locator('#verify-summary').waitFor({ timeout: 60000 });
                const cells = await page.locator('#preview-table tbody td.verify').allTextContents();
                assert.equal(cells.length, 2);
                assert.match(cells[0], /ACCÈS OK/, cells[0]);
                assert.match(cells[1], /PROBLÈME.*authentification refusée/, cells[1]);
                assert.match(await page.locator('#verify-summary').textContent(), /1 ligne\(s\) sur 2/);
                assert.ok(!(await page.content()).includes('mauvais mot de passe'), 'no password on the page');
                await shot(page, 'csv-verify');
                assert.equal((await apiJson(page, '/api/jobs?limit=1')).body.total, before, 'nothing queued');
            }

            // « Suivi des tâches » at 1280 px: every action button of every row lies inside the
            // table's visible box (nothing cut off, no horizontal scrolling needed).
            await page.goto(`${BASE}/#/jobs`);
            await page.locator('#jobs-body tr').first().waitFor();
            await page.locator('#jobs-body .badge', { hasText: 'ÉCHOUÉE' }).first().waitFor({ timeout: 60000 });
            const clipped = await page.evaluate(() => {
                const wrap = document.querySelector('#jobs-table').closest('.table-wrap');
                const box = wrap.getBoundingClientRect();
                const out = [];
                for (const b of document.querySelectorAll('#jobs-body .row-actions .btn')) {
                    const r = b.getBoundingClientRect();
                    if (r.width === 0) continue;
                    if (r.right > box.right + 0.5 || r.right > window.innerWidth)
                        out.push(`${b.textContent.trim()} ends at ${Math.round(r.right)} > ${Math.round(box.right)}`);
                }
                if (wrap.scrollWidth > wrap.clientWidth + 1) out.push(`table scrolls: ${wrap.scrollWidth} > ${wrap.clientWidth}`);
                return out;
            });
            assert.ok(await page.locator('#jobs-body button[data-action="retry"]').count() >= 1, 'a « Relancer » button is listed');
            assert.deepEqual(clipped, []);
            await shot(page, 'jobs-actions');
        });
        assert.deepEqual(problems, []);
    });

    test('« Nœuds » footer line: the live nodes for an admin, FR and EN, hidden for others', needs({ skip: noServer || !ADMIN }), async (t) => {
        const { page, problems } = await open(t);
        await guarded(page, 'nodes', async () => {
            await signIn(page, ADMIN, ADMIN_PASSWORD);
            const line = page.locator('#nodes-line');
            await line.waitFor();
            const fr = (await line.textContent()).trim();
            assert.match(fr, /^Nœuds : 1 actif — \S+ \(celui-ci, \d+ en cours\)$/, fr);
            const api = await apiJson(page, '/api/nodes');
            assert.equal(api.status, 200);
            assert.equal(api.body.nodes.length, 1);
            assert.ok(fr.includes(api.body.self), `the line names this node ${api.body.self}`);
            await page.click('.lang button[data-lang="en"]');
            assert.match((await line.textContent()).trim(), /^Nodes: 1 live — \S+ \(this one, \d+ running\)$/);
            await page.click('.lang button[data-lang="fr"]');
            await shot(page, 'nodes-footer');
        });
        const other = await open(t);
        await guarded(other.page, 'nodes-nonadmin', async () => {
            await signIn(other.page);
            await other.page.waitForTimeout(500);
            assert.equal(await other.page.locator('#nodes-line').isVisible(), false, 'hidden for a non-admin');
            assert.equal((await apiJson(other.page, '/api/nodes')).status, 403, 'GET /api/nodes is admin only');
        });
        assert.deepEqual(problems, []);
    });

    test('English switch: all texts change live, remembered, back to French', needs(), async (t) => {
        const { page, problems } = await open(t);
        await guarded(page, 'english', async () => {
            await signIn(page);
            assert.equal((await page.locator('#nav a[data-nav="single"]').textContent()).trim(), 'Migration individuelle');
            await page.fill('#f-login', 'kept@example.test');
            await page.click('.lang button[data-lang="en"]');
            assert.equal(await page.getAttribute('html', 'lang'), 'en');
            assert.equal((await page.locator('#nav a[data-nav="single"]').textContent()).trim(), 'Individual migration');
            assert.equal((await page.locator('label[for="f-host"]').textContent()).trim(), 'Source host');
            assert.equal((await page.locator('h1').textContent()).trim(), 'Individual migration');
            assert.equal(await page.inputValue('#f-login'), 'kept@example.test', 'the form keeps its values');
            assert.equal(await page.getAttribute('.lang button[data-lang="en"]', 'aria-pressed'), 'true');
            await shot(page, 'english-single');

            await page.click('#nav a[data-nav="jobs"]');
            await page.locator('#jobs-count').waitFor();
            assert.equal((await page.locator('h1').textContent()).trim(), 'Task tracking');
            assert.equal((await page.locator('#btn-export').textContent()).trim(), 'Export to CSV');
            const states = await page.locator('#flt-state option').allTextContents();
            assert.deepEqual(states.map((s) => s.trim()), ['All states', 'Pending', 'Running', 'Failed', 'Done']);

            await page.reload();
            await page.locator('#jobs-count').waitFor();
            assert.equal(await page.getAttribute('html', 'lang'), 'en', 'the choice is remembered');
            assert.equal((await page.locator('h1').textContent()).trim(), 'Task tracking');
            const stored = await storedKeys(page);
            assert.deepEqual(stored.local, [['migrabox.lang', 'en']], 'only the language is stored');
            assert.deepEqual(stored.session, []);

            await page.goto(`${BASE}/#/help`);
            await page.locator('#help-title').waitFor();
            assert.match(await page.locator('main').textContent(), /App passwords/);
            await shot(page, 'english-help');

            await page.click('.lang button[data-lang="fr"]');
            assert.equal(await page.getAttribute('html', 'lang'), 'fr');
            assert.match(await page.locator('main').textContent(), /Mots de passe des applications/);
            assert.match(await page.locator('main').textContent(), /imap\.mail\.yahoo\.com/);
            await shot(page, 'french-help');
        });
        assert.deepEqual(problems, []);
    });

    test('a failed job: its error and its « Journal » in French, then in English', needs({ skip: noSource }), async (t) => {
        const { page, problems } = await open(t);
        await guarded(page, 'failed-job', async () => {
            await signIn(page);
            const sess = (await apiJson(page, '/api/session')).body;
            // Nothing listens on port 1: the job fails at once, and its log ends with the reason.
            const r = await apiJson(page, '/api/jobs', {
                method: 'POST',
                headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': sess.csrf, Accept: 'application/json' },
                body: JSON.stringify({ source_host: '127.0.0.1:1', source_login: 'refus@ancien.test', source_password: 'x', server_type: 'defaut', dest_login: DEST }),
            });
            assert.equal(r.status, 201, JSON.stringify(r.body));
            await page.goto(`${BASE}/#/jobs/${r.body.id}`);
            const reason = page.locator('#job-fail-reason p').first();
            await reason.waitFor({ timeout: 60000 });
            const last = page.locator('#job-log li.log-error span.msg').last();
            await last.waitFor({ timeout: 15000 });
            const why = {
                fr: 'connexion impossible au serveur source 127.0.0.1:1 : connexion refusée par 127.0.0.1:1',
                en: 'cannot connect to source server 127.0.0.1:1: connection refused by 127.0.0.1:1',
            };
            assert.equal((await reason.textContent()).trim(), why.fr);
            assert.equal((await last.textContent()).trim(), `échec : ${why.fr}`);
            await shot(page, 'failed-job-fr');
            await page.click('.lang button[data-lang="en"]');
            assert.equal((await page.locator('#job-fail-reason p').first().textContent()).trim(), why.en);
            assert.equal((await last.textContent()).trim(), `failed: ${why.en}`);
            // The list says it too, in the language of the page.
            await page.goto(`${BASE}/#/jobs`);
            const row = page.locator(`#jobs-body tr:has(a[href="#/jobs/${r.body.id}"]) .error-text`);
            await row.waitFor();
            assert.equal((await row.textContent()).trim(), why.en);
            await page.click('.lang button[data-lang="fr"]');
            await page.locator(`#jobs-body tr:has(a[href="#/jobs/${r.body.id}"]) .error-text`, { hasText: why.fr }).waitFor();
            await shot(page, 'failed-job-list-fr');
        });
        assert.deepEqual(problems, []);
    });

    test('refused messages: their reasons in French, then in English, the server\'s words kept', needs({ skip: noSource || (!SMALL_DEST && 'MIGRABOX_TEST_SMALL_DEST is not set'), timeout: MIGRATION_TIMEOUT + 60000 }), async (t) => {
        const { page, problems } = await open(t);
        await guarded(page, 'refused-messages', async () => {
            await signIn(page);
            const sess = (await apiJson(page, '/api/session')).body;
            const body = { source_host: SRC.host, source_login: SRC.login, source_password: SRC.password, server_type: SRC.type, dest_login: SMALL_DEST };
            if (SRC.tls) body.source_tls = SRC.tls;
            if (SRC.insecure) body.insecure = true;
            const r = await apiJson(page, '/api/jobs', {
                method: 'POST',
                headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': sess.csrf, Accept: 'application/json' },
                body: JSON.stringify(body),
            });
            assert.equal(r.status, 201, JSON.stringify(r.body));
            await page.goto(`${BASE}/#/jobs/${r.body.id}`);
            const cell = page.locator('#failed-table tbody tr td:nth-child(4)').first();
            await cell.waitFor({ timeout: MIGRATION_TIMEOUT });
            const fr = (await cell.textContent()).trim();
            assert.match(fr, /^refusé par la destination : NO \[LIMIT\] /);
            await shot(page, 'refused-messages-fr');
            await page.click('.lang button[data-lang="en"]');
            const en = (await page.locator('#failed-table tbody tr td:nth-child(4)').first().textContent()).trim();
            assert.equal(en, fr.replace(/^refusé par la destination : /, 'refused by the destination: '));
            await page.click('.lang button[data-lang="fr"]');
        });
        assert.deepEqual(problems, []);
    });

    test('360 px wide: no horizontal scrolling, menu collapses', needs(), async (t) => {
        const { page, problems } = await open(t, { width: 360, height: 740 });
        await guarded(page, 'narrow', async () => {
            await signIn(page);
            const overflow = async () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
            assert.ok(await overflow() <= 0, 'single: no horizontal scroll');
            assert.ok(await page.locator('#menu-toggle').isVisible());
            assert.ok(!(await page.locator('#nav a[data-nav="jobs"]').isVisible()), 'nav collapsed');
            await shot(page, 'narrow-single');
            await page.click('#menu-toggle');
            assert.equal(await page.getAttribute('#menu-toggle', 'aria-expanded'), 'true');
            await page.locator('#nav a[data-nav="jobs"]').click();
            await page.locator('#jobs-count').waitFor();
            assert.ok(!(await page.locator('#nav a[data-nav="jobs"]').isVisible()), 'menu closes after navigating');
            await page.waitForTimeout(500);
            assert.ok(await overflow() <= 0, 'jobs: no horizontal scroll');
            await shot(page, 'narrow-jobs');
            await page.goto(`${BASE}/#/multi`);
            await page.locator('#csv-file').waitFor({ state: 'attached' });
            assert.ok(await overflow() <= 0, 'multi: no horizontal scroll');
            await shot(page, 'narrow-multi');
            await page.goto(`${BASE}/#/help`);
            await page.locator('#help-title').waitFor();
            assert.ok(await overflow() <= 0, 'help: no horizontal scroll');
        });
        assert.deepEqual(problems, []);
    });

    test('keyboard: skip link, visible focus, buttons reachable with Tab', needs(), async (t) => {
        const { page, problems } = await open(t);
        await guarded(page, 'keyboard', async () => {
            await signIn(page);
            // After a page change the focus is on its heading, so the next stop is the form.
            assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1');
            // From the top of the page, the first stop is « Aller au contenu », shown on focus,
            // and it leads to the page heading.
            await page.focus('.brand');
            await page.keyboard.press('Shift+Tab');
            assert.equal(await page.evaluate(() => document.activeElement.id), 'skip');
            const box = await page.locator('#skip').boundingBox();
            assert.ok(box && box.y >= 0, 'the skip link shows when focused');
            await page.keyboard.press('Enter');
            assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1');
            // Tab through the form until « Lancer la migration »: every stop shows an outline.
            let reached = false;
            for (let i = 0; i < 40 && !reached; i++) {
                await page.keyboard.press('Tab');
                const info = await page.evaluate(() => {
                    const el = document.activeElement;
                    const cs = getComputedStyle(el);
                    return { id: el.id, tag: el.tagName, outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0 };
                });
                if (info.tag !== 'BODY') assert.ok(info.outline, `focus visible on ${info.tag}#${info.id}`);
                if (info.id === 'btn-launch') reached = true;
            }
            assert.ok(reached, '« Lancer la migration » is reachable with the keyboard');
            // Enter on it submits: the empty form answers with errors, focus moves to them.
            await page.keyboard.press('Enter');
            await page.locator('#single-errors').waitFor();
            assert.match(await page.locator('#single-errors').textContent(), /Login source/);
            assert.equal(await page.getAttribute('#f-login', 'aria-invalid'), 'true');
        });
        assert.deepEqual(problems, []);
    });

    test('« Accès administrateur »: add, list without secret, selector on both migration pages, delete', needs(), async (t) => {
        const { page, problems } = await open(t);
        const secret = `Adm-Secret-${Date.now()}`;
        await guarded(page, 'profiles', async () => {
            await signIn(page);
            await page.click('#nav a[data-nav="profiles"]');
            await page.locator('#profiles-title').waitFor();
            assert.match(await page.locator('#profiles-help').textContent(), /IMAP\.AccessAsApp/);
            assert.match(await page.locator('#profiles-help').textContent(), /Add-MailboxPermission/);
            assert.match(await page.locator('#profiles-help').textContent(), /https:\/\/mail\.google\.com\//);
            assert.deepEqual(await unlabelledControls(page), [], 'every form control has a label');
            await page.fill('#p-name', 'web-admin');
            await page.selectOption('#p-kind', 'imap-admin');
            assert.ok(!(await page.locator('#p-tenant').isVisible()), 'Microsoft fields hidden for imap-admin');
            await page.fill('#p-admin_user', 'admin');
            await page.fill('#p-admin_password', secret);
            await page.click('#btn-add-profile');
            await page.locator('#profiles-list td', { hasText: 'admin' }).first().waitFor();
            assert.equal(await page.inputValue('#p-admin_password'), '', 'the secret left the form');
            assert.ok(!(await page.content()).includes(secret), 'the secret is not on the page');
            const list = await apiJson(page, '/api/profiles');
            assert.equal(list.status, 200);
            assert.ok(!JSON.stringify(list.body).includes(secret), 'the API does not echo the secret');
            await shot(page, 'profiles');

            await page.click('#nav a[data-nav="single"]');
            await page.locator('#f-profile').waitFor();
            await page.selectOption('#f-profile', 'web-admin');
            assert.ok(!(await page.locator('#f-password').isVisible()), 'password hidden with a profile');
            await page.click('#nav a[data-nav="multi"]');
            await page.locator('#m-profile').waitFor();

            await page.click('#nav a[data-nav="profiles"]');
            await page.locator('#profiles-list button', { hasText: 'Supprimer' }).first().click();
            await page.click('#confirm-ok');
            await page.locator('#profiles-list p.muted').waitFor();
        });
        assert.deepEqual(problems, []);
    });

    test('« Lots »: passwords kept until a date, delta pass without password, erase with confirmation, FR and EN', needs({ skip: noSource, timeout: MIGRATION_TIMEOUT + 60000 }), async (t) => {
        const { page, problems } = await open(t);
        await guarded(page, 'batches', async () => {
            await signIn(page);
            const sess = (await apiJson(page, '/api/session')).body;
            const csv = `${SRC.login};"${SRC.password.replace(/"/g, '""')}";${SRC.host};${SRC.type};${DEST};False\r\n`;
            const r = await apiJson(page, '/api/imports', {
                method: 'POST', body: csv,
                headers: { 'Content-Type': 'text/csv', 'X-CSRF-Token': sess.csrf, Accept: 'application/json' },
            });
            assert.equal(r.status, 201, JSON.stringify(r.body));
            const id = r.body.batch;
            await page.goto(`${BASE}/#/batches`);
            assert.equal((await page.locator('h1').textContent()).trim(), 'Lots');
            const row = page.locator(`#batches-table tr[data-batch="${id}"]`);
            await row.locator('text=1 terminée(s)').waitFor({ timeout: MIGRATION_TIMEOUT });
            assert.match(await row.textContent(), /Conservés jusqu'au/);
            await shot(page, 'batches');

            await row.locator('button[data-action="delta"]').click();
            await page.locator('#batches-status', { hasText: `Lot ${id} : 1 tâche(s) relancée(s).` }).waitFor();
            await row.locator('text=1 terminée(s)').waitFor({ timeout: MIGRATION_TIMEOUT });

            await row.locator('button[data-action="finalize"]').click();
            const dialog = page.locator('dialog#confirm');
            await dialog.waitFor();
            assert.match(await dialog.textContent(), /Effacer les mots de passe du lot/);
            await page.click('#confirm-ok');
            await row.locator('text=Effacés (lot finalisé)').waitFor();
            assert.ok(await row.locator('button[data-action="delta"]').isDisabled());
            const b = await apiJson(page, `/api/batches/${id}`);
            assert.equal(b.body.finalized, true);
            assert.equal(b.body.credentials_kept, 0);

            await page.click('.lang button[data-lang="en"]');
            assert.equal((await page.locator('h1').textContent()).trim(), 'Batches');
            await row.locator('text=Erased (batch finalized)').waitFor();
            await shot(page, 'batches-en');
            await page.click('.lang button[data-lang="fr"]');
        });
        assert.deepEqual(problems, []);
    });
});
