// common.js - pieces the pages share: a request's summary card, its status
// badge, its quorum line and option marks.

import {ago, h, requestHref, when} from '../dom.js';

/** An option as {label, approve} (approve null when the server did not say). */
export function option(o) {
  if (o && typeof o === 'object') {
    return {label: String(o.label ?? ''), approve: typeof o.approve === 'boolean' ? o.approve : null};
  }
  return {label: String(o ?? ''), approve: null};
}

/** The mark shown before an option's label: it approves, it denies. */
export function mark(approve) {
  return approve === true ? '✅ ' : approve === false ? '❌ ' : '';
}

/** "1 of 2 approvals" (and the denials, when there are some). */
export function quorum(r) {
  const need = Number(r.approvals_required) || 1;
  const got = Number(r.approvals) || 0;
  let s = got + ' of ' + need + ' approval' + (need === 1 ? '' : 's');
  const no = Number(r.denials) || 0;
  if (no) s += ', ' + no + ' denial' + (no === 1 ? '' : 's');
  return s;
}

/** What became of a request, in words: pending, approved, denied, timed out, canceled. */
export function outcome(r) {
  if (r.status === 'pending') return 'pending';
  if (r.status === 'completed') return r.approved ? 'approved' : 'denied';
  if (r.status === 'timeout') return 'timed out';
  return String(r.status || 'unknown');
}

export function badge(r) {
  const o = outcome(r);
  return h('span', {class: 'badge badge-' + o.replace(' ', '-')}, o);
}

/** One request as a card linking to its page. */
export function card(r) {
  const open = r.status === 'pending';
  return h('a', {class: 'card req', href: requestHref(r.request_id), 'data-request-id': String(r.request_id)},
      h('div', {class: 'card-head'},
          badge(r),
          h('span', {class: 'type'}, String(r.request_type || '')),
          h('span', {class: 'session'}, String(r.session_id || ''))),
      h('p', {class: 'msg clamp'}, String(r.message || '') + (r.message_cut ? '…' : '')),
      h('div', {class: 'card-foot'},
          h('span', null, quorum(r)),
          h('span', null, open ? 'expires ' + ago(r.expires_at) : when(r.created_at)),
          r.delivery ? h('span', {class: 'delivery'}, 'delivery: ' + r.delivery) : null));
}
