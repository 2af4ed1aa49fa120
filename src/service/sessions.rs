//! Browser sessions: made from a credential, carried by a cookie whose value only its
//! hash is stored, and guarded against cross-site requests by a CSRF token.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Service;
use super::control::audit_entry;
use crate::domain::{Principal, Session, random_hex};
use crate::error::{Error, Result};

/// A session as created: the cookie value is shown only here.
pub struct CreatedSession {
    pub cookie_token: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

fn session_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// How the audit log names a session: by a prefix of its token's hash, which identifies
/// it without being usable as the cookie.
fn session_target(token_hash: &str) -> String {
    format!("session/{}", &token_hash[..16])
}

impl Service {
    /// Makes a browser session from an already authenticated key: an environment's key
    /// (the session sees that environment only) or an operator key (the console's
    /// operator pages).
    pub async fn create_session(&self, principal: &Principal) -> Result<CreatedSession> {
        let cookie_token = random_hex(32)?;
        let csrf_token = random_hex(16)?;
        let ttl = chrono::Duration::from_std(self.settings.session_ttl)
            .unwrap_or(chrono::Duration::hours(8));
        let expires_at = Utc::now() + ttl;
        let token_hash = session_hash(&cookie_token);
        let audit = audit_entry(
            principal,
            principal.environment_id,
            "session.create",
            session_target(&token_hash),
        );
        self.catalog
            .insert_session(&token_hash, principal, &csrf_token, expires_at, &audit)
            .await?;
        Ok(CreatedSession {
            cookie_token,
            csrf_token,
            expires_at,
        })
    }

    /// The session a cookie carries, as it stands.
    pub async fn current_session(&self, cookie_token: &str) -> Result<Session> {
        self.catalog
            .session(&session_hash(cookie_token), Utc::now())
            .await?
            .ok_or(Error::Unauthenticated)
    }

    /// Ends the session a cookie carries, on every instance: its row goes, so the next
    /// request anywhere finds none. `principal` is the session's own (the caller checked
    /// its CSRF token).
    pub async fn end_session(&self, principal: &Principal, cookie_token: &str) -> Result<()> {
        let token_hash = session_hash(cookie_token);
        let audit = audit_entry(
            principal,
            principal.environment_id,
            "session.end",
            session_target(&token_hash),
        );
        if self
            .catalog
            .delete_session(&token_hash, principal, &audit)
            .await?
        {
            Ok(())
        } else {
            Err(Error::Unauthenticated)
        }
    }

    /// Resolves a session cookie; a state-changing request must also present the session's
    /// CSRF token (compared in constant time).
    pub async fn session_principal(
        &self,
        cookie_token: &str,
        csrf: Option<&str>,
        state_changing: bool,
    ) -> Result<Principal> {
        let session: Session = self
            .catalog
            .session(&session_hash(cookie_token), Utc::now())
            .await?
            .ok_or(Error::Unauthenticated)?;
        if state_changing {
            let presented = csrf.unwrap_or_default();
            if !bool::from(presented.as_bytes().ct_eq(session.csrf_token.as_bytes())) {
                return Err(Error::Unauthenticated);
            }
        }
        Ok(session.principal)
    }
}
