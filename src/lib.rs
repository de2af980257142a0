//! agent-sessions
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod model;

pub use model::{ListSessionsResponse, SessionRecord};
