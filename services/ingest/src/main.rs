//! `ingest` binary: config → telemetry → [`boost_ingest::run`].

use boost_ingest::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = boost_server::config::parse();
    if let Err(message) = config.validate() {
        eprintln!("error: {message}");
        std::process::exit(2);
    }
    let _telemetry =
        boost_server::telemetry::init("ingest", &config.telemetry).map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(&config.listen).await?;
    boost_ingest::run(config, listener, boost_server::shutdown::signal()).await
}
