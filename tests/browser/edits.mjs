// edits.mjs - approve with edits: the params form is generated from the
// schema; an edit the schema refuses shows the server's message next to
// the form and decides nothing; a valid one approves.
import {args, run, shot, signIn} from './lib.mjs';

run('edits', async ({page}) => {
  await signIn(page, args.link);
  await page.goto(args.base + '/console/#/requests/' + encodeURIComponent(args.rid));
  const form = page.locator('#edits');
  await form.waitFor();
  const labels = await form.locator('label').allTextContents();
  const dry = await form.locator('select[name="dry_run"]').inputValue();
  const env = await form.locator('select[name="env"] option:checked').textContent();
  await form.locator('input[name="replicas"]').fill(String(args.bad));
  await page.locator('button[data-action="approve-edits"]').click();
  const err = page.locator('#params-error');
  await err.waitFor();
  const refused = await err.textContent();
  await shot(page, 'edits-refused');
  const still_pending = await page.locator('button[data-action="approve-edits"]').isEnabled();
  await form.locator('input[name="replicas"]').fill(String(args.good));
  await page.locator('#reason').fill(args.reason);
  await page.locator('button[data-action="approve-edits"]').click();
  await page.locator('#vote-result').waitFor();
  await page.locator('#decided').waitFor();
  await shot(page, 'edits-approved');
  return {labels, dry_run_select: dry, env_selected: env, refused, still_pending,
    flash: await page.locator('#vote-result').textContent()};
});
