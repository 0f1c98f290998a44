// login.mjs - the way in and out: a link signs in and its token leaves the
// address bar at once; Log out ends the session (the API then answers
// 401); the same link again is refused with a message; a failed Telegram
// login (#error=<code>) is explained in words.
import {args, run, shot, signIn} from './lib.mjs';

run('login', async ({page}) => {
  await signIn(page, args.link);
  const url_after = page.url();
  const history_has_token = await page.evaluate(() => location.href.includes('login='));
  const who = await page.locator('#who').innerText();
  await page.locator('#logout').click();
  await page.locator('#notice').waitFor();
  const logged_out = await page.locator('#notice').textContent();
  const me_after = await page.evaluate(async () => (await fetch('/console/api/me')).status);

  // The link opened in the same tab (a change of fragment only).
  await page.goto(args.base + '/console/#/history');
  await page.goto(args.link);
  await page.locator('#notice', {hasText: 'link'}).waitFor();
  await page.locator('#notice').waitFor();
  const reused = await page.locator('#notice').textContent();
  const url_reused = page.url();
  await shot(page, 'login-reused');

  await page.goto('about:blank');
  await page.goto(args.base + '/console/#error=invalid_login');
  await page.locator('#notice', {hasText: 'Telegram'}).waitFor();
  const telegram = await page.locator('#notice').textContent();
  const url_error = page.url();
  // Every code the Telegram login redirects with has its own words.
  const codes = {};
  for (const code of ['invalid', 'expired', 'forbidden', 'rate_limited', 'unavailable']) {
    await page.goto('about:blank');
    await page.goto(args.base + '/console/#error=' + code);
    await page.locator('#notice').waitFor();
    codes[code] = await page.locator('#notice').textContent();
  }
  return {url_after, history_has_token, who, logged_out, me_after, reused, url_reused, telegram, url_error, codes};
});
