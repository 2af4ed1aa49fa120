//! Erasing a subject, with a signed receipt. The erasure removes the subject's image rows
//! in batches (the catalog counts each batch into the receipt in the transaction that
//! removes it) and each batch's blobs right after, so memory stays bounded by a batch
//! whatever the subject holds. Every href of an erased image is a 404 from the moment
//! its batch commits, on every instance: each lookup reads the catalog (or a memo of it
//! that a commit invalidates), and the blobs go only after the row. A crash midway
//! leaves the erasure under way with exact counts; the next request resumes it, and
//! blobs a crash left behind are orphans for the sweeper.
//!
//! The receipt is signed with the deployment's Ed25519 key (made on first start, kept in
//! the catalog, published at `/.well-known/jwks.json`) over its JSON without the
//! signature, keys sorted, no insignificant whitespace (`domain::Receipt`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer as _, SigningKey};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Service;
use super::control::audit_entry;
use crate::domain::{Event, EventType, Principal, Receipt, Scope, Subject};
use crate::error::{Error, Result};
use crate::storage::BlobStore;
use crate::storage::catalog::{ErasureRow, ReceiptKey};

/// Image rows removed per transaction.
const BATCH: u32 = 500;

/// Blob prefixes removed at once after a batch.
const CONCURRENT_BLOB_DELETES: usize = 8;

/// The key receipts are signed with, as read from the catalog once.
pub(super) struct ReceiptSigner {
    kid: String,
    key: SigningKey,
}

impl Service {
    /// The deployment's receipt key, made and stored on first use (the first start).
    pub(super) async fn receipt_signer(&self) -> Result<&ReceiptSigner> {
        self.receipt_signer
            .get_or_try_init(|| async {
                let made = new_receipt_key()?;
                let key = self.catalog.receipt_key(&made).await?;
                let seed: [u8; 32] =
                    key.private_key.as_slice().try_into().map_err(|_| {
                        Error::Catalog("a stored receipt key is not 32 bytes".into())
                    })?;
                Ok(ReceiptSigner {
                    kid: key.kid,
                    key: SigningKey::from_bytes(&seed),
                })
            })
            .await
    }

    /// Makes sure the receipt key exists (at start, so that the JWKS has it at once).
    pub async fn prepare_receipt_key(&self) -> Result<()> {
        self.receipt_signer().await.map(|_| ())
    }

    /// The deployment's public keys as a JWK set.
    pub async fn jwks(&self) -> Result<serde_json::Value> {
        self.receipt_signer().await?;
        let keys: Vec<serde_json::Value> = self
            .catalog
            .receipt_keys()
            .await?
            .iter()
            .map(|key| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(&key.public_key),
                    "kid": key.kid,
                    "alg": "EdDSA",
                    "use": "sig",
                })
            })
            .collect();
        Ok(serde_json::json!({ "keys": keys }))
    }

    /// Erases every image of a subject (admin) and answers the signed receipt. Erasing a
    /// subject with nothing left answers a receipt of 0 images.
    pub async fn erase_subject(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        subject: &Subject,
    ) -> Result<Receipt> {
        principal.require(environment_id, Scope::Admin)?;
        self.limits(environment_id).await?;
        let signer = self.receipt_signer().await?;
        let new_id = Uuid::new_v4();
        let audit = audit_entry(
            principal,
            Some(environment_id),
            "subject.erase",
            format!("receipt/{new_id}"),
        );
        let erasure = self
            .catalog
            .begin_erasure(environment_id, subject, new_id, Utc::now(), &audit)
            .await?;
        if erasure.erased_at.is_some() {
            return self.stored_receipt(erasure).await;
        }
        // Until a completion sticks: another request erasing the same subject may count a
        // batch between this one's count and its completion (then this one counts again),
        // or complete it first (then its receipt is the answer).
        loop {
            loop {
                let removed = self.catalog.erase_batch(&erasure, BATCH).await?;
                if removed.is_empty() {
                    break;
                }
                self.remove_blobs(environment_id, removed).await;
            }
            let counted = self
                .catalog
                .erasure(environment_id, erasure.id)
                .await?
                .ok_or(Error::NotFound("receipt"))?;
            if counted.erased_at.is_some() {
                return self.stored_receipt(counted).await;
            }
            let receipt = self.signed_receipt(signer, counted).await?;
            let event = Event::new(
                environment_id,
                EventType::SubjectErased,
                serde_json::json!({
                    "environmentId": environment_id,
                    "subject": subject.as_str(),
                    "receiptId": receipt.id,
                    "images": receipt.images,
                    "bytes": receipt.bytes,
                }),
            );
            if self.catalog.finish_erasure(&receipt, &event).await? {
                metrics::counter!("imagestore_subject_erasures_total").increment(1);
                return Ok(receipt);
            }
        }
    }

    /// The receipt of an erasure as counted, signed now.
    async fn signed_receipt(&self, signer: &ReceiptSigner, counted: ErasureRow) -> Result<Receipt> {
        let mut receipt = Receipt {
            id: counted.id,
            environment_id: counted.environment_id,
            subject: counted.subject,
            erased_at: to_millis(Utc::now()),
            images: counted.images,
            bytes: counted.bytes,
            content_hashes: self.catalog.erased_hashes(counted.id).await?,
            kid: signer.kid.clone(),
            signature: String::new(),
        };
        let signature = signer.key.sign(&receipt.signed_bytes());
        receipt.signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
        Ok(receipt)
    }

    /// A completed erasure's receipt, again.
    pub async fn receipt(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        id: Uuid,
    ) -> Result<Receipt> {
        principal.require(environment_id, Scope::ImagesRead)?;
        let erasure = self
            .catalog
            .erasure(environment_id, id)
            .await?
            .filter(|row| row.erased_at.is_some())
            .ok_or(Error::NotFound("receipt"))?;
        self.stored_receipt(erasure).await
    }

    async fn stored_receipt(&self, row: ErasureRow) -> Result<Receipt> {
        let (Some(erased_at), Some(kid), Some(signature)) = (row.erased_at, row.kid, row.signature)
        else {
            return Err(Error::Catalog(format!("receipt {} is incomplete", row.id)));
        };
        Ok(Receipt {
            id: row.id,
            environment_id: row.environment_id,
            subject: row.subject,
            erased_at,
            images: row.images,
            bytes: row.bytes,
            content_hashes: self.catalog.erased_hashes(row.id).await?,
            kid,
            signature,
        })
    }

    /// Removes the blobs of erased images; what fails is left for the sweeper (no row
    /// owns it any more).
    async fn remove_blobs(&self, environment_id: Uuid, images: Vec<Uuid>) {
        futures_util::stream::iter(images)
            .for_each_concurrent(CONCURRENT_BLOB_DELETES, |image| async move {
                let prefix = BlobStore::image_prefix(environment_id, image);
                if let Err(error) = self.blobs.delete_prefix(&prefix).await {
                    tracing::warn!(%prefix, %error, "erased image's blobs left for the sweeper");
                }
            })
            .await;
    }
}

/// The time as the receipt states it (milliseconds), so that the receipt rebuilt from
/// the catalog is the one signed.
fn to_millis(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or(time)
}

/// A fresh Ed25519 key, its id the RFC 7638 thumbprint of its public JWK.
fn new_receipt_key() -> Result<ReceiptKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    let public_key = key.verifying_key().to_bytes().to_vec();
    let x = URL_SAFE_NO_PAD.encode(&public_key);
    let thumbprint = Sha256::digest(format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#));
    Ok(ReceiptKey {
        kid: URL_SAFE_NO_PAD.encode(thumbprint),
        private_key: seed.to_vec(),
        public_key,
    })
}
