"""breakwater from Python: a typed wrapper over the breakwater component on wasmtime-py.

The component (``breakwater:resilience@0.1.0``, see ``wit/``) is the same engine as the Envoy
filter, configured by the same JSON. wasmtime-py can call it directly, but by ABI names
(``[method]engine.on-request``), with records whose fields are hyphenated attributes and
results that are either a resource or an error record. This module hides all of that:

- ``Engine``, ``CircuitBreaker`` and ``Bulkhead`` are plain classes; their methods take and
  return dataclasses and enums with snake_case fields.
- A WIT error is a Python exception: a rejected configuration raises ``ConfigError`` (every
  problem with its JSON path); a trap inside the component raises ``ComponentTrap``, after
  which that object is unusable (wasmtime poisons a trapped instance).
- WASI is linked and configured here. The component draws ``wasi:random`` when no seed is
  given; without a WASI context in the store, wasmtime's C API aborts the whole process
  instead of raising, so no caller is left to get that right.

Time is yours: every call that needs it takes ``now``, integer nanoseconds since an epoch you
choose (``time.monotonic_ns()`` in a real program, a counter in a test). The component never
reads a clock.

The component is compiled once per ``Runtime`` (about a second); each ``Engine``,
``CircuitBreaker`` or ``Bulkhead`` gets its own store and instance (microseconds), so objects
are independent and none may be shared between threads without a lock.
"""

from __future__ import annotations

import enum
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import wasmtime
from wasmtime import component as wc

__all__ = [
    "Runtime", "Engine", "CircuitBreaker", "Bulkhead",
    "BreakwaterError", "ConfigError", "ComponentTrap", "Problem",
    "Header", "Request", "RequestNeeds", "Outcome", "OutcomeKind", "RejectReason", "LocalReply",
    "BreakerState", "Pass", "Proceed", "Delay", "Queue", "Reject", "Decision", "Resume", "Reply",
    "Action", "Transition", "PolicyStatus", "EngineStatus",
    "Admit", "Probe", "Rejected", "Admission", "BreakerStats",
    "Granted", "Queued", "Full", "BulkheadAdmission", "BulkheadCounts",
]

PACKAGE = "breakwater:resilience"
VERSION = "0.1.0"

MS = 1_000_000
"""One millisecond in nanos."""


# --- errors -----------------------------------------------------------------------------------


class BreakwaterError(Exception):
    """Base class of every error this module raises."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration."""

    path: str
    """JSON path of the offending value, e.g. ``policies[1].breaker.failure_rate_threshold``."""
    reason: str
    """Why it is wrong, e.g. ``must be in (0, 1], got 1.5``."""


class ConfigError(BreakwaterError):
    """A configuration the component refused (the WIT ``config-error``): every problem at once."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems: List[Problem] = list(problems)
        super().__init__("; ".join(f"{p.path or '<document>'}: {p.reason}" for p in self.problems))


class ComponentTrap(BreakwaterError):
    """The component trapped (a bug, or a handle used after ``close``); the object is dead."""


# --- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """One HTTP header; names are lowercase."""

    name: str
    value: str


class OutcomeKind(enum.Enum):
    """How an upstream attempt ended."""

    RESPONSE = "response"
    RESET = "reset"
    CONNECT_FAILURE = "connect-failure"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class Outcome:
    """One upstream attempt's result; build it with the class methods."""

    kind: OutcomeKind
    http_status: Optional[int] = None
    grpc_status: Optional[int] = None

    @classmethod
    def response(cls, status: int, grpc_status: Optional[int] = None) -> "Outcome":
        """The upstream answered with ``status`` (and, for gRPC, ``grpc_status``)."""
        return cls(OutcomeKind.RESPONSE, status, grpc_status)

    @classmethod
    def reset(cls) -> "Outcome":
        """The connection was reset before a complete answer."""
        return cls(OutcomeKind.RESET)

    @classmethod
    def connect_failure(cls) -> "Outcome":
        """No connection could be made."""
        return cls(OutcomeKind.CONNECT_FAILURE)

    @classmethod
    def timeout(cls) -> "Outcome":
        """The upstream did not answer in time."""
        return cls(OutcomeKind.TIMEOUT)


class RejectReason(enum.Enum):
    """Why breakwater answered instead of the upstream (the ``x-breakwater`` header)."""

    CIRCUIT_OPEN = "circuit-open"
    BULKHEAD_FULL = "bulkhead-full"
    QUEUE_TIMEOUT = "queue-timeout"
    INJECTED_FAULT = "injected-fault"


class BreakerState(enum.Enum):
    """A circuit breaker's state."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class LocalReply:
    """A complete reply to send instead of calling the upstream."""

    reason: RejectReason
    status: int
    grpc_status: Optional[int]
    grpc_message: Optional[str]
    headers: List[Header]
    body: bytes
    retry_after: Optional[int]
    """Seconds after which a retry may succeed, when known."""


@dataclass(frozen=True)
class Request:
    """A request as the engine sees it; pass only what ``Engine.request_needs()`` names."""

    method: str = "GET"
    path: str = "/"
    cluster: Optional[str] = None
    route: Optional[str] = None
    headers: Sequence[Header] = ()


@dataclass(frozen=True)
class RequestNeeds:
    """What of a request the engine's configuration can look at."""

    method: bool
    path: bool
    cluster: bool
    route: bool
    headers: List[str]


# --- engine decisions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Pass:
    """No policy matched: send the request untouched and report nothing."""


@dataclass(frozen=True)
class Proceed:
    """Send the request now with ``Engine.headers(headers)`` added; report with ``on_response``."""

    ticket: int
    headers: int


@dataclass(frozen=True)
class Delay:
    """Hold the request (injected delay) until at most ``until``; an action will follow."""

    ticket: int
    until: int


@dataclass(frozen=True)
class Queue:
    """Hold the request in the bulkhead queue until at most ``until``; an action will follow."""

    ticket: int
    until: int


@dataclass(frozen=True)
class Reject:
    """Answer now with ``reply``; report nothing."""

    reply: LocalReply


Decision = Union[Pass, Proceed, Delay, Queue, Reject]


@dataclass(frozen=True)
class Resume:
    """A held request goes upstream now (report it with ``on_response``)."""

    ticket: int
    headers: int


@dataclass(frozen=True)
class Reply:
    """A held request is answered with ``reply``; it is finished."""

    ticket: int
    reply: LocalReply


Action = Union[Resume, Reply]


@dataclass(frozen=True)
class Transition:
    """A breaker transition, for logs."""

    policy: str
    from_state: BreakerState
    to_state: BreakerState
    at: int
    reason: str


@dataclass(frozen=True)
class PolicyStatus:
    """One policy's state and counters."""

    name: str
    state: Optional[BreakerState]
    retry_after: Optional[int]
    consecutive_failures: int
    calls: int
    failures: int
    inflight: Optional[int]
    max_concurrent: Optional[int]
    queued: Optional[int]
    requests: int
    rejected_open: int
    rejected_bulkhead: int


@dataclass(frozen=True)
class EngineStatus:
    """Every policy's status."""

    healthy: bool
    policies: List[PolicyStatus] = field(default_factory=list)

    def policy(self, name: str) -> PolicyStatus:
        """The status of the policy ``name`` (``KeyError`` when there is none)."""
        for p in self.policies:
            if p.name == name:
                return p
        raise KeyError(name)


# --- standalone breaker and bulkhead results --------------------------------------------------


@dataclass(frozen=True)
class Admit:
    """Closed breaker: go ahead, then ``record_outcome``."""


@dataclass(frozen=True)
class Probe:
    """Half-open breaker: go ahead as a probe, then ``probe_result`` or ``probe_release``."""

    probe_id: int


@dataclass(frozen=True)
class Rejected:
    """Open breaker (or every probe leased): try again after ``retry_in`` nanos."""

    retry_in: int


Admission = Union[Admit, Probe, Rejected]


@dataclass(frozen=True)
class BreakerStats:
    """A breaker's counters since it was created."""

    calls: int
    successes: int
    failures: int
    slow: int
    transitions: int


@dataclass(frozen=True)
class Granted:
    """A bulkhead permit is held: ``release`` it when the call ends."""


@dataclass(frozen=True)
class Queued:
    """Wait: ``release`` or ``expire`` will name ``waiter``, at the latest at ``deadline``."""

    waiter: int
    deadline: int


@dataclass(frozen=True)
class Full:
    """The bulkhead and its queue are full."""


BulkheadAdmission = Union[Granted, Queued, Full]


@dataclass(frozen=True)
class BulkheadCounts:
    """Permits held and waiters queued."""

    inflight: int
    queued: int


# --- the component ----------------------------------------------------------------------------


class Runtime:
    """The compiled component and a linker with WASI preview 2: compile once, instantiate often.

    ``path`` is the component file; without it, ``$BREAKWATER_COMPONENT``. Most programs use
    ``Runtime.default()``; several runtimes are only needed for several component files.
    """

    _default: Optional["Runtime"] = None
    _default_lock = threading.Lock()

    def __init__(self, path: Optional[str] = None):
        path = path or os.environ.get("BREAKWATER_COMPONENT")
        if not path:
            raise BreakwaterError(
                "no component: pass Runtime(path) or set BREAKWATER_COMPONENT to the "
                "breakwater_core.wasm built for wasm32-wasip2 (see wit/README.md)")
        if not os.path.isfile(path):
            raise BreakwaterError(f"component {path!r} is not a file")
        self.path = path
        self._engine = wasmtime.Engine()
        try:
            self._component = wc.Component.from_file(self._engine, path)
        except wasmtime.WasmtimeError as e:
            raise BreakwaterError(f"{path}: not a loadable component: {e}") from e
        self._linker = wc.Linker(self._engine)
        self._linker.add_wasip2()

    @classmethod
    def default(cls) -> "Runtime":
        """The process-wide runtime over ``$BREAKWATER_COMPONENT``, built on first use."""
        with cls._default_lock:
            if cls._default is None:
                cls._default = cls()
            return cls._default

    def _instance(self, interface: str) -> "_Instance":
        return _Instance(self, interface)


class _Instance:
    """One store and instance, and one exported interface's functions by WIT name."""

    def __init__(self, runtime: Runtime, interface: str):
        self.store = wasmtime.Store(runtime._engine)
        # Without a WASI context, the first wasi:random draw aborts the process (see the module doc).
        self.store.set_wasi(wasmtime.WasiConfig())
        self.instance = runtime._linker.instantiate(self.store, runtime._component)
        name = f"{PACKAGE}/{interface}@{VERSION}"
        self.interface = self.instance.get_export_index(self.store, name)
        if self.interface is None:
            raise BreakwaterError(f"{runtime.path} does not export {name}")
        self.funcs: dict = {}
        self.dead = False

    def call(self, name: str, *args: Any) -> Any:
        if self.dead:
            raise ComponentTrap("this object's component instance trapped earlier")
        func = self.funcs.get(name)
        if func is None:
            index = self.instance.get_export_index(self.store, name, self.interface)
            func = index and self.instance.get_func(self.store, index)
            if func is None:
                raise BreakwaterError(f"the component has no function {name}")
            self.funcs[name] = func
        try:
            return func(self.store, *args)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
            self.dead = True
            raise ComponentTrap(f"{name}: {e}") from e


class _Resource:
    """A resource of the component in its own instance: the base of the public classes."""

    _interface = ""
    _resource = ""

    def __init__(self, runtime: Optional[Runtime], *ctor_args: Any):
        self._inst = (runtime or Runtime.default())._instance(self._interface)
        created = self._inst.call(f"[constructor]{self._resource}", *ctor_args)
        if isinstance(created, wc.Record):  # result<own, config-error>: the error record
            raise ConfigError([Problem(p.path, p.reason) for p in created.problems])
        self._handle: Optional[wc.ResourceAny] = created

    def _call(self, method: str, *args: Any) -> Any:
        if self._handle is None:
            raise BreakwaterError(f"{type(self).__name__} is closed")
        return self._inst.call(f"[method]{self._resource}.{method}", self._handle, *args)

    def close(self) -> None:
        """Drops the resource inside the component; the object is unusable afterwards."""
        if self._handle is not None and not self._inst.dead:
            self._handle.drop(self._inst.store)
        self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _seed(seed: Optional[int]) -> Optional[int]:
    if seed is not None and not 0 <= seed < 2 ** 64:
        raise ValueError(f"seed must be a u64, got {seed}")
    return seed


def _nanos(now: int) -> int:
    if not isinstance(now, int) or not 0 <= now < 2 ** 64:
        raise ValueError(f"now must be integer nanoseconds in [0, 2**64), got {now!r}")
    return now


# --- conversions between the WIT values and the dataclasses above ----------------------------

_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")


def _record(**fields: Any) -> wc.Record:
    record = wc.Record()
    for name, value in fields.items():
        setattr(record, name.replace("_", "-"), value)
    return record


def _get(record: wc.Record, name: str) -> Any:
    return getattr(record, name.replace("_", "-"))


def _lower_request(r: Request) -> wc.Record:
    if not isinstance(r.method, str) or not r.method:
        raise ValueError(f"request method must be a non-empty string, got {r.method!r}")
    method = (wc.Variant(r.method.lower()) if r.method in _METHODS
              else wc.Variant("other", r.method))
    headers = [_lower_header(h) for h in r.headers]
    return _record(method=method, path=r.path, cluster=r.cluster, route=r.route, headers=headers)


def _lower_header(h: Union[Header, Tuple[str, str]]) -> wc.Record:
    name, value = (h.name, h.value) if isinstance(h, Header) else h
    return _record(name=name, value=value)


def _lift_header(h: wc.Record) -> Header:
    return Header(h.name, h.value)


def _lift_reply(r: wc.Record) -> LocalReply:
    return LocalReply(
        reason=RejectReason(r.reason),
        status=r.status,
        grpc_status=_get(r, "grpc_status"),
        grpc_message=_get(r, "grpc_message"),
        headers=[_lift_header(h) for h in r.headers],
        body=bytes(r.body),
        retry_after=_get(r, "retry_after"),
    )


def _lift_decision(v: wc.Variant) -> Decision:
    if v.tag == "pass":
        return Pass()
    if v.tag == "proceed":
        return Proceed(v.payload.ticket, v.payload.headers)
    if v.tag == "delay":
        return Delay(v.payload.ticket, v.payload.until)
    if v.tag == "queue":
        return Queue(v.payload.ticket, v.payload.until)
    if v.tag == "reject":
        return Reject(_lift_reply(v.payload))
    raise BreakwaterError(f"unknown decision {v.tag!r}: is the component newer than breakwater.py?")


def _lift_action(v: wc.Variant) -> Action:
    if v.tag == "resume":
        return Resume(v.payload.ticket, v.payload.headers)
    if v.tag == "reply":
        return Reply(v.payload.ticket, _lift_reply(v.payload.reply))
    raise BreakwaterError(f"unknown action {v.tag!r}: is the component newer than breakwater.py?")


def _lift_policy(p: wc.Record) -> PolicyStatus:
    names = [f.name for f in PolicyStatus.__dataclass_fields__.values()]
    values = {n: _get(p, n) for n in names}
    values["state"] = values["state"] and BreakerState(values["state"])
    return PolicyStatus(**values)


def _optional(value: Any, lift: Callable[[Any], Any]) -> Any:
    return None if value is None else lift(value)


def _config_text(config: Union[str, dict]) -> str:
    if isinstance(config, dict):
        import json
        return json.dumps(config)
    if not isinstance(config, str):
        raise TypeError(f"config must be JSON text or a dict, got {type(config).__name__}")
    return config


# --- the public classes -----------------------------------------------------------------------


class Engine(_Resource):
    """The whole engine of one worker, configured by the Envoy filter's JSON document.

    The driving loop: call ``on_request`` per request and act on the decision; report the end
    with ``on_response`` (or ``cancel``) and drain ``poll_actions()`` when it returns more than
    0; when your timer reaches ``poll_timeout()`` (or a ``Delay``/``Queue``'s ``until``), call
    ``handle_timeout(now)`` and drain ``poll_actions()``.

    Raises ``ConfigError`` for a bad configuration, listing every problem.
    """

    _interface = "engine"
    _resource = "engine"

    def __init__(self, config: Union[str, dict], now: int = 0, seed: Optional[int] = None,
                 runtime: Optional[Runtime] = None):
        super().__init__(runtime, _config_text(config), _nanos(now), _seed(seed))
        self.header_sets: List[List[Header]] = [
            [_lift_header(h) for h in hs] for hs in self._call("header-sets")]
        """Every header list a ``Proceed`` or ``Resume`` can name, fetched once."""
        n = self._call("request-needs")
        self.needs = RequestNeeds(n.method, n.path, n.cluster, n.route, list(n.headers))
        """What of a request the configuration can look at: pass only that."""

    def headers(self, proceed: Union[Proceed, Resume]) -> List[Header]:
        """The headers to add toward the upstream for a ``Proceed`` or ``Resume``."""
        return self.header_sets[proceed.headers] if proceed.headers < len(self.header_sets) else []

    def on_request(self, now: int, request: Request) -> Decision:
        """Decides what happens to a new request."""
        return _lift_decision(self._call("on-request", _nanos(now), _lower_request(request)))

    def on_response(self, now: int, ticket: int, outcome: Outcome, attempts: int = 1) -> int:
        """Reports a proceeding request's outcome; returns how many actions now wait."""
        wit = _record(kind=outcome.kind.value, http_status=outcome.http_status,
                      grpc_status=outcome.grpc_status)
        return self._call("on-response", _nanos(now), ticket, wit, attempts)

    def cancel(self, now: int, ticket: int) -> int:
        """Ends a request without an outcome; returns how many actions now wait."""
        return self._call("cancel", _nanos(now), ticket)

    def poll_timeout(self) -> int:
        """When ``handle_timeout`` should next be called (read it after ``handle_timeout``)."""
        return self._call("poll-timeout")

    def handle_timeout(self, now: int) -> None:
        """Does what is due at ``now`` (syncs, ended delays, queue deadlines)."""
        self._call("handle-timeout", _nanos(now))

    def poll_action(self) -> Optional[Action]:
        """The next action for a held request, oldest first."""
        return _optional(self._call("poll-action"), _lift_action)

    def poll_actions(self) -> List[Action]:
        """Every waiting action, oldest first."""
        actions = []
        while (action := self.poll_action()) is not None:
            actions.append(action)
        return actions

    def poll_event(self) -> Optional[Transition]:
        """The next breaker transition, oldest first."""
        t = self._call("poll-event")
        if t is None:
            return None
        return Transition(t.policy, BreakerState(getattr(t, "from")), BreakerState(t.to),
                          t.at, t.reason)

    def poll_events(self) -> List[Transition]:
        """Every waiting breaker transition, oldest first."""
        events = []
        while (event := self.poll_event()) is not None:
            events.append(event)
        return events

    def request_headers(self, ticket: int) -> List[Header]:
        """The upstream headers of a proceeding request; empty for unknown tickets."""
        return [_lift_header(h) for h in self._call("request-headers", ticket)]

    def status(self, now: int) -> EngineStatus:
        """Every policy's status at ``now``."""
        s = self._call("status", _nanos(now))
        return EngineStatus(s.healthy, [_lift_policy(p) for p in s.policies])

    def status_json(self, now: int) -> str:
        """The status document as JSON text (what the filter serves on ``status_path``)."""
        return self._call("status-json", _nanos(now))

    def tracked(self) -> int:
        """Requests currently tracked (proceeding, held or queued)."""
        return self._call("tracked")


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
