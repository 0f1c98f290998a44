// main.js - the console's shell: signs in from a one-time link, shows who
// is signed in, and routes hash addresses to pages.
//
//  1. A link `/console/#login=<token>`: the token is taken out of the address
//     (history.replaceState) before anything else, so it is never left in
//     the history or sent anywhere but POST /console/api/login.
//  2. `#error=<code>`: a sign-in that failed elsewhere (Telegram login) is
//     explained in words.
//  3. GET /console/api/me says who is signed in and hands the CSRF token;
//     401 shows the signed-out page.
//  4. Routes: #/ pending, #/requests/<id>, #/history, #/sessions, #/rules,
//     #/audit.
//     A page is a function (root, ctx) that fills `root` and may register
//     cleanups with ctx.onLeave (closing a live stream).

import {h, replace} from './dom.js';
import {ApiError, get, onSignedOut, post, setCsrf} from './api.js';
import {pendingPage} from './pages/pending.js';
import {requestPage} from './pages/request.js';
import {historyPage} from './pages/history.js';
import {sessionsPage} from './pages/sessions.js';
import {rulesPage} from './pages/rules.js';
import {auditPage} from './pages/audit.js';

const main = document.getElementById('main');
const who = document.getElementById('who');
const nav = document.getElementById('nav');

let me = null;
let leave = [];

// Sign-in failures: the link's (POST login) and the Telegram login's
// (src/console_tglogin.c redirects to #error=<code>).
const ERRORS = {
  invalid_link: 'That sign-in link is not valid any more: links work once and for 10 minutes. Ask for a new one.',
  rate_limited: 'Too many sign-in attempts from here. Wait a minute and try again.',
  invalid: 'Telegram could not confirm who you are (or this sign-in was used already). Open the console from Telegram again.',
  invalid_login: 'Telegram could not confirm who you are. Open the console from Telegram again.',
  expired: 'That sign-in is too old. Open the console from Telegram again.',
  login_expired: 'That sign-in is too old. Open the console from Telegram again.',
  not_approver: 'You are not an approver here. Ask an admin to add you to a session.',
  forbidden: 'That request is not one you may see (you are not an approver of its session, or it no longer exists). Ask an admin to add you to the session.',
  unavailable: 'The console is not available right now. Try again in a minute.',
};

function errorText(code) {
  return ERRORS[code] || 'Signing in did not work (' + code + '). Ask for a new link.';
}

function signedOutPage(notice) {
  me = null;
  setCsrf(null);
  stopPage();
  replace(who);
  nav.hidden = true;
  replace(nav);
  replace(main,
      h('section', {class: 'card signin'},
          h('h1', null, 'Signed out'),
          notice ? h('p', {class: 'error', role: 'alert', id: 'notice'}, notice) : null,
          h('p', null, 'To sign in, open a fresh console link: an admin prints one with ',
              h('code', null, 'loopgate console link'),
              ', or tap “Open in console” on a request in Telegram.')));
}

function stopPage() {
  for (const fn of leave) {
    try {
      fn();
    } catch (e) {
      // a cleanup that fails must not keep the next page from showing
    }
  }
  leave = [];
}

function header() {
  replace(who,
      h('span', {class: 'name', id: 'who-name'}, me.name || me.user),
      h('span', {class: 'role role-' + (me.role === 'admin' ? 'admin' : 'approver'), id: 'who-role'}, me.role),
      h('span', {class: 'tenant', id: 'who-tenant', title: 'tenant'}, me.tenant));
  const items = [['#/', 'Pending'], ['#/history', 'History']];
  if (me.role === 'admin') items.push(['#/sessions', 'Sessions'], ['#/rules', 'Rules'], ['#/audit', 'Audit']);
  replace(nav,
      items.map(([href, label]) => h('a', {href, 'data-route': href}, label)),
      h('button', {type: 'button', class: 'linkish', id: 'logout', on: {click: logout}}, 'Log out'));
  nav.hidden = false;
}

async function logout() {
  try {
    await post('logout', {});
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) {
      alertBox(e.message);
      return;
    }
  }
  history.replaceState(null, '', location.pathname + location.search);
  signedOutPage('You are logged out.');
}

function alertBox(text) {
  main.prepend(h('p', {class: 'error', role: 'alert'}, text));
}

function route() {
  const raw = location.hash.replace(/^#/, '') || '/';
  if (/^(login|error)=/.test(raw)) {
    // A sign-in link (or its failure) opened in this tab: start over with it.
    location.reload();
    return;
  }
  if (!me) return;
  stopPage();
  const [path, query] = raw.split('?');
  const params = new URLSearchParams(query || '');
  for (const a of nav.querySelectorAll('a')) {
    const r = a.getAttribute('data-route').slice(1);
    a.classList.toggle('here', r === '/' ? path === '/' || path.startsWith('/requests/') : path.startsWith(r));
  }
  const root = h('div', {class: 'view'});
  replace(main, root);
  const ctx = {me, params, onLeave: (fn) => leave.push(fn)};
  let page;
  const m = /^\/requests\/([^/]+)$/.exec(path);
  if (path === '/' || path === '') page = pendingPage;
  else if (m) {
    let id;
    try {
      id = decodeURIComponent(m[1]);
    } catch (e) {
      id = '';
    }
    ctx.id = id;
    page = requestPage;
  } else if (path === '/history') page = historyPage;
  else if (path === '/sessions') page = sessionsPage;
  else if (path === '/rules') page = rulesPage;
  else if (path === '/audit') page = auditPage;
  else {
    replace(root, h('h1', null, 'Not found'), h('p', null, 'There is no such page. ', h('a', {href: '#/'}, 'Pending requests')));
    return;
  }
  Promise.resolve(page(root, ctx)).catch((e) => {
    if (e instanceof ApiError && e.status === 401) return;
    root.appendChild(h('p', {class: 'error', role: 'alert'}, e.message || String(e)));
  });
  window.scrollTo(0, 0);
}

async function boot() {
  onSignedOut(() => signedOutPage('Your session has ended. Open a fresh console link to sign in again.'));
  window.addEventListener('hashchange', route);
  const frag = new URLSearchParams(location.hash.replace(/^#/, ''));
  const token = frag.get('login');
  const error = frag.get('error');
  let notice = null;
  if (token !== null || error !== null) {
    // Out of the address bar and the history before anything else.
    history.replaceState(null, '', location.pathname + location.search + '#/');
  }
  if (error !== null) notice = errorText(/^[a-z_]{1,40}$/.test(error) ? error : 'unknown');
  if (token !== null) {
    try {
      const r = await post('login', {token});
      setCsrf(r.csrf);
    } catch (e) {
      notice = e.status === 401 ? errorText('invalid_link')
          : e.status === 429 ? errorText('rate_limited') : e.message;
    }
  }
  try {
    me = await get('me');
  } catch (e) {
    signedOutPage(notice || (e.status === 401 ? null : e.message));
    return;
  }
  setCsrf(me.csrf);
  header();
  if (notice) {
    route();
    alertBox(notice);
  } else {
    route();
  }
}

boot();
