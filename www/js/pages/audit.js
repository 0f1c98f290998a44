// audit.js - #/audit (admins): download the tenant's audit trail (JSONL or
// CSV) and check its hash chain.

import {h, replace, show} from '../dom.js';
import {get} from '../api.js';

export async function auditPage(root, ctx) {
  if (ctx.me.role !== 'admin') {
    replace(root, h('h1', null, 'Audit'), h('p', {class: 'error', id: 'forbidden'}, 'Only admins may see this page.'));
    return;
  }
  const result = h('div', {id: 'verify-result', role: 'status'}, h('p', {class: 'muted'}, 'Checking the chain…'));
  const again = h('button', {type: 'button', class: 'btn plain', id: 'verify'}, 'Verify again');
  replace(root, h('h1', null, 'Audit'),
      h('section', {class: 'card'},
          h('h2', null, 'Export'),
          h('p', null, 'Every recorded action of this tenant, oldest first, with its hash chain.'),
          h('div', {class: 'row wrap'},
              h('a', {class: 'btn', id: 'export-jsonl', href: '/console/api/audit/export?format=jsonl', download: 'audit.jsonl'}, 'Download JSONL'),
              h('a', {class: 'btn', id: 'export-csv', href: '/console/api/audit/export?format=csv', download: 'audit.csv'}, 'Download CSV'))),
      h('section', {class: 'card'}, h('h2', null, 'Chain'), result, again));
  const verify = async () => {
    again.disabled = true;
    try {
      const r = await get('audit/verify');
      replace(result, r.ok
        ? h('p', {class: 'good', id: 'verify-ok'}, 'Intact: ' + r.rows + ' rows, each linked to the one before.')
        : h('div', {class: 'error', id: 'verify-bad'}, h('p', null, 'Broken after checking ' + r.rows + ' rows. First bad row:'),
            h('pre', {class: 'msg'}, show(r.first_bad))));
    } catch (e) {
      if (e.status !== 401) replace(result, h('p', {class: 'error', role: 'alert'}, e.message));
    } finally {
      again.disabled = false;
    }
  };
  again.addEventListener('click', verify);
  await verify();
}
