//! The edge's gRPC-web body handling (tonic-web's layer, as the edge
//! configures it) over any body, binary or text mode: the request body is
//! read to its end or to an error, never a panic or a hang.
#![no_main]

use std::convert::Infallible;

use http_body::Body as _;
use libfuzzer_sys::fuzz_target;
use tonic::body::Body;
use tower::{Layer, ServiceExt};

/// Reads the whole request body, as an upstream would.
async fn drain(request: http::Request<Body>) -> Result<http::Response<Body>, Infallible> {
    let mut body = request.into_body();
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        if frame.is_err() {
            break;
        }
    }
    Ok(http::Response::new(Body::empty()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let content_type = if mode & 1 == 0 {
        "application/grpc-web+proto"
    } else {
        "application/grpc-web-text"
    };
    let request = http::Request::post("/boost.query.v1.QueryService/ListEvents")
        .header("content-type", content_type)
        .header("x-grpc-web", "1")
        .body(Body::new(http_body_util::Full::new(bytes::Bytes::from(body.to_vec()))))
        .expect("request");
    let service = tonic_web::GrpcWebLayer::new().layer(tower::service_fn(drain));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let _ = service.oneshot(request).await;
    });
});
