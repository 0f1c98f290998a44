// pending_keyed.mjs - the pending list redraws only what changed: a new
// request adds its card, and the cards already there stay the same nodes.
import {args, run, signIn, step} from './lib.mjs';

run('pending_keyed', async ({page}) => {
  await signIn(page, args.link);
  await page.locator('#live[data-state="stream"]').waitFor();
  const first = page.locator(`a.card[data-request-id="${args.rid}"]`);
  await first.waitFor();
  await first.evaluate((el) => {
    el.dataset.mark = 'kept';
  });
  const {rid} = await step('submit');
  await page.locator(`a.card[data-request-id="${rid}"]`).waitFor({timeout: 10000});
  const mark = await first.getAttribute('data-mark');
  const ids = await page.locator('#pending-list a.card').evaluateAll((as) => as.map((a) => a.dataset.requestId));
  return {mark, ids};
});
