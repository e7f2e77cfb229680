// Who is signed in, and the API clients that act as them. The credential
// lives in sessionStorage (this tab only), travels as metadata on each call
// (`x-api-key`, or `x-admin-token` for the operator) and never in a URL.

import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { auth, deadLetters, processor, query } from "@boost/sdk/services";

/** An API key (one project's view) or the operator token (administration). */
export interface Credential {
  kind: "key" | "operator";
  secret: string;
}

const STORAGE_KEY = "boost.console.credential";

/** The credential of this tab, if signed in. */
export function savedCredential(): Credential | null {
  const raw = sessionStorage.getItem(STORAGE_KEY);
  if (!raw) return null;
  try {
    const parsed = JSON.parse(raw) as Credential;
    return (parsed.kind === "key" || parsed.kind === "operator") && parsed.secret ? parsed : null;
  } catch {
    return null;
  }
}

/** Keeps `credential` for this tab. */
export function saveCredential(credential: Credential): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(credential));
}

/** Signs out. */
export function forgetCredential(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** Clients of every service the console uses, all through the edge. */
export interface Api {
  credential: Credential;
  query: Client<typeof query.QueryService>;
  auth: Client<typeof auth.AuthService>;
  processor: Client<typeof processor.ProcessorService>;
  deadLetters: Client<typeof deadLetters.DeadLetterService>;
}

/** Clients acting as `credential`, over gRPC-web to the edge that served this page. */
export function connect(credential: Credential, baseUrl = location.origin): Api {
  const header = credential.kind === "key" ? "x-api-key" : "x-admin-token";
  const authenticate: Interceptor = (next) => (request) => {
    request.header.set(header, credential.secret);
    return next(request);
  };
  const transport = createGrpcWebTransport({ baseUrl, interceptors: [authenticate] });
  return {
    credential,
    query: createClient(query.QueryService, transport),
    auth: createClient(auth.AuthService, transport),
    processor: createClient(processor.ProcessorService, transport),
    deadLetters: createClient(deadLetters.DeadLetterService, transport),
  };
}
