//! The whole of Boost in-process: auth, ingest, processor, query and edge,
//! each on its own loopback port 0, against a [`TestDatabase`] and a
//! [`TestBroker`]. The processor can be killed (its runtime dropped
//! mid-work) and started again, or run as its own OS process and `kill -9`ed;
//! ingest and query can run as OS processes too (for per-process telemetry).

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use boost_kafka::{KafkaArgs, client, record, rskafka::client::partition::Compression};
use boost_proto::{
    auth::v1::{
        CreateApiKeyRequest, CreateOrganizationRequest, CreateProjectRequest,
        auth_service_client::AuthServiceClient,
    },
    common::v1::EventBatchRecord,
};
use clap::Parser;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use uuid::Uuid;

use crate::{TestBroker, TestDatabase, TestRedis};

/// Admin token every test stack's auth service accepts.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// HS256 secret every test stack's auth service verifies JWTs with.
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789abcdefghijklmnop";

/// A running in-process Boost.
pub struct Stack {
    /// The stack's own database.
    pub db: TestDatabase,
    /// The stack's own broker.
    pub broker: TestBroker,
    /// The stack's own Redis.
    pub redis: TestRedis,
    /// Auth service address.
    pub auth: SocketAddr,
    /// Ingest service address.
    pub ingest: SocketAddr,
    /// Query service address.
    pub query: SocketAddr,
    /// Edge (gRPC-web) address.
    pub edge: SocketAddr,
    /// Processor health address (changes on restart).
    pub processor: Option<SocketAddr>,
    /// Stops every service when the stack is dropped.
    shutdown: CancellationToken,
    /// The processor's own runtime: shutting it down stops every task of
    /// that instance at once, as a crash would.
    processor_runtime: Option<tokio::runtime::Runtime>,
}

/// A service running as its own OS process; SIGKILLed when dropped.
pub struct ServiceProcess {
    /// The process.
    child: std::process::Child,
    /// Its gRPC address.
    pub addr: SocketAddr,
}

impl ServiceProcess {
    /// Starts `command` (a service listening on `addr`) and returns once it
    /// reports SERVING.
    pub async fn spawn(mut command: std::process::Command, addr: SocketAddr) -> Self {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {:?}: {e}", command.get_program()));
        let process = Self { child, addr };
        wait_serving(addr).await;
        process
    }

    /// `kill -9`: no shutdown path runs, an open transaction never commits.
    pub fn kill(mut self) {
        self.kill_now();
    }

    /// Waits up to `limit` for the process to exit by itself (after a
    /// SIGTERM, say); whether it did.
    pub async fn exited_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// CPU time the process has used (user + system, from `/proc`; Linux
    /// counts it in ticks of 1/100 s): what a benchmark divides by the work
    /// done, which a busy machine disturbs far less than throughput.
    pub fn cpu_time(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may hold spaces) start at 3.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |index: usize| fields.get(index - 3).and_then(|v| v.parse::<u64>().ok());
        let total = ticks(14).unwrap_or(0) + ticks(15).unwrap_or(0);
        Duration::from_millis(total * 10)
    }

    /// Peak and current resident memory in bytes (`VmHWM` and `VmRSS` from
    /// `/proc`): what a benchmark reports as the process's memory under
    /// load. Zeros once the process is gone.
    pub fn resident_memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kib = |field: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .unwrap_or(0)
                * 1024
        };
        (kib("VmHWM:"), kib("VmRSS:"))
    }

    /// Open file descriptors (entries of `/proc/<pid>/fd`): sockets, files
    /// and pipes; 0 once the process is gone.
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|entries| entries.count())
            .unwrap_or(0)
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`) with `kill(1)`: a stopped
    /// process keeps its sockets but runs nothing until continued.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// A service process that can be killed and started again on the same
/// address and flags, its stderr appended to `<logs>/<name>.log`.
pub struct ManagedService {
    /// Its name, e.g. `ingest`.
    pub name: &'static str,
    /// The binary (e.g. `env!("CARGO_BIN_EXE_boost-test-ingest")`).
    binary: &'static str,
    /// Its flags.
    args: Vec<String>,
    /// Where it listens, the same across restarts.
    pub addr: SocketAddr,
    /// The running process, if any.
    pub process: Option<ServiceProcess>,
}

impl ManagedService {
    /// A service on a free loopback port; not started yet.
    pub fn new(name: &'static str, binary: &'static str, args: Vec<String>) -> Self {
        Self {
            name,
            binary,
            args,
            addr: ([127, 0, 0, 1], crate::free_port()).into(),
            process: None,
        }
    }

    /// Starts it (`BOOST_LOG=warn`) and returns once it reports SERVING.
    pub async fn start(&mut self, logs: &std::path::Path) {
        let mut command = command(self.binary, &self.args, self.addr);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logs.join(format!("{}.log", self.name)))
            .expect("service log");
        command
            .env("BOOST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(log);
        self.process = Some(ServiceProcess::spawn(command, self.addr).await);
    }

    /// `kill -9`, if it runs.
    pub fn kill(&mut self) {
        if let Some(process) = self.process.take() {
            process.kill();
        }
    }
}

/// `http://<addr>`, for clients.
pub fn url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

fn parse<C: Parser>(name: &str, args: &[String]) -> C {
    let argv = std::iter::once(name.to_string()).chain(args.iter().cloned());
    C::try_parse_from(argv).unwrap_or_else(|e| panic!("test config for {name}: {e}"))
}

async fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

/// Waits until `addr` reports SERVING on grpc.health.v1 (at most 30 s).
pub async fn wait_serving(addr: SocketAddr) {
    wait_health(addr, "").await;
}

/// Waits until `addr` reports `service` (e.g. the `redis` dependency) SERVING.
pub async fn wait_health(addr: SocketAddr, service: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = async {
            let channel = Channel::from_shared(url(addr)).ok()?.connect().await.ok()?;
            let response = HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: service.to_string(),
                })
                .await
                .ok()?;
            Some(response.into_inner().status)
        }
        .await;
        if status == Some(ServingStatus::Serving as i32) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{addr} did not report {service:?} SERVING within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The partition lease of the stack's processors (ms): a killed instance's
/// partitions are taken over within twice this.
pub const PROCESSOR_LEASE_MS: u64 = 900;

impl Stack {
    /// Starts a database, a broker and the five services; returns once all report SERVING.
    pub async fn start() -> Self {
        Self::start_on(TestBroker::start()).await
    }

    /// Like [`Stack::start`], on a given broker (e.g. an in-memory one).
    pub async fn start_on(broker: TestBroker) -> Self {
        Self::start_with(broker, TestDatabase::create().await).await
    }

    /// Like [`Stack::start`], on a given broker and database (e.g. one on a
    /// private [`crate::TestPostgres`] the test stops).
    pub async fn start_with(broker: TestBroker, db: TestDatabase) -> Self {
        Self::start_on_redis(broker, db, TestRedis::start()).await
    }

    /// Like [`Stack::start_with`], on a given Redis (e.g. another database
    /// number of a server a second stack uses).
    pub async fn start_on_redis(broker: TestBroker, db: TestDatabase, redis: TestRedis) -> Self {
        let shutdown = CancellationToken::new();

        let auth = spawn_auth(&db, &redis, &shutdown).await;
        let (query_listener, query) = bind().await;
        let (edge_listener, edge) = bind().await;

        let ingest = spawn_ingest(auth, &broker, &redis, &shutdown, &[]).await;

        let query_config: boost_query::Config = parse("query", &query_args(auth, &db));
        let token = shutdown.clone();
        tokio::spawn(async move {
            boost_query::run(query_config, query_listener, token.cancelled_owned()).await
        });

        spawn_edge(edge_listener, auth, ingest, query, &shutdown, &[]);

        let mut stack = Self {
            db,
            broker,
            redis,
            auth,
            ingest,
            query,
            edge,
            processor: None,
            shutdown,
            processor_runtime: None,
        };
        stack.start_processor().await;
        for addr in [auth, ingest, query, edge] {
            wait_serving(addr).await;
        }
        // Redis-backed paths (key cache, dedup, rate limits) are live only once
        // connected; tests expect them.
        for addr in [auth, ingest] {
            wait_health(addr, boost_storage::redis::HEALTH_NAME).await;
        }
        stack
    }

    /// Flags of a processor instance of this stack.
    pub fn processor_args(&self) -> Vec<String> {
        processor_args(&self.broker, &self.db, self.auth, &self.redis)
    }

    /// Starts the processor (again), reading offsets from the database.
    pub async fn start_processor(&mut self) {
        assert!(
            self.processor_runtime.is_none(),
            "processor already running"
        );
        let (listener, addr) = bind().await;
        let config: boost_processor::Config = parse("processor", &self.processor_args());
        let token = self.shutdown.child_token();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("processor")
            .enable_all()
            .build()
            .expect("processor runtime");
        let listener = listener.into_std().expect("std listener");
        runtime.spawn(async move {
            let listener = TcpListener::from_std(listener).expect("listener");
            boost_processor::run(config, listener, token.cancelled_owned()).await
        });
        self.processor_runtime = Some(runtime);
        wait_serving(addr).await;
        // Stored watermarks reach ingest through Redis (COMMITTED acks).
        wait_health(addr, boost_storage::redis::HEALTH_NAME).await;
        self.processor = Some(addr);
    }

    /// Starts a processor of this stack as its own OS process from
    /// `binary` (integration tests pass
    /// `env!("CARGO_BIN_EXE_boost-test-processor")`); returns once it serves.
    pub async fn spawn_processor_process(&self, binary: &str) -> ServiceProcess {
        let addr: SocketAddr = ([127, 0, 0, 1], crate::free_port()).into();
        let mut command = self.processor_command(binary, addr);
        command
            .env("BOOST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        ServiceProcess::spawn(command, addr).await
    }

    /// The command line of a processor process of this stack listening on
    /// `addr`, for tests that set its environment or read its output.
    pub fn processor_command(&self, binary: &str, addr: SocketAddr) -> std::process::Command {
        command(binary, &self.processor_args(), addr)
    }

    /// The command line of an ingest process of this stack listening on
    /// `addr` (`binary`: `env!("CARGO_BIN_EXE_boost-test-ingest")`).
    pub fn ingest_command(&self, binary: &str, addr: SocketAddr) -> std::process::Command {
        self.ingest_command_on(binary, addr, &self.broker)
    }

    /// Like [`Stack::ingest_command`], producing to another `broker` (the
    /// telemetry bench gives each run a fresh one).
    pub fn ingest_command_on(
        &self,
        binary: &str,
        addr: SocketAddr,
        broker: &TestBroker,
    ) -> std::process::Command {
        command(binary, &ingest_args(self.auth, broker, &self.redis), addr)
    }

    /// The command line of a query process of this stack listening on
    /// `addr` (`binary`: `env!("CARGO_BIN_EXE_boost-test-query")`).
    pub fn query_command(&self, binary: &str, addr: SocketAddr) -> std::process::Command {
        command(binary, &query_args(self.auth, &self.db), addr)
    }

    /// Kills the processor: every task of the instance stops at its current
    /// await point and its sockets close, so an in-flight transaction never
    /// commits, as with `kill -9`.
    pub fn kill_processor(&mut self) {
        if let Some(runtime) = self.processor_runtime.take() {
            runtime.shutdown_background();
        }
        self.processor = None;
    }

    /// Starts another auth instance on the same database and Redis (for
    /// multi-instance tests); it stops with the stack.
    pub async fn spawn_auth(&self) -> SocketAddr {
        let addr = spawn_auth(&self.db, &self.redis, &self.shutdown).await;
        wait_serving(addr).await;
        wait_health(addr, boost_storage::redis::HEALTH_NAME).await;
        addr
    }

    /// Starts another ingest instance of this stack with `extra` flags.
    pub async fn spawn_ingest(&self, extra: &[&str]) -> SocketAddr {
        let addr = spawn_ingest(self.auth, &self.broker, &self.redis, &self.shutdown, extra).await;
        wait_serving(addr).await;
        wait_health(addr, boost_storage::redis::HEALTH_NAME).await;
        addr
    }

    /// Starts another edge in front of this stack's services with `extra`
    /// flags (e.g. `--admin-origins`); it stops with the stack.
    pub async fn spawn_edge(&self, extra: &[&str]) -> SocketAddr {
        self.spawn_edge_to(self.ingest, extra).await
    }

    /// Like [`Stack::spawn_edge`], routing ingest calls to `ingest` (e.g. an
    /// instance with small rate limits).
    pub async fn spawn_edge_to(&self, ingest: SocketAddr, extra: &[&str]) -> SocketAddr {
        let (listener, addr) = bind().await;
        spawn_edge(
            listener,
            self.auth,
            ingest,
            self.query,
            &self.shutdown,
            extra,
        );
        wait_serving(addr).await;
        addr
    }

    /// Writes `batch` as one record straight to partition 0 of the events
    /// topic, past ingest's validation (events a handler will refuse).
    pub async fn produce_raw(&self, batch: &EventBatchRecord) {
        let args = KafkaArgs::with_brokers(&self.broker.address);
        let kafka = client::connect(&args, "test").await.expect("kafka");
        let partition = client::partition_client(&kafka, &args.topic, 0)
            .await
            .expect("partition");
        partition
            .produce(vec![record::encode(batch, &[])], Compression::NoCompression)
            .await
            .expect("produce");
    }

    /// A client of the auth service.
    pub async fn auth_client(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::connect(url(self.auth))
            .await
            .expect("connect auth")
    }

    /// Creates an organisation, a project and a key with `scopes`; returns
    /// the project id and the key's secret.
    pub async fn project_with_key(&self, scopes: &[&str]) -> (Uuid, String) {
        project_with_key(&mut self.auth_client().await, scopes).await
    }

    /// Creates another key with `scopes` for `project`; returns its secret.
    pub async fn key_for(&self, project: Uuid, scopes: &[&str]) -> String {
        key_for(&mut self.auth_client().await, project, scopes).await
    }
}

/// Creates, as the operator through `auth` (any channel: plaintext or TLS),
/// an organisation, a project and a key with `scopes`; returns the project
/// id and the key's secret.
pub async fn project_with_key(
    auth: &mut AuthServiceClient<Channel>,
    scopes: &[&str],
) -> (Uuid, String) {
    let org = auth
        .create_organization(admin_request(CreateOrganizationRequest {
            name: format!("org-{}", Uuid::new_v4()),
        }))
        .await
        .expect("create organisation")
        .into_inner()
        .organization
        .expect("organisation");
    let project = auth
        .create_project(admin_request(CreateProjectRequest {
            organization_id: org.id,
            name: "test".into(),
        }))
        .await
        .expect("create project")
        .into_inner()
        .project
        .expect("project");
    let project_id = project.id.parse().expect("project id");
    (project_id, key_for(auth, project_id, scopes).await)
}

/// Creates, as the operator through `auth`, a key with `scopes` for
/// `project`; returns its secret.
pub async fn key_for(
    auth: &mut AuthServiceClient<Channel>,
    project: Uuid,
    scopes: &[&str],
) -> String {
    auth.create_api_key(admin_request(CreateApiKeyRequest {
        project_id: project.to_string(),
        name: "test".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        expire_time: None,
    }))
    .await
    .expect("create key")
    .into_inner()
    .secret
}

/// Starts an ingest service (port 0) on the given auth, broker and Redis, with
/// `extra` flags (e.g. a small rate limit); it stops with `shutdown`.
pub async fn spawn_ingest(
    auth: SocketAddr,
    broker: &TestBroker,
    redis: &TestRedis,
    shutdown: &CancellationToken,
    extra: &[&str],
) -> SocketAddr {
    let (listener, addr) = bind().await;
    let mut args = ingest_args(auth, broker, redis);
    args.extend(extra.iter().map(|a| a.to_string()));
    let config: boost_ingest::Config = parse("ingest", &args);
    let token = shutdown.clone();
    tokio::spawn(async move { boost_ingest::run(config, listener, token.cancelled_owned()).await });
    addr
}

/// Flags of an ingest instance on the given auth, broker and Redis.
pub fn ingest_args(auth: SocketAddr, broker: &TestBroker, redis: &TestRedis) -> Vec<String> {
    vec![
        "--redis-url".into(),
        redis.url.clone(),
        "--ack-timeout-ms".into(),
        "3000".into(),
        "--auth-url".into(),
        url(auth),
        "--kafka-brokers".into(),
        broker.address.clone(),
        "--kafka-partitions".into(),
        broker.partitions.to_string(),
    ]
}

/// Flags of a query instance on the given auth and database.
pub fn query_args(auth: SocketAddr, db: &TestDatabase) -> Vec<String> {
    vec![
        "--auth-url".into(),
        url(auth),
        "--database-url".into(),
        db.url.clone(),
    ]
}

/// Flags of a processor on the given broker, database, auth and Redis, with
/// the short test lease ([`PROCESSOR_LEASE_MS`]).
pub fn processor_args(
    broker: &TestBroker,
    db: &TestDatabase,
    auth: SocketAddr,
    redis: &TestRedis,
) -> Vec<String> {
    vec![
        "--kafka-brokers".into(),
        broker.address.clone(),
        "--kafka-partitions".into(),
        broker.partitions.to_string(),
        // Short leases: a killed instance's partitions return quickly.
        "--lease-ms".into(),
        PROCESSOR_LEASE_MS.to_string(),
        "--database-url".into(),
        db.url.clone(),
        "--database-migrate".into(),
        "false".into(),
        "--auth-url".into(),
        url(auth),
        "--redis-url".into(),
        redis.url.clone(),
    ]
}

/// A service process's command line: `binary`, its flags, `--listen addr`.
pub fn command(binary: &str, args: &[String], addr: SocketAddr) -> std::process::Command {
    let mut command = std::process::Command::new(binary);
    command.args(args).args(["--listen", &addr.to_string()]);
    command
}

/// Flags of an edge in front of the given services.
pub fn edge_args(auth: SocketAddr, ingest: SocketAddr, query: SocketAddr) -> Vec<String> {
    vec![
        "--auth-url".into(),
        url(auth),
        "--ingest-url".into(),
        url(ingest),
        "--query-url".into(),
        url(query),
    ]
}

/// Flags of an auth instance on `db` and `redis`, with the stack's admin
/// token and JWT secret.
pub fn auth_args(db: &TestDatabase, redis: &TestRedis) -> Vec<String> {
    vec![
        "--admin-token".into(),
        ADMIN_TOKEN.into(),
        "--jwt-secret".into(),
        JWT_SECRET.into(),
        "--database-url".into(),
        db.url.clone(),
        "--database-migrate".into(),
        "false".into(),
        "--redis-url".into(),
        redis.url.clone(),
    ]
}

/// Starts an edge on `listener` in front of the given services.
fn spawn_edge(
    listener: TcpListener,
    auth: SocketAddr,
    ingest: SocketAddr,
    query: SocketAddr,
    shutdown: &CancellationToken,
    extra: &[&str],
) {
    let mut args = edge_args(auth, ingest, query);
    args.extend(extra.iter().map(|a| a.to_string()));
    let config: boost_edge::Config = parse("edge", &args);
    let token = shutdown.clone();
    tokio::spawn(async move { boost_edge::run(config, listener, token.cancelled_owned()).await });
}

/// Starts an auth service on `db` and `redis` (port 0) that stops with `shutdown`.
pub async fn spawn_auth(
    db: &TestDatabase,
    redis: &TestRedis,
    shutdown: &CancellationToken,
) -> SocketAddr {
    let (listener, addr) = bind().await;
    let config: boost_auth::Config = parse("auth", &auth_args(db, redis));
    let token = shutdown.clone();
    tokio::spawn(async move { boost_auth::run(config, listener, token.cancelled_owned()).await });
    addr
}

/// Wraps `body` with the stack's admin token.
pub fn admin_request<T>(body: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(body);
    request
        .metadata_mut()
        .insert("x-admin-token", ADMIN_TOKEN.parse().expect("ascii token"));
    request
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.kill_processor();
    }
}
