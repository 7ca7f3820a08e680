"""breakwater guarding real HTTP calls from Python: `python3 example.py` (BREAKWATER_COMPONENT set).

It starts a tiny upstream on 127.0.0.1 that answers 503 while told to fail, and calls it through
`guarded_get`, which asks the engine first, sends only what the engine lets through, and reports
every answer back. The clock is real (`time.monotonic_ns()`): three failures open the breaker,
the next call is answered locally without touching the upstream, and once the 200 ms open time
has passed a probe goes through and closes it again.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List

import breakwater as bw

CONFIG = {
    "service": "shop",
    "environment": "testing",
    "policies": [{
        "name": "inventory",
        "match": {"path_prefix": "/inventory"},
        "breaker": {"failure_threshold": 3, "recovery_timeout_ms": 200, "recovery_jitter": 0.0,
                    "half_open_max_calls": 1, "half_open_success_threshold": 1},
    }],
}


class Upstream:
    """A local HTTP server that answers 503 while `failing` is set, 200 otherwise."""

    def __init__(self) -> None:
        self.failing = False
        self.hits = 0
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                upstream.hits += 1
                status = 503 if upstream.failing else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def now() -> int:
    """The engine's clock: nanoseconds from Python's monotonic clock."""
    return time.monotonic_ns()


def guarded_get(engine: bw.Engine, url: str, path: str) -> int:
    """GET `url + path` through the engine; returns the status the caller gets."""
    decision = engine.on_request(now(), bw.Request(method="GET", path=path))
    if isinstance(decision, bw.Reject):
        return decision.reply.status  # answered locally: the upstream is not called
    if isinstance(decision, (bw.Delay, bw.Queue)):
        raise NotImplementedError("this example's policy has no bulkhead or injected delay")
    request = urllib.request.Request(url + path)
    if isinstance(decision, bw.Proceed):
        for h in engine.headers(decision):
            request.add_header(h.name, h.value)
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:
            status, outcome = answer.status, bw.Outcome.response(answer.status)
    except urllib.error.HTTPError as e:
        status, outcome = e.code, bw.Outcome.response(e.code)
    except (TimeoutError, urllib.error.URLError) as e:
        timed_out = isinstance(getattr(e, "reason", e), TimeoutError)
        status, outcome = 502, bw.Outcome.timeout() if timed_out else bw.Outcome.connect_failure()
    if isinstance(decision, bw.Proceed):
        engine.on_response(now(), decision.ticket, outcome)
    return status


@dataclass
class Report:
    """What the example saw."""

    upstream_statuses: List[int] = field(default_factory=list)
    rejected_while_open: int = 0
    upstream_hits_while_open: int = 0
    recovered_status: int = 0
    transitions: List[bw.Transition] = field(default_factory=list)


def main(quiet: bool = False) -> Report:
    """Runs the scenario and returns what happened (the test reads it)."""
    say = (lambda *a: None) if quiet else print
    upstream = Upstream()
    report = Report()
    try:
        engine = bw.Engine(CONFIG, now=now())
        for _ in range(2):
            report.upstream_statuses.append(guarded_get(engine, upstream.url, "/inventory/1"))
        upstream.failing = True
        for _ in range(3):
            report.upstream_statuses.append(guarded_get(engine, upstream.url, "/inventory/1"))
        say("upstream answered", report.upstream_statuses)

        hits = upstream.hits
        status = guarded_get(engine, upstream.url, "/inventory/1")
        report.rejected_while_open = int(status == 503 and upstream.hits == hits)
        report.upstream_hits_while_open = upstream.hits - hits
        say("while open: answered", status, "locally; upstream calls:", upstream.hits - hits)

        upstream.failing = False
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # bounded: the open time is 200 ms
            hits = upstream.hits
            status = guarded_get(engine, upstream.url, "/inventory/1")
            if upstream.hits > hits:
                report.recovered_status = status
                break
            time.sleep(0.02)
        say("recovered: the probe got", report.recovered_status)
        report.transitions = engine.poll_events()
        for t in report.transitions:
            say(f"transition {t.policy}: {t.from_state.value} -> {t.to_state.value} ({t.reason})")
        say("status:", engine.status_json(now()))
    finally:
        upstream.stop()
    return report


if __name__ == "__main__":
    main()
