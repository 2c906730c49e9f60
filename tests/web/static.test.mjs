// Static checks of web/ that need no server and no browser: the two dictionaries match,
// every text key the code uses exists, the spec's labels are exact, and nothing breaks the
// CSP or the air gap (inline script/style/handlers, innerHTML, outside URLs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '../../web');

function walk(dir) {
    const out = [];
    for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) out.push(...walk(p));
        else out.push(p);
    }
    return out;
}

const files = walk(WEB);
const read = (p) => readFileSync(p, 'utf8');

// i18n.js reads localStorage in a try block only, so it loads under node.
const i18n = await import(pathToFileURL(join(WEB, 'i18n.js')).href);

async function keysOf() {
    const src = read(join(WEB, 'i18n.js'));
    const body = (name) => {
        const start = src.indexOf(`const ${name} = {`);
        assert.ok(start >= 0, `dictionary ${name}`);
        const end = src.indexOf('\n};\n', start);
        return src.slice(start, end);
    };
    const keys = (text) => new Set([...text.matchAll(/^ {4}'([^']+)':/gm)].map((m) => m[1]));
    return { fr: keys(body('fr')), en: keys(body('en')) };
}

test('French and English dictionaries have the same keys and shapes', async () => {
    const { fr, en } = await keysOf();
    assert.ok(fr.size > 100, `fr has ${fr.size} keys`);
    assert.deepEqual([...fr].filter((k) => !en.has(k)), [], 'keys missing in English');
    assert.deepEqual([...en].filter((k) => !fr.has(k)), [], 'keys missing in French');
    assert.equal(i18n.getLang(), 'fr', 'French by default');
    for (const k of fr) {
        const v = i18n.t(k, { n: 2, total: 3, from: 1, to: 2, folders: 1, messages: 2, size: '1 o', batch: 1 });
        assert.ok(typeof v === 'string' || Array.isArray(v), `${k} gives text`);
        if (typeof v === 'string') assert.ok(v.length > 0, `${k} is not empty`);
    }
});

test('every text key used by the page and the code exists', async () => {
    const { fr } = await keysOf();
    const used = new Set();
    for (const f of files) {
        if (f.endsWith('i18n.js')) continue;
        const src = read(f);
        if (f.endsWith('.html')) {
            for (const m of src.matchAll(/data-i18n="([^"]+)"/g)) used.add(m[1]);
            for (const m of src.matchAll(/data-i18n-attr="([^"]+)"/g))
                for (const pair of m[1].split(';')) used.add(pair.split(':')[1]);
        } else if (f.endsWith('.js')) {
            // Quoted literals shaped like our keys (prefix.name), whatever helper they go to.
            // (not element specs: h('nav.pager', …))
            for (const m of src.matchAll(/(?<!h\()'((?:app|lang|nav|footer|err|login|logout|type|tls|single|check|multi|state|jobs|action|confirm|job|size|export|help)\.[A-Za-z0-9.]+)'/g)) {
                used.add(m[1]);
            }
            // One-word keys.
            for (const m of src.matchAll(/(?:t\(|i18n: |setI18n\([^,]+, )'(yes|no|none|loading|skip|colon|required|close|cancel)'/g)) used.add(m[1]);
        }
    }
    // Keys built from values at run time.
    for (const s of ['pending', 'running', 'failed', 'done']) { used.add(`state.${s}`); used.add(`state.${s}.desc`); }
    for (const ty of ['gmail', 'exchange', 'office', 'domino', 'defaut']) used.add(`type.${ty}`);
    for (const m of ['auto', 'implicit', 'starttls', 'none']) { used.add(`tls.${m}`); used.add(`tls.short.${m}`); }
    assert.ok(used.size > 150, `found ${used.size} keys in use`);
    const missing = [...used].filter((k) => !fr.has(k));
    assert.deepEqual(missing, []);
});

test('the spec\'s labels are exact', () => {
    const t = i18n.t;
    assert.equal(t('single.title'), 'Migration individuelle');
    assert.equal(t('multi.title'), 'Migration multiple');
    assert.equal(t('jobs.title'), 'Suivi des tâches');
    assert.equal(t('single.host'), 'Hôte source');
    assert.equal(t('single.login'), 'Login source');
    assert.equal(t('single.password'), 'Mot de passe source');
    assert.equal(t('single.type'), 'Type de messagerie');
    assert.equal(t('single.dest'), 'Boîte de destination');
    assert.equal(t('single.subscribed'), 'Dossier abonné IMAP uniquement');
    assert.equal(t('single.advanced'), 'Options avancées');
    assert.equal(t('single.insecure'), 'Ne pas vérifier le certificat');
    assert.equal(t('single.check'), 'Tester la connexion');
    assert.equal(t('single.launch'), 'Lancer la migration');
    assert.equal(t('multi.sample'), 'Télécharger le fichier d\'exemple');
    assert.equal(t('multi.confirm'), 'Confirmer l\'import');
    assert.equal(t('jobs.export'), 'Exporter en CSV');
    assert.equal(t('login.title'), 'Connexion');
    assert.equal(t('login.username'), 'Identifiant');
    assert.equal(t('login.password'), 'Mot de passe');
    assert.deepEqual(['gmail', 'exchange', 'office', 'domino', 'defaut'].map((x) => t(`type.${x}`)),
        ['G Suite', 'MS-Exchange', 'Office 365', 'Domino', 'Standard']);
    assert.deepEqual(['pending', 'running', 'failed', 'done'].map((x) => t(`state.${x}`)),
        ['EN ATTENTE', 'EN TRAITEMENT', 'ÉCHOUÉE', 'TERMINÉE']);
    assert.deepEqual(['action.cancel', 'action.retry', 'action.delete'].map((x) => t(x)),
        ['Annuler', 'Relancer', 'Supprimer']);
    assert.equal(t('err.lineCol', { line: 3, column: 4, message: 'm' }), 'Ligne 3, colonne 4 : m');
    assert.equal(t('err.tooMany', { n: 12 }), 'Trop de tentatives, réessayez dans 12 s.');
});

test('nothing against the CSP or the air gap', () => {
    const problems = [];
    for (const f of files) {
        const rel = relative(WEB, f);
        const src = read(f);
        if (f.endsWith('.html')) {
            if (/\sstyle\s*=/i.test(src)) problems.push(`${rel}: style attribute`);
            if (/\son[a-z]+\s*=/i.test(src)) problems.push(`${rel}: inline event handler`);
            if (/<style[\s>]/i.test(src)) problems.push(`${rel}: <style> element`);
            for (const m of src.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
                if (!/\bsrc=/.test(m[1]) || m[2].trim()) problems.push(`${rel}: inline script`);
            }
        }
        if (f.endsWith('.js')) {
            if (/\.innerHTML\b|\.outerHTML\s*=|insertAdjacentHTML|document\.write/.test(src)) problems.push(`${rel}: HTML injection API`);
            if (/\beval\s*\(|new Function\s*\(/.test(src)) problems.push(`${rel}: eval`);
            if (/setAttribute\(\s*'style'|\.style\.cssText/.test(src)) problems.push(`${rel}: inline style`);
            if (/sessionStorage\.setItem/.test(src)) problems.push(`${rel}: sessionStorage write`);
            for (const m of src.matchAll(/localStorage\.setItem\(([^,]+),/g)) {
                if (m[1].trim() !== 'STORAGE_KEY') problems.push(`${rel}: localStorage write of ${m[1]}`);
            }
        }
        if (/\.(html|css|js|svg)$/.test(f)) {
            for (const m of src.matchAll(/(?:src|href)\s*=\s*["'](https?:)?\/\/|url\(\s*["']?(?:https?:)?\/\/|@import|(?:fetch|import)\(\s*['"`]https?:/g)) {
                problems.push(`${rel}: outside resource near "${src.slice(m.index, m.index + 60)}"`);
            }
        }
    }
    assert.deepEqual(problems, []);
    // The SVGs are self-contained (no script, no outside reference).
    for (const f of files.filter((x) => x.endsWith('.svg'))) {
        const src = read(f);
        assert.ok(!/<script|xlink:href="http|href="http/i.test(src), relative(WEB, f));
    }
});
