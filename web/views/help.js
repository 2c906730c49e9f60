// « Aide Gmail / Yahoo »: the spec's §4 procedure, brought up to date. The text lives
// in i18n.js ('help.sections') as blocks: {h}, {p}, {ol: [...]}, {dl: [[term, def]]}.

import { t, onLangChange } from '../i18n.js';
import { h, replace, rich } from '../util.js';
import { session } from '../app.js';

function block(b) {
    if (b.h) return h('h3', {}, rich(b.h));
    if (b.p) return h('p', {}, rich(b.p));
    if (b.ol) return h('ol.steps', {}, b.ol.map((x) => h('li', {}, rich(x))));
    if (b.dl) return h('dl.settings', {}, b.dl.map(([k, v]) => [h('dt', {}, rich(k)), h('dd', {}, rich(v))]));
    return null;
}

export function mount(root) {
    const body = h('div.help');
    const render = () => {
        const sections = t('help.sections');
        replace(body,
            h('div.page-head',
                h('h1#help-title', { text: t('help.title') }),
                h('p.lead', { text: t('help.intro') })),
            sections.map((s, i) => h('section.card.help-section', { 'aria-labelledby': `help-s${i}` },
                h(`h2#help-s${i}`, { text: s.title }),
                s.blocks.map(block))),
            session() ? h('p', h('a.btn.btn-primary', { href: '#/single', text: t('help.back') })) : null,
        );
    };
    render();
    root.append(body);
    const off = onLangChange(render);
    return { unmount() { off(); } };
}
