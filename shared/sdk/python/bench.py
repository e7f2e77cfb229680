"""`BENCH=sdk make bench` (Python row): events/s from one Python process through
the SDK's batcher (batches of 100), against a private release stack, beside
the same events sent as bare IngestBatch calls from the same process (the
control: what the wire and the server allow without the batcher)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).parent / "tests"))

import boost  # noqa: E402
from boost import events  # noqa: E402
from boost.config import grpc_target  # noqa: E402
from boost.ingest.v1 import ingest_pb2, ingest_pb2_grpc  # noqa: E402
from boost.processor.v1 import processor_pb2, processor_pb2_grpc  # noqa: E402
from conftest import RunningStack, start_stack  # noqa: E402

EVENTS = int(os.environ.get("BOOST_BENCH_EVENTS", "50000"))
BATCH = 100


def wait_drained(stack: RunningStack, key: str) -> None:
    """Waits until the processor has stored everything (lag 0), so a phase
    does not share the machine with the previous phase's backlog."""
    with grpc.insecure_channel(grpc_target(stack.url("processor"))) as channel:
        status = processor_pb2_grpc.ProcessorServiceStub(channel)
        deadline = time.monotonic() + 180
        while status.GetStatus(processor_pb2.GetStatusRequest(), metadata=(("x-api-key", key),)).total_lag:
            if time.monotonic() > deadline:
                raise SystemExit("the processor did not drain in time")
            time.sleep(0.2)


def bare(stack: RunningStack, key: str) -> float:
    """Events/s of plain IngestBatch calls of 100 prepared events, one at a time."""
    batches = [
        ingest_pb2.IngestBatchRequest(events=[events.event("bench_bare", properties={"i": i}) for i in range(BATCH)])
        for _ in range(EVENTS // BATCH)
    ]
    with grpc.insecure_channel(grpc_target(stack.url("ingest"))) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        started = time.perf_counter()
        for request in batches:
            stub.IngestBatch(request, metadata=(("x-api-key", key),), timeout=30)
        return EVENTS / (time.perf_counter() - started)


def batcher(stack: RunningStack, key: str) -> tuple[float, boost.Stats]:
    """Events/s through Client.track (events built in the loop) until close() returns."""
    client = boost.Client(api_key=key, ingest_url=stack.url("ingest"), query_url=stack.url("query"), batch_size=BATCH)
    started = time.perf_counter()
    for i in range(EVENTS):
        client.track("bench_sdk", user_id=f"u{i % 1000}", properties={"i": i})
        if i % 5_000 == 4_999:
            # The queue is bounded (10,000): pace the producer as an app would.
            client.flush()
        if i % 10_000 == 9_999:
            print(f"  {i + 1} events queued", flush=True)
    client.close()
    return EVENTS / (time.perf_counter() - started), client.stats


def main() -> None:
    binary = Path(sys.argv[1])
    process, stack = start_stack(binary)
    try:
        key = stack.new_key()
        control = bare(stack, key)
        wait_drained(stack, key)
        rate, stats = batcher(stack, key)
        print(f"\nOne Python process, batches of {BATCH}, one call in flight, {EVENTS} events\n")
        print("| phase | events/s | ratio to control |")
        print("|---|---|---|")
        print(f"| bare IngestBatch calls of prepared events (control) | {control:.0f} | 1.00 |")
        print(f"| Client.track → batcher | {rate:.0f} | {rate / control:.2f} |")
        print(f"\ndelivered {stats.delivered}, dropped {stats.dropped}, retries {stats.retries}")
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
