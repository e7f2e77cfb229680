//! `boost-admin`: administers Boost through the auth service's gRPC API.
//!
//! Authenticates as the operator (`BOOST_ADMIN_TOKEN`) or with an API key
//! holding `keys:admin` (`BOOST_API_KEY`, its own project only).
//!
//! ```text
//! boost-admin create-org --name Acme
//! boost-admin create-project --org <id> --name web
//! boost-admin get-project --project <id>        | list-projects --org <id>
//! boost-admin rename-project --project <id> --name shop
//! boost-admin set-retention --project <id> --days 90
//! boost-admin delete-project --project <id>
//! boost-admin create-key --project <id> --name ingest --scope events:write
//! boost-admin list-keys --project <id>          | revoke-key --key <id> | rotate-key --key <id>
//! boost-admin demo                              # org + project + read/write key, as shell variables
//! boost-admin wait-serving --addr http://127.0.0.1:50052   # until its health says SERVING
//! ```

use boost_proto::auth::v1::{self as pb, auth_service_client::AuthServiceClient};
use clap::{Parser, Subcommand};
use tonic::{Request, transport::Channel};

/// Command-line administration of organisations, projects and keys.
#[derive(Parser)]
#[command(
    name = "boost-admin",
    about = "Administer Boost through the auth service"
)]
struct Cli {
    /// Where the auth service is (the services' own config block).
    #[command(flatten)]
    auth: boost_server::config::AuthClientArgs,
    /// Operator token (the auth service's BOOST_ADMIN_TOKEN).
    #[arg(
        long,
        env = "BOOST_ADMIN_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    admin_token: String,
    /// Or an API key with keys:admin, acting on its own project.
    #[arg(
        long,
        env = "BOOST_API_KEY",
        hide_env_values = true,
        default_value = ""
    )]
    api_key: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an organisation; prints its id.
    CreateOrg {
        /// Display name.
        #[arg(long)]
        name: String,
    },
    /// Create a project; prints its id.
    CreateProject {
        /// Organisation id.
        #[arg(long = "org")]
        organization_id: String,
        /// Display name.
        #[arg(long)]
        name: String,
    },
    /// Show a project.
    GetProject {
        /// Project id (empty with an API key: its own).
        #[arg(long = "project", default_value = "")]
        project_id: String,
    },
    /// List an organisation's projects.
    ListProjects {
        /// Organisation id.
        #[arg(long = "org")]
        organization_id: String,
    },
    /// Rename a project.
    RenameProject {
        /// Project id (empty with an API key: its own).
        #[arg(long = "project", default_value = "")]
        project_id: String,
        /// New name.
        #[arg(long)]
        name: String,
    },
    /// Set how many whole UTC days of events a project keeps (1..3650).
    SetRetention {
        /// Project id (empty with an API key: its own).
        #[arg(long = "project", default_value = "")]
        project_id: String,
        /// Days kept.
        #[arg(long)]
        days: i32,
    },
    /// Delete a project with its keys and events.
    DeleteProject {
        /// Project id.
        #[arg(long = "project")]
        project_id: String,
    },
    /// Create an API key; prints the secret (shown only this once).
    CreateKey {
        /// Project id (empty with an API key: its own).
        #[arg(long = "project", default_value = "")]
        project_id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Scopes to grant (repeat): events:write, events:read, keys:admin.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    /// List a project's keys.
    ListKeys {
        /// Project id (empty with an API key: its own).
        #[arg(long = "project", default_value = "")]
        project_id: String,
    },
    /// Revoke a key.
    RevokeKey {
        /// Key id.
        #[arg(long = "key")]
        api_key_id: String,
    },
    /// Replace a key with a new one and revoke the old; prints the new secret.
    RotateKey {
        /// Key id.
        #[arg(long = "key")]
        api_key_id: String,
    },
    /// Create a demo organisation, project and read/write key; prints them as shell variables.
    Demo,
    /// Wait until a Boost service's grpc.health.v1 says SERVING (a bound
    /// port is not enough: services open it before migrations finish).
    WaitServing {
        /// The service's URL.
        #[arg(long)]
        addr: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout_secs: u64,
    },
}

/// Attaches the caller's credential to every request.
struct Credential(Vec<(&'static str, String)>);

impl Credential {
    fn request<T>(&self, body: T) -> Request<T> {
        let mut request = Request::new(body);
        for (name, value) in &self.0 {
            match value.parse() {
                Ok(value) => {
                    request.metadata_mut().insert(*name, value);
                }
                Err(_) => eprintln!("warning: {name} is not a valid header value; not sent"),
            }
        }
        request
    }
}

fn describe_project(p: &pb::Project) -> String {
    format!(
        "{}  org={}  name={:?}  retention_days={}",
        p.id, p.organization_id, p.name, p.retention_days
    )
}

fn describe_key(k: &pb::ApiKey) -> String {
    let state = if k.revoke_time.is_some() {
        "revoked"
    } else {
        "active"
    };
    let last_used = k
        .last_used_time
        .map(|t| t.to_string())
        .unwrap_or_else(|| "never".into());
    format!(
        "{}  {}…  {:?}  [{}]  {state}  last used {last_used}",
        k.id,
        k.prefix,
        k.name,
        k.scopes.join(" ")
    )
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let done = run(Cli::parse()).await;
    boost_server::service::tool_exit(done.map(|()| std::process::ExitCode::SUCCESS))
}

/// Polls `addr`'s overall health every 200 ms until SERVING or `timeout`.
async fn wait_serving(addr: &str, timeout: std::time::Duration) -> anyhow::Result<()> {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let deadline = std::time::Instant::now() + timeout;
    let mut last = String::from("not reachable");
    while std::time::Instant::now() < deadline {
        let channel = Channel::from_shared(addr.to_string())?
            .connect_timeout(std::time::Duration::from_secs(1))
            .timeout(std::time::Duration::from_secs(2));
        match channel.connect().await {
            Ok(channel) => match HealthClient::new(channel)
                .check(HealthCheckRequest::default())
                .await
            {
                Ok(answer) if answer.get_ref().status == ServingStatus::Serving as i32 => {
                    return Ok(());
                }
                Ok(answer) => last = format!("status {:?}", answer.get_ref().status()),
                Err(status) => last = format!("{:?}: {}", status.code(), status.message()),
            },
            Err(e) => last = format!("not reachable: {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    anyhow::bail!("{addr} did not report SERVING within {timeout:?} (last: {last})")
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::WaitServing { addr, timeout_secs } = &cli.command {
        return wait_serving(addr, std::time::Duration::from_secs(*timeout_secs)).await;
    }
    let credential = match (cli.admin_token.is_empty(), cli.api_key.is_empty()) {
        (false, _) => Credential(vec![("x-admin-token", cli.admin_token.clone())]),
        (true, false) => Credential(vec![("x-api-key", cli.api_key.clone())]),
        (true, true) => anyhow::bail!(
            "set BOOST_ADMIN_TOKEN (operator) or BOOST_API_KEY (a key with keys:admin)"
        ),
    };
    let channel = Channel::from_shared(cli.auth.url.clone())?
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(10))
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach auth at {}: {e}", cli.auth.url))?;
    let mut auth = AuthServiceClient::new(channel);
    let c = &credential;
    match cli.command {
        Command::CreateOrg { name } => {
            let org = auth
                .create_organization(c.request(pb::CreateOrganizationRequest { name }))
                .await?
                .into_inner();
            println!("{}", org.organization.unwrap_or_default().id);
        }
        Command::CreateProject {
            organization_id,
            name,
        } => {
            let body = pb::CreateProjectRequest {
                organization_id,
                name,
            };
            let project = auth.create_project(c.request(body)).await?.into_inner();
            println!("{}", project.project.unwrap_or_default().id);
        }
        Command::GetProject { project_id } => {
            let project = auth
                .get_project(c.request(pb::GetProjectRequest { project_id }))
                .await?
                .into_inner();
            println!("{}", describe_project(&project.project.unwrap_or_default()));
        }
        Command::ListProjects { organization_id } => {
            let mut page_token = String::new();
            loop {
                let body = pb::ListProjectsRequest {
                    organization_id: organization_id.clone(),
                    page_size: 1000,
                    page_token,
                };
                let page = auth.list_projects(c.request(body)).await?.into_inner();
                page.projects
                    .iter()
                    .for_each(|p| println!("{}", describe_project(p)));
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
        }
        Command::RenameProject { project_id, name } => {
            let project = auth
                .update_project(c.request(pb::UpdateProjectRequest {
                    project_id,
                    name,
                    retention_days: None,
                }))
                .await?
                .into_inner();
            println!("{}", describe_project(&project.project.unwrap_or_default()));
        }
        Command::SetRetention { project_id, days } => {
            let project = auth
                .update_project(c.request(pb::UpdateProjectRequest {
                    project_id,
                    name: String::new(),
                    retention_days: Some(days),
                }))
                .await?
                .into_inner();
            println!("{}", describe_project(&project.project.unwrap_or_default()));
        }
        Command::DeleteProject { project_id } => {
            auth.delete_project(c.request(pb::DeleteProjectRequest {
                project_id: project_id.clone(),
            }))
            .await?;
            println!("deleted project {project_id}");
        }
        Command::CreateKey {
            project_id,
            name,
            scopes,
        } => {
            let body = pb::CreateApiKeyRequest {
                project_id,
                name,
                scopes,
                expire_time: None,
            };
            let key = auth.create_api_key(c.request(body)).await?.into_inner();
            println!("{}", key.secret);
        }
        Command::ListKeys { project_id } => {
            let keys = auth
                .list_api_keys(c.request(pb::ListApiKeysRequest { project_id }))
                .await?
                .into_inner();
            keys.api_keys
                .iter()
                .for_each(|k| println!("{}", describe_key(k)));
        }
        Command::RevokeKey { api_key_id } => {
            let key = auth
                .revoke_api_key(c.request(pb::RevokeApiKeyRequest { api_key_id }))
                .await?
                .into_inner();
            println!("{}", describe_key(&key.api_key.unwrap_or_default()));
        }
        Command::RotateKey { api_key_id } => {
            let rotated = auth
                .rotate_api_key(c.request(pb::RotateApiKeyRequest { api_key_id }))
                .await?
                .into_inner();
            eprintln!("revoked {}", rotated.revoked_api_key.unwrap_or_default().id);
            println!("{}", rotated.secret);
        }
        Command::WaitServing { .. } => unreachable!("answered before connecting"),
        Command::Demo => {
            let suffix = uuid::Uuid::now_v7().simple().to_string();
            let body = pb::CreateOrganizationRequest {
                name: format!("demo-{}", &suffix[20..]),
            };
            let org = auth
                .create_organization(c.request(body))
                .await?
                .into_inner()
                .organization
                .unwrap_or_default();
            let body = pb::CreateProjectRequest {
                organization_id: org.id.clone(),
                name: "demo".into(),
            };
            let project = auth
                .create_project(c.request(body))
                .await?
                .into_inner()
                .project
                .unwrap_or_default();
            let body = pb::CreateApiKeyRequest {
                project_id: project.id.clone(),
                name: "demo".into(),
                scopes: vec!["events:write".into(), "events:read".into()],
                expire_time: None,
            };
            let key = auth.create_api_key(c.request(body)).await?.into_inner();
            println!("BOOST_ORG_ID={}", org.id);
            println!("BOOST_PROJECT_ID={}", project.id);
            println!("BOOST_API_KEY={}", key.secret);
        }
    }
    Ok(())
}
