//! `boost-admin`: administers Boost through the auth service's gRPC API.
//!
//! ```text
//! boost-admin create-org --name Acme
//! boost-admin create-project --org <id> --name web
//! boost-admin create-key --project <id> --name ingest --scope events:write --scope events:read
//! boost-admin demo            # all three at once, prints the key and grpcurl commands
//! ```

use boost_proto::auth::v1::{
    CreateApiKeyRequest, CreateOrganizationRequest, CreateProjectRequest,
    auth_service_client::AuthServiceClient,
};
use clap::{Parser, Subcommand};
use tonic::{Request, transport::Channel};

/// Command-line administration of organisations, projects and keys.
#[derive(Parser)]
#[command(
    name = "boost-admin",
    about = "Administer Boost through the auth service"
)]
struct Cli {
    /// Address of the auth service.
    #[arg(long, env = "BOOST_AUTH_URL", default_value = "http://127.0.0.1:50051")]
    auth_url: String,
    /// The auth service's admin token.
    #[arg(long, env = "BOOST_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
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
    /// Create an API key; prints the secret (shown only this once).
    CreateKey {
        /// Project id.
        #[arg(long = "project")]
        project_id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Scopes to grant (repeat): events:write, events:read, keys:admin.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    /// Create a demo organisation, project and read/write key; prints them as shell variables.
    Demo,
}

/// Wraps a request body with the admin token metadata.
fn admin_request<T>(token: &str, body: T) -> Request<T> {
    let mut request = Request::new(body);
    match token.parse() {
        Ok(value) => {
            request.metadata_mut().insert("x-admin-token", value);
        }
        Err(_) => eprintln!("warning: BOOST_ADMIN_TOKEN is not a valid header value; sending none"),
    }
    request
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let channel = Channel::from_shared(cli.auth_url.clone())?
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(10))
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach auth at {}: {e}", cli.auth_url))?;
    let mut client = AuthServiceClient::new(channel);
    let token = cli.admin_token.clone();
    match cli.command {
        Command::CreateOrg { name } => {
            let org = client
                .create_organization(admin_request(&token, CreateOrganizationRequest { name }))
                .await?
                .into_inner();
            println!("{}", org.organization.unwrap_or_default().id);
        }
        Command::CreateProject {
            organization_id,
            name,
        } => {
            let project = client
                .create_project(admin_request(
                    &token,
                    CreateProjectRequest {
                        organization_id,
                        name,
                    },
                ))
                .await?
                .into_inner();
            println!("{}", project.project.unwrap_or_default().id);
        }
        Command::CreateKey {
            project_id,
            name,
            scopes,
        } => {
            let key = client
                .create_api_key(admin_request(
                    &token,
                    CreateApiKeyRequest {
                        project_id,
                        name,
                        scopes,
                        expire_time: None,
                    },
                ))
                .await?
                .into_inner();
            println!("{}", key.secret);
        }
        Command::Demo => {
            let suffix = uuid::Uuid::now_v7().simple().to_string();
            let org = client
                .create_organization(admin_request(
                    &token,
                    CreateOrganizationRequest {
                        name: format!("demo-{}", &suffix[20..]),
                    },
                ))
                .await?
                .into_inner()
                .organization
                .unwrap_or_default();
            let project = client
                .create_project(admin_request(
                    &token,
                    CreateProjectRequest {
                        organization_id: org.id.clone(),
                        name: "demo".into(),
                    },
                ))
                .await?
                .into_inner()
                .project
                .unwrap_or_default();
            let key = client
                .create_api_key(admin_request(
                    &token,
                    CreateApiKeyRequest {
                        project_id: project.id.clone(),
                        name: "demo".into(),
                        scopes: vec!["events:write".into(), "events:read".into()],
                        expire_time: None,
                    },
                ))
                .await?
                .into_inner();
            println!("BOOST_ORG_ID={}", org.id);
            println!("BOOST_PROJECT_ID={}", project.id);
            println!("BOOST_API_KEY={}", key.secret);
        }
    }
    Ok(())
}
