// pending.js - #/ : what waits for this person, oldest first, kept live by
// the event stream (a new request appears, a decided one leaves). Only
// what changed is redrawn: a card whose summary is the same stays the same
// node in place, so the card under a finger is not swapped on every event.

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

  let nodes = new Map();
  const update = (reqs) => {
    const next = new Map();
    let prev = null;
    for (const r of reqs) {
      const id = String(r.request_id);
      const sig = JSON.stringify(r);
      let e = nodes.get(id);
      if (!e || e.sig !== sig) {
        const node = card(r);
        if (e) e.node.replaceWith(node);
        e = {node, sig};
      }
      next.set(id, e);
      const want = prev ? prev.nextSibling : list.firstChild;
      if (want !== e.node) list.insertBefore(e.node, want);
      prev = e.node;
    }
    for (const [id, e] of nodes) if (!next.has(id)) e.node.remove();
    nodes = next;
  };

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
        update(reqs);
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
