"""Where the services are and how to authenticate: arguments first, then the
environment (``BOOST_API_KEY``, ``BOOST_INGEST_URL``, ``BOOST_QUERY_URL``), then
the local ports ``make run`` uses."""

from __future__ import annotations

import os
from dataclasses import dataclass

#: Ingest's address under ``make run``.
DEFAULT_INGEST = "127.0.0.1:50052"
#: Query's address under ``make run``.
DEFAULT_QUERY = "127.0.0.1:50053"


def grpc_target(url: str) -> str:
    """A gRPC target from ``http://host:port`` or ``host:port`` (TLS is not
    served yet, so ``https://`` is refused rather than silently downgraded)."""
    if url.startswith("https://"):
        raise ValueError(f"{url}: TLS targets are not supported yet; use http://")
    return url.removeprefix("http://").rstrip("/")


@dataclass(frozen=True)
class Credentials:
    """An API key or a JWT, sent as call metadata on every request."""

    api_key: str | None = None
    token: str | None = None

    @classmethod
    def resolve(cls, api_key: str | None, token: str | None) -> Credentials:
        """The arguments, else ``BOOST_API_KEY``; one of the two is required."""
        if api_key is None and token is None:
            api_key = os.environ.get("BOOST_API_KEY")
        if not api_key and not token:
            raise ValueError("pass api_key= or token=, or set BOOST_API_KEY")
        return cls(api_key=api_key, token=token)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The metadata pairs for a call."""
        if self.token:
            return (("authorization", f"Bearer {self.token}"),)
        assert self.api_key is not None
        return (("x-api-key", self.api_key),)


def target(argument: str | None, env: str, default: str) -> str:
    """A service's gRPC target: the argument, else ``env``, else ``default``."""
    return grpc_target(argument or os.environ.get(env) or default)
