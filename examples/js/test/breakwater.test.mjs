// The JavaScript guide's checks, on Node's built-in runner: `npm test` (transpiles first) or
// `node --test test/` once `generated/` exists. Time is a virtual clock: every test passes
// `now` by hand, so none sleeps and none is flaky.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Bulkhead, CircuitBreaker, ConfigError, Engine, MS, Outcome, request } from '../breakwater.mjs';
import { main } from '../example.mjs';

const POLICY = 'inventory';
const config = () => ({
  service: 'shop',
  environment: 'testing',
  policies: [{
    name: POLICY,
    match: { path_prefix: '/inventory' },
    breaker: { failure_threshold: 3, recovery_timeout_ms: 200, recovery_jitter: 0.0,
               half_open_max_calls: 1, half_open_success_threshold: 1 },
    bulkhead: { max_concurrent: 2, queue_size: 1, queue_timeout_ms: 100 },
  }],
});
const GET = request({ method: 'GET', path: '/inventory/42' });

function fail(engine, now) {
  const d = engine.onRequest(now, GET);
  assert.equal(d.tag, 'proceed');
  engine.onResponse(now + MS, d.val.ticket, Outcome.response(503));
}

describe('configuration errors', () => {
  it('a bad engine configuration throws a ConfigError with every path', () => {
    const bad = config();
    bad.policies[0].breaker.failure_rate_threshold = 1.5;
    bad.policies[0].bulkhead.max_concurrent = 0;
    const e = captured(() => new Engine(bad));
    assert.deepEqual(e.problems.map((p) => p.path), [
      'policies[0].breaker.failure_rate_threshold',
      'policies[0].bulkhead.max_concurrent',
    ]);
    assert.match(e.message, /must be in \(0, 1\], got 1\.5/);
  });

  it('invalid JSON and bad sections throw', () => {
    assert.match(captured(() => new Engine('{not json')).problems[0].reason, /invalid JSON/);
    assert.equal(captured(() => new CircuitBreaker('{"failure_treshold": 2}')).problems[0].path,
      'failure_treshold');
    assert.equal(captured(() => new Bulkhead({ max_concurrent: 0 })).problems[0].path,
      'max_concurrent');
  });

  it('a negative or fractional time is refused before it reaches the component', () => {
    const engine = new Engine(config());
    assert.throws(() => engine.onRequest(-1n, GET), RangeError);
    assert.throws(() => engine.onRequest(1.5, GET), RangeError);
    assert.equal(engine.onRequest(5, GET).tag, 'proceed'); // a safe integer is fine
  });
});

describe('engine breaker', () => {
  it('opens after three failures, rejects, then recovers', () => {
    const engine = new Engine(config(), 0n, 1n);
    for (let i = 0n; i < 3n; i++) fail(engine, i * 10n * MS);
    const rejected = engine.onRequest(30n * MS, GET);
    assert.equal(rejected.tag, 'reject');
    assert.equal(rejected.val.reason, 'circuit-open');
    assert.equal(rejected.val.status, 503);
    assert.equal(rejected.val.retryAfter, 1n);
    assert.deepEqual(rejected.val.headers.find((h) => h.name === 'x-breakwater'),
      { name: 'x-breakwater', value: 'circuit_open' });
    assert.equal(JSON.parse(new TextDecoder().decode(rejected.val.body)).policy, POLICY);
    const status = engine.status(30n * MS);
    assert.equal(status.healthy, false);
    assert.equal(status.policies[0].state, 'open');
    assert.equal(status.policies[0].rejectedOpen, 1n);

    // Still open 1 ns before the open time ends (opened at the third answer, 21 ms).
    assert.equal(engine.onRequest(221n * MS - 1n, GET).tag, 'reject');
    const probe = engine.onRequest(221n * MS, GET);
    assert.equal(probe.tag, 'proceed');
    assert.equal(engine.onRequest(222n * MS, GET).tag, 'reject'); // the only probe is leased
    engine.onResponse(223n * MS, probe.val.ticket, Outcome.response(200));
    assert.equal(engine.onRequest(224n * MS, GET).tag, 'proceed');
    assert.equal(engine.status(224n * MS).healthy, true);

    assert.deepEqual(engine.pollEvents().map((t) => [t.from, t.to, t.reason]), [
      ['closed', 'open', 'consecutive_failures'],
      ['open', 'half-open', 'recovery_elapsed'],
      ['half-open', 'closed', 'probes_succeeded'],
    ]);
  });

  it('a request no policy matches passes', () => {
    const engine = new Engine(config());
    assert.deepEqual(engine.onRequest(0n, request({ path: '/health' })), { tag: 'pass' });
    assert.equal(engine.needs.path, true);
  });

  it('an unseeded engine draws from wasi:random through preview2-shim', () => {
    assert.equal(new Engine(config()).onRequest(0n, GET).tag, 'proceed');
  });
});

describe('standalone breaker', () => {
  it('rejects while open, admits one probe and closes', () => {
    const breaker = new CircuitBreaker({ failure_threshold: 2, recovery_timeout_ms: 500,
      half_open_max_calls: 1, half_open_success_threshold: 1 }, 3n);
    assert.deepEqual(breaker.acquire(0n), { tag: 'admit' });
    breaker.recordOutcome(0n, true);
    breaker.recordOutcome(MS, true);
    assert.equal(breaker.state(MS), 'open');
    assert.deepEqual(breaker.acquire(MS), { tag: 'reject', val: 500n * MS });
    assert.equal(breaker.rejectsFor(101n * MS), 400n * MS);
    const probe = breaker.acquire(501n * MS);
    assert.equal(probe.tag, 'probe');
    assert.equal(breaker.acquire(502n * MS).tag, 'reject');
    breaker.probeResult(503n * MS, probe.val, false);
    assert.equal(breaker.state(503n * MS), 'closed');
    assert.deepEqual(breaker.stats(),
      { calls: 3n, successes: 1n, failures: 2n, slow: 0n, transitions: 3n });
  });
});

describe('bulkhead cap', () => {
  it('the engine caps, queues, resumes and times out', () => {
    const engine = new Engine(config(), 0n, 1n);
    const first = engine.onRequest(0n, GET);
    assert.equal(first.tag, 'proceed');
    assert.equal(engine.onRequest(0n, GET).tag, 'proceed');
    const queued = engine.onRequest(MS, GET);
    assert.equal(queued.tag, 'queue');
    assert.equal(queued.val.until, 101n * MS);
    const full = engine.onRequest(2n * MS, GET);
    assert.deepEqual([full.tag, full.val.reason, full.val.status], ['reject', 'bulkhead-full', 429]);
    assert.equal(engine.status(2n * MS).policies[0].inflight, 2);

    assert.equal(engine.onResponse(5n * MS, first.val.ticket, Outcome.response(200)), 1);
    const [resumed] = engine.pollActions();
    assert.deepEqual([resumed.tag, resumed.val.ticket], ['resume', queued.val.ticket]);
    assert.deepEqual(engine.headers(resumed.val), []);

    const late = engine.onRequest(6n * MS, GET);
    assert.equal(late.tag, 'queue');
    assert.ok(engine.pollTimeout() <= late.val.until);
    engine.handleTimeout(late.val.until);
    const [reply] = engine.pollActions();
    assert.deepEqual([reply.tag, reply.val.ticket, reply.val.reply.reason, reply.val.reply.status],
      ['reply', late.val.ticket, 'queue-timeout', 429]);
  });

  it('a standalone bulkhead grants, queues and refuses', () => {
    const bulkhead = new Bulkhead({ max_concurrent: 1, queue_size: 1, queue_timeout_ms: 100 });
    assert.deepEqual(bulkhead.acquire(0n), { tag: 'granted' });
    const waiting = bulkhead.acquire(0n);
    assert.equal(waiting.tag, 'queued');
    assert.equal(waiting.val[1], 100n * MS);
    assert.deepEqual(bulkhead.acquire(0n), { tag: 'full' });
    assert.deepEqual(bulkhead.counts(), { inflight: 1, queued: 1 });
    assert.deepEqual(bulkhead.release(), [waiting.val[0]]);
  });
});

describe('the example', () => {
  it('opens, answers locally while open and recovers against a real local server', async () => {
    const report = await main({ quiet: true });
    assert.deepEqual(report.upstreamStatuses.slice(0, 5), [200, 200, 503, 503, 503]);
    assert.equal(report.rejectedWhileOpen, 1);
    assert.equal(report.upstreamHitsWhileOpen, 0);
    assert.equal(report.recoveredStatus, 200);
    assert.deepEqual(report.transitions.map((t) => [t.from, t.to]),
      [['closed', 'open'], ['open', 'half-open'], ['half-open', 'closed']]);
  });
});

function captured(fn) {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    return e;
  }
  assert.fail('expected a ConfigError');
}
