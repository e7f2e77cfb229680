"""Plain Python views of what the query service returns, and the keyword
filters the query helpers take."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from google.protobuf import json_format, timestamp_pb2

from boost.common.v1 import event_pb2
from boost.events import SEVERITIES, properties as to_struct, timestamp
from boost.query.v1 import query_pb2

#: Event kinds by name, as the filters take them.
KINDS = {
    "track": event_pb2.EVENT_KIND_TRACK,
    "identify": event_pb2.EVENT_KIND_IDENTIFY,
    "log": event_pb2.EVENT_KIND_LOG,
    "metric": event_pb2.EVENT_KIND_METRIC,
    "span": event_pb2.EVENT_KIND_SPAN,
}


def _time(value: timestamp_pb2.Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=timezone.utc)


@dataclass(frozen=True)
class StoredEvent:
    """One stored event: its fields as Python values, and the message."""

    event_id: str
    type: str
    kind: str
    user_id: str
    service: str
    properties: dict[str, Any]
    at: datetime
    received_at: datetime
    raw: event_pb2.Event

    @classmethod
    def from_proto(cls, stored: query_pb2.StoredEvent) -> StoredEvent:
        """The view of a ``boost.query.v1.StoredEvent``."""
        event = stored.event
        kind = event_pb2.EventKind.Name(event.kind).removeprefix("EVENT_KIND_").lower()
        return cls(
            event_id=event.event_id,
            type=event.type,
            kind=kind,
            user_id=event.user_id,
            service=event.service,
            properties=json_format.MessageToDict(event.properties),
            at=_time(event.timestamp),
            received_at=_time(stored.receive_time),
            raw=event,
        )


@dataclass(frozen=True)
class Group:
    """One Aggregate group: a key (empty for time buckets), a bucket start, a count."""

    key: str
    bucket_start: datetime | None
    count: int


def groups(items: Any) -> list[Group]:
    """The views of repeated ``boost.query.v1.Group``."""
    return [
        Group(g.key, _time(g.bucket_start) if g.HasField("bucket_start") else None, g.count)
        for g in items
    ]


def event_filter(
    *,
    service: str | None = None,
    type: str | None = None,
    kind: str | None = None,
    user_id: str | None = None,
    min_severity: str | None = None,
    properties: Mapping[str, Any] | None = None,
) -> query_pb2.EventFilter:
    """ListEvents' filter from keywords (kind and severity by name)."""
    out = query_pb2.EventFilter(service=service or "", type=type or "", user_id=user_id or "")
    if kind is not None:
        out.kind = KINDS[kind.lower()]
    if min_severity is not None:
        out.min_severity = SEVERITIES[min_severity.lower()]
    if properties:
        out.properties.CopyFrom(to_struct(properties))
    return out


def set_times(request: Any, start: datetime | None, end: datetime | None) -> None:
    """Sets a request's ``start_time``/``end_time``; unset ones stay unset
    (the server's defaults: the last 24 hours)."""
    if start is not None:
        request.start_time.CopyFrom(timestamp(start))
    if end is not None:
        request.end_time.CopyFrom(timestamp(end))
