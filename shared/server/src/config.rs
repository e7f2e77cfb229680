//! Configuration blocks shared by services, and the one way to parse them.
//!
//! Every flag has an env var (`BOOST_…`) and a default. Each service's
//! `Config` flattens the blocks it needs and is parsed with [`parse`].

use std::time::Duration;

use clap::{Parser, error::ContextKind};

/// Parses a service's config from the command line and environment.
///
/// On an invalid value the process exits with a message naming the env var
/// and the flag, e.g. `invalid value "abc" for BOOST_GRPC_TIMEOUT_MS (--grpc-timeout-ms)`.
pub fn parse<T: Parser>() -> T {
    let mut command = T::command();
    let matches = command.clone().try_get_matches();
    let result = matches.and_then(|m| T::from_arg_matches(&m));
    match result {
        Ok(config) => config,
        Err(err) => {
            if let Some(message) = describe_invalid_value(&mut command, &err) {
                eprintln!("error: {message}");
                std::process::exit(2);
            }
            err.exit()
        }
    }
}

/// Rewrites clap's "invalid value" errors so they name the env var.
fn describe_invalid_value(command: &mut clap::Command, err: &clap::Error) -> Option<String> {
    let arg = err.get(ContextKind::InvalidArg)?.to_string();
    let value = err
        .get(ContextKind::InvalidValue)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let long = arg.trim_start_matches("--").split([' ', '=']).next()?;
    command.build();
    let env = command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))?
        .get_env()?
        .to_string_lossy()
        .into_owned();
    let reason = err.to_string();
    let reason = reason
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ");
    Some(format!(
        "invalid value {value:?} for {env} (--{long}): {reason}"
    ))
}

/// A config block at its defaults, ignoring the environment: the clap
/// attributes are the one place a default is written, and code (tests, the
/// bench, `Default` impls) that wants "the default" asks for it here.
pub fn defaults<A: clap::Args + clap::FromArgMatches>() -> A {
    let command = A::augment_args(clap::Command::new("defaults"))
        .mut_args(|arg| arg.env(None::<&'static str>));
    let matches = command
        .try_get_matches_from(["defaults"])
        .expect("every flag of a config block has a default");
    A::from_arg_matches(&matches).expect("defaults parse")
}

/// Parses a whole number of milliseconds into a [`Duration`].
pub fn parse_millis(value: &str) -> Result<Duration, String> {
    value
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("expected a whole number of milliseconds, got {value:?}"))
}

/// Parses a ratio between 0 and 1.
pub fn parse_ratio(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err(format!("expected a number from 0 to 1, got {value:?}")),
    }
}

/// gRPC server tuning shared by every service. The defaults are explicit
/// because tonic's own defaults wait forever and accept unbounded streams.
#[derive(Debug, Clone, clap::Args)]
pub struct GrpcArgs {
    /// Deadline for any one RPC (ms); a client's shorter `grpc-timeout` wins.
    #[arg(long = "grpc-timeout-ms", env = "BOOST_GRPC_TIMEOUT_MS", default_value = "10000", value_parser = parse_millis)]
    pub request_timeout: Duration,
    /// Largest request message accepted (bytes).
    #[arg(long = "grpc-max-message-bytes", env = "BOOST_GRPC_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_message_bytes: usize,
    /// HTTP/2 streams one connection may have open at once.
    #[arg(
        long = "grpc-max-concurrent-streams",
        env = "BOOST_GRPC_MAX_CONCURRENT_STREAMS",
        default_value_t = 256
    )]
    pub max_concurrent_streams: u32,
    /// Requests one connection may have in flight; beyond this the server sheds load (UNAVAILABLE).
    #[arg(
        long = "grpc-concurrency-per-connection",
        env = "BOOST_GRPC_CONCURRENCY_PER_CONNECTION",
        default_value_t = 512
    )]
    pub concurrency_per_connection: usize,
    /// Interval of HTTP/2 keep-alive pings (ms).
    #[arg(long = "grpc-keepalive-ms", env = "BOOST_GRPC_KEEPALIVE_MS", default_value = "30000", value_parser = parse_millis)]
    pub keepalive_interval: Duration,
    /// TLS on this port and to upstreams.
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
}

impl GrpcArgs {
    /// Checks values that parse but make no sense together.
    pub fn validate(&self) -> Result<(), String> {
        if self.request_timeout.is_zero() {
            return Err("BOOST_GRPC_TIMEOUT_MS must be greater than 0".into());
        }
        if self.max_message_bytes < 1024 {
            return Err("BOOST_GRPC_MAX_MESSAGE_BYTES must be at least 1024".into());
        }
        if self.max_concurrent_streams == 0 || self.concurrency_per_connection == 0 {
            return Err("BOOST_GRPC_MAX_CONCURRENT_STREAMS and BOOST_GRPC_CONCURRENCY_PER_CONNECTION must be greater than 0".into());
        }
        self.tls.validate()
    }
}

impl Default for GrpcArgs {
    fn default() -> Self {
        defaults()
    }
}

/// Where a service finds the auth service (used by every service that
/// authenticates callers).
#[derive(Debug, Clone, clap::Args)]
pub struct AuthClientArgs {
    /// Address of the auth service.
    #[arg(
        id = "auth_url",
        long = "auth-url",
        env = "BOOST_AUTH_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub url: String,
    /// How long a validated key is trusted before asking auth again (ms).
    /// With auth's invalidations flowing, a revoked key is refused by the
    /// public services within this plus a few ms: keep it under a second.
    #[arg(id = "auth_cache_ttl", long = "auth-cache-ttl-ms", env = "BOOST_AUTH_CACHE_TTL_MS", default_value = "500", value_parser = parse_millis)]
    pub cache_ttl: Duration,
    /// Deadline for one call to auth (ms); past it the caller gets UNAVAILABLE.
    #[arg(id = "auth_timeout", long = "auth-timeout-ms", env = "BOOST_AUTH_TIMEOUT_MS", default_value = "2000", value_parser = parse_millis)]
    pub timeout: Duration,
}

/// Logging and trace export settings.
#[derive(Debug, Clone, clap::Args)]
pub struct TelemetryArgs {
    /// Log filter in `tracing` syntax, e.g. `info,boost_ingest=debug`.
    #[arg(long = "log", env = "BOOST_LOG", default_value = "info")]
    pub log_filter: String,
    /// Log format: `text` or `json`.
    #[arg(long = "log-format", env = "BOOST_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// OTLP/gRPC endpoint for traces, e.g. `http://127.0.0.1:4317`; empty turns export off.
    #[arg(
        long = "otlp-endpoint",
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        default_value = ""
    )]
    pub otlp_endpoint: String,
    /// Which spans are kept, as the OpenTelemetry SDKs name samplers:
    /// `parentbased_traceidratio` keeps a caller's decision and samples new
    /// traces at `OTEL_TRACES_SAMPLER_ARG`.
    #[arg(
        long = "trace-sampler",
        env = "OTEL_TRACES_SAMPLER",
        default_value = "parentbased_always_on",
        value_parser = ["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"]
    )]
    pub trace_sampler: String,
    /// The ratio of new traces kept by the `traceidratio` samplers, 0 to 1.
    #[arg(long = "trace-sampler-arg", env = "OTEL_TRACES_SAMPLER_ARG", default_value = "1.0", value_parser = parse_ratio)]
    pub trace_sampler_arg: f64,
    /// Where this process serves Prometheus metrics (`GET /metrics`), e.g.
    /// `127.0.0.1:9464`; empty turns the exporter off. One address per
    /// process: `make run` gives each service its own.
    #[arg(long = "metrics-addr", env = "BOOST_METRICS_ADDR", default_value = "")]
    pub metrics_addr: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[derive(Debug, Parser)]
    struct TestConfig {
        #[command(flatten)]
        grpc: GrpcArgs,
    }

    #[test]
    fn test_invalid_value_names_env_var() {
        let mut command = TestConfig::command();
        let err = command
            .clone()
            .try_get_matches_from(["x", "--grpc-timeout-ms", "soon"])
            .expect_err("must refuse");
        let message = describe_invalid_value(&mut command, &err).expect("described");
        assert!(message.contains("BOOST_GRPC_TIMEOUT_MS"), "{message}");
        assert!(message.contains("soon"), "{message}");
    }

    #[test]
    fn test_defaults_validate() {
        let config = TestConfig::try_parse_from(["x"]).expect("defaults parse");
        config.grpc.validate().expect("defaults valid");
        assert_eq!(config.grpc.request_timeout, Duration::from_secs(10));
    }

    #[test]
    fn test_defaults_come_from_the_clap_attributes() {
        let grpc: GrpcArgs = defaults();
        assert_eq!(grpc.request_timeout, Duration::from_secs(10));
        assert_eq!(grpc.max_message_bytes, 4 * 1024 * 1024);
        assert_eq!(grpc.max_concurrent_streams, 256);
        let auth: AuthClientArgs = defaults();
        assert_eq!(auth.url, "http://127.0.0.1:50051");
        assert_eq!(auth.cache_ttl, Duration::from_millis(500));
    }
}
