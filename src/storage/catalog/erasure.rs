//! Erasures and their receipts. An erasure removes a subject's image rows in batches;
//! each batch is counted into the erasure's receipt row (images, bytes, and the distinct
//! content hashes in `erased_hashes`) in the transaction that removes it. So an erasure
//! cut short by a crash has exact counts for what it removed, and the next request for
//! the same subject takes it up where it stopped (at most one erasure is under way per
//! subject: a partial unique index). It is signed and stamped `erased_at` when no row of
//! the subject is left. The deployment's Ed25519 keys for signing live here too.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit::record;
use super::columns::{Columns, optional_time_column};
use super::engine::Engine;
use super::events::deliveries;
use super::statement::statement;
use super::{Catalog, uuid_column};
use crate::domain::{AuditEntry, Event, Receipt, Subject};
use crate::error::{Error, Result};

/// An erasure's row: what it has removed so far, and its signature once complete.
#[derive(Debug, Clone)]
pub struct ErasureRow {
    pub id: Uuid,
    pub environment_id: Uuid,
    pub subject: Subject,
    pub erased_at: Option<DateTime<Utc>>,
    pub images: u64,
    pub bytes: u64,
    pub kid: Option<String>,
    pub signature: Option<String>,
}

/// A signing key of the deployment: its id, 32-byte Ed25519 seed and public key.
#[derive(Clone)]
pub struct ReceiptKey {
    pub kid: String,
    pub private_key: Vec<u8>,
    pub public_key: Vec<u8>,
}

const RECEIPT_COLUMNS: &str =
    "id, environment_id, subject, erased_at, images, bytes, kid, signature";

fn erasure_from_row(row: &dyn Columns) -> Result<ErasureRow> {
    let count =
        |column| -> Result<u64> { Ok(u64::try_from(row.required_int(column)?).unwrap_or(0)) };
    Ok(ErasureRow {
        id: uuid_column(row, "id")?,
        environment_id: uuid_column(row, "environment_id")?,
        subject: Subject::parse(&row.required_text("subject")?)
            .map_err(|e| Error::Catalog(format!("stored subject: {e}")))?,
        erased_at: optional_time_column(row, "erased_at")?,
        images: count("images")?,
        bytes: count("bytes")?,
        kid: row.text("kid")?,
        signature: row.text("signature")?,
    })
}

fn key_from_row(row: &dyn Columns) -> Result<ReceiptKey> {
    let bytes = |column| {
        row.bytes(column)?
            .ok_or_else(|| Error::Catalog(format!("{column} is unexpectedly NULL")))
    };
    Ok(ReceiptKey {
        kid: row.required_text("kid")?,
        private_key: bytes("private_key")?,
        public_key: bytes("public_key")?,
    })
}

impl Catalog {
    /// The key that signs receipts: the oldest of the deployment's, `made` stored first
    /// when there is none.
    pub async fn receipt_key(&self, made: &ReceiptKey) -> Result<ReceiptKey> {
        let insert = statement!(
            "INSERT INTO receipt_keys (kid, private_key, public_key, created_at) \
             SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM receipt_keys)",
            &made.kid,
            made.private_key.as_slice(),
            made.public_key.as_slice(),
            Utc::now(),
        );
        self.engine.execute_one(insert).await?;
        let oldest = statement!(
            "SELECT kid, private_key, public_key FROM receipt_keys \
             ORDER BY created_at, kid LIMIT 1"
        );
        self.engine
            .row(oldest, key_from_row)
            .await?
            .ok_or_else(|| Error::Catalog("no receipt key after storing one".into()))
    }

    /// Every signing key of the deployment (for the JWKS).
    pub async fn receipt_keys(&self) -> Result<Vec<ReceiptKey>> {
        let select = statement!(
            "SELECT kid, private_key, public_key FROM receipt_keys ORDER BY created_at, kid"
        );
        self.engine.rows(select, key_from_row).await
    }

    /// The erasure under way for a subject, or a new one (with id `new_id`, recorded in
    /// the audit log as `audit`).
    pub async fn begin_erasure(
        &self,
        environment_id: Uuid,
        subject: &Subject,
        new_id: Uuid,
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> Result<ErasureRow> {
        let begin = statement!(
            "INSERT INTO erasure_receipts (id, environment_id, subject, started_at, images, \
             bytes) SELECT $1, $2, $3, $4, 0, 0 WHERE NOT EXISTS (SELECT 1 FROM \
             erasure_receipts WHERE environment_id = $2 AND subject = $3 AND erased_at IS NULL) \
             ON CONFLICT DO NOTHING",
            new_id,
            environment_id,
            subject.as_str(),
            now,
        );
        self.engine
            .execute_if_changed(vec![begin], vec![record(audit)])
            .await?;
        let under_way = statement!(
            format!(
                "SELECT {RECEIPT_COLUMNS} FROM erasure_receipts \
                 WHERE environment_id = $1 AND subject = $2 AND erased_at IS NULL"
            ),
            environment_id,
            subject.as_str(),
        );
        match self.engine.row(under_way, erasure_from_row).await? {
            Some(row) => Ok(row),
            // Completed by a concurrent request between the two statements: what this
            // request asked for is done, and that request's receipt says so.
            None => {
                let completed = statement!(
                    format!(
                        "SELECT {RECEIPT_COLUMNS} FROM erasure_receipts \
                         WHERE environment_id = $1 AND subject = $2 \
                         ORDER BY erased_at DESC LIMIT 1"
                    ),
                    environment_id,
                    subject.as_str(),
                );
                self.engine
                    .row(completed, erasure_from_row)
                    .await?
                    .ok_or(Error::Conflict("the erasure is under way; retry".into()))
            }
        }
    }

    /// Removes up to `limit` image rows of the erasure's subject, counting them into its
    /// receipt in the same transaction; returns the ids removed (none: nothing is left,
    /// or the erasure was completed meanwhile). A completed receipt is never counted into
    /// again, so what was signed stays what is stored.
    pub async fn erase_batch(&self, erasure: &ErasureRow, limit: u32) -> Result<Vec<Uuid>> {
        let (environment, subject, limit) = (
            erasure.environment_id,
            erasure.subject.as_str(),
            i64::from(limit),
        );
        let id = |row: &dyn Columns| uuid_column(row, "id");
        let removed = match &*self.engine {
            // One writer: the batch is the same set in each statement of the job, and the
            // erasure cannot complete between them.
            Engine::Sqlite(_) => {
                let batch = "number IN (SELECT number FROM images WHERE environment_id = $1 \
                             AND subject = $2 ORDER BY number LIMIT $3) AND EXISTS (SELECT 1 \
                             FROM erasure_receipts WHERE id = $4 AND erased_at IS NULL)";
                // `$4` comes last, since SQLite numbers parameters by their first use.
                let hashes = statement!(
                    format!(
                        "INSERT INTO erased_hashes (content_hash, receipt_id) \
                         SELECT h.content_hash, r.receipt_id \
                         FROM (SELECT DISTINCT content_hash FROM images WHERE {batch}) AS h, \
                         (SELECT $4 AS receipt_id) AS r WHERE true ON CONFLICT DO NOTHING"
                    ),
                    environment,
                    subject,
                    limit,
                    erasure.id,
                );
                let counted = statement!(
                    format!(
                        "UPDATE erasure_receipts SET \
                         images = images + (SELECT COUNT(*) FROM images WHERE {batch}), \
                         bytes = bytes + (SELECT COALESCE(SUM(byte_size), 0) FROM images \
                         WHERE {batch}) WHERE id = $4"
                    ),
                    environment,
                    subject,
                    limit,
                    erasure.id,
                );
                let delete = statement!(
                    format!("DELETE FROM images WHERE {batch} RETURNING id"),
                    environment,
                    subject,
                    limit,
                    erasure.id,
                );
                self.engine
                    .write_rows_with(vec![hashes, counted], delete, id, Vec::new())
                    .await?
            }
            // One statement: the receipt's row is locked (a completion waits, and then
            // finds the counts moved), and the batch's rows are locked, removed, and
            // counted from what the DELETE returned, whatever commits beside it.
            Engine::Postgres(_) => {
                let erase = statement!(
                    "WITH under_way AS (SELECT id FROM erasure_receipts \
                       WHERE id = $4 AND erased_at IS NULL FOR UPDATE), \
                     batch AS (SELECT number FROM images WHERE environment_id = $1 \
                       AND subject = $2 AND EXISTS (SELECT 1 FROM under_way) \
                       ORDER BY number LIMIT $3 FOR UPDATE), \
                     gone AS (DELETE FROM images WHERE number IN (SELECT number FROM batch) \
                       RETURNING id, byte_size, content_hash), \
                     hashes AS (INSERT INTO erased_hashes (receipt_id, content_hash) \
                       SELECT DISTINCT $4, content_hash FROM gone ON CONFLICT DO NOTHING), \
                     counted AS (UPDATE erasure_receipts SET \
                       images = images + (SELECT COUNT(*) FROM gone), \
                       bytes = bytes + (SELECT COALESCE(SUM(byte_size), 0) FROM gone) \
                       WHERE id = $4) \
                     SELECT id FROM gone",
                    environment,
                    subject,
                    limit,
                    erasure.id,
                );
                self.engine.write_rows(erase, id).await?
            }
        };
        Ok(removed)
    }

    /// The distinct content hashes an erasure has removed, sorted.
    pub async fn erased_hashes(&self, receipt_id: Uuid) -> Result<Vec<String>> {
        let select = statement!(
            "SELECT content_hash FROM erased_hashes WHERE receipt_id = $1 ORDER BY content_hash",
            receipt_id
        );
        self.engine
            .rows(select, |row| row.required_text("content_hash"))
            .await
    }

    /// Completes an erasure with its signed receipt, in one transaction with what else
    /// goes with the subject (its own quota, its upload tokens) and `event`, if its counts
    /// are still those signed and nothing of the subject is left. False when another
    /// request completed it first, counted a batch into it since, or an image of the
    /// subject was committed after the last batch (then the caller erases and counts
    /// again).
    pub async fn finish_erasure(&self, receipt: &Receipt, event: &Event) -> Result<bool> {
        let (environment, subject) = (receipt.environment_id, receipt.subject.as_str());
        let finish = statement!(
            "UPDATE erasure_receipts SET erased_at = $1, kid = $2, signature = $3 \
             WHERE images = $4 AND bytes = $5 AND id = $6 AND erased_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM images WHERE environment_id = $7 AND subject = $8)",
            receipt.erased_at,
            &receipt.kid,
            &receipt.signature,
            i64::try_from(receipt.images).unwrap_or(i64::MAX),
            i64::try_from(receipt.bytes).unwrap_or(i64::MAX),
            receipt.id,
            environment,
            subject,
        );
        let then = vec![
            statement!(
                "DELETE FROM subject_quotas WHERE environment_id = $1 AND subject = $2",
                environment,
                subject
            ),
            statement!(
                "DELETE FROM upload_tokens WHERE environment_id = $1 AND subject = $2",
                environment,
                subject
            ),
            deliveries(event),
        ];
        Ok(self.engine.execute_if_changed(vec![finish], then).await? == 1)
    }

    /// An erasure by its id, complete or not.
    pub async fn erasure(&self, environment_id: Uuid, id: Uuid) -> Result<Option<ErasureRow>> {
        let select = statement!(
            format!(
                "SELECT {RECEIPT_COLUMNS} FROM erasure_receipts \
                 WHERE environment_id = $1 AND id = $2"
            ),
            environment_id,
            id,
        );
        self.engine.row(select, erasure_from_row).await
    }
}
