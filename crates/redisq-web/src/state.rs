//! What every handler shares: the inspector and the settings.

use std::sync::Arc;

use redisq::Inspector;

/// Settings of the web side.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct WebConfig {
    /// Refuse and hide every action that changes something (pause, run, delete, …).
    pub(crate) read_only: bool,
    /// The path the router is nested under (`/redisq`), for links in pages; empty for `/`.
    pub(crate) base_path: String,
    /// A bearer token every request must carry (header `Authorization: Bearer …`, or the
    /// `token` cookie the login page sets); none by default.
    pub(crate) auth_token: Option<String>,
}

impl WebConfig {
    /// Defaults: read-write, mounted at `/`, no token.
    pub fn new() -> Self {
        WebConfig::default()
    }

    /// Hides and refuses every mutating action.
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }

    /// The path the router is nested under, for the links the pages write.
    pub fn base_path(mut self, path: impl Into<String>) -> Self {
        self.base_path = path.into().trim_end_matches('/').to_string();
        self
    }

    /// Requires this token on every request.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = Some(token.into());
        self
    }
}

/// The router's state.
// Read by the api, pages and metrics modules as they are filled in.
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub(crate) inspector: Inspector,
    pub(crate) config: Arc<WebConfig>,
}

impl AppState {
    pub(crate) fn new(inspector: Inspector, config: WebConfig) -> Self {
        AppState {
            inspector,
            config: Arc::new(config),
        }
    }
}
