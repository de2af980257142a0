//! Lists: one script gives the page's JSON and the total from one instant.

use super::keys::member;
use super::ops_sessions::{json_str, next};
use super::reply;
use super::scripts;
use super::RedisBackend;
use crate::backend::list_body;
use crate::model::SessionRecord;
use crate::{ListQuery, ListSessionsResponse, StoreError};

/// Offsets and limits are passed to Lua as numbers: beyond this they would not be exact
/// (and no scope holds this many sessions).
const MAX_COUNT: usize = 1 << 40;

impl RedisBackend {
    /// The page's compact JSON records and the total.
    pub(super) async fn select(
        &self,
        query: &ListQuery,
    ) -> Result<(Vec<Vec<u8>>, usize), StoreError> {
        if query.user_id.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let order = query.effective_order();
        let user = self.user_keys(&query.user_id);
        let scope = user.scope(&query.agent_id);
        let index = if order.by_updated() {
            scope.by_updated()
        } else {
            scope.by_created()
        };
        let cursor = query
            .cursor
            .as_ref()
            .map_or_else(String::new, |c| member(c.micros(), c.id()));
        let limit = query
            .limit
            .map_or_else(|| "-1".to_owned(), |l| l.min(MAX_COUNT).to_string());
        let schedule = query.source_schedule_id.as_deref().map(json_str);
        let mut call = scripts::LIST.prepare_invoke();
        call.key(index)
            .key(scope.records())
            .key(scope.meta())
            .arg(if order.descending() { "1" } else { "0" })
            .arg(&cursor)
            .arg(query.offset.min(MAX_COUNT).to_string())
            .arg(&limit)
            .arg(
                query
                    .source
                    .as_ref()
                    .map(|s| json_str(s.as_str()))
                    .unwrap_or_default(),
            )
            .arg(schedule.unwrap_or_default())
            .arg(
                query
                    .workspace_id
                    .as_deref()
                    .map(json_str)
                    .unwrap_or_default(),
            );
        let mut items = reply::array(self.inner.conn.script(&call).await?)?.into_iter();
        let total = reply::count(&next(&mut items)?)?;
        let page = items.map(reply::bytes).collect::<Result<Vec<_>, _>>()?;
        Ok((page, total))
    }

    pub(super) async fn list_page(
        &self,
        query: &ListQuery,
    ) -> Result<ListSessionsResponse, StoreError> {
        let (page, total) = self.select(query).await?;
        let sessions = page
            .iter()
            .map(|json| reply::decode::<SessionRecord>(json, "a session"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ListSessionsResponse { sessions, total })
    }

    pub(super) async fn list_bytes(&self, query: &ListQuery) -> Result<Vec<u8>, StoreError> {
        let (page, total) = self.select(query).await?;
        Ok(list_body::join(page.iter().map(Vec::as_slice), total))
    }
}
