//! Thin tonic adapter: admin token check, proto ⇄ domain, errors → Status.

use std::time::SystemTime;

use boost_proto::{
    auth::v1::{self as pb, auth_service_server::AuthService},
    prost_types::Timestamp,
};
use boost_server::ApiError;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use crate::service::AuthLogic;

/// The `boost.auth.v1.AuthService` implementation.
pub struct AuthApi {
    /// Domain logic.
    logic: AuthLogic,
    /// SHA-256 of the admin token; `None` when admin RPCs are off.
    admin_token_hash: Option<[u8; 32]>,
}

impl AuthApi {
    /// An adapter over `logic`; `admin_token` empty turns admin RPCs off.
    pub fn new(logic: AuthLogic, admin_token: String) -> Self {
        let admin_token_hash =
            (!admin_token.is_empty()).then(|| Sha256::digest(admin_token.as_bytes()).into());
        Self {
            logic,
            admin_token_hash,
        }
    }

    /// Admin RPCs need `x-admin-token` equal to the configured token.
    fn require_admin<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let Some(expected) = self.admin_token_hash else {
            return Err(ApiError::forbidden(
                "admin RPCs are disabled: BOOST_ADMIN_TOKEN is not set",
            )
            .into());
        };
        let presented = request
            .metadata()
            .get("x-admin-token")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Status::from(ApiError::unauthenticated("missing x-admin-token")))?;
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if presented != expected {
            return Err(ApiError::unauthenticated("invalid x-admin-token").into());
        }
        Ok(())
    }
}

fn timestamp(time: SystemTime) -> Timestamp {
    Timestamp::from(time)
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn create_organization(
        &self,
        request: Request<pb::CreateOrganizationRequest>,
    ) -> Result<Response<pb::CreateOrganizationResponse>, Status> {
        self.require_admin(&request)?;
        let org = self
            .logic
            .create_organization(&request.get_ref().name)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::CreateOrganizationResponse {
            organization: Some(pb::Organization {
                id: org.id.to_string(),
                name: org.name,
                create_time: Some(timestamp(org.created_at)),
            }),
        }))
    }

    async fn create_project(
        &self,
        request: Request<pb::CreateProjectRequest>,
    ) -> Result<Response<pb::CreateProjectResponse>, Status> {
        self.require_admin(&request)?;
        let body = request.get_ref();
        let project = self
            .logic
            .create_project(&body.organization_id, &body.name)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::CreateProjectResponse {
            project: Some(pb::Project {
                id: project.id.to_string(),
                organization_id: project.organization_id.to_string(),
                name: project.name,
                create_time: Some(timestamp(project.created_at)),
            }),
        }))
    }

    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        self.require_admin(&request)?;
        let body = request.get_ref();
        let expires_at = body
            .expire_time
            .map(SystemTime::try_from)
            .transpose()
            .map_err(|_| ApiError::bad_field("expire_time", "not a valid timestamp"))?;
        let created = self
            .logic
            .create_api_key(&body.project_id, &body.name, &body.scopes, expires_at)
            .await
            .map_err(ApiError::from)?;
        let key = created.key;
        Ok(Response::new(pb::CreateApiKeyResponse {
            api_key: Some(pb::ApiKey {
                id: key.id.to_string(),
                project_id: key.project_id.to_string(),
                name: key.name,
                prefix: key.prefix,
                scopes: key.scopes,
                create_time: Some(timestamp(key.created_at)),
                expire_time: key.expires_at.map(timestamp),
            }),
            secret: created.secret,
        }))
    }

    async fn validate_api_key(
        &self,
        request: Request<pb::ValidateApiKeyRequest>,
    ) -> Result<Response<pb::ValidateApiKeyResponse>, Status> {
        let principal = self
            .logic
            .validate(&request.get_ref().api_key)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::ValidateApiKeyResponse {
            principal: Some(principal.to_proto()),
        }))
    }
}
