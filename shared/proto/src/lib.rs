//! Boost's protobuf contracts as Rust types, tonic clients and servers.
//!
//! This is the only crate that runs protoc: services import generated types
//! from here. The module tree mirrors the protobuf packages:
//!
//! - [`common::v1`]: events and the Kafka record envelope
//! - [`auth::v1`], [`ingest::v1`], [`query::v1`], [`processor::v1`]: the
//!   public services
//!
//! [`FILE_DESCRIPTOR_SET`] and [`ERROR_DETAILS_DESCRIPTOR_SET`] feed gRPC
//! server reflection; [`json`] converts
//! event properties between `google.protobuf.Struct` and JSON; [`codec`] is
//! the generated code's codec (undecodable bytes are INVALID_ARGUMENT);
//! [`time`] checks Timestamps against the spec's range; [`event_rules`] holds
//! the Event contract's kind/body rules that ingest and the processor share.

#![allow(missing_docs)] // generated code carries the proto comments instead

pub use prost;
pub use prost_types;
pub use tonic;

pub mod codec;
pub mod event_rules;
pub mod json;
pub mod time;

/// Encoded `FileDescriptorSet` of every Boost proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/boost_descriptor.bin"));

/// Encoded `FileDescriptorSet` of `google/rpc/error_details.proto` (vendored
/// under `vendor/`), also served by reflection so `grpcurl` decodes the
/// `BadRequest`, `RetryInfo` and `QuotaFailure` details of Boost's errors.
/// Its import (`google/protobuf/duration.proto`) is in [`FILE_DESCRIPTOR_SET`].
pub const ERROR_DETAILS_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/error_details_descriptor.bin"));

pub mod common {
    pub mod v1 {
        tonic::include_proto!("boost.common.v1");
    }
}

pub mod auth {
    pub mod v1 {
        tonic::include_proto!("boost.auth.v1");
    }
}

pub mod ingest {
    pub mod v1 {
        tonic::include_proto!("boost.ingest.v1");
    }
}

pub mod query {
    pub mod v1 {
        tonic::include_proto!("boost.query.v1");
    }
}

pub mod processor {
    pub mod v1 {
        tonic::include_proto!("boost.processor.v1");
    }
}
