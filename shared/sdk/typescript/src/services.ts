// Every Boost API's generated service descriptors and messages, for callers
// that need more than the Client: the console administers projects and keys,
// reads the pipeline's status and replays dead letters through these.

export * as auth from "./gen/boost/auth/v1/auth_pb.js";
export * as common from "./gen/boost/common/v1/event_pb.js";
export * as deadLetters from "./gen/boost/processor/v1/dead_letters_pb.js";
export * as ingest from "./gen/boost/ingest/v1/ingest_pb.js";
export * as processor from "./gen/boost/processor/v1/processor_pb.js";
export * as query from "./gen/boost/query/v1/query_pb.js";
