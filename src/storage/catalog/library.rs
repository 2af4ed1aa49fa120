//! The console's library: an environment's images newest first, filtered by subject,
//! format and creation time, paged by image number so that every page is an index range
//! however deep it is (no OFFSET). The SQL names only the filters that are set, so each
//! combination is its own statement with its own plan: `($n IS NULL OR …)` would make
//! SQLite choose one plan for all of them, and a subject filter would then scan the
//! whole environment instead of the `images_by_subject` index.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Catalog;
use super::columns::{images_page, listed_row};
use super::statement::{Param, Statement, statement};
use crate::domain::{Image, Page, Subject};
use crate::error::Result;
use crate::media::ImageFormat;

/// What the library shows; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LibraryFilter {
    pub subject: Option<Subject>,
    pub format: Option<ImageFormat>,
    /// Created at or after this time.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before this time.
    pub created_before: Option<DateTime<Utc>>,
}

impl Catalog {
    /// A page of `environment_id`'s images, newest first, older than image number
    /// `before` when given; the page's `next` is the number the following page starts
    /// before.
    pub async fn library_page(
        &self,
        environment_id: Uuid,
        filter: &LibraryFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Image>> {
        let mut sql = String::from(concat!(
            "SELECT ",
            image_columns!(),
            " FROM images WHERE environment_id = $1"
        ));
        let mut params = vec![Param::from(environment_id)];
        let mut condition = |clause: &str, param: Param| {
            params.push(param);
            sql.push_str(&format!(" AND {clause} ${}", params.len()));
        };
        if let Some(subject) = &filter.subject {
            condition("subject =", Param::from(subject.as_str()));
        }
        if let Some(format) = filter.format {
            condition("format =", Param::from(format.extension()));
        }
        if let Some(from) = filter.created_from {
            condition("created_at >=", Param::from(from));
        }
        if let Some(before) = filter.created_before {
            condition("created_at <", Param::from(before));
        }
        if let Some(number) = before {
            condition("number <", Param::from(number));
        }
        params.push(Param::from(i64::from(limit) + 1));
        sql.push_str(&format!(
            " AND expires_at IS NULL ORDER BY number DESC LIMIT ${}",
            params.len()
        ));
        let rows = self
            .engine
            .rows(Statement::new(sql, params), listed_row)
            .await?;
        Ok(images_page(rows, limit))
    }

    /// How many subjects of `environment_id` hold at least one image.
    pub async fn subject_count(&self, environment_id: Uuid) -> Result<u64> {
        let select = statement!(
            "SELECT COUNT(*) AS n FROM subject_usage WHERE environment_id = $1 AND images > 0",
            environment_id
        );
        let count = self.engine.row(select, |row| row.required_int("n")).await?;
        Ok(count.unwrap_or(0).max(0) as u64)
    }
}
