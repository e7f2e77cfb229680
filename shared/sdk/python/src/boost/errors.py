"""What the SDK reports: a call's error with its decoded details, and one
event the server refused for good."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from boost.common.v1 import event_pb2


@dataclass
class Rejection:
    """An event the server refused and that sending again will not fix (or
    that could not be sent before the deadline): the field and reason say why."""

    event: event_pb2.Event
    field: str
    reason: str
    retryable: bool = False


@dataclass
class CallDetails:
    """The ``google.rpc`` details of a failed call, decoded."""

    retry_delay: float | None = None
    field_violations: list[tuple[str, str]] = field(default_factory=list)
    quota_violations: list[tuple[str, str]] = field(default_factory=list)


class BoostError(Exception):
    """A call failed: the gRPC code, the server's message and its details."""

    def __init__(self, code: grpc.StatusCode, message: str, details: CallDetails) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.details = details

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> BoostError:
        """Decodes a failed call (sync or asyncio)."""
        code: grpc.StatusCode = error.code()
        message: str = error.details() or ""
        return cls(code, message, decode_details(error))


def decode_details(error: grpc.RpcError) -> CallDetails:
    """RetryInfo, BadRequest and QuotaFailure from the call's status details."""
    details = CallDetails()
    try:
        status = rpc_status.from_call(error)
    except ValueError:
        return details
    if status is None:
        return details
    for any_detail in status.details:
        if any_detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            any_detail.Unpack(info)
            details.retry_delay = info.retry_delay.ToTimedelta().total_seconds()
        elif any_detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            any_detail.Unpack(bad)
            details.field_violations += [(v.field, v.description) for v in bad.field_violations]
        elif any_detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            quota = error_details_pb2.QuotaFailure()
            any_detail.Unpack(quota)
            details.quota_violations += [(v.subject, v.description) for v in quota.violations]
    return details
