// stream_retry.mjs - a refused stream (502, as while workers restart) is
// opened again after a short wait: the page does not stay a 10 s poller.
import {args, run, signIn} from './lib.mjs';

run('stream_retry', async ({page}) => {
  let refused = 0;
  let opened = 0;
  await page.route('**/console/api/events', (r) => {
    if (refused++ === 0) return r.fulfill({status: 502, contentType: 'text/html', body: 'bad gateway'});
    opened++;
    return r.continue();
  });
  await signIn(page, args.link);
  await page.locator('#live[data-state="poll"]').waitFor();
  const t0 = Date.now();
  await page.locator('#live[data-state="stream"]').waitFor({timeout: 9000});
  return {refused, opened, ms: Date.now() - t0};
});
