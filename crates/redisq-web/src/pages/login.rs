//! `/login` and `/logout`: the form that turns the auth token into a cookie.

use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::actions::{redirect, safe_back};
use super::html::Esc;
use super::{Ctx, Nav};
use crate::state::{AppState, TOKEN_COOKIE, parse_form, same_secret, set_cookie};

/// How long the login cookie lasts: a week.
const COOKIE_AGE: u64 = 7 * 24 * 3600;

fn form(ctx: &Ctx, next: &str, failed: bool) -> Response {
    let mut body = String::from("<div class=\"login\"><h1>Log in</h1>");
    if failed {
        body.push_str("<p class=\"flash err\">Wrong token.</p>");
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{}\">{}<input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label for=\"token\">Access token</label>\
         <input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"current-password\" required autofocus>\
         <button type=\"submit\">Log in</button></form></div>",
        Esc(&ctx.url(&["login"])),
        ctx.hidden(""),
        Esc(next)
    );
    let mut resp = ctx.layout("Log in", Nav::Login, &body);
    if failed {
        *resp.status_mut() = StatusCode::UNAUTHORIZED;
    }
    resp
}

/// `GET /login`.
pub(crate) async fn page(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let ctx = Ctx::new(&st, &headers, raw.as_deref());
    let next = safe_back(&ctx, ctx.param("next").unwrap_or(""));
    if st.config.auth_token.is_none() {
        return redirect(&next, None, &ctx);
    }
    form(&ctx, &next, false)
}

/// `POST /login`: checks the token and sets the cookie.
pub(crate) async fn submit(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = Ctx::new(&st, &headers, None);
    let fields = parse_form(&String::from_utf8_lossy(&body));
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let next = safe_back(&ctx, field("next"));
    let Some(token) = &st.config.auth_token else {
        return redirect(&next, None, &ctx);
    };
    if !same_secret(field("token").as_bytes(), token.as_bytes()) {
        return form(&ctx, &next, true);
    }
    let mut resp = redirect(&next, None, &ctx);
    if let Ok(v) = HeaderValue::from_str(&set_cookie(
        &st.config,
        TOKEN_COOKIE,
        token,
        Some(COOKIE_AGE),
    )) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `POST /logout`: removes the cookie.
pub(crate) async fn logout(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let ctx = Ctx::new(&st, &headers, None);
    let mut resp = (StatusCode::SEE_OTHER, "").into_response();
    if let Ok(v) = HeaderValue::from_str(&ctx.url(&["login"])) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&set_cookie(&st.config, TOKEN_COOKIE, "", Some(0))) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}
