//! Thin tonic adapter: who is calling, proto ⇄ domain, errors → Status.

use std::time::SystemTime;

use boost_proto::{
    auth::v1::{self as pb, auth_service_server::AuthService},
    prost_types::Timestamp,
};
use boost_server::{ApiError, credentials};
use boost_storage::{keys, tenancy};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::{Request, Response, Status};

use crate::{
    caller::Caller,
    service::{AuthLogic, KeySpec},
};

/// The `boost.auth.v1.AuthService` implementation.
pub struct AuthApi {
    /// Domain logic.
    logic: AuthLogic,
    /// SHA-256 of the admin token; `None` when operator access is off.
    admin_token_hash: Option<[u8; 32]>,
}

impl AuthApi {
    /// An adapter over `logic`; `admin_token` empty turns operator access off.
    pub fn new(logic: AuthLogic, admin_token: &str) -> Self {
        let admin_token_hash =
            (!admin_token.is_empty()).then(|| Sha256::digest(admin_token.as_bytes()).into());
        Self {
            logic,
            admin_token_hash,
        }
    }

    /// The operator (`x-admin-token`) or the credential's principal.
    async fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        if let Some(token) = request.metadata().get("x-admin-token") {
            let Some(expected) = self.admin_token_hash else {
                return Err(ApiError::forbidden(
                    "operator access is disabled: BOOST_ADMIN_TOKEN is not set",
                )
                .into());
            };
            let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            // Constant time, so response timing says nothing about the token.
            if !bool::from(presented.ct_eq(&expected)) {
                return Err(ApiError::unauthenticated("invalid x-admin-token").into());
            }
            return Ok(Caller::Operator);
        }
        let credential =
            credentials::from_headers(request.metadata().as_ref())?.ok_or_else(|| {
                ApiError::unauthenticated("send x-admin-token, x-api-key or authorization: Bearer")
            })?;
        let principal = self
            .logic
            .validate(credential)
            .await
            .map_err(ApiError::from)?;
        Ok(Caller::Credential(principal))
    }
}

fn timestamp(time: SystemTime) -> Timestamp {
    Timestamp::from(time)
}

fn project_proto(project: tenancy::Project) -> pb::Project {
    pb::Project {
        id: project.id.to_string(),
        organization_id: project.organization_id.to_string(),
        name: project.name,
        create_time: Some(timestamp(project.created_at)),
        retention_days: project.retention_days,
    }
}

fn key_proto(key: keys::ApiKey) -> pb::ApiKey {
    pb::ApiKey {
        id: key.id.to_string(),
        project_id: key.project_id.to_string(),
        name: key.name,
        prefix: key.prefix,
        scopes: key.scopes,
        create_time: Some(timestamp(key.created_at)),
        expire_time: key.expires_at.map(timestamp),
        last_used_time: key.last_used_at.map(timestamp),
        revoke_time: key.revoked_at.map(timestamp),
    }
}

type RpcResult<T> = Result<Response<T>, Status>;

fn ok<T>(body: T) -> RpcResult<T> {
    Ok(Response::new(body))
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn create_organization(
        &self,
        request: Request<pb::CreateOrganizationRequest>,
    ) -> RpcResult<pb::CreateOrganizationResponse> {
        let caller = self.caller(&request).await?;
        let org = self
            .logic
            .create_organization(&caller, &request.get_ref().name)
            .await
            .map_err(ApiError::from)?;
        ok(pb::CreateOrganizationResponse {
            organization: Some(pb::Organization {
                id: org.id.to_string(),
                name: org.name,
                create_time: Some(timestamp(org.created_at)),
            }),
        })
    }

    async fn create_project(
        &self,
        request: Request<pb::CreateProjectRequest>,
    ) -> RpcResult<pb::CreateProjectResponse> {
        let caller = self.caller(&request).await?;
        let body = request.get_ref();
        let project = self
            .logic
            .create_project(&caller, &body.organization_id, &body.name)
            .await
            .map_err(ApiError::from)?;
        ok(pb::CreateProjectResponse {
            project: Some(project_proto(project)),
        })
    }

    async fn get_project(
        &self,
        request: Request<pb::GetProjectRequest>,
    ) -> RpcResult<pb::GetProjectResponse> {
        let caller = self.caller(&request).await?;
        let project = self
            .logic
            .get_project(&caller, &request.get_ref().project_id)
            .await
            .map_err(ApiError::from)?;
        ok(pb::GetProjectResponse {
            project: Some(project_proto(project)),
        })
    }

    async fn list_projects(
        &self,
        request: Request<pb::ListProjectsRequest>,
    ) -> RpcResult<pb::ListProjectsResponse> {
        let caller = self.caller(&request).await?;
        let body = request.get_ref();
        let (projects, next_page_token) = self
            .logic
            .list_projects(
                &caller,
                &body.organization_id,
                body.page_size,
                &body.page_token,
            )
            .await
            .map_err(ApiError::from)?;
        ok(pb::ListProjectsResponse {
            projects: projects.into_iter().map(project_proto).collect(),
            next_page_token,
        })
    }

    async fn update_project(
        &self,
        request: Request<pb::UpdateProjectRequest>,
    ) -> RpcResult<pb::UpdateProjectResponse> {
        let caller = self.caller(&request).await?;
        let body = request.get_ref();
        let project = self
            .logic
            .update_project(&caller, &body.project_id, &body.name, body.retention_days)
            .await
            .map_err(ApiError::from)?;
        ok(pb::UpdateProjectResponse {
            project: Some(project_proto(project)),
        })
    }

    async fn delete_project(
        &self,
        request: Request<pb::DeleteProjectRequest>,
    ) -> RpcResult<pb::DeleteProjectResponse> {
        let caller = self.caller(&request).await?;
        self.logic
            .delete_project(&caller, &request.get_ref().project_id)
            .await
            .map_err(ApiError::from)?;
        ok(pb::DeleteProjectResponse {})
    }

    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> RpcResult<pb::CreateApiKeyResponse> {
        let caller = self.caller(&request).await?;
        let body = request.get_ref();
        let expires_at = body
            .expire_time
            .as_ref()
            .map(boost_proto::time::checked)
            .transpose()
            .map_err(|reason| ApiError::bad_field("expire_time", reason))?;
        let spec = KeySpec {
            name: &body.name,
            scopes: &body.scopes,
            expires_at,
        };
        let created = self
            .logic
            .create_api_key(&caller, &body.project_id, spec)
            .await
            .map_err(ApiError::from)?;
        ok(pb::CreateApiKeyResponse {
            api_key: Some(key_proto(created.key)),
            secret: created.secret,
        })
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> RpcResult<pb::ListApiKeysResponse> {
        let caller = self.caller(&request).await?;
        let keys = self
            .logic
            .list_api_keys(&caller, &request.get_ref().project_id)
            .await
            .map_err(ApiError::from)?;
        ok(pb::ListApiKeysResponse {
            api_keys: keys.into_iter().map(key_proto).collect(),
        })
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> RpcResult<pb::RevokeApiKeyResponse> {
        let caller = self.caller(&request).await?;
        let key = self
            .logic
            .revoke_api_key(&caller, &request.get_ref().api_key_id)
            .await
            .map_err(ApiError::from)?;
        ok(pb::RevokeApiKeyResponse {
            api_key: Some(key_proto(key)),
        })
    }

    async fn rotate_api_key(
        &self,
        request: Request<pb::RotateApiKeyRequest>,
    ) -> RpcResult<pb::RotateApiKeyResponse> {
        let caller = self.caller(&request).await?;
        let rotated = self
            .logic
            .rotate_api_key(&caller, &request.get_ref().api_key_id)
            .await
            .map_err(ApiError::from)?;
        ok(pb::RotateApiKeyResponse {
            api_key: Some(key_proto(rotated.created.key)),
            secret: rotated.created.secret,
            revoked_api_key: Some(key_proto(rotated.revoked)),
        })
    }

    async fn validate_api_key(
        &self,
        request: Request<pb::ValidateApiKeyRequest>,
    ) -> RpcResult<pb::ValidateApiKeyResponse> {
        let principal = self
            .logic
            .validate(&request.get_ref().api_key)
            .await
            .map_err(ApiError::from)?;
        ok(pb::ValidateApiKeyResponse {
            principal: Some(principal.to_proto()),
        })
    }

    async fn get_caller(
        &self,
        request: Request<pb::GetCallerRequest>,
    ) -> RpcResult<pb::GetCallerResponse> {
        ok(match self.caller(&request).await? {
            Caller::Operator => pb::GetCallerResponse {
                operator: true,
                principal: None,
            },
            Caller::Credential(principal) => pb::GetCallerResponse {
                operator: false,
                principal: Some(principal.to_proto()),
            },
        })
    }
}
