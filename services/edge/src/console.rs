//! The console's files, served to browsers beside the gRPC-web routes.
//!
//! A `GET` or `HEAD` that is not gRPC goes to the built console directory;
//! a path that names no file gets `index.html`, so the single-page app's own
//! routes (`/#/explore`, deep links) load. Everything else — gRPC, gRPC-web,
//! CORS preflights — goes on to the API.

use std::convert::Infallible;

use http::{Method, Request, Response};
use tonic::body::Body;
use tower::{ServiceExt, steer::Steer, util::BoxCloneService};
use tower_http::services::{ServeDir, ServeFile};

/// A boxed HTTP service of the edge.
pub type HttpService = BoxCloneService<Request<Body>, Response<Body>, Infallible>;

/// Whether `request` asks for a console file rather than an RPC.
fn wants_file(request: &Request<Body>) -> bool {
    !boost_server::observe::is_grpc(request.headers())
        && (request.method() == Method::GET || request.method() == Method::HEAD)
}

/// `api`, with the console in `dir` in front of it for browsers' page loads.
pub fn with_console(dir: &str, api: HttpService) -> HttpService {
    let index = std::path::Path::new(dir).join("index.html");
    let files = ServiceExt::<Request<Body>>::map_response(
        ServeDir::new(dir).fallback(ServeFile::new(index)),
        |response| response.map(Body::new),
    );
    let files = BoxCloneService::new(files);
    BoxCloneService::new(Steer::new(
        vec![api, files],
        |request: &Request<Body>, _: &[_]| usize::from(wants_file(request)),
    ))
}
