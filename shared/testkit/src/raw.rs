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
    let mut request = Request::new(body);
    if let Some(key) = key {
        request
            .metadata_mut()
            .insert("x-api-key", key.parse().expect("ascii key"));
    }
    request
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
