//! Transport security over real connections, with a private CA made at test
//! time: auth serves mutual TLS, ingest serves TLS and reaches auth over
//! mutual TLS. A client that verifies against the CA gets through; a
//! plaintext client, a client that trusts another CA, and a client without
//! (or with a foreign) certificate are refused.

mod common;

use std::{net::SocketAddr, path::PathBuf};

use boost_proto::auth::v1::auth_service_client::AuthServiceClient;
use boost_server::tls::TlsArgs;
use boost_testkit::{
    TestBroker, TestDatabase, TestRedis,
    stack::{auth_args, ingest_args, project_with_key},
};
use clap::Parser;
use common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// PEM files of a throw-away PKI in a private directory, removed on drop.
struct Pki {
    dir: PathBuf,
}

/// A CA: its certificate and key, to sign leaves with.
struct Authority {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Authority {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed CA");
        Self { cert, key }
    }

    /// A leaf for loopback (serves and authenticates as a client alike).
    fn leaf(&self, name: &str) -> (String, String) {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("signed leaf");
        (cert.pem(), key.serialize_pem())
    }
}

impl Pki {
    /// The Boost CA and its leaves, and a foreign CA with a leaf of its own.
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("boost-tls-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("pki dir");
        let pki = Self { dir };
        let (ours, foreign) = (
            Authority::new("Boost test CA"),
            Authority::new("Foreign CA"),
        );
        pki.write("ca.pem", &ours.cert.pem());
        pki.write("foreign-ca.pem", &foreign.cert.pem());
        for (name, authority) in [
            ("auth", &ours),
            ("ingest", &ours),
            ("client", &ours),
            ("stranger", &foreign),
        ] {
            let (cert, key) = authority.leaf(name);
            pki.write(&format!("{name}.pem"), &cert);
            pki.write(&format!("{name}-key.pem"), &key);
        }
        pki
    }

    fn write(&self, name: &str, pem: &str) {
        std::fs::write(self.dir.join(name), pem).expect("write pem");
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// Flags serving with `leaf`'s certificate, trusting `ca` upstream, and
    /// (with `client_ca`) requiring callers' certificates.
    fn server_flags(&self, leaf: &str, client_ca: Option<&str>) -> Vec<String> {
        let mut flags = vec![
            "--tls-cert".into(),
            self.path(&format!("{leaf}.pem")),
            "--tls-key".into(),
            self.path(&format!("{leaf}-key.pem")),
            "--tls-ca".into(),
            self.path("ca.pem"),
        ];
        if let Some(ca) = client_ca {
            flags.extend(["--tls-client-ca".into(), self.path(ca)]);
        }
        flags
    }

    /// A client's TLS settings: trusting `ca`, presenting `leaf` if any.
    fn client(&self, ca: &str, leaf: Option<&str>) -> TlsArgs {
        TlsArgs {
            ca: self.path(ca),
            cert: leaf
                .map(|l| self.path(&format!("{l}.pem")))
                .unwrap_or_default(),
            key: leaf
                .map(|l| self.path(&format!("{l}-key.pem")))
                .unwrap_or_default(),
            client_ca: String::new(),
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}

fn https(addr: SocketAddr) -> String {
    format!("https://{addr}")
}

/// A channel to `url` as `tls` says.
fn channel(url: &str, tls: &TlsArgs) -> Channel {
    tls.endpoint(url)
        .expect("endpoint")
        .connect_timeout(std::time::Duration::from_secs(5))
        .connect_lazy()
}

/// Whether a health check over `channel` is answered.
async fn answers(channel: Channel) -> Result<(), String> {
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map(drop)
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))
}

/// Waits (≤ 30 s) until the server at `url` answers a verified client.
async fn until_serving(url: &str, tls: &TlsArgs) {
    let started = std::time::Instant::now();
    while let Err(why) = answers(channel(url, tls)).await {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{url} not serving TLS within 30 s: {why}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn test_tls_and_mutual_tls_refuse_what_they_cannot_verify() {
    let pki = Pki::new();
    let (db, redis, broker) = (
        TestDatabase::create().await,
        TestRedis::start(),
        TestBroker::start(),
    );
    let shutdown = CancellationToken::new();

    // Auth: mutual TLS (callers need a certificate from our CA).
    let (listener, auth) = bind().await;
    let mut args = auth_args(&db, &redis);
    args.extend(pki.server_flags("auth", Some("ca.pem")));
    let config = boost_auth::Config::try_parse_from(std::iter::once("auth".into()).chain(args))
        .expect("auth config");
    let token = shutdown.clone();
    tokio::spawn(async move { boost_auth::run(config, listener, token.cancelled_owned()).await });
    let verified = pki.client("ca.pem", Some("client"));
    until_serving(&https(auth), &verified).await;

    // Refused: plaintext, a client trusting another CA, no client
    // certificate, a client certificate from another CA.
    let plaintext = answers(channel(&format!("http://{auth}"), &TlsArgs::default())).await;
    assert!(plaintext.is_err(), "plaintext client was served");
    for (what, client) in [
        (
            "client trusting a foreign CA",
            pki.client("foreign-ca.pem", Some("client")),
        ),
        ("client without a certificate", pki.client("ca.pem", None)),
        (
            "client with a foreign certificate",
            pki.client("ca.pem", Some("stranger")),
        ),
    ] {
        let answer = answers(channel(&https(auth), &client)).await;
        assert!(answer.is_err(), "{what} was served");
    }

    // Ingest: TLS for its callers, mutual TLS to auth.
    let (listener, ingest) = bind().await;
    let mut args = ingest_args(auth, &broker, &redis);
    let at = args
        .iter()
        .position(|a| a == "--auth-url")
        .expect("auth flag");
    args[at + 1] = https(auth);
    args.extend(pki.server_flags("ingest", None));
    let config = boost_ingest::Config::try_parse_from(std::iter::once("ingest".into()).chain(args))
        .expect("ingest config");
    let token = shutdown.clone();
    tokio::spawn(async move { boost_ingest::run(config, listener, token.cancelled_owned()).await });
    let caller = pki.client("ca.pem", None);
    until_serving(&https(ingest), &caller).await;
    let plaintext = answers(channel(&format!("http://{ingest}"), &TlsArgs::default())).await;
    assert!(plaintext.is_err(), "plaintext client was served by ingest");

    // A key made over mutual TLS, then a Track over TLS that ingest
    // validates with auth over mutual TLS.
    let mut admin = AuthServiceClient::new(channel(&https(auth), &verified));
    let (_, key) = project_with_key(&mut admin, &["events:write"]).await;
    let mut client = boost_proto::ingest::v1::ingest_service_client::IngestServiceClient::new(
        channel(&https(ingest), &caller),
    );
    let answer = track(&mut client, &key, event("over_tls"))
        .await
        .expect("Track over TLS, validated over mutual TLS");
    assert_eq!(
        answer.result.expect("result").status,
        boost_proto::ingest::v1::EventStatus::Accepted as i32
    );
    shutdown.cancel();
}
