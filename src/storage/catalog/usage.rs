//! What environments and subjects hold, and the quotas on it. The counts live in
//! `environment_usage` and `subject_usage`, kept by triggers on `images` (see migration
//! 0006) in the transaction of every change, so no code path can forget them and a crash
//! cannot leave them behind the rows.
//!
//! A quota is checked by the statement that would pass it: the INSERT of an upload and
//! the UPDATE of a claim carry [`quota_guard`], a condition on the counts and on the
//! limits as they are now, and change nothing when it fails. On SQLite one writer runs statements one at a time, so the
//! counts a guard reads cannot move under it. On PostgreSQL the guarded statement first
//! takes a lock on the environment's row ([`quota_lock`]), which the next guarded
//! statement of the environment waits for; the guard, a statement of its own after it,
//! then reads counts that include every change committed before. So fifty concurrent
//! uploads against room for ten make exactly ten images, on any number of instances.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit::record;
use super::columns::Columns;
use super::engine::Engine;
use super::statement::{Statement, statement};
use super::{Catalog, uuid_column};
use crate::domain::{AuditEntry, Quota, Subject, Usage};
use crate::error::Result;

/// A subject as the catalog knows it: what it holds, its slot, and its own quota.
#[derive(Debug, Clone)]
pub struct SubjectRow {
    pub subject: Subject,
    pub usage: Usage,
    pub slot_image_id: Option<Uuid>,
    pub own_quota: Option<Quota>,
}

/// The condition under which a statement may add an image of `size` bytes about
/// `subject` to `environment` (each an SQL expression of the statement). The limits are
/// read by the statement itself, from the environment's settings and the subject's own
/// quota, so a limit changed while an upload was on its way applies to it. True when no
/// limit applies.
pub(super) fn quota_guard(engine: &Engine, environment: &str, subject: &str, size: &str) -> String {
    let setting = |quota: &str, limit: &str| match engine {
        Engine::Sqlite(_) => format!(
            "(SELECT json_extract(settings, '$.{quota}.{limit}') FROM environments \
             WHERE id = {environment})"
        ),
        Engine::Postgres(_) => format!(
            "(SELECT (settings::jsonb #>> '{{{quota},{limit}}}')::bigint FROM environments \
             WHERE id = {environment})"
        ),
    };
    let (max_images, max_bytes) = (setting("quota", "maxImages"), setting("quota", "maxBytes"));
    let (default_images, default_bytes) = (
        setting("subjectQuota", "maxImages"),
        setting("subjectQuota", "maxBytes"),
    );
    format!(
        "NOT EXISTS (SELECT 1 FROM (SELECT 1 AS one) AS base \
           LEFT JOIN environment_usage e ON e.environment_id = {environment} \
           WHERE {max_images} < COALESCE(e.images, 0) + 1 \
              OR {max_bytes} < COALESCE(e.bytes, 0) + {size}) \
         AND NOT EXISTS (SELECT 1 FROM (SELECT 1 AS one) AS base \
           LEFT JOIN subject_quotas q ON q.environment_id = {environment} AND q.subject = {subject} \
           LEFT JOIN subject_usage u ON u.environment_id = {environment} AND u.subject = {subject} \
           WHERE {subject} IS NOT NULL AND ( \
              (CASE WHEN q.subject IS NULL THEN {default_images} ELSE q.max_images END) \
                < COALESCE(u.images, 0) + 1 \
              OR (CASE WHEN q.subject IS NULL THEN {default_bytes} ELSE q.max_bytes END) \
                < COALESCE(u.bytes, 0) + {size}))"
    )
}

/// What must run before a guarded statement: on PostgreSQL, the environment's row lock
/// that makes guarded statements of one environment take turns (see the module doc),
/// when a limit may apply: the environment's settings name a quota (as committed when
/// the lock is asked for; PostgreSQL checks the row again after waiting for it), or the
/// image has a subject, which may have a quota of its own. Uploads to an environment
/// without quotas do not take turns.
pub(super) fn quota_lock(engine: &Engine, environment_id: Uuid, subject: bool) -> Vec<Statement> {
    match engine {
        Engine::Postgres(_) => vec![statement!(
            "SELECT id FROM environments WHERE id = $1 AND ($2 = 1 \
             OR settings LIKE '%\"quota\"%' OR settings LIKE '%\"subjectQuota\"%') \
             FOR NO KEY UPDATE",
            environment_id,
            subject,
        )],
        Engine::Sqlite(_) => Vec::new(),
    }
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn count(row: &dyn Columns, column: &str) -> Result<u64> {
    Ok(row
        .int(column)?
        .map_or(0, |n| u64::try_from(n).unwrap_or(0)))
}

fn usage_from_row(row: &dyn Columns) -> Result<Usage> {
    Ok(Usage {
        images: count(row, "images")?,
        bytes: count(row, "bytes")?,
        variant_bytes: count(row, "variant_bytes")?,
    })
}

fn own_quota(row: &dyn Columns) -> Result<Option<Quota>> {
    if row.text("quota_subject")?.is_none() {
        return Ok(None);
    }
    let limit = |column| -> Result<Option<u64>> {
        Ok(row.int(column)?.map(|n| u64::try_from(n).unwrap_or(0)))
    };
    Ok(Some(Quota {
        max_images: limit("max_images")?,
        max_bytes: limit("max_bytes")?,
    }))
}

fn subject_row(row: &dyn Columns) -> Result<SubjectRow> {
    Ok(SubjectRow {
        subject: Subject::parse(&row.required_text("subject")?)
            .map_err(|e| crate::error::Error::Catalog(format!("stored subject: {e}")))?,
        usage: usage_from_row(row)?,
        slot_image_id: match row.text("slot_image_id")? {
            Some(_) => Some(uuid_column(row, "slot_image_id")?),
            None => None,
        },
        own_quota: own_quota(row)?,
    })
}

/// The columns of a subject, from `subject_usage u`, `slots s` and `subject_quotas q`.
const SUBJECT_COLUMNS: &str = "u.images, u.bytes, u.variant_bytes, s.image_id AS slot_image_id, \
     q.subject AS quota_subject, q.max_images, q.max_bytes";

impl Catalog {
    /// What an environment holds.
    pub async fn usage(&self, environment_id: Uuid) -> Result<Usage> {
        let select = statement!(
            "SELECT images, bytes, variant_bytes FROM environment_usage \
             WHERE environment_id = $1",
            environment_id
        );
        Ok(self
            .engine
            .row(select, usage_from_row)
            .await?
            .unwrap_or_default())
    }

    /// What every environment holds (for `/metrics`).
    pub async fn usage_by_environment(&self) -> Result<Vec<(Uuid, Usage)>> {
        let select = statement!(
            "SELECT environment_id, images, bytes, variant_bytes FROM environment_usage \
             ORDER BY environment_id"
        );
        self.engine
            .rows(select, |row| {
                Ok((uuid_column(row, "environment_id")?, usage_from_row(row)?))
            })
            .await
    }

    /// One subject, whether it holds anything or not.
    pub async fn subject(&self, environment_id: Uuid, subject: &Subject) -> Result<SubjectRow> {
        let select = statement!(
            format!(
                "SELECT b.subject, {SUBJECT_COLUMNS} FROM (SELECT $1 AS environment_id, \
                 $2 AS subject) AS b \
                 LEFT JOIN subject_usage u \
                   ON u.environment_id = b.environment_id AND u.subject = b.subject \
                 LEFT JOIN slots s ON s.environment_id = b.environment_id AND s.subject = b.subject \
                 LEFT JOIN subject_quotas q \
                   ON q.environment_id = b.environment_id AND q.subject = b.subject"
            ),
            environment_id,
            subject.as_str(),
        );
        let row = self.engine.row(select, subject_row).await?;
        Ok(row.unwrap_or_else(|| SubjectRow {
            subject: subject.clone(),
            usage: Usage::default(),
            slot_image_id: None,
            own_quota: None,
        }))
    }

    /// Up to `limit` subjects that hold images, in subject order after `after`; the
    /// second value is whether more follow.
    pub async fn subjects(
        &self,
        environment_id: Uuid,
        after: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<SubjectRow>, bool)> {
        let select = statement!(
            format!(
                "SELECT u.subject, {SUBJECT_COLUMNS} FROM subject_usage u \
                 LEFT JOIN slots s ON s.environment_id = u.environment_id AND s.subject = u.subject \
                 LEFT JOIN subject_quotas q \
                   ON q.environment_id = u.environment_id AND q.subject = u.subject \
                 WHERE u.environment_id = $1 AND u.subject > $2 AND u.images > 0 \
                 ORDER BY u.subject LIMIT $3"
            ),
            environment_id,
            after.unwrap_or(""),
            i64::from(limit) + 1,
        );
        let mut rows = self.engine.rows(select, subject_row).await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok((rows, more))
    }

    /// Sets (Some) or removes (None) a subject's own quota, recording `audit` with it.
    pub async fn set_subject_quota(
        &self,
        environment_id: Uuid,
        subject: &Subject,
        quota: Option<Quota>,
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<()> {
        let change = match quota {
            Some(quota) => statement!(
                "INSERT INTO subject_quotas (environment_id, subject, max_images, max_bytes, \
                 updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (environment_id, subject) DO UPDATE SET \
                 max_images = excluded.max_images, max_bytes = excluded.max_bytes, \
                 updated_at = excluded.updated_at",
                environment_id,
                subject.as_str(),
                quota.max_images.map(saturating_i64),
                quota.max_bytes.map(saturating_i64),
                now,
            ),
            None => statement!(
                "DELETE FROM subject_quotas WHERE environment_id = $1 AND subject = $2",
                environment_id,
                subject.as_str(),
            ),
        };
        self.engine.execute(vec![change, record(audit)]).await?;
        Ok(())
    }

    /// Adds `delta` bytes (negative: removes) to what an image's stored variants take.
    /// The image may be gone already; then nothing is counted.
    pub async fn add_variant_bytes(&self, image_id: Uuid, delta: i64) -> Result<()> {
        let update = statement!(
            "UPDATE images SET variant_bytes = CASE WHEN variant_bytes + $1 < 0 THEN 0 \
             ELSE variant_bytes + $1 END WHERE id = $2",
            delta,
            image_id,
        );
        self.engine.execute_one(update).await?;
        Ok(())
    }
}
