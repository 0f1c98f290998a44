// isolation.mjs - an approver sees only what a session lists them for: the
// pending list and history hold the listed request only; another tenant's,
// an unlisted session's and an approver-less session's requests are "not
// found" to the page and 404 to the API; admin pages are 403; a POST
// without the CSRF token (or with a wrong one) is refused with 403; the
// listed request can then be approved for real.
import {args, run, shot, signIn, step} from './lib.mjs';

run('isolation', async ({page}) => {
  await signIn(page, args.link);
  // The event stream, read directly: requests submitted while it is open
  // reach it only when the user may see them; the last one submitted is
  // visible, so once it arrived every earlier one would have too.
  await page.evaluate(() => new Promise((resolve, reject) => {
    window.__events = [];
    const es = new EventSource('/console/api/events');
    es.addEventListener('request', (e) => window.__events.push(JSON.parse(e.data).request_id));
    es.addEventListener('open', () => resolve());
    es.addEventListener('error', () => reject(new Error('the event stream failed')));
  }));
  const {last} = await step('submit-while-streaming');
  await page.waitForFunction((id) => window.__events.includes(id), last);
  const streamed = await page.evaluate(() => window.__events.slice());
  const mine = page.locator(`a.card[data-request-id="${args.mine}"]`);
  await mine.waitFor();
  // The list that holds `mine` is the whole answer: the others are not in it.
  const listed = await page.locator('#pending-list a.card').evaluateAll((as) => as.map((a) => a.dataset.requestId));
  const nav = await page.locator('#nav a').allTextContents();
  const role = await page.locator('#who-role').textContent();

  await page.goto(args.base + '/console/#/requests/' + encodeURIComponent(args.hidden[0]));
  await page.locator('#not-found').waitFor();
  await shot(page, 'isolation-not-found');
  await page.goto(args.base + '/console/#/sessions');
  await page.locator('#forbidden').waitFor();

  await page.goto(args.base + '/console/#/history');
  await page.locator(`#history-list a.card[data-request-id="${args.mine}"]`).waitFor();
  const history = await page.locator('#history-list a.card').evaluateAll((as) => as.map((a) => a.dataset.requestId));

  const api = await page.evaluate(async ({hidden, mine}) => {
    const me = await (await fetch('/console/api/me')).json();
    const call = async (method, path, body, headers = {}) => {
      const init = {method, headers: {...headers}};
      if (body !== undefined) {
        init.headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
      }
      const r = await fetch('/console/api/' + path, init);
      let code = null;
      try {
        code = (await r.json()).error?.code ?? null;
      } catch (e) {
        code = null;
      }
      return [r.status, code];
    };
    const out = {};
    for (const id of hidden) {
      out['get ' + id] = await call('GET', 'requests/' + id);
      out['vote ' + id] = await call('POST', 'requests/' + id + '/vote', {approve: true}, {'X-CSRF-Token': me.csrf});
    }
    out.sessions = await call('GET', 'sessions');
    out.verify = await call('GET', 'audit/verify');
    out.export = await call('GET', 'audit/export?format=jsonl');
    out.vote_no_csrf = await call('POST', 'requests/' + mine + '/vote', {approve: true});
    out.vote_bad_csrf = await call('POST', 'requests/' + mine + '/vote', {approve: true}, {'X-CSRF-Token': 'x' + me.csrf});
    out.logout_no_csrf = await call('POST', 'logout', {});
    out.me_after = await call('GET', 'me');
    return out;
  }, {hidden: args.hidden, mine: args.mine});

  await page.goto(args.base + '/console/#/requests/' + encodeURIComponent(args.mine));
  await page.locator('button[data-action="approve"]').click();
  await page.locator('#decided').waitFor();
  await shot(page, 'isolation-approved');
  return {listed, history, nav, role, api, streamed};
});
