#!/usr/bin/env node
// sdk_client.mjs - an MCP client built on the official TypeScript SDK
// (@modelcontextprotocol/sdk, pinned in tests/package.json), the way a stock
// agent host talks to Loopgate. For the Python tests: every step is one JSON
// line on stdout; diagnostics (and a stdio bridge's stderr) go to stderr.
//
//   node sdk_client.mjs --url http://127.0.0.1:8080/mcp --wait-seconds 5
//   node sdk_client.mjs --transport stdio --url http://127.0.0.1:8080 \
//        --loopgate build/loopgate --then-check
//
// Steps: connects (Streamable HTTP to --url, or stdio to a spawned
// `<loopgate> mcp --url URL`), lists the tools, calls request_human_input
// with {message, options, session_id, client_id[, wait_seconds]} and an
// onprogress callback, and with --then-check keeps calling
// check_request_status {request_id, wait_seconds} while the result says
// completed=false, as a model following the result's instructions would.
//
// Lines (each has "step" and "t_ms", milliseconds since start):
//   {"step":"connected","transport":"http","session_id":..,"protocol_version":..,"server":{..},"capabilities":{..},"instructions":..}
//   {"step":"tools","names":["request_human_input",...]}
//   {"step":"call","tool":"request_human_input","arguments":{..},"timeout_ms":60000,"reset_timeout_on_progress":false,"progress":true}
//   {"step":"progress","tool":..,"count":1,"progress":1,"total":null,"message":".."}
//   {"step":"result","tool":..,"isError":false,"structuredContent":{..},"text":"..","progress_count":3,"call_ms":..}
//   {"step":"done","request_id":..,"completed":true,"approved":true,"response":"Yes","checks":1,"progress_count":4}
//   {"step":"error","where":"call request_human_input","code":-32001,"message":"MCP error -32001: Request timed out"}
//   {"step":"closed","terminated":true}
//
// Exit status: 0 success (a result without isError; with --then-check, a
// completed one), 1 error (connect, protocol, timeout), 2 usage, 3 the tool
// answered isError: true, 4 --then-check gave up after --max-checks.
//
// Options (environment in brackets):
//   --transport http|stdio       [MCP_TRANSPORT] default http
//   --url URL                    [MCP_URL] the /mcp endpoint (http), or the URL given to the bridge (stdio)
//   --loopgate PATH              [LOOPGATE_BIN] stdio: binary run as `PATH mcp --url URL` (default build/loopgate)
//   --wait-seconds N             [MCP_WAIT_SECONDS] wait_seconds of request_human_input (omitted if unset)
//   --check-wait-seconds N       wait_seconds of check_request_status (default: --wait-seconds, else 50)
//   --message TEXT  --options A,B  --session-id ID  --client-id ID
//   --args JSON                  more arguments merged into request_human_input's
//   --reset-timeout-on-progress  pass resetTimeoutOnProgress: true
//   --default-timeout            use the SDK's default request timeout (60 s)
//   --timeout-ms N               request timeout (default: max(60 s, wait + 30 s))
//   --max-total-timeout-ms N     maxTotalTimeout of each call
//   --no-progress                no onprogress callback, so no progressToken is sent
//   --then-check  --max-checks N (default 10)
//   --list-only                  connect, list tools, close
//   --permission-prompt          call permission_prompt with --args (as Claude Code's
//                                --permission-prompt-tool does) instead of request_human_input
//   --api-key KEY                [LOOPGATE_API_KEY] http: Authorization: Bearer KEY (stdio: left in the bridge's environment)
//   --header 'Name: value'       extra HTTP header (repeatable; http only)
//   --no-terminate               http: do not DELETE the session at the end
//   --overall-timeout S          hard limit for the whole run (default 900)
import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { DEFAULT_REQUEST_TIMEOUT_MSEC } from '@modelcontextprotocol/sdk/shared/protocol.js';

const started = Date.now();
const emit = (step, fields = {}) => {
  process.stdout.write(JSON.stringify({ step, ...fields, t_ms: Date.now() - started }) + '\n');
};
const usage = (msg) => {
  process.stderr.write(`sdk_client: ${msg}\n(see the header of ${fileURLToPath(import.meta.url)})\n`);
  process.exit(2);
};

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      transport: { type: 'string', default: process.env.MCP_TRANSPORT || 'http' },
      url: { type: 'string', default: process.env.MCP_URL },
      loopgate: { type: 'string', default: process.env.LOOPGATE_BIN },
      'wait-seconds': { type: 'string', default: process.env.MCP_WAIT_SECONDS },
      'check-wait-seconds': { type: 'string' },
      message: { type: 'string', default: 'Deploy v2.1.0 to production?' },
      options: { type: 'string', default: 'Yes,No' },
      'session-id': { type: 'string', default: process.env.MCP_SESSION_ID || 'mcp-test' },
      'client-id': { type: 'string', default: process.env.MCP_CLIENT_ID || 'mcp-test' },
      args: { type: 'string' },
      'reset-timeout-on-progress': { type: 'boolean', default: false },
      'default-timeout': { type: 'boolean', default: false },
      'timeout-ms': { type: 'string' },
      'max-total-timeout-ms': { type: 'string' },
      'no-progress': { type: 'boolean', default: false },
      'then-check': { type: 'boolean', default: false },
      'max-checks': { type: 'string', default: '10' },
      'list-only': { type: 'boolean', default: false },
      'permission-prompt': { type: 'boolean', default: false },
      'api-key': { type: 'string', default: process.env.LOOPGATE_API_KEY },
      header: { type: 'string', multiple: true, default: [] },
      'no-terminate': { type: 'boolean', default: false },
      'overall-timeout': { type: 'string', default: '900' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (e) {
  usage(e.message);
}

const num = (name, { min = 0 } = {}) => {
  const v = opts[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) usage(`--${name} wants a number >= ${min}, not '${v}'`);
  return n;
};
if (!['http', 'stdio'].includes(opts.transport)) usage(`--transport is http or stdio, not '${opts.transport}'`);
if (!opts.url) usage('--url (or MCP_URL) is required');
try {
  new URL(opts.url);
} catch {
  usage(`--url '${opts.url}' is not a URL`);
}
if (opts['default-timeout'] && opts['timeout-ms'] !== undefined) usage('--default-timeout and --timeout-ms exclude each other');
const waitSeconds = num('wait-seconds');
const checkWaitSeconds = num('check-wait-seconds') ?? waitSeconds ?? 50;
const maxChecks = num('max-checks', { min: 1 });
const overallSeconds = num('overall-timeout', { min: 1 });
let extraArgs = {};
if (opts.args !== undefined) {
  try {
    extraArgs = JSON.parse(opts.args);
  } catch (e) {
    usage(`--args is not JSON: ${e.message}`);
  }
  if (typeof extraArgs !== 'object' || extraArgs === null || Array.isArray(extraArgs)) usage('--args must be a JSON object');
}
const headers = {};
for (const h of opts.header) {
  const i = h.indexOf(':');
  if (i <= 0) usage(`--header '${h}' is not 'Name: value'`);
  headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
}
if (opts['api-key'] && opts.transport === 'http') headers.Authorization = `Bearer ${opts['api-key']}`;

// The request options of one tool call: the timeout the brief's modes ask for.
function callOptions(wait, tool, counter) {
  const o = {};
  if (opts['default-timeout']) {
    // nothing: the SDK's DEFAULT_REQUEST_TIMEOUT_MSEC (60 s) applies
  } else if (opts['timeout-ms'] !== undefined) {
    o.timeout = num('timeout-ms', { min: 1 });
  } else {
    o.timeout = Math.max(DEFAULT_REQUEST_TIMEOUT_MSEC, ((wait ?? 60) + 30) * 1000);
  }
  if (opts['reset-timeout-on-progress']) o.resetTimeoutOnProgress = true;
  if (opts['max-total-timeout-ms'] !== undefined) o.maxTotalTimeout = num('max-total-timeout-ms', { min: 1 });
  if (!opts['no-progress']) {
    o.onprogress = (p) => {
      counter.count += 1;
      counter.total += 1;
      emit('progress', {
        tool,
        count: counter.count,
        progress: p.progress,
        total: p.total ?? null,
        message: p.message ?? null,
      });
    };
  }
  return o;
}

const textOf = (result) =>
  (result.content || [])
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join('\n');

const errorFields = (e) => ({
  code: typeof e?.code === 'number' ? e.code : null,
  name: e?.name ?? null,
  message: e instanceof Error ? e.message : String(e),
  data: e?.data ?? null,
});

let client;
let transport;
let where = 'connect';
const progress = { count: 0, total: 0 };

async function close() {
  const fields = {};
  if (transport instanceof StreamableHTTPClientTransport && transport.sessionId && !opts['no-terminate']) {
    try {
      await transport.terminateSession();
      fields.terminated = true;
    } catch (e) {
      fields.terminated = false;
      fields.terminate_error = errorFields(e).message;
    }
  }
  try {
    await client?.close();
  } catch (e) {
    fields.close_error = errorFields(e).message;
  }
  emit('closed', fields);
}

async function fail(e, status = 1) {
  emit('error', { where, ...errorFields(e) });
  await Promise.race([close(), new Promise((r) => setTimeout(r, 3000))]);
  process.exit(status);
}

setTimeout(() => {
  emit('error', { where, code: null, name: 'OverallTimeout', message: `no end after ${overallSeconds} s (--overall-timeout)` });
  process.exit(1);
}, overallSeconds * 1000).unref();

async function callTool(tool, args, wait) {
  where = `call ${tool}`;
  progress.count = 0;
  const o = callOptions(wait, tool, progress);
  emit('call', {
    tool,
    arguments: args,
    timeout_ms: o.timeout ?? DEFAULT_REQUEST_TIMEOUT_MSEC,
    reset_timeout_on_progress: !!o.resetTimeoutOnProgress,
    progress: !!o.onprogress,
  });
  const t0 = Date.now();
  const result = await client.callTool({ name: tool, arguments: args }, CallToolResultSchema, o);
  emit('result', {
    tool,
    isError: result.isError === true,
    structuredContent: result.structuredContent ?? null,
    text: textOf(result),
    progress_count: progress.count,
    call_ms: Date.now() - t0,
  });
  return result;
}

async function main() {
  client = new Client({ name: 'loopgate-sdk-test-client', version: '1.0.0' }, { capabilities: {} });
  client.onerror = (e) => process.stderr.write(`sdk_client: transport error: ${errorFields(e).message}\n`);
  if (opts.transport === 'http') {
    transport = new StreamableHTTPClientTransport(new URL(opts.url), { requestInit: { headers } });
  } else {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const bin = opts.loopgate || path.resolve(here, '..', '..', 'build', 'loopgate');
    // The whole environment: the bridge may read its config or key from it.
    transport = new StdioClientTransport({
      command: bin,
      args: ['mcp', '--url', opts.url],
      env: Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined)),
      stderr: 'inherit',
    });
  }
  await client.connect(transport);
  emit('connected', {
    transport: opts.transport,
    session_id: transport.sessionId ?? null,
    protocol_version: transport.protocolVersion ?? null,
    server: client.getServerVersion() ?? null,
    capabilities: client.getServerCapabilities() ?? null,
    instructions: client.getInstructions() ?? null,
  });

  where = 'tools/list';
  const { tools } = await client.listTools();
  emit('tools', { names: tools.map((t) => t.name) });
  if (opts['list-only']) return 0;
  if (opts['permission-prompt']) {
    // Claude Code's --permission-prompt-tool: the --args object is the whole input.
    const r = await callTool('permission_prompt', extraArgs, waitSeconds);
    return r.isError ? 3 : 0;
  }

  const args = {
    message: opts.message,
    options: opts.options.split(',').map((s) => s.trim()).filter(Boolean),
    session_id: opts['session-id'],
    client_id: opts['client-id'],
    ...(waitSeconds !== undefined ? { wait_seconds: waitSeconds } : {}),
    ...extraArgs,
  };
  let result = await callTool('request_human_input', args, waitSeconds);
  if (result.isError) return 3;
  let sc = result.structuredContent || {};
  let checks = 0;
  if (opts['then-check']) {
    while (sc.completed === false) {
      if (!sc.request_id) {
        where = 'then-check';
        throw new Error('a pending result without structuredContent.request_id');
      }
      if (checks >= maxChecks) {
        emit('done', { ...summary(sc), checks, gave_up: true });
        return 4;
      }
      checks += 1;
      result = await callTool('check_request_status', { request_id: sc.request_id, wait_seconds: checkWaitSeconds }, checkWaitSeconds);
      if (result.isError) return 3;
      sc = result.structuredContent || {};
    }
  }
  emit('done', { ...summary(sc), checks });
  return 0;
}

function summary(sc) {
  return {
    request_id: sc.request_id ?? null,
    status: sc.status ?? null,
    completed: sc.completed ?? null,
    approved: sc.approved ?? null,
    response: sc.response ?? null,
    progress_count: progress.total,
  };
}

let status;
try {
  status = await main();
} catch (e) {
  await fail(e);
}
where = 'close';
await close();
process.exit(status);
