//! What the console asks of the service beyond the API's own use cases: the library
//! (an environment's images newest first, filtered) and an environment's overview. Access
//! is checked here as everywhere in the service; the console's pages only render.

use chrono::Utc;
use uuid::Uuid;

use super::{RecentUploads, Service, check_page_limit};
use crate::domain::{Image, Limits, Page, Principal, Scope, Usage};
use crate::error::Result;
use crate::storage::catalog::LibraryFilter;

/// An environment at a glance.
#[derive(Debug, Clone)]
pub struct Overview {
    pub usage: Usage,
    pub limits: Limits,
    /// Subjects holding at least one image.
    pub subjects: u64,
    /// This instance's uploads and rejections in the last hour.
    pub recent: RecentUploads,
}

impl Service {
    /// A page of the library, newest first, older than image number `before`.
    pub async fn library(
        &self,
        principal: &Principal,
        environment_id: Uuid,
        filter: &LibraryFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Image>> {
        principal.require(environment_id, Scope::ImagesRead)?;
        check_page_limit(limit)?;
        self.catalog
            .library_page(environment_id, filter, before, limit)
            .await
    }

    pub async fn overview(&self, principal: &Principal, environment_id: Uuid) -> Result<Overview> {
        let (usage, limits) = self.usage(principal, environment_id).await?;
        Ok(Overview {
            usage,
            limits,
            subjects: self.catalog.subject_count(environment_id).await?,
            recent: self
                .activity
                .last_hour(environment_id, Utc::now().timestamp()),
        })
    }
}
