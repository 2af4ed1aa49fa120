//! Per-environment rendition settings: presets (named renditions every image offers) and
//! the secrets that sign rendition URLs, plus signing and verifying those URLs. Presets
//! need `images:write` to change and `images:read` to read; secrets need `admin`.

use chrono::Utc;
use uuid::Uuid;

use super::Service;
use super::control::audit_entry;
use super::renditions::Transform;
use super::signing;
use crate::domain::rendition_params as params;
use crate::domain::{Preset, Principal, Scope, SigningSecret, random_hex};
use crate::error::{Error, Result};
use crate::media::transform::Fit;

/// A preset as a client describes it: the body of `PUT …/presets/{name}`, read as it is
/// and validated here, against the rendition vocabulary (`domain::rendition_params`).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PresetBody)]
pub struct PresetInput {
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// inside (default), cover, contain or fill.
    pub fit: Option<String>,
    /// jpg, png, webp, avif, gif or auto; absent: the source's format.
    pub format: Option<String>,
    /// 1–100, default 80.
    pub quality: Option<u8>,
    /// Render at upload instead of on first request.
    pub eager: Option<bool>,
}

/// Longest validity a signed URL may be given: a year.
const MAX_EXPIRES_IN: u64 = 365 * 24 * 3600;

fn invalid(target: &'static str, message: impl Into<String>) -> Error {
    Error::InvalidInput {
        target,
        message: message.into(),
    }
}

impl Service {
    pub async fn put_preset(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        name: &str,
        input: PresetInput,
    ) -> Result<Preset> {
        principal.require(environment_id, Scope::ImagesWrite)?;
        Preset::validate_name(name)?;
        let max = self.settings.max_output_side;
        let width = input
            .width
            .map(|w| params::size_at_most("width", w, max))
            .transpose()?;
        let height = input
            .height
            .map(|h| params::size_at_most("height", h, max))
            .transpose()?;
        let fit = input.fit.as_deref().map(params::fit).transpose()?;
        let format = input.format.as_deref().map(params::format).transpose()?;
        let quality = input
            .quality
            .map(|q| params::quality_value("quality", q))
            .transpose()?;
        let now = Utc::now();
        let preset = Preset {
            name: name.to_string(),
            width,
            height,
            fit: fit.unwrap_or(Fit::Inside),
            format,
            quality: quality.unwrap_or(params::DEFAULT_QUALITY),
            eager: input.eager.unwrap_or(false),
            created_at: now,
            updated_at: now,
        };
        let audit = audit_entry(
            principal,
            Some(environment_id),
            "preset.put",
            format!("preset/{name}"),
        );
        self.catalog
            .put_preset(environment_id, &preset, &audit)
            .await
    }

    pub async fn preset(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        name: &str,
    ) -> Result<Preset> {
        principal.require(environment_id, Scope::ImagesRead)?;
        self.published_preset(environment_id, name).await
    }

    pub async fn presets(
        &self,
        principal: &Principal,
        environment_id: Uuid,
    ) -> Result<Vec<Preset>> {
        principal.require(environment_id, Scope::ImagesRead)?;
        self.catalog.presets(environment_id).await
    }

    pub async fn delete_preset(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        name: &str,
    ) -> Result<()> {
        principal.require(environment_id, Scope::ImagesWrite)?;
        let audit = audit_entry(
            principal,
            Some(environment_id),
            "preset.delete",
            format!("preset/{name}"),
        );
        if self
            .catalog
            .delete_preset(environment_id, name, &audit)
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound("preset"))
        }
    }

    /// Adds a signing secret; new URLs are signed with the newest. The secret is returned
    /// once, so that clients may also sign URLs themselves.
    pub async fn create_signing_secret(
        &self,
        principal: &Principal,
        environment_id: Uuid,
    ) -> Result<SigningSecret> {
        principal.require(environment_id, Scope::Admin)?;
        self.new_signing_secret(principal, environment_id).await
    }

    async fn new_signing_secret(
        &self,
        principal: &Principal,
        environment_id: Uuid,
    ) -> Result<SigningSecret> {
        let secret = SigningSecret {
            id: Uuid::new_v4(),
            environment_id,
            secret: random_hex(32)?,
            created_at: Utc::now(),
        };
        let audit = audit_entry(
            principal,
            Some(environment_id),
            "signing_secret.create",
            format!("signing-secret/{}", secret.id),
        );
        self.catalog.insert_signing_secret(&secret, &audit).await?;
        Ok(secret)
    }

    pub async fn signing_secrets(
        &self,
        principal: &Principal,
        environment_id: Uuid,
    ) -> Result<Vec<SigningSecret>> {
        principal.require(environment_id, Scope::Admin)?;
        self.catalog.signing_secrets(environment_id).await
    }

    pub async fn delete_signing_secret(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        id: Uuid,
    ) -> Result<()> {
        principal.require(environment_id, Scope::Admin)?;
        let audit = audit_entry(
            principal,
            Some(environment_id),
            "signing_secret.delete",
            format!("signing-secret/{id}"),
        );
        if self
            .catalog
            .delete_signing_secret(environment_id, id, &audit)
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound("signing secret"))
        }
    }

    /// Signs the rendition `transform` of an image. Returns the href's path and query
    /// (`/images/…?…&sig=…`), to be put after the public URL.
    pub async fn sign_rendition(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        image_id: Uuid,
        transform: &Transform,
        expires_in: Option<u64>,
    ) -> Result<String> {
        let image = self.image(principal, environment_id, image_id).await?.image;
        if expires_in.is_some_and(|s| s == 0 || s > MAX_EXPIRES_IN) {
            return Err(invalid(
                "expiresIn",
                format!("expiresIn must be between 1 and {MAX_EXPIRES_IN} seconds"),
            ));
        }
        // Check the parameters now rather than hand out a URL that can only fail.
        self.check_transform(&image, transform)?;
        let secret = match self
            .catalog
            .signing_secrets(environment_id)
            .await?
            .into_iter()
            .next()
        {
            Some(secret) => secret,
            None => self.new_signing_secret(principal, environment_id).await?,
        };
        let path = format!(
            "/images/{environment_id}/{}_{}_original.{}",
            image.id,
            image.serve_key,
            image.format.extension()
        );
        let canonical = transform.canonical_query();
        let expires = expires_in.map(|s| Utc::now().timestamp().saturating_add(s as i64));
        let sig = signing::sign(&secret.secret, &path, &canonical, expires);
        let mut query = canonical;
        if let Some(exp) = expires {
            query = join(&query, &format!("exp={exp}"));
        }
        Ok(format!("{path}?{}", join(&query, &format!("sig={sig}"))))
    }

    /// Lets an anonymous rendition request through only with a valid, unexpired signature.
    pub async fn verify_rendition_signature(
        &self,
        environment_id: Uuid,
        path: &str,
        transform: &Transform,
        expires: Option<i64>,
        signature: Option<&str>,
    ) -> Result<()> {
        let Some(signature) = signature else {
            return Err(Error::SignatureInvalid(
                "transform parameters need a credential or a signed URL; anonymous requests may \
                 use preset hrefs"
                    .into(),
            ));
        };
        if expires.is_some_and(|exp| exp < Utc::now().timestamp()) {
            return Err(Error::SignatureInvalid("the signed URL has expired".into()));
        }
        let secrets = self.catalog.signing_secrets(environment_id).await?;
        if signing::verify(
            &secrets,
            path,
            &transform.canonical_query(),
            expires,
            signature,
        ) {
            Ok(())
        } else {
            Err(Error::SignatureInvalid(
                "the URL's signature does not match".into(),
            ))
        }
    }
}

fn join(query: &str, pair: &str) -> String {
    if query.is_empty() {
        pair.to_string()
    } else {
        format!("{query}&{pair}")
    }
}
