"""The synchronous client: send events through the background batcher, and
read them back through the query helpers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from types import TracebackType
from typing import Any

import grpc

from boost.base import BUCKETS, GROUP_BY, BaseClient, list_request
from boost.batcher import Batcher, Batching
from boost.errors import BoostError
from boost.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from boost.query.v1 import query_pb2, query_pb2_grpc
from boost.records import Group, StoredEvent, event_filter, groups, set_times


class Client(BaseClient):
    """A Boost client. Events go through a background thread's batcher
    (``flush`` and ``close`` wait for it); queries are plain calls. The
    options are :class:`boost.base.BaseClient`'s."""

    _batcher: Batcher

    def _connect(self, ingest: str, query: str, batching: Batching) -> None:
        self._ingest_channel = grpc.insecure_channel(ingest)
        self._query_channel = grpc.insecure_channel(query)
        self._ingest = ingest_pb2_grpc.IngestServiceStub(self._ingest_channel)
        self._query = query_pb2_grpc.QueryServiceStub(self._query_channel)
        self._batcher = Batcher(self._send_batch, batching)

    def flush(self, timeout: float | None = None) -> bool:
        """Sends everything queued and waits for the answers."""
        return self._batcher.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Flushes, stops the batcher and closes the channels."""
        done = self._batcher.close(timeout)
        self._ingest_channel.close()
        self._query_channel.close()
        return done

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send_batch(self, request: ingest_pb2.IngestBatchRequest) -> ingest_pb2.IngestBatchResponse:
        answer: ingest_pb2.IngestBatchResponse = self._ingest.IngestBatch(
            request, metadata=self._metadata, timeout=self._timeout
        )
        return answer

    # -- querying ---------------------------------------------------------

    def _call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, metadata=self._metadata, timeout=self._timeout)
        except grpc.RpcError as error:
            raise BoostError.from_rpc_error(error) from None

    def list_events(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        oldest_first: bool = False,
        page_size: int = 0,
        **filters: Any,
    ) -> Iterator[StoredEvent]:
        """Every matching event, page by page (filters: ``service``, ``type``,
        ``kind``, ``user_id``, ``min_severity``, ``properties``). The server's
        default window is the last 24 hours."""
        request = list_request(start, end, oldest_first, page_size, filters)
        while True:
            page: query_pb2.ListEventsResponse = self._call(self._query.ListEvents, request)
            yield from (StoredEvent.from_proto(e) for e in page.events)
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    def get_event(self, event_id: str) -> query_pb2.GetEventResponse:
        """One event: stored, or failed with the processor's reason."""
        answer: query_pb2.GetEventResponse = self._call(
            self._query.GetEvent, query_pb2.GetEventRequest(event_id=event_id)
        )
        return answer

    def aggregate(
        self,
        group_by: str,
        *,
        bucket: str = "hour",
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 0,
        **filters: Any,
    ) -> list[Group]:
        """Counts by ``service``, ``type``, ``kind``, ``user`` or ``time`` (per ``bucket``)."""
        request = query_pb2.AggregateRequest(
            group_by=GROUP_BY[group_by],
            bucket=BUCKETS[bucket],
            filter=event_filter(**filters),
            limit=limit,
        )
        set_times(request, start, end)
        answer: query_pb2.AggregateResponse = self._call(self._query.Aggregate, request)
        return groups(answer.groups)

    def metrics(self) -> query_pb2.GetMetricsResponse:
        """The project's totals, last hour, last 24 hours and top services."""
        answer: query_pb2.GetMetricsResponse = self._call(self._query.GetMetrics, query_pb2.GetMetricsRequest())
        return answer

    def tail(self, *, timeout: float | None = None, **filters: Any) -> Iterator[StoredEvent]:
        """Events stored from now on, as they arrive; closing the generator
        (or ``timeout`` seconds) ends the stream."""
        request = query_pb2.TailEventsRequest(filter=event_filter(**filters))
        call = self._query.TailEvents(request, metadata=self._metadata, timeout=timeout)
        try:
            for answer in call:
                yield from (StoredEvent.from_proto(e) for e in answer.events)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise BoostError.from_rpc_error(error) from None
        finally:
            call.cancel()
