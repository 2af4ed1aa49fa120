//! Paging parameters and links shared by the native listings that page by a cursor
//! (environments, audit events): `?limit=` (1 to 1000, default 100) and `?after=` (the
//! cursor of the previous page's `next` link).

use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::Error;
use crate::http::native::views::{Link, ListLinks};

/// Page size when none is asked for.
const DEFAULT_LIMIT: u32 = 100;

#[derive(Deserialize, IntoParams)]
pub struct PageParams {
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<String>,
    /// The cursor from the previous page's `next` link.
    pub after: Option<String>,
}

impl PageParams {
    /// The page size asked for; the service checks its range.
    pub fn limit(&self) -> Result<u32, Error> {
        match self.limit.as_deref() {
            None => Ok(DEFAULT_LIMIT),
            Some(text) => text.parse().map_err(|_| Error::InvalidInput {
                target: "limit",
                message: "limit must be a whole number from 1 to 1000".into(),
            }),
        }
    }

    /// The cursor as a number (audit events), if one was given.
    pub fn after_number(&self) -> Result<Option<i64>, Error> {
        match self.after.as_deref() {
            None | Some("") => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| Error::InvalidInput {
                target: "after",
                message: "after must be the cursor of a next link".into(),
            }),
        }
    }
}

/// The `self` and `next` links of a page whose first-page URL (with its `limit`) is
/// `base`.
pub fn page_links(base: &str, after: Option<String>, next: Option<String>) -> ListLinks {
    ListLinks {
        self_link: Link {
            href: match after {
                Some(after) => format!("{base}&after={after}"),
                None => base.to_string(),
            },
        },
        next: next.map(|cursor| Link {
            href: format!("{base}&after={cursor}"),
        }),
    }
}
