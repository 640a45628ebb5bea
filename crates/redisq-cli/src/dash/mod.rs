//! `redisq dash`: the full-screen terminal dashboard (work in progress).

use clap::Args;

/// Arguments of `redisq dash`.
#[derive(Clone, Debug, Args)]
pub(crate) struct DashArgs {
    /// Refresh interval in seconds (at least 1).
    #[arg(long, default_value_t = 8)]
    pub(crate) refresh: u64,
}

/// Runs the dashboard until the user quits.
pub(crate) async fn run(
    inspector: redisq::Inspector,
    args: DashArgs,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let _ = (inspector, args);
    Err("the dashboard is not available yet".into())
}
