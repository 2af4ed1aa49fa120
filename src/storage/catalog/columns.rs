//! Reading typed values out of catalog rows, whichever engine's driver fetched them:
//! rusqlite's rows on SQLite, sqlx's `PgRow`s on PostgreSQL. Rows are turned into domain
//! values here once, through [`Columns`], so both engines agree on every column.
//!
//! A listing reads many rows, and one that cannot be read (a column edited by hand, a
//! value an older or newer version wrote) must not take the whole listing down: such a row
//! is skipped with a warning and counted in `imagestore_corrupt_rows_total`
//! ([`images_from_rows`]). A lookup of that one row still fails, as it should.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::domain::rendition_params::parse_crop;
use crate::domain::{Image, Page, Placeholder, Subject};
use crate::error::{Error, Result};
use crate::media::ImageFormat;

/// The three column types the schema uses (text, integers and bytes), possibly NULL.
pub(super) trait Columns {
    fn text(&self, column: &str) -> Result<Option<String>>;
    fn int(&self, column: &str) -> Result<Option<i64>>;
    fn bytes(&self, column: &str) -> Result<Option<Vec<u8>>>;

    fn required_text(&self, column: &str) -> Result<String> {
        self.text(column)?.ok_or_else(|| null(column))
    }

    fn required_int(&self, column: &str) -> Result<i64> {
        self.int(column)?.ok_or_else(|| null(column))
    }
}

fn null(column: &str) -> Error {
    Error::Catalog(format!("{column} is unexpectedly NULL"))
}

impl Columns for PgRow {
    fn text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }

    fn int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }

    fn bytes(&self, column: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.try_get(column)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, column: &str) -> Result<Option<String>> {
        self.get(column)
            .map_err(|e| Error::Catalog(format!("reading {column}: {e}")))
    }

    fn int(&self, column: &str) -> Result<Option<i64>> {
        self.get(column)
            .map_err(|e| Error::Catalog(format!("reading {column}: {e}")))
    }

    fn bytes(&self, column: &str) -> Result<Option<Vec<u8>>> {
        self.get(column)
            .map_err(|e| Error::Catalog(format!("reading {column}: {e}")))
    }
}

pub(super) fn uuid_column(row: &dyn Columns, column: &str) -> Result<Uuid> {
    let text = row.required_text(column)?;
    Uuid::parse_str(&text).map_err(|e| Error::Catalog(format!("{column} is not a UUID: {e}")))
}

pub(super) fn time_column(row: &dyn Columns, column: &str) -> Result<DateTime<Utc>> {
    let millis = row.required_int(column)?;
    millis_to_time(column, millis)
}

/// A nullable time column: `None` for NULL.
pub(super) fn optional_time_column(
    row: &dyn Columns,
    column: &str,
) -> Result<Option<DateTime<Utc>>> {
    row.int(column)?
        .map(|millis| millis_to_time(column, millis))
        .transpose()
}

fn millis_to_time(column: &str, millis: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| Error::Catalog(format!("{column} is out of range: {millis}")))
}

pub(super) fn u32_column(row: &dyn Columns, column: &str) -> Result<u32> {
    let value = row.required_int(column)?;
    u32::try_from(value).map_err(|_| Error::Catalog(format!("{column} is out of range: {value}")))
}

/// An image row, with the columns `image_columns!` lists.
pub(super) fn image_from_row(row: &dyn Columns) -> Result<Image> {
    let format = row.required_text("format")?;
    let byte_size = row.required_int("byte_size")?;
    Ok(Image {
        id: uuid_column(row, "id")?,
        number: row.required_int("number")?,
        environment_id: uuid_column(row, "environment_id")?,
        subject: row
            .text("subject")?
            .map(|s| Subject::parse(&s))
            .transpose()
            .map_err(|e| Error::Catalog(format!("stored subject: {e}")))?,
        filename: row.text("filename")?,
        format: ImageFormat::from_extension(&format)
            .ok_or_else(|| Error::Catalog(format!("unknown stored format {format:?}")))?,
        byte_size: u64::try_from(byte_size).unwrap_or(0),
        width: u32_column(row, "width")?,
        height: u32_column(row, "height")?,
        frames: u32_column(row, "frames")?,
        content_hash: row.required_text("content_hash")?,
        serve_key: row.required_text("serve_key")?,
        blob_key: row.required_text("blob_key")?,
        created_at: time_column(row, "created_at")?,
        updated_at: time_column(row, "updated_at")?,
        placeholder: match (row.text("thumbhash")?, row.text("dominant_color")?) {
            (Some(thumbhash), Some(dominant_color)) => Some(Placeholder {
                thumbhash,
                dominant_color,
            }),
            _ => None,
        },
        expires_at: optional_time_column(row, "expires_at")?,
        crop: row
            .text("crop")?
            .map(|text| {
                parse_crop(&text).ok_or_else(|| Error::Catalog(format!("stored crop {text:?}")))
            })
            .transpose()?,
    })
}

/// An image row as a listing reads it: its number and id even when the rest cannot be
/// read, so that one bad row neither ends the listing nor hides which row it was.
pub(super) struct ListedRow {
    number: Option<i64>,
    id: Option<String>,
    pub image: Result<Image>,
}

/// Reads a listed row; never fails, so that the statement's other rows are still read.
pub(super) fn listed_row(row: &dyn Columns) -> Result<ListedRow> {
    Ok(ListedRow {
        number: row.int("number").ok().flatten(),
        id: row.text("id").ok().flatten(),
        image: image_from_row(row),
    })
}

/// One page of images from up to `limit + 1` rows (the extra row says whether there is a
/// next page), skipping rows that cannot be read. The next page starts after the last row
/// of this one, read or not, so a skipped row neither ends the listing early nor repeats.
pub(super) fn images_page(mut rows: Vec<ListedRow>, limit: u32) -> Page<Image> {
    let limit = limit as usize;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let last_number = rows.last().and_then(|row| row.number);
    let items = readable_images(rows);
    let next = if more {
        last_number.or_else(|| items.last().map(|image| image.number))
    } else {
        None
    };
    Page { items, next }
}

/// The images of the rows that can be read; each other row is logged and counted.
pub(super) fn readable_images(rows: Vec<ListedRow>) -> Vec<Image> {
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        match row.image {
            Ok(image) => items.push(image),
            Err(error) => {
                let id = row.id.unwrap_or_default();
                metrics::counter!("imagestore_corrupt_rows_total", "table" => "images")
                    .increment(1);
                tracing::warn!(image = %id, %error, "skipped an image row that cannot be read");
            }
        }
    }
    items
}
