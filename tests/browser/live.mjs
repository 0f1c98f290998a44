// live.mjs - sign in by link; a request an agent submits appears on the
// pending page without a reload; approve it with a reason on its page; a
// request canceled meanwhile leaves the list, also without a reload.
import {args, run, shot, signIn, step} from './lib.mjs';

run('live', async ({page}) => {
  await signIn(page, args.link);
  await page.locator('#live[data-state="stream"]').waitFor();
  await page.locator('#pending-count', {hasText: /\(\d+\)/}).waitFor(); // the list has loaded, empty or not

  const {rid} = await step('submit');
  const t0 = Date.now();
  const card = page.locator(`a.card[data-request-id="${rid}"]`);
  await card.waitFor({timeout: 10000});
  const appeared_ms = Date.now() - t0;
  const card_text = await card.innerText();
  await shot(page, 'live-pending');

  await card.click();
  await page.locator('#message').waitFor();
  const message = await page.locator('#message').textContent();
  const quorum = await page.locator('#quorum').textContent();
  await shot(page, 'live-request', {clip: {x: 0, y: 0, width: 1100, height: 888}});
  await page.locator('#reason').fill(args.reason);
  await page.locator('button[data-action="approve"]').click();
  await page.locator('#vote-result').waitFor();
  const flash = await page.locator('#vote-result').textContent();
  await page.locator('#decided').waitFor();
  await shot(page, 'live-approved');

  await page.goto(args.base + '/console/#/');
  await page.locator('#live[data-state="stream"]').waitFor();
  const {rid: other} = await step('submit-other');
  const card2 = page.locator(`a.card[data-request-id="${other}"]`);
  await card2.waitFor({timeout: 10000});
  const still_there = await page.locator(`a.card[data-request-id="${rid}"]`).count();
  await step('cancel-other');
  const t1 = Date.now();
  await card2.waitFor({state: 'detached', timeout: 10000});
  const left_ms = Date.now() - t1;
  return {appeared_ms, left_ms, card_text, message, quorum, flash, still_there,
    who: await page.locator('#who').innerText()};
});
