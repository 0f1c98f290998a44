// answer.mjs - the controls of the other request types: an input request
// is answered by typing into its text box, a choice request by pressing
// one of its options (each button marked approve or deny); with a quorum
// of two, one approval is counted and the controls give way to a note.
import {args, run, shot, signIn} from './lib.mjs';

run('answer', async ({page}) => {
  await signIn(page, args.link);
  let posts = 0;
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.url().endsWith('/vote')) posts++;
  });
  await page.goto(args.base + '/console/#/requests/' + encodeURIComponent(args.input));
  // The boxes count UTF-8 bytes, as the server does: 600 Cyrillic letters
  // are 1200 bytes, over the reason's 1024, and are refused before sending.
  await page.locator('#reason').fill('ж'.repeat(600));
  await page.locator('#answer').fill('ж'.repeat(2100));
  const counts = [await page.locator('#reason-count').textContent(), await page.locator('#answer-count').textContent()];
  await page.locator('button[data-action="answer"]').click();
  const too_long = await page.locator('#vote-error').textContent();
  const posts_too_long = posts;
  await page.locator('#reason').fill('');
  await page.locator('#answer').fill(args.text);
  await page.locator('button[data-action="answer"]').click();
  await page.locator('#decided').waitFor();
  await page.locator('#vote-result').waitFor(); // the stream's event may come before the vote's answer
  const input_flash = await page.locator('#vote-result').textContent();
  await shot(page, 'answer-input');

  await page.goto(args.base + '/console/#/requests/' + encodeURIComponent(args.choice));
  await page.locator('button[data-action="option-2"]').waitFor(); // the page renders after goto
  const buttons = await page.locator('#decision button[data-action^="option-"]').evaluateAll(
      (bs) => bs.map((b) => [b.textContent, b.className]));
  await page.locator('button[data-action="option-1"]').click();
  await page.locator('#decided').waitFor();
  await page.locator('#vote-result').waitFor();
  const choice_flash = await page.locator('#vote-result').textContent();
  await shot(page, 'answer-choice');
  // A quorum of two: one approval counts, the request stays pending, and
  // the page says so in place of the controls.
  await page.goto(args.base + '/console/#/requests/' + encodeURIComponent(args.quorum));
  const quorum_before = await page.locator('#quorum').textContent();
  await page.locator('button[data-action="approve"]').click();
  await page.locator('#already-voted').waitFor();
  await page.locator('#vote-result').waitFor();
  const quorum_flash = await page.locator('#vote-result').textContent();
  const quorum_after = await page.locator('#quorum').textContent();
  const votes = await page.locator('#votes li').allInnerTexts();
  const controls_left = await page.locator('#decision button').count();
  await shot(page, 'answer-quorum');
  return {counts, too_long, posts_too_long, input_flash, buttons, choice_flash, quorum_before, quorum_flash, quorum_after, votes, controls_left};
});
