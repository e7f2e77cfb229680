// Node: gRPC over HTTP/2 straight to the services. Targets and the key come
// from arguments, else BOOST_INGEST_URL / BOOST_QUERY_URL / BOOST_API_KEY,
// else the local `make run` ports.

import { createGrpcTransport } from "@connectrpc/connect-node";
import { Client, type ClientOptions } from "./client.js";

/** Ingest under `make run`. */
export const DEFAULT_INGEST_URL = "http://127.0.0.1:50052";
/** Query under `make run`. */
export const DEFAULT_QUERY_URL = "http://127.0.0.1:50053";

/** Where the services are. */
export interface NodeTargets {
  ingestUrl?: string;
  queryUrl?: string;
}

function baseUrl(url: string): string {
  return /^https?:\/\//.test(url) ? url : `http://${url}`;
}

/** A client over gRPC (HTTP/2) for Node ≥ 20. */
export function createNodeClient(options: ClientOptions & NodeTargets = {}): Client {
  const apiKey = options.apiKey ?? (options.token ? undefined : process.env.BOOST_API_KEY);
  const ingest = baseUrl(options.ingestUrl ?? process.env.BOOST_INGEST_URL ?? DEFAULT_INGEST_URL);
  const query = baseUrl(options.queryUrl ?? process.env.BOOST_QUERY_URL ?? DEFAULT_QUERY_URL);
  return new Client(
    { ingest: createGrpcTransport({ baseUrl: ingest }), query: createGrpcTransport({ baseUrl: query }) },
    { ...options, apiKey },
  );
}

export * from "./index.js";
