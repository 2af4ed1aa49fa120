//! The audit log: an append-only table of control-plane changes. Each catalog method that
//! makes such a change takes its [`AuditEntry`] and appends it in the change's own
//! transaction, so the log never shows a change that did not happen nor misses one that
//! did.

use chrono::Utc;
use uuid::Uuid;

use super::columns::Columns;
use super::statement::{Statement, statement};
use super::{Catalog, time_column};
use crate::domain::{AuditEntry, AuditEvent, Page};
use crate::error::{Error, Result};

/// The statement that appends `entry`, to run in the transaction of its change.
pub(super) fn record(entry: &AuditEntry) -> Statement {
    statement!(
        "INSERT INTO audit_events (environment_id, actor, action, target, request_id, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        entry.environment_id.map(|id| id.to_string()).as_deref(),
        &entry.actor,
        &entry.action,
        &entry.target,
        entry.request_id.as_deref(),
        Utc::now(),
    )
}

impl Catalog {
    /// One page of an environment's audit log (or the deployment's, for `None`), oldest
    /// first, after event number `after`.
    pub async fn audit_events(
        &self,
        environment_id: Option<Uuid>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Page<AuditEvent>> {
        let select = statement!(
            "SELECT number, environment_id, actor, action, target, request_id, created_at \
             FROM audit_events WHERE (environment_id = $1 OR ($1 IS NULL AND \
             environment_id IS NULL)) AND number > $2 ORDER BY number LIMIT $3",
            environment_id.map(|id| id.to_string()).as_deref(),
            after.unwrap_or(0),
            i64::from(limit) + 1,
        );
        Ok(page(self.engine.rows(select, event_from_row).await?, limit))
    }

    /// The log newest first, older than event number `before`.
    pub async fn recent_audit_events(
        &self,
        environment_id: Option<Uuid>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<AuditEvent>> {
        let select = statement!(
            "SELECT number, environment_id, actor, action, target, request_id, created_at \
             FROM audit_events WHERE (environment_id = $1 OR ($1 IS NULL AND \
             environment_id IS NULL)) AND number < $2 ORDER BY number DESC LIMIT $3",
            environment_id.map(|id| id.to_string()).as_deref(),
            before.unwrap_or(i64::MAX),
            i64::from(limit) + 1,
        );
        Ok(page(self.engine.rows(select, event_from_row).await?, limit))
    }
}

/// A page of at most `limit` events from `limit + 1` rows; `next` is the cursor after the
/// last kept when more follow.
fn page(mut items: Vec<AuditEvent>, limit: u32) -> Page<AuditEvent> {
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|event| event.number)
    } else {
        None
    };
    Page { items, next }
}

fn event_from_row(row: &dyn Columns) -> Result<AuditEvent> {
    let environment_id = row
        .text("environment_id")?
        .map(|text| Uuid::parse_str(&text))
        .transpose()
        .map_err(|e| Error::Catalog(format!("audit environment_id: {e}")))?;
    Ok(AuditEvent {
        number: row.required_int("number")?,
        created_at: time_column(row, "created_at")?,
        entry: AuditEntry {
            environment_id,
            actor: row.required_text("actor")?,
            action: row.required_text("action")?,
            target: row.required_text("target")?,
            request_id: row.text("request_id")?,
        },
    })
}
