// sessions.js - #/sessions (admins): every session of the tenant with its
// approvers (Telegram ids and console names), its defaults, and links to
// its requests and its rules.

import {enc, h, replace, show, when} from '../dom.js';
import {get} from '../api.js';

function adminsOnly(root) {
  replace(root, h('h1', null, 'Sessions'), h('p', {class: 'error', id: 'forbidden'}, 'Only admins may see this page.'));
}

export async function sessionsPage(root, ctx) {
  if (ctx.me.role !== 'admin') return adminsOnly(root);
  replace(root, h('h1', null, 'Sessions'), h('p', {class: 'muted'}, 'Loading…'));
  let r;
  try {
    r = await get('sessions');
  } catch (e) {
    if (e.status === 403) return adminsOnly(root);
    throw e;
  }
  const ss = Array.isArray(r.sessions) ? r.sessions : [];
  const list = (xs) => Array.isArray(xs) && xs.length ? xs.map(show).join(', ') : '—';
  replace(root, h('h1', null, 'Sessions ', h('span', {class: 'count'}, '(' + ss.length + ')')),
      ss.length ? h('div', {class: 'list', id: 'sessions-list'}, ss.map((s) => h('section', {class: 'card'},
          h('div', {class: 'card-head'},
              h('strong', null, String(s.session_id ?? '')),
              h('span', {class: 'badge ' + (s.active ? 'badge-approved' : 'badge-canceled')}, s.active ? 'active' : 'inactive')),
          h('dl', {class: 'kv'},
              h('dt', null, 'Agent'), h('dd', null, String(s.client_id ?? '')),
              h('dt', null, 'Telegram chat'), h('dd', null, s.telegram_id === null || s.telegram_id === undefined ? 'none (console only)' : show(s.telegram_id)),
              h('dt', null, 'Telegram approvers'), h('dd', null, list(s.approvers)),
              h('dt', null, 'Console approvers'), h('dd', null, list(s.console_approvers)),
              Object.entries(s.defaults && typeof s.defaults === 'object' ? s.defaults : {}).map(([k, v]) =>
                [h('dt', null, k), h('dd', null, show(v))]),
              h('dt', null, 'Created'), h('dd', null, when(s.created_at)),
              h('dt', null, 'Updated'), h('dd', null, when(s.updated_at))),
          h('div', {class: 'row wrap'},
              h('a', {class: 'btn plain', href: '#/history?session_id=' + enc(s.session_id ?? '')}, 'Its requests →'),
              h('a', {class: 'btn plain', href: '#/rules?session_id=' + enc(s.session_id ?? '')}, 'Its rules →')))))
        : h('p', {class: 'muted'}, 'No sessions yet.'));
}
