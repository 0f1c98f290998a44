// request_live.mjs - the request page stays true: a vote refused because the
// request was canceled meanwhile (the stream down, the 10 s poll not due)
// shows the request as it is now at once; a page opened by an upper-case id
// follows live events; the Decide card's quorum line follows other votes.
import {args, run, signIn, step} from './lib.mjs';

const streamOpen = (page) => page.waitForResponse(
    (r) => r.url().includes('/console/api/events') && r.status() === 200);

run('request_live', async ({page}) => {
  await signIn(page, args.link);
  // 1. the stream refused: only a vote answer can tell the page
  await page.route('**/console/api/events', (r) => r.abort());
  await page.goto(args.base + '/console/#/requests/' + args.rid1);
  await page.locator('button[data-action="approve"]').waitFor();
  await step('cancel', {rid: args.rid1});
  const t0 = Date.now();
  await page.locator('button[data-action="approve"]').click();
  await page.locator('#decided').waitFor({timeout: 5000});
  const after_409 = {ms: Date.now() - t0, decided: await page.locator('#decided').textContent(),
    flash: await page.locator('#vote-result').textContent()};
  await page.unroute('**/console/api/events');

  // 2. opened by an upper-case id, canceled while the stream is open
  let open = streamOpen(page);
  await page.goto(args.base + '/console/#/requests/' + args.rid2.toUpperCase());
  await page.locator('button[data-action="approve"]').waitFor();
  await open;
  await step('cancel', {rid: args.rid2});
  await page.locator('#decided').waitFor({timeout: 8000});

  // 3. another approver's vote moves the Decide card's quorum line
  open = streamOpen(page);
  await page.goto(args.base + '/console/#/requests/' + args.rid3);
  await page.locator('#decide-quorum').waitFor();
  await open;
  const before = await page.locator('#decide-quorum').textContent();
  await step('ann', {rid: args.rid3});
  await page.locator('#decide-quorum', {hasText: '1 of 2'}).waitFor({timeout: 8000});
  return {after_409, quorum_before: before,
    quorum_after: await page.locator('#decide-quorum').textContent()};
});
