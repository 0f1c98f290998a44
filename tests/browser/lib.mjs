// lib.mjs - what every browser test shares: Debian's Chromium driven by
// playwright-core, a record of everything that would betray script running
// where it should not (dialogs, page errors, CSP violations, console
// messages), screenshots under build/browser/, and the line protocol with
// the Python test that drives the stack (tests/integration/test_16_browser.py):
//
//   argv[2]   JSON: {"base": "http://127.0.0.1:PORT", "link": ..., "shots": dir, ...}
//   stdout    lines "STEP <name> <json>" when the Python side must act, and
//             one final line "RESULT <json>" with what the page showed
//   stdin     one JSON line per STEP, the Python side's answer
//
// Every wait has a deadline (Playwright's timeouts); nothing sleeps.
import {chromium} from 'playwright-core';
import {mkdirSync} from 'node:fs';
import {join} from 'node:path';
import {createInterface} from 'node:readline';

export const args = JSON.parse(process.argv[2] || '{}');
export const TIMEOUT = Number(args.timeout_ms || 20000);

const lines = createInterface({input: process.stdin});
const queue = [];
const waiting = [];
lines.on('line', (l) => {
  if (waiting.length) waiting.shift()(l);
  else queue.push(l);
});

/** Tell the Python side to act (`name`, `data`), and wait for its JSON answer. */
export async function step(name, data = {}) {
  process.stdout.write('STEP ' + name + ' ' + JSON.stringify(data) + '\n');
  const line = queue.length ? queue.shift() : await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no answer to step ' + name)), 60000);
    waiting.push((l) => {
      clearTimeout(t);
      resolve(l);
    });
  });
  return JSON.parse(line);
}

/** A browser, one context and page, watched. `viewport` defaults to a laptop's. */
export async function start({viewport = {width: 1100, height: 900}, mobile = false} = {}) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  const context = await browser.newContext({
    viewport, isMobile: mobile, hasTouch: mobile, deviceScaleFactor: 1, acceptDownloads: true,
  });
  const seen = {dialogs: [], errors: [], console: [], csp: [], requests: []};
  // Runs before the page's own scripts, through the DevTools protocol (the
  // page's CSP does not apply to it): CSP violations are what an attempt to
  // run injected script would cause, if the page ever parsed data as HTML.
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || ''));
    });
  });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('dialog', (d) => {
    seen.dialogs.push(d.type() + ': ' + d.message());
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => seen.errors.push(String(e)));
  page.on('console', (m) => seen.console.push(m.type() + ': ' + m.text()));
  page.on('request', (r) => seen.requests.push(r.method() + ' ' + r.url()));
  return {browser, context, page, seen};
}

/** Open a console sign-in link and wait until the console shows who signed in. */
export async function signIn(page, link) {
  await page.goto(link);
  await page.locator('#who-name').waitFor();
}

export function shot(page, name, opts = {}) {
  const dir = args.shots || 'build/browser';
  mkdirSync(dir, {recursive: true});
  return page.screenshot({path: join(dir, name + '.png'), ...opts});
}

/** Run `body(ctx)`; print its result (plus what was seen) as RESULT, a failure as RESULT with error. */
export async function run(name, body, opts) {
  let ctx;
  let code = 0;
  let out = {};
  try {
    ctx = await start(opts);
    out = (await body(ctx)) || {};
  } catch (e) {
    code = 1;
    out.error = String(e && e.stack ? e.stack : e);
    if (ctx) await shot(ctx.page, name + '-failed').catch(() => {});
  }
  if (ctx) {
    out.seen = ctx.seen;
    out.csp = await ctx.page.evaluate(() => window.__csp || []).catch(() => null);
    await ctx.browser.close().catch(() => {});
  }
  process.stdout.write('RESULT ' + JSON.stringify(out) + '\n');
  lines.close();
  process.exit(code);
}
