// bidi.mjs - bidi controls and zero-width characters in agent text are
// shown as markers (⟨U+202E⟩), in the message, metadata, params and the
// edits form's list, never acting; what is approved keeps the real values.
import {args, run, signIn} from './lib.mjs';

run('bidi', async ({page}) => {
  await signIn(page, args.link);
  await page.goto(args.base + '/console/#/requests/' + encodeURIComponent(args.rid));
  await page.locator('#edits').waitFor();
  const text = (sel) => page.locator(sel).first().textContent();
  const out = {
    message: await text('#message'),
    metadata: await text('#metadata'),
    params: await page.locator('section.card', {hasText: 'Params'}).first().textContent(),
    options: await page.locator('select[name="env"] option').allTextContents(),
  };
  await page.locator('button[data-action="approve-edits"]').click();
  await page.locator('#decided').waitFor();
  return out;
});
