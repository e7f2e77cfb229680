"""What the synchronous and the asyncio client share: the constructor's
options (targets, credential, batching), ``send`` and ``stats``, and the
query requests built from keywords."""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from typing import Any, Protocol

from boost.batcher import Batching, ErrorCallback, Stats, log_rejection
from boost.common.v1 import event_pb2
from boost.config import DEFAULT_INGEST, DEFAULT_QUERY, Credentials, target
from boost.events import EventSender
from boost.ingest.v1 import ingest_pb2
from boost.query.v1 import query_pb2
from boost.records import event_filter, set_times
from boost.retry import RetryPolicy

#: Acknowledgement levels by name.
ACK_LEVELS = {"broker": ingest_pb2.ACK_LEVEL_BROKER, "committed": ingest_pb2.ACK_LEVEL_COMMITTED}
#: Aggregate dimensions by name.
GROUP_BY = {
    "service": query_pb2.GROUP_BY_SERVICE,
    "type": query_pb2.GROUP_BY_TYPE,
    "kind": query_pb2.GROUP_BY_KIND,
    "user": query_pb2.GROUP_BY_USER,
    "time": query_pb2.GROUP_BY_TIME,
}
#: Time bucket widths by name.
BUCKETS = {"minute": query_pb2.BUCKET_MINUTE, "hour": query_pb2.BUCKET_HOUR, "day": query_pb2.BUCKET_DAY}


class Queueing(Protocol):
    """A batcher as the clients use it."""

    stats: Stats

    def add(self, event: event_pb2.Event) -> bool: ...


class BaseClient(EventSender):
    """The options every client takes. Targets default to the local
    ``make run`` ports and can be set by argument or by
    ``BOOST_INGEST_URL`` / ``BOOST_QUERY_URL``; the credential is
    ``api_key`` (else ``BOOST_API_KEY``) or a JWT as ``token``."""

    _batcher: Queueing

    def __init__(
        self,
        api_key: str | None = None,
        *,
        token: str | None = None,
        ingest_url: str | None = None,
        query_url: str | None = None,
        service: str = "",
        ack: str = "broker",
        batch_size: int = 100,
        flush_interval: float = 0.2,
        max_queue: int = 10_000,
        retry: RetryPolicy = RetryPolicy(),
        on_error: ErrorCallback = log_rejection,
        timeout: float = 10.0,
    ) -> None:
        if ack not in ACK_LEVELS:
            raise ValueError(f"ack must be one of {sorted(ACK_LEVELS)}, got {ack!r}")
        self._metadata = Credentials.resolve(api_key, token).metadata()
        self._service = service
        self._timeout = timeout
        batching = Batching(ACK_LEVELS[ack], batch_size, flush_interval, max_queue, retry, on_error)
        self._connect(
            target(ingest_url, "BOOST_INGEST_URL", DEFAULT_INGEST),
            target(query_url, "BOOST_QUERY_URL", DEFAULT_QUERY),
            batching,
        )

    @abstractmethod
    def _connect(self, ingest: str, query: str, batching: Batching) -> None:
        """Opens the channels and starts the batcher (as ``_batcher``)."""

    @property
    def stats(self) -> Stats:
        """The batcher's counters: delivered, rejected, dropped, retries."""
        return self._batcher.stats

    def send(self, event: event_pb2.Event) -> str:
        """Queues a prepared event; returns its id."""
        if not event.service and self._service:
            event.service = self._service
        self._batcher.add(event)
        return event.event_id


def list_request(
    start: datetime | None, end: datetime | None, oldest_first: bool, page_size: int, filters: dict[str, Any]
) -> query_pb2.ListEventsRequest:
    """ListEvents' first page request from the helpers' keywords."""
    request = query_pb2.ListEventsRequest(
        filter=event_filter(**filters),
        order=query_pb2.ORDER_OLDEST_FIRST if oldest_first else query_pb2.ORDER_NEWEST_FIRST,
        page_size=page_size,
    )
    set_times(request, start, end)
    return request
