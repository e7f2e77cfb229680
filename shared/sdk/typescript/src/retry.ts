// The retry policy every SDK shares: UNAVAILABLE and RESOURCE_EXHAUSTED are
// retried after the server's RetryInfo delay, else after an exponential
// backoff with full jitter, capped, within an overall deadline.

import { Code } from "@connectrpc/connect";

/** Codes a batch is sent again for (with the same event ids). */
export const RETRYABLE: ReadonlySet<Code> = new Set([Code.Unavailable, Code.ResourceExhausted]);

/** How long to wait between tries, and for how long to keep trying. */
export interface RetryPolicy {
  /** First backoff when the server gives no delay (ms). */
  initialBackoffMs: number;
  /** Longest backoff (ms). */
  maxBackoffMs: number;
  /** Backoff growth per try. */
  multiplier: number;
  /** Give up on a batch this long after its first try (ms). */
  deadlineMs: number;
}

/** The defaults, the same in every SDK. */
export const DEFAULT_RETRY: RetryPolicy = {
  initialBackoffMs: 100,
  maxBackoffMs: 5000,
  multiplier: 2,
  deadlineMs: 60_000,
};

/** The wait before try `attempt + 1`: the server's delay if given, else jittered backoff. */
export function retryDelay(policy: RetryPolicy, attempt: number, serverDelayMs?: number): number {
  if (serverDelayMs !== undefined) {
    return serverDelayMs;
  }
  const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * policy.multiplier ** attempt);
  return Math.random() * ceiling;
}
