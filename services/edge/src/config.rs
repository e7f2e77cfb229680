//! Edge configuration.

use boost_server::config::{GrpcArgs, TelemetryArgs};
use boost_server::service::ServiceConfig;

/// Everything the edge reads at start-up.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "edge", about = "Boost gRPC-web edge")]
pub struct Config {
    /// Address to listen on (HTTP/1.1 and HTTP/2).
    #[arg(long, env = "BOOST_EDGE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Upstream ingest service.
    #[arg(
        long = "ingest-url",
        env = "BOOST_INGEST_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub ingest_url: String,
    /// Upstream query service.
    #[arg(
        long = "query-url",
        env = "BOOST_QUERY_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub query_url: String,
    /// Upstream processor (the dead-letter API).
    #[arg(
        long = "processor-url",
        env = "BOOST_PROCESSOR_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    pub processor_url: String,
    /// Upstream auth service (admin RPCs only; ValidateApiKey is never routed).
    #[arg(
        long = "auth-url",
        env = "BOOST_AUTH_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub auth_url: String,
    /// Browser origins allowed by CORS, comma separated; `*` allows any.
    #[arg(
        long = "cors-origins",
        env = "BOOST_EDGE_CORS_ORIGINS",
        default_value = "*",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// Browser origins whose pages may send the operator's `x-admin-token`,
    /// comma separated; empty (the default) allows none. `*` is not accepted.
    #[arg(
        long = "admin-origins",
        env = "BOOST_EDGE_ADMIN_ORIGINS",
        default_value = "",
        value_delimiter = ','
    )]
    pub admin_origins: Vec<String>,
    /// Directory of the built console (`services/console/dist`), served at
    /// `/` to browsers; empty (the default) serves no console.
    #[arg(
        long = "console-dir",
        env = "BOOST_EDGE_CONSOLE_DIR",
        default_value = ""
    )]
    pub console_dir: String,
    /// gRPC server limits.
    #[command(flatten)]
    pub grpc: GrpcArgs,
    /// Logs and traces.
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

impl ServiceConfig for Config {
    const NAME: &'static str = "edge";
    const LISTEN_ENV: &'static str = "BOOST_EDGE_LISTEN";

    fn listen(&self) -> &str {
        &self.listen
    }

    fn telemetry(&self) -> &TelemetryArgs {
        &self.telemetry
    }

    fn validate(&self) -> Result<(), String> {
        for (name, url) in [
            ("BOOST_INGEST_URL", &self.ingest_url),
            ("BOOST_QUERY_URL", &self.query_url),
            ("BOOST_AUTH_URL", &self.auth_url),
        ] {
            url.parse::<http::Uri>()
                .map_err(|e| format!("invalid {name} {url:?}: {e}"))?;
        }
        if !self.console_dir.is_empty()
            && !std::path::Path::new(&self.console_dir)
                .join("index.html")
                .is_file()
        {
            return Err(format!(
                "BOOST_EDGE_CONSOLE_DIR {:?} holds no index.html: build the console (make console) or leave it empty",
                self.console_dir
            ));
        }
        for origin in &self.cors_origins {
            if origin != "*" && origin.parse::<http::HeaderValue>().is_err() {
                return Err(format!(
                    "invalid origin {origin:?} in BOOST_EDGE_CORS_ORIGINS"
                ));
            }
        }
        for origin in self.admin_origins.iter().filter(|o| !o.is_empty()) {
            if origin == "*" || origin.parse::<http::HeaderValue>().is_err() {
                return Err(format!(
                    "invalid origin {origin:?} in BOOST_EDGE_ADMIN_ORIGINS (name each origin; `*` is not allowed)"
                ));
            }
        }
        self.grpc.validate()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn test_flags_consistent_and_defaults_valid() {
        boost_server::service::assert_defaults_valid::<super::Config>();
    }
}
