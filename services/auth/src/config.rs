//! Auth service configuration.

use boost_server::config::{GrpcArgs, TelemetryArgs};
use boost_server::service::ServiceConfig;
use boost_storage::PostgresArgs;

/// Everything the auth service reads at start-up.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "auth", about = "Boost auth service")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "BOOST_AUTH_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: String,
    /// Secret that admin RPCs (create organisation / project / key) require in
    /// `x-admin-token`. Empty turns the admin RPCs off.
    #[arg(
        long,
        env = "BOOST_ADMIN_TOKEN",
        default_value = "",
        hide_env_values = true
    )]
    pub admin_token: String,
    /// gRPC server limits.
    #[command(flatten)]
    pub grpc: GrpcArgs,
    /// Database.
    #[command(flatten)]
    pub postgres: PostgresArgs,
    /// Logs and traces.
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

impl ServiceConfig for Config {
    const NAME: &'static str = "auth";
    const LISTEN_ENV: &'static str = "BOOST_AUTH_LISTEN";

    fn listen(&self) -> &str {
        &self.listen
    }

    fn telemetry(&self) -> &TelemetryArgs {
        &self.telemetry
    }

    fn validate(&self) -> Result<(), String> {
        if !self.admin_token.is_empty() && self.admin_token.len() < 16 {
            return Err("BOOST_ADMIN_TOKEN must be empty or at least 16 characters".into());
        }
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
