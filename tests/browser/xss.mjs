// xss.mjs - a request whose message, metadata, option labels and params
// are full of markup and javascript: URLs: every one shows as the literal
// text the agent sent, and nothing runs (no dialog, no flag set, no
// element made from it, not even an attempt the CSP had to block). A deny
// with a reason that is itself markup shows as text too. Last, the page's
// CSP refuses inline script.
import {args, run, shot, signIn} from './lib.mjs';

run('xss', async ({page}) => {
  await signIn(page, args.link);
  const card = page.locator(`a.card[data-request-id="${args.rid}"]`);
  await card.waitFor();
  const card_text = await card.locator('.msg').textContent();
  await card.click();
  await page.locator('#message').waitFor();
  await page.locator('#metadata').waitFor();
  const message = await page.locator('#message').textContent();
  const metadata = await page.locator('#metadata dl').innerText();
  const options = await page.locator('#options li').allTextContents();
  const buttons = await page.locator('#decision button[data-action^="option-"]').allTextContents();
  const params = await page.locator('#edits input, #edits textarea').evaluateAll((els) => els.map((e) => e.value));
  await shot(page, 'xss-request', {fullPage: true});

  await page.locator('#reason').fill(args.reason);
  await page.locator('button[data-action="deny-reason"]').click();
  await page.locator('#decided').waitFor();
  const votes = await page.locator('#votes').innerText();
  const timeline = await page.locator('#timeline').innerText();
  await shot(page, 'xss-denied', {fullPage: true});

  const dom = await page.evaluate(() => ({
    pwned: window.__pwned === undefined ? null : String(window.__pwned),
    made: document.querySelectorAll('main img, main script, main iframe, main svg, main object, main embed,' +
        ' main [onerror], main [onload], main [onclick], main [style], main [src]').length,
    js_links: [...document.querySelectorAll('a')].map((a) => a.getAttribute('href'))
        .filter((h) => !/^(#\/|\/console\/api\/)/.test(h || '')),
    scripts: [...document.scripts].map((s) => s.getAttribute('src')),
  }));
  const csp_before_eval = await page.evaluate(() => window.__csp.slice());
  // The CSP refuses inline script: one put into the page does not run (and
  // is reported as a violation, which this check then clears).
  const inline_result = await page.evaluate(() => new Promise((resolve) => {
    window.__inline = false;
    document.addEventListener('securitypolicyviolation', () => resolve(window.__inline ? 'ran' : 'blocked'), {once: true});
    const el = document.createElement('script');
    el.textContent = 'window.__inline = true;';
    document.body.appendChild(el);
    if (window.__inline) resolve('ran');
  }));
  const inline_csp = await page.evaluate(() => window.__csp.splice(0));
  return {card_text, message, metadata, options, buttons, params, votes, timeline, dom, csp_before_eval, inline_result, inline_csp};
});
