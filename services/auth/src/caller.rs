//! Who is calling an auth RPC, and what they may touch.
//!
//! The operator (`x-admin-token`) may act on any organisation and project.
//! An API key (or JWT) acts only on its own project: asking for another
//! project's ids answers NOT_FOUND, as if it did not exist; managing keys or
//! renaming needs the `keys:admin` scope.

use boost_server::auth::{Principal, Scope};
use uuid::Uuid;

use crate::service::AuthError;

/// The authenticated caller of an auth RPC.
#[derive(Debug, Clone)]
pub enum Caller {
    /// Holds the admin token.
    Operator,
    /// Holds an API key or JWT of one project.
    Credential(Principal),
}

/// What the caller wants to do with a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read it.
    Read,
    /// Manage its keys or rename it (`keys:admin`).
    Admin,
}

impl Caller {
    /// For the audit trail: `operator` or `key:<id>` / `jwt:<sub>`.
    pub fn actor(&self) -> String {
        match self {
            Caller::Operator => "operator".into(),
            Caller::Credential(p) => p.actor(),
        }
    }

    /// Only the operator may do this.
    pub fn require_operator(&self) -> Result<(), AuthError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::Credential(_) => Err(AuthError::Forbidden(
                "only the operator (x-admin-token) may do this".into(),
            )),
        }
    }

    /// The project the call acts on. `requested` may be empty for key callers
    /// (their own project); the operator must name one.
    pub fn project(&self, requested: &str, access: Access) -> Result<Uuid, AuthError> {
        match self {
            Caller::Operator => parse_project(requested),
            Caller::Credential(principal) => {
                if !requested.is_empty() && parse_project(requested)? != principal.project_id {
                    return Err(AuthError::NotFound("project"));
                }
                self.check_access(access)?;
                Ok(principal.project_id)
            }
        }
    }

    /// Whether the caller may act on `project_id` (already known to exist);
    /// another project's object answers NOT_FOUND as `what`.
    pub fn check_owner(
        &self,
        project_id: Uuid,
        access: Access,
        what: &'static str,
    ) -> Result<(), AuthError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::Credential(principal) if principal.project_id != project_id => {
                Err(AuthError::NotFound(what))
            }
            Caller::Credential(_) => self.check_access(access),
        }
    }

    fn check_access(&self, access: Access) -> Result<(), AuthError> {
        match (self, access) {
            (Caller::Credential(p), Access::Admin) if !p.has(Scope::KeysAdmin) => Err(
                AuthError::Forbidden("api key lacks scope keys:admin".into()),
            ),
            _ => Ok(()),
        }
    }
}

fn parse_project(value: &str) -> Result<Uuid, AuthError> {
    value.parse().map_err(|_| AuthError::InvalidField {
        field: "project_id",
        reason: "must be a UUID".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(project_id: Uuid, scopes: Vec<Scope>) -> Caller {
        Caller::Credential(Principal {
            organization_id: Uuid::now_v7(),
            project_id,
            api_key_id: Some(Uuid::now_v7()),
            scopes,
            subject: String::new(),
        })
    }

    #[test]
    fn test_key_sees_only_its_project() {
        let own = Uuid::now_v7();
        let caller = key(own, vec![Scope::KeysAdmin]);
        assert_eq!(caller.project("", Access::Admin).expect("own"), own);
        assert_eq!(
            caller
                .project(&own.to_string(), Access::Admin)
                .expect("own"),
            own
        );
        let other = Uuid::now_v7().to_string();
        assert!(matches!(
            caller.project(&other, Access::Read),
            Err(AuthError::NotFound(_))
        ));
    }

    #[test]
    fn test_admin_access_needs_keys_admin() {
        let own = Uuid::now_v7();
        let caller = key(own, vec![Scope::EventsWrite]);
        assert!(caller.project("", Access::Read).is_ok());
        assert!(matches!(
            caller.project("", Access::Admin),
            Err(AuthError::Forbidden(_))
        ));
        assert!(matches!(
            caller.require_operator(),
            Err(AuthError::Forbidden(_))
        ));
        assert!(
            Caller::Operator.project("", Access::Read).is_err(),
            "operator must name the project"
        );
    }
}
