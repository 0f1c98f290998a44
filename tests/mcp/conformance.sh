#!/usr/bin/env bash
# conformance.sh - the official MCP conformance suite against a live /mcp.
#
#   tests/mcp/conformance.sh http://127.0.0.1:8080/mcp
#
# Runs `conformance server --url URL` of @modelcontextprotocol/conformance
# (pinned in tests/package.json) under the Node 22 that tests/node_modules
# holds (npm package node@22; `cd tests && npm ci` installs both). The
# scenarios listed in tests/mcp/expected-failures.yml (one `- name  # reason`
# a line) need the suite's fixture tools, resources or prompts and do not
# apply to Loopgate; every other scenario is applicable. An entry whose
# reason starts `[unless CAP]` applies after all when the server declares
# CAP: one initialize through sdk_client.mjs reads the capabilities first.
# The entries that do not apply are handed to the suite as its own
# --expected-failures baseline, so its report agrees.
#
# The suite sends no API key: run it against a stack with auth = off (the
# local stack's default). Its dns-rebinding scenario POSTs with
# Host/Origin evil.example.com (must get a 4xx) and with the URL's own
# host:port as Host and as Origin http://HOST:PORT (must get a 2xx).
#
# Prints the suite's output, one `ok` / `not ok` / `n/a` line per scenario,
# then the suite's `Total: N passed, N failed` line (checks of every scenario
# run, fixture ones included) and last `conformance: N passed, N failed`:
# the checks of the applicable scenarios only. A WARNING check fails an
# applicable scenario, as it does in the suite's own baseline check; so does a
# scenario that ran no check, or a suite that did not finish. Exits 0 only
# when every applicable scenario passed.
#
# Only talks to URL, which must be http:// on the loopback (127.0.0.0/8,
# localhost, [::1]; the dns-rebinding scenario wants localhost, 127.0.0.1 or
# [::1]). Proxy variables are dropped. Bounded by CONFORMANCE_TIMEOUT.
#
# The same script runs a second version of the suite at a later protocol
# revision (test_17: conformance-next, 0.2.0-alpha.12, at 2026-07-28, with
# tests/mcp/expected-failures-2026-07-28.yml). There an entry may also read
# `- name  # [checks ID,ID] reason`: only those checks of the scenario do not
# apply (they need the suite's fixture tools); its other checks must pass.
#
# Environment:
#   CONFORMANCE_TIMEOUT            seconds for each run of the suite (300)
#   CONFORMANCE_SUITE              active (default; the suite's default) or all; or a
#                                  space-separated list of active, all, draft, pending and
#                                  extensions (every [extension] scenario, run one by one)
#   CONFORMANCE_PACKAGE            the suite under tests/node_modules
#                                  (@modelcontextprotocol/conformance)
#   CONFORMANCE_SPEC_VERSION       --spec-version for the suite (none: the suite's default)
#   CONFORMANCE_EXPECTED_FAILURES  baseline file (tests/mcp/expected-failures.yml)
#   CONFORMANCE_RESULTS            keep the suite's checks.json files here
#   CONFORMANCE_NODE               Node >= 22 binary (tests/node_modules/node/bin/node)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TESTS=$(cd "$HERE/.." && pwd)
NODE=${CONFORMANCE_NODE:-$TESTS/node_modules/node/bin/node}
PACKAGE=${CONFORMANCE_PACKAGE:-@modelcontextprotocol/conformance}
SUITE_JS=$TESTS/node_modules/$PACKAGE/dist/index.js
SPEC=${CONFORMANCE_SPEC_VERSION:-}
BASELINE=${CONFORMANCE_EXPECTED_FAILURES:-$HERE/expected-failures.yml}
LIMIT=${CONFORMANCE_TIMEOUT:-300}
SUITE=${CONFORMANCE_SUITE:-active}

# A set-up error is one failed check, so a caller that reads the last
# `N passed, N failed` line counts it.
die() {
    echo "conformance: $*" >&2
    echo "conformance: 0 passed, 1 failed"
    exit 2
}

[[ $# -eq 1 ]] || die "usage: $0 http://127.0.0.1:PORT/mcp"
URL=$1
loopback='^http://(127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}|localhost|\[::1\])(:[0-9]{1,5})?(/[^[:space:]]*)?$'
[[ $URL =~ $loopback ]] ||
    die "refusing '$URL': only http:// URLs on the loopback (127.0.0.0/8, localhost, [::1])"
[[ $LIMIT =~ ^[1-9][0-9]*$ ]] || die "CONFORMANCE_TIMEOUT must be a number of seconds"
[[ $PACKAGE =~ ^(@[a-z0-9-]+/)?[a-z0-9-]+$ ]] || die "CONFORMANCE_PACKAGE: not a package name"
for su in $SUITE; do
    [[ $su =~ ^(active|all|draft|pending|extensions)$ ]] ||
        die "CONFORMANCE_SUITE: '$su' is none of active, all, draft, pending, extensions"
done
[[ -z $SPEC || $SPEC =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] || die "CONFORMANCE_SPEC_VERSION must be a date"
[[ -f $SUITE_JS ]] || die "conformance suite missing: $SUITE_JS (run: cd tests && npm ci)"
[[ -x $NODE ]] || die "Node 22 missing: $NODE (run: cd tests && npm ci)"
node_major=$("$NODE" -p 'process.versions.node.split(".")[0]' 2>/dev/null) ||
    die "$NODE does not run"
[[ $node_major -ge 22 ]] || die "$NODE is Node $node_major; the suite needs Node 22"
[[ -f $BASELINE ]] || die "no expected-failures file: $BASELINE"
command -v timeout >/dev/null || die "timeout (coreutils) missing"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/loopgate-conformance.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$WORK"' EXIT
CHECKS=${CONFORMANCE_RESULTS:-$WORK/checks}
mkdir -p "$CHECKS" || die "cannot create $CHECKS"

# No proxy may carry the suite's requests anywhere but URL.
NODE_ENV=(env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY
    -u all_proxy -u NODE_OPTIONS -u NODE_USE_ENV_PROXY NO_PROXY='*' no_proxy='*' "$NODE")
run_node() { "${NODE_ENV[@]}" "$@"; }

# The capabilities the server declares, for `[unless CAP]` entries: one
# initialize through sdk_client.mjs (the official SDK client). Empty if the
# server does not answer, which leaves those entries not applicable; every
# scenario fails then anyway.
caps=$(timeout --kill-after=5 40 "${NODE_ENV[@]}" "$HERE/sdk_client.mjs" --url "$URL" --list-only \
    --overall-timeout 30 2>/dev/null </dev/null |
    "${NODE_ENV[@]}" -e '
let s = "";
process.stdin.on("data", (d) => (s += d)).on("end", () => {
  for (const l of s.split("\n")) {
    try {
      const j = JSON.parse(l);
      if (j.step === "connected") console.log(Object.keys(j.capabilities || {}).join(" "));
    } catch {}
  }
});')
echo "conformance: the server declares: ${caps:-nothing (no answer)}"

# The baseline: `- name  # reason`, each entry with a reason, each name one
# the suite knows (a typo would silently make a scenario "applicable").
listing=$(run_node "$SUITE_JS" list --server 2>&1)
known=$(sed -nE 's/^  - ([^ ]+).*/\1/p' <<<"$listing")
extensions=$(sed -nE 's/^  - ([^ ]+) \[extension\].*/\1/p' <<<"$listing")
[[ -n $known ]] || die "could not list the suite's server scenarios"
entry_re='^[[:space:]]*-[[:space:]]*([A-Za-z0-9/_.-]+)[[:space:]]*#[[:space:]]*(.*[^[:space:]])[[:space:]]*$'
: >"$WORK/na.tsv"
: >"$WORK/partial.tsv"
while IFS= read -r line; do
    [[ $line =~ ^[[:space:]]*- ]] || continue
    [[ $line =~ $entry_re ]] || die "$BASELINE: entry without a '# reason': $line"
    name=${BASH_REMATCH[1]} reason=${BASH_REMATCH[2]}
    grep -qxF -- "$name" <<<"$known" || die "$BASELINE: unknown scenario '$name'"
    if [[ $reason =~ ^\[checks\ ([A-Za-z0-9_,.-]+)\][[:space:]]*(.*)$ ]]; then
        printf '%s\t%s\t%s\n' "$name" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" >>"$WORK/partial.tsv"
        continue
    fi
    if [[ $reason =~ ^\[unless\ ([A-Za-z]+)\][[:space:]]*(.*)$ ]]; then
        if [[ " $caps " == *" ${BASH_REMATCH[1]} "* ]]; then
            echo "conformance: $name applies: the server declares ${BASH_REMATCH[1]}"
            continue
        fi
        reason="the server declares no ${BASH_REMATCH[1]} capability: ${BASH_REMATCH[2]}"
    fi
    printf '%s\t%s\n' "$name" "$reason" >>"$WORK/na.tsv"
done <"$BASELINE"
# The suite's own --expected-failures file: exactly the entries that do not
# apply, so its baseline report agrees with the verdict below.
if [[ -s $WORK/na.tsv ]]; then
    { echo "server:"; cut -f1 "$WORK/na.tsv" | sed 's/^/  - /'; } >"$WORK/baseline.yml"
else
    echo "server: []" >"$WORK/baseline.yml"
fi

version=$(sed -nE 's/^  "version": "([^"]+)".*/\1/p' "${SUITE_JS%/dist/index.js}/package.json")
echo "conformance: suite ${version:-?} (node $("$NODE" --version), $SUITE scenarios${SPEC:+ at $SPEC}) against $URL, ${LIMIT}s limit"
spec_args=()
[[ -n $SPEC ]] && spec_args=(--spec-version "$SPEC")
# One run of the suite, its arguments after `server --url URL`; sets rc.
run_suite() {
    timeout --kill-after=10 "$LIMIT" "${NODE_ENV[@]}" "$SUITE_JS" server --url "$URL" "$@" \
        --expected-failures "$WORK/baseline.yml" -o "$CHECKS" </dev/null 2>&1 |
        tee -a "$WORK/out" | sed -u -e 's/\x1b\[[0-9;]*m//g' -e '/^Results saved to /d'
    rc=${PIPESTATUS[0]}
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then
        echo "conformance: the suite did not finish within ${LIMIT}s" >&2
    fi
}
: >"$WORK/out"
rc=0
suites_run=0
for su in $SUITE; do
    if [[ $su == extensions ]]; then
        # Extension scenarios are on no spec timeline: each runs by name.
        # A run of one scenario prints no scenario header and no Total line.
        for sc in $extensions; do
            echo "=== Running scenario: $sc ===" >>"$WORK/out"
            run_suite --scenario "$sc"
            [[ $rc -eq 124 || $rc -eq 137 ]] && break 2
        done
    else
        suites_run=$((suites_run + 1))
        run_suite --suite "$su" "${spec_args[@]}"
        [[ $rc -eq 124 || $rc -eq 137 ]] && break
    fi
done

# The verdict, from the suite's checks.json files (one directory per
# scenario run: server-<scenario>-<ISO time>) and its summary lines.
# shellcheck disable=SC2016 # JavaScript, not shell, in single quotes
run_node --input-type=module -e '
import fs from "node:fs";
import path from "node:path";
const [outFile, checksDir, naFile, rcText, partialFile, suitesRun] = process.argv.slice(1);
const out = fs.readFileSync(outFile, "utf8").replace(/\x1b\[[0-9;]*m/g, "");
const na = new Map(fs.readFileSync(naFile, "utf8").split("\n").filter(Boolean).map((l) => l.split("\t")));
const partial = new Map(fs.readFileSync(partialFile, "utf8").split("\n").filter(Boolean)
  .map((l) => l.split("\t")).map(([n, ids, why]) => [n, { ids: new Set(ids.split(",")), why }]));
const ran = [...new Set([...out.matchAll(/^=== Running scenario: (\S+) ===$/gm)].map((m) => m[1]))];
const totals = [...out.matchAll(/^Total: (\d+) passed, (\d+) failed$/gm)];
const total = totals.length === 0 ? undefined : totals.length === 1 ? totals[0][0] :
  `Total: ${totals.reduce((a, m) => a + +m[1], 0)} passed, ${totals.reduce((a, m) => a + +m[2], 0)} failed`;
const dirs = fs.readdirSync(checksDir);
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
let passed = 0, failed = 0;
const line = (s) => console.log(s);
line("");
line("=== Loopgate verdict ===");
for (const name of ran) {
  const re = new RegExp("^server-" + esc(name) + "-\\d{4}-\\d\\d-\\d\\dT");
  const dir = dirs.find((d) => re.test(d));
  let checks = [];
  if (dir) {
    try { checks = JSON.parse(fs.readFileSync(path.join(checksDir, dir, "checks.json"), "utf8")); }
    catch { checks = []; }
  }
  const p = partial.get(name);
  const skipped = p ? checks.filter((c) => p.ids.has(c.id)) : [];
  if (skipped.length > 0) {
    if (skipped.every((c) => c.status === "SUCCESS"))
      line(`n/a - ${name}: ${[...p.ids].join(", ")} passed although listed as not applicable; check that entry`);
    checks = checks.filter((c) => !p.ids.has(c.id));
    line(`n/a - ${name}: ${skipped.length} of its checks (${[...p.ids].join(", ")}): ${p.why}`);
  }
  const ok = checks.filter((c) => c.status === "SUCCESS");
  const bad = checks.filter((c) => c.status === "FAILURE" || c.status === "WARNING");
  const why = bad.map((c) => `${c.status === "WARNING" ? "warning " : ""}${c.name}: ${(c.errorMessage || c.description || "").replace(/\s+/g, " ").slice(0, 300)}`);
  if (na.has(name)) {
    if (bad.length === 0 && ok.length > 0)
      line(`n/a - ${name} passed although listed as not applicable (${na.get(name)}); check that entry`);
    else
      line(`n/a - ${name}: ${na.get(name)}`);
    continue;
  }
  passed += ok.length;
  if (checks.length === 0) {
    failed += 1;
    line(`not ok - ${name}: no result (the scenario did not finish)`);
  } else if (bad.length > 0 || ok.length === 0) {
    failed += Math.max(bad.length, 1);
    line(`not ok - ${name}: ${why.join("; ") || "no check passed"}`);
  } else {
    line(`ok - ${name} (${ok.length} check${ok.length === 1 ? "" : "s"})`);
  }
}
if (totals.length < +suitesRun) {
  failed += 1;
  line(`not ok - the suite did not finish (exit ${rcText}); scenarios after the last one shown did not run`);
}
if (ran.length === 0) {
  failed += 1;
  line("not ok - no scenario ran");
}
line("");
line(total || "Total: none (the suite printed no summary)");
line(`conformance: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
' "$WORK/out" "$CHECKS" "$WORK/na.tsv" "$rc" "$WORK/partial.tsv" "$suites_run"
