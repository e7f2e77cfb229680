// `BENCH=sdk make bench` (Node row): events/s from one Node process through
// the SDK's batcher (batches of 100, over gRPC), beside the same events sent
// as bare IngestBatch calls of 100, one at a time, from the same process.

import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { buildEvent } from "../src/events.js";
import { EventKind } from "../src/gen/boost/common/v1/event_pb.js";
import { IngestBatchRequestSchema, IngestService } from "../src/gen/boost/ingest/v1/ingest_pb.js";
import { createNodeClient } from "../src/node.js";
import { ProcessorService } from "../src/gen/boost/processor/v1/processor_pb.js";
import { TestStack } from "../test/stack.js";

const EVENTS = Number(process.env.BOOST_BENCH_EVENTS ?? 50_000);
const BATCH = 100;

async function bare(stack: TestStack, apiKey: string): Promise<number> {
  const ingest = createClient(IngestService, createGrpcTransport({ baseUrl: stack.url("ingest") }));
  const batches = Array.from({ length: EVENTS / BATCH }, () =>
    create(IngestBatchRequestSchema, {
      events: Array.from({ length: BATCH }, (_, i) => buildEvent("bench_bare", EventKind.TRACK, { properties: { i } })),
    }),
  );
  const started = performance.now();
  for (const request of batches) {
    await ingest.ingestBatch(request, { headers: { "x-api-key": apiKey } });
  }
  return EVENTS / ((performance.now() - started) / 1000);
}

/** Waits until the processor has stored everything (lag 0), so a phase does
 * not share the machine with the previous phase's backlog. */
async function waitDrained(stack: TestStack, apiKey: string): Promise<void> {
  const status = createClient(ProcessorService, createGrpcTransport({ baseUrl: stack.url("processor") }));
  const deadline = Date.now() + 180_000;
  while ((await status.getStatus({}, { headers: { "x-api-key": apiKey } })).totalLag > 0n) {
    if (Date.now() > deadline) throw new Error("the processor did not drain in time");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function batcher(stack: TestStack, apiKey: string) {
  const client = createNodeClient({ apiKey, ingestUrl: stack.url("ingest"), queryUrl: stack.url("query") });
  const started = performance.now();
  for (let i = 0; i < EVENTS; i++) {
    client.track("bench_sdk", { userId: `u${i % 1000}`, properties: { i } });
    if (i % 5_000 === 4_999) {
      await client.flush(); // the queue is bounded (10,000): pace as an app would
    }
  }
  await client.close();
  return { rate: EVENTS / ((performance.now() - started) / 1000), stats: client.stats };
}

const stack = await TestStack.start();
try {
  const apiKey = await stack.newKey();
  const control = await bare(stack, apiKey);
  await waitDrained(stack, apiKey);
  const { rate, stats } = await batcher(stack, apiKey);
  console.log(`\nOne Node process, batches of ${BATCH}, one call in flight, ${EVENTS} events\n`);
  console.log("| phase | events/s | ratio to control |");
  console.log("|---|---|---|");
  console.log(`| bare IngestBatch calls of prepared events (control) | ${control.toFixed(0)} | 1.00 |`);
  console.log(`| client.track → batcher | ${rate.toFixed(0)} | ${(rate / control).toFixed(2)} |`);
  console.log(`\ndelivered ${stats.accepted + stats.duplicates}, dropped ${stats.dropped}, retries ${stats.retries}`);
} finally {
  await stack.stop();
}
