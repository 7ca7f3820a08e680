// breakwater from JavaScript: a thin wrapper over the component as jco transpiles it.
//
// jco already maps the WIT to JavaScript: resources are classes, records are objects with
// camelCase fields, variants are `{ tag, val }`, enums are their kebab-case names, u64 is a
// BigInt. What it leaves to the caller, and this module does:
//
// - a rejected configuration comes out of jco as a `ComponentError` whose `payload` is the WIT
//   record `{ problems }`; here it is a `ConfigError`, with `problems`: every JSON path and
//   reason, and a message that lists them;
// - a `u64` argument accepts a negative BigInt or a Number without complaint and wraps it
//   silently; here `now` and `seed` are checked (a BigInt or a safe integer, in [0, 2^64));
// - a request's method is a `{ tag: 'get' }` variant; `request({ method: 'GET', path })`
//   builds it from the method's text;
// - the engine's `header-sets` are fetched once, as the WIT asks (`engine.headers(proceed)`),
//   and `pollActions()` / `pollEvents()` drain their queues.
//
// Time is yours: every call that needs it takes `now` in nanoseconds since an epoch you choose
// (`process.hrtime.bigint()` in a real program, a counter in a test).

import {
  bulkhead as witBulkhead,
  circuitBreaker as witBreaker,
  engine as witEngine,
} from './generated/breakwater.js';

/** One millisecond in nanoseconds. */
export const MS = 1_000_000n;

const U64_END = 1n << 64n;
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

/** A configuration the component refused: `problems` lists `{ path, reason }` for each. */
export class ConfigError extends Error {
  constructor(problems) {
    super(problems.map((p) => `${p.path || '<document>'}: ${p.reason}`).join('; '));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

function u64(value, what) {
  const big = typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : value;
  if (typeof big !== 'bigint' || big < 0n || big >= U64_END) {
    throw new RangeError(`${what} must be a BigInt or safe integer in [0, 2^64), got ${value}`);
  }
  return big;
}

function configText(config) {
  if (typeof config === 'string') return config;
  if (config && typeof config === 'object') return JSON.stringify(config);
  throw new TypeError(`config must be JSON text or an object, got ${typeof config}`);
}

function construct(make) {
  try {
    return make();
  } catch (e) {
    // jco throws the WIT error as a ComponentError's `payload` (or bare, without wrapping).
    const error = e?.payload ?? e;
    if (Array.isArray(error?.problems)) throw new ConfigError(error.problems);
    throw e;
  }
}

function drain(poll) {
  const items = [];
  for (let item = poll(); item !== undefined; item = poll()) items.push(item);
  return items;
}

/**
 * A WIT `request` from plain fields: `method` is the method's text (`'GET'`, or any other
 * method exactly as sent), headers are `{ name, value }` with lowercase names.
 */
export function request({ method = 'GET', path = '/', cluster, route, headers = [] } = {}) {
  if (typeof method !== 'string' || method === '') {
    throw new TypeError(`method must be a non-empty string, got ${method}`);
  }
  const wit = METHODS.includes(method) ? { tag: method.toLowerCase() } : { tag: 'other', val: method };
  return { method: wit, path, cluster, route, headers };
}

/** Outcomes to report: `Outcome.response(503)`, `Outcome.reset()`, ... */
export const Outcome = Object.freeze({
  response: (httpStatus, grpcStatus) => ({ kind: 'response', httpStatus, grpcStatus }),
  reset: () => ({ kind: 'reset' }),
  connectFailure: () => ({ kind: 'connect-failure' }),
  timeout: () => ({ kind: 'timeout' }),
});

/**
 * The whole engine of one worker, configured by the Envoy filter's JSON document. Decisions
 * are `{ tag: 'pass' | 'proceed' | 'delay' | 'queue' | 'reject', val }` (wit/engine.wit).
 * Throws `ConfigError` for a bad configuration.
 */
export class Engine {
  #engine;

  constructor(config, now = 0n, seed = undefined) {
    const s = seed === undefined ? undefined : u64(seed, 'seed');
    this.#engine = construct(() => new witEngine.Engine(configText(config), u64(now, 'now'), s));
    /** Every header list a `proceed` can name, fetched once. */
    this.headerSets = this.#engine.headerSets();
    /** What of a request the configuration can look at: pass only that. */
    this.needs = this.#engine.requestNeeds();
  }

  /** The headers to add toward the upstream for a `proceed` (or `resume`) value. */
  headers(proceed) {
    return this.headerSets[proceed.headers] ?? [];
  }

  /** Decides what happens to a new request (build it with `request(...)`). */
  onRequest(now, req) {
    return this.#engine.onRequest(u64(now, 'now'), req);
  }

  /** Reports a proceeding request's outcome; returns how many actions now wait. */
  onResponse(now, ticket, outcome, attempts = 1) {
    return this.#engine.onResponse(u64(now, 'now'), ticket, outcome, attempts);
  }

  /** Ends a request without an outcome; returns how many actions now wait. */
  cancel(now, ticket) {
    return this.#engine.cancel(u64(now, 'now'), ticket);
  }

  /** When `handleTimeout` should next be called (read it after each `handleTimeout`). */
  pollTimeout() {
    return this.#engine.pollTimeout();
  }

  /** Does what is due at `now` (syncs, ended delays, queue deadlines). */
  handleTimeout(now) {
    this.#engine.handleTimeout(u64(now, 'now'));
  }

  /** Every waiting action for held requests (`resume` or `reply`), oldest first. */
  pollActions() {
    return drain(() => this.#engine.pollAction());
  }

  /** Every waiting breaker transition (`{ policy, from, to, at, reason }`), oldest first. */
  pollEvents() {
    return drain(() => this.#engine.pollEvent());
  }

  /** Every policy's status at `now`. */
  status(now) {
    return this.#engine.status(u64(now, 'now'));
  }

  /** The status document as JSON text. */
  statusJson(now) {
    return this.#engine.statusJson(u64(now, 'now'));
  }

  /** Requests currently tracked (proceeding, held or queued). */
  tracked() {
    return this.#engine.tracked();
  }
}

/**
 * A standalone circuit breaker from a policy's `breaker` section (`{}` for the defaults).
 * `acquire(now)` is `{ tag: 'admit' } | { tag: 'probe', val: id } | { tag: 'reject', val: ns }`.
 */
export class CircuitBreaker {
  #breaker;

  constructor(config = {}, seed = undefined) {
    const s = seed === undefined ? undefined : u64(seed, 'seed');
    this.#breaker = construct(() => new witBreaker.CircuitBreaker(configText(config), s));
  }

  /** Asks to admit one call at `now`. */
  acquire(now) {
    return this.#breaker.acquire(u64(now, 'now'));
  }

  /** Records the outcome of an admitted (non-probe) call. */
  recordOutcome(now, failed, slow = false) {
    this.#breaker.recordOutcome(u64(now, 'now'), failed, slow);
  }

  /** Reports how a probe ended. */
  probeResult(now, probe, failed) {
    this.#breaker.probeResult(u64(now, 'now'), probe, failed);
  }

  /** Gives a probe's lease back without an outcome. */
  probeRelease(now, probe) {
    this.#breaker.probeRelease(u64(now, 'now'), probe);
  }

  /** `'closed' | 'open' | 'half-open'` at `now`. */
  state(now) {
    return this.#breaker.state(u64(now, 'now'));
  }

  /** How long a call would wait at `now`; `undefined` when it would be admitted. */
  rejectsFor(now) {
    return this.#breaker.rejectsFor(u64(now, 'now'));
  }

  /** Counters since the breaker was created. */
  stats() {
    return this.#breaker.stats();
  }
}

/**
 * A standalone bulkhead from a policy's `bulkhead` section. `acquire(now)` is
 * `{ tag: 'granted' } | { tag: 'queued', val: [waiter, deadline] } | { tag: 'full' }`.
 */
export class Bulkhead {
  #bulkhead;

  constructor(config = {}) {
    this.#bulkhead = construct(() => new witBulkhead.Bulkhead(configText(config)));
  }

  /** Asks for a permit at `now`. */
  acquire(now) {
    return this.#bulkhead.acquire(u64(now, 'now'));
  }

  /** Returns a permit; returns the waiters given one, oldest first (an array of BigInt). */
  release() {
    return [...this.#bulkhead.release()];
  }

  /** Removes and returns the waiters whose deadline is at or before `now`. */
  expire(now) {
    return [...this.#bulkhead.expire(u64(now, 'now'))];
  }

  /** `{ inflight, queued }`. */
  counts() {
    return this.#bulkhead.counts();
  }
}
