// The migration options (« Options avancées ») of both migration pages and their display in
// a job's details. The API takes them as POST /api/jobs fields and as POST /api/imports query
// parameters (docs/API.md, « Migration options »); the server checks every value.

import { t } from '../i18n.js';
import { h, fmtBytes } from '../util.js';

const MB = 1024 * 1024;

// API field → input id (for the field errors of POST /api/jobs).
export const OPTION_FIELD_IDS = {
    since: 'f-since', before: 'f-before', exclude_folders: 'f-exclude', folder_map: 'f-map',
    max_message_size: 'f-maxsize', gmail_labels: 'f-gmail',
};
export const OPTION_FIELD_LABELS = {
    since: 'opt.since', before: 'opt.before', exclude_folders: 'opt.exclude',
    folder_map: 'opt.map', max_message_size: 'opt.maxSize', gmail_labels: 'opt.gmail',
};

const lines = (s) => s.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);

// The fields, to put inside a <details> « Options avancées ». Returns
// { nodes, collect() → {opts, errors}, query() → [[name, value]…] }.
export function optionFields() {
    const since = h('input#f-since', { type: 'date', name: 'since', 'aria-describedby': 'f-since-help f-since-err' });
    const before = h('input#f-before', { type: 'date', name: 'before', 'aria-describedby': 'f-since-help f-before-err' });
    const trash = h('input#f-ex-trash', { type: 'checkbox', name: 'exclude_trash' });
    const junk = h('input#f-ex-junk', { type: 'checkbox', name: 'exclude_junk' });
    const exclude = h('textarea#f-exclude', {
        name: 'exclude_folders', rows: 2, spellcheck: 'false', 'aria-describedby': 'f-exclude-help f-exclude-err',
    });
    const map = h('textarea#f-map', {
        name: 'folder_map', rows: 2, spellcheck: 'false', 'aria-describedby': 'f-map-help f-map-err',
    });
    const maxSize = h('input#f-maxsize', {
        type: 'number', name: 'max_message_size', min: '1', step: '1', inputmode: 'numeric',
        'aria-describedby': 'f-maxsize-help f-maxsize-err',
    });
    const gmail = h('select#f-gmail', { name: 'gmail_labels', 'aria-describedby': 'f-gmail-help f-gmail-err' },
        h('option', { value: 'each', i18n: 'opt.gmailEach' }), h('option', { value: 'first', i18n: 'opt.gmailFirst' }));
    const err = (id) => h(`p.field-error#${id}-err`, { hidden: true });
    const help = (id, key) => h(`p.help#${id}-help`, { i18n: key });

    const nodes = [
        h('h3.options-title', { i18n: 'opt.title' }),
        h('div.grid-2',
            h('div.field', h('label', { for: 'f-since', i18n: 'opt.since' }), since, err('f-since')),
            h('div.field', h('label', { for: 'f-before', i18n: 'opt.before' }), before, err('f-before'))),
        help('f-since', 'opt.datesHelp'),
        h('fieldset.field.exclude',
            h('legend', { i18n: 'opt.exclude' }),
            h('div.check', trash, h('label', { for: 'f-ex-trash', i18n: 'opt.trash' })),
            h('div.check', junk, h('label', { for: 'f-ex-junk', i18n: 'opt.junk' })),
            h('label', { for: 'f-exclude', i18n: 'opt.excludeOther' }), exclude,
            help('f-exclude', 'opt.excludeHelp'), err('f-exclude')),
        h('div.field', h('label', { for: 'f-map', i18n: 'opt.map' }), map,
            help('f-map', 'opt.mapHelp'), err('f-map')),
        h('div.grid-2',
            h('div.field', h('label', { for: 'f-maxsize', i18n: 'opt.maxSize' }), maxSize,
                help('f-maxsize', 'opt.maxSizeHelp'), err('f-maxsize')),
            h('div.field', h('label', { for: 'f-gmail', i18n: 'opt.gmail' }), gmail,
                help('f-gmail', 'opt.gmailHelp'), err('f-gmail'))),
    ];

    const collect = () => {
        const opts = {};
        const errors = [];
        if (since.value) opts.since = since.value;
        if (before.value) opts.before = before.value;
        const ex = [];
        if (trash.checked) ex.push('\\Trash');
        if (junk.checked) ex.push('\\Junk');
        ex.push(...lines(exclude.value));
        if (ex.length) opts.exclude_folders = ex;
        const m = {};
        for (const l of lines(map.value)) {
            const i = l.indexOf('=');
            if (i <= 0) { errors.push({ field: 'folder_map', key: 'opt.mapBad', args: { line: l } }); continue; }
            m[l.slice(0, i).trim()] = l.slice(i + 1).trim();
        }
        if (Object.keys(m).length) opts.folder_map = m;
        if (maxSize.value !== '') {
            const v = Number(maxSize.value);
            if (!(v > 0)) errors.push({ field: 'max_message_size', key: 'opt.maxSizeBad' });
            else opts.max_message_size = Math.round(v * MB);
        }
        if (gmail.value === 'first') opts.gmail_labels = 'first';
        return { opts, errors };
    };

    // POST /api/imports query parameters.
    const query = (opts) => {
        const q = [];
        for (const k of ['since', 'before', 'max_message_size', 'gmail_labels'])
            if (opts[k] !== undefined) q.push([k, String(opts[k])]);
        for (const p of opts.exclude_folders || []) q.push(['exclude_folder', p]);
        for (const [s, d] of Object.entries(opts.folder_map || {})) q.push(['map_folder', `${s}=${d}`]);
        return q;
    };
    return { nodes, collect, query };
}

// The options of a job, as [label key, text] rows for its details (empty when none).
export function optionRows(opts) {
    const o = opts && typeof opts === 'object' ? opts : {};
    const rows = [];
    if (o.since) rows.push(['opt.since', o.since]);
    if (o.before) rows.push(['opt.before', o.before]);
    if (Array.isArray(o.exclude_folders) && o.exclude_folders.length) {
        rows.push(['opt.exclude', o.exclude_folders.map((p) => (p === '\\Trash' ? t('opt.trash')
            : p === '\\Junk' ? t('opt.junk') : p)).join(', ')]);
    }
    if (o.folder_map && typeof o.folder_map === 'object') {
        const m = Object.entries(o.folder_map);
        if (m.length) rows.push(['opt.map', m.map(([s, d]) => `${s} → ${d}`).join(', ')]);
    }
    if (o.max_message_size) rows.push(['opt.maxSize', fmtBytes(o.max_message_size)]);
    if (o.gmail_labels === 'first') rows.push(['opt.gmail', t('opt.gmailFirst')]);
    return rows;
}
