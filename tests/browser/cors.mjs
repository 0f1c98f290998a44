// cors.mjs - an agent in a web page on another origin calls the API with
// fetch: a JSON POST with its key (a preflight first), a poll, an MCP
// initialize whose Mcp-Session-Id the page reads (an exposed header); the
// same calls from an origin not listed fail in the browser.
//
//   args: base (the stack), page (a listed origin's page), other (the same
//   page on an origin not listed), key
import {args, run} from './lib.mjs';

// Runs in the page: every call of a browser agent, each result or its error.
async function agent({base, key, rid}) {
  const out = {};
  const json = {'Content-Type': 'application/json', 'X-API-Key': key};
  const attempt = async (name, f) => {
    try {
      out[name] = await f();
    } catch (e) {
      out[name] = {failed: String(e)};
    }
  };
  await attempt('submit', async () => {
    const r = await fetch(base + '/hitl/request', {
      method: 'POST',
      headers: {...json, 'Idempotency-Key': 'browser-' + rid},
      body: JSON.stringify({session_id: 'cors', client_id: 'browser', message: 'Asked from ' + location.origin}),
    });
    return {status: r.status, body: await r.json()};
  });
  await attempt('poll', async () => {
    const id = out.submit && out.submit.body ? out.submit.body.request_id : '00000000-0000-0000-0000-000000000000';
    const r = await fetch(base + '/hitl/poll?request_id=' + id, {headers: {'X-API-Key': key}});
    return {status: r.status, body: await r.json()};
  });
  await attempt('mcp', async () => {
    const r = await fetch(base + '/mcp', {
      method: 'POST',
      headers: {...json, Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': '2025-06-18'},
      body: JSON.stringify({jsonrpc: '2.0', id: 1, method: 'initialize', params: {
        protocolVersion: '2025-06-18', capabilities: {}, clientInfo: {name: 'page', version: '1'}}}),
    });
    return {status: r.status, session: r.headers.get('Mcp-Session-Id')};
  });
  await attempt('unauthorized', async () => {
    const r = await fetch(base + '/hitl/pending');
    return {status: r.status, body: await r.json()};
  });
  return out;
}

run('cors', async ({page}) => {
  await page.goto(args.page);
  const listed = await page.evaluate(agent, {base: args.base, key: args.key, rid: 'listed'});
  await page.goto(args.other);
  const unlisted = await page.evaluate(agent, {base: args.base, key: args.key, rid: 'unlisted'});
  return {listed, unlisted};
});
