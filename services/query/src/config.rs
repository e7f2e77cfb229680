//! Query service configuration.

use boost_server::config::{AuthClientArgs, GrpcArgs, TelemetryArgs};
use boost_server::service::ServiceConfig;
use boost_storage::PostgresArgs;

/// Everything the query service reads at start-up.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "query", about = "Boost query service")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "BOOST_QUERY_LISTEN", default_value = "127.0.0.1:50053")]
    pub listen: String,
    /// Where auth is.
    #[command(flatten)]
    pub auth: AuthClientArgs,
    /// Database.
    #[command(flatten)]
    pub postgres: PostgresArgs,
    /// gRPC server limits.
    #[command(flatten)]
    pub grpc: GrpcArgs,
    /// Logs and traces.
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

impl ServiceConfig for Config {
    const NAME: &'static str = "query";
    const LISTEN_ENV: &'static str = "BOOST_QUERY_LISTEN";

    fn listen(&self) -> &str {
        &self.listen
    }

    fn telemetry(&self) -> &TelemetryArgs {
        &self.telemetry
    }

    fn validate(&self) -> Result<(), String> {
        self.grpc.validate()?;
        self.postgres.validate()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn test_flags_consistent_and_defaults_valid() {
        boost_server::service::assert_defaults_valid::<super::Config>();
    }
}
