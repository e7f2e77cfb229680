//! gRPC calls carrying bytes of the test's choosing (garbage, truncated,
//! oversized, or a valid message made by hand), for tests of what a server
//! does with input no generated client would send.

use std::net::SocketAddr;

use bytes::{Buf, BufMut};
use tonic::{
    Request, Status,
    client::Grpc,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    transport::Channel,
};

use crate::stack::url;

/// Sends bytes as they are; hands back the answer's bytes undecoded.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

/// See [`RawCodec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCoder;
    type Decoder = RawCoder;

    fn encoder(&mut self) -> RawCoder {
        RawCoder
    }

    fn decoder(&mut self) -> RawCoder {
        RawCoder
    }
}

impl Encoder for RawCoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
    }
}

async fn client(addr: SocketAddr) -> Grpc<Channel> {
    let channel = Channel::from_shared(url(addr))
        .expect("loopback url")
        .connect()
        .await
        .expect("connect");
    let mut grpc = Grpc::new(channel);
    grpc.ready().await.expect("ready");
    grpc
}

fn request<T>(body: T, key: Option<&str>) -> Request<T> {
    let metadata: Vec<(&'static str, Vec<u8>)> = key
        .map(|key| ("x-api-key", key.as_bytes().to_vec()))
        .into_iter()
        .collect();
    with_metadata(body, &metadata)
}

/// `body` carrying each `(name, value)` as given, bytes outside ASCII
/// included (as obs-text; values HTTP forbids altogether are left out).
fn with_metadata<T>(body: T, metadata: &[(&'static str, Vec<u8>)]) -> Request<T> {
    let mut request = Request::new(body);
    for (name, value) in metadata {
        if let Ok(value) = tonic::metadata::AsciiMetadataValue::try_from(value.as_slice()) {
            request.metadata_mut().insert(*name, value);
        }
    }
    request
}

/// How an RPC's messages flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One request, one response.
    Unary,
    /// Many requests, one response.
    ClientStreaming,
    /// One request, a stream of responses.
    ServerStreaming,
}

/// How long a server stream must stay quiet, after its headers, to count
/// as open and healthy in [`call`].
const STREAM_OPEN_FOR: std::time::Duration = std::time::Duration::from_millis(200);

/// Any call of `path` sending `messages` as they are (one for unary and
/// server-streaming calls) with `metadata`: the status the call ended with.
/// A server stream that opens and neither errs nor ends within
/// [`STREAM_OPEN_FOR`] counts as `Ok`.
pub async fn call(
    addr: SocketAddr,
    path: &'static str,
    shape: Shape,
    messages: Vec<Vec<u8>>,
    metadata: &[(&'static str, Vec<u8>)],
) -> Result<(), Status> {
    let mut grpc = client(addr).await;
    let path = http::uri::PathAndQuery::from_static(path);
    let first = messages.first().cloned().unwrap_or_default();
    match shape {
        Shape::Unary => grpc
            .unary(with_metadata(first, metadata), path, RawCodec)
            .await
            .map(drop),
        Shape::ClientStreaming => grpc
            .client_streaming(
                with_metadata(futures::stream::iter(messages), metadata),
                path,
                RawCodec,
            )
            .await
            .map(drop),
        Shape::ServerStreaming => {
            let mut stream = grpc
                .server_streaming(with_metadata(first, metadata), path, RawCodec)
                .await?
                .into_inner();
            match tokio::time::timeout(STREAM_OPEN_FOR, stream.message()).await {
                Ok(result) => result.map(drop),
                Err(_) => Ok(()),
            }
        }
    }
}

/// A unary call of `path` (e.g. `/boost.ingest.v1.IngestService/Track`)
/// whose request message is `bytes`.
pub async fn unary(
    addr: SocketAddr,
    path: &'static str,
    bytes: Vec<u8>,
    key: Option<&str>,
) -> Result<Vec<u8>, Status> {
    let mut grpc = client(addr).await;
    grpc.unary(
        request(bytes, key),
        http::uri::PathAndQuery::from_static(path),
        RawCodec,
    )
    .await
    .map(|r| r.into_inner())
}

/// A client-streaming call of `path` sending each of `messages` as is.
pub async fn client_stream(
    addr: SocketAddr,
    path: &'static str,
    messages: Vec<Vec<u8>>,
    key: Option<&str>,
) -> Result<Vec<u8>, Status> {
    let mut grpc = client(addr).await;
    grpc.client_streaming(
        request(futures::stream::iter(messages), key),
        http::uri::PathAndQuery::from_static(path),
        RawCodec,
    )
    .await
    .map(|r| r.into_inner())
}
