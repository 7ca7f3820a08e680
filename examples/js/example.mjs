// breakwater guarding real HTTP calls from Node: `npm run example` (BREAKWATER_COMPONENT set).
//
// It starts a tiny upstream on 127.0.0.1 that answers 503 while told to fail, and calls it with
// `fetch` through `guardedGet`, which asks the engine first, sends only what the engine lets
// through, and reports every answer back. The clock is real (`process.hrtime.bigint()`): three
// failures open the breaker, the next call is answered locally without touching the upstream,
// and once the 200 ms open time has passed a probe goes through and closes it again.

import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { Engine, Outcome, request } from './breakwater.mjs';

const CONFIG = {
  service: 'shop',
  environment: 'testing',
  policies: [{
    name: 'inventory',
    match: { path_prefix: '/inventory' },
    breaker: { failure_threshold: 3, recovery_timeout_ms: 200, recovery_jitter: 0.0,
               half_open_max_calls: 1, half_open_success_threshold: 1 },
  }],
};

/** The engine's clock: nanoseconds from Node's monotonic clock. */
const now = () => process.hrtime.bigint();

/** A local HTTP server that answers 503 while `failing` is set, 200 otherwise. */
async function startUpstream() {
  const upstream = { failing: false, hits: 0 };
  const server = createServer((req, res) => {
    upstream.hits += 1;
    res.writeHead(upstream.failing ? 503 : 200, { 'content-length': '0' });
    res.end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.url = `http://127.0.0.1:${server.address().port}`;
  upstream.stop = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(resolve);
  });
  return upstream;
}

/** GET `url + path` through the engine; resolves to the status the caller gets. */
export async function guardedGet(engine, url, path) {
  const decision = engine.onRequest(now(), request({ method: 'GET', path }));
  if (decision.tag === 'reject') return decision.val.status; // answered locally
  if (decision.tag === 'delay' || decision.tag === 'queue') {
    throw new Error("this example's policy has no bulkhead or injected delay");
  }
  const headers = decision.tag === 'proceed'
    ? Object.fromEntries(engine.headers(decision.val).map((h) => [h.name, h.value]))
    : {};
  let status;
  let outcome;
  try {
    const answer = await fetch(url + path, { headers, signal: AbortSignal.timeout(2000) });
    await answer.arrayBuffer();
    status = answer.status;
    outcome = Outcome.response(status);
  } catch (e) {
    status = 502;
    outcome = e.name === 'TimeoutError' ? Outcome.timeout() : Outcome.connectFailure();
  }
  if (decision.tag === 'proceed') engine.onResponse(now(), decision.val.ticket, outcome);
  return status;
}

/** Runs the scenario and resolves to what happened (the test reads it). */
export async function main({ quiet = false } = {}) {
  const say = quiet ? () => {} : console.log;
  const upstream = await startUpstream();
  const report = { upstreamStatuses: [], rejectedWhileOpen: 0, upstreamHitsWhileOpen: 0,
                   recoveredStatus: 0, transitions: [] };
  try {
    const engine = new Engine(CONFIG, now());
    const path = '/inventory/1';
    for (let i = 0; i < 2; i++) report.upstreamStatuses.push(await guardedGet(engine, upstream.url, path));
    upstream.failing = true;
    for (let i = 0; i < 3; i++) report.upstreamStatuses.push(await guardedGet(engine, upstream.url, path));
    say('upstream answered', report.upstreamStatuses);

    let hits = upstream.hits;
    const status = await guardedGet(engine, upstream.url, path);
    report.rejectedWhileOpen = Number(status === 503 && upstream.hits === hits);
    report.upstreamHitsWhileOpen = upstream.hits - hits;
    say('while open: answered', status, 'locally; upstream calls:', report.upstreamHitsWhileOpen);

    upstream.failing = false;
    const deadline = Date.now() + 5000; // bounded: the open time is 200 ms
    while (Date.now() < deadline) {
      hits = upstream.hits;
      const answer = await guardedGet(engine, upstream.url, path);
      if (upstream.hits > hits) {
        report.recoveredStatus = answer;
        break;
      }
      await sleep(20);
    }
    say('recovered: the probe got', report.recoveredStatus);
    report.transitions = engine.pollEvents();
    for (const t of report.transitions) say(`transition ${t.policy}: ${t.from} -> ${t.to} (${t.reason})`);
    say('status:', engine.statusJson(now()));
  } finally {
    await upstream.stop();
  }
  return report;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
