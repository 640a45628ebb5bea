//! The dashboard: server-rendered HTML pages, one module per page, and the form actions.
//!
//! Pages (GET):
//!
//! | route | page |
//! | --- | --- |
//! | `/` | every queue with its sizes, latency, memory, today's counts; totals; history chart (`?days=7\|14\|30`) |
//! | `/queues/{q}?state=…&page=N&size=M[&group=G]` | one queue: state tabs, one page of tasks, batch actions |
//! | `/queues/{q}/find?id=…` | jumps to a task by ID |
//! | `/queues/{q}/tasks/{id}` | one task: payload, result, headers, error, times |
//! | `/servers` | running servers and their active workers |
//! | `/schedulers`, `/schedulers/{entry}?page=N` | scheduler entries and their enqueues |
//! | `/redis` | Redis `INFO` |
//! | `/login` | the token form (with an auth token set) |
//! | `/static/style.css`, `/static/app.js` | the embedded assets |
//!
//! Actions (POST, HTML forms, answered with 303 back to the page):
//!
//! | route | action |
//! | --- | --- |
//! | `/queues/{q}/pause`, `/queues/{q}/resume`, `/queues/{q}/delete` (`force=1`) | the queue |
//! | `/queues/{q}/tasks/{id}/run\|archive\|delete\|cancel` | one task |
//! | `/queues/{q}/{state}/run_all\|archive_all\|delete_all` (`group=` for aggregating) | every task of a state |
//! | `/queues/{q}/{state}/batch` (`action=run\|archive\|delete\|cancel`, `id=…` repeated) | the ticked tasks |
//! | `/login`, `/logout` | the token cookie |

mod actions;
mod assets;
mod chart;
pub(crate) mod html;
mod login;
mod overview;
mod queue;
mod redis_info;
mod schedulers;
mod servers;
mod task;

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use redisq::TaskState;

use self::html::{Esc, enc};
use crate::state::{AppState, CSRF_FIELD, WebConfig, cookie, parse_form, set_cookie};

/// The routes of the pages and their actions.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/servers", get(servers::page))
        .route("/schedulers", get(schedulers::page))
        .route("/schedulers/{entry}", get(schedulers::entry_page))
        .route("/redis", get(redis_info::page))
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/static/{file}", get(assets::serve))
        .route("/queues/{q}", get(queue::page))
        .route("/queues/{q}/find", get(queue::find))
        .route("/queues/{q}/pause", post(actions::pause))
        .route("/queues/{q}/resume", post(actions::resume))
        .route("/queues/{q}/delete", post(actions::delete_queue))
        .route("/queues/{q}/tasks/{id}", get(task::page))
        .route(
            "/queues/{q}/tasks/{id}/{action}",
            post(actions::task_action),
        )
        .route("/queues/{q}/{state}/{action}", post(actions::state_action))
}

/// The name of the one-shot message cookie set by actions.
const FLASH_COOKIE: &str = "redisq_flash";

/// What a page needs from the request and the settings.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) config: Arc<WebConfig>,
    pub(crate) csrf: Arc<str>,
    /// The message left by the last action (`ok:…` or `err:…`).
    flash: Option<String>,
    /// The query string pairs.
    pub(crate) query: Vec<(String, String)>,
}

impl Ctx {
    pub(crate) fn new(st: &AppState, headers: &HeaderMap, raw_query: Option<&str>) -> Ctx {
        Ctx {
            config: st.config.clone(),
            csrf: st.csrf.clone(),
            flash: cookie(headers, FLASH_COOKIE).filter(|f| !f.is_empty()),
            query: parse_form(raw_query.unwrap_or("")),
        }
    }

    /// A query parameter.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A numeric query parameter within bounds, or the default.
    pub(crate) fn number(&self, name: &str, default: usize, max: usize) -> usize {
        self.param(name)
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n >= 1)
            .map_or(default, |n| n.min(max))
    }

    pub(crate) fn read_only(&self) -> bool {
        self.config.read_only
    }

    /// A link under the router's base path, from raw (unencoded) path segments. The home
    /// page is the base path itself (`/redisq`: a router nested with axum's `nest` does not
    /// answer `/redisq/`), or `/` without one.
    pub(crate) fn url(&self, segments: &[&str]) -> String {
        let mut out = self.config.base_path.clone();
        for s in segments {
            out.push('/');
            out.push_str(&enc(s));
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }

    /// The hidden fields every form carries: the CSRF token and where to come back to.
    pub(crate) fn hidden(&self, back: &str) -> String {
        format!(
            "<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">\
             <input type=\"hidden\" name=\"back\" value=\"{}\">",
            Esc(&self.csrf),
            Esc(back)
        )
    }

    /// A form holding one button that POSTs to `action`, asking `confirm` first when given.
    pub(crate) fn button(
        &self,
        action: &str,
        label: &str,
        back: &str,
        confirm: Option<&str>,
        class: &str,
    ) -> String {
        if self.read_only() {
            return String::new();
        }
        let confirm = confirm
            .map(|c| format!(" data-confirm=\"{}\"", Esc(c)))
            .unwrap_or_default();
        format!(
            "<form method=\"post\" action=\"{}\" class=\"inline\"{confirm}>{}\
             <button type=\"submit\" class=\"{}\">{}</button></form>",
            Esc(action),
            self.hidden(back),
            Esc(class),
            Esc(label)
        )
    }

    /// The whole page around `body`.
    pub(crate) fn layout(&self, title: &str, nav: Nav, body: &str) -> Response {
        let base = &self.config.base_path;
        let mut out = String::with_capacity(body.len() + 4096);
        let _ = write!(
            out,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{} · redisq</title>\
             <link rel=\"stylesheet\" href=\"{}/static/style.css?v={}\">\
             <script src=\"{}/static/app.js?v={}\" defer></script></head><body>\
             <header class=\"top\"><a class=\"brand\" href=\"{}\">redisq</a><nav>",
            Esc(title),
            Esc(base),
            assets::VERSION,
            Esc(base),
            assets::VERSION,
            Esc(&self.url(&[]))
        );
        for (which, path, label) in [
            (Nav::Queues, &[][..], "Queues"),
            (Nav::Servers, &["servers"][..], "Servers"),
            (Nav::Schedulers, &["schedulers"][..], "Schedulers"),
            (Nav::Redis, &["redis"][..], "Redis"),
        ] {
            let current = if which == nav {
                " aria-current=\"page\""
            } else {
                ""
            };
            let _ = write!(
                out,
                "<a href=\"{}\"{current}>{label}</a>",
                Esc(&self.url(path))
            );
        }
        out.push_str("</nav><div class=\"tools\">");
        if nav != Nav::Login {
            out.push_str(
                "<label class=\"refresh\">Refresh <select id=\"refresh\" \
                 title=\"Reload this page's data every few seconds\">\
                 <option value=\"0\">off</option><option value=\"2\">2 s</option>\
                 <option value=\"5\">5 s</option><option value=\"10\">10 s</option>\
                 </select></label>",
            );
        }
        if self.read_only() {
            out.push_str(
                "<span class=\"badge ro\" title=\"Changes are disabled\">read-only</span>",
            );
        }
        if self.config.auth_token.is_some() && nav != Nav::Login {
            let _ = write!(
                out,
                "<form method=\"post\" action=\"{}/logout\" class=\"inline\">{}\
                 <button type=\"submit\" class=\"link\">Log out</button></form>",
                Esc(base),
                self.hidden("")
            );
        }
        out.push_str("</div></header><main id=\"live\">");
        if let Some(flash) = &self.flash {
            let (class, text) = match flash.split_once(':') {
                Some(("err", t)) => ("flash err", t),
                Some((_, t)) => ("flash ok", t),
                None => ("flash ok", flash.as_str()),
            };
            let _ = write!(
                out,
                "<p class=\"{class}\" role=\"status\">{}</p>",
                Esc(text)
            );
        }
        out.push_str(body);
        out.push_str("</main><footer>redisq dashboard · times in UTC</footer></body></html>\n");
        let mut resp = html_response(StatusCode::OK, out);
        if self.flash.is_some()
            && let Ok(v) =
                HeaderValue::from_str(&set_cookie(&self.config, FLASH_COOKIE, "", Some(0)))
        {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        resp
    }

    /// An error page.
    pub(crate) fn error(&self, status: StatusCode, title: &str, message: &str) -> Response {
        let body = format!(
            "<h1>{}</h1><p class=\"flash err\">{}</p><p><a href=\"{}\">Back to the queues</a></p>",
            Esc(title),
            Esc(message),
            Esc(&self.url(&[]))
        );
        let mut resp = self.layout(title, Nav::None, &body);
        *resp.status_mut() = status;
        resp
    }

    /// The error page for a failed Inspector call.
    pub(crate) fn failure(&self, what: &str, e: &redisq::Error) -> Response {
        let status = if e.is_not_found() {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        self.error(status, what, &e.to_string())
    }
}

/// Which navigation entry is current.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nav {
    Queues,
    Servers,
    Schedulers,
    Redis,
    Login,
    None,
}

/// An HTML response with the headers every page carries.
pub(crate) fn html_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The states in tab order, with the labels the pages use.
pub(crate) const STATES: [TaskState; 7] = [
    TaskState::Active,
    TaskState::Pending,
    TaskState::Aggregating,
    TaskState::Scheduled,
    TaskState::Retry,
    TaskState::Archived,
    TaskState::Completed,
];

/// Parses a state name from a URL.
pub(crate) fn parse_state(s: &str) -> Option<TaskState> {
    s.parse().ok()
}
