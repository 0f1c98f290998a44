// rules.js - #/rules (admins): the tenant's policy rules, which decide a
// coding agent's tool call without asking anyone. The live rules in the
// order they apply, then the expired and revoked ones; a form to add one
// (tool, pattern, action, optional session and expiry; folded under "Add a
// rule" so the rules come first on a phone) and a Revoke button
// that asks for a confirmation on the page first. A rule made by "Allow for
// this session" names its agent session. `#/rules?session_id=S` shows the
// rules of session S only and fills S into the form. The server checks
// everything again (the validator of /v1/policies) and its refusals are
// shown under the form.

import {ago, enc, h, replace, when} from '../dom.js';
import {get, post} from '../api.js';

const ACTIONS = [
  ['allow', 'allow: run it without asking'],
  ['deny', 'deny: refuse it without asking'],
  ['ask', 'ask: always ask a person'],
];
const EXPIRY = [['', 'never'], ['3600', 'in 1 hour'], ['86400', 'in 1 day'],
  ['604800', 'in 7 days'], ['2592000', 'in 30 days']];
// what a rule made by the "Allow this exact call for this session" button is created by
const SESSION_RULE = /\(Allow (this exact call )?for this session(, request [^)]*)?\)$/;

function adminsOnly(root) {
  replace(root, h('h1', null, 'Rules'), h('p', {class: 'error', id: 'forbidden'}, 'Only admins may see this page: rules are managed by the tenant\'s admins.'));
}

function field(id, label, input, hint) {
  return h('div', {class: 'field'}, h('label', {for: id}, label), input,
      hint ? h('small', {class: 'muted', id: id + '-hint'}, hint) : null);
}

// One rule as a card; `revoke(p, card)` asks and revokes.
function ruleCard(p, revoke) {
  const state = String(p.state || 'live');
  const fromSession = typeof p.created_by === 'string' && SESSION_RULE.test(p.created_by);
  const c = h('section', {class: 'card rule' + (state === 'live' ? '' : ' ended'), 'data-policy-id': String(p.id), 'data-state': state},
      h('div', {class: 'card-head'},
          h('span', {class: 'badge badge-' + String(p.action)}, String(p.action)),
          h('strong', {class: 'tool'}, String(p.tool ?? '')),
          state === 'live' ? null : h('span', {class: 'badge badge-' + state}, state),
          fromSession ? h('span', {class: 'tag'}, 'Allow for this session') : null,
          h('span', {class: 'muted'}, '#' + String(p.id))),
      h('pre', {class: 'match'}, String(p.match ?? '')),
      h('dl', {class: 'kv'},
          h('dt', null, 'Applies to'),
          h('dd', null, p.session_id === null || p.session_id === undefined ? 'every session'
            : h('a', {href: '#/rules?session_id=' + enc(p.session_id)}, 'session ' + String(p.session_id))),
          p.agent_session ? [h('dt', null, 'Agent session'), h('dd', {class: 'agent-session'}, String(p.agent_session))] : null,
          p.position ? [h('dt', null, 'Position'), h('dd', null, String(p.position))] : null,
          h('dt', null, state === 'expired' ? 'Expired' : 'Expires'),
          h('dd', null, p.expires_at ? when(p.expires_at) + ' (' + ago(p.expires_at) + ')' : 'never'),
          h('dt', null, 'Added by'), h('dd', null, String(p.created_by ?? '')),
          h('dt', null, 'Added'), h('dd', null, when(p.created_at)),
          p.revoked_at ? [h('dt', null, 'Revoked'), h('dd', null, when(p.revoked_at))] : null));
  if (state === 'live') {
    const zone = h('div', {class: 'revoke-zone'});
    const ask = () => {
      const no = h('button', {type: 'button', class: 'btn plain', 'data-action': 'keep'}, 'Keep it');
      const yes = h('button', {type: 'button', class: 'btn no', 'data-action': 'confirm-revoke'}, 'Yes, revoke');
      const err = h('p', {class: 'error', role: 'alert', hidden: true});
      no.addEventListener('click', () => replace(zone, start()));
      yes.addEventListener('click', async () => {
        yes.disabled = no.disabled = true;
        try {
          await revoke(p);
        } catch (e) {
          yes.disabled = no.disabled = false;
          if (e.status === 401) return;
          err.hidden = false;
          replace(err, e.message);
        }
      });
      replace(zone, h('div', {class: 'confirm', role: 'group'},
          h('p', null, p.action === 'allow' ? 'Revoke this rule? The calls it allows will be asked again.'
            : 'Revoke this rule? It will no longer decide any call.'),
          h('div', {class: 'row'}, yes, no), err));
      yes.focus();
    };
    const start = () => h('div', {class: 'row'},
        h('button', {type: 'button', class: 'btn plain', 'data-action': 'revoke', on: {click: ask}}, 'Revoke'));
    replace(zone, start());
    c.appendChild(zone);
  }
  return c;
}

export async function rulesPage(root, ctx) {
  if (ctx.me.role !== 'admin') return adminsOnly(root);
  const only = ctx.params.get('session_id') || '';
  const tool = h('input', {id: 'r-tool', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', maxlength: 128, placeholder: 'Bash'});
  const match = h('input', {id: 'r-match', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', maxlength: 1024, placeholder: '^git (status|diff|log)$'});
  const action = h('select', {id: 'r-action'}, ACTIONS.map(([v, l]) => h('option', {value: v}, l)));
  const session = h('input', {id: 'r-session', type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off', maxlength: 128, value: only, placeholder: 'every session'});
  const expires = h('select', {id: 'r-expires'}, EXPIRY.map(([v, l]) => h('option', {value: v}, l)));
  const err = h('p', {class: 'error', role: 'alert', id: 'rule-error', hidden: true});
  const flash = h('p', {class: 'flash', role: 'status', id: 'rule-flash', hidden: true});
  const submit = h('button', {type: 'submit', class: 'btn', id: 'rule-add'}, 'Add rule');
  const say = (el, text) => {
    el.hidden = !text;
    replace(el, text || '');
  };
  const form = h('form', {id: 'rule-form', novalidate: true},
      field('r-tool', 'Tool', tool, 'The tool\'s name as the agent sends it: Bash, Edit, Write, run_shell_command…'),
      field('r-match', 'Pattern', match, 'A POSIX regular expression over the command (shell tools), the file path (file tools) or the input as JSON. An allow rule must match all of it; deny and ask match anywhere.'),
      field('r-action', 'Action', action),
      field('r-session', 'Session (optional)', session, 'Empty: every session of the tenant.'),
      field('r-expires', 'Expires', expires),
      err,
      h('div', {class: 'row'}, submit));

  const liveCount = h('span', {class: 'count', id: 'rules-count'});
  const live = h('div', {class: 'list', id: 'rules-live'});
  const ended = h('div', {class: 'list', id: 'rules-ended'});
  const endedHead = h('h2', {id: 'rules-ended-head', hidden: true}, 'Expired and revoked');
  const status = h('p', {class: 'muted', id: 'rules-status'}, 'Loading…');
  const more = h('p', {class: 'muted', id: 'rules-truncated', hidden: true}, 'Only the first 500 rules are shown.');
  replace(root,
      h('h1', null, 'Rules ', liveCount),
      h('p', {class: 'muted'}, 'Rules decide a coding agent\'s tool call without asking: the first live rule of the tool whose pattern matches decides, session rules before tenant rules. With none, a person is asked.'),
      only ? h('p', {id: 'rules-filter'}, 'Rules of session ', h('strong', null, only), ' only. ', h('a', {href: '#/rules'}, 'All rules')) : null,
      flash,
      h('details', {class: 'card', id: 'rule-new', open: !!only}, h('summary', {id: 'rule-new-open'}, 'Add a rule'), form),
      h('h2', null, 'Live'), status, live, endedHead, ended, more);

  const revoke = async (p) => {
    await post('policies/' + enc(p.id) + '/revoke', {});
    say(flash, 'Rule #' + p.id + ' revoked.');
    await load();
  };
  const load = async () => {
    const r = await get('policies' + (only ? '?session_id=' + enc(only) : ''));
    const ps = Array.isArray(r.policies) ? r.policies : [];
    const on = ps.filter((p) => p.state === 'live');
    const off = ps.filter((p) => p.state !== 'live');
    replace(liveCount, '(' + on.length + ' live)');
    replace(live, on.map((p) => ruleCard(p, revoke)));
    replace(ended, off.map((p) => ruleCard(p, revoke)));
    endedHead.hidden = !off.length;
    more.hidden = !r.truncated;
    replace(status, on.length ? '' : 'No live rules: every tool call is asked.');
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    say(err, '');
    say(flash, '');
    const body = {tool: tool.value.trim(), match: match.value, action: action.value};
    if (!body.tool) {
      say(err, 'Name the tool first.');
      tool.focus();
      return;
    }
    if (!body.match) {
      say(err, 'Write the pattern first.');
      match.focus();
      return;
    }
    if (session.value.trim()) body.session_id = session.value.trim();
    if (expires.value) body.expires_seconds = Number(expires.value);
    submit.disabled = true;
    try {
      const r = await post('policies', body);
      say(flash, 'Rule #' + r.policy.id + ' added.');
      match.value = '';
      await load();
    } catch (x) {
      if (x.status !== 401) say(err, x.message);
    } finally {
      submit.disabled = false;
    }
  });

  try {
    await load();
  } catch (e) {
    if (e.status === 403) return adminsOnly(root);
    if (e.status === 401) return;
    replace(status, h('span', {class: 'error', role: 'alert'}, e.message));
  }
}
