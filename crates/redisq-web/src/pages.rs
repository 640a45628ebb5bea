//! Placeholder, filled in by its own change.

use axum::Router;

use crate::state::AppState;

/// The routes of this part.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
}
