//! The one way a service binary starts: parse and validate its config, set up
//! telemetry, bind, run until SIGINT/SIGTERM; and the one way an operator
//! tool (`boost-admin`, `boost-offsets`, `boost-retention`) ends.

use std::{future::Future, process::ExitCode};

use tokio::net::TcpListener;

use crate::config::TelemetryArgs;

/// What every service's `Config` provides to the shared start-up.
pub trait ServiceConfig: clap::Parser {
    /// Service name for logs and traces, e.g. `"ingest"`.
    const NAME: &'static str;
    /// Env var of the listen address, named in errors.
    const LISTEN_ENV: &'static str;

    /// Address to bind.
    fn listen(&self) -> &str;
    /// Logging and trace export settings.
    fn telemetry(&self) -> &TelemetryArgs;
    /// Checks the service's own settings (the listen address is checked for it).
    fn validate(&self) -> Result<(), String>;

    /// The listen address check plus [`ServiceConfig::validate`].
    fn check(&self) -> Result<(), String> {
        self.listen()
            .parse::<std::net::SocketAddr>()
            .map_err(|e| format!("invalid {} {:?}: {e}", Self::LISTEN_ENV, self.listen()))?;
        self.validate()
    }
}

/// Runs a service binary: config (exit 2 with a message naming the variable on
/// bad input) → telemetry → bind → `run(config, listener, shutdown)`. A
/// failure prints its cause chain on one line and exits 1.
pub async fn run_main<C, F, Fut>(run: F)
where
    C: ServiceConfig,
    F: FnOnce(C, TcpListener, crate::shutdown::Signal) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    if let Err(err) = start(run).await {
        tracing::error!(error = format!("{err:#}"), "{} stopped", C::NAME);
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

async fn start<C, F, Fut>(run: F) -> anyhow::Result<()>
where
    C: ServiceConfig,
    F: FnOnce(C, TcpListener, crate::shutdown::Signal) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let config: C = crate::config::parse();
    if let Err(message) = config.check() {
        eprintln!("error: {message}");
        std::process::exit(2);
    }
    let _telemetry =
        crate::telemetry::init(C::NAME, config.telemetry()).map_err(anyhow::Error::msg)?;
    let metrics_addr = &config.telemetry().metrics_addr;
    if !metrics_addr.is_empty() {
        crate::metrics::install(C::NAME, metrics_addr).map_err(anyhow::Error::msg)?;
        tracing::info!(url = %format!("http://{metrics_addr}/metrics"), "serving Prometheus metrics");
    }
    let listener = TcpListener::bind(config.listen()).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {} ({}): {e}",
            config.listen(),
            C::LISTEN_ENV
        )
    })?;
    run(config, listener, crate::shutdown::signal()).await
}

/// Test helper: the config's flags are consistent and its defaults valid.
pub fn assert_defaults_valid<C: ServiceConfig>() {
    <C as clap::CommandFactory>::command().debug_assert();
    let config = C::try_parse_from([C::NAME]).expect("defaults parse");
    config.check().expect("defaults are valid");
}

/// Ends an operator tool: its own exit code, or the error on stderr and
/// exit 1 — a gRPC status as its code and message, anything else as its
/// cause chain on one line.
pub fn tool_exit(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(err) => {
            match err.downcast_ref::<tonic::Status>() {
                Some(status) => eprintln!("error: {:?}: {}", status.code(), status.message()),
                None => eprintln!("error: {err:#}"),
            }
            ExitCode::FAILURE
        }
    }
}
