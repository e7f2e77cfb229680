// What the SDK reports: a call's error with its decoded google.rpc details,
// and one event the server refused for good.

import { Code, ConnectError } from "@connectrpc/connect";
import type { Event } from "./gen/boost/common/v1/event_pb.js";
import { BadRequestSchema, QuotaFailureSchema, RetryInfoSchema } from "./gen/google/rpc/error_details_pb.js";

/** An event that was not delivered, with the field and reason. */
export interface Rejection {
  /** The event as sent. */
  event: Event;
  /** The offending field's path (e.g. `events[3].type`); empty for the whole event. */
  field: string;
  /** Why. */
  reason: string;
  /** Whether sending it later may work (e.g. dropped from a full queue, or given up). */
  retryable: boolean;
}

/** A failed call: the gRPC code, the server's message and its decoded details. */
export class BoostError extends Error {
  /** The gRPC status code. */
  readonly code: Code;
  /** The server's RetryInfo delay, in milliseconds. */
  readonly retryDelayMs?: number;
  /** BadRequest field violations: [field, description]. */
  readonly fieldViolations: [string, string][];
  /** QuotaFailure violations: [subject, description]. */
  readonly quotaViolations: [string, string][];

  constructor(error: ConnectError) {
    super(`${Code[error.code]}: ${error.rawMessage}`);
    this.name = "BoostError";
    this.code = error.code;
    const retry = error.findDetails(RetryInfoSchema)[0];
    if (retry?.retryDelay) {
      this.retryDelayMs = Number(retry.retryDelay.seconds) * 1000 + retry.retryDelay.nanos / 1e6;
    }
    this.fieldViolations = error
      .findDetails(BadRequestSchema)
      .flatMap((b) => b.fieldViolations.map((v): [string, string] => [v.field, v.description]));
    this.quotaViolations = error
      .findDetails(QuotaFailureSchema)
      .flatMap((q) => q.violations.map((v): [string, string] => [v.subject, v.description]));
  }

  /** Any thrown value as a BoostError (non-Connect errors become UNKNOWN). */
  static from(error: unknown): BoostError {
    return new BoostError(ConnectError.from(error));
  }
}
