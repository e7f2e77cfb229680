"""The Python SDK against a real stack: the batcher's ledger, rate limits
with RetryInfo, rejections reaching the error callback, the query helpers,
the live tail and the asyncio client."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import boost
from boost.errors import Rejection

from conftest import RunningStack

LEDGER_EVENTS = 10_000


def client(stack: RunningStack, key: str, **options: object) -> boost.Client:
    targets = {"ingest_url": stack.url("ingest"), "query_url": stack.url("query")}
    return boost.Client(api_key=key, **{**targets, **options})  # type: ignore[arg-type]


def stored_counts(c: boost.Client, **filters: object) -> Counter[str]:
    """How many times each event id is stored (via ListEvents, every page)."""
    return Counter(e.event_id for e in c.list_events(page_size=1000, **filters))


def wait_for(check: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_ledger_of_10000_events_is_stored_exactly_once(stack: RunningStack, key: str) -> None:
    c = client(stack, key, ack="broker")
    ledger = [c.track("ledger", user_id=f"u{i % 50}", properties={"i": i}, service="ledger") for i in range(LEDGER_EVENTS)]
    assert c.close(timeout=120), "close() did not finish"
    assert c.stats.delivered == LEDGER_EVENTS, c.stats
    assert c.stats.rejected == c.stats.dropped == c.stats.failed == 0, c.stats
    reader = client(stack, key)
    assert wait_for(lambda: sum(stored_counts(reader, service="ledger").values()) >= LEDGER_EVENTS, 60)
    counts = stored_counts(reader, service="ledger")
    assert set(counts) == set(ledger), "every acknowledged id is stored"
    assert max(counts.values()) == 1, "no id is stored twice"
    reader.close()


def test_rate_limited_client_waits_for_retry_info_then_delivers(stack: RunningStack, key: str) -> None:
    limit = int(stack.env["BOOST_LIMITED_EVENTS"])
    c = client(stack, key, ingest_url=stack.url("limited_ingest"))
    sent = [c.track("limited", service="limited") for _ in range(limit * 3)]
    assert c.close(timeout=60)
    assert c.stats.delivered == len(sent), c.stats
    assert c.stats.retries > 0, "the limit was never hit"
    assert c.stats.max_server_delay >= 1.0, "the server sent a RetryInfo delay"
    assert c.stats.retry_wait >= c.stats.max_server_delay, "the client waited at least that long"
    reader = client(stack, key)
    assert wait_for(lambda: set(stored_counts(reader, service="limited")) == set(sent), 30)
    reader.close()


def test_rejected_event_reaches_the_error_callback_with_its_field(stack: RunningStack, key: str) -> None:
    rejected: list[Rejection] = []
    c = client(stack, key, on_error=rejected.append)
    good = c.track("fine")
    bad = c.track("not a valid type!")
    c.close(timeout=30)
    assert [r.event.event_id for r in rejected] == [bad]
    assert rejected[0].field.endswith(".type"), rejected[0]
    assert not rejected[0].retryable
    assert c.stats.accepted == 1 and c.stats.rejected == 1, c.stats
    assert good != bad


def test_query_helpers_list_aggregate_and_metrics(stack: RunningStack, key: str) -> None:
    c = client(stack, key, ack="committed")
    for i in range(30):
        c.track("page_viewed" if i % 3 else "signup", user_id="u1" if i < 10 else "u2", service="web")
    c.log("disk almost full", severity="warn", logger="ops")
    c.metric("latency", 12.5, unit="ms")
    c.identify("u1", {"plan": "pro"})
    c.flush(timeout=30)
    assert c.stats.accepted == 33, c.stats
    assert wait_for(lambda: sum(1 for _ in c.list_events()) == 33, 20)
    u1 = list(c.list_events(user_id="u1", type="page_viewed"))
    assert len(u1) == 6 and all(e.user_id == "u1" for e in u1)
    logs = list(c.list_events(kind="log", min_severity="warn"))
    assert [e.type for e in logs] == ["ops"]
    by_type = {g.key: g.count for g in c.aggregate("type")}
    assert by_type["page_viewed"] == 20 and by_type["signup"] == 10
    hours = c.aggregate("time", bucket="hour", start=datetime.now(timezone.utc) - timedelta(hours=2))
    assert sum(g.count for g in hours) == 33 and all(g.bucket_start for g in hours)
    assert c.metrics().last_hour == 33
    c.close()


def test_tail_yields_events_sent_after_it_started(stack: RunningStack, key: str) -> None:
    c = client(stack, key, ack="committed")
    c.track("before", service="tail")
    c.flush()  # stored before the tail starts
    seen: list[str] = []
    started = threading.Event()

    def follow() -> None:
        started.set()
        for stored in c.tail(timeout=20, service="tail"):
            seen.append(stored.type)
            if stored.type == "after":
                return

    reader = threading.Thread(target=follow)
    reader.start()
    started.wait()
    time.sleep(1.5)  # the tail starts from the time of its first poll
    c.track("after", service="tail")
    c.flush()
    reader.join(timeout=25)
    assert seen == ["after"], seen
    c.close()


def test_async_client_delivers_and_lists(stack: RunningStack, key: str) -> None:
    async def run() -> None:
        async with boost.AsyncClient(
            api_key=key, ingest_url=stack.url("ingest"), query_url=stack.url("query"), ack="committed"
        ) as c:
            ids = [c.track("async", properties={"n": i}) for i in range(500)]
            assert await c.flush(timeout=60)
            assert c.stats.accepted == 500, c.stats
            stored = [e.event_id async for e in c.list_events(type="async", page_size=1000)]
            assert sorted(stored) == sorted(ids)

    asyncio.run(run())


def test_duplicate_after_a_retry_counts_as_delivered(stack: RunningStack, key: str) -> None:
    c = client(stack, key)
    event_id = boost.new_event_id()
    c.track("once", event_id=event_id)
    c.flush()
    c.track("once", event_id=event_id)
    c.close()
    assert c.stats.accepted == 1 and c.stats.duplicates == 1 and c.stats.delivered == 2, c.stats


def readme_examples() -> list[tuple[str, str]]:
    """The Python blocks of the READMEs that use a client."""
    import re

    from conftest import ROOT

    out = []
    for readme in (ROOT / "README.md", ROOT / "shared/sdk/python/README.md"):
        for block in re.findall(r"```python\n(.*?)```", readme.read_text(), re.S):
            if "boost.Client" in block:
                out.append((str(readme.relative_to(ROOT)), block))
    return out


def test_readme_examples_work_as_printed(stack: RunningStack, key: str) -> None:
    import os
    import subprocess
    import sys

    examples = readme_examples()
    assert len(examples) >= 2, "the README and the SDK README each show an example"
    env = dict(
        os.environ,
        BOOST_API_KEY=key,
        BOOST_INGEST_URL=stack.url("ingest"),
        BOOST_QUERY_URL=stack.url("query"),
    )
    for where, code in examples:
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, f"{where}: {run.stderr}"
        assert "signup_completed" in run.stdout, f"{where} printed: {run.stdout!r}"
