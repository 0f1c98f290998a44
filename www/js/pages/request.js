// request.js - #/requests/<id> : one request whole (message, metadata,
// options, a coding agent's tool input, params, votes, delivery, timeline) and the controls to decide
// it: Approve / Deny / Deny with reason for a confirmation, a button per
// option for a choice, a text box for an input, and Approve with edits
// when the request carries params. The server decides who may vote
// (can_vote, already_voted) and checks everything again; its refusals are
// shown next to the control that caused them.

import {ago, h, replace, show, when} from '../dom.js';
import {get, post} from '../api.js';
import {live} from '../live.js';
import {paramsForm} from '../params.js';
import {badge, mark, option, outcome, quorum} from './common.js';

// A run of more than 8 blanks after a visible character (not the JSON's own indentation) as
// ⟨N spaces⟩: a long run would push the rest of a value out of sight.
const BLANK_RUN = /(?<=\S)[ \t\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]{9,}/g;

function blankRuns(s) {
  return s.replace(BLANK_RUN, (m) => '⟨' + m.length + ' spaces⟩');
}

function dl(pairs) {
  return h('dl', {class: 'kv'}, pairs.filter((p) => p).map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

// The options with what each means: the server's "choices" (the buttons
// with their approve flags), else the bare options.
function choices(r) {
  if (Array.isArray(r.choices) && r.choices.length) return r.choices.map(option);
  return Array.isArray(r.options) ? r.options.map(option) : [];
}

// A responder as the API gives it ({"id","name"}, or a string) in words.
function person(p) {
  if (p && typeof p === 'object') return String(p.name || p.id || '?');
  return show(p);
}

function info(r) {
  const meta = r.metadata && typeof r.metadata === 'object' ? Object.entries(r.metadata) : [];
  const opts = Array.isArray(r.options) && r.options.length ? choices(r) : [];
  return [
    h('section', {class: 'card'},
        h('div', {class: 'card-head'}, badge(r), h('span', {class: 'type'}, String(r.request_type || ''))),
        h('pre', {class: 'msg', id: 'message'}, String(r.message ?? '')),
        dl([
          ['Session', String(r.session_id ?? '')],
          ['Agent', String(r.client_id ?? '')],
          ['Quorum', h('span', {id: 'quorum'}, quorum(r))],
          ['Delivery', h('span', {id: 'delivery'}, String(r.delivery ?? '—'))],
          ['Created', when(r.created_at)],
          r.status === 'pending' ? ['Expires', when(r.expires_at) + ' (' + ago(r.expires_at) + ')'] : null,
          r.escalated_to ? ['Escalated to', String(r.escalated_to)] : null,
          r.responded_at ? ['Decided', when(r.responded_at)] : null,
          r.responder ? ['Decided by', person(r.responder)] : null,
          r.response !== null && r.response !== undefined && r.response !== '' ? ['Response', show(r.response)] : null,
          r.reason ? ['Reason', show(r.reason)] : null,
          r.edited ? ['Edited', 'params changed by a person'] : null,
        ])),
    meta.length ? h('section', {class: 'card', id: 'metadata'},
        h('h2', null, 'Metadata'), dl(meta.map(([k, v]) => [k, show(v)]))) : null,
    opts.length ? h('section', {class: 'card', id: 'options'},
        h('h2', null, 'Options'),
        h('ul', {class: 'opts'}, opts.map((o) => h('li', {class: o.approve === false ? 'deny' : o.approve ? 'approve' : ''},
            mark(o.approve) + o.label,
            h('small', {class: 'muted'}, o.approve === true ? ' approves' : o.approve === false ? ' denies' : ''))))) : null,
    // a coding agent's call whole (its message may have had to be cut)
    r.tool_input && typeof r.tool_input === 'object' ? h('section', {class: 'card', id: 'tool-input'},
        h('h2', null, 'Tool input: ' + String(r.tool ?? '')),
        h('pre', {class: 'msg scroll', id: 'tool_input'}, blankRuns(JSON.stringify(r.tool_input, null, 2)))) : null,
    r.params && typeof r.params === 'object' && Object.keys(r.params).length ? h('section', {class: 'card'},
        h('h2', null, r.edited ? 'Params (edited)' : 'Params'),
        dl(Object.entries(r.params).map(([k, v]) => [k, show(v)]))) : null,
  ];
}

function votes(r) {
  const vs = Array.isArray(r.votes) ? r.votes : [];
  return h('section', {class: 'card', id: 'votes'},
      h('h2', null, 'Votes ', h('small', {class: 'muted'}, quorum(r))),
      vs.length ? h('ul', {class: 'votes'}, vs.map((v) => h('li', null,
          h('strong', null, String(v.name || v.person || '?')),
          h('span', {class: v.approve ? 'yes' : 'no'}, v.approve ? ' approved' : ' denied'),
          v.channel ? h('small', {class: 'muted'}, ' via ' + v.channel) : null,
          v.response !== null && v.response !== undefined ? h('div', null, 'Response: ', show(v.response)) : null,
          v.reason ? h('div', null, 'Reason: ', show(v.reason)) : null,
          v.params ? h('div', null, 'Params: ', show(v.params)) : null,
          h('small', {class: 'muted'}, when(v.created_at)))))
        : h('p', {class: 'muted'}, 'No votes yet.'));
}

function timeline(r) {
  const ts = Array.isArray(r.timeline) ? r.timeline : [];
  return h('section', {class: 'card', id: 'timeline'},
      h('h2', null, 'Timeline'),
      ts.length ? h('ol', {class: 'timeline'}, ts.map((t) => h('li', null,
          h('small', {class: 'muted'}, when(t.at)), ' ',
          h('strong', null, String(t.action ?? '')),
          t.actor ? ' by ' + show(t.actor) : '',
          t.detail !== null && t.detail !== undefined && !(typeof t.detail === 'object' && !Object.keys(t.detail).length)
            ? h('div', {class: 'detail'}, show(t.detail)) : null)))
        : h('p', {class: 'muted'}, 'Nothing recorded yet.'));
}

// The server's limits, in UTF-8 bytes (src/console.c).
const REASON_MAX_BYTES = 1024;
const ANSWER_MAX_BYTES = 4096;
const utf8 = (t) => new TextEncoder().encode(t).length;

// A counter under a text box, in the server's unit (UTF-8 bytes) of what
// is sent (`trim`: the text trimmed); `over()` gives the refusal to show when the box holds too much, else ''.
function counted(box, max, what, trim) {
  const sent = () => trim ? box.value.trim() : box.value;
  const count = h('small', {class: 'muted', id: box.id + '-count'});
  const update = () => {
    const n = utf8(sent());
    count.className = n > max ? 'error' : 'muted';
    replace(count, n + ' / ' + max + ' bytes');
  };
  box.addEventListener('input', update);
  update();
  const over = () => {
    const n = utf8(sent());
    return n > max ? what + ' is ' + n + ' bytes (UTF-8); at most ' + max + ' are allowed.' : '';
  };
  return {count, over};
}

// The controls; `done(result)` gets the server's answer to a vote, and
// `refused(error)` a refusal (the page then loads the request again).
function decision(r, done, refused) {
  if (r.status !== 'pending') {
    return h('section', {class: 'card', id: 'decision'}, h('p', {id: 'decided'}, 'This request is ' + outcome(r) + '.'));
  }
  if (r.already_voted) {
    return h('section', {class: 'card', id: 'decision'}, h('p', {id: 'already-voted'}, 'You already voted on this request. ' + quorum(r) + '.'));
  }
  if (!r.can_vote) {
    return h('section', {class: 'card', id: 'decision'}, h('p', {id: 'cannot-vote'}, 'You may read this request but not vote on it.'));
  }
  const err = h('p', {class: 'error', role: 'alert', id: 'vote-error', hidden: true});
  const perr = h('p', {class: 'error', role: 'alert', id: 'params-error', hidden: true});
  const reason = h('textarea', {id: 'reason', rows: 3, maxlength: REASON_MAX_BYTES, placeholder: 'Why? Sent to the agent with your decision.'});
  const reasonCount = counted(reason, REASON_MAX_BYTES, 'The reason', true);
  const buttons = [];
  let answerCount = null;
  const say = (el, text) => {
    el.hidden = !text;
    replace(el, text || '');
  };
  const send = async (body, where) => {
    say(err, '');
    say(perr, '');
    const tooLong = reasonCount.over() || (answerCount ? answerCount.over() : '');
    if (tooLong) {
      say(err, tooLong);
      return;
    }
    const why = reason.value.trim();
    if (why) body.reason = why;
    for (const b of buttons) b.disabled = true;
    try {
      done(await post('requests/' + encodeURIComponent(r.request_id) + '/vote', body));
    } catch (e) {
      for (const b of buttons) b.disabled = false;
      if (e.status === 401) return;
      say(where === 'params' && e.code === 'invalid_params' ? perr : err, e.message);
      refused(e);
    }
  };
  const btn = (label, cls, action, fn) => {
    const b = h('button', {type: 'button', class: 'btn ' + cls, 'data-action': action, on: {click: fn}}, label);
    buttons.push(b);
    return b;
  };
  const denyWithReason = btn('Deny with reason', 'no', 'deny-reason', () => {
    if (!reason.value.trim()) {
      say(err, 'Write the reason first, then press Deny with reason.');
      reason.focus();
      return;
    }
    send({approve: false});
  });

  let main;
  const type = r.request_type;
  if (type === 'input') {
    const answer = h('textarea', {id: 'answer', rows: 4, maxlength: ANSWER_MAX_BYTES});
    answerCount = counted(answer, ANSWER_MAX_BYTES, 'The answer', false);
    main = [h('label', {for: 'answer'}, 'Your answer'), answer, answerCount.count,
      h('div', {class: 'row'}, btn('Send answer', 'yes', 'answer', () => {
        if (!answer.value.trim()) {
          say(err, 'Write an answer first.');
          answer.focus();
          return;
        }
        send({text: answer.value});
      }))];
  } else if (type === 'choice' && choices(r).length) {
    main = [h('div', {class: 'row wrap'}, choices(r).map((o, i) =>
      btn(mark(o.approve) + o.label, o.approve === false ? 'no' : 'yes', 'option-' + i, () => send({option: i}))))];
  } else {
    main = [h('div', {class: 'row'},
        btn('Approve', 'yes', 'approve', () => send({approve: true})),
        btn('Deny', 'no', 'deny', () => send({approve: false})))];
  }

  let edits = null;
  const hasParams = (r.params && typeof r.params === 'object' && Object.keys(r.params).length) ||
      (r.params_schema && typeof r.params_schema === 'object');
  if (hasParams && type !== 'input') {
    const form = paramsForm(r.params, r.params_schema);
    if (!form.empty) {
      edits = h('div', {class: 'edits', id: 'edits'},
          h('h3', null, 'Approve with edits'),
          h('p', {class: 'muted'}, 'The agent will act with exactly these params: a field left empty or "(not set)" is removed.'),
          form.el, perr,
          h('div', {class: 'row'}, btn('Approve with edits', 'yes', 'approve-edits', () => {
            let params;
            try {
              params = form.read();
            } catch (e) {
              say(perr, e.message);
              return;
            }
            send({approve: true, params}, 'params');
          })));
    }
  }

  return h('section', {class: 'card', id: 'decision'},
      h('h2', null, 'Decide'),
      h('p', {class: 'muted', id: 'decide-quorum'}, quorum(r) + ' so far.'),
      main,
      h('label', {for: 'reason'}, 'Reason or comment (optional)'),
      reason,
      reasonCount.count,
      h('div', {class: 'row'}, denyWithReason),
      err,
      edits);
}

export async function requestPage(root, ctx) {
  // Ids are UUIDs, sent in lower case: one typed in upper case is the same request.
  const id = String(ctx.id).toLowerCase();
  const top = h('div', {id: 'request-info'});
  const dec = h('div');
  const vs = h('div');
  const tl = h('div');
  const flash = h('p', {class: 'flash', id: 'vote-result', role: 'status', hidden: true});
  replace(root, h('p', null, h('a', {href: '#/'}, '← Pending')), flash, top, dec, vs, tl);

  let last = null;
  const render = (r) => {
    replace(top, info(r));
    replace(vs, votes(r));
    replace(tl, timeline(r));
    // The decision card is rebuilt only when what it offers changes (typed
    // edits and a reason are kept); its quorum line follows every change.
    const key = [r.status, r.can_vote, r.already_voted].join();
    if (!last || last !== key) replace(dec, decision(r, voted, refused));
    else {
      const q = dec.querySelector('#decide-quorum');
      if (q) replace(q, quorum(r) + ' so far.');
    }
    last = key;
  };
  // A refused vote (409: decided, canceled or timed out meanwhile) shows the
  // request as it is now, with the server's words above it.
  const refused = (e) => {
    if (e.status === 409) {
      flash.hidden = false;
      replace(flash, e.message);
    }
    load().catch(() => {});
  };
  const voted = (res) => {
    const r = res.request;
    flash.hidden = false;
    replace(flash, r && r.request_type === 'input' && r.status !== 'pending' ? 'Answer sent.'
        : res.result === 'approved' ? 'Approved.' : res.result === 'denied' ? 'Denied.'
        : 'Your vote is counted. ' + (r ? quorum(r) + '.' : ''));
    last = null;
    if (r) render(r);
    load().catch(() => {});
  };
  const load = async () => {
    const r = await get('requests/' + encodeURIComponent(id));
    render(r);
  };
  try {
    await load();
  } catch (e) {
    if (e.status === 404 || e.status === 400) {
      replace(root, h('h1', null, 'Not found'),
          h('p', {id: 'not-found'}, 'There is no such request, or it is not one you may see.'),
          h('p', null, h('a', {href: '#/'}, '← Pending')));
      return;
    }
    throw e;
  }
  ctx.onLeave(live((ev) => {
    if (!ev || String(ev.request_id ?? '').toLowerCase() === id) load().catch(() => {});
  }));
}
