//! Transport security, one way for every service: TLS on its gRPC port when
//! it has a certificate, mutual TLS when it names a CA its callers'
//! certificates must chain to, and verified TLS to every `https://`
//! upstream (presenting its own certificate, for upstreams that ask).
//!
//! All four settings are file paths of PEM files; empty means off. With none
//! set a service speaks plaintext gRPC, as `make run` does on loopback.

use std::path::Path;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

/// TLS settings of one service (flattened into [`crate::config::GrpcArgs`]).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// PEM certificate chain this service serves with (and presents to
    /// upstreams that ask for a client certificate); empty: plaintext.
    #[arg(long = "tls-cert", env = "BOOST_TLS_CERT", default_value = "")]
    pub cert: String,
    /// PEM private key of `BOOST_TLS_CERT`.
    #[arg(long = "tls-key", env = "BOOST_TLS_KEY", default_value = "")]
    pub key: String,
    /// PEM CA bundle callers' certificates must chain to; set, it makes
    /// TLS mutual (a caller without such a certificate is refused).
    #[arg(
        long = "tls-client-ca",
        env = "BOOST_TLS_CLIENT_CA",
        default_value = ""
    )]
    pub client_ca: String,
    /// PEM CA bundle that `https://` upstream URLs are verified against.
    #[arg(long = "tls-ca", env = "BOOST_TLS_CA", default_value = "")]
    pub ca: String,
}

fn read(path: &str, setting: &str) -> Result<Vec<u8>, String> {
    std::fs::read(Path::new(path)).map_err(|e| format!("cannot read {setting} {path:?}: {e}"))
}

impl TlsArgs {
    /// Checks the settings make sense together and their files can be read.
    pub fn validate(&self) -> Result<(), String> {
        if self.cert.is_empty() != self.key.is_empty() {
            return Err("BOOST_TLS_CERT and BOOST_TLS_KEY are set together or not at all".into());
        }
        if !self.client_ca.is_empty() && self.cert.is_empty() {
            return Err("BOOST_TLS_CLIENT_CA needs BOOST_TLS_CERT and BOOST_TLS_KEY: mutual TLS is TLS first".into());
        }
        for (path, setting) in [
            (&self.cert, "BOOST_TLS_CERT"),
            (&self.key, "BOOST_TLS_KEY"),
            (&self.client_ca, "BOOST_TLS_CLIENT_CA"),
            (&self.ca, "BOOST_TLS_CA"),
        ] {
            if !path.is_empty() {
                read(path, setting)?;
            }
        }
        Ok(())
    }

    fn identity(&self) -> Result<Option<Identity>, String> {
        if self.cert.is_empty() {
            return Ok(None);
        }
        Ok(Some(Identity::from_pem(
            read(&self.cert, "BOOST_TLS_CERT")?,
            read(&self.key, "BOOST_TLS_KEY")?,
        )))
    }

    /// The server side: `None` for plaintext.
    pub fn server_config(&self) -> Result<Option<ServerTlsConfig>, String> {
        let Some(identity) = self.identity()? else {
            return Ok(None);
        };
        let mut config = ServerTlsConfig::new().identity(identity);
        if !self.client_ca.is_empty() {
            config = config.client_ca_root(Certificate::from_pem(read(
                &self.client_ca,
                "BOOST_TLS_CLIENT_CA",
            )?));
        }
        Ok(Some(config))
    }

    /// An endpoint for an upstream `url`: verified TLS for `https://`
    /// (which needs `BOOST_TLS_CA`), plaintext for `http://`.
    pub fn endpoint(&self, url: &str) -> Result<Endpoint, String> {
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        if !url.starts_with("https://") {
            return Ok(endpoint);
        }
        if self.ca.is_empty() {
            return Err(format!(
                "{url} is https:// but BOOST_TLS_CA is not set: name the CA that signed its certificate"
            ));
        }
        let mut config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&self.ca, "BOOST_TLS_CA")?));
        if let Some(identity) = self.identity()? {
            config = config.identity(identity);
        }
        endpoint
            .tls_config(config)
            .map_err(|e| format!("TLS settings for {url}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_half_a_key_pair_or_mtls_without_tls_is_refused() {
        let half = TlsArgs {
            cert: "/x.pem".into(),
            ..Default::default()
        };
        assert!(
            half.validate()
                .expect_err("half a pair")
                .contains("together")
        );
        let mutual_only = TlsArgs {
            client_ca: "/ca.pem".into(),
            ..Default::default()
        };
        assert!(
            mutual_only
                .validate()
                .expect_err("mtls without tls")
                .contains("mutual")
        );
        let missing = TlsArgs {
            ca: "/nonexistent/ca.pem".into(),
            ..Default::default()
        };
        assert!(
            missing
                .validate()
                .expect_err("missing file")
                .contains("BOOST_TLS_CA")
        );
        assert!(TlsArgs::default().validate().is_ok());
    }

    #[test]
    fn test_https_upstream_needs_a_ca_and_http_stays_plain() {
        let plain = TlsArgs::default();
        assert!(plain.endpoint("http://127.0.0.1:1").is_ok());
        let err = plain
            .endpoint("https://127.0.0.1:1")
            .expect_err("https without a CA");
        assert!(err.contains("BOOST_TLS_CA"), "{err}");
    }
}
