// @boost/sdk: the transport-agnostic client and its types. Import
// `@boost/sdk/node` (gRPC) or `@boost/sdk/web` (gRPC-web) for a ready client.

export { Client, KINDS } from "./client.js";
export type { ClientOptions, Filters, Group, Range, StoredEvent, Transports } from "./client.js";
export { Batcher, logRejection } from "./batcher.js";
export type { Batching, ErrorCallback, Stats } from "./batcher.js";
export { BoostError } from "./errors.js";
export type { Rejection } from "./errors.js";
export { newEventId, SEVERITIES } from "./events.js";
export type { EventFields, SeverityName, SpanFields } from "./events.js";
export { DEFAULT_RETRY, RETRYABLE } from "./retry.js";
export type { RetryPolicy } from "./retry.js";
