// rules.mjs - the Rules page on a 390 x 844 phone: the rule the Python side
// seeded (an agent session's) is listed with its agent session; a bad
// pattern is refused under the form in the server's words; a rule added
// with the form is listed live; Revoke asks first ("Keep it" revokes
// nothing), then revokes and the rule moves to the ended list. Nothing
// scrolls sideways and every control is touch-sized. An approver has no
// Rules link and the page tells them it is for admins. Markup in a rule's
// pattern is shown as text.
import {args, run, shot, signIn} from './lib.mjs';

// What the server says the state of rule `id` is.
const stateOf = (page, id) => page.evaluate(async (id) => {
  const r = await fetch('/console/api/policies', {credentials: 'same-origin'});
  const p = (await r.json()).policies.find((x) => x.id === id);
  return p ? p.state : null;
}, id);

run('rules', async ({page}) => {
  await signIn(page, args.link);
  const out = {};
  out.nav = await page.locator('#nav a').allTextContents();
  await page.locator('#nav a', {hasText: 'Rules'}).click();
  const seeded = page.locator(`#rules-live [data-policy-id="${args.seeded}"]`);
  await seeded.waitFor();
  out.seeded_text = await seeded.textContent();
  out.marked_match = await page.locator(`#rules-live [data-policy-id="${args.marked}"] pre.match`).textContent();
  out.made = await page.locator('#main img, #main script, #main iframe').count();

  // A pattern the server refuses: its message under the form.
  await page.locator('#rule-new-open').click();
  await page.locator('#r-tool').fill('Git');
  await page.locator('#r-match').fill('(');
  await page.locator('#rule-add').click();
  await page.locator('#rule-error').waitFor();
  out.bad_regex = await page.locator('#rule-error').textContent();

  await page.locator('#r-match').fill('^git (status|diff)$');
  await page.locator('#r-action').selectOption('deny');
  await page.locator('#r-session').fill(args.session);
  await page.locator('#r-expires').selectOption('3600');
  await page.locator('#rule-add').click();
  await page.locator('#rule-flash', {hasText: 'added'}).waitFor();
  const flash = await page.locator('#rule-flash').textContent();
  out.added_id = Number(/#(\d+)/.exec(flash)[1]);
  const added = page.locator(`#rules-live [data-policy-id="${out.added_id}"]`);
  await added.waitFor();
  out.added_text = await added.textContent();
  await page.locator('#rule-error').waitFor({state: 'hidden'});

  // Revoke asks first; "Keep it" leaves the rule live.
  await added.locator('[data-action="revoke"]').click();
  await added.locator('[data-action="confirm-revoke"]').waitFor();
  out.metrics = await page.evaluate(() => {
    const d = document.documentElement;
    const targets = [...document.querySelectorAll('button, .nav a, a.btn, select, input, textarea, summary')]
        .filter((e) => e.offsetParent !== null)
        .map((e) => [e.textContent.trim().slice(0, 30) || e.id || e.name, Math.round(e.getBoundingClientRect().height)]);
    return {
      scroll_width: d.scrollWidth, client_width: d.clientWidth,
      body_font_px: parseFloat(getComputedStyle(document.body).fontSize),
      small_targets: targets.filter(([, hgt]) => hgt < 44), targets: targets.length,
    };
  });
  await shot(page, 'rules-phone', {fullPage: true});
  await added.locator('[data-action="keep"]').click();
  await added.locator('[data-action="revoke"]').waitFor();
  out.dismissed_state = await stateOf(page, out.added_id);

  await added.locator('[data-action="revoke"]').click();
  await added.locator('[data-action="confirm-revoke"]').click();
  const gone = page.locator(`#rules-ended [data-policy-id="${out.added_id}"]`);
  await gone.waitFor();
  out.revoked_text = await gone.textContent();
  out.still_live = await page.locator(`#rules-live [data-policy-id="${out.added_id}"]`).count();
  await shot(page, 'rules-revoked', {fullPage: true});

  // An approver: no Rules link, and the page is for admins.
  await signIn(page, args.approver);
  out.approver_nav = await page.locator('#nav a').allTextContents();
  await page.goto(args.base + '/console/#/rules');
  await page.locator('#forbidden').waitFor();
  out.approver_page = await page.locator('#forbidden').textContent();
  return out;
}, {viewport: {width: 390, height: 844}, mobile: true});
