"""The retry policy every SDK shares: UNAVAILABLE and RESOURCE_EXHAUSTED
are retried after the server's RetryInfo delay, else after an exponential
backoff with full jitter, capped, within an overall deadline."""

from __future__ import annotations

import random
from dataclasses import dataclass

import grpc

#: Codes a batch is sent again for (with the same event ids).
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait between tries, and for how long to keep trying."""

    #: First backoff when the server gives no delay (seconds).
    initial_backoff: float = 0.1
    #: Longest backoff (seconds).
    max_backoff: float = 5.0
    #: Backoff growth per try.
    multiplier: float = 2.0
    #: Give up on a batch this long after its first try (seconds).
    deadline: float = 60.0

    def delay(self, attempt: int, server_delay: float | None) -> float:
        """The wait before try ``attempt + 1``: the server's RetryInfo delay
        when it gave one, else a jittered exponential backoff."""
        if server_delay is not None:
            return server_delay
        ceiling = min(self.max_backoff, self.initial_backoff * self.multiplier**attempt)
        return random.uniform(0, ceiling)
