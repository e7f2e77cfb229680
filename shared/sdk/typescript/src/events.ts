// Building boost.common.v1.Event messages from plain values, with
// client-made UUIDv7 ids so a retried batch is deduplicated by the server.

import { create, type JsonObject } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { EventKind, EventSchema, Severity, type Event } from "./gen/boost/common/v1/event_pb.js";

/** Log severities by name, as `log()` takes them. */
export const SEVERITIES = {
  trace: Severity.TRACE,
  debug: Severity.DEBUG,
  info: Severity.INFO,
  warn: Severity.WARN,
  error: Severity.ERROR,
  fatal: Severity.FATAL,
} as const;

/** A severity name. */
export type SeverityName = keyof typeof SEVERITIES;

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits.
 * Time-ordered, so the server's indexes stay compact.
 */
export function newEventId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  let millis = Date.now();
  for (let i = 5; i >= 0; i--) {
    bytes[i] = millis % 256;
    millis = Math.floor(millis / 256);
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x70; // version 7
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** What every event helper takes besides its own fields. */
export interface EventFields {
  /** The application's id for the end user. */
  userId?: string;
  /** JSON-like properties (attributes for telemetry). */
  properties?: JsonObject;
  /** The emitting service; defaults to the client's `service`. */
  service?: string;
  /** When it happened; defaults to now. */
  at?: Date;
  /** Choose the id instead of a new UUIDv7. */
  eventId?: string;
}

/** One event of `kind`, its id made now unless given. */
export function buildEvent(type: string, kind: EventKind, fields: EventFields = {}): Event {
  return create(EventSchema, {
    eventId: fields.eventId ?? newEventId(),
    type,
    kind,
    userId: fields.userId ?? "",
    service: fields.service ?? "",
    properties: fields.properties ?? {},
    timestamp: timestampFromDate(fields.at ?? new Date()),
  });
}

/** A log line's event; `logger` is its type. */
export function logEvent(message: string, severity: SeverityName, logger: string, fields: EventFields = {}): Event {
  const level = SEVERITIES[severity];
  if (level === undefined) {
    throw new RangeError(`severity must be one of ${Object.keys(SEVERITIES).join(", ")}, got ${String(severity)}`);
  }
  const event = buildEvent(logger, EventKind.LOG, fields);
  event.body = { case: "log", value: { $typeName: "boost.common.v1.LogBody", severity: level, message } };
  return event;
}

/** One metric sample's event. */
export function metricEvent(name: string, value: number, unit: string, fields: EventFields = {}): Event {
  const event = buildEvent(name, EventKind.METRIC, fields);
  event.body = { case: "metric", value: { $typeName: "boost.common.v1.MetricBody", name, value, unit } };
  return event;
}

/** What a finished span carries. */
export interface SpanFields extends EventFields {
  /** W3C trace id, 32 lowercase hex digits. */
  traceId: string;
  /** W3C span id, 16 lowercase hex digits. */
  spanId: string;
  /** Parent span id, or empty for a root span. */
  parentSpanId?: string;
  /** How long it took. */
  durationMs: number;
  /** Whether it ended in an error. */
  error?: boolean;
}

/** A finished span's event (`at` is its start). */
export function spanEvent(name: string, span: SpanFields): Event {
  const event = buildEvent(name, EventKind.SPAN, span);
  event.body = {
    case: "span",
    value: {
      $typeName: "boost.common.v1.SpanBody",
      traceId: span.traceId,
      spanId: span.spanId,
      parentSpanId: span.parentSpanId ?? "",
      duration: durationFromMs(span.durationMs),
      error: span.error ?? false,
    },
  };
  return event;
}
