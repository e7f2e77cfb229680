// The background batcher: events queue up in memory (bounded) and are sent
// as IngestBatch calls of `batchSize` events, at least every
// `flushIntervalMs`, one call at a time, retried by the shared policy with
// the same ids. Its rules match the Python SDK's batcher.

import { create } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import type { Event } from "./gen/boost/common/v1/event_pb.js";
import {
  AckLevel,
  EventStatus,
  IngestBatchRequestSchema,
  type IngestBatchRequest,
  type IngestBatchResponse,
} from "./gen/boost/ingest/v1/ingest_pb.js";
import { BoostError, type Rejection } from "./errors.js";
import { RETRYABLE, retryDelay, type RetryPolicy } from "./retry.js";

/** Called with each event refused for good, dropped, or given up. */
export type ErrorCallback = (rejection: Rejection) => void;

/** How a client batches and retries. */
export interface Batching {
  /** IngestBatchRequest.ack for every call. */
  ack: AckLevel;
  /** Events per call (1..1000). */
  batchSize: number;
  /** Longest wait of a queued event before its batch goes (ms). */
  flushIntervalMs: number;
  /** Most events waiting; more are reported and counted as dropped. */
  maxQueue: number;
  /** Retry timing. */
  retry: RetryPolicy;
  /** Gets every event refused for good, dropped or given up. */
  onError: ErrorCallback;
}

/** What the batcher has done so far. */
export interface Stats {
  /** Events taken into the queue. */
  queued: number;
  /** Events the server accepted now. */
  accepted: number;
  /** Events the server already had (a retried batch): delivered. */
  duplicates: number;
  /** Events refused for good. */
  rejected: number;
  /** Events given up at the retry deadline. */
  failed: number;
  /** Events not queued (queue full or client closed). */
  dropped: number;
  /** IngestBatch calls made. */
  batches: number;
  /** Tries after the first. */
  retries: number;
  /** Time spent waiting before retries (ms). */
  retryWaitMs: number;
  /** The longest RetryInfo delay the server asked for (ms). */
  maxServerDelayMs: number;
}

/** The default error callback: a warning naming the event, field and reason. */
export function logRejection(rejection: Rejection): void {
  console.warn(
    `boost: event ${rejection.event.eventId} not delivered: ${rejection.field || "(event)"} ${rejection.reason}`,
  );
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Queues events and delivers them from one async loop. */
export class Batcher {
  /** Counters; `accepted + duplicates` is what was delivered. */
  readonly stats: Stats = {
    queued: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    failed: 0,
    dropped: 0,
    batches: 0,
    retries: 0,
    retryWaitMs: 0,
    maxServerDelayMs: 0,
  };
  private queue: Event[] = [];
  private oldest = 0;
  private unfinished = 0;
  private flushing = 0;
  private closed = false;
  private running = false;
  private wake: (() => void) | undefined;
  private idle: (() => void)[] = [];

  constructor(
    private readonly send: (request: IngestBatchRequest) => Promise<IngestBatchResponse>,
    private readonly batching: Batching,
  ) {
    if (!(batching.batchSize >= 1 && batching.batchSize <= 1000)) {
      throw new RangeError("batchSize must be between 1 and 1000 (the server's batch limit)");
    }
  }

  /** Queues `event`; false (and the error callback) when full or closed. */
  add(event: Event): boolean {
    if (this.closed || this.queue.length >= this.batching.maxQueue) {
      this.stats.dropped += 1;
      const reason = this.closed ? "client closed" : `client queue full (${this.batching.maxQueue} events)`;
      this.batching.onError({ event, field: "", reason, retryable: !this.closed });
      return false;
    }
    if (this.queue.length === 0) {
      this.oldest = Date.now();
    }
    this.queue.push(event);
    this.unfinished += 1;
    this.stats.queued += 1;
    this.kick();
    return true;
  }

  /** Sends everything queued and waits for the answers; false on timeout. */
  async flush(timeoutMs?: number): Promise<boolean> {
    if (this.unfinished === 0) {
      return true;
    }
    this.flushing += 1;
    this.kick();
    try {
      const done = new Promise<boolean>((resolve) => this.idle.push(() => resolve(true)));
      if (timeoutMs === undefined) {
        return await done;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      const result = await Promise.race([done, late]);
      clearTimeout(timer);
      return result;
    } finally {
      this.flushing -= 1;
    }
  }

  /** Flushes, then refuses later events. */
  async close(timeoutMs?: number): Promise<boolean> {
    const done = await this.flush(timeoutMs);
    this.closed = true;
    this.kick();
    return done;
  }

  /** Starts the loop, or wakes it from its wait. */
  private kick(): void {
    if (this.wake) {
      const wake = this.wake;
      this.wake = undefined;
      wake();
    }
    if (!this.running) {
      this.running = true;
      void this.run();
    }
  }

  /** The next batch if one is due: full, old enough, or asked for. */
  private take(): Event[] | undefined {
    const due =
      this.queue.length >= this.batching.batchSize ||
      (this.queue.length > 0 &&
        (this.flushing > 0 || this.closed || Date.now() >= this.oldest + this.batching.flushIntervalMs));
    if (!due) {
      return undefined;
    }
    const batch = this.queue.splice(0, this.batching.batchSize);
    this.oldest = Date.now();
    return batch;
  }

  private async run(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.take();
        if (batch === undefined) {
          const wait = Math.max(0, this.oldest + this.batching.flushIntervalMs - Date.now());
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            setTimeout(resolve, wait);
          });
          this.wake = undefined;
          continue;
        }
        try {
          await this.deliver(batch);
        } finally {
          this.unfinished -= batch.length;
          if (this.unfinished === 0) {
            this.idle.splice(0).forEach((resolve) => resolve());
          }
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** One batch until delivered, refused, or given up (and reported). */
  private async deliver(batch: Event[]): Promise<void> {
    const started = Date.now();
    let pending = batch;
    for (let attempt = 0; ; attempt++) {
      let error: BoostError | undefined;
      this.stats.batches += 1;
      try {
        const answer = await this.send(create(IngestBatchRequestSchema, { events: pending, ack: this.batching.ack }));
        pending = this.sort(pending, answer);
        if (pending.length === 0) {
          return;
        }
      } catch (thrown) {
        error = BoostError.from(thrown instanceof ConnectError ? thrown : ConnectError.from(thrown));
        if (!RETRYABLE.has(error.code)) {
          this.giveUp(pending, error);
          return;
        }
      }
      const delay = retryDelay(this.batching.retry, attempt, error?.retryDelayMs);
      if (Date.now() + delay - started > this.batching.retry.deadlineMs) {
        this.giveUp(pending, error);
        return;
      }
      if (error?.retryDelayMs !== undefined) {
        this.stats.maxServerDelayMs = Math.max(this.stats.maxServerDelayMs, error.retryDelayMs);
      }
      this.stats.retries += 1;
      this.stats.retryWaitMs += delay;
      await sleep(delay);
    }
  }

  /** Counts an answer; returns the events to send again (retryable rejections). */
  private sort(sent: Event[], answer: IngestBatchResponse): Event[] {
    const again: Event[] = [];
    for (const result of answer.results) {
      const event = sent[result.index];
      if (result.status === EventStatus.ACCEPTED) {
        this.stats.accepted += 1;
      } else if (result.status === EventStatus.DUPLICATE) {
        this.stats.duplicates += 1;
      } else if (result.retryable) {
        again.push(event);
      } else {
        this.stats.rejected += 1;
        this.batching.onError({ event, field: result.field, reason: result.reason, retryable: false });
      }
    }
    return again;
  }

  private giveUp(events: Event[], error: BoostError | undefined): void {
    const retryable = error === undefined || RETRYABLE.has(error.code);
    const reason = error?.message ?? "still refused (retryable) at the retry deadline";
    const field = error?.fieldViolations[0]?.[0] ?? "";
    if (retryable) {
      this.stats.failed += events.length;
    } else {
      this.stats.rejected += events.length;
    }
    for (const event of events) {
      this.batching.onError({ event, field, reason, retryable });
    }
  }
}
