"""The whole engine: one worker's policies, configured by the Envoy filter's JSON."""

from __future__ import annotations

from typing import List, Optional, Union

from ._component import Runtime, _Resource, _config_text, _nanos, _seed
from ._convert import (_lift_action, _lift_decision, _lift_header, _lift_policy,
                       _lower_request, _optional, _record)
from .types import (Action, BreakerState, Decision, EngineStatus, Header, Outcome, Proceed,
                    Request, RequestNeeds, Resume, Transition)


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
