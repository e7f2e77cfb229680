// The TypeScript SDK against a real stack, over both transports: gRPC
// straight to the services and gRPC-web through the edge.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { newEventId, type Client, type ClientOptions, type Rejection } from "../src/index.js";
import { createNodeClient } from "../src/node.js";
import { createWebClient } from "../src/web.js";
import { ROOT, TestStack } from "./stack.js";

const LEDGER_EVENTS = 10_000;
let stack: TestStack;

before(async () => {
  stack = await TestStack.start();
});
after(async () => {
  await stack?.stop();
});

/** How each transport reaches the (normal or rate-limited) services. */
const transports: Record<string, (options: ClientOptions, limited?: boolean) => Client> = {
  grpc: (options, limited) =>
    createNodeClient({
      ...options,
      ingestUrl: stack.url(limited ? "limited_ingest" : "ingest"),
      queryUrl: stack.url("query"),
    }),
  "grpc-web": (options, limited) => createWebClient({ ...options, edgeUrl: stack.url(limited ? "limited_edge" : "edge") }),
};

async function storedCounts(client: Client, filters: Parameters<Client["listEvents"]>[0]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for await (const event of client.listEvents({ ...filters, pageSize: 1000 })) {
    counts.set(event.eventId, (counts.get(event.eventId) ?? 0) + 1);
  }
  return counts;
}

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

for (const [name, connect] of Object.entries(transports)) {
  describe(`over ${name}`, () => {
    test("a ledger of 10,000 events is stored exactly once", async () => {
      const apiKey = await stack.newKey();
      const client = connect({ apiKey });
      const ledger = new Set<string>();
      for (let i = 0; i < LEDGER_EVENTS; i++) {
        ledger.add(client.track("ledger", { userId: `u${i % 50}`, service: "ledger", properties: { i } }));
      }
      assert.ok(await client.close(120_000), "close() finished");
      assert.equal(client.stats.accepted + client.stats.duplicates, LEDGER_EVENTS, JSON.stringify(client.stats));
      assert.equal(client.stats.rejected + client.stats.dropped + client.stats.failed, 0);
      let counts = new Map<string, number>();
      assert.ok(
        await waitFor(async () => {
          counts = await storedCounts(client, { service: "ledger" });
          return counts.size >= LEDGER_EVENTS;
        }, 60_000),
      );
      assert.deepEqual(new Set(counts.keys()), ledger, "every acknowledged id is stored");
      assert.equal(Math.max(...counts.values()), 1, "no id is stored twice");
    });

    test("a rate-limited client waits for RetryInfo, then delivers everything", async () => {
      const apiKey = await stack.newKey();
      const limit = Number(stack.env.BOOST_LIMITED_EVENTS);
      const client = connect({ apiKey }, true);
      const sent = new Set<string>();
      for (let i = 0; i < limit * 3; i++) {
        sent.add(client.track("limited", { service: "limited" }));
      }
      assert.ok(await client.close(60_000));
      const stats = client.stats;
      assert.equal(stats.accepted + stats.duplicates, sent.size, JSON.stringify(stats));
      assert.ok(stats.retries > 0, "the limit was hit");
      assert.ok(stats.maxServerDelayMs >= 1000, "the server sent a RetryInfo delay");
      assert.ok(stats.retryWaitMs >= stats.maxServerDelayMs, "the client waited at least that long");
      assert.ok(
        await waitFor(async () => (await storedCounts(client, { service: "limited" })).size === sent.size, 30_000),
      );
    });

    test("a rejected event reaches the error callback with its field", async () => {
      const rejected: Rejection[] = [];
      const client = connect({ apiKey: await stack.newKey(), onError: (r) => rejected.push(r) });
      client.track("fine");
      const bad = client.track("not a valid type!");
      await client.close();
      assert.deepEqual(
        rejected.map((r) => r.event.eventId),
        [bad],
      );
      assert.match(rejected[0].field, /\.type$/);
      assert.equal(rejected[0].retryable, false);
      assert.equal(client.stats.accepted, 1);
    });

    test("query helpers list, aggregate and read metrics", async () => {
      const client = connect({ apiKey: await stack.newKey(), ack: "committed" });
      for (let i = 0; i < 30; i++) {
        client.track(i % 3 ? "page_viewed" : "signup", { userId: i < 10 ? "u1" : "u2", service: "web" });
      }
      client.log("disk almost full", { severity: "warn", logger: "ops" });
      client.metric("latency", 12.5, { unit: "ms" });
      client.identify("u1", { plan: "pro" });
      assert.ok(await client.flush(30_000));
      assert.equal(client.stats.accepted, 33);
      const u1 = [];
      for await (const e of client.listEvents({ userId: "u1", type: "page_viewed" })) u1.push(e);
      assert.equal(u1.length, 6);
      const logs = [];
      for await (const e of client.listEvents({ kind: "log", minSeverity: "warn" })) logs.push(e.type);
      assert.deepEqual(logs, ["ops"]);
      const byType = new Map((await client.aggregate("type")).map((g) => [g.key, g.count]));
      assert.equal(byType.get("page_viewed"), 20);
      assert.equal(byType.get("signup"), 10);
      assert.equal(Number((await client.metrics()).lastHour), 33);
      await client.close();
    });

    test("tail yields events sent after it started", async () => {
      const client = connect({ apiKey: await stack.newKey(), ack: "committed" });
      client.track("before", { service: "tail" });
      await client.flush(); // stored before the tail starts
      const stop = new AbortController();
      const seen: string[] = [];
      const following = (async () => {
        for await (const e of client.tail({ service: "tail" }, stop.signal)) {
          seen.push(e.type);
          if (e.type === "after") stop.abort();
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      client.track("after", { service: "tail" });
      await client.flush();
      const timer = setTimeout(() => stop.abort(), 20_000);
      await following;
      clearTimeout(timer);
      assert.deepEqual(seen, ["after"]);
      await client.close();
    });

    test("a duplicate after a retry counts as delivered", async () => {
      const client = connect({ apiKey: await stack.newKey() });
      const eventId = newEventId();
      client.track("once", { eventId });
      await client.flush();
      client.track("once", { eventId });
      await client.close();
      assert.equal(client.stats.accepted, 1);
      assert.equal(client.stats.duplicates, 1);
    });
  });
}

test("the READMEs' TypeScript examples work as printed", async () => {
  const blocks: [string, string][] = [];
  for (const readme of ["README.md", "shared/sdk/typescript/README.md"]) {
    for (const [, code] of readFileSync(`${ROOT}${readme}`, "utf8").matchAll(/```ts\n([\s\S]*?)```/g)) {
      if (code.includes("createNodeClient")) blocks.push([readme, code]);
    }
  }
  assert.ok(blocks.length >= 2, "the README and the SDK README each show an example");
  const apiKey = await stack.newKey();
  for (const [readme, code] of blocks) {
    // Inside the package, `@boost/sdk/node` resolves to this build (self-reference).
    const file = `${ROOT}shared/sdk/typescript/dist/readme-example.mjs`;
    writeFileSync(file, code);
    const { stdout } = await promisify(execFile)("node", [file], {
      env: {
        ...process.env,
        BOOST_API_KEY: apiKey,
        BOOST_INGEST_URL: stack.url("ingest"),
        BOOST_QUERY_URL: stack.url("query"),
      },
      timeout: 60_000,
    });
    assert.match(stdout, /signup_completed/, `${readme} printed: ${stdout}`);
  }
});
