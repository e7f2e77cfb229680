"""`BENCH=python-sdk make bench`: events/s from one Python process through
the SDK's batcher (batches of 100), against a private release stack, beside
the same events sent as bare IngestBatch calls from the same process (the
control: what the wire and the server allow without the batcher)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).parent / "tests"))

import boost  # noqa: E402
from boost import events  # noqa: E402
from boost.config import grpc_target  # noqa: E402
from boost.ingest.v1 import ingest_pb2, ingest_pb2_grpc  # noqa: E402
from conftest import RunningStack  # noqa: E402

EVENTS = int(os.environ.get("BOOST_BENCH_EVENTS", "50000"))
BATCH = 100


def start_stack(binary: Path) -> tuple[subprocess.Popen[str], RunningStack]:
    process = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    env = {}
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip() == "READY":
            return process, RunningStack(env)
        key, _, value = line.strip().partition("=")
        env[key] = value
    raise SystemExit("boost-test-stack exited before it was ready")


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
        rate, stats = batcher(stack, key)
        print(f"python sdk: {EVENTS} events, batches of {BATCH}, one process")
        print(f"  bare IngestBatch calls (control): {control:10.0f} events/s")
        print(f"  Client.track + batcher:           {rate:10.0f} events/s ({rate / control:.2f} of control)")
        print(f"  delivered {stats.delivered}, rejected {stats.rejected}, retries {stats.retries}")
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
