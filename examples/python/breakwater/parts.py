"""The standalone circuit breaker and bulkhead, for code that makes its own calls."""

from __future__ import annotations

from typing import List, Optional, Union

from ._component import Runtime, _Resource, _config_text, _nanos, _seed
from .types import (Admission, Admit, BreakerState, BreakerStats, BulkheadAdmission,
                    BulkheadCounts, Full, Granted, Probe, Queued, Rejected)


class CircuitBreaker(_Resource):
    """A standalone circuit breaker for code that makes its own calls.

    ``config`` is a policy's ``breaker`` section (``"{}"`` for the defaults). Raises
    ``ConfigError`` for a bad section; problem paths are relative to the section.
    """

    _interface = "circuit-breaker"
    _resource = "circuit-breaker"

    def __init__(self, config: Union[str, dict] = "{}", seed: Optional[int] = None,
                 runtime: Optional[Runtime] = None):
        super().__init__(runtime, _config_text(config), _seed(seed))

    def acquire(self, now: int) -> Admission:
        """Asks to admit one call at ``now``."""
        v = self._call("acquire", _nanos(now))
        if v.tag == "admit":
            return Admit()
        if v.tag == "probe":
            return Probe(v.payload)
        return Rejected(v.payload)

    def record_outcome(self, now: int, failed: bool, slow: bool = False) -> None:
        """Records the outcome of an admitted (non-probe) call."""
        self._call("record-outcome", _nanos(now), failed, slow)

    def probe_result(self, now: int, probe: Probe, failed: bool) -> None:
        """Reports how a probe ended; stale or expired leases are ignored."""
        self._call("probe-result", _nanos(now), probe.probe_id, failed)

    def probe_release(self, now: int, probe: Probe) -> None:
        """Gives a probe's lease back without an outcome."""
        self._call("probe-release", _nanos(now), probe.probe_id)

    def state(self, now: int) -> BreakerState:
        """The state at ``now`` (an open breaker past its open time reads half-open)."""
        return BreakerState(self._call("state", _nanos(now)))

    def rejects_for(self, now: int) -> Optional[int]:
        """How long a call would wait at ``now``; ``None`` when it would be admitted."""
        return self._call("rejects-for", _nanos(now))

    def consecutive_failures(self) -> int:
        """Consecutive failures while closed."""
        return self._call("consecutive-failures")

    def stats(self) -> BreakerStats:
        """Counters since the breaker was created."""
        s = self._call("stats")
        return BreakerStats(s.calls, s.successes, s.failures, s.slow, s.transitions)


class Bulkhead(_Resource):
    """A standalone bulkhead: at most ``max_concurrent`` calls, a FIFO queue with deadlines.

    ``config`` is a policy's ``bulkhead`` section (``"{}"`` for the defaults). Raises
    ``ConfigError`` for a bad section.
    """

    _interface = "bulkhead"
    _resource = "bulkhead"

    def __init__(self, config: Union[str, dict] = "{}", runtime: Optional[Runtime] = None):
        super().__init__(runtime, _config_text(config))

    def acquire(self, now: int) -> BulkheadAdmission:
        """Asks for a permit at ``now``."""
        v = self._call("acquire", _nanos(now))
        if v.tag == "granted":
            return Granted()
        if v.tag == "queued":
            waiter, deadline = v.payload
            return Queued(waiter, deadline)
        return Full()

    def release(self) -> List[int]:
        """Returns a permit; returns the waiters that were given one, oldest first."""
        return list(self._call("release"))

    def cancel(self, waiter: int) -> bool:
        """Removes a waiter that gave up; ``False`` when it was not queued."""
        return self._call("cancel", waiter)

    def expire(self, now: int) -> List[int]:
        """Removes and returns the waiters whose deadline is at or before ``now``."""
        return list(self._call("expire", _nanos(now)))

    def next_deadline(self) -> Optional[int]:
        """The earliest waiter deadline."""
        return self._call("next-deadline")

    def counts(self) -> BulkheadCounts:
        """Permits held and waiters queued."""
        c = self._call("counts")
        return BulkheadCounts(c.inflight, c.queued)
