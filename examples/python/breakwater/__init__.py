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

from .errors import BreakwaterError, ComponentTrap, ConfigError, Problem
from .types import (MS, Action, Admission, Admit, BreakerState, BreakerStats, BulkheadAdmission,
                    BulkheadCounts, Decision, Delay, EngineStatus, Full, Granted, Header,
                    LocalReply, Outcome, OutcomeKind, Pass, PolicyStatus, Probe, Proceed, Queue,
                    Queued, Reject, RejectReason, Rejected, Reply, Request, RequestNeeds, Resume,
                    Transition)
from ._component import Runtime
from .engine import Engine
from .parts import Bulkhead, CircuitBreaker

__all__ = [
    "Runtime", "Engine", "CircuitBreaker", "Bulkhead",
    "BreakwaterError", "ConfigError", "ComponentTrap", "Problem",
    "Header", "Request", "RequestNeeds", "Outcome", "OutcomeKind", "RejectReason", "LocalReply",
    "BreakerState", "Pass", "Proceed", "Delay", "Queue", "Reject", "Decision", "Resume", "Reply",
    "Action", "Transition", "PolicyStatus", "EngineStatus",
    "Admit", "Probe", "Rejected", "Admission", "BreakerStats", "MS",
    "Granted", "Queued", "Full", "BulkheadAdmission", "BulkheadCounts",
]
