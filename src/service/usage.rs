//! Usage and quotas: what an environment and its subjects hold, the limits on it, and the
//! refusal that names the limit an upload, claim or slot replacement would pass. The
//! limit itself is enforced by the catalog, in the statement that would pass it (see
//! `storage::catalog::usage`); this module reads the limits that statement is given and,
//! when it refuses, tells which one and raises `quota.exceeded`.

use chrono::Utc;
use uuid::Uuid;

use super::Service;
use super::control::audit_entry;
use crate::domain::{
    Event, EventType, Limits, Principal, Quota, QuotaMeasure, QuotaScope, Scope, Subject,
    SubjectSummary, Usage,
};
use crate::error::{Error, Result};
use crate::storage::catalog::SubjectRow;

/// How often `quota.exceeded` is raised at most for one quota (see `quota_event_due`).
const QUOTA_EVENT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// How many quotas' last events are remembered.
pub(super) const REMEMBERED_QUOTA_EVENTS: usize = 10_000;

impl Service {
    /// The limits that apply to new images of an environment.
    pub(super) async fn limits(&self, environment_id: Uuid) -> Result<Limits> {
        let environment = self
            .catalog
            .environment(environment_id)
            .await?
            .ok_or(Error::NotFound("environment"))?;
        Ok(Limits {
            environment: environment.settings.quota,
            subject: environment.settings.subject_quota,
        })
    }

    /// Why the catalog refused to add `bytes` bytes about `subject`: the first limit (as
    /// it is now) the counts now pass. Raises `quota.exceeded` for the environment's
    /// webhooks.
    pub(super) async fn quota_refusal(
        &self,
        environment_id: Uuid,
        subject: Option<&Subject>,
        bytes: u64,
    ) -> Error {
        let limits = match self.limits(environment_id).await {
            Ok(limits) => limits,
            Err(error) => return error,
        };
        let error = match self
            .first_limit_passed(environment_id, subject, bytes, &limits)
            .await
        {
            Ok(error) => error,
            Err(error) => return error,
        };
        self.raise_quota_exceeded(environment_id, subject, bytes, &error)
            .await;
        error
    }

    /// Raises `quota.exceeded` for the environment's webhooks when `error` is a quota's
    /// refusal (at most once a minute per quota; see `quota_event_due`).
    async fn raise_quota_exceeded(
        &self,
        environment_id: Uuid,
        subject: Option<&Subject>,
        bytes: u64,
        error: &Error,
    ) {
        if let Error::QuotaExceeded {
            scope,
            measure,
            limit,
            usage,
        } = error
            && self.quota_event_due(environment_id, subject, *scope, *measure)
        {
            let event = Event::new(
                environment_id,
                EventType::QuotaExceeded,
                serde_json::json!({
                    "environmentId": environment_id,
                    "subject": subject.map(Subject::as_str),
                    "quota": scope.as_str(),
                    "measure": measure.as_str(),
                    "limit": limit,
                    "usage": usage,
                    "attemptedBytes": bytes,
                }),
            );
            if let Err(failed) = self.catalog.record_event(&event).await {
                tracing::warn!(error = %failed, "quota.exceeded not queued");
            }
        }
    }

    /// Whether `quota.exceeded` should be raised for this quota now: at most once per
    /// [`QUOTA_EVENT_INTERVAL`] per environment, subject and limit on this instance, so
    /// that a client retrying against a full quota cannot flood the outbox.
    fn quota_event_due(
        &self,
        environment_id: Uuid,
        subject: Option<&Subject>,
        scope: QuotaScope,
        measure: QuotaMeasure,
    ) -> bool {
        let key = format!(
            "{environment_id}/{}/{}/{}",
            subject.map_or("", Subject::as_str),
            scope.as_str(),
            measure.as_str()
        );
        let now = std::time::Instant::now();
        let recent = self
            .quota_events
            .get(&key)
            .is_some_and(|at| now.duration_since(at) < QUOTA_EVENT_INTERVAL);
        if !recent {
            self.quota_events.insert(key, now);
        }
        !recent
    }

    async fn first_limit_passed(
        &self,
        environment_id: Uuid,
        subject: Option<&Subject>,
        bytes: u64,
        limits: &Limits,
    ) -> Result<Error> {
        let mut checks = Vec::new();
        if let Some(quota) = limits.environment {
            checks.push((
                QuotaScope::Environment,
                quota,
                self.catalog.usage(environment_id).await?,
            ));
        }
        if let Some(subject) = subject {
            let row = self.catalog.subject(environment_id, subject).await?;
            if let Some(quota) = row.own_quota.or(limits.subject) {
                checks.push((QuotaScope::Subject, quota, row.usage));
            }
        }
        for (scope, quota, usage) in checks {
            if let Some(limit) = quota.max_images
                && usage.images + 1 > limit
            {
                return Ok(Error::QuotaExceeded {
                    scope,
                    measure: QuotaMeasure::Images,
                    limit,
                    usage: usage.images,
                });
            }
            if let Some(limit) = quota.max_bytes
                && usage.bytes.saturating_add(bytes) > limit
            {
                return Ok(Error::QuotaExceeded {
                    scope,
                    measure: QuotaMeasure::Bytes,
                    limit,
                    usage: usage.bytes,
                });
            }
        }
        // The counts moved between the refusal and this look (an image deleted since);
        // the refusal stands, and says so.
        Ok(Error::Conflict(
            "a quota refused the change; it may fit now, retry".into(),
        ))
    }

    /// What an environment holds, and its quota.
    pub async fn usage(
        &self,
        principal: &Principal,
        environment_id: Uuid,
    ) -> Result<(Usage, Limits)> {
        principal.require(environment_id, Scope::ImagesRead)?;
        let limits = self.limits(environment_id).await?;
        Ok((self.catalog.usage(environment_id).await?, limits))
    }

    /// One subject, whether it holds anything or not.
    pub async fn subject(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        subject: &Subject,
    ) -> Result<SubjectSummary> {
        principal.require(environment_id, Scope::ImagesRead)?;
        let limits = self.limits(environment_id).await?;
        let row = self.catalog.subject(environment_id, subject).await?;
        Ok(summary(row, &limits))
    }

    /// Subjects that hold images, in subject order after `after`; the second value is
    /// whether more follow.
    pub async fn subjects(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        after: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<SubjectSummary>, bool)> {
        principal.require(environment_id, Scope::ImagesRead)?;
        super::check_page_limit(limit)?;
        let limits = self.limits(environment_id).await?;
        let (rows, more) = self.catalog.subjects(environment_id, after, limit).await?;
        Ok((
            rows.into_iter().map(|row| summary(row, &limits)).collect(),
            more,
        ))
    }

    /// Sets (Some) or removes (None) a subject's own quota (admin).
    pub async fn set_subject_quota(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        subject: &Subject,
        quota: Option<Quota>,
    ) -> Result<SubjectSummary> {
        principal.require(environment_id, Scope::Admin)?;
        if let Some(quota) = &quota {
            quota.validate("quota")?;
        }
        self.limits(environment_id).await?;
        let audit = audit_entry(
            principal,
            Some(environment_id),
            if quota.is_some() {
                "subject.quota.set"
            } else {
                "subject.quota.remove"
            },
            format!("subject/{}", subject.as_str()),
        );
        self.catalog
            .set_subject_quota(environment_id, subject, quota, Utc::now(), &audit)
            .await?;
        self.subject(principal, environment_id, subject).await
    }
}

fn summary(row: SubjectRow, limits: &Limits) -> SubjectSummary {
    SubjectSummary {
        subject: row.subject,
        usage: row.usage,
        slot_image_id: row.slot_image_id,
        own_quota: row.own_quota.is_some(),
        quota: row.own_quota.or(limits.subject),
    }
}

impl Service {
    /// The refusal an upload would get now, judged from the counts as they are (no lock)
    /// and as if it had no bytes (what is stored is only known after the metadata is
    /// stripped): so that an environment or subject already at its limit is refused
    /// before the body is decoded. The commit checks again, exactly.
    pub(super) async fn quota_already_full(
        &self,
        environment_id: Uuid,
        subject: Option<&Subject>,
        limits: &Limits,
    ) -> Result<Option<Error>> {
        let passed = self
            .first_limit_passed(environment_id, subject, 0, limits)
            .await?;
        if matches!(passed, Error::QuotaExceeded { .. }) {
            self.raise_quota_exceeded(environment_id, subject, 0, &passed)
                .await;
            Ok(Some(passed))
        } else {
            Ok(None)
        }
    }
}

impl Service {
    /// Sets the usage and quota gauges of every environment from the catalog:
    /// `imagestore_environment_{images,bytes,variant_bytes}` and
    /// `imagestore_environment_quota_{images,bytes}` (where a quota is set), labelled by
    /// environment only, so the label set grows with tenants, not with their users.
    pub async fn record_usage_gauges(&self) -> Result<()> {
        let quotas: std::collections::HashMap<Uuid, Quota> = self
            .catalog
            .environment_quotas()
            .await?
            .into_iter()
            .collect();
        for (environment_id, usage) in self.catalog.usage_by_environment().await? {
            let label = environment_id.to_string();
            metrics::gauge!("imagestore_environment_images", "environment" => label.clone())
                .set(usage.images as f64);
            metrics::gauge!("imagestore_environment_bytes", "environment" => label.clone())
                .set(usage.bytes as f64);
            metrics::gauge!("imagestore_environment_variant_bytes", "environment" => label.clone())
                .set(usage.variant_bytes as f64);
            if let Some(quota) = quotas.get(&environment_id) {
                if let Some(max) = quota.max_images {
                    metrics::gauge!("imagestore_environment_quota_images", "environment" => label.clone())
                        .set(max as f64);
                }
                if let Some(max) = quota.max_bytes {
                    metrics::gauge!("imagestore_environment_quota_bytes", "environment" => label)
                        .set(max as f64);
                }
            }
        }
        Ok(())
    }
}
