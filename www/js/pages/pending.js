// pending.js - #/ : what waits for this person, oldest first, kept live by
// the event stream (a new request appears, a decided one leaves).

import {h, replace} from '../dom.js';
import {get} from '../api.js';
import {live} from '../live.js';
import {card} from './common.js';

export async function pendingPage(root, ctx) {
  const count = h('span', {class: 'count', id: 'pending-count'});
  const list = h('div', {class: 'list', id: 'pending-list'});
  const status = h('p', {class: 'muted', id: 'pending-status'}, 'Loading…');
  const state = h('span', {class: 'live', id: 'live', 'data-state': 'connecting'}, 'connecting…');
  replace(root, h('div', {class: 'title'}, h('h1', null, 'Pending ', count), state), status, list);

  let running = false;
  let again = false;
  const load = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const r = await get('pending');
        const reqs = Array.isArray(r.requests) ? r.requests : [];
        replace(count, '(' + reqs.length + ')');
        replace(list, reqs.map(card));
        replace(status, reqs.length ? '' : 'Nothing waits for you. New requests appear here as agents send them.');
      } while (again);
    } catch (e) {
      if (e.status !== 401) replace(status, h('span', {class: 'error', role: 'alert'}, e.message));
    } finally {
      running = false;
    }
  };
  ctx.onLeave(live(() => load(), (how) => {
    state.setAttribute('data-state', how);
    replace(state, how === 'stream' ? '● live' : 'refreshing every 10 s');
  }));
  await load();
}
