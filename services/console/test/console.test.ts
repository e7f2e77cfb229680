// The console in headless Chromium (Debian's `chromium`, driven by
// playwright-core) against a real stack: the test kit's boost-test-stack,
// whose console edge serves dist/ and routes every service. Each test saves
// screenshots under test-results/.

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { createNodeClient } from "@boost/sdk/node";
// The SDK suite's stack fixture: one way to start boost-test-stack.
import { TestStack } from "../../../shared/sdk/typescript/dist/test/stack.js";

const CONSOLE_DIR = fileURLToPath(new URL("../dist", import.meta.url));
const SHOTS = fileURLToPath(new URL("../test-results/", import.meta.url));
const CHROMIUM = process.env.BOOST_CHROMIUM ?? "/usr/bin/chromium";
/** Longest wait for anything on a page. */
const WAIT_MS = 15_000;

let stack: TestStack;
let browser: Browser;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  process.env.BOOST_EDGE_CONSOLE_DIR = CONSOLE_DIR;
  stack = await TestStack.start();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

/** A fresh page (its own sessionStorage) signed in with `secret`. */
async function signedIn(kind: "key" | "operator", secret: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.setDefaultTimeout(WAIT_MS);
  await page.goto(stack.url("console"));
  await page.selectOption("select[name=kind]", kind);
  await page.fill("input[name=secret]", secret);
  await page.click("form.signin button[type=submit]");
  await page.waitForSelector("nav");
  return page;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
}

/** Sends events with the SDK and waits until they are stored. */
async function sendEvents(key: string, events: { type: string; service: string }[]): Promise<void> {
  const client = createNodeClient({ apiKey: key, ingestUrl: stack.url("ingest"), queryUrl: stack.url("query"), ack: "committed" });
  for (const { type, service } of events) client.track(type, { service, userId: `user-${type}` });
  assert.ok(await client.close(WAIT_MS), "events delivered");
}

test("a key's console: overview chart, explore with filters and paging, event detail, live tail", async () => {
  const key = await stack.newKey(["events:write", "events:read"]);
  const events = [
    ...Array.from({ length: 20 }, () => ({ type: "page_view", service: "web" })),
    ...Array.from({ length: 5 }, () => ({ type: "signup", service: "api" })),
  ];
  await sendEvents(key, events);
  const page = await signedIn("key", key);

  // Overview: the numbers and a drawn chart of 24 hourly points.
  await page.waitForSelector("[data-metric=total]");
  assert.equal(await page.textContent("[data-metric=total]"), "25");
  assert.equal(await page.getAttribute(".chart", "data-points"), "24");
  const inked = await page.$eval(".chart canvas", (canvas) => {
    const c = canvas as HTMLCanvasElement;
    const pixels = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
    let ink = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) ink++;
    return ink;
  });
  assert.ok(inked > 100, `the chart drew something (${inked} pixels)`);
  await shot(page, "overview");

  // Explore: 10 a page reaches the last page (25 = 10 + 10 + 5).
  await page.click("nav a[href='#/explore']");
  await page.waitForSelector("tr.event");
  await page.fill("input[name=page_size]", "10");
  await page.click("form.explore button[type=submit]");
  await page.waitForSelector("text=page 1");
  assert.equal(await page.locator("tr.event").count(), 10);
  await page.click("button[name=next]");
  await page.waitForSelector("text=page 2");
  await page.click("button[name=next]");
  await page.waitForSelector("text=page 3");
  assert.equal(await page.locator("tr.event").count(), 5);
  assert.ok(await page.isDisabled("button[name=next]"), "the last page has no next");
  // A filter narrows the list.
  await page.fill("input[name=type]", "signup");
  await page.click("form.explore button[type=submit]");
  await page.waitForFunction(() => document.querySelectorAll("tr.event").length === 5);
  assert.match((await page.textContent(".count")) ?? "", /^5 events match/);
  // An event's detail.
  await page.click("tr.event >> nth=0");
  await page.waitForSelector(".detail .state");
  assert.match((await page.textContent(".detail .state")) ?? "", /STORED/);
  await page.click("button[name=aggregate]");
  await page.waitForSelector(".bars .bar");
  await shot(page, "explore");

  // Live: an event sent now appears.
  await page.click("nav a[href='#/live']");
  await page.waitForSelector("text=Listening…");
  await sendEvents(key, [{ type: "live_one", service: "web" }]);
  await page.waitForSelector("tr.event >> text=live_one");
  await shot(page, "live");

  // Pipeline: one row per partition.
  await page.click("nav a[href='#/pipeline']");
  await page.waitForSelector("tr.partition");
  assert.ok((await page.locator("tr.partition").count()) >= 1);
  assert.match((await page.textContent("[data-metric=freshness-p95]")) ?? "", /^\d+ ms$/);
  await shot(page, "pipeline");
  await page.close();
});

test("an operator creates a project and a key; the key works until it is revoked", async () => {
  const operator = await signedIn("operator", stack.env.BOOST_ADMIN_TOKEN);
  operator.on("dialog", (dialog) => void dialog.accept());
  await operator.click("nav a[href='#/keys']");
  await operator.fill("input[name=organization_name]", "console-test");
  await operator.click("form.create-organization button[type=submit]");
  await operator.waitForSelector("text=No projects in this organisation yet.");
  await operator.fill("input[name=project_name]", "shop");
  await operator.click("form.create-project button[type=submit]");
  await operator.waitForSelector("text=Project shop");
  await operator.fill("input[name=key_name]", "checkout");
  await operator.click("form.create-key button[type=submit]");
  const secret = ((await operator.textContent("[data-secret]")) ?? "").trim();
  assert.match(secret, /^pk_live_/, "the new key's secret is shown once");
  await operator.waitForSelector("tr.key-row[data-name=checkout]");
  // The project's retention: 30 days by default, then 7.
  await operator.waitForFunction(() => (document.querySelector("input[name=retention_days]") as HTMLInputElement)?.value === "30");
  await operator.fill("input[name=retention_days]", "7");
  await operator.click("form.retention button[type=submit]");
  await operator.waitForSelector("form.retention >> text=Keeps 7 days of events.");
  await shot(operator, "keys");

  // The key works: a Track through the SDK, and the console signs in with it.
  await sendEvents(secret, [{ type: "first_order", service: "shop" }]);
  const user = await signedIn("key", secret);
  await user.waitForSelector("[data-metric=total]");

  // Revoked: the console's next call fails with a clear message.
  await operator.click("tr.key-row[data-name=checkout] button[name=revoke]");
  await operator.waitForSelector("tr.key-row[data-name=checkout] >> text=revoked");
  // Each render calls GetMetrics again; auth's cache forgets the key within a second.
  let message = "";
  for (const deadline = Date.now() + WAIT_MS; !message && Date.now() < deadline; ) {
    await user.evaluate(() => window.dispatchEvent(new HashChangeEvent("hashchange")));
    await user.waitForSelector(".error, [data-metric=total]");
    if ((await user.locator(".error").count()) > 0) message = (await user.textContent(".error")) ?? "";
    else await user.waitForTimeout(300);
  }
  assert.match(message, /Unauthenticated.*sign in again/);
  await shot(user, "revoked");
  await operator.close();
  await user.close();
});

test("a dead letter is inspected and replayed from the console", async () => {
  // The stack wrote an identify event without a user past ingest; its handler refused it.
  const page = await signedIn("key", stack.env.BOOST_DEAD_LETTER_KEY);
  await page.click("nav a[href='#/dead-letters']");
  await page.waitForSelector("tr.dead-letter");
  const id = await page.getAttribute("tr.dead-letter", "data-id");
  // This key may replay (events:write) but not purge (keys:admin), and is told why.
  await page.waitForSelector("tr.dead-letter button[name=purge][disabled]");
  assert.match((await page.getAttribute("tr.dead-letter button[name=purge]", "title")) ?? "", /lacks keys:admin/);
  assert.ok(!(await page.isDisabled("tr.dead-letter button[name=replay]")));
  await page.click("tr.dead-letter button[name=inspect]");
  await page.waitForSelector(`.detail >> text=Dead letter ${id}`);
  await page.click("tr.dead-letter button[name=replay]");
  await page.waitForSelector(".outcome .done");
  assert.match((await page.textContent(".outcome .done")) ?? "", /^Replayed 1 dead letter/);
  // Replayed, it went through the topic again, and its handler refused it
  // again: the same letter, failed, with a second attempt.
  let attempts = "";
  for (const deadline = Date.now() + WAIT_MS; attempts !== "2" && Date.now() < deadline; ) {
    await page.dispatchEvent("select[name=status]", "change");
    await page.waitForSelector("tr.dead-letter, .empty");
    const cell = page.locator(`tr.dead-letter[data-id="${id}"] td:nth-child(5)`);
    attempts = (await cell.count()) > 0 ? ((await cell.textContent()) ?? "") : "";
    if (attempts !== "2") await page.waitForTimeout(300);
  }
  assert.equal(attempts, "2", "refused again after the replay: a second attempt");
  await shot(page, "dead-letters");
  await page.close();
});

test("users: identified users are listed with their traits", async () => {
  const key = await stack.newKey(["events:write", "events:read"]);
  const client = createNodeClient({ apiKey: key, ingestUrl: stack.url("ingest"), queryUrl: stack.url("query"), ack: "committed" });
  client.identify("ada", { plan: "pro" });
  assert.ok(await client.close(WAIT_MS), "identify delivered");
  const page = await signedIn("key", key);
  await page.click("nav a[href='#/users']");
  await page.click("tr.user[data-id=ada]");
  await page.waitForSelector(".detail pre.json");
  assert.deepEqual(JSON.parse((await page.textContent(".detail pre.json")) ?? "{}"), { plan: "pro" });
  await shot(page, "users");
  await page.close();
});

test("a key sees its own project's keys: with keys:admin it creates one, without it is told why not", async () => {
  const admin = await signedIn("key", await stack.newKey(["events:read", "keys:admin"]));
  await admin.click("nav a[href='#/keys']");
  await admin.waitForSelector("tr.key-row");
  await admin.fill("input[name=key_name]", "from-a-key");
  await admin.click("form.create-key button[type=submit]");
  await admin.waitForSelector("tr.key-row[data-name=from-a-key]");
  assert.match(((await admin.textContent("[data-secret]")) ?? "").trim(), /^pk_live_/);
  await admin.close();

  const reader = await signedIn("key", await stack.newKey(["events:read"]));
  await reader.click("nav a[href='#/keys']");
  await reader.waitForSelector(".project .error");
  assert.match((await reader.textContent(".project .error")) ?? "", /lacks the scope/);
  assert.ok(await reader.isDisabled("form.create-key button[type=submit]"), "create is disabled");
  assert.match((await reader.getAttribute("form.create-key button[type=submit]", "title")) ?? "", /keys:admin/);
  await reader.close();
});

test("a wrong credential is refused at sign-in with a clear message", async () => {
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  await page.goto(stack.url("console"));
  await page.waitForSelector("form.signin");
  // Reported, not asserted: a timed assertion would flake on a busy machine.
  // performance.now() counts from the navigation's start.
  const shown = Math.round(await page.evaluate(() => performance.now()));
  console.log(`sign-in form on screen ${shown} ms after navigation started (loopback)`);
  await page.fill("input[name=secret]", "pk_live_not_a_real_key");
  await page.click("form.signin button[type=submit]");
  await page.waitForSelector(".signin .error");
  assert.match((await page.textContent(".signin .error")) ?? "", /Unauthenticated/);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, "nothing kept");
  await page.close();
});
