// history.js - #/history : every request this person may see, newest
// first, filtered by session, status and time, a page at a time (the
// server's `next` cursor). The filters live in the address
// (#/history?session_id=..&status=..), so a filtered view can be shared;
// `limit` (1-100, default the server's 50) sets the page size.

import {h, replace} from '../dom.js';
import {get} from '../api.js';
import {card} from './common.js';

const STATUSES = [['', 'any'], ['pending', 'pending'], ['completed', 'decided'], ['timeout', 'timed out'], ['canceled', 'canceled']];

// datetime-local value <-> RFC 3339 (UTC)
function toRfc(v) {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}
function toLocal(v) {
  const d = new Date(v);
  if (!v || Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes());
}

export async function historyPage(root, ctx) {
  const q = ctx.params;
  const session = h('input', {id: 'f-session', type: 'text', value: q.get('session_id') || '', autocomplete: 'off', spellcheck: 'false'});
  const status = h('select', {id: 'f-status'}, STATUSES.map(([v, l]) => h('option', {value: v, selected: (q.get('status') || '') === v}, l)));
  const since = h('input', {id: 'f-since', type: 'datetime-local', value: toLocal(q.get('since'))});
  const until = h('input', {id: 'f-until', type: 'datetime-local', value: toLocal(q.get('until'))});
  const form = h('form', {class: 'filters', id: 'history-filters', on: {submit: (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    if (session.value.trim()) p.set('session_id', session.value.trim());
    if (status.value) p.set('status', status.value);
    if (toRfc(since.value)) p.set('since', toRfc(since.value));
    if (toRfc(until.value)) p.set('until', toRfc(until.value));
    const s = p.toString();
    location.hash = '#/history' + (s ? '?' + s : '');
  }}},
  h('div', {class: 'field'}, h('label', {for: 'f-session'}, 'Session'), session),
  h('div', {class: 'field'}, h('label', {for: 'f-status'}, 'Status'), status),
  h('div', {class: 'field'}, h('label', {for: 'f-since'}, 'Since'), since),
  h('div', {class: 'field'}, h('label', {for: 'f-until'}, 'Until'), until),
  h('div', {class: 'row'}, h('button', {type: 'submit', class: 'btn'}, 'Filter'),
      h('a', {class: 'btn plain', href: '#/history'}, 'Clear')));

  const list = h('div', {class: 'list', id: 'history-list'});
  const msg = h('p', {class: 'muted', id: 'history-status'}, 'Loading…');
  const more = h('button', {type: 'button', class: 'btn plain', id: 'history-more', hidden: true}, 'Older requests');
  replace(root, h('h1', null, 'History'), form, msg, list, more);

  const base = new URLSearchParams();
  for (const k of ['session_id', 'status', 'since', 'until']) if (q.get(k)) base.set(k, q.get(k));
  if (/^[1-9][0-9]?$|^100$/.test(q.get('limit') || '')) base.set('limit', q.get('limit'));
  let next = null;
  let shown = 0;
  const page = async () => {
    const p = new URLSearchParams(base);
    if (next) p.set('before', next);
    more.disabled = true;
    try {
      const r = await get('history' + (p.toString() ? '?' + p.toString() : ''));
      const reqs = Array.isArray(r.requests) ? r.requests : [];
      shown += reqs.length;
      for (const x of reqs) list.appendChild(card(x));
      next = typeof r.next === 'string' && r.next ? r.next : null;
      more.hidden = !next;
      replace(msg, shown ? '' : 'No requests match.');
    } catch (e) {
      if (e.status !== 401) replace(msg, h('span', {class: 'error', role: 'alert'}, e.message));
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', page);
  await page();
}
