//! A fresh PostgreSQL database per test, on the server `make test` found or
//! started, migrated, and dropped when the test ends.

use boost_storage::{Pool, PostgresArgs};
use tokio_postgres::NoTls;

/// Server used when `BOOST_DATABASE_URL` is unset.
const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database that exists for one test.
pub struct TestDatabase {
    /// URL of the test's own database.
    pub url: String,
    /// Its name, for dropping.
    name: String,
    /// URL of the maintenance database on the same server.
    admin_url: String,
}

impl TestDatabase {
    /// Creates and migrates a new database. Panics with instructions when
    /// PostgreSQL is not reachable.
    pub async fn create() -> Self {
        let server = std::env::var("BOOST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER.into());
        Self::create_on(&server).await
    }

    /// Creates and migrates a new database on the server at `server`.
    pub async fn create_on(server: &str) -> Self {
        let database = Self::unborn_on(server).await;
        database.create_now().await;
        boost_storage::migrate::run(&database.args())
            .await
            .expect("migrations apply to a fresh database");
        database
    }

    /// A database name that does not exist yet (services are to create
    /// it); dropped when the test ends if anything created it.
    pub async fn unborn() -> Self {
        let server = std::env::var("BOOST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER.into());
        Self::unborn_on(&server).await
    }

    async fn unborn_on(server: &str) -> Self {
        let mut config: tokio_postgres::Config = server.parse().expect("BOOST_DATABASE_URL parses");
        config.dbname("postgres");
        config.connect_timeout(std::time::Duration::from_secs(5));
        let (client, connection) = config.connect(NoTls).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {server}: {e}\n\
                 run the tests with `make test` (it finds or starts PostgreSQL) \
                 or set BOOST_DATABASE_URL to a server with trust auth"
            )
        });
        let driver = tokio::spawn(connection);
        drop(client);
        let _ = driver.await;
        let name = format!("boost_test_{}", uuid::Uuid::new_v4().simple());
        Self {
            url: url_with_db(&config, &name),
            name,
            admin_url: url_with_db(&config, "postgres"),
        }
    }

    async fn create_now(&self) {
        let (client, connection) = tokio_postgres::connect(&self.admin_url, NoTls)
            .await
            .expect("connect to the maintenance database");
        let driver = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {}", self.name))
            .await
            .expect("create test database");
        drop(client);
        let _ = driver.await;
    }

    /// Database settings pointing at this database.
    pub fn args(&self) -> PostgresArgs {
        PostgresArgs::with_url(&self.url)
    }

    /// A small pool on this database.
    pub fn pool(&self) -> Pool {
        boost_storage::pool::build(&self.args()).expect("pool builds")
    }
}

fn url_with_db(config: &tokio_postgres::Config, db: &str) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    match config.get_password() {
        Some(p) => format!(
            "postgres://{user}:{}@{host}:{port}/{db}",
            String::from_utf8_lossy(p)
        ),
        None => format!("postgres://{user}@{host}:{port}/{db}"),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs outside any runtime guarantee: use a thread with its own.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&admin_url, NoTls).await?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
    }
}
