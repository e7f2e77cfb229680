// Browsers (and Node): gRPC-web through the edge, which routes both services
// on one origin. The same Client API as over gRPC.

import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { Client, type ClientOptions } from "./client.js";

/** The edge under `make run`. */
export const DEFAULT_EDGE_URL = "http://127.0.0.1:8080";

/** A client over gRPC-web through the edge at `edgeUrl`. */
export function createWebClient(options: ClientOptions & { edgeUrl?: string }): Client {
  const transport = createGrpcWebTransport({ baseUrl: options.edgeUrl ?? DEFAULT_EDGE_URL });
  return new Client({ ingest: transport, query: transport }, options);
}

export * from "./index.js";
