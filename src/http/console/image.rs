//! One image: a preview, its metadata, every target with its href to copy, a form that
//! makes a signed rendition URL (width, format, expiry) and shows it working, and delete
//! behind a confirmation. The signing form is a GET of the image's own page: making a
//! URL changes nothing a visitor could be tricked into, and the page it shows can be
//! reloaded, bookmarked and returned to with Back.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::environment::{InFrame, Outcome, environment_of, rendered};
use super::layout::{Section, bytes, csrf_field, env_path, when};
use super::library::image_label;
use super::{ConsolePageError, NoFields, PageResult, Posted, Signed, see_other};
use crate::domain::rendition_params as params;
use crate::domain::{Environment, Image};
use crate::error::Error;
use crate::http::content::target_href;
use crate::http::state::AppState;
use crate::service::{Described, Transform};

/// Expiries the signing form offers, in seconds, with their names.
const EXPIRIES: [(u64, &str); 4] = [
    (3600, "1 hour"),
    (86_400, "1 day"),
    (604_800, "7 days"),
    (2_592_000, "30 days"),
];

/// The signing form as last submitted (or its defaults); the page's query.
#[derive(Deserialize)]
#[serde(default)]
pub struct SignForm {
    width: String,
    format: String,
    expires: String,
    /// Set by the form's button: make the URL.
    sign: Option<String>,
}

impl Default for SignForm {
    fn default() -> Self {
        SignForm {
            width: "200".into(),
            format: "webp".into(),
            expires: "3600".into(),
            sign: None,
        }
    }
}

/// A signed URL as made: absolute for copying, and the same path for the preview.
struct SignedUrl {
    absolute: String,
    path: String,
}

fn image_path(image: &Image) -> String {
    env_path(image.environment_id, &format!("/images/{}", image.id))
}

fn metadata(image: &Image) -> Markup {
    html! {
        dl.meta {
            dt { "File name" } dd { (image.filename.as_deref().unwrap_or("(none)")) }
            dt { "Format" } dd { (image.format.name()) }
            dt { "Size" } dd { (bytes(image.byte_size)) " (" (image.byte_size) " bytes)" }
            dt { "Dimensions" } dd { (image.width) " × " (image.height) " pixels" }
            dt { "Frames" } dd { (image.frames) }
            dt { "Hash (BLAKE3)" } dd.mono { (image.content_hash) }
            dt { "Subject" } dd { (image.subject.as_ref().map_or("(none)", |s| s.as_str())) }
            dt { "Created" } dd { (when(image.created_at)) }
            dt { "Id" } dd.mono { (image.id) }
        }
    }
}

/// A small picture of a target: the preset's own rendition when a browser can show its
/// format, else (the original, a TIFF or BMP preset) a small WebP of the original, so a
/// 64-pixel icon never downloads an original.
fn target_preview(image: &Image, target: &str, extension: &str) -> String {
    let browser_shows = ["jpg", "png", "gif", "webp", "avif"].contains(&extension);
    if target != "original" && browser_shows {
        return target_href("", image, target, extension);
    }
    let original = target_href("", image, "original", image.format.extension());
    format!("{original}?w=128&h=128&fit=cover&format=webp&animated=false")
}

fn targets(base: &str, described: &Described) -> Markup {
    let image = &described.image;
    html! {
        ul.targets {
            @for (index, target) in described.targets.iter().enumerate() {
                @let href = target_href(base, image, &target.name, target.extension);
                @let field = format!("target-{index}");
                li {
                    img src=(target_preview(image, &target.name, target.extension)) alt=""
                        loading="lazy" width="64" height="64";
                    div.secret {
                        label for=(field) { (target.name) " (" (target.width) " × " (target.height) ")" }
                        input #(field) type="text" readonly value=(href);
                        button.secondary type="button" data-copy=(href) data-copy-field=(field) {
                            "Copy href of " (target.name)
                        }
                    }
                }
            }
        }
    }
}

fn sign_form(image: &Image, form: &SignForm, made: Option<&SignedUrl>) -> Markup {
    html! {
        form.inline method="get" action={ (image_path(image)) "#signed-url" } {
            label { "Width (pixels)" input name="width" type="number" min="1" max="8192" required value=(form.width); }
            label {
                "Format"
                select name="format" {
                    @for (value, name) in [("webp", "WebP"), ("avif", "AVIF"), ("jpg", "JPEG"), ("png", "PNG"), ("auto", "Best the browser accepts")] {
                        option value=(value) selected[form.format == value] { (name) }
                    }
                }
            }
            label {
                "Expires after"
                select name="expires" {
                    @for (seconds, name) in EXPIRIES {
                        option value=(seconds) selected[form.expires == seconds.to_string()] { (name) }
                    }
                }
            }
            button type="submit" name="sign" value="1" { "Make signed URL" }
        }
        @if let Some(made) = made {
            div.card #signed-url {
                div.secret {
                    label for="signed-href" { "Signed URL" }
                    input #signed-href type="text" readonly value=(made.absolute);
                    button.secondary type="button" data-copy=(made.absolute) data-copy-field="signed-href" { "Copy signed URL" }
                    a href=(made.path) { "Open signed URL" }
                }
                img #signed-preview.preview src=(made.path) alt="The signed rendition";
                p #signed-check.muted role="status" data-url=(made.path) {
                    "The preview above is loaded with this session; the script also asks for the URL without it."
                }
            }
        }
    }
}

fn detail_page(
    signed: &Signed,
    environment: &Environment,
    described: &Described,
    form: &SignForm,
    made: Option<&SignedUrl>,
    outcome: Outcome,
) -> Response {
    let image = &described.image;
    let preview = format!(
        "{}?w=800&format=webp&animated=false",
        target_href("", image, "original", image.format.extension())
    );
    let label = image_label(image);
    let body = html! {
        p { a href=(env_path(environment.id, "/library")) { "← Library" } }
        h1 { (label) }
        div.detail {
            div { img.preview src=(preview) alt=(label) width=(image.width.min(800)); }
            div.card { (metadata(image)) }
        }
        h2 { "Targets" }
        (targets(&signed.base, described))
        h2 { "Signed rendition URL" }
        (sign_form(image, form, made))
        h2 { "Delete" }
        details.confirm {
            summary { "Delete this image…" }
            form method="post" action={ (image_path(image)) "/delete" } {
                (csrf_field(signed))
                p { "The image, its renditions and its hrefs go for good." }
                button.danger type="submit" { "Delete image permanently" }
            }
        }
    };
    rendered(signed, environment, Section::Library, &label, outcome, body)
}

/// The environment and the image a page of one image shows.
async fn image_of(
    state: &AppState,
    signed: &Signed,
    environment_id: Uuid,
    image_id: Uuid,
) -> Result<(Environment, Described), ConsolePageError> {
    let environment = environment_of(state, signed, environment_id).await?;
    let described = state
        .service
        .image(&signed.principal, environment_id, image_id)
        .await
        .in_frame(signed, &environment, Section::Library)?;
    Ok((environment, described))
}

/// `GET /console/environments/{env}/images/{id}`, with the signing form's fields when it
/// was submitted.
pub async fn detail(
    State(state): State<AppState>,
    signed: Signed,
    Path((environment_id, image_id)): Path<(Uuid, Uuid)>,
    Query(form): Query<SignForm>,
) -> PageResult {
    let (environment, described) = image_of(&state, &signed, environment_id, image_id).await?;
    let (made, outcome) = match &form.sign {
        None => (None, None),
        Some(_) => match sign(&state, &signed, environment_id, image_id, &form).await {
            Ok(made) => (Some(made), Some(Ok("Signed URL made.".to_string()))),
            Err(error) => (None, Some(Err(error))),
        },
    };
    Ok(detail_page(
        &signed,
        &environment,
        &described,
        &form,
        made.as_ref(),
        outcome,
    ))
}

async fn sign(
    state: &AppState,
    signed: &Signed,
    environment_id: Uuid,
    image_id: Uuid,
    form: &SignForm,
) -> Result<SignedUrl, Error> {
    let transform = Transform {
        width: Some(params::size("width", &form.width)?),
        format: Some(params::format(&form.format)?),
        ..Transform::default()
    };
    let expires_in = form
        .expires
        .trim()
        .parse()
        .map_err(|_| Error::InvalidInput {
            target: "expires",
            message: "choose one of the offered expiries".into(),
        })?;
    let path = state
        .service
        .sign_rendition(
            &signed.principal,
            environment_id,
            image_id,
            &transform,
            Some(expires_in),
        )
        .await?;
    Ok(SignedUrl {
        absolute: format!("{}{path}", signed.base),
        path,
    })
}

/// `POST /console/environments/{env}/images/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Path((environment_id, image_id)): Path<(Uuid, Uuid)>,
    posted: Posted<NoFields>,
) -> PageResult {
    let signed = posted.signed;
    let refusal = match state
        .service
        .delete(&signed.principal, environment_id, image_id)
        .await
    {
        Ok(()) => {
            let library = env_path(environment_id, "/library");
            return Ok(see_other(&format!("{library}?deleted=1")));
        }
        Err(error) => error,
    };
    // Shown on the image's page, where the button was.
    let (environment, described) = image_of(&state, &signed, environment_id, image_id).await?;
    Ok(detail_page(
        &signed,
        &environment,
        &described,
        &SignForm::default(),
        None,
        Some(Err(refusal)),
    ))
}
