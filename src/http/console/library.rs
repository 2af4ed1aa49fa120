//! The library: an environment's images, newest first, as a grid of thumbnails. Each tile
//! is painted at once from the image's ThumbHash (decoded here into a tiny PNG data URL,
//! so the browser needs no decoder script), with the thumbnail on top: a 256-pixel WebP
//! rendition of the original, never the original itself. Pages follow image numbers
//! (`?before=`), so the thousandth page costs what the first does.

use axum::extract::{Path, Query, State};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{NaiveDate, TimeZone, Utc};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::environment::{environment_of, rendered};
use super::layout::{Section, env_path};
use super::{PageResult, Signed};
use crate::domain::{Image, Placeholder, Subject};
use crate::error::Error;
use crate::http::content::target_href;
use crate::http::state::AppState;
use crate::media::ImageFormat;
use crate::storage::catalog::LibraryFilter;

/// Images per page: a few screens of tiles on a desktop.
const PAGE_SIZE: u32 = 60;

/// The thumbnail's query: square, cropped to fill, first frame only.
const THUMBNAIL: &str = "w=256&h=256&fit=cover&format=webp&animated=false";

#[derive(Deserialize, Default)]
pub struct LibraryQuery {
    subject: Option<String>,
    format: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
    /// Set by the redirect after an image was deleted.
    deleted: Option<String>,
}

fn day(target: &'static str, text: &str) -> Result<NaiveDate, Error> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| Error::InvalidInput {
        target,
        message: format!("{target} must be a date such as 2026-12-31"),
    })
}

fn non_empty(text: &Option<String>) -> Option<&str> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

impl LibraryQuery {
    /// The filter and the page cursor the query asks for.
    fn parse(&self) -> Result<(LibraryFilter, Option<i64>), Error> {
        let subject = non_empty(&self.subject).map(Subject::parse).transpose()?;
        let format = non_empty(&self.format)
            .map(|name| {
                ImageFormat::from_extension(name).ok_or_else(|| Error::InvalidInput {
                    target: "format",
                    message: format!("{name:?} is not a stored format"),
                })
            })
            .transpose()?;
        let midnight = |date: NaiveDate| Utc.from_utc_datetime(&date.and_time(Default::default()));
        let created_from = non_empty(&self.from)
            .map(|text| day("from", text))
            .transpose()?
            .map(midnight);
        // `to` is the last day shown, so the range ends at the next midnight.
        let created_before = non_empty(&self.to)
            .map(|text| day("to", text))
            .transpose()?
            .and_then(|date| date.succ_opt())
            .map(midnight);
        let before = non_empty(&self.before)
            .map(|text| {
                text.parse::<i64>().map_err(|_| Error::InvalidInput {
                    target: "before",
                    message: "before must be the cursor of an \"Older images\" link".into(),
                })
            })
            .transpose()?;
        let filter = LibraryFilter {
            subject,
            format,
            created_from,
            created_before,
        };
        Ok((filter, before))
    }

    /// The query string of these filters, on the page older than `before` (or the first).
    fn filtered(&self, before: Option<i64>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("subject", &self.subject),
            ("format", &self.format),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if let Some(value) = non_empty(value) {
                query.append_pair(name, value);
            }
        }
        if let Some(before) = before {
            query.append_pair("before", &before.to_string());
        }
        query.finish()
    }
}

/// The ThumbHash as a PNG data URL of at most 32 pixels a side, which the browser scales
/// up smoothly; `None` when the hash cannot be decoded.
pub fn placeholder_data_url(placeholder: &Placeholder) -> Option<String> {
    let hash = STANDARD.decode(&placeholder.thumbhash).ok()?;
    let (width, height, rgba) = thumbhash::thumb_hash_to_rgba(&hash).ok()?;
    let mut png = Vec::with_capacity(1024);
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        &rgba,
        u32::try_from(width).ok()?,
        u32::try_from(height).ok()?,
        image::ExtendedColorType::Rgba8,
    )
    .ok()?;
    Some(format!("data:image/png;base64,{}", STANDARD.encode(png)))
}

/// The thumbnail of an image, at a path of this origin.
pub fn thumbnail_src(image: &Image) -> String {
    let mut src = target_href("", image, "original", image.format.extension());
    src.push('?');
    src.push_str(THUMBNAIL);
    src
}

/// What a person calls an image: its file name, or its id.
pub fn image_label(image: &Image) -> String {
    image
        .filename
        .clone()
        .unwrap_or_else(|| format!("Image {}", image.id))
}

fn tile(image: &Image) -> Markup {
    let label = image_label(image);
    html! {
        li {
            a href=(env_path(image.environment_id, &format!("/images/{}", image.id))) {
                span.tile {
                    @if let Some(src) = image.placeholder.as_ref().and_then(placeholder_data_url) {
                        img.placeholder src=(src) alt="" width="32" height="32";
                    }
                    img.thumb src=(thumbnail_src(image)) alt=(label) loading="lazy"
                        decoding="async" width="256" height="256";
                }
                // The thumbnail's alt text names the link; the caption shows the same
                // words to the eye only, so they are not announced twice.
                span.caption aria-hidden="true" { (label) }
            }
        }
    }
}

fn filters(query: &LibraryQuery, environment_id: Uuid) -> Markup {
    let value = |field: &Option<String>| field.clone().unwrap_or_default();
    html! {
        form.filters method="get" action=(env_path(environment_id, "/library")) {
            label { "Subject" input name="subject" type="text" value=(value(&query.subject)); }
            label {
                "Format"
                select name="format" {
                    option value="" { "Any" }
                    @for format in ImageFormat::ALL {
                        option value=(format.extension())
                            selected[query.format.as_deref() == Some(format.extension())] {
                            (format.name())
                        }
                    }
                }
            }
            label { "From" input name="from" type="date" value=(value(&query.from)); }
            label { "To" input name="to" type="date" value=(value(&query.to)); }
            button type="submit" { "Filter" }
        }
    }
}

/// `GET /console/environments/{env}/library`.
pub async fn library(
    State(state): State<AppState>,
    signed: Signed,
    Path(environment_id): Path<Uuid>,
    Query(query): Query<LibraryQuery>,
) -> PageResult {
    let environment = environment_of(&state, &signed, environment_id).await?;
    let page = match query.parse() {
        Ok((filter, before)) => state
            .service
            .library(
                &signed.principal,
                environment_id,
                &filter,
                before,
                PAGE_SIZE,
            )
            .await
            .map(Some),
        Err(error) => Err(error),
    };
    let (page, outcome) = match page {
        Ok(page) => (
            page,
            query.deleted.as_ref().map(|_| Ok("Image deleted.".into())),
        ),
        // A bad filter, or a key that may not read images: said on the page, in its frame.
        Err(error @ (Error::InvalidInput { .. } | Error::Forbidden(_))) => (None, Some(Err(error))),
        Err(other) => return Err(other.into()),
    };
    let body = html! {
        h1 { "Library" }
        (filters(&query, environment_id))
        @if let Some(page) = &page {
            @if page.items.is_empty() {
                p { "No images match." " " a href=(env_path(environment_id, "/upload")) { "Upload some" } }
            } @else {
                ul.grid aria-label="Images, newest first" {
                    @for image in &page.items { (tile(image)) }
                }
            }
            @if non_empty(&query.before).is_some() || page.next.is_some() { nav.pager aria-label="Pages" {
                @if non_empty(&query.before).is_some() {
                    a href={ (env_path(environment_id, "/library")) "?" (query.filtered(None)) } { "Newest images" }
                }
                @if let Some(next) = page.next {
                    a href={ (env_path(environment_id, "/library")) "?" (query.filtered(Some(next))) } {
                        "Older images"
                    }
                }
            } }
        }
    };
    Ok(rendered(
        &signed,
        &environment,
        Section::Library,
        "Library",
        outcome,
        body,
    ))
}
