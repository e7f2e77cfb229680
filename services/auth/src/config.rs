//! Auth service configuration.

use boost_server::config::{GrpcArgs, TelemetryArgs};
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

impl Config {
    /// Checks the whole configuration before anything binds or connects.
    pub fn validate(&self) -> Result<(), String> {
        self.listen
            .parse::<std::net::SocketAddr>()
            .map_err(|e| format!("invalid BOOST_AUTH_LISTEN {:?}: {e}", self.listen))?;
        if !self.admin_token.is_empty() && self.admin_token.len() < 16 {
            return Err("BOOST_ADMIN_TOKEN must be empty or at least 16 characters".into());
        }
        self.grpc.validate()?;
        self.postgres.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[test]
    fn test_flags_are_consistent() {
        Config::command().debug_assert();
    }

    #[test]
    fn test_defaults_are_valid() {
        let config = Config::try_parse_from(["auth"]).expect("defaults parse");
        config.validate().expect("defaults are valid");
    }
}
