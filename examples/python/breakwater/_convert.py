"""Conversions between wasmtime-py's component values and this package's dataclasses."""

from __future__ import annotations

from typing import Any, Callable, Tuple, Union

from wasmtime import component as wc

from .errors import BreakwaterError
from .types import (Action, BreakerState, Decision, Delay, Header, LocalReply, Pass,
                    PolicyStatus, Proceed, Queue, Reject, RejectReason, Reply, Request, Resume)

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


def _lift_header(h: Any) -> Header:
    return Header(h.name, h.value)


def _lift_reply(r: Any) -> LocalReply:
    return LocalReply(
        reason=RejectReason(r.reason),
        status=r.status,
        grpc_status=_get(r, "grpc_status"),
        grpc_message=_get(r, "grpc_message"),
        headers=[_lift_header(h) for h in r.headers],
        body=bytes(r.body),
        retry_after=_get(r, "retry_after"),
    )


def _lift_decision(v: Any) -> Decision:
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
    raise BreakwaterError(f"unknown decision {v.tag!r}: is the component newer than this wrapper?")


def _lift_action(v: Any) -> Action:
    if v.tag == "resume":
        return Resume(v.payload.ticket, v.payload.headers)
    if v.tag == "reply":
        return Reply(v.payload.ticket, _lift_reply(v.payload.reply))
    raise BreakwaterError(f"unknown action {v.tag!r}: is the component newer than this wrapper?")


def _lift_policy(p: Any) -> PolicyStatus:
    names = [f.name for f in PolicyStatus.__dataclass_fields__.values()]
    values = {n: _get(p, n) for n in names}
    values["state"] = values["state"] and BreakerState(values["state"])
    return PolicyStatus(**values)


def _optional(value: Any, lift: Callable[[Any], Any]) -> Any:
    return None if value is None else lift(value)
