#!/usr/bin/env node
// sdk2_client.mjs - an MCP client built on the official TypeScript client SDK
// 2.x (@modelcontextprotocol/client, the npm alias mcp-client2 in
// tests/package.json), for test_17: every step is one JSON line on stdout.
//
//   node sdk2_client.mjs --url http://127.0.0.1:8080/mcp --mode pin \
//        --message 'Ship?' --session-id mcp --wait-seconds 30
//
// --mode legacy (the SDK's default: initialize, a 2025-era session), auto (probe
// with server/discover, fall back to initialize) or pin (2026-07-28 only).
// Connects over Streamable HTTP, lists the tools, calls request_human_input
// {message, options: [Yes, No], session_id, wait_seconds} with an onprogress
// callback and resetTimeoutOnProgress, prints the result, closes.
//
// Lines: {"step":"connected","era":..,"protocol_version":..,"server":{..}}
//        {"step":"tools","names":[..]}  {"step":"progress","count":N,"message":..}
//        {"step":"result","isError":..,"resultType":..,"structuredContent":{..}}
//        {"step":"error","where":..,"message":..}
// Exit status: 0 a result without isError, 1 an error, 2 usage, 3 isError.
import { parseArgs } from 'node:util';
import { Client, StreamableHTTPClientTransport } from 'mcp-client2';

const emit = (step, fields = {}) => process.stdout.write(JSON.stringify({ step, ...fields }) + '\n');
let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      url: { type: 'string' },
      mode: { type: 'string', default: 'pin' },
      message: { type: 'string', default: 'Deploy?' },
      'session-id': { type: 'string', default: 'mcp' },
      'wait-seconds': { type: 'string', default: '30' },
    },
  }));
} catch (e) {
  process.stderr.write(`sdk2_client: ${e.message}\n`);
  process.exit(2);
}
if (!opts.url || !['legacy', 'auto', 'pin'].includes(opts.mode)) {
  process.stderr.write('sdk2_client: --url URL and --mode legacy|auto|pin are required\n');
  process.exit(2);
}
const negotiation = { legacy: { mode: 'legacy' }, auto: { mode: 'auto' },
  pin: { mode: { pin: '2026-07-28' } } }[opts.mode];
const hard = setTimeout(() => { emit('error', { where: 'overall', message: 'timed out' }); process.exit(1); }, 120000);

const client = new Client({ name: 'loopgate-sdk2-test', version: '1.0.0' },
  { versionNegotiation: negotiation });
let where = 'connect';
try {
  await client.connect(new StreamableHTTPClientTransport(new URL(opts.url)));
  emit('connected', { era: client.getProtocolEra?.(), protocol_version: client.getNegotiatedProtocolVersion?.(),
    server: client.getServerVersion?.() });
  where = 'tools/list';
  const { tools } = await client.listTools();
  emit('tools', { names: tools.map((t) => t.name) });
  where = 'tools/call request_human_input';
  let count = 0;
  const res = await client.callTool({ name: 'request_human_input', arguments: {
    message: opts.message, options: ['Yes', 'No'], session_id: opts['session-id'],
    wait_seconds: Number(opts['wait-seconds']) } },
  { timeout: 60000, resetTimeoutOnProgress: true,
    onprogress: (p) => emit('progress', { count: ++count, message: p.message }) });
  emit('result', { isError: res.isError === true, resultType: res.resultType,
    structuredContent: res.structuredContent, progress_count: count });
  await client.close();
  clearTimeout(hard);
  process.exit(res.isError ? 3 : 0);
} catch (e) {
  emit('error', { where, message: String(e && e.message || e), code: e && e.code });
  process.exit(1);
}
