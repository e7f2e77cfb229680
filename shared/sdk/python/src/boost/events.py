"""Building ``boost.common.v1.Event`` messages from plain Python values, with
client-made UUIDv7 ids so a retried batch is deduplicated by the server."""

from __future__ import annotations

import os
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from boost.common.v1 import event_pb2

#: Log severities by name, as the ``log`` helpers take them.
SEVERITIES = {
    "trace": event_pb2.SEVERITY_TRACE,
    "debug": event_pb2.SEVERITY_DEBUG,
    "info": event_pb2.SEVERITY_INFO,
    "warn": event_pb2.SEVERITY_WARN,
    "error": event_pb2.SEVERITY_ERROR,
    "fatal": event_pb2.SEVERITY_FATAL,
}


def new_event_id() -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits.
    Time-ordered, so the server's indexes stay compact."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)  # rand_b
    return str(uuid.UUID(int=value))


def timestamp(at: datetime | None) -> timestamp_pb2.Timestamp:
    """A protobuf timestamp; ``None`` means now. Naive datetimes are UTC."""
    out = timestamp_pb2.Timestamp()
    if at is None:
        out.GetCurrentTime()
    else:
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        out.FromDatetime(at.astimezone(timezone.utc))
    return out


def properties(values: Mapping[str, Any] | None) -> struct_pb2.Struct:
    """A JSON-like mapping as a ``Struct`` (numbers become doubles, as in JSON)."""
    out = struct_pb2.Struct()
    if values:
        out.update(dict(values))
    return out


def event(
    event_type: str,
    *,
    kind: int = event_pb2.EVENT_KIND_TRACK,
    user_id: str = "",
    service: str = "",
    properties: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    event_id: str | None = None,
) -> event_pb2.Event:
    """One event with its id made now (pass ``event_id`` to choose it)."""
    return event_pb2.Event(
        event_id=event_id or new_event_id(),
        type=event_type,
        kind=kind,  # type: ignore[arg-type]
        user_id=user_id,
        service=service,
        properties=_properties(properties),
        timestamp=timestamp(at),
    )


_properties = properties


def log_body(severity: str, message: str) -> event_pb2.LogBody:
    """A log line's body; ``severity`` is one of :data:`SEVERITIES`."""
    try:
        level = SEVERITIES[severity.lower()]
    except KeyError:
        raise ValueError(f"severity must be one of {sorted(SEVERITIES)}, got {severity!r}") from None
    return event_pb2.LogBody(severity=level, message=message)


def metric_body(name: str, value: float, unit: str = "") -> event_pb2.MetricBody:
    """One metric sample's body."""
    return event_pb2.MetricBody(name=name, value=value, unit=unit)


def span_body(
    trace_id: str,
    span_id: str,
    duration: timedelta,
    parent_span_id: str = "",
    error: bool = False,
) -> event_pb2.SpanBody:
    """A finished span's body (W3C ids as lowercase hex)."""
    body = event_pb2.SpanBody(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent_span_id, error=error
    )
    body.duration.FromTimedelta(duration)
    return body


class EventSender(ABC):
    """The event helpers both clients share (``track``, ``identify``, ``log``,
    ``metric``, ``span``); each builds an event and hands it to :meth:`send`,
    which queues it without blocking."""

    @abstractmethod
    def send(self, event: event_pb2.Event) -> str:
        """Queues a prepared event; returns its id."""

    def track(
        self,
        event_type: str,
        *,
        user_id: str = "",
        properties: Mapping[str, Any] | None = None,
        service: str = "",
        at: datetime | None = None,
        event_id: str | None = None,
    ) -> str:
        """Queues a product event; returns its id (UUIDv7 unless given)."""
        return self.send(
            event(event_type, user_id=user_id, service=service, properties=properties, at=at, event_id=event_id)
        )

    def identify(
        self, user_id: str, traits: Mapping[str, Any] | None = None, *, at: datetime | None = None
    ) -> str:
        """Queues the end user's traits; returns the event id."""
        return self.send(
            event("identify", kind=event_pb2.EVENT_KIND_IDENTIFY, user_id=user_id, properties=traits, at=at)
        )

    def log(
        self,
        message: str,
        *,
        severity: str = "info",
        logger: str = "app",
        user_id: str = "",
        attributes: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> str:
        """Queues a log line (``logger`` is its type); returns the event id."""
        built = event(logger, kind=event_pb2.EVENT_KIND_LOG, user_id=user_id, properties=attributes, at=at)
        built.log.CopyFrom(log_body(severity, message))
        return self.send(built)

    def metric(
        self,
        name: str,
        value: float,
        *,
        unit: str = "",
        attributes: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> str:
        """Queues one metric sample; returns the event id."""
        built = event(name, kind=event_pb2.EVENT_KIND_METRIC, properties=attributes, at=at)
        built.metric.CopyFrom(metric_body(name, value, unit))
        return self.send(built)

    def span(
        self,
        name: str,
        *,
        trace_id: str,
        span_id: str,
        duration: timedelta,
        parent_span_id: str = "",
        error: bool = False,
        attributes: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> str:
        """Queues a finished span (``at`` is its start); returns the event id."""
        built = event(name, kind=event_pb2.EVENT_KIND_SPAN, properties=attributes, at=at)
        built.span.CopyFrom(span_body(trace_id, span_id, duration, parent_span_id, error))
        return self.send(built)

