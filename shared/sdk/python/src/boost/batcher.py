"""The background batcher: events queue up in memory (bounded) and are sent
as IngestBatch calls of ``batch_size`` events, at least every
``flush_interval`` seconds, retried by the shared policy with the same ids.

The delivery rules live in :func:`sort_results` and :func:`next_delay` so the
threaded batcher here and the asyncio one in :mod:`boost.aio` agree."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc

from boost.common.v1 import event_pb2
from boost.errors import BoostError, Rejection
from boost.ingest.v1 import ingest_pb2
from boost.retry import RETRYABLE, RetryPolicy

log = logging.getLogger("boost")

#: Called with each event the server refused for good, or that was dropped.
ErrorCallback = Callable[[Rejection], None]


def log_rejection(rejection: Rejection) -> None:
    """The default error callback: a warning naming the event, field and reason."""
    log.warning(
        "boost: event %s not delivered: %s %s",
        rejection.event.event_id,
        rejection.field or "(event)",
        rejection.reason,
    )


@dataclass
class Stats:
    """What the batcher has done so far; read it to see drops and retries."""

    #: Events taken into the queue.
    queued: int = 0
    #: Events the server accepted now.
    accepted: int = 0
    #: Events the server already had (a retry of a delivered batch): delivered.
    duplicates: int = 0
    #: Events refused for good (reported to the error callback).
    rejected: int = 0
    #: Events given up after the retry deadline (reported too).
    failed: int = 0
    #: Events not queued because the queue was full (reported too).
    dropped: int = 0
    #: IngestBatch calls made.
    batches: int = 0
    #: Tries after the first.
    retries: int = 0
    #: Seconds spent waiting before retries.
    retry_wait: float = 0.0
    #: The longest RetryInfo delay the server asked for.
    max_server_delay: float = 0.0

    @property
    def delivered(self) -> int:
        """Events the server has: accepted now or before."""
        return self.accepted + self.duplicates


@dataclass
class Sorted:
    """One batch answer sorted: counts, what to send again, what is refused."""

    accepted: int
    duplicates: int
    again: list[event_pb2.Event]
    refused: list[Rejection]


def sort_results(sent: Sequence[event_pb2.Event], answer: ingest_pb2.IngestBatchResponse) -> Sorted:
    """Sorts an IngestBatch answer: DUPLICATE counts as delivered; REJECTED
    with ``retryable`` goes again; other rejections are final."""
    out = Sorted(0, 0, [], [])
    for result in answer.results:
        event = sent[result.index]
        if result.status == ingest_pb2.EVENT_STATUS_ACCEPTED:
            out.accepted += 1
        elif result.status == ingest_pb2.EVENT_STATUS_DUPLICATE:
            out.duplicates += 1
        elif result.retryable:
            out.again.append(event)
        else:
            out.refused.append(Rejection(event, result.field, result.reason))
    return out


def next_delay(
    policy: RetryPolicy, attempt: int, started: float, error: BoostError | None
) -> float | None:
    """The wait before the next try, or ``None`` to give up: a whole-call
    error must be UNAVAILABLE or RESOURCE_EXHAUSTED, and the wait must end
    before the policy's deadline."""
    if error is not None and error.code not in RETRYABLE:
        return None
    server_delay = error.details.retry_delay if error is not None else None
    delay = policy.delay(attempt, server_delay)
    if time.monotonic() + delay - started > policy.deadline:
        return None
    return delay


def batch_request(events: Sequence[event_pb2.Event], ack: int) -> ingest_pb2.IngestBatchRequest:
    """The IngestBatch request for ``events`` at acknowledgement level ``ack``."""
    return ingest_pb2.IngestBatchRequest(events=list(events), ack=ack)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Batching:
    """How a client batches and retries; both batchers take it."""

    #: IngestBatchRequest.ack for every call.
    ack: int
    #: Events per IngestBatch call (1..1000).
    batch_size: int = 100
    #: Longest wait of a queued event before its batch goes (seconds).
    flush_interval: float = 0.2
    #: Most events waiting; more are reported and counted as dropped.
    max_queue: int = 10_000
    #: Retry timing.
    policy: RetryPolicy = RetryPolicy()
    #: Gets every event refused for good, dropped or given up.
    on_error: ErrorCallback = log_rejection


class EventQueue:
    """The bounded queue both batchers share (they add the locking or the
    wake-ups): what to refuse, when a batch is due, and the count of events
    not yet answered."""

    def __init__(self, batching: Batching, stats: Stats) -> None:
        if not 1 <= batching.batch_size <= 1000:
            raise ValueError("batch_size must be between 1 and 1000 (the server's batch limit)")
        self.batch_size = batching.batch_size
        self.flush_interval = batching.flush_interval
        self.max_queue = batching.max_queue
        self.stats = stats
        self.events: deque[event_pb2.Event] = deque()
        #: Events queued or in flight.
        self.unfinished = 0
        #: Callers waiting in flush().
        self.flushing = 0
        self.closed = False
        self._oldest = 0.0  # when the oldest queued event arrived

    def offer(self, event: event_pb2.Event) -> Rejection | None:
        """Queues ``event``, or says why not (full or closed) and counts it dropped."""
        if self.closed or len(self.events) >= self.max_queue:
            self.stats.dropped += 1
            reason = "client closed" if self.closed else f"client queue full ({self.max_queue} events)"
            return Rejection(event, "", reason, retryable=not self.closed)
        if not self.events:
            self._oldest = time.monotonic()
        self.events.append(event)
        self.unfinished += 1
        self.stats.queued += 1
        return None

    def wakes_sender(self) -> bool:
        """Whether the last offer should wake the sender (first event, or a full batch)."""
        return len(self.events) in (1, self.batch_size)

    def take(self) -> list[event_pb2.Event] | None:
        """A batch if one is due (full, the oldest waited ``flush_interval``,
        a flush or close asks), else ``None``."""
        due = len(self.events) >= self.batch_size or (
            bool(self.events)
            and (self.flushing > 0 or self.closed or time.monotonic() >= self._oldest + self.flush_interval)
        )
        if not due:
            return None
        count = min(self.batch_size, len(self.events))
        batch = [self.events.popleft() for _ in range(count)]
        self._oldest = time.monotonic()
        return batch

    def idle_wait(self) -> float | None:
        """How long the sender may sleep before a batch can be due (``None``: until woken)."""
        if not self.events:
            return None
        return max(0.0, self._oldest + self.flush_interval - time.monotonic())

    def finished(self, batch: list[event_pb2.Event]) -> None:
        """Marks a batch answered (or given up)."""
        self.unfinished -= len(batch)


class Delivery:
    """One batch on its way, for both batchers: each try's answer or error
    goes in; :meth:`next_wait` says how long to wait before sending
    :attr:`pending` again, or ``None`` when done. Counts go to ``stats``;
    events refused for good, or given up, go to ``on_error``."""

    def __init__(self, events: list[event_pb2.Event], batching: Batching, stats: Stats) -> None:
        self.pending = events
        self._policy = batching.policy
        self._stats = stats
        self._on_error = batching.on_error
        self._started = time.monotonic()
        self._attempt = 0
        self._error: BoostError | None = None

    def request(self, ack: int) -> ingest_pb2.IngestBatchRequest:
        """The next try's request: the pending events with their own ids."""
        self._stats.batches += 1
        self._error = None
        return batch_request(self.pending, ack)

    def answered(self, answer: ingest_pb2.IngestBatchResponse) -> None:
        """Takes an IngestBatch answer: what remains pending is what may go again."""
        result = sort_results(self.pending, answer)
        self._stats.accepted += result.accepted
        self._stats.duplicates += result.duplicates
        self._stats.rejected += len(result.refused)
        for rejection in result.refused:
            self._on_error(rejection)
        self.pending = result.again

    def failed(self, error: grpc.RpcError) -> None:
        """Takes a failed call: everything stays pending."""
        self._error = BoostError.from_rpc_error(error)

    def next_wait(self) -> float | None:
        """The wait before the next try, or ``None`` when nothing is left
        (delivered, refused, or given up and reported)."""
        if not self.pending:
            return None
        delay = next_delay(self._policy, self._attempt, self._started, self._error)
        if delay is None:
            self._give_up()
            return None
        if self._error is not None and self._error.details.retry_delay is not None:
            self._stats.max_server_delay = max(self._stats.max_server_delay, self._error.details.retry_delay)
        self._stats.retries += 1
        self._stats.retry_wait += delay
        self._attempt += 1
        return delay

    def _give_up(self) -> None:
        error = self._error
        reason = str(error) if error is not None else "still refused (retryable) at the retry deadline"
        field = error.details.field_violations[0][0] if error and error.details.field_violations else ""
        retryable = error is None or error.code in RETRYABLE
        if retryable:
            self._stats.failed += len(self.pending)
        else:
            self._stats.rejected += len(self.pending)
        for event in self.pending:
            self._on_error(Rejection(event, field, reason, retryable=retryable))
        self.pending = []


class Batcher:
    """Queues events and delivers them from one background thread."""

    def __init__(
        self,
        send: Callable[[ingest_pb2.IngestBatchRequest], ingest_pb2.IngestBatchResponse],
        batching: Batching,
    ) -> None:
        self._send = send
        self._batching = batching
        self.stats = Stats()
        self._queue = EventQueue(batching, self.stats)
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="boost-batcher", daemon=True)
        self._thread.start()

    def add(self, event: event_pb2.Event) -> bool:
        """Queues ``event``; ``False`` (and the error callback) when the
        queue is full or the batcher closed."""
        with self._lock:
            refused = self._queue.offer(event)
            if refused is None and self._queue.wakes_sender():
                self._lock.notify_all()
        if refused is not None:
            self._batching.on_error(refused)
        return refused is None

    def flush(self, timeout: float | None = None) -> bool:
        """Sends everything queued now and waits for the answers; ``False``
        when ``timeout`` passed first."""
        with self._lock:
            self._queue.flushing += 1
            self._lock.notify_all()
            try:
                return self._lock.wait_for(lambda: self._queue.unfinished == 0, timeout)
            finally:
                self._queue.flushing -= 1

    def close(self, timeout: float | None = None) -> bool:
        """Flushes, then stops the thread; later events are refused."""
        done = self.flush(timeout)
        with self._lock:
            self._queue.closed = True
            self._lock.notify_all()
        self._thread.join(timeout)
        return done

    def _take(self) -> list[event_pb2.Event] | None:
        """The next batch, waiting for one; ``None`` when closed and empty."""
        with self._lock:
            while (batch := self._queue.take()) is None:
                if self._queue.closed:
                    return None
                self._lock.wait(self._queue.idle_wait())
            return batch

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            try:
                delivery = Delivery(batch, self._batching, self.stats)
                while True:
                    try:
                        delivery.answered(self._send(delivery.request(self._batching.ack)))
                    except grpc.RpcError as error:
                        delivery.failed(error)
                    if (delay := delivery.next_wait()) is None:
                        break
                    time.sleep(delay)
            finally:
                with self._lock:
                    self._queue.finished(batch)
                    self._lock.notify_all()
