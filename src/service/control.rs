//! The control plane's use cases: environments, API keys (an environment's and the
//! deployment's operator keys) and the audit log.
//!
//! Who may do what is decided here and nowhere else: an operator key manages every
//! environment (creates, renames, reconfigures and removes them, and everything inside);
//! an environment's admin key manages that environment's keys and reads its audit log;
//! any key of an environment may read the environment itself. No key mints a key with a
//! scope it does not hold, and only the server's shell mints operator keys. Every change
//! is recorded in the audit log in the transaction of the change.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Service;
use crate::auth;
use crate::domain::{
    AuditEntry, AuditEvent, Credential, Environment, EnvironmentSettings, Page, Principal, Scope,
};
use crate::error::{Error, Result};
use crate::storage::BlobStore;

/// A created key: the only moment its token is visible.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub credential: Credential,
    pub token: String,
}

/// What a change of an environment changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentChanges {
    pub name: Option<String>,
    pub settings: Option<EnvironmentSettings>,
}

/// The longest key or environment name, in characters.
const MAX_NAME: usize = 200;

/// The audit entry of a change `principal` makes in this request.
pub(super) fn audit_entry(
    principal: &Principal,
    environment_id: Option<Uuid>,
    action: &str,
    target: String,
) -> AuditEntry {
    AuditEntry {
        environment_id,
        actor: principal.actor(),
        action: action.to_string(),
        target,
        request_id: crate::logging::REQUEST
            .try_with(|request| request.id.to_string())
            .ok(),
    }
}

fn operator_only(principal: &Principal) -> Result<()> {
    if principal.is_operator() {
        Ok(())
    } else {
        Err(Error::Forbidden(Scope::Operator))
    }
}

/// As [`operator_only`], about one environment: another environment's key learns nothing
/// (404, as for a missing one); the environment's own keys are told they lack the scope.
fn operator_of(principal: &Principal, environment_id: Uuid) -> Result<()> {
    if principal
        .environment_id
        .is_some_and(|own| own != environment_id)
    {
        return Err(Error::NotFound("environment"));
    }
    operator_only(principal)
}

impl Service {
    /// Makes an environment (operator only).
    pub async fn create_environment(
        &self,
        principal: &Principal,
        name: &str,
        settings: Option<EnvironmentSettings>,
    ) -> Result<Environment> {
        operator_only(principal)?;
        let environment = new_environment(name, settings.unwrap_or_default())?;
        let audit = audit_entry(
            principal,
            None,
            "environment.create",
            format!("environment/{}", environment.id),
        );
        self.catalog
            .insert_environment(&environment, &audit)
            .await?;
        Ok(environment)
    }

    /// The principal's own environment, or any for an operator; another answers
    /// NotFound, as a missing one does.
    pub async fn environment(&self, principal: &Principal, id: Uuid) -> Result<Environment> {
        if principal.environment_id.is_some_and(|own| own != id) {
            return Err(Error::NotFound("environment"));
        }
        self.catalog
            .environment(id)
            .await?
            .ok_or(Error::NotFound("environment"))
    }

    /// A page of environments in id order: every one for an operator, its own for any
    /// other key. The cursor is the id to continue after.
    pub async fn environments(
        &self,
        principal: &Principal,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<(Vec<Environment>, Option<Uuid>)> {
        super::check_page_limit(limit)?;
        let Some(own) = principal.environment_id else {
            let (items, more) = self.catalog.environments(after, limit).await?;
            let next = more.then(|| items.last().map(|e| e.id)).flatten();
            return Ok((items, next));
        };
        if after.is_some_and(|after| after >= own) {
            return Ok((Vec::new(), None));
        }
        Ok((vec![self.environment(principal, own).await?], None))
    }

    /// Renames or reconfigures an environment (operator only).
    pub async fn update_environment(
        &self,
        principal: &Principal,
        id: Uuid,
        changes: EnvironmentChanges,
    ) -> Result<Environment> {
        operator_of(principal, id)?;
        let current = self.environment(principal, id).await?;
        let name = changes.name.unwrap_or(current.name);
        let settings = changes.settings.unwrap_or(current.settings);
        let updated = Environment {
            id,
            created_at: current.created_at,
            ..new_environment(&name, settings)?
        };
        let audit = audit_entry(principal, Some(id), "environment.update", target(id));
        if !self.catalog.update_environment(&updated, &audit).await? {
            return Err(Error::NotFound("environment"));
        }
        Ok(updated)
    }

    /// Removes an environment with everything in it (operator only). While it holds
    /// images it is kept, unless `purge`. Rows go first, in one transaction (the commit
    /// point: every href answers 404 from then on, on every instance); then the blobs,
    /// and whatever a failure leaves is the sweeper's, as no row claims it any more.
    pub async fn delete_environment(
        &self,
        principal: &Principal,
        id: Uuid,
        purge: bool,
    ) -> Result<()> {
        operator_of(principal, id)?;
        self.environment(principal, id).await?;
        let holding = || {
            Error::Conflict(
                "the environment still holds images; delete them first or pass purge=true".into(),
            )
        };
        if !purge && self.catalog.image_count(id).await? > 0 {
            return Err(holding());
        }
        let audit = audit_entry(principal, None, "environment.delete", target(id));
        if !self.catalog.delete_environment(id, !purge, &audit).await? {
            // Gone meanwhile (another delete), or an image arrived since the count.
            return match self.catalog.environment(id).await? {
                Some(_) => Err(holding()),
                None => Err(Error::NotFound("environment")),
            };
        }
        let prefix = BlobStore::environment_prefix(id);
        if let Err(error) = self.blobs.delete_prefix(&prefix).await {
            tracing::warn!(%prefix, %error, "an environment's blobs left for the sweeper");
        }
        Ok(())
    }

    /// Makes a key for an environment: by its admin or an operator, with scopes the maker
    /// holds itself, never `operator`.
    pub async fn create_key(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        name: Option<String>,
        scopes: Vec<Scope>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<CreatedKey> {
        principal.require(environment_id, Scope::Admin)?;
        self.environment(principal, environment_id).await?;
        if scopes.contains(&Scope::Operator) {
            return Err(Error::InvalidInput {
                target: "scopes",
                message: "an environment key cannot have the operator scope".into(),
            });
        }
        if let Some(scope) = scopes.iter().find(|scope| !principal.holds(**scope)) {
            return Err(Error::Forbidden(*scope));
        }
        self.mint(principal, Some(environment_id), name, scopes, expires_at)
            .await
    }

    /// Makes an operator key; only the server's shell does (`imagestore key create
    /// --operator`, and the first start).
    pub async fn create_operator_key(
        &self,
        principal: &Principal,
        name: Option<String>,
    ) -> Result<CreatedKey> {
        operator_only(principal)?;
        self.mint(principal, None, name, vec![Scope::Operator], None)
            .await
    }

    async fn mint(
        &self,
        principal: &Principal,
        environment_id: Option<Uuid>,
        name: Option<String>,
        scopes: Vec<Scope>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<CreatedKey> {
        let name = name
            .map(|name| printable_name(&name, "a key name"))
            .transpose()?;
        let now = Utc::now();
        if expires_at.is_some_and(|at| at <= now) {
            return Err(Error::InvalidInput {
                target: "expiresAt",
                message: "expiresAt must be in the future".into(),
            });
        }
        let id = Uuid::new_v4();
        let minted = auth::mint_token(id)?;
        let credential = Credential {
            id,
            environment_id,
            name,
            scopes,
            secret_hash: minted.secret_hash,
            created_at: now,
            expires_at,
            last_used_at: None,
        };
        let audit = audit_entry(principal, environment_id, "key.create", key_target(id));
        self.catalog
            .insert_credential(&credential, Some(&audit))
            .await?;
        Ok(CreatedKey {
            credential,
            token: minted.token,
        })
    }

    /// An environment's keys (admin or operator); never their secrets.
    pub async fn keys(
        &self,
        principal: &Principal,
        environment_id: Uuid,
    ) -> Result<Vec<Credential>> {
        principal.require(environment_id, Scope::Admin)?;
        self.environment(principal, environment_id).await?;
        self.catalog.credentials_of(environment_id).await
    }

    pub async fn key(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        id: Uuid,
    ) -> Result<Credential> {
        principal.require(environment_id, Scope::Admin)?;
        match self.catalog.credential(id).await? {
            Some(key) if key.environment_id == Some(environment_id) => Ok(key),
            _ => Err(Error::NotFound("key")),
        }
    }

    /// Revokes an environment's key (admin or operator), or an operator key (`None`,
    /// operator only): every instance refuses it within a second, and its sessions end.
    pub async fn revoke_key(
        &self,
        principal: &Principal,
        environment_id: Option<Uuid>,
        id: Uuid,
    ) -> Result<()> {
        match environment_id {
            Some(environment_id) => principal.require(environment_id, Scope::Admin)?,
            None => operator_only(principal)?,
        }
        let audit = audit_entry(principal, environment_id, "key.revoke", key_target(id));
        if self
            .catalog
            .revoke_credential(environment_id, id, Some(&audit))
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound("key"))
        }
    }

    /// One page of an environment's audit log (admin or operator), or, for `None`, of
    /// the deployment's (environments made, changed and removed; operator keys; operator
    /// only).
    pub async fn audit_events(
        &self,
        principal: &Principal,
        environment_id: Option<Uuid>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Page<AuditEvent>> {
        self.may_read_audit(principal, environment_id, limit)
            .await?;
        self.catalog
            .audit_events(environment_id, after, limit)
            .await
    }

    /// The same log newest first, older than event number `before` (the console's view:
    /// what happened lately comes first).
    pub async fn recent_audit_events(
        &self,
        principal: &Principal,
        environment_id: Option<Uuid>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<AuditEvent>> {
        self.may_read_audit(principal, environment_id, limit)
            .await?;
        self.catalog
            .recent_audit_events(environment_id, before, limit)
            .await
    }

    async fn may_read_audit(
        &self,
        principal: &Principal,
        environment_id: Option<Uuid>,
        limit: u32,
    ) -> Result<()> {
        match environment_id {
            Some(environment_id) => {
                principal.require(environment_id, Scope::Admin)?;
                self.environment(principal, environment_id).await?;
            }
            None => operator_only(principal)?,
        }
        super::check_page_limit(limit)
    }
}

fn target(environment_id: Uuid) -> String {
    format!("environment/{environment_id}")
}

fn key_target(id: Uuid) -> String {
    format!("key/{id}")
}

/// A name as people give it to keys and environments: trimmed, 1 to [`MAX_NAME`]
/// characters, none of them hidden. `what` names it in the message ("a key name").
fn printable_name(name: &str, what: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME
        || name.chars().any(crate::domain::is_hidden_character)
    {
        return Err(Error::InvalidInput {
            target: "name",
            message: format!("{what} must be 1 to {MAX_NAME} printable characters"),
        });
    }
    Ok(name.to_string())
}

pub(super) fn new_environment(name: &str, settings: EnvironmentSettings) -> Result<Environment> {
    let name = printable_name(name, "an environment name")?;
    let settings = settings.normalized();
    settings.validate()?;
    Ok(Environment {
        id: Uuid::new_v4(),
        name,
        created_at: Utc::now(),
        settings,
    })
}
