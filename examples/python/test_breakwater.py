"""The Python guide's checks: `python3 -m unittest` in examples/python (no pytest needed).

Needs `BREAKWATER_COMPONENT` (the component file) and wasmtime-py (`requirements.txt`).
Time is a virtual clock: every test passes `now` by hand, so none sleeps and none is flaky.
"""

import json
import os
import unittest

import breakwater as bw
from breakwater import MS

POLICY = "inventory"
CONFIG = {
    "service": "shop",
    "environment": "testing",
    "policies": [{
        "name": POLICY,
        "match": {"path_prefix": "/inventory"},
        "breaker": {"failure_threshold": 3, "recovery_timeout_ms": 200, "recovery_jitter": 0.0,
                    "half_open_max_calls": 1, "half_open_success_threshold": 1},
        "bulkhead": {"max_concurrent": 2, "queue_size": 1, "queue_timeout_ms": 100},
    }],
}
GET = bw.Request(method="GET", path="/inventory/42")


def fail(engine, now):
    """One request that proceeds and fails with a 503 from the upstream."""
    d = engine.on_request(now, GET)
    assert isinstance(d, bw.Proceed), d
    engine.on_response(now + MS, d.ticket, bw.Outcome.response(503))


class ConfigErrors(unittest.TestCase):
    def test_a_bad_engine_configuration_raises_with_every_path(self):
        bad = json.loads(json.dumps(CONFIG))
        bad["policies"][0]["breaker"]["failure_rate_threshold"] = 1.5
        bad["policies"][0]["bulkhead"]["max_concurrent"] = 0
        with self.assertRaises(bw.ConfigError) as caught:
            bw.Engine(bad)
        paths = [p.path for p in caught.exception.problems]
        self.assertEqual(paths, ["policies[0].breaker.failure_rate_threshold",
                                 "policies[0].bulkhead.max_concurrent"])
        self.assertIn("must be in (0, 1], got 1.5", str(caught.exception))

    def test_invalid_json_and_bad_sections_raise(self):
        with self.assertRaises(bw.ConfigError) as caught:
            bw.Engine("{not json")
        self.assertIn("invalid JSON", caught.exception.problems[0].reason)
        with self.assertRaises(bw.ConfigError) as caught:
            bw.CircuitBreaker('{"failure_treshold": 2}')
        self.assertEqual(caught.exception.problems[0].path, "failure_treshold")
        with self.assertRaises(bw.ConfigError) as caught:
            bw.Bulkhead({"max_concurrent": 0})
        self.assertEqual(caught.exception.problems[0].path, "max_concurrent")

    def test_a_config_error_is_a_breakwater_error(self):
        self.assertTrue(issubclass(bw.ConfigError, bw.BreakwaterError))
        self.assertTrue(issubclass(bw.ComponentTrap, bw.BreakwaterError))

    def test_a_missing_component_file_is_named(self):
        with self.assertRaises(bw.BreakwaterError) as caught:
            bw.Runtime("/nonexistent/breakwater_core.wasm")
        self.assertIn("/nonexistent/breakwater_core.wasm", str(caught.exception))


class EngineBreaker(unittest.TestCase):
    def test_opens_after_three_failures_rejects_then_recovers(self):
        engine = bw.Engine(CONFIG, now=0, seed=1)
        for i in range(3):
            fail(engine, i * 10 * MS)
        rejected = engine.on_request(30 * MS, GET)
        self.assertIsInstance(rejected, bw.Reject)
        self.assertEqual(rejected.reply.reason, bw.RejectReason.CIRCUIT_OPEN)
        self.assertEqual(rejected.reply.status, 503)
        self.assertEqual(rejected.reply.retry_after, 1)  # 200 ms open, rounded up to seconds
        self.assertIn(bw.Header("x-breakwater", "circuit_open"), rejected.reply.headers)
        self.assertEqual(json.loads(rejected.reply.body)["policy"], POLICY)
        status = engine.status(30 * MS)
        self.assertFalse(status.healthy)
        self.assertEqual(status.policy(POLICY).state, bw.BreakerState.OPEN)
        self.assertEqual(status.policy(POLICY).rejected_open, 1)

        # Still open 1 ns before the open time ends (opened at the third answer, 21 ms).
        self.assertIsInstance(engine.on_request(221 * MS - 1, GET), bw.Reject)
        probe = engine.on_request(221 * MS, GET)
        self.assertIsInstance(probe, bw.Proceed)
        # The only probe is leased: a second request is rejected meanwhile.
        self.assertIsInstance(engine.on_request(222 * MS, GET), bw.Reject)
        engine.on_response(223 * MS, probe.ticket, bw.Outcome.response(200))
        self.assertIsInstance(engine.on_request(224 * MS, GET), bw.Proceed)
        self.assertTrue(engine.status(224 * MS).healthy)

        moves = [(t.from_state, t.to_state, t.reason) for t in engine.poll_events()]
        self.assertEqual(moves, [
            (bw.BreakerState.CLOSED, bw.BreakerState.OPEN, "consecutive_failures"),
            (bw.BreakerState.OPEN, bw.BreakerState.HALF_OPEN, "recovery_elapsed"),
            (bw.BreakerState.HALF_OPEN, bw.BreakerState.CLOSED, "probes_succeeded"),
        ])

    def test_a_request_no_policy_matches_passes(self):
        engine = bw.Engine(CONFIG)
        self.assertEqual(engine.on_request(0, bw.Request(path="/health")), bw.Pass())
        self.assertEqual(engine.needs.path, True)
        self.assertEqual(engine.tracked(), 0)

    def test_an_unseeded_engine_draws_from_wasi_random(self):
        # seed=None makes the component read wasi:random: without the WASI context the wrapper
        # sets, wasmtime's C API would abort this very process here.
        engine = bw.Engine(CONFIG, seed=None)
        self.assertIsInstance(engine.on_request(0, GET), bw.Proceed)


class StandaloneBreaker(unittest.TestCase):
    def test_acquire_rejects_probes_and_closes(self):
        breaker = bw.CircuitBreaker({"failure_threshold": 2, "recovery_timeout_ms": 500,
                                     "half_open_max_calls": 1,
                                     "half_open_success_threshold": 1}, seed=3)
        self.assertEqual(breaker.acquire(0), bw.Admit())
        breaker.record_outcome(0, failed=True)
        self.assertEqual(breaker.consecutive_failures(), 1)
        breaker.record_outcome(MS, failed=True)
        self.assertEqual(breaker.state(MS), bw.BreakerState.OPEN)
        self.assertEqual(breaker.acquire(MS), bw.Rejected(retry_in=500 * MS))
        self.assertEqual(breaker.rejects_for(101 * MS), 400 * MS)

        probe = breaker.acquire(501 * MS)
        self.assertIsInstance(probe, bw.Probe)
        self.assertIsInstance(breaker.acquire(502 * MS), bw.Rejected)
        breaker.probe_result(503 * MS, probe, failed=False)
        self.assertEqual(breaker.state(503 * MS), bw.BreakerState.CLOSED)
        self.assertIsNone(breaker.rejects_for(503 * MS))
        self.assertEqual(breaker.stats(), bw.BreakerStats(calls=3, successes=1, failures=2,
                                                          slow=0, transitions=3))

    def test_a_closed_breaker_refuses_further_calls(self):
        with bw.CircuitBreaker() as breaker:
            breaker.acquire(0)
        with self.assertRaises(bw.BreakwaterError):
            breaker.acquire(1)


class BulkheadCap(unittest.TestCase):
    def test_engine_caps_queues_resumes_and_times_out(self):
        engine = bw.Engine(CONFIG, seed=1)
        first, second = engine.on_request(0, GET), engine.on_request(0, GET)
        self.assertIsInstance(first, bw.Proceed)
        self.assertIsInstance(second, bw.Proceed)
        queued = engine.on_request(MS, GET)
        self.assertEqual(queued, bw.Queue(ticket=queued.ticket, until=101 * MS))
        full = engine.on_request(2 * MS, GET)
        self.assertIsInstance(full, bw.Reject)
        self.assertEqual((full.reply.reason, full.reply.status),
                         (bw.RejectReason.BULKHEAD_FULL, 429))
        self.assertEqual(engine.status(2 * MS).policy(POLICY).inflight, 2)

        # The first request's permit goes to the queued one.
        self.assertEqual(engine.on_response(5 * MS, first.ticket, bw.Outcome.response(200)), 1)
        self.assertEqual(engine.poll_actions(), [bw.Resume(queued.ticket, queued_headers(engine))])

        # Queue again; this time nobody returns a permit before the deadline.
        late = engine.on_request(6 * MS, GET)
        self.assertIsInstance(late, bw.Queue)
        self.assertLessEqual(engine.poll_timeout(), late.until)
        engine.handle_timeout(late.until)
        [reply] = engine.poll_actions()
        self.assertEqual((reply.ticket, reply.reply.reason, reply.reply.status),
                         (late.ticket, bw.RejectReason.QUEUE_TIMEOUT, 429))

    def test_standalone_bulkhead_grants_queues_and_refuses(self):
        bulkhead = bw.Bulkhead({"max_concurrent": 1, "queue_size": 1, "queue_timeout_ms": 100})
        self.assertEqual(bulkhead.acquire(0), bw.Granted())
        waiting = bulkhead.acquire(0)
        self.assertEqual(waiting, bw.Queued(waiter=waiting.waiter, deadline=100 * MS))
        self.assertEqual(bulkhead.acquire(0), bw.Full())
        self.assertEqual(bulkhead.counts(), bw.BulkheadCounts(inflight=1, queued=1))
        self.assertEqual(bulkhead.release(), [waiting.waiter])
        self.assertEqual(bulkhead.counts(), bw.BulkheadCounts(inflight=1, queued=0))


def queued_headers(engine):
    """The header set a resumed request of CONFIG's policy names (no retry section: empty)."""
    [index] = [i for i, hs in enumerate(engine.header_sets) if hs == []]
    return index


class Example(unittest.TestCase):
    def test_the_example_opens_rejects_locally_and_recovers(self):
        import example
        report = example.main(quiet=True)
        self.assertEqual(report.upstream_statuses[:5], [200, 200, 503, 503, 503])
        self.assertEqual(report.rejected_while_open, 1)
        self.assertEqual(report.upstream_hits_while_open, 0)
        self.assertEqual(report.recovered_status, 200)
        self.assertEqual([(t.from_state.value, t.to_state.value) for t in report.transitions],
                         [("closed", "open"), ("open", "half-open"), ("half-open", "closed")])


if __name__ == "__main__":
    if not os.environ.get("BREAKWATER_COMPONENT"):
        raise SystemExit("set BREAKWATER_COMPONENT to the component file")
    unittest.main()
