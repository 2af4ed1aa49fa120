//! API keys: how they are made, how they look on the wire, and how a presented one becomes
//! a [`Principal`].
//!
//! A token is `isk_<credential id>_<secret>`, both parts hex. The catalog keeps only the
//! SHA-256 of the secret; a presented token is looked up by its credential id and its
//! secret's hash compared in constant time, so response timing says nothing about how
//! much of a guess was right. Tokens are accepted as `Authorization: Bearer <token>` and
//! as the password (or, with an empty password, the user name) of `Authorization: Basic`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::domain::{Principal, random_hex};
use crate::error::{Error, Result};
use crate::storage::Catalog;

const PREFIX: &str = "isk_";

/// Upload tokens (see `service::upload_tokens`) have the same shape under their own
/// prefix, so that neither kind is ever taken for the other.
const UPLOAD_PREFIX: &str = "iut_";

/// A freshly minted key: the token (shown once) and the hash to store.
pub struct MintedToken {
    pub token: String,
    pub secret_hash: Vec<u8>,
}

pub fn mint_token(credential_id: Uuid) -> Result<MintedToken> {
    mint_with(PREFIX, credential_id)
}

/// A new upload token for the grant `id`.
pub fn mint_upload_token(id: Uuid) -> Result<MintedToken> {
    mint_with(UPLOAD_PREFIX, id)
}

fn mint_with(prefix: &str, id: Uuid) -> Result<MintedToken> {
    let secret = random_hex(32)?;
    Ok(MintedToken {
        token: format!("{prefix}{}_{secret}", id.simple()),
        secret_hash: hash_secret(&secret),
    })
}

/// The grant id an upload token names; None when it is not shaped like one.
pub fn upload_token_id(token: &str) -> Option<Uuid> {
    split_with(UPLOAD_PREFIX, token).map(|(id, _)| id)
}

/// The grant id an upload token names and the hash of its secret, as stored; None when
/// it is not shaped like one.
pub fn upload_token_parts(token: &str) -> Option<(Uuid, Vec<u8>)> {
    split_with(UPLOAD_PREFIX, token).map(|(id, secret)| (id, hash_secret(secret)))
}

fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Splits a token into credential id and secret; None when it is not shaped like ours.
fn split_token(token: &str) -> Option<(Uuid, &str)> {
    split_with(PREFIX, token)
}

fn split_with<'t>(prefix: &str, token: &'t str) -> Option<(Uuid, &'t str)> {
    let rest = token.strip_prefix(prefix)?;
    let (id, secret) = rest.split_once('_')?;
    if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((Uuid::try_parse(id).ok()?, secret))
}

/// The token inside an `Authorization` header value, for the Bearer and Basic schemes.
pub fn token_from_authorization(value: &str) -> Option<String> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(rest).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
        let token = if password.is_empty() { user } else { password };
        return Some(token.to_string());
    }
    None
}

/// Resolves a presented token to the principal it stands for.
pub async fn authenticate(catalog: &Catalog, token: &str) -> Result<Principal> {
    let (credential_id, secret) = split_token(token).ok_or(Error::Unauthenticated)?;
    let credential = catalog
        .credential(credential_id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let presented = hash_secret(secret);
    let unexpired = credential
        .expires_at
        .is_none_or(|expires_at| expires_at > chrono::Utc::now());
    if bool::from(presented.ct_eq(&credential.secret_hash)) && unexpired {
        catalog.note_use(&credential);
        Ok(Principal {
            environment_id: credential.environment_id,
            credential_id: credential.id,
            scopes: credential.scopes,
        })
    } else {
        Err(Error::Unauthenticated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_split_back_and_hash_to_what_is_stored() {
        let id = Uuid::new_v4();
        let minted = mint_token(id).unwrap();
        let (parsed, secret) = split_token(&minted.token).unwrap();
        assert_eq!(parsed, id);
        assert_eq!(hash_secret(secret), minted.secret_hash);
        assert!(split_token("isk_nothex_abc").is_none());
        assert!(split_token(&minted.token.replace("isk_", "xyz_")).is_none());
    }

    #[test]
    fn authorization_schemes() {
        assert_eq!(
            token_from_authorization("Bearer abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            token_from_authorization("bearer  abc ").as_deref(),
            Some("abc")
        );
        let basic = format!("Basic {}", STANDARD.encode("me:tok"));
        assert_eq!(token_from_authorization(&basic).as_deref(), Some("tok"));
        let user_only = format!("Basic {}", STANDARD.encode("tok:"));
        assert_eq!(token_from_authorization(&user_only).as_deref(), Some("tok"));
        assert_eq!(token_from_authorization("Digest x"), None);
        assert_eq!(token_from_authorization("Basic !!!"), None);
    }
}
