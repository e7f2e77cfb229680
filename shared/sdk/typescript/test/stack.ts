// A private Boost stack for the suite: the test kit's `boost-test-stack`
// binary (its own database, Redis database and broker; every service on a
// loopback port), and fresh projects with keys from the auth admin API.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AuthService } from "../src/gen/boost/auth/v1/auth_pb.js";

/** The repository's root (dist/test → four levels up). */
export const ROOT = fileURLToPath(new URL("../../../../../", import.meta.url));
const BINARY = process.env.BOOST_TEST_STACK_BIN ?? `${ROOT}target/debug/boost-test-stack`;

/** A running stack: addresses by name and the operator token. */
export class TestStack {
  private constructor(
    private readonly process: ChildProcess,
    readonly env: Record<string, string>,
  ) {}

  /** Starts the binary and waits for its READY line. */
  static async start(): Promise<TestStack> {
    if (!existsSync(BINARY)) {
      throw new Error(
        `${BINARY} is missing: build it with \`cargo build -p boost-testkit --bin boost-test-stack\` (make test does), or set BOOST_TEST_STACK_BIN`,
      );
    }
    const child = spawn(BINARY, [], { stdio: ["pipe", "pipe", "inherit"] });
    const env: Record<string, string> = {};
    for await (const line of createInterface({ input: child.stdout! })) {
      if (line === "READY") {
        return new TestStack(child, env);
      }
      const at = line.indexOf("=");
      env[line.slice(0, at)] = line.slice(at + 1);
    }
    throw new Error(`boost-test-stack exited (${child.exitCode}) before it was ready`);
  }

  /** `BOOST_<NAME>_URL`, e.g. `url("ingest")`. */
  url(name: string): string {
    return this.env[`BOOST_${name.toUpperCase()}_URL`];
  }

  /** A new organisation, project and key; returns the key's secret. */
  async newKey(scopes = ["events:write", "events:read"]): Promise<string> {
    const auth = createClient(AuthService, createGrpcTransport({ baseUrl: this.url("auth") }));
    const headers = { "x-admin-token": this.env.BOOST_ADMIN_TOKEN };
    const org = await auth.createOrganization({ name: `sdk-${crypto.randomUUID()}` }, { headers });
    const project = await auth.createProject(
      { organizationId: org.organization!.id, name: "sdk-test" },
      { headers },
    );
    const key = await auth.createApiKey({ projectId: project.project!.id, name: "sdk", scopes }, { headers });
    return key.secret;
  }

  /** Closes the binary's standard input (it stops and cleans up) and waits. */
  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.process.once("exit", resolve));
    this.process.stdin!.end();
    await exited;
  }
}
