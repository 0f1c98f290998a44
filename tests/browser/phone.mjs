// phone.mjs - the console on a 390 x 844 phone: no page scrolls sideways
// (long unbroken words included), text is at least 16 px, and every
// button and navigation link is a touch target at least 44 px high.
import {args, run, shot, signIn} from './lib.mjs';

const PAGES = [
  ['pending', '#/', '#pending-list a.card'],
  ['request', null, '#decision'],
  ['history', '#/history', '#history-list a.card'],
  ['sessions', '#/sessions', '#sessions-list'],
  ['audit', '#/audit', '#verify-result p'],
];

run('phone', async ({page}) => {
  await signIn(page, args.link);
  const out = {};
  for (const [name, hash, ready] of PAGES) {
    await page.goto(args.base + '/console/' + (hash || '#/requests/' + encodeURIComponent(args.rid)));
    await page.locator(ready).first().waitFor();
    out[name] = await page.evaluate(() => {
      const d = document.documentElement;
      const targets = [...document.querySelectorAll('button, .nav a, a.btn, select, input, textarea')]
          .filter((e) => e.offsetParent !== null)
          .map((e) => [e.textContent.trim().slice(0, 30) || e.id || e.name, Math.round(e.getBoundingClientRect().height)]);
      return {
        scroll_width: d.scrollWidth, client_width: d.clientWidth,
        body_font_px: parseFloat(getComputedStyle(document.body).fontSize),
        small_targets: targets.filter(([, hgt]) => hgt < 44),
        targets: targets.length,
      };
    });
    await shot(page, 'phone-' + name, {fullPage: name === 'request'});
  }
  // History filtered by session (the filter lands in the address).
  await page.goto(args.base + '/console/#/history');
  await page.locator('#history-list a.card').first().waitFor();
  await page.locator('#f-session').fill(args.session);
  await page.locator('#history-filters button[type="submit"]').click();
  await page.waitForURL(/session_id=/);
  await page.locator('#history-list a.card').first().waitFor();
  out.filtered_url = page.url();
  out.filtered_sessions = await page.locator('#history-list a.card .session').allTextContents();
  // A page at a time: "Older requests" fetches the next with the cursor.
  await page.goto(args.base + '/console/#/history?limit=1');
  await page.locator('#history-list a.card').first().waitFor();
  const first_page = await page.locator('#history-list a.card').count();
  await page.locator('#history-more').click();
  await page.locator('#history-list a.card').nth(1).waitFor();
  out.paged = [first_page, await page.locator('#history-list a.card').count()];
  out.paged_ids = await page.locator('#history-list a.card').evaluateAll((as) => as.map((a) => a.dataset.requestId));
  // The audit trail downloads as a file.
  await page.goto(args.base + '/console/#/audit');
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#export-jsonl').click()]);
  out.download = download.suggestedFilename();
  out.download_failure = await download.failure();
  return out;
}, {viewport: {width: 390, height: 844}, mobile: true});
