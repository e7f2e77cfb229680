// The client: events go through the background batcher; queries are plain
// calls. Transport-agnostic: `node.ts` builds it over gRPC (HTTP/2) straight
// to the services, `web.ts` over gRPC-web through the edge.

import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createClient, type CallOptions, type Client as RpcClient, type Transport } from "@connectrpc/connect";
import { Batcher, logRejection, type ErrorCallback, type Stats } from "./batcher.js";
import { BoostError } from "./errors.js";
import {
  buildEvent,
  logEvent,
  metricEvent,
  SEVERITIES,
  spanEvent,
  type EventFields,
  type SeverityName,
  type SpanFields,
} from "./events.js";
import { EventKind, type Event } from "./gen/boost/common/v1/event_pb.js";
import { AckLevel, IngestService } from "./gen/boost/ingest/v1/ingest_pb.js";
import {
  Bucket,
  EventFilterSchema,
  GroupBy,
  ListEventsRequestSchema,
  Order,
  QueryService,
  type EventFilter,
  type GetEventResponse,
  type GetMetricsResponse,
  type StoredEvent as StoredEventMessage,
} from "./gen/boost/query/v1/query_pb.js";
import { DEFAULT_RETRY, type RetryPolicy } from "./retry.js";

/** The services' transports: one per service, or the same edge for both. */
export interface Transports {
  /** Where IngestService is. */
  ingest: Transport;
  /** Where QueryService is. */
  query: Transport;
}

/** What every client takes (all optional but a credential). */
export interface ClientOptions {
  /** An API key, sent as `x-api-key`. */
  apiKey?: string;
  /** A JWT, sent as `authorization: Bearer`. */
  token?: string;
  /** Default `service` of the events sent. */
  service?: string;
  /** "broker" (default) or "committed" (answered once stored: read-your-writes). */
  ack?: "broker" | "committed";
  /** Events per IngestBatch call (default 100, at most 1000). */
  batchSize?: number;
  /** Longest wait of a queued event (default 200 ms). */
  flushIntervalMs?: number;
  /** Most events waiting (default 10,000); more are reported, not queued. */
  maxQueue?: number;
  /** Retry timing; defaults as in every SDK. */
  retry?: Partial<RetryPolicy>;
  /** Gets each event not delivered; defaults to a console warning. */
  onError?: ErrorCallback;
  /** Deadline of each call (default 10 s). */
  timeoutMs?: number;
}

/** Event kinds by name, as the filters take them. */
export const KINDS = {
  track: EventKind.TRACK,
  identify: EventKind.IDENTIFY,
  log: EventKind.LOG,
  metric: EventKind.METRIC,
  span: EventKind.SPAN,
} as const;

/** ListEvents', TailEvents' and Aggregate's filters. */
export interface Filters {
  service?: string;
  type?: string;
  kind?: keyof typeof KINDS;
  userId?: string;
  minSeverity?: SeverityName;
  /** Containment on properties. */
  properties?: JsonObject;
}

/** A time range; the server's default is the last 24 hours. */
export interface Range {
  start?: Date;
  end?: Date;
}

/** One stored event as plain values, and the message. */
export interface StoredEvent {
  eventId: string;
  type: string;
  kind: string;
  userId: string;
  service: string;
  properties: JsonObject;
  at: Date;
  receivedAt: Date;
  raw: Event;
}

/** One Aggregate group. */
export interface Group {
  /** Service, type, kind name or user; empty for time buckets. */
  key: string;
  bucketStart?: Date;
  count: number;
}

function view(stored: StoredEventMessage): StoredEvent {
  const event = stored.event!;
  return {
    eventId: event.eventId,
    type: event.type,
    kind: EventKind[event.kind].toLowerCase(),
    userId: event.userId,
    service: event.service,
    properties: event.properties ?? {},
    at: timestampDate(event.timestamp!),
    receivedAt: timestampDate(stored.receiveTime!),
    raw: event,
  };
}

function filter(filters: Filters): EventFilter {
  return create(EventFilterSchema, {
    service: filters.service ?? "",
    type: filters.type ?? "",
    userId: filters.userId ?? "",
    kind: filters.kind ? KINDS[filters.kind] : EventKind.UNSPECIFIED,
    minSeverity: filters.minSeverity ? SEVERITIES[filters.minSeverity] : 0,
    properties: filters.properties,
  });
}

function times(range: Range) {
  return {
    startTime: range.start ? timestampFromDate(range.start) : undefined,
    endTime: range.end ? timestampFromDate(range.end) : undefined,
  };
}

/** A Boost client over the given transports. */
export class Client {
  private readonly ingest: RpcClient<typeof IngestService>;
  private readonly query: RpcClient<typeof QueryService>;
  private readonly batcher: Batcher;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly service: string;

  constructor(transports: Transports, options: ClientOptions) {
    if (!options.apiKey && !options.token) {
      throw new TypeError("pass apiKey or token");
    }
    if (options.ack !== undefined && options.ack !== "broker" && options.ack !== "committed") {
      throw new RangeError(`ack must be "broker" or "committed", got ${String(options.ack)}`);
    }
    this.headers = options.token ? { authorization: `Bearer ${options.token}` } : { "x-api-key": options.apiKey! };
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.service = options.service ?? "";
    this.ingest = createClient(IngestService, transports.ingest);
    this.query = createClient(QueryService, transports.query);
    this.batcher = new Batcher((request) => this.ingest.ingestBatch(request, this.call()), {
      ack: options.ack === "committed" ? AckLevel.COMMITTED : AckLevel.BROKER,
      batchSize: options.batchSize ?? 100,
      flushIntervalMs: options.flushIntervalMs ?? 200,
      maxQueue: options.maxQueue ?? 10_000,
      retry: { ...DEFAULT_RETRY, ...options.retry },
      onError: options.onError ?? logRejection,
    });
  }

  private call(extra: CallOptions = {}): CallOptions {
    return { headers: this.headers, timeoutMs: this.timeoutMs, ...extra };
  }

  /** The batcher's counters. */
  get stats(): Stats {
    return this.batcher.stats;
  }

  /** Queues a prepared event; returns its id. */
  send(event: Event): string {
    if (!event.service && this.service) {
      event.service = this.service;
    }
    this.batcher.add(event);
    return event.eventId;
  }

  /** Queues a product event; returns its id (UUIDv7 unless given). */
  track(type: string, fields: EventFields = {}): string {
    return this.send(buildEvent(type, EventKind.TRACK, fields));
  }

  /** Queues the end user's traits; returns the event id. */
  identify(userId: string, traits: JsonObject = {}, fields: EventFields = {}): string {
    return this.send(buildEvent("identify", EventKind.IDENTIFY, { ...fields, userId, properties: traits }));
  }

  /** Queues a log line (`logger` is its type); returns the event id. */
  log(message: string, options: EventFields & { severity?: SeverityName; logger?: string } = {}): string {
    return this.send(logEvent(message, options.severity ?? "info", options.logger ?? "app", options));
  }

  /** Queues one metric sample; returns the event id. */
  metric(name: string, value: number, options: EventFields & { unit?: string } = {}): string {
    return this.send(metricEvent(name, value, options.unit ?? "", options));
  }

  /** Queues a finished span; returns the event id. */
  span(name: string, span: SpanFields): string {
    return this.send(spanEvent(name, span));
  }

  /** Sends everything queued and waits for the answers. */
  flush(timeoutMs?: number): Promise<boolean> {
    return this.batcher.flush(timeoutMs);
  }

  /** Flushes; later events are refused. */
  close(timeoutMs?: number): Promise<boolean> {
    return this.batcher.close(timeoutMs);
  }

  /** Every matching event, page by page. */
  async *listEvents(
    filters: Filters & Range & { oldestFirst?: boolean; pageSize?: number } = {},
  ): AsyncGenerator<StoredEvent> {
    const request = create(ListEventsRequestSchema, {
      filter: filter(filters),
      order: filters.oldestFirst ? Order.OLDEST_FIRST : Order.NEWEST_FIRST,
      pageSize: filters.pageSize ?? 0,
      ...times(filters),
    });
    for (;;) {
      const page = await this.query.listEvents(request, this.call()).catch((e: unknown) => {
        throw BoostError.from(e);
      });
      yield* page.events.map(view);
      if (!page.nextPageToken) {
        return;
      }
      request.pageToken = page.nextPageToken;
    }
  }

  /** One event: stored, or failed with the processor's reason. */
  getEvent(eventId: string): Promise<GetEventResponse> {
    return this.query.getEvent({ eventId }, this.call()).catch((e: unknown) => {
      throw BoostError.from(e);
    });
  }

  /** Counts by service, type, kind, user or time bucket. */
  async aggregate(
    groupBy: "service" | "type" | "kind" | "user" | "time",
    options: Filters & Range & { bucket?: "minute" | "hour" | "day"; limit?: number } = {},
  ): Promise<Group[]> {
    const buckets = { minute: Bucket.MINUTE, hour: Bucket.HOUR, day: Bucket.DAY };
    const dimensions = {
      service: GroupBy.SERVICE,
      type: GroupBy.TYPE,
      kind: GroupBy.KIND,
      user: GroupBy.USER,
      time: GroupBy.TIME,
    };
    const answer = await this.query
      .aggregate(
        {
          groupBy: dimensions[groupBy],
          bucket: buckets[options.bucket ?? "hour"],
          filter: filter(options),
          limit: options.limit ?? 0,
          ...times(options),
        },
        this.call(),
      )
      .catch((e: unknown) => {
        throw BoostError.from(e);
      });
    return answer.groups.map((g) => ({
      key: g.key,
      bucketStart: g.bucketStart ? timestampDate(g.bucketStart) : undefined,
      count: Number(g.count),
    }));
  }

  /** The project's totals, last hour, last 24 hours and top services. */
  metrics(): Promise<GetMetricsResponse> {
    return this.query.getMetrics({}, this.call()).catch((e: unknown) => {
      throw BoostError.from(e);
    });
  }

  /** Events stored from now on, as they arrive; abort `signal` to stop. */
  async *tail(filters: Filters = {}, signal?: AbortSignal): AsyncGenerator<StoredEvent> {
    try {
      for await (const answer of this.query.tailEvents({ filter: filter(filters) }, { headers: this.headers, signal })) {
        yield* answer.events.map(view);
      }
    } catch (e) {
      if (signal?.aborted) {
        return;
      }
      throw BoostError.from(e);
    }
  }
}
