"""The WIT records and variants as dataclasses and enums, with snake_case fields.

A variant becomes one frozen dataclass per case (``Proceed``, ``Reject``, ...) and a ``Union``
of them (``Decision``), so callers dispatch with ``isinstance``; an enum becomes an
``enum.Enum`` whose values are the WIT names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Union

MS = 1_000_000
"""One millisecond in nanos."""

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
