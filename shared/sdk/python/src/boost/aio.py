"""The asyncio client, on ``grpc.aio``: the same event helpers and delivery
rules as :class:`boost.Client`, with an asyncio task as the batcher."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from boost.base import BaseClient, list_request
from boost.batcher import Batching, Delivery, EventQueue, Stats
from boost.common.v1 import event_pb2
from boost.errors import BoostError
from boost.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from boost.query.v1 import query_pb2, query_pb2_grpc
from boost.records import StoredEvent


class AsyncBatcher:
    """Queues events and delivers them from one asyncio task (started on the
    first event, inside the running loop)."""

    def __init__(
        self,
        send: Callable[[ingest_pb2.IngestBatchRequest], Awaitable[ingest_pb2.IngestBatchResponse]],
        batching: Batching,
    ) -> None:
        self._send = send
        self._batching = batching
        self.stats = Stats()
        self._queue = EventQueue(batching, self.stats)
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, event: event_pb2.Event) -> bool:
        """Queues ``event``; ``False`` (and the error callback) when full or closed."""
        refused = self._queue.offer(event)
        if refused is not None:
            self._batching.on_error(refused)
            return False
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        self._changed.set()
        return True

    async def _wait(self, timeout: float | None) -> None:
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def flush(self, timeout: float | None = None) -> bool:
        """Sends everything queued and waits for the answers."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._queue.flushing += 1
        try:
            self._changed.set()
            while self._queue.unfinished > 0:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                await self._wait(left)
            return True
        finally:
            self._queue.flushing -= 1

    async def close(self, timeout: float | None = None) -> bool:
        """Flushes, then stops the task; later events are refused."""
        done = await self.flush(timeout)
        self._queue.closed = True
        self._changed.set()
        if self._task is not None:
            await asyncio.wait([self._task], timeout=timeout)
        return done

    async def _take(self) -> list[event_pb2.Event] | None:
        while (batch := self._queue.take()) is None:
            if self._queue.closed:
                return None
            await self._wait(self._queue.idle_wait())
        return batch

    async def _run(self) -> None:
        while (batch := await self._take()) is not None:
            try:
                delivery = Delivery(batch, self._batching, self.stats)
                while True:
                    try:
                        delivery.answered(await self._send(delivery.request(self._batching.ack)))
                    except grpc.RpcError as error:
                        delivery.failed(error)
                    if (delay := delivery.next_wait()) is None:
                        break
                    await asyncio.sleep(delay)
            finally:
                self._queue.finished(batch)
                self._changed.set()


class AsyncClient(BaseClient):
    """The asyncio Boost client: ``track`` and friends queue without
    blocking; ``await flush()`` / ``await close()`` wait for delivery."""

    _batcher: AsyncBatcher

    def _connect(self, ingest: str, query: str, batching: Batching) -> None:
        self._ingest_channel = grpc.aio.insecure_channel(ingest)
        self._query_channel = grpc.aio.insecure_channel(query)
        self._ingest = ingest_pb2_grpc.IngestServiceStub(self._ingest_channel)
        self._query = query_pb2_grpc.QueryServiceStub(self._query_channel)
        self._batcher = AsyncBatcher(self._send_batch, batching)

    async def flush(self, timeout: float | None = None) -> bool:
        """Sends everything queued and waits for the answers."""
        return await self._batcher.flush(timeout)

    async def close(self, timeout: float | None = None) -> bool:
        """Flushes, stops the batcher and closes the channels."""
        done = await self._batcher.close(timeout)
        await self._ingest_channel.close()
        await self._query_channel.close()
        return done

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _send_batch(self, request: ingest_pb2.IngestBatchRequest) -> ingest_pb2.IngestBatchResponse:
        answer: ingest_pb2.IngestBatchResponse = await self._ingest.IngestBatch(
            request, metadata=self._metadata, timeout=self._timeout
        )
        return answer

    async def list_events(
        self,
        *,
        start: Any = None,
        end: Any = None,
        oldest_first: bool = False,
        page_size: int = 0,
        **filters: Any,
    ) -> AsyncIterator[StoredEvent]:
        """Every matching event, page by page (the same filters as ``Client.list_events``)."""
        request = list_request(start, end, oldest_first, page_size, filters)
        while True:
            try:
                page: query_pb2.ListEventsResponse = await self._query.ListEvents(
                    request, metadata=self._metadata, timeout=self._timeout
                )
            except grpc.RpcError as error:
                raise BoostError.from_rpc_error(error) from None
            for stored in page.events:
                yield StoredEvent.from_proto(stored)
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token
