// sessions_odd.mjs - a session id with ! ' ( ) * (allowed by the API) is
// listed on the Sessions page, and its "Its requests" link opens the
// history filtered by exactly that id.
import {args, run, signIn} from './lib.mjs';

run('sessions_odd', async ({page}) => {
  await signIn(page, args.link);
  await page.goto(args.base + '/console/#/sessions');
  await page.locator('#sessions-list').waitFor();
  const names = await page.locator('#sessions-list .card-head strong').allTextContents();
  const card = page.locator('#sessions-list section', {hasText: args.sid});
  await card.locator('a', {hasText: 'Its requests'}).click();
  await page.locator('#f-session').waitFor();
  return {names, filter: await page.locator('#f-session').inputValue()};
});
