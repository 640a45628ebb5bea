//! What every handler shares (the inspector, the settings, the CSRF token), and the
//! middleware that guards the whole router: authentication, read-only mode and the CSRF
//! defence.
//!
//! # The rules, in the order they are checked
//!
//! 1. **Token.** With [`WebConfig::auth_token`] set, every request except the login page
//!    (`/login`) and the embedded assets (`/static/…`) must carry the token, either as
//!    `Authorization: Bearer <token>` or as the `redisq_token` cookie the login form sets
//!    (`HttpOnly`, `SameSite=Strict`). The comparison takes the same time whatever the
//!    mismatch. Without it a browser asking for a page is sent to the login form (303); any
//!    other request gets 401 with `WWW-Authenticate: Bearer`.
//! 2. **Safe methods pass.** `GET`, `HEAD` and `OPTIONS` never change anything.
//! 3. **Read-only.** With [`WebConfig::read_only`] every other request is refused: pages with
//!    403, the API with 405 and asynqmon's read-only text (logging in and out excepted).
//! 4. **Methods.** A request that changes something must be `POST` or `DELETE` (405
//!    otherwise).
//! 5. **Same origin.** When the request carries browser headers, they must say it comes
//!    from this site: `Sec-Fetch-Site` must be `same-origin` or `none`; `Origin` (or, without
//!    it, `Referer`) must name the host the request was sent to (`Host`, or
//!    `X-Forwarded-Host` behind a proxy). Otherwise 403. A request with none of these headers
//!    (curl, scripts) is not a browser's and passes this step.
//! 6. **CSRF token.** A request whose body is of a type a cross-site HTML form can send
//!    (`application/x-www-form-urlencoded`, `multipart/form-data`, `text/plain`) must also
//!    carry this process's CSRF token, as the form field `csrf` (the pages put it in every
//!    form) or the header `X-CSRF-Token`. JSON API calls (`application/json`, or no body)
//!    need no token: a browser cannot send them cross-site without a CORS preflight, which
//!    this router never grants.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use redisq::Inspector;

/// Settings of the web side.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct WebConfig {
    /// Refuse and hide every action that changes something (pause, run, delete, …).
    pub(crate) read_only: bool,
    /// The path the router is nested under (`/redisq`), for links in pages; empty for `/`.
    pub(crate) base_path: String,
    /// A bearer token every request must carry (header `Authorization: Bearer …`, or the
    /// `redisq_token` cookie the login page sets); none by default.
    pub(crate) auth_token: Option<String>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("read_only", &self.read_only)
            .field("base_path", &self.base_path)
            .field("auth_token", &self.auth_token.as_ref().map(|_| "<hidden>"))
            .finish()
    }
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
        let path = path.into();
        let trimmed = path.trim_matches('/');
        self.base_path = if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        };
        self
    }

    /// Requires this token on every request. An empty token is ignored.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.auth_token = (!token.is_empty()).then_some(token);
        self
    }
}

/// The name of the cookie holding the auth token.
pub(crate) const TOKEN_COOKIE: &str = "redisq_token";
/// The form field holding the CSRF token.
pub(crate) const CSRF_FIELD: &str = "csrf";
/// The header holding the CSRF token.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
/// The largest form body the CSRF check reads.
const MAX_FORM: usize = 1 << 20;

/// The router's state.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub(crate) inspector: Inspector,
    pub(crate) config: Arc<WebConfig>,
    /// Random per router (so per process), put in every form.
    pub(crate) csrf: Arc<str>,
}

impl AppState {
    pub(crate) fn new(inspector: Inspector, config: WebConfig) -> Self {
        let bytes: [u8; 24] = rand::random();
        let csrf: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        AppState {
            inspector,
            config: Arc::new(config),
            csrf: csrf.into(),
        }
    }
}

/// Compares two secrets in a time that depends only on their lengths.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// The value of a cookie, percent-decoded.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode_str(v).decode_utf8_lossy().into_owned())
}

/// A `Set-Cookie` value scoped to the router's path.
pub(crate) fn set_cookie(
    config: &WebConfig,
    name: &str,
    value: &str,
    max_age: Option<u64>,
) -> String {
    let path = if config.base_path.is_empty() {
        "/"
    } else {
        &config.base_path
    };
    let value = utf8_percent_encode(value, NON_ALPHANUMERIC);
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict{age}")
}

/// Whether the request carries the auth token.
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| same_secret(t.trim().as_bytes(), token.as_bytes()));
    if bearer == Some(true) {
        return true;
    }
    cookie(headers, TOKEN_COOKIE).is_some_and(|c| same_secret(c.as_bytes(), token.as_bytes()))
}

/// `host[:port]` of an `Origin` or `Referer`, lower-cased, without the default port.
fn origin_host(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit('@').next()?.to_ascii_lowercase();
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => "",
    };
    Some(normalize_host(&host, default))
}

fn normalize_host(host: &str, default_port: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    match host.strip_suffix(default_port) {
        Some(h) if !default_port.is_empty() => h.to_string(),
        _ => host,
    }
}

/// Checks the browser's own statements about where a request comes from.
fn same_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Err("cross-site request refused (Sec-Fetch-Site)");
    }
    let claimed = match (text("origin"), text("referer")) {
        (Some(o), _) if o != "null" => Some(o),
        (Some(_), _) => return Err("request from an opaque origin refused"),
        (None, Some(r)) => Some(r),
        (None, None) => None,
    };
    let Some(claimed) = claimed else {
        return Ok(());
    };
    let Some(from) = origin_host(claimed) else {
        return Err("unreadable Origin or Referer");
    };
    let targets = [text("host"), text("x-forwarded-host")];
    let matches = targets.into_iter().flatten().any(|t| {
        let t = t.split(',').next().unwrap_or(t);
        normalize_host(t, ":80") == from || normalize_host(t, ":443") == from
    });
    if matches {
        Ok(())
    } else {
        Err("cross-origin request refused (Origin/Referer does not match Host)")
    }
}

/// Whether a request's body type is one an HTML form on another site could send.
fn form_like(headers: &HeaderMap) -> Option<bool> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ct.as_str() {
        "application/x-www-form-urlencoded" => Some(true),
        "multipart/form-data" | "text/plain" => Some(false),
        _ => None,
    }
}

/// Parses an `application/x-www-form-urlencoded` body or query string.
pub(crate) fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |x: &str| {
                percent_decode_str(&x.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{why}\n"),
    )
        .into_response()
}

/// The guard in front of every route; see the module documentation for the rules.
pub(crate) async fn guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let public = path == "/login" || path.starts_with("/static/");
    if let Some(token) = &st.config.auth_token
        && !public
        && !authorized(req.headers(), token)
    {
        return unauthenticated(&st, &req);
    }
    let method = req.method().clone();
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let session = path == "/login" || path == "/logout";
    if st.config.read_only && !session {
        // The API answers as asynqmon does in read-only mode (405 and its text), so scripts
        // that handle asynqmon's answer keep working; pages get 403.
        if path == "/api" || path.starts_with("/api/") {
            return refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!(
                    "API Server is running in read-only mode: {method} request is not allowed"
                ),
            );
        }
        return refuse(StatusCode::FORBIDDEN, "read-only: changes are disabled");
    }
    if method != Method::POST && method != Method::DELETE {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "changes must be POST or DELETE",
        );
    }
    if let Err(why) = same_origin(req.headers()) {
        return refuse(StatusCode::FORBIDDEN, why);
    }
    let Some(parse_body) = form_like(req.headers()) else {
        return next.run(req).await;
    };
    let header_ok = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| same_secret(t.as_bytes(), st.csrf.as_bytes()));
    if header_ok {
        return next.run(req).await;
    }
    if !parse_body {
        return refuse(StatusCode::FORBIDDEN, "missing CSRF token");
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM).await else {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "form too large");
    };
    let form = parse_form(&String::from_utf8_lossy(&bytes));
    let field_ok = form
        .iter()
        .any(|(k, v)| k == CSRF_FIELD && same_secret(v.as_bytes(), st.csrf.as_bytes()));
    if !field_ok {
        return refuse(
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token (reload the page and try again)",
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The answer to a request without the token: browsers asking for a page go to the login
/// form, everything else gets 401.
fn unauthenticated(st: &AppState, req: &Request) -> Response {
    let path = req.uri().path();
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let page = !path.starts_with("/api") && path != "/metrics";
    if req.method() == Method::GET && wants_html && page {
        let inner = req.uri().path_and_query().map_or("/", |p| p.as_str());
        // The home page of a nested router is the base path itself, without a slash.
        let inner = match inner.strip_prefix('/') {
            Some(rest)
                if !st.config.base_path.is_empty()
                    && (rest.is_empty() || rest.starts_with('?')) =>
            {
                rest
            }
            _ => inner,
        };
        let next = format!("{}{inner}", st.config.base_path);
        let location = format!(
            "{}/login?next={}",
            st.config.base_path,
            utf8_percent_encode(&next, NON_ALPHANUMERIC)
        );
        let mut resp = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(&location) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        return resp;
    }
    let mut resp = refuse(StatusCode::UNAUTHORIZED, "authentication required");
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"redisq\""),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }

    #[test]
    fn origins() {
        assert!(same_origin(&headers(&[])).is_ok());
        assert!(
            same_origin(&headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080")
            ]))
            .is_ok()
        );
        assert!(
            same_origin(&headers(&[
                ("host", "a.example:80"),
                ("origin", "http://a.example")
            ]))
            .is_ok()
        );
        assert!(
            same_origin(&headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://evil.example")
            ]))
            .is_err()
        );
        assert!(
            same_origin(&headers(&[
                ("host", "h:1"),
                ("referer", "http://h:1/queues/x")
            ]))
            .is_ok()
        );
        assert!(same_origin(&headers(&[("host", "h:1"), ("referer", "http://h:2/")])).is_err());
        assert!(same_origin(&headers(&[("sec-fetch-site", "cross-site")])).is_err());
        assert!(same_origin(&headers(&[("host", "h"), ("origin", "null")])).is_err());
    }

    #[test]
    fn forms_and_cookies() {
        assert_eq!(
            parse_form("a=1&b=x+y%21&a=2&c"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y!".into()),
                ("a".into(), "2".into()),
                ("c".into(), String::new())
            ]
        );
        let h = headers(&[("cookie", "x=1; redisq_token=a%20b; y=2")]);
        assert_eq!(cookie(&h, TOKEN_COOKIE).as_deref(), Some("a b"));
        let cfg = WebConfig::new().base_path("/redisq/");
        assert_eq!(cfg.base_path, "/redisq");
        assert_eq!(
            set_cookie(&cfg, "n", "a b", Some(5)),
            "n=a%20b; Path=/redisq; HttpOnly; SameSite=Strict; Max-Age=5"
        );
    }
}
