//! Webhooks and their deliveries (the outbox's read side; `events` writes it). A due
//! delivery is taken by one UPDATE that sets its lease, and only a row whose lease has
//! run out (or was never set) can be taken: on SQLite the one writer runs it alone, and
//! on PostgreSQL the UPDATE re-checks that condition on each row after waiting for a
//! concurrent taker's lock. So each attempt is made by one instance, and a delivery an
//! instance took and then died with is taken again once its lease runs out.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit::record;
use super::columns::{Columns, optional_time_column};
use super::engine::Engine;
use super::statement::statement;
use super::{Catalog, time_column, uuid_column};
use crate::domain::{AuditEntry, EventType, Page, Webhook, WebhookDelivery};
use crate::error::{Error, Result};

const WEBHOOK_COLUMNS: &str = "id, environment_id, url, events, secret, created_at, updated_at";
const DELIVERY_COLUMNS: &str = "number, webhook_id, environment_id, event_id, event_type, \
     payload, created_at, next_attempt_at, attempts, last_attempt_at, last_status, last_error, \
     delivered_at, failed_at";

fn webhook_from_row(row: &dyn Columns) -> Result<Webhook> {
    let events = row
        .required_text("events")?
        .split(',')
        .filter(|name| !name.is_empty())
        .map(EventType::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Catalog(format!("stored webhook events: {e}")))?;
    Ok(Webhook {
        id: uuid_column(row, "id")?,
        environment_id: uuid_column(row, "environment_id")?,
        url: row.required_text("url")?,
        events,
        secret: row.required_text("secret")?,
        created_at: time_column(row, "created_at")?,
        updated_at: time_column(row, "updated_at")?,
    })
}

fn delivery_from_row(row: &dyn Columns) -> Result<WebhookDelivery> {
    Ok(WebhookDelivery {
        number: row.required_int("number")?,
        webhook_id: uuid_column(row, "webhook_id")?,
        environment_id: uuid_column(row, "environment_id")?,
        event_id: row.required_text("event_id")?,
        event_type: row.required_text("event_type")?,
        payload: row.required_text("payload")?,
        created_at: time_column(row, "created_at")?,
        next_attempt_at: optional_time_column(row, "next_attempt_at")?,
        attempts: u32::try_from(row.required_int("attempts")?).unwrap_or(u32::MAX),
        last_attempt_at: optional_time_column(row, "last_attempt_at")?,
        last_status: row
            .int("last_status")?
            .map(|s| u16::try_from(s).unwrap_or(0)),
        last_error: row.text("last_error")?,
        delivered_at: optional_time_column(row, "delivered_at")?,
        failed_at: optional_time_column(row, "failed_at")?,
    })
}

/// The subscribed events as stored: between commas, so that one LIKE finds subscribers.
fn events_text(events: &[EventType]) -> String {
    let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
    format!(",{},", names.join(","))
}

/// How an attempt ended, as recorded.
pub enum Attempt {
    Delivered {
        status: u16,
    },
    /// Failed; tried again at `next` (None: given up for good).
    Failed {
        status: Option<u16>,
        error: String,
        next: Option<DateTime<Utc>>,
    },
}

impl Catalog {
    pub async fn insert_webhook(&self, webhook: &Webhook, audit: &AuditEntry) -> Result<()> {
        let insert = statement!(
            "INSERT INTO webhooks (id, environment_id, url, events, secret, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
            webhook.id,
            webhook.environment_id,
            &webhook.url,
            events_text(&webhook.events),
            &webhook.secret,
            webhook.created_at,
        );
        self.engine.execute(vec![insert, record(audit)]).await?;
        Ok(())
    }

    pub async fn webhooks(&self, environment_id: Uuid) -> Result<Vec<Webhook>> {
        let select = statement!(
            format!(
                "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE environment_id = $1 \
                 ORDER BY created_at, id"
            ),
            environment_id
        );
        self.engine.rows(select, webhook_from_row).await
    }

    pub async fn webhook(&self, environment_id: Uuid, id: Uuid) -> Result<Option<Webhook>> {
        let select = statement!(
            format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE environment_id = $1 AND id = $2"),
            environment_id,
            id,
        );
        self.engine.row(select, webhook_from_row).await
    }

    /// Removes a webhook and its deliveries; false when there is none.
    pub async fn delete_webhook(
        &self,
        environment_id: Uuid,
        id: Uuid,
        audit: &AuditEntry,
    ) -> Result<bool> {
        let delete = statement!(
            "DELETE FROM webhooks WHERE environment_id = $1 AND id = $2",
            environment_id,
            id
        );
        let deliveries = statement!("DELETE FROM webhook_deliveries WHERE webhook_id = $1", id);
        let changed = self
            .engine
            .execute_if_changed(vec![delete], vec![deliveries, record(audit)])
            .await?;
        Ok(changed == 1)
    }

    /// Replaces a webhook's signing secret; false when there is none.
    pub async fn rotate_webhook_secret(
        &self,
        environment_id: Uuid,
        id: Uuid,
        secret: &str,
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<bool> {
        let update = statement!(
            "UPDATE webhooks SET secret = $1, updated_at = $2 \
             WHERE environment_id = $3 AND id = $4",
            secret,
            now,
            environment_id,
            id,
        );
        let changed = self
            .engine
            .execute_if_changed(vec![update], vec![record(audit)])
            .await?;
        Ok(changed == 1)
    }

    /// A page of a webhook's deliveries, newest first, before delivery number `before`.
    pub async fn webhook_deliveries(
        &self,
        webhook_id: Uuid,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<WebhookDelivery>> {
        let select = statement!(
            format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 \
                 AND number < $2 ORDER BY number DESC LIMIT $3"
            ),
            webhook_id,
            before.unwrap_or(i64::MAX),
            i64::from(limit) + 1,
        );
        let mut items = self.engine.rows(select, delivery_from_row).await?;
        let next = (items.len() > limit as usize).then(|| items[limit as usize - 1].number);
        items.truncate(limit as usize);
        Ok(Page { items, next })
    }

    /// Takes up to `limit` deliveries due at `now`, leasing them until `lease_until`. On
    /// PostgreSQL rows another instance is taking are skipped rather than waited for, so
    /// instances take different rows at once.
    pub async fn take_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>> {
        let skip_locked = match &*self.engine {
            Engine::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Engine::Sqlite(_) => "",
        };
        let take = statement!(
            format!(
                "UPDATE webhook_deliveries SET lease_until = $1 \
                 WHERE number IN (SELECT number FROM webhook_deliveries \
                   WHERE next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until <= $2) \
                   ORDER BY next_attempt_at LIMIT $3{skip_locked}) \
                 AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until <= $2) \
                 RETURNING {DELIVERY_COLUMNS}"
            ),
            lease_until,
            now,
            i64::from(limit),
        );
        self.engine.write_rows(take, delivery_from_row).await
    }

    /// Records how an attempt at a delivery ended, and ends its lease, if the lease is
    /// still the one the attempt was made under (one that ran out may have been taken by
    /// another instance since, whose outcome stands).
    pub async fn record_attempt(
        &self,
        number: i64,
        lease_until: DateTime<Utc>,
        at: DateTime<Utc>,
        attempt: &Attempt,
    ) -> Result<()> {
        let (status, error, delivered_at, failed_at, next) = match attempt {
            Attempt::Delivered { status } => (Some(*status), None, Some(at), None, None),
            Attempt::Failed {
                status,
                error,
                next,
            } => (
                *status,
                Some(error.as_str()),
                None,
                next.is_none().then_some(at),
                *next,
            ),
        };
        let update = statement!(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = $1, \
             last_status = $2, last_error = $3, delivered_at = $4, failed_at = $5, \
             next_attempt_at = $6, lease_until = NULL WHERE number = $7 AND lease_until = $8",
            at,
            status.map(i64::from),
            error,
            delivered_at,
            failed_at,
            next,
            number,
            lease_until,
        );
        self.engine.execute_one(update).await?;
        Ok(())
    }

    /// Forgets deliveries that ended (delivered or given up) before `before`.
    pub async fn delete_finished_deliveries(&self, before: DateTime<Utc>) -> Result<u64> {
        let delete = statement!(
            "DELETE FROM webhook_deliveries WHERE next_attempt_at IS NULL AND created_at < $1",
            before
        );
        self.engine.execute_one(delete).await
    }
}
