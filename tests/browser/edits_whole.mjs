// edits_whole.mjs - approve with edits means what the form shows: a boolean
// set to "(not set)" and a cleared text field are removed from the params
// (the page sends the whole object, the server replaces); a key without a
// schema gets a field of its submitted type (a number input, a true/false
// select) and keeps that type.
import {args, run, signIn} from './lib.mjs';

run('edits_whole', async ({page}) => {
  const posted = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.url().endsWith('/vote')) posted.push(JSON.parse(r.postData()));
  });
  await signIn(page, args.link);
  await page.goto(args.base + '/console/#/requests/' + encodeURIComponent(args.rid));
  const form = page.locator('#edits');
  await form.waitFor();
  await form.locator('select[name="dry_run"]').selectOption('');
  await form.locator('input[name="note"]').fill('');
  await page.locator('button[data-action="approve-edits"]').click();
  await page.locator('#decided').waitFor();

  await page.goto(args.base + '/console/#/requests/' + encodeURIComponent(args.rid2));
  const form2 = page.locator('#edits');
  await form2.waitFor();
  const types = {
    n: await form2.locator('[name="n"]').getAttribute('type'),
    on: await form2.locator('[name="on"]').evaluate((e) => e.tagName.toLowerCase()),
  };
  await form2.locator('[name="n"]').fill('7');
  await form2.locator('select[name="on"]').selectOption('false');
  await page.locator('button[data-action="approve-edits"]').click();
  await page.locator('#decided').waitFor();
  return {posted, types};
});
