//! Which browser origins may call across origins (CORS). Origins are allowed per
//! environment (`settings.allowedOrigins`, exact matches only), so the question is always
//! asked about the environment a request is for: the one in its path, the one its upload
//! token binds, or, for the routes that name none (`/v1/environments`, `/v1/sessions…`),
//! the environment of the request's credential; their preflights, which carry none, are
//! granted for an origin any environment allows (the list is kept for a second, as
//! browsers send many).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::Service;
use crate::auth;
use crate::error::Result;

/// How long the deployment-wide origin list is kept.
const ANY_ENVIRONMENT_FRESHNESS: Duration = Duration::from_secs(1);

/// The most environments read for the deployment-wide list.
const ANY_ENVIRONMENT_PAGE: u32 = 1000;

/// What a cross-origin request is for.
#[derive(Debug, Clone)]
pub enum OriginScope {
    /// `/v1/environments/{envId}/…`.
    Environment(Uuid),
    /// An upload URL, with the token it carries.
    UploadToken(String),
    /// A preflight for a route about no one environment (`/v1/environments`,
    /// `/v1/sessions…`): it carries no credential, and granting it reveals nothing.
    AnyEnvironment,
    /// A request to such a route: the environment of the credential it carries (an
    /// `Authorization` value or a session cookie), so that one tenant's origin is never
    /// granted another tenant's answers. Operator keys are not for browsers: no grant.
    Credential {
        authorization: Option<String>,
        session_cookie: Option<String>,
    },
}

/// Every environment's allowed origins, with when they were read.
#[derive(Default)]
pub(super) struct KnownOrigins(Mutex<Option<(Instant, Vec<String>)>>);

impl Service {
    /// Whether a browser at `origin` may make a cross-origin request for `scope`. Errors
    /// count as "no": a grant is never given by accident.
    pub async fn origin_allowed(&self, origin: &str, scope: OriginScope) -> bool {
        match self.check_origin(origin, scope).await {
            Ok(allowed) => allowed,
            Err(error) => {
                tracing::warn!(%error, "could not decide a cross-origin request; refused");
                false
            }
        }
    }

    async fn check_origin(&self, origin: &str, scope: OriginScope) -> Result<bool> {
        let environment_id = match scope {
            OriginScope::Environment(id) => id,
            OriginScope::UploadToken(token) => {
                let Some(id) = auth::upload_token_id(&token) else {
                    return Ok(false);
                };
                match self.catalog.upload_token_environment(id).await? {
                    Some(environment_id) => environment_id,
                    None => return Ok(false),
                }
            }
            OriginScope::AnyEnvironment => {
                return Ok(self
                    .any_environment_origins()
                    .await?
                    .iter()
                    .any(|o| o == origin));
            }
            OriginScope::Credential {
                authorization,
                session_cookie,
            } => {
                let principal = match (authorization, session_cookie) {
                    (Some(authorization), _) => {
                        match auth::token_from_authorization(&authorization) {
                            Some(token) => self.authenticate(&token).await.ok(),
                            None => None,
                        }
                    }
                    (None, Some(cookie)) => self
                        .current_session(&cookie)
                        .await
                        .ok()
                        .map(|s| s.principal),
                    (None, None) => None,
                };
                match principal.and_then(|principal| principal.environment_id) {
                    Some(environment_id) => environment_id,
                    None => return Ok(false),
                }
            }
        };
        Ok(self
            .catalog
            .environment(environment_id)
            .await?
            .is_some_and(|environment| environment.settings.allows_origin(origin)))
    }

    async fn any_environment_origins(&self) -> Result<Vec<String>> {
        if let Some((read_at, origins)) = &*self.known_origins.lock()
            && read_at.elapsed() < ANY_ENVIRONMENT_FRESHNESS
        {
            return Ok(origins.clone());
        }
        let mut origins = Vec::new();
        let mut after = None;
        loop {
            let (page, more) = self
                .catalog
                .environments(after, ANY_ENVIRONMENT_PAGE)
                .await?;
            after = page.last().map(|environment| environment.id);
            for environment in page {
                origins.extend(environment.settings.allowed_origins);
            }
            if !more {
                break;
            }
        }
        origins.sort();
        origins.dedup();
        *self.known_origins.lock() = Some((Instant::now(), origins.clone()));
        Ok(origins)
    }
}

impl KnownOrigins {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Vec<String>)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
