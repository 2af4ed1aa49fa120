//! The webhook outbox's write side. An event is written as one delivery row per webhook
//! of its environment subscribed to its type, by [`deliveries`], a statement that runs in
//! the transaction of the change it reports: a change committed has its deliveries, and a
//! change rolled back has none. The delivery worker (`service::webhooks`) sends them.

use super::Catalog;
use super::statement::{Statement, statement};
use crate::domain::Event;
use crate::error::Result;

/// The statement that queues `event` for every webhook subscribed to it.
///
/// The pattern is built in SQL around the event's name (`$3`) rather than bound whole: a
/// LIKE whose right side is a bare parameter makes SQLite prepare the statement again
/// every time a value is bound (its LIKE optimization depends on the value), which on
/// every upload cost the writer a parse and a code generation of the whole statement.
pub(super) fn deliveries(event: &Event) -> Statement {
    statement!(
        "INSERT INTO webhook_deliveries (webhook_id, environment_id, event_id, event_type, \
         payload, created_at, next_attempt_at, attempts) \
         SELECT id, $1, $2, $3, $4, $5, $5, 0 FROM webhooks \
         WHERE environment_id = $1 AND events LIKE '%,' || $3 || ',%'",
        event.environment_id,
        &event.id,
        event.kind.as_str(),
        &event.payload,
        event.at,
    )
}

impl Catalog {
    /// Queues an event that no other change carries (a refusal, say).
    pub async fn record_event(&self, event: &Event) -> Result<()> {
        self.engine.execute_one(deliveries(event)).await?;
        Ok(())
    }
}
