// swverify.js - verify webhooks with the npm package `standardwebhooks`, as
// an agent developer would. Reads one JSON case per line on stdin,
// {"secret": "whsec_...", "headers": {...}, "body_b64": "..."}, and writes
// one line per case: {"ok": true, "payload": ...} or {"ok": false, "error": "..."}.
"use strict";
const { Webhook } = require("standardwebhooks");
const readline = require("readline");

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const c = JSON.parse(line);
  let out;
  try {
    const wh = new Webhook(c.secret);
    out = { ok: true, payload: wh.verify(Buffer.from(c.body_b64, "base64").toString("utf8"), c.headers) };
  } catch (e) {
    out = { ok: false, error: String(e.message || e) };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
});
