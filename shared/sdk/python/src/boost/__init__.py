"""Boost SDK: send product events, logs, metrics and spans to Boost with
batching, client-made idempotent ids and retries that honour the server's
RetryInfo; read them back with the query helpers.

    import os, boost
    c = boost.Client(api_key=os.environ["BOOST_API_KEY"])
    c.track("signup_completed", user_id="u1", properties={"plan": "pro"})
    c.close()
"""

from boost.aio import AsyncClient
from boost.batcher import Stats
from boost.client import Client
from boost.errors import BoostError, Rejection
from boost.events import new_event_id
from boost.records import Group, StoredEvent
from boost.retry import RetryPolicy

__all__ = [
    "AsyncClient",
    "BoostError",
    "Client",
    "Group",
    "Rejection",
    "RetryPolicy",
    "Stats",
    "StoredEvent",
    "new_event_id",
]
