//! Presets: the list, one form that creates or edits (a preset is put by name), delete
//! behind a confirmation, and a preview of the form's values on a chosen image. The
//! preview is a rendition of that image with the same parameters; the script updates it
//! as the fields change, and without the script it shows what was last saved.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::environment::{InFrame, Outcome, environment_of, rendered};
use super::layout::{Section, csrf_field, env_path};
use super::library::{image_label, thumbnail_src};
use super::signed::optional_number;
use super::{ConsolePageError, NoFields, PageResult, Posted, Signed};
use crate::domain::rendition_params::fit_name;
use crate::domain::{Environment, Image, Preset};
use crate::error::Error;
use crate::http::content::target_href;
use crate::http::state::AppState;
use crate::service::PresetInput;
use crate::storage::catalog::LibraryFilter;

/// Images offered for the preview: the newest few.
const PREVIEW_CHOICES: u32 = 12;

const FITS: [&str; 4] = ["inside", "cover", "contain", "fill"];
const FORMATS: [(&str, &str); 7] = [
    ("", "The source's own"),
    ("webp", "WebP"),
    ("avif", "AVIF"),
    ("jpg", "JPEG"),
    ("png", "PNG"),
    ("gif", "GIF"),
    ("auto", "Best the browser accepts"),
];

/// The preset form's fields, as text: what was submitted, or a preset's values.
#[derive(Deserialize, Default, Clone)]
pub struct PresetForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    width: String,
    #[serde(default)]
    height: String,
    #[serde(default)]
    fit: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    quality: String,
    eager: Option<String>,
    /// The image the preview shows.
    image: Option<String>,
    /// The preset whose values fill the form (the page's `?edit=`).
    edit: Option<String>,
}

impl PresetForm {
    fn of(preset: &Preset) -> PresetForm {
        PresetForm {
            name: preset.name.clone(),
            width: preset.width.map(|w| w.to_string()).unwrap_or_default(),
            height: preset.height.map(|h| h.to_string()).unwrap_or_default(),
            fit: fit_name(preset.fit).into(),
            format: preset
                .format
                .map(|f| f.as_str().to_string())
                .unwrap_or_default(),
            quality: preset.quality.to_string(),
            eager: preset.eager.then(|| "true".into()),
            image: None,
            edit: Some(preset.name.clone()),
        }
    }

    fn input(&self) -> Result<PresetInput, Error> {
        let text = |value: &str| Some(value.trim().to_string()).filter(|v| !v.is_empty());
        Ok(PresetInput {
            width: optional_number("width", Some(&self.width))?,
            height: optional_number("height", Some(&self.height))?,
            fit: text(&self.fit),
            format: text(&self.format),
            quality: optional_number("quality", Some(&self.quality))?,
            eager: Some(self.eager.is_some()),
        })
    }

    /// The preview's rendition query for these values.
    fn preview_query(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (param, value) in [
            ("w", &self.width),
            ("h", &self.height),
            ("fit", &self.fit),
            ("format", &self.format),
            ("q", &self.quality),
        ] {
            if !value.trim().is_empty() {
                query.append_pair(param, value.trim());
            }
        }
        query.finish()
    }
}

fn original_path(image: &Image) -> String {
    target_href("", image, "original", image.format.extension())
}

fn preset_form(
    signed: &Signed,
    environment: &Environment,
    form: &PresetForm,
    images: &[Image],
) -> Markup {
    let chosen = images
        .iter()
        .find(|image| form.image.as_deref() == Some(image.id.to_string().as_str()))
        .or(images.first());
    html! {
        form #preset-form.stack.card method="post" action=(env_path(environment.id, "/presets")) {
            (csrf_field(signed))
            label for="preset-name" { "Name (letters, digits, - and _)" }
            input #preset-name name="name" type="text" required value=(form.name);
            label for="preset-width" { "Width (pixels)" }
            input #preset-width name="width" type="number" min="1" max="8192" value=(form.width);
            label for="preset-height" { "Height (pixels)" }
            input #preset-height name="height" type="number" min="1" max="8192" value=(form.height);
            label for="preset-fit" { "Fit" }
            select #preset-fit name="fit" {
                @for fit in FITS { option value=(fit) selected[form.fit == fit] { (fit) } }
            }
            label for="preset-format" { "Format" }
            select #preset-format name="format" {
                @for (value, name) in FORMATS { option value=(value) selected[form.format == value] { (name) } }
            }
            label for="preset-quality" { "Quality (1 to 100)" }
            input #preset-quality name="quality" type="number" min="1" max="100" value=(form.quality);
            label { input type="checkbox" name="eager" value="true" checked[form.eager.is_some()]; "Render at upload" }
            @if let Some(image) = chosen {
                label for="preset-image" { "Preview on" }
                select #preset-image name="image" {
                    @for candidate in images {
                        option value=(candidate.id) selected[candidate.id == image.id]
                            data-base=(original_path(candidate)) { (image_label(candidate)) }
                    }
                }
                @let query = form.preview_query();
                // Parameters the rendition would refuse are not previewed: the page shows
                // the thumbnail instead of a broken image.
                @let previewable = (query.contains("w=") || query.contains("h="))
                    && crate::http::transform_query::parse(Some(&query)).is_ok();
                img #preset-preview.preview data-base=(original_path(image))
                    src=(if previewable { format!("{}?{query}", original_path(image)) } else { thumbnail_src(image) })
                    alt={ "Preview of the preset on " (image_label(image)) };
            } @else {
                p.muted { "Upload an image to preview presets on it." }
            }
            button type="submit" { "Save preset" }
        }
    }
}

async fn presets_page(
    state: &AppState,
    signed: &Signed,
    environment: &Environment,
    form: &PresetForm,
    outcome: Outcome,
) -> Result<Response, ConsolePageError> {
    let presets = state
        .service
        .presets(&signed.principal, environment.id)
        .await
        .in_frame(signed, environment, Section::Presets)?;
    let images = state
        .service
        .library(
            &signed.principal,
            environment.id,
            &LibraryFilter::default(),
            None,
            PREVIEW_CHOICES,
        )
        .await
        .in_frame(signed, environment, Section::Presets)?
        .items;
    let form = match form
        .edit
        .as_deref()
        .and_then(|name| presets.iter().find(|p| p.name == name))
    {
        Some(preset) => PresetForm {
            image: form.image.clone(),
            ..PresetForm::of(preset)
        },
        None => form.clone(),
    };
    let body = html! {
        h1 { "Presets" }
        @if presets.is_empty() {
            p { "No presets yet." }
        } @else {
            div.table-wrap { table.cards {
                thead { tr { th { "Name" } th { "Size" } th { "Fit" } th { "Format" } th { "Quality" } th { "At upload" } th { "Actions" } } }
                tbody {
                    @for preset in &presets {
                        tr {
                            td data-label="Name" { (preset.name) }
                            td data-label="Size" { (preset.width.map_or("any".into(), |w| w.to_string())) " × " (preset.height.map_or("any".into(), |h| h.to_string())) }
                            td data-label="Fit" { (fit_name(preset.fit)) }
                            td data-label="Format" { (preset.format.map_or("source", |f| f.as_str())) }
                            td data-label="Quality" { (preset.quality) }
                            td data-label="At upload" { @if preset.eager { "yes" } @else { "no" } }
                            td data-label="Actions" {
                                a href={ (env_path(environment.id, "/presets")) "?edit=" (preset.name) } { "Edit " (preset.name) }
                                details.confirm {
                                    summary { "Delete…" }
                                    form method="post" action=(env_path(environment.id, &format!("/presets/{}/delete", preset.name))) {
                                        (csrf_field(signed))
                                        button.danger type="submit" { "Delete preset " (preset.name) }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
        }
        h2 { @if form.edit.is_some() { "Edit preset" } @else { "Create or replace a preset" } }
        (preset_form(signed, environment, &form, &images))
    };
    Ok(rendered(
        signed,
        environment,
        Section::Presets,
        "Presets",
        outcome,
        body,
    ))
}

/// `GET /console/environments/{env}/presets` (`?edit=` fills the form with a preset;
/// the form's own fields, sent by "Preview", fill it too).
pub async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Path(environment_id): Path<Uuid>,
    Query(form): Query<PresetForm>,
) -> PageResult {
    let environment = environment_of(&state, &signed, environment_id).await?;
    presets_page(&state, &signed, &environment, &form, None).await
}

/// `POST /console/environments/{env}/presets`.
pub async fn save(
    State(state): State<AppState>,
    Path(environment_id): Path<Uuid>,
    posted: Posted<PresetForm>,
) -> PageResult {
    let Posted { signed, form, .. } = posted;
    let environment = environment_of(&state, &signed, environment_id).await?;
    let saved = match form.input() {
        Ok(input) => state
            .service
            .put_preset(&signed.principal, environment_id, form.name.trim(), input)
            .await
            .map(|preset| format!("Preset {} saved.", preset.name)),
        Err(error) => Err(error),
    };
    presets_page(&state, &signed, &environment, &form, Some(saved)).await
}

/// `POST /console/environments/{env}/presets/{name}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Path((environment_id, name)): Path<(Uuid, String)>,
    posted: Posted<NoFields>,
) -> PageResult {
    let signed = posted.signed;
    let environment = environment_of(&state, &signed, environment_id).await?;
    let deleted = state
        .service
        .delete_preset(&signed.principal, environment_id, &name)
        .await
        .map(|()| format!("Preset {name} deleted."));
    let form = PresetForm::default();
    presets_page(&state, &signed, &environment, &form, Some(deleted)).await
}
