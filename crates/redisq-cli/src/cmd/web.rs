//! `redisq web`: serves the web dashboard, the asynqmon-compatible JSON API and the
//! Prometheus metrics of `redisq-web` over HTTP.
//!
//! Listens on loopback unless told otherwise. The auth token is read from an environment
//! variable named with `--auth-token-env`, so it never shows in `ps`. Ctrl-C (or SIGTERM)
//! stops accepting connections and lets the requests under way finish.

use std::net::SocketAddr;

use axum::Router;
use axum::response::Redirect;
use axum::routing::get;
use clap::Args;
use redisq_web::WebConfig;

use crate::conn::Conn;
use crate::error::{CliError, CliResult};

/// Arguments of `redisq web`.
#[derive(Clone, Debug, Args)]
pub(crate) struct WebArgs {
    /// Address to listen on; use 0.0.0.0:PORT to accept connections from other machines
    /// (together with --auth-token-env)
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub(crate) listen: SocketAddr,

    /// Hide and refuse every change (pause, run, delete, …): 403 for pages and API
    #[arg(long)]
    pub(crate) read_only: bool,

    /// Serve everything under this path (e.g. /redisq), for a reverse proxy
    #[arg(long, value_name = "PATH", default_value = "")]
    pub(crate) base_path: String,

    /// Require the token held by this environment variable: as `Authorization: Bearer …`
    /// or through the login form
    #[arg(long, value_name = "VAR")]
    pub(crate) auth_token_env: Option<String>,
}

/// The configuration the arguments ask for, reading the token from the environment.
pub(crate) fn config(args: &WebArgs, env: impl Fn(&str) -> Option<String>) -> CliResult<WebConfig> {
    let mut config = WebConfig::new()
        .read_only(args.read_only)
        .base_path(args.base_path.as_str());
    if let Some(var) = &args.auth_token_env {
        match env(var) {
            Some(token) if !token.is_empty() => config = config.auth_token(token),
            _ => {
                return Err(CliError::usage(format!(
                    "--auth-token-env {var}: the environment variable {var} is not set or empty"
                )));
            }
        }
    }
    Ok(config)
}

/// The normalized base path: `""` or `/path`.
fn base(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// Serves until Ctrl-C or SIGTERM.
pub(crate) async fn run(conn: &Conn, args: &WebArgs) -> CliResult {
    let config = config(args, |v| std::env::var(v).ok())?;
    let inspector = conn.inspector().await?;
    let base = base(&args.base_path);
    let web = redisq_web::router(inspector, config);
    let app = if base.is_empty() {
        web
    } else {
        // The dashboard's home is `{base}` itself; `/` and `{base}/` lead there.
        let to = base.clone();
        let home = get(move || async move { Redirect::to(&to) });
        Router::new()
            .route("/", home.clone())
            .route(&format!("{base}/"), home)
            .nest(&base, web)
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::failure(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::failure(format!("cannot listen on {}: {e}", args.listen)))?;
    if !addr.ip().is_loopback() && args.auth_token_env.is_none() {
        eprintln!(
            "warning: listening on {addr} without --auth-token-env: anyone who can reach this \
             port can see and change the queues"
        );
    }
    let home = if base.is_empty() { "/" } else { &base };
    println!("redisq web: http://{addr}{home} (Ctrl-C to stop)");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| CliError::failure(format!("web server: {e}")))?;
    eprintln!("redisq web: stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(token_env: Option<&str>) -> WebArgs {
        WebArgs {
            listen: "127.0.0.1:8080".parse().unwrap(),
            read_only: true,
            base_path: "/redisq/".into(),
            auth_token_env: token_env.map(str::to_string),
        }
    }

    #[test]
    fn the_token_comes_from_the_environment() {
        let env = |v: &str| (v == "TOK").then(|| "abc".to_string());
        let c = config(&args(Some("TOK")), env).expect("config");
        let shown = format!("{c:?}");
        assert!(shown.contains("read_only: true") && shown.contains("/redisq"));
        assert!(!shown.contains("abc"), "the token never shows: {shown}");
        let e = config(&args(Some("MISSING")), env).expect_err("unset variable");
        assert_eq!(e.code(), 2);
        assert!(config(&args(None), env).is_ok());
        assert_eq!(base("/redisq/"), "/redisq");
        assert_eq!(base("/"), "");
    }
}
